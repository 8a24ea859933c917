/**
 * Checkpoint contents (DESIGN.md, run directory): a PEFT adapter (`adapter_config.json`,
 * `adapter_model.safetensors`), `optimizer.safetensors` (Adam moments `m/<key>`, `v/<key>`,
 * float32, with the update count in the metadata) and `trainer_state.json` (step, data order
 * and position, elapsed time, tokens): enough to resume exactly.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AdamState, LossScalerState } from '../engine/train/optimizer';
import type { HostTensor } from '../engine/tensor';
import { type LoraConfigInput, type LoraConfigJson, type LoraWeights, peftKey, readPeftAdapter, writePeftAdapter } from '../engine/weights/peft';
import { SafetensorsFile, writeSafetensors } from '../engine/weights/safetensors';
import type { LoaderState } from '../engine/data/index';
import { describeJsonError } from '../engine/weights/errors';
import { type CheckpointInfo, RunError, listCheckpoints } from '../runs/index';

export const TRAINER_STATE_FILE = 'trainer_state.json';
export const OPTIMIZER_FILE = 'optimizer.safetensors';

export interface TrainerState {
  /** Optimizer steps done. */
  step: number;
  /** Data loader position (epoch and index into that epoch's seeded order). */
  data: LoaderState;
  /** Seconds of training before this checkpoint (metrics `time` continues from it). */
  elapsed_s: number;
  /** Cumulative tokens processed (metrics `tokens`). */
  tokens: number;
  /** Seed of the run (data order, LoRA init). */
  seed: number;
  /** Train loss at this step, for display. */
  train_loss: number | null;
  /**
   * Dynamic loss scaling's state (`LossScaler`, engine/train/optimizer.ts) when the run uses it
   * (fp16 on a GPU); absent otherwise and in checkpoints written before it existed.
   */
  loss_scaler?: LossScalerState;
}

/** Module path → A/B pairs, from flat PEFT-keyed params. */
export function toModules(params: Map<string, HostTensor>, modules: readonly string[]): Map<string, LoraWeights> {
  return new Map(modules.map((m) => [m, { module: m, A: params.get(peftKey(m, 'A'))!, B: params.get(peftKey(m, 'B'))! }]));
}

/** Writes adapter + optimizer + trainer state into `dir` (a temporary checkpoint folder). */
export async function writeCheckpointFiles(dir: string, cfg: LoraConfigInput, params: Map<string, HostTensor>, modules: readonly string[], adam: AdamState, state: TrainerState): Promise<void> {
  await writePeftAdapter(dir, cfg, toModules(params, modules));
  const moments: Record<string, HostTensor> = {};
  for (const [k, p] of params) {
    moments[`m/${k}`] = { dtype: 'float32', shape: p.shape, data: adam.m.get(k)! };
    moments[`v/${k}`] = { dtype: 'float32', shape: p.shape, data: adam.v.get(k)! };
  }
  await writeSafetensors(join(dir, OPTIMIZER_FILE), moments, { adam_t: String(adam.t), format: 'pt' });
  await writeFile(join(dir, TRAINER_STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
}

export interface LoadedCheckpoint {
  /** The checkpoint's adapter_config.json (r, lora_alpha, rank_pattern, alpha_pattern, …). */
  config: LoraConfigJson;
  /** The adapted modules, in the adapter file's (sorted) order. */
  modules: string[];
  /** PEFT key → A [r_m, in] or B [out, r_m] (ranks may differ per module). */
  params: Map<string, HostTensor>;
  adam: AdamState;
  state: TrainerState;
}

/**
 * Reads a checkpoint written by `writeCheckpointFiles` and checks it can be resumed from: every
 * Adam moment has its parameter's shape, every LoRA weight and moment is finite, and
 * `trainer_state.json` is a JSON object with integer `step` (equal to `expectStep` when given),
 * `data.epoch`, `data.index`, and numeric `elapsed_s`, `tokens`. @throws RunError, one line
 * naming the file (and tensor) and saying what to do.
 */
export async function readCheckpoint(dir: string, expectStep?: number): Promise<LoadedCheckpoint> {
  const damaged = 'the checkpoint is damaged; resume from an earlier one with --checkpoint step-N';
  let adapter;
  try {
    adapter = await readPeftAdapter(dir);
  } catch (e) {
    throw new RunError(dir, (e as Error).message.split('\n')[0], { cause: e });
  }
  const params = new Map<string, HostTensor>();
  for (const [m, w] of adapter.modules) {
    params.set(peftKey(m, 'A'), w.A);
    params.set(peftKey(m, 'B'), w.B);
  }
  const weightsFile = join(dir, 'adapter_model.safetensors');
  for (const [k, p] of params) {
    const i = firstNonFinite(p.data as Float32Array);
    if (i >= 0) throw new RunError(weightsFile, `${weightsFile}: "${k}" holds ${(p.data as Float32Array)[i]} at index ${i}; ${damaged}`);
  }
  const optPath = join(dir, OPTIMIZER_FILE);
  let opt: SafetensorsFile;
  try {
    opt = await SafetensorsFile.open(optPath);
  } catch (e) {
    throw new RunError(optPath, `${(e as Error).message.split('\n')[0]}; ${damaged}`, { cause: e });
  }
  const adam: AdamState = { t: Number(opt.metadata.adam_t ?? 0), m: new Map(), v: new Map() };
  try {
    if (!Number.isInteger(adam.t) || adam.t < 0) throw new RunError(optPath, `${optPath}: metadata "adam_t" is ${JSON.stringify(opt.metadata.adam_t)}, not a step count; ${damaged}`);
    for (const [k, p] of params) {
      for (const which of ['m', 'v'] as const) {
        const name = `${which}/${k}`;
        if (!opt.has(name)) throw new RunError(optPath, `${optPath}: has no moment "${name}"; ${damaged}`);
        const t = await opt.read(name);
        if (t.shape.join(',') !== p.shape.join(',')) {
          throw new RunError(optPath, `${optPath}: moment "${name}" has shape [${t.shape.join(', ')}] but its parameter is [${p.shape.join(', ')}]; ${damaged}`);
        }
        const data = t.data as Float32Array;
        const i = firstNonFinite(data);
        if (i >= 0) throw new RunError(optPath, `${optPath}: moment "${name}" holds ${data[i]} at index ${i}; ${damaged}`);
        adam[which].set(k, data);
      }
    }
  } finally {
    opt.close();
  }
  const stateFile = join(dir, TRAINER_STATE_FILE);
  let text: string;
  try {
    text = await readFile(stateFile, 'utf8');
  } catch (e) {
    throw new RunError(stateFile, `${stateFile}: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); ${damaged}`, { cause: e });
  }
  let state: TrainerState;
  try {
    state = JSON.parse(text) as TrainerState;
  } catch (e) {
    throw new RunError(stateFile, `${stateFile}: ${describeJsonError(text, e)}; ${damaged}`, { cause: e });
  }
  const bad = (field: string, value: unknown, want: string) => new RunError(stateFile, `${stateFile}: "${field}" is ${JSON.stringify(value) ?? 'missing'}, expected ${want}; ${damaged}`);
  if (typeof state !== 'object' || state === null || Array.isArray(state)) throw new RunError(stateFile, `${stateFile}: expected a JSON object; ${damaged}`);
  const isCount = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
  if (!isCount(state.step)) throw bad('step', state.step, 'a step count');
  if (expectStep !== undefined && state.step !== expectStep) throw bad('step', state.step, `${expectStep} (the folder's step)`);
  if (typeof state.data !== 'object' || state.data === null) throw bad('data', state.data, '{"epoch", "index"}');
  if (!isCount(state.data.epoch)) throw bad('data.epoch', state.data.epoch, 'an epoch count');
  if (!isCount(state.data.index)) throw bad('data.index', state.data.index, 'a position in the epoch');
  for (const f of ['elapsed_s', 'tokens'] as const) if (typeof state[f] !== 'number' || !Number.isFinite(state[f]) || state[f] < 0) throw bad(f, state[f], 'a number ≥ 0');
  const ls = state.loss_scaler;
  if (ls !== undefined && (typeof ls !== 'object' || ls === null || !(Number.isFinite(ls.scale) && ls.scale > 0) || !isCount(ls.growth_tracker))) {
    throw bad('loss_scaler', ls, '{"scale": a number > 0, "growth_tracker": a count}');
  }
  return { config: adapter.config, modules: [...adapter.modules.keys()], params, adam, state };
}

/** Index of the first NaN or ±Infinity in `x`, or -1. */
function firstNonFinite(x: Float32Array): number {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) return i;
  return -1;
}

/** A checkpoint that could not be resumed from, and why (a RunError's one line). */
export interface SkippedCheckpoint {
  step: number;
  reason: string;
}

/**
 * The checkpoint a resume starts from. With `wanted` (`step-N`, `N`, or a checkpoint folder of
 * this run) exactly that one, read and checked by `readCheckpoint` (its RunError propagates).
 * Otherwise the newest checkpoint that `readCheckpoint` accepts; newer damaged ones are
 * returned in `skipped` (newest first) so the caller can say so. Returns null when the run has
 * no checkpoint. @throws RunError when `wanted` is not a checkpoint of the run, or when every
 * checkpoint is damaged (listing why).
 */
export async function pickCheckpoint(runDir: string, wanted?: string): Promise<{ info: CheckpointInfo; ck: LoadedCheckpoint; skipped: SkippedCheckpoint[] } | null> {
  const all = await listCheckpoints(runDir);
  if (wanted !== undefined) {
    const m = /^(?:.*[\\/])?(?:step-)?(\d+)[\\/]?$/.exec(wanted.trim());
    const info = m ? all.find((c) => c.step === Number(m[1])) : undefined;
    if (!info) {
      const have = all.length ? `its checkpoints are ${all.map((c) => `step-${c.step}`).join(', ')}` : 'it has no checkpoint';
      throw new RunError(runDir, `${runDir}: --checkpoint ${wanted} is not a checkpoint of this run; ${have}`);
    }
    return { info, ck: await readCheckpoint(info.dir, info.step), skipped: [] };
  }
  const skipped: SkippedCheckpoint[] = [];
  for (const info of [...all].reverse()) {
    try {
      return { info, ck: await readCheckpoint(info.dir, info.step), skipped };
    } catch (e) {
      if (!(e instanceof RunError)) throw e;
      skipped.push({ step: info.step, reason: e.message });
    }
  }
  if (skipped.length) {
    throw new RunError(runDir, `${runDir}: no checkpoint can be resumed from (${skipped.map((x) => `step-${x.step}: ${x.reason}`).join(' | ')}); start a new run`);
  }
  return null;
}

/**
 * What a failure message says about the run's checkpoints: the newest one `readCheckpoint`
 * accepts ("the last good checkpoint (step N) is kept"), or that there is none. A checkpoint
 * holding NaN or damaged files is never called good.
 */
export async function describeKeptCheckpoint(runDir: string): Promise<{ step: number | null; text: string }> {
  const picked = await pickCheckpoint(runDir).catch(() => null);
  return picked
    ? { step: picked.info.step, text: `the last good checkpoint (step ${picked.info.step}) is kept` }
    : { step: null, text: 'no usable checkpoint was written, so a resume starts over from step 0' };
}
