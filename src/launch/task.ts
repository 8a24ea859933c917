/**
 * The run contract of a sweep task, shared by every backend: a task runs
 * `loralab train --sweep SWEEP [--index I]` (SWEEP a sweep folder or its sweep.json; I from
 * `--index`, else `SLURM_ARRAY_TASK_ID`, else `JOB_COMPLETION_INDEX`) and trains point I into
 * an ordinary run folder inside the sweep folder. Re-running an index resumes its run from the
 * last checkpoint; a finished index (its run completed, or failed: a diverged learning rate is
 * a result, as in the local runner) is a no-op. Each task writes `task-<I>.json` (backend, job
 * id, run folder) beside sweep.json.
 *
 * Index variables: Slurm sets `SLURM_ARRAY_TASK_ID` in every task of a job array (sbatch(1),
 * "OUTPUT ENVIRONMENT VARIABLES"); Kubernetes sets `JOB_COMPLETION_INDEX` in every pod of a Job
 * with `completionMode: Indexed` (batch/v1 Job, "Completion mode").
 */
import { existsSync, promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import * as nodePath from 'node:path';
import { loadSweep } from '../experiment/index';
import { type SweepBackend, type SweepJson, type SweepTaskJson, SWEEP_FILE, readSweep, summarizeRun, writeSweepTask } from '../runs/index';
import type { RunStatus } from '../runs/index';

/** Why a task cannot start: one line naming the sweep file or variable and what to do. */
export class SweepTaskError extends Error {}

/** Who runs this process, read from the scheduler's environment. */
export interface TaskIdentity {
  backend: SweepBackend;
  /** Slurm `<array job id>_<task id>`, Kubernetes `<namespace>/<pod name>`, local the pid. */
  job_id: string;
}

/** The scheduler this process runs under (by its environment variables). */
export function taskIdentity(env: NodeJS.ProcessEnv = process.env, pid = process.pid): TaskIdentity {
  if (env.SLURM_ARRAY_JOB_ID && env.SLURM_ARRAY_TASK_ID) return { backend: 'slurm', job_id: `${env.SLURM_ARRAY_JOB_ID}_${env.SLURM_ARRAY_TASK_ID}` };
  if (env.SLURM_JOB_ID) return { backend: 'slurm', job_id: env.SLURM_JOB_ID };
  if (env.JOB_COMPLETION_INDEX !== undefined) return { backend: 'kubernetes', job_id: `${env.POD_NAMESPACE ?? 'default'}/${env.HOSTNAME ?? hostname()}` };
  return { backend: 'local', job_id: String(pid) };
}

/**
 * The point index: `--index` when given, else `SLURM_ARRAY_TASK_ID`, else `JOB_COMPLETION_INDEX`.
 * @throws SweepTaskError when none is set or the value is not an integer ≥ 0.
 */
export function taskIndex(index: number | undefined, env: NodeJS.ProcessEnv = process.env): number {
  if (index !== undefined) return index;
  for (const name of ['SLURM_ARRAY_TASK_ID', 'JOB_COMPLETION_INDEX']) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    if (!/^\d+$/.test(v)) throw new SweepTaskError(`${name}=${v}: not a point index (an integer ≥ 0); pass --index I`);
    return Number(v);
  }
  throw new SweepTaskError('no point index: pass --index I, or run as a Slurm array task (SLURM_ARRAY_TASK_ID) or a Kubernetes Indexed Job pod (JOB_COMPLETION_INDEX)');
}

/** The sweep folder of a `--sweep` argument: the folder itself or its sweep.json. */
export function sweepDirOf(arg: string): string {
  const p = nodePath.resolve(arg);
  return nodePath.basename(p) === SWEEP_FILE ? nodePath.dirname(p) : p;
}

/** What a task is to do with its point. */
export type TaskPlan =
  | { action: 'skip'; status: RunStatus; runDir: string }
  | { action: 'resume'; status: RunStatus; runDir: string }
  | { action: 'start' };

/** Statuses after which a point is finished: its task is a no-op. */
export const FINISHED: readonly RunStatus[] = ['completed', 'failed'];

/**
 * The run folder of point `index`: the one sweep.json or its task record names, else the newest
 * run folder in the sweep folder whose run.json carries the point's name (a task killed between
 * creating its run folder and recording it). Null when the point never started.
 */
export async function findPointRun(dir: string, sweep: SweepJson, index: number): Promise<string | null> {
  const named = sweep.points[index].run_dir;
  if (named && existsSync(nodePath.join(named, 'run.json'))) return named;
  const entries = await fsp.readdir(dir, { withFileTypes: true }).catch(() => []);
  let best: { dir: string; created: string } | null = null;
  for (const e of entries) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    const runDir = nodePath.join(dir, e.name);
    const s = await summarizeRun(runDir).catch(() => null);
    if (s && s.name === sweep.points[index].name && (!best || s.created_at > best.created)) best = { dir: runDir, created: s.created_at };
  }
  return best?.dir ?? null;
}

/**
 * Reads the sweep and decides what the task for point `index` does. The experiment file must
 * still expand point `index` to the same point (same name) as when the sweep was made.
 * @throws SweepTaskError (one line, naming sweep.json) for a missing sweep, an index out of
 *   range or an experiment file that is unreachable or changed.
 */
export async function planTask(sweepArg: string, index: number): Promise<{ dir: string; sweep: SweepJson; plan: TaskPlan }> {
  const dir = sweepDirOf(sweepArg);
  let sweep: SweepJson;
  try {
    sweep = await readSweep(dir);
  } catch (e) {
    throw new SweepTaskError((e as Error).message);
  }
  const file = nodePath.join(dir, SWEEP_FILE);
  if (index >= sweep.points.length) throw new SweepTaskError(`${file}: has ${sweep.points.length} points (0 … ${sweep.points.length - 1}); index ${index} is out of range`);
  if (!existsSync(sweep.experiment_file)) {
    throw new SweepTaskError(`${file}: its experiment file ${sweep.experiment_file} is not reachable from ${hostname()}; keep the experiment, its data and model on the shared filesystem at the same path on every node`);
  }
  const { points } = await loadSweep(sweep.experiment_file);
  if (points[index]?.name !== sweep.points[index].name) {
    throw new SweepTaskError(`${sweep.experiment_file}: its sweep block changed since ${file} was made (point ${index} is now ${points[index]?.name ?? 'gone'}, was ${sweep.points[index].name}); start a new sweep`);
  }
  const runDir = await findPointRun(dir, sweep, index);
  if (!runDir) return { dir, sweep, plan: { action: 'start' } };
  const { status } = await summarizeRun(runDir);
  return { dir, sweep, plan: FINISHED.includes(status) ? { action: 'skip', status, runDir } : { action: 'resume', status, runDir } };
}

/** Writes the task record of point `index` (who runs it, and its run folder once known). */
export async function recordTask(dir: string, index: number, runDir: string | null, who: TaskIdentity = taskIdentity()): Promise<void> {
  const rec: SweepTaskJson = { index, backend: who.backend, job_id: who.job_id, run_dir: runDir, hostname: hostname(), updated_at: new Date().toISOString() };
  await writeSweepTask(dir, rec);
}
