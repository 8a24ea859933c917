/**
 * What the Compare view shows of one run, read from its folder (`run.json`, `metrics.jsonl`,
 * `adapter/`): the curves as columns, the runs table's numbers, the flattened resolved config
 * and how many optimizer steps make an epoch. Plain; no `vscode` import.
 */
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import type { CompareRun, CompareSeries, CompareSummary } from '../../protocol/compare';
import type { MetricsRowLike } from '../../protocol/metrics';
import { ADAPTER_DIR, type RunJson, effectiveStatus, openRun, readMetrics } from '../../runs/index';
import { flattenHyperparameters } from '../dashboard/facts';

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * The train-loss and validation-loss series of metrics rows (steps strictly increasing, as
 * `readMetrics` returns them). `tokens` is carried forward over rows that lack it (the step-0
 * evaluation row has none in old runs), starting at 0.
 */
export function seriesOf(rows: readonly MetricsRowLike[]): { train: CompareSeries; val: CompareSeries } {
  const nTrain = rows.reduce((n, r) => n + (typeof r.train_loss === 'number' ? 1 : 0), 0);
  const nVal = rows.reduce((n, r) => n + (typeof r.val_loss === 'number' ? 1 : 0), 0);
  const make = (n: number): CompareSeries => ({ step: new Float64Array(n), time: new Float64Array(n), tokens: new Float64Array(n), value: new Float64Array(n) });
  const train = make(nTrain);
  const val = make(nVal);
  let i = 0;
  let j = 0;
  let tokens = 0;
  for (const r of rows) {
    if (typeof r.tokens === 'number') tokens = r.tokens;
    if (typeof r.train_loss === 'number') {
      train.step[i] = r.step;
      train.time[i] = r.time;
      train.tokens[i] = tokens;
      train.value[i++] = r.train_loss;
    }
    if (typeof r.val_loss === 'number') {
      val.step[j] = r.step;
      val.time[j] = r.time;
      val.tokens[j] = tokens;
      val.value[j++] = r.val_loss;
    }
  }
  return { train, val };
}

/**
 * The runs table's numbers from the metrics rows (see `CompareSummary`). Best validation loss:
 * the minimum over rows with `val_loss`, at the first step reaching it. Tokens/s: the last
 * row's cumulative `tokens` ÷ its `time` (whole-run throughput, evaluation time included).
 */
export function summarize(rows: readonly MetricsRowLike[], run: Pick<RunJson, 'step' | 'max_steps'>, adapterBytes: number | null): CompareSummary {
  let best: number | null = null;
  let bestStep: number | null = null;
  let lastVal: number | null = null;
  let tokens: number | null = null;
  for (const r of rows) {
    if (typeof r.val_loss === 'number') {
      lastVal = r.val_loss;
      if (best === null || r.val_loss < best) {
        best = r.val_loss;
        bestStep = r.step;
      }
    }
    if (typeof r.tokens === 'number') tokens = r.tokens;
  }
  const last = rows.at(-1);
  const wall = last ? last.time : null;
  return {
    steps: Math.max(run.step, last?.step ?? 0),
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
  const [rows, bytes] = await Promise.all([readMetrics(handle.dir), adapterBytes(handle.dir)]);
  const epoch = stepsPerEpoch(run);
  return {
    id: run.id,
    name: run.name,
    run_dir: handle.dir,
    status: effectiveStatus(run),
    created_at: run.created_at,
    summary: summarize(rows, run, bytes),
    hyperparameters: flattenHyperparameters(run.config),
    steps_per_epoch: 'steps' in epoch ? epoch.steps : null,
    epoch_note: 'reason' in epoch ? epoch.reason : null,
    ...seriesOf(rows),
  };
}
