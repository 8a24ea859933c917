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

/** The trainer's log line for a resume (src/trainer/run.ts): `<ISO time> resuming from step N: model …`. */
const RESUME_LINE = /^\S+ resuming from step (\d+):/;

/**
 * The steps a run was resumed from that lie on the history its metrics show, oldest first: the
 * `resuming from step N` lines of its log.txt, plus run.json's `resumed_from_step` (the latest
 * resume, recorded before the log line). A resume from step c makes every earlier resume from a
 * step ≥ c part of a history the run no longer descends from (as `readMetrics` drops the rows
 * logged past c), so those are dropped. A resume that started over (step 0) marks nothing.
 */
export function resumeSteps(run: Pick<RunJson, 'resumed_from_step'>, logText: string): number[] {
  const steps: number[] = [];
  const add = (c: number) => {
    while (steps.length && steps[steps.length - 1] >= c) steps.pop();
    if (c > 0) steps.push(c);
  };
  for (const line of logText.split('\n')) {
    const m = RESUME_LINE.exec(line);
    if (m) add(Number(m[1]));
  }
  const latest = run.resumed_from_step;
  if (typeof latest === 'number' && latest > 0 && steps[steps.length - 1] !== latest) add(latest);
  return steps;
}

/** The facts of a run for the dashboard; `status` is the effective one (crashed detection), `step` the latest known. */
export function runFacts(run: RunJson, runDir: string, status: RunStatus, step: number, resumes: number[] = []): RunFacts {
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
    resumes,
  };
}
