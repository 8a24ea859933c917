/**
 * A sweep's state across backends: each point's training status (its run folder, the source of
 * truth) next to its cluster state (what the scheduler still holds: `squeue` for Slurm, the
 * Job's pods for Kubernetes), and Stop for whichever backend ran it. Used by
 * `loralab sweep status|stop` and the Experiments view.
 */
import { promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import * as nodePath from 'node:path';
import { SWEEP_FILE, type SweepBackend, type SweepJson, type SweepPointState, isProcessAlive, readSweep, sweepState, writeSweep } from '../runs/index';
import { deleteKubernetesJob, kubernetesQueue } from './kubernetes';
import { type QueueState, cancelSlurm, slurmQueue } from './slurm';

/**
 * A point's cluster state: `pending` (queued, or waiting for a slot), `running` (a task runs
 * it), `done` (its run completed), `failed` (its run failed), `unfinished` (no task holds it and
 * its run is not finished: stopped, crashed, cancelled or never started; a resubmit runs it).
 */
export type ClusterState = 'pending' | 'running' | 'done' | 'failed' | 'unfinished';

export interface SweepPointStatus extends SweepPointState {
  cluster: ClusterState;
}

export interface SweepStatus {
  dir: string;
  sweep: SweepJson;
  /** Backend of the latest launch (`local` when none was recorded). */
  backend: SweepBackend;
  /** Job ids of the launches of that backend, oldest first. */
  jobs: string[];
  points: SweepPointStatus[];
  /** Null when the scheduler could be asked; else why not (e.g. `squeue: not found`). */
  queueError: string | null;
}

/** Combines the scheduler's view of a point with its run folder's status. */
export function clusterState(p: SweepPointState, queued: QueueState | undefined): ClusterState {
  if (p.status === 'completed') return 'done';
  if (p.status === 'failed') return 'failed';
  if (queued) return queued;
  if (p.status === 'running') return 'running';
  return 'unfinished';
}

/** The live points of the latest backend's jobs (index → pending/running), or why it cannot be known. */
export async function liveTasks(sweep: SweepJson): Promise<{ backend: SweepBackend; jobs: string[]; live: Map<number, QueueState>; error: string | null }> {
  const launches = sweep.launches ?? [];
  const backend = launches.at(-1)?.backend ?? 'local';
  const jobs = launches.filter((l) => l.backend === backend).map((l) => l.job_id);
  const live = new Map<number, QueueState>();
  try {
    if (backend === 'slurm') {
      const q = await slurmQueue(jobs);
      if (!q) return { backend, jobs, live, error: 'squeue: not found (not on a Slurm node); cluster state unknown' };
      return { backend, jobs, live: q, error: null };
    }
    if (backend === 'kubernetes') {
      const q = await kubernetesQueue(jobs.at(-1)!, sweep.points.length);
      return { backend, jobs, live: q ?? live, error: null };
    }
  } catch (e) {
    return { backend, jobs, live, error: (e as Error).message.split('\n')[0] };
  }
  return { backend, jobs, live, error: null };
}

/**
 * Every point of the sweep in `dir` with its training and cluster state. For a cluster sweep
 * (Slurm, Kubernetes) whose every point is done or failed, it also marks sweep.json `completed`
 * (no runner process is there to do it, as the local runner does when its queue empties).
 */
export async function sweepStatus(dir: string): Promise<SweepStatus> {
  const sweep = await readSweep(dir);
  const [points, q] = await Promise.all([sweepState(dir, sweep), liveTasks(sweep)]);
  const status: SweepStatus = { dir, sweep, backend: q.backend, jobs: q.jobs, points: points.map((p) => ({ ...p, cluster: clusterState(p, q.live.get(p.index)) })), queueError: q.error };
  if (status.backend !== 'local' && sweep.status === 'running' && q.error === null && sweepFinished(status.points)) {
    await markSweepCompleted(dir);
    sweep.status = 'completed';
  }
  return status;
}

/** Whether every point of a sweep is done or failed (nothing left for a scheduler to run). */
export function sweepFinished(points: readonly { cluster: ClusterState }[]): boolean {
  return points.length > 0 && points.every((p) => p.cluster === 'done' || p.cluster === 'failed');
}

/** Sets sweep.json `status` to `completed`, leaving the rest of the file as written (not the task files merged in by `readSweep`). */
async function markSweepCompleted(dir: string): Promise<void> {
  const raw = JSON.parse(await fsp.readFile(nodePath.join(dir, SWEEP_FILE), 'utf8')) as SweepJson;
  if (raw.status !== 'running') return;
  raw.status = 'completed';
  await writeSweep(dir, raw);
}

/**
 * Stops the sweep in `dir` where it runs: `scancel` its Slurm arrays, deletes its Kubernetes
 * Job, or sends SIGINT to its local runner. Running tasks write a checkpoint first.
 * @returns a one-line description of what was done.
 */
export async function stopSweep(dir: string): Promise<string> {
  const sweep = await readSweep(dir);
  const { backend, jobs } = await liveTasks(sweep);
  if (backend === 'slurm') {
    await cancelSlurm(jobs);
    return `scancel ${jobs.join(' ')}`;
  }
  if (backend === 'kubernetes') {
    await deleteKubernetesJob(jobs.at(-1)!);
    return `kubectl delete job ${jobs.at(-1)}`;
  }
  if (sweep.status === 'running' && isProcessAlive(sweep.pid)) {
    process.kill(sweep.pid, 'SIGINT');
    return `SIGINT to the local sweep runner (pid ${sweep.pid} on ${hostname()})`;
  }
  return 'nothing to stop: no runner of this sweep is alive';
}
