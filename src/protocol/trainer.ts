/**
 * The trainer process protocol (extension host ⇄ `dist/trainer.js`, over Node IPC), typed once
 * and imported by both ends. Every message carries `v`, the protocol version; a receiver
 * validates what arrives with the `is…` guards and ignores what it does not understand.
 *
 * Flow: child sends `ready` → parent sends `start` → child sends `run` (the run directory),
 * then `metrics` / `checkpoint` / `log` while training, and finally `done` or `error`.
 * Parent may send `stop` at any time: the child finishes the current step, writes a
 * checkpoint, marks the run `stopped` and exits.
 */
import type { MetricsRowLike } from './metrics';

export const TRAINER_PROTOCOL_VERSION = 1;

export interface StartArgs {
  /** Path of the `*.lora.json` experiment (mutually exclusive with `resume`). */
  experimentFile?: string;
  /** Run directory to resume. */
  resume?: string;
  /** Overrides the experiment's model (local folder). */
  model?: string;
  runsDir?: string;
  maxSteps?: number;
  device?: 'auto' | 'cpu' | 'cuda' | 'webgpu';
  threads?: number;
  /**
   * A PEFT adapter folder (e.g. a checkpoint, `<run>/checkpoints/step-N`) a new run starts from:
   * overrides the experiment's `init_adapter` (with `experimentFile` only; not with `resume`).
   */
  initAdapter?: string;
}

export type TrainerRequest =
  | { v: 1; type: 'start'; args: StartArgs }
  | { v: 1; type: 'stop' };

export type { RunStatusFinal } from './status';
import type { RunStatusFinal } from './status';

export type TrainerEvent =
  | { v: 1; type: 'ready'; pid: number }
  /** `precision`: the training precision that runs, e.g. `fp32`, `fp16 weights and matmuls, with loss scaling` (null: not recorded). */
  | { v: 1; type: 'run'; run_dir: string; id: string; resumed_from_step: number | null; max_steps: number; provider: string; precision?: string | null }
  | { v: 1; type: 'metrics'; row: MetricsRowLike }
  | { v: 1; type: 'checkpoint'; step: number; dir: string }
  | { v: 1; type: 'log'; line: string }
  | { v: 1; type: 'done'; status: RunStatusFinal; run_dir: string; adapter_dir: string | null; step: number }
  | { v: 1; type: 'error'; message: string; exit_code: number };

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;

export function isTrainerRequest(x: unknown): x is TrainerRequest {
  if (!isObj(x) || x.v !== TRAINER_PROTOCOL_VERSION) return false;
  if (x.type === 'stop') return true;
  return x.type === 'start' && isObj(x.args);
}

export function isTrainerEvent(x: unknown): x is TrainerEvent {
  if (!isObj(x) || x.v !== TRAINER_PROTOCOL_VERSION || typeof x.type !== 'string') return false;
  switch (x.type) {
    case 'ready': return typeof x.pid === 'number';
    case 'run': return typeof x.run_dir === 'string' && typeof x.id === 'string';
    case 'metrics': return isObj(x.row) && typeof x.row.step === 'number';
    case 'checkpoint': return typeof x.step === 'number' && typeof x.dir === 'string';
    case 'log': return typeof x.line === 'string';
    case 'done': return typeof x.run_dir === 'string' && typeof x.status === 'string';
    case 'error': return typeof x.message === 'string';
    default: return false;
  }
}
