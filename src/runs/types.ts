/**
 * Types of the run directory (DESIGN.md, "Run directory"): `run.json`, `metrics.jsonl` rows and
 * the summaries listed by `listRuns`.
 */

/**
 * Status of a run. `crashed` is never written: it is how a reader sees a `running` run whose
 * process is gone (see `effectiveStatus`).
 */
export type { RunStatus } from '../protocol/status';
import type { RunStatus } from '../protocol/status';

/** A status that is stored in `run.json`. */
export type StoredRunStatus = Exclude<RunStatus, 'crashed'>;

export const STORED_STATUSES: readonly StoredRunStatus[] = ['running', 'completed', 'failed', 'stopped'];

/** Content of `<run dir>/run.json`. Timestamps are ISO 8601 (UTC). */
export interface RunJson {
  /** The run folder's name, `<name>-<YYYYMMDD-HHMMSS>[-k]`. */
  id: string;
  /** The experiment name the run was created with (unsanitised). */
  name: string;
  status: StoredRunStatus;
  /** Process id of the process that owns the run (the trainer) while it is `running`. */
  pid: number;
  /** Host of that process; liveness of `pid` is only checked on the same host. */
  hostname: string;
  /** Absolute path of the `*.lora.json` file, or null when the run was started without one. */
  experiment_file: string | null;
  /** The resolved experiment config. */
  config: unknown;
  model: { path: string; sha256: string | null };
  dataset: {
    train_sha256: string | null;
    validation_sha256: string | null;
    /** What loading the data found (absent in runs made before it was recorded). */
    report?: DataReportJson;
  };
  /** Execution provider actually used (`cpu`, `cuda`, `webgpu`), null before it is known. */
  provider: string | null;
  /**
   * The training precision that ran, `training.precision` resolved for `provider` (e.g. `fp32`,
   * `fp16 weights and matmuls, with loss scaling`; trainer/run.ts `describePrecision`). Absent in
   * runs made before it was recorded.
   */
  precision_resolved?: string;
  engine_version: string;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
  /** Optimizer steps done. */
  step: number;
  max_steps: number;
  /** Error message when `failed`. */
  error: string | null;
  /** Checkpoint step the latest resume started from. */
  resumed_from_step?: number | null;
}

/** `run.json`'s `dataset.report`: the data problems of the run's training and validation data. */
export interface DataReportJson {
  train_examples: number;
  validation_examples: number;
  /** Bad records left out (`skip_bad_records`). */
  skipped: number;
  /** Records cut to `max_seq_length`, and the longest (`tokens` is a lower bound when `at_least`). */
  truncated: number;
  longest_truncated: { file: string; line: number; tokens: number; at_least: boolean } | null;
  /** Records with no token left to train on after truncation (left out), and the first of them as `file:line`. */
  untrainable: number;
  untrainable_records: string[];
  /** Per file, the first record whose text holds a special token's string (trained as plain text). */
  special_token_text: { file: string; line: number; token: string; records: number }[];
}

/** Fields `createRun` fills in itself. */
type RunJsonAuto = 'id' | 'name' | 'created_at' | 'updated_at' | 'finished_at' | 'status' | 'pid' | 'hostname' | 'step' | 'error';

/**
 * What `createRun` needs. `status` defaults to `running`, `pid` to this process, `hostname` to
 * this host, `step` to 0, `error` and `finished_at` to null.
 */
export type RunInit = Omit<RunJson, RunJsonAuto> & Partial<Pick<RunJson, 'status' | 'pid' | 'hostname' | 'step' | 'error' | 'finished_at'>>;

/** A change to `run.json` (`id` and `created_at` never change; `updated_at` is set by `update`). */
export type RunPatch = Partial<Omit<RunJson, 'id' | 'created_at' | 'updated_at'>>;

/** One line of `metrics.jsonl` (the same type travels over IPC and `--json`). */
import type { MetricsRowLike } from '../protocol/metrics';
export type MetricsRow = MetricsRowLike;

/** The fields of a metrics row, in the order they are written. */
export const METRICS_FIELDS = ['step', 'time', 'train_loss', 'val_loss', 'lr', 'grad_norm', 'tokens', 'tokens_per_s', 'val_time'] as const;

/** `readMetrics` result: the rows, plus what was left out. */
export type MetricsRead = MetricsRow[] & {
  /** Complete lines that were not valid rows (skipped, not thrown). */
  skipped: number;
  /** Whether the file ended with a torn line (no trailing newline), which was ignored. */
  torn: boolean;
};

/** `tailMetrics` result. */
export interface MetricsTail {
  /** Rows of the complete lines after the given offset. */
  rows: MetricsRow[];
  /** Byte offset to pass to the next call (just after the last complete line read). */
  offset: number;
  /** Complete lines that were not valid rows. */
  skipped: number;
  /** True when the file was shorter than the given offset (replaced or truncated): read from 0. */
  reset: boolean;
}

/** One run as listed by `listRuns`. */
export interface RunSummary {
  id: string;
  name: string;
  /** Effective status: a `running` run whose process is gone on this host reads `crashed`. */
  status: RunStatus;
  step: number;
  max_steps: number;
  /** Last logged training loss, or null. */
  train_loss: number | null;
  /** Last logged validation loss, or null. */
  val_loss: number | null;
  /** Absolute path of the run folder. */
  run_dir: string;
  created_at: string;
}

/** A folder of the runs dir that could not be read as a run. */
export interface RunProblem {
  run_dir: string;
  /** One line: what is wrong. */
  reason: string;
}

/** `listRuns` result: runs newest first, plus the folders that could not be read. */
export type RunList = RunSummary[] & { problems: RunProblem[] };

/** A complete checkpoint folder. */
export interface CheckpointInfo {
  step: number;
  /** Absolute path of `checkpoints/step-<n>`. */
  dir: string;
}
