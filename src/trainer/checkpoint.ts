/**
 * Checkpoint contents (DESIGN.md, run directory): a PEFT adapter (`adapter_config.json`,
 * `adapter_model.safetensors`), `optimizer.safetensors` (Adam moments `m/<key>`, `v/<key>`,
 * float32, with the update count in the metadata) and `trainer_state.json` (step, data order
 * and position, elapsed time, tokens): enough to resume exactly.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AdamState } from '../engine/train/optimizer';
import type { HostTensor } from '../engine/tensor';
import { type LoraConfigInput, type LoraConfigJson, type LoraWeights, peftKey, readPeftAdapter, writePeftAdapter } from '../engine/weights/peft';
import { SafetensorsFile, writeSafetensors } from '../engine/weights/safetensors';
import type { LoaderState } from '../engine/data/index';

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
 * Reads a checkpoint written by `writeCheckpointFiles`; every Adam moment must have its
 * parameter's shape. @throws naming the file.
 */
export async function readCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const adapter = await readPeftAdapter(dir);
  const params = new Map<string, HostTensor>();
  for (const [m, w] of adapter.modules) {
    params.set(peftKey(m, 'A'), w.A);
    params.set(peftKey(m, 'B'), w.B);
  }
  const optPath = join(dir, OPTIMIZER_FILE);
  const opt = await SafetensorsFile.open(optPath);
  const adam: AdamState = { t: Number(opt.metadata.adam_t ?? 0), m: new Map(), v: new Map() };
  try {
    for (const [k, p] of params) {
      for (const which of ['m', 'v'] as const) {
        const name = `${which}/${k}`;
        if (!opt.has(name)) throw new Error(`${optPath}: has no moment "${name}"; the checkpoint is damaged — resume from an earlier one`);
        const t = await opt.read(name);
        if (t.shape.join(',') !== p.shape.join(',')) {
          throw new Error(`${optPath}: moment "${name}" has shape [${t.shape.join(', ')}] but its parameter is [${p.shape.join(', ')}]; the checkpoint is damaged — resume from an earlier one`);
        }
        adam[which].set(k, t.data as Float32Array);
      }
    }
  } finally {
    opt.close();
  }
  const stateFile = join(dir, TRAINER_STATE_FILE);
  let state: TrainerState;
  try {
    state = JSON.parse(await readFile(stateFile, 'utf8')) as TrainerState;
  } catch (e) {
    throw new Error(`${stateFile}: cannot read the trainer state (${(e as Error).message}); the checkpoint is damaged — resume from an earlier one`);
  }
  return { config: adapter.config, modules: [...adapter.modules.keys()], params, adam, state };
}
