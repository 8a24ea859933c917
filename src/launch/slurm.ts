/**
 * The Slurm backend: a sweep's unfinished points as ONE job array. `submitSlurm` writes
 * `slurm-<k>.sbatch` beside sweep.json and submits it with `sbatch --parsable`; array task I runs
 * `loralab train --sweep SWEEP_DIR` (the index comes from `SLURM_ARRAY_TASK_ID`,
 * src/launch/task.ts), its output in `slurm-<job>_<I>.out` beside sweep.json (linked into the run
 * folder once it exists). State comes from `squeue` (accounting may be off, so never `sacct`)
 * plus the run folders; Stop is `scancel`.
 *
 * Semantics follow Slurm 22.05's sbatch(1) (`--array=0-3,7%2`: indices, at most 2 at once;
 * `--gres=gpu:N`; `--time` formats; `%A` array job id and `%a` task id in `--output`) and
 * squeue(1) (`-r` one line per array task; `%F` array job id, `%K` task id, `%T` state).
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import * as nodePath from 'node:path';
import { promisify } from 'node:util';
import type { SweepLaunch } from '../runs/index';
import { shQuote } from './sweepdir';

const run = promisify(execFile);

/** Options of `loralab sweep --backend slurm`. */
export interface SlurmOptions {
  partition?: string;
  /** GPUs per array task (`--gres=gpu:N`); 0 or absent: none asked for. */
  gpusPerRun?: number;
  /** Array tasks at once (the `%K` of `--array`). */
  maxParallel?: number;
  /** Time limit per task: `MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`. */
  time?: string;
  /** More `#SBATCH` options, each one argument as on the sbatch command line (`--account=x`). */
  sbatchArgs?: string[];
}

/** Thrown for options Slurm would refuse; one line naming the option. */
export class SlurmError extends Error {}

const TIME = /^(\d+-\d{1,2}(:\d{2}){0,2}|\d+(:\d{2}){0,2})$/;

/**
 * `--array` value for `indices`: runs of consecutive indices as ranges (`0-3,5,7-9`), with
 * `%K` when `maxParallel` is given. @throws SlurmError for an empty list.
 */
export function arraySpec(indices: readonly number[], maxParallel?: number): string {
  if (!indices.length) throw new SlurmError('no points to submit');
  const sorted = [...new Set(indices)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',') + (maxParallel ? `%${maxParallel}` : '');
}

/**
 * The sbatch script of one job array. `command` is the `loralab` command line on the nodes
 * (absolute paths on the shared filesystem); `extraArgs` go to every task's `loralab train`.
 * @throws SlurmError for a malformed `--time` or an `--sbatch-arg` that is not an option.
 */
export function renderSbatch(o: { dir: string; name: string; indices: readonly number[]; command: readonly string[]; cwd: string; extraArgs?: readonly string[] } & SlurmOptions): string {
  if (o.time !== undefined && !TIME.test(o.time)) throw new SlurmError(`--time ${o.time}: not a Slurm time (HH:MM:SS, MM, D-HH:MM…)`);
  for (const a of o.sbatchArgs ?? []) if (!a.startsWith('-') || /[\n\r]/.test(a)) throw new SlurmError(`--sbatch-arg ${JSON.stringify(a)}: must be one sbatch option, e.g. --sbatch-arg=--account=myproject`);
  const lines = [
    '#!/bin/bash',
    `#SBATCH --job-name=${`loralab-${o.name}`.replace(/[^\w.-]/g, '_')}`,
    `#SBATCH --array=${arraySpec(o.indices, o.maxParallel)}`,
    `#SBATCH --output=${nodePath.join(o.dir, 'slurm-%A_%a.out')}`,
    ...(o.partition ? [`#SBATCH --partition=${o.partition}`] : []),
    ...(o.gpusPerRun ? [`#SBATCH --gres=gpu:${o.gpusPerRun}`] : []),
    ...(o.time ? [`#SBATCH --time=${o.time}`] : []),
    ...(o.sbatchArgs ?? []).map((a) => `#SBATCH ${a}`),
    '# Written by `loralab sweep --backend slurm`. Task I trains point I of the sweep (I from',
    '# SLURM_ARRAY_TASK_ID); a finished point is a no-op, a started one resumes from its checkpoint.',
    'set -eu',
    `cd ${shQuote(o.cwd)}`,
    '# Started from VS Code, `node` is its Electron binary, which runs as Node only with this set.',
    'export ELECTRON_RUN_AS_NODE=1',
    'threads=()',
    'if [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then threads=(--threads "$SLURM_CPUS_PER_TASK"); fi',
    `exec ${[...o.command, 'train', '--sweep', o.dir, ...(o.extraArgs ?? [])].map(shQuote).join(' ')} "\${threads[@]}"`,
    '',
  ];
  return lines.join('\n');
}

/** Whether `sbatch` is on PATH (a Slurm client is installed). */
export async function hasSbatch(): Promise<boolean> {
  return run('sbatch', ['--version'], { timeout: 10_000 }).then(() => true, () => false);
}

/**
 * Writes `slurm-<k>.sbatch` into the sweep folder and submits it.
 * @returns the launch to record in sweep.json (job id = the array job id).
 * @throws SlurmError with sbatch's own first error line (e.g. an unknown partition).
 */
export async function submitSlurm(o: { dir: string; name: string; indices: readonly number[]; command: readonly string[]; cwd: string; extraArgs?: readonly string[]; launchNo: number } & SlurmOptions): Promise<SweepLaunch> {
  const script = renderSbatch(o);
  const file = nodePath.join(o.dir, `slurm-${o.launchNo}.sbatch`);
  await writeFile(file, script, { mode: 0o755 });
  let stdout: string;
  try {
    ({ stdout } = await run('sbatch', ['--parsable', file], { timeout: 60_000 }));
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new SlurmError('sbatch: not found; run on a Slurm login node (or install the Slurm client), or use --backend local');
    throw new SlurmError(`sbatch ${file}: ${(err.stderr ?? err.message).trim().split('\n')[0]}`);
  }
  const jobId = stdout.trim().split(';')[0];
  if (!/^\d+$/.test(jobId)) throw new SlurmError(`sbatch ${file}: unexpected reply ${JSON.stringify(stdout.trim())}`);
  return { backend: 'slurm', job_id: jobId, indices: [...o.indices], submitted_at: new Date().toISOString(), file };
}

/** A point as the scheduler holds it: waiting or running (a finished task leaves squeue). */
export type QueueState = 'pending' | 'running';

const PENDING = new Set(['PENDING', 'CONFIGURING', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED', 'RESV_DEL_HOLD', 'SPECIAL_EXIT']);
const RUNNING = new Set(['RUNNING', 'COMPLETING', 'SUSPENDED', 'STAGE_OUT', 'SIGNALING', 'RESIZING', 'STOPPED']);

/**
 * Parses `squeue -h -r -o '%F|%K|%T'` lines into array task index → state, for the array jobs
 * in `jobIds`. A pending array not yet split shows its task ids as a range (`2-3%2`, `4,6`):
 * every index in it is pending.
 */
export function parseSqueue(text: string, jobIds: ReadonlySet<string>): Map<number, QueueState> {
  const out = new Map<number, QueueState>();
  for (const line of text.split('\n')) {
    const [job, task, state] = line.trim().split('|');
    if (!job || !task || !state || !jobIds.has(job)) continue;
    const s: QueueState | null = PENDING.has(state) ? 'pending' : RUNNING.has(state) ? 'running' : null;
    if (!s) continue;
    for (const part of task.replace(/%\d+$/, '').split(',')) {
      const m = /^(\d+)(?:-(\d+))?$/.exec(part);
      if (!m) continue;
      for (let i = Number(m[1]); i <= Number(m[2] ?? m[1]); i++) if (s === 'running' || !out.has(i)) out.set(i, s);
    }
  }
  return out;
}

/**
 * The live array tasks of `jobIds` (index → pending/running) from `squeue`. An empty map when
 * none is queued; `null` when `squeue` cannot be run (no Slurm client here).
 */
export async function slurmQueue(jobIds: readonly string[]): Promise<Map<number, QueueState> | null> {
  if (!jobIds.length) return new Map();
  try {
    // All of this user's jobs, filtered here: `squeue -j` fails outright once one id is gone.
    const { stdout } = await run('squeue', ['-h', '-r', '--me', '-o', '%F|%K|%T'], { timeout: 30_000 });
    return parseSqueue(stdout, new Set(jobIds));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SlurmError(`squeue: ${((e as { stderr?: string }).stderr ?? (e as Error).message).trim().split('\n')[0]}`);
  }
}

/** Cancels the array jobs `jobIds` (`scancel`); their running tasks get SIGTERM and write a checkpoint. */
export async function cancelSlurm(jobIds: readonly string[]): Promise<void> {
  if (!jobIds.length) return;
  try {
    await run('scancel', [...jobIds], { timeout: 30_000 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new SlurmError('scancel: not found; stop the sweep from a Slurm login node');
    // A job that already ended is not an error of the stop.
    const msg = ((e as { stderr?: string }).stderr ?? '').trim();
    if (msg && !/Invalid job id|already completing or completed/i.test(msg)) throw new SlurmError(`scancel ${jobIds.join(' ')}: ${msg.split('\n')[0]}`);
  }
}
