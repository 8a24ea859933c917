/** The dashboard's facts table, from a run's run.json. Plain; no `vscode` import. */
import type { RunFacts } from '../../protocol/dashboard';
import type { RunJson, RunStatus } from '../../runs/index';

type Scalar = string | number | boolean | null;

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** A value as the table shows it: scalars as they are, lists joined with ", ", anything else as JSON. */
function scalar(v: unknown): Scalar {
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(', ');
  return JSON.stringify(v) ?? null;
}

/**
 * The hyperparameters of a resolved experiment config, flattened: `lora.r`, `training.learning_rate`,
 * `data.max_seq_length`, …, `device`, `init_adapter`. Left out: `name` and `model` (shown as
 * facts of their own) and `data.train` / `data.validation` (the `dataset` fact).
 */
export function flattenHyperparameters(config: unknown): Record<string, Scalar> {
  const out: Record<string, Scalar> = {};
  if (!isObj(config)) return out;
  for (const [key, value] of Object.entries(config)) {
    if (key === 'name' || key === 'model') continue;
    if (isObj(value)) {
      for (const [k, v] of Object.entries(value)) if (!(key === 'data' && (k === 'train' || k === 'validation'))) out[`${key}.${k}`] = scalar(v);
    } else {
      out[key] = scalar(value);
    }
  }
  return out;
}

/** The facts of a run for the dashboard; `status` is the effective one (crashed detection), `step` the latest known. */
export function runFacts(run: RunJson, runDir: string, status: RunStatus, step: number): RunFacts {
  const data = isObj(run.config) && isObj(run.config.data) ? run.config.data : {};
  const train = typeof data.train === 'string' ? data.train : null;
  const validation = typeof data.validation === 'string' || typeof data.validation === 'number' ? data.validation : null;
  return {
    id: run.id,
    name: run.name,
    run_dir: runDir,
    status,
    step,
    max_steps: run.max_steps,
    model: run.model?.path ?? '',
    provider: run.provider ?? null,
    dataset: { train, validation },
    created_at: run.created_at,
    finished_at: run.finished_at ?? null,
    error: run.error ?? null,
    hyperparameters: flattenHyperparameters(run.config),
  };
}
