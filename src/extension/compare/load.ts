/**
 * What the Compare view shows of one run, read from its folder (`run.json`, `metrics.jsonl`,
 * `adapter/`): the curves as columns, the runs table's numbers, the flattened resolved config
 * and how many optimizer steps make an epoch. Plain; no `vscode` import.
 */
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import type { CompareRun, CompareSeries, CompareSummary } from '../../protocol/compare';
import { ADAPTER_DIR, type MetricsColumns, type RunJson, effectiveStatus, openRun, readMetricsColumns } from '../../runs/index';
import { flattenHyperparameters } from '../dashboard/facts';

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * One series of a run: the rows where `value` is a number (NaN: the row lacks it). `tokens` is
 * carried forward over rows that lack it (the step-0 evaluation row has none in old runs),
 * starting at 0.
 */
function seriesOfColumn(m: MetricsColumns, value: Float64Array): CompareSeries {
  let count = 0;
  for (let i = 0; i < m.length; i++) if (!Number.isNaN(value[i])) count++;
  const out: CompareSeries = { step: new Float64Array(count), time: new Float64Array(count), tokens: new Float64Array(count), value: new Float64Array(count) };
  const tokensCol = m.values.tokens;
  let tokens = 0;
  let j = 0;
  for (let i = 0; i < m.length; i++) {
    if (!Number.isNaN(tokensCol[i])) tokens = tokensCol[i];
    if (Number.isNaN(value[i])) continue;
    out.step[j] = m.step[i];
    out.time[j] = m.time[i];
    out.tokens[j] = tokens;
    out.value[j++] = value[i];
  }
  return out;
}

/**
 * The train-loss, validation-loss and eval-set series of a run's metrics (steps strictly
 * increasing, as `readMetricsColumns` returns them); `evals` keyed `eval/<set>/<metric>`.
 */
export function seriesOf(m: MetricsColumns): { train: CompareSeries; val: CompareSeries; evals: Record<string, CompareSeries> } {
  const evals: Record<string, CompareSeries> = {};
  for (const [k, col] of m.evals) evals[k] = seriesOfColumn(m, col);
  return { train: seriesOfColumn(m, m.values.train_loss), val: seriesOfColumn(m, m.values.val_loss), evals };
}

/**
 * The runs table's numbers from the metrics (see `CompareSummary`). Best validation loss:
 * the minimum over rows with `val_loss`, at the first step reaching it. Tokens/s: the last
 * row's cumulative `tokens` ÷ its `time` (whole-run throughput, evaluation time included).
 */
export function summarize(m: MetricsColumns, run: Pick<RunJson, 'step' | 'max_steps'>, adapterBytes: number | null): CompareSummary {
  let best: number | null = null;
  let bestStep: number | null = null;
  let lastVal: number | null = null;
  let tokens: number | null = null;
  const val = m.values.val_loss;
  const tok = m.values.tokens;
  for (let i = 0; i < m.length; i++) {
    const v = val[i];
    if (!Number.isNaN(v)) {
      lastVal = v;
      if (best === null || v < best) {
        best = v;
        bestStep = m.step[i];
      }
    }
    if (!Number.isNaN(tok[i])) tokens = tok[i];
  }
  const wall = m.length ? m.time[m.length - 1] : null;
  return {
    steps: Math.max(run.step, m.length ? m.step[m.length - 1] : 0),
    max_steps: run.max_steps,
    tokens,
    wall_time_s: wall,
    tokens_per_s: tokens !== null && wall !== null && wall > 0 ? tokens / wall : null,
    best_val_loss: best,
    best_val_step: bestStep,
    last_val_loss: lastVal,
    adapter_bytes: adapterBytes,
  };
}

/**
 * Optimizer steps per epoch, or why it is not known. Without packing each training example is
 * one row of the loader (`engine/data/loader.ts`), an epoch is ⌈examples / per_device_train_batch_size⌉
 * batches (the last one smaller, HF Trainer's `drop_last=False`) and one optimizer step takes
 * `gradient_accumulation_steps` batches. With packing the rows per epoch are not recorded.
 */
export function stepsPerEpoch(run: Pick<RunJson, 'config' | 'dataset'>): { steps: number } | { reason: string } {
  const cfg = isObj(run.config) ? run.config : {};
  const data = isObj(cfg.data) ? cfg.data : {};
  const training = isObj(cfg.training) ? cfg.training : {};
  if (data.packing === true) return { reason: 'packing is on: run.json does not record the packed rows per epoch' };
  const examples = run.dataset?.report?.train_examples;
  if (typeof examples !== 'number' || examples <= 0) return { reason: 'run.json has no data report with the number of training examples (a run made before it was recorded)' };
  const batch = training.per_device_train_batch_size;
  const accum = training.gradient_accumulation_steps ?? 1;
  if (typeof batch !== 'number' || batch <= 0 || typeof accum !== 'number' || accum <= 0) return { reason: 'run.json has no per_device_train_batch_size / gradient_accumulation_steps' };
  return { steps: Math.ceil(examples / batch) / accum };
}

/** Total bytes of the files directly in `<runDir>/adapter/`, null when the folder does not exist. */
export async function adapterBytes(runDir: string): Promise<number | null> {
  const dir = nodePath.join(runDir, ADAPTER_DIR);
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return null;
  }
  let total = 0;
  for (const n of names) {
    const st = await fsp.stat(nodePath.join(dir, n)).catch(() => null);
    if (st?.isFile()) total += st.size;
  }
  return total;
}

/**
 * Reads one run for the Compare view. Throws `RunError` (one line naming the file) when the
 * folder or its run.json cannot be read; a damaged metrics line is skipped, as everywhere.
 */
export async function loadCompareRun(runDir: string): Promise<CompareRun> {
  const handle = await openRun(runDir);
  const run = await handle.read();
  const [metrics, bytes] = await Promise.all([readMetricsColumns(handle.dir), adapterBytes(handle.dir)]);
  const epoch = stepsPerEpoch(run);
  return {
    id: run.id,
    name: run.name,
    run_dir: handle.dir,
    status: effectiveStatus(run),
    created_at: run.created_at,
    model: run.model.path,
    adapter_dir: bytes !== null ? nodePath.join(handle.dir, ADAPTER_DIR) : null,
    summary: summarize(metrics, run, bytes),
    hyperparameters: flattenHyperparameters(run.config),
    steps_per_epoch: 'steps' in epoch ? epoch.steps : null,
    epoch_note: 'reason' in epoch ? epoch.reason : null,
    ...seriesOf(metrics),
  };
}
