/**
 * Compare webview protocol (extension host ⇄ `webview/compare`), typed once and imported by both
 * ends (the dashboard's shape: `v` on every message, guards on receipt, a `ready → init`
 * handshake so nothing is lost before the page listens).
 *
 * Curves travel as columns of `Float64Array`s: VS Code's `webview.postMessage` moves typed
 * arrays as raw buffers (`serializeBuffersForPostMessage`), so 100 runs × 10,000 steps cost a
 * memory copy instead of a 40 MB JSON string, and NaN (a value the row lacks) survives.
 *
 * Side-by-side generations: the page posts `generate` (one prompt, a request number `gen`);
 * the host answers `generationStarted` with the columns (each model's base, then every selected
 * run's final adapter), streams `generation` deltas per column from the inference worker,
 * ends each column with `generationEnded` and the request with `generationDone`. `stopGeneration`
 * cancels it. Messages of an older `gen` are stale and dropped by the page.
 */

import type { RunStatus } from './status';

export const COMPARE_PROTOCOL_VERSION = 1;

/** The generation settings the page offers (the worker's `GenerationParams` subset). */
export interface CompareGenerationParams {
  max_new_tokens: number;
  /** 0: greedy (the default: the columns differ only by their weights). */
  temperature: number;
}

/** How the view opens (e.g. "Compare Sweep": the scatter on learning rate, scrolled into view). */
export interface ComparePreset {
  /** Hyperparameter on the scatter's x axis. */
  scatter_key: string;
  focus: 'scatter' | null;
}

/** One column of the side-by-side generations. */
export interface CompareGenerationColumn {
  /** The run whose final adapter generates; null for a base model. */
  run_dir: string | null;
  /** The run's id, or "base model". */
  label: string;
  /** The model folder (run.json's `model.path`). */
  model: string;
}

export type CompareRunStatus = RunStatus;

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
  /** The base model folder the run trained on (run.json's `model.path`). */
  model: string;
  /** The final adapter folder (`<run>/adapter`), null when the run wrote none yet. */
  adapter_dir: string | null;
  train: CompareSeries;
  val: CompareSeries;
  /** Eval-set results logged at checkpoints, keyed `eval/<set>/<metric>` (empty when none). */
  evals: Record<string, CompareSeries>;
}

/** A selected run folder that could not be read; `reason` is one line. */
export interface CompareProblem {
  run_dir: string;
  reason: string;
}

export type CompareFinishReason = 'eos' | 'length' | 'stop' | 'cancelled';

export type HostToCompare =
  | { v: 1; type: 'init'; runs: CompareRun[]; problems: CompareProblem[]; preset?: ComparePreset | null }
  /** One run changed on disk (a live run logged rows, or ended): replaces that run's data. */
  | { v: 1; type: 'run'; run: CompareRun }
  /** The columns of request `gen`; `notes`: runs left out and why, models generating in turn (one line each). */
  | { v: 1; type: 'generationStarted'; gen: number; columns: CompareGenerationColumn[]; notes: string[] }
  /** Streamed text of column `column` (appended to what it has). */
  | { v: 1; type: 'generation'; gen: number; column: number; text: string }
  /** Column `column` finished (`error`: one line, when its model or adapter failed). */
  | { v: 1; type: 'generationEnded'; gen: number; column: number; finish_reason: CompareFinishReason | null; tokens: number; error: string | null }
  /** Request `gen` is over (every column ended); `error`: why nothing could start (one line). */
  | { v: 1; type: 'generationDone'; gen: number; error: string | null };



export type CompareChartName = 'train' | 'val' | 'eval' | 'scatter';

export type CompareToHost =
  | { v: 1; type: 'ready' }
  /** Save the runs table: the host asks where (showSaveDialog) and writes `csv`. */
  | { v: 1; type: 'exportCsv'; csv: string }
  /** Save a chart: `data_url` is `data:image/png;base64,…`. */
  | { v: 1; type: 'exportPng'; chart: CompareChartName; data_url: string }
  | { v: 1; type: 'openDashboard'; run_dir: string }
  /** Generate from `prompt` with the base model(s) and every selected run's final adapter. */
  | { v: 1; type: 'generate'; gen: number; prompt: string; params: CompareGenerationParams }
  | { v: 1; type: 'stopGeneration'; gen: number };

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
    typeof x.model === 'string' &&
    (x.adapter_dir === null || typeof x.adapter_dir === 'string') &&
    isSeries(x.train) &&
    isSeries(x.val) &&
    isObj(x.evals) &&
    Object.values(x.evals).every(isSeries)
  );
}

export function isHostToCompare(x: unknown): x is HostToCompare {
  if (!isObj(x) || x.v !== COMPARE_PROTOCOL_VERSION) return false;
  switch (x.type) {
    case 'init':
      return Array.isArray(x.runs) && x.runs.every(isCompareRun) && Array.isArray(x.problems) && (x.preset === undefined || x.preset === null || (isObj(x.preset) && typeof x.preset.scatter_key === 'string'));
    case 'run':
      return isCompareRun(x.run);
    case 'generationStarted':
      return typeof x.gen === 'number' && Array.isArray(x.columns) && x.columns.every((c) => isObj(c) && typeof c.label === 'string') && Array.isArray(x.notes);
    case 'generation':
      return typeof x.gen === 'number' && typeof x.column === 'number' && typeof x.text === 'string';
    case 'generationEnded':
      return typeof x.gen === 'number' && typeof x.column === 'number' && typeof x.tokens === 'number';
    case 'generationDone':
      return typeof x.gen === 'number' && (x.error === null || typeof x.error === 'string');
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
      return (x.chart === 'train' || x.chart === 'val' || x.chart === 'eval' || x.chart === 'scatter') && typeof x.data_url === 'string' && PNG_DATA_URL.test(x.data_url);
    case 'openDashboard':
      return typeof x.run_dir === 'string';
    case 'generate':
      return (
        Number.isInteger(x.gen) &&
        typeof x.prompt === 'string' &&
        isObj(x.params) &&
        Number.isInteger(x.params.max_new_tokens) &&
        (x.params.max_new_tokens as number) >= 1 &&
        (x.params.max_new_tokens as number) <= 4096 &&
        typeof x.params.temperature === 'number' &&
        Number.isFinite(x.params.temperature) &&
        x.params.temperature >= 0
      );
    case 'stopGeneration':
      return Number.isInteger(x.gen);
    default:
      return false;
  }
}
