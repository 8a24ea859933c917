/**
 * Sweep folders: `<runs dir>/<name>-sweep-<YYYYMMDD-HHMMSS>/` holding `sweep.json` and one
 * ordinary run folder per point. `sweep.json` names the experiment file, the grid and, per
 * point, its run folder once the run has started; a run's own `run.json` stays the source of
 * truth for its status and metrics.
 */
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { writeBytesAtomic } from '../engine/weights/atomic';
import { RunError } from './errors';
import { lastMetrics, readMetrics } from './metrics';
import { summarizeRun } from './list';
import type { RunStatus } from './types';

export const SWEEP_FILE = 'sweep.json';

/** `sweep.json`. */
export interface SweepJson {
  version: 1;
  /** The experiment's name. */
  name: string;
  /** Absolute path of the experiment file. */
  experiment_file: string;
  method: 'grid' | 'zip';
  /** Key path → values, as in the file's `sweep` block. */
  parameters: Record<string, unknown[]>;
  seeds: number[];
  /** What "best" means: the lowest final `val_loss` (`train_loss` for runs without validation). */
  metric: 'val_loss';
  created_at: string;
  updated_at: string;
  /** `running` while a runner works on it, `stopped` when stopped, `completed` when every point has a final run. */
  status: 'running' | 'stopped' | 'completed';
  /** Process id of the runner. */
  pid: number;
  /**
   * Per point: its run folder once started, and which backend and job ran it last (from its
   * `task-<index>.json`, merged in by `readSweep`; absent before a task ran it).
   */
  points: { index: number; name: string; values: Record<string, unknown>; run_dir: string | null; backend?: SweepBackend; job_id?: string | null }[];
  /** Every submission of (part of) the sweep to a backend, oldest first (src/launch/). */
  launches?: SweepLaunch[];
}

/** Where a sweep's runs execute (src/launch/local.ts, slurm.ts, kubernetes.ts). */
export type SweepBackend = 'local' | 'slurm' | 'kubernetes';

/** One submission: a Slurm job array or a Kubernetes Indexed Job (or a local runner). */
export interface SweepLaunch {
  backend: SweepBackend;
  /** Slurm: the array job id; Kubernetes: `<namespace>/<job name>`; local: the runner's pid. */
  job_id: string;
  /** The points it was asked to run. */
  indices: number[];
  submitted_at: string;
  /** The sbatch script or Job manifest written beside sweep.json, if any. */
  file?: string;
}

/**
 * `task-<index>.json` in the sweep folder: which backend and job ran point `index` and its run
 * folder. Written only by that point's task (`loralab train --sweep DIR --index I`), so array
 * tasks never race on sweep.json.
 */
export interface SweepTaskJson {
  index: number;
  backend: SweepBackend;
  /** Slurm `<array job id>_<index>`, Kubernetes `<namespace>/<pod>`, local the pid. */
  job_id: string | null;
  run_dir: string | null;
  hostname: string;
  updated_at: string;
}

const taskFile = (dir: string, index: number) => nodePath.join(dir, `task-${index}.json`);

/** Writes `dir/task-<index>.json` atomically. */
export async function writeSweepTask(dir: string, task: SweepTaskJson): Promise<void> {
  await writeBytesAtomic(taskFile(dir, task.index), Buffer.from(`${JSON.stringify(task, null, 2)}\n`));
}

/** Reads `dir/task-<index>.json`; undefined when absent or unreadable (a task record is a hint, the run folder is the truth). */
export async function readSweepTask(dir: string, index: number): Promise<SweepTaskJson | undefined> {
  try {
    const t = JSON.parse(await fsp.readFile(taskFile(dir, index), 'utf8')) as SweepTaskJson;
    return t && t.index === index ? t : undefined;
  } catch {
    return undefined;
  }
}

/** A point with its run's state, for the tree, the CLI summary and the compare view. */
export interface SweepPointState {
  index: number;
  name: string;
  values: Record<string, unknown>;
  run_dir: string | null;
  /** `pending` before its run folder exists. */
  status: RunStatus | 'pending';
  step: number;
  /** The last `val_loss` logged (else the last `train_loss`); null before any. */
  final_loss: number | null;
  /** Backend and job that ran it last (its `task-<index>.json`), when recorded. */
  backend?: SweepBackend;
  job_id?: string | null;
}

/** Reads `dir/sweep.json` with each point's `task-<index>.json` merged in. @throws RunError naming the file when it is missing or damaged. */
export async function readSweep(dir: string): Promise<SweepJson> {
  const file = nodePath.join(dir, SWEEP_FILE);
  let text: string;
  let sweep: SweepJson;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch {
    throw new RunError(dir, `${dir}: no ${SWEEP_FILE} (not a sweep folder); pass the folder loralab sweep printed`);
  }
  try {
    const j = JSON.parse(text) as SweepJson;
    if (!Array.isArray(j.points) || typeof j.experiment_file !== 'string') throw new Error('missing "points" or "experiment_file"');
    sweep = j;
  } catch (e) {
    throw new RunError(dir, `${file}: damaged (${(e as Error).message}); delete the sweep folder and start the sweep again`);
  }
  // Cluster tasks record their run folders in task-<index>.json, never in sweep.json.
  for (const p of sweep.points) {
    const t = await readSweepTask(dir, p.index);
    if (!t) continue;
    p.run_dir ??= t.run_dir;
    p.backend = t.backend;
    p.job_id = t.job_id;
  }
  return sweep;
}

/** Writes `dir/sweep.json` atomically, with `updated_at` now. */
export async function writeSweep(dir: string, sweep: SweepJson): Promise<void> {
  sweep.updated_at = new Date().toISOString();
  await writeBytesAtomic(nodePath.join(dir, SWEEP_FILE), Buffer.from(`${JSON.stringify(sweep, null, 2)}\n`));
}

/** Whether `dir` is a sweep folder (holds sweep.json). */
export async function isSweepDir(dir: string): Promise<boolean> {
  return fsp.stat(nodePath.join(dir, SWEEP_FILE)).then((s) => s.isFile(), () => false);
}

/** Every point of a sweep with its run's status, step and final loss. */
export async function sweepState(dir: string, sweep?: SweepJson): Promise<SweepPointState[]> {
  const s = sweep ?? (await readSweep(dir));
  return Promise.all(
    s.points.map(async (p): Promise<SweepPointState> => {
      if (!p.run_dir) return { ...p, status: 'pending', step: 0, final_loss: null };
      try {
        const sum = await summarizeRun(p.run_dir);
        const last = await lastMetrics(p.run_dir);
        return { ...p, status: sum.status, step: sum.step, final_loss: last.val_loss ?? last.train_loss ?? null };
      } catch {
        return { ...p, status: 'pending', step: 0, final_loss: null };
      }
    }),
  );
}

/**
 * The best point: the lowest final loss among completed runs (a NaN or missing loss never wins);
 * undefined when none completed.
 */
export function bestPoint(points: readonly SweepPointState[]): SweepPointState | undefined {
  let best: SweepPointState | undefined;
  for (const p of points) {
    if (p.status !== 'completed' || p.final_loss === null || !Number.isFinite(p.final_loss)) continue;
    if (!best || p.final_loss < best.final_loss!) best = p;
  }
  return best;
}

/** The `val_loss` rows of a run (step, value), for plots. */
export async function validationCurve(runDir: string): Promise<{ step: number; val_loss: number }[]> {
  const rows = await readMetrics(runDir);
  return rows.filter((r) => typeof r.val_loss === 'number').map((r) => ({ step: r.step, val_loss: r.val_loss as number }));
}
