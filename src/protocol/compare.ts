/**
 * Compare webview protocol (extension host ⇄ `webview/compare`), typed once and imported by both
 * ends (the dashboard's shape: `v` on every message, guards on receipt, a `ready → init`
 * handshake so nothing is lost before the page listens).
 *
 * Curves travel as columns of `Float64Array`s: VS Code's `webview.postMessage` moves typed
 * arrays as raw buffers (`serializeBuffersForPostMessage`), so 100 runs × 10,000 steps cost a
 * memory copy instead of a 40 MB JSON string, and NaN (a value the row lacks) survives.
 *
 * Reserved, not served yet: `generate` / `generation`, the side-by-side generations of the
 * issue "Compare runs and adapters" (one prompt, every selected run's adapter and the base in
 * columns, streamed from the inference worker). The page shows their slot; the host answers
 * `generate` with one `generation` carrying `error` until the worker is wired in.
 */

export const COMPARE_PROTOCOL_VERSION = 1;

export type CompareRunStatus = 'running' | 'completed' | 'failed' | 'stopped' | 'crashed';

export type HyperparameterValue = string | number | boolean | null;

/**
 * One logged series of a run (train loss, or validation loss), one entry per metrics row that
 * has the value, steps strictly increasing. `tokens` is the cumulative token count of that row
 * (carried forward from the previous row when the row lacks it, 0 before the first); `time` is
 * seconds since the run started (continuing across resumes).
 */
export interface CompareSeries {
  step: Float64Array;
  time: Float64Array;
  tokens: Float64Array;
  value: Float64Array;
}

/** The runs table's numbers of one run (null: not known, e.g. no validation yet). */
export interface CompareSummary {
  /** Last logged step (or run.json's step when larger). */
  steps: number;
  max_steps: number;
  /** Tokens trained on (cumulative `tokens` of the last row that has it). */
  tokens: number | null;
  /** `time` of the last metrics row, seconds. */
  wall_time_s: number | null;
  /** tokens ÷ wall time (the whole run's throughput, evaluation included). */
  tokens_per_s: number | null;
  /** Lowest validation loss and the step of its first occurrence. */
  best_val_loss: number | null;
  best_val_step: number | null;
  /** Validation loss of the last row that has one. */
  last_val_loss: number | null;
  /** Bytes of the final adapter folder (`adapter/`), null when the run wrote none. */
  adapter_bytes: number | null;
}

export interface CompareRun {
  id: string;
  name: string;
  run_dir: string;
  status: CompareRunStatus;
  created_at: string;
  summary: CompareSummary;
  /** The resolved config frozen in run.json, flattened (`lora.r`, `training.learning_rate`, …). */
  hyperparameters: Record<string, HyperparameterValue>;
  /**
   * Optimizer steps per epoch (fractional), when derivable: no packing and run.json's data
   * report gives the number of training examples. Else null and `epoch_note` says why.
   */
  steps_per_epoch: number | null;
  epoch_note: string | null;
  train: CompareSeries;
  val: CompareSeries;
}

/** A selected run folder that could not be read; `reason` is one line. */
export interface CompareProblem {
  run_dir: string;
  reason: string;
}

/** Reserved for the side-by-side generations (see the file comment). */
export interface CompareGenerateRequest {
  v: 1;
  type: 'generate';
  prompt: string;
  /** Runs whose adapters generate; null stands for the base model. */
  run_dirs: (string | null)[];
}

/** Reserved: one streamed piece of a column's generation. */
export interface CompareGenerationEvent {
  v: 1;
  type: 'generation';
  run_dir: string | null;
  text: string;
  done: boolean;
  error: string | null;
}

export type HostToCompare =
  | { v: 1; type: 'init'; runs: CompareRun[]; problems: CompareProblem[] }
  /** One run changed on disk (a live run logged rows, or ended): replaces that run's data. */
  | { v: 1; type: 'run'; run: CompareRun }
  | CompareGenerationEvent;

export type CompareChartName = 'train' | 'val' | 'scatter';

export type CompareToHost =
  | { v: 1; type: 'ready' }
  /** Save the runs table: the host asks where (showSaveDialog) and writes `csv`. */
  | { v: 1; type: 'exportCsv'; csv: string }
  /** Save a chart: `data_url` is `data:image/png;base64,…`. */
  | { v: 1; type: 'exportPng'; chart: CompareChartName; data_url: string }
  | { v: 1; type: 'openDashboard'; run_dir: string }
  | CompareGenerateRequest;

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;

function isSeries(x: unknown): x is CompareSeries {
  if (!isObj(x)) return false;
  const cols = [x.step, x.time, x.tokens, x.value];
  return cols.every((c) => c instanceof Float64Array && c.length === (x.step as Float64Array).length);
}

/** Structural check of a run (columns of equal length, the fields the page reads). */
export function isCompareRun(x: unknown): x is CompareRun {
  return (
    isObj(x) &&
    typeof x.id === 'string' &&
    typeof x.run_dir === 'string' &&
    typeof x.status === 'string' &&
    isObj(x.summary) &&
    isObj(x.hyperparameters) &&
    isSeries(x.train) &&
    isSeries(x.val)
  );
}

export function isHostToCompare(x: unknown): x is HostToCompare {
  if (!isObj(x) || x.v !== COMPARE_PROTOCOL_VERSION) return false;
  switch (x.type) {
    case 'init':
      return Array.isArray(x.runs) && x.runs.every(isCompareRun) && Array.isArray(x.problems);
    case 'run':
      return isCompareRun(x.run);
    case 'generation':
      return (x.run_dir === null || typeof x.run_dir === 'string') && typeof x.text === 'string' && typeof x.done === 'boolean';
    default:
      return false;
  }
}

/** PNG data URLs only (what `canvas.toDataURL('image/png')` gives). */
const PNG_DATA_URL = /^data:image\/png;base64,[A-Za-z0-9+/]+=*$/;

export function isCompareToHost(x: unknown): x is CompareToHost {
  if (!isObj(x) || x.v !== COMPARE_PROTOCOL_VERSION) return false;
  switch (x.type) {
    case 'ready':
      return true;
    case 'exportCsv':
      return typeof x.csv === 'string';
    case 'exportPng':
      return (x.chart === 'train' || x.chart === 'val' || x.chart === 'scatter') && typeof x.data_url === 'string' && PNG_DATA_URL.test(x.data_url);
    case 'openDashboard':
      return typeof x.run_dir === 'string';
    case 'generate':
      return typeof x.prompt === 'string' && Array.isArray(x.run_dirs) && x.run_dirs.every((d) => d === null || typeof d === 'string');
    default:
      return false;
  }
}
