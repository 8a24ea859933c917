/**
 * The local sweep runner: every point of an experiment's `sweep` block as an ordinary run, N at
 * a time on this machine, the rest queued. Each run is a child `loralab train --sweep SWEEP_DIR
 * --index I --json` (src/launch/task.ts: it starts the point, or resumes its run), so a sweep
 * run is exactly what a cluster array task runs, and a crash of one run leaves the others
 * going. The CPU threads are split between the runs at once.
 *
 * Stop: `stop()` (Ctrl-C in the CLI) sends SIGINT to every live run (each finishes its step and
 * writes a checkpoint), starts nothing more and marks the sweep `stopped`; `resume` continues
 * it: stopped and crashed runs resume from their checkpoints, points never started start, and
 * completed or failed runs (a diverged learning rate is a result) are kept.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import { type SweepJson, type SweepPointState, bestPoint, sweepState, writeSweep } from '../runs/index';
import { openOrCreateSweep } from './sweepdir';

/** Starts `loralab <args>` (default: this process's own CLI entry with its Node options). */
export type SpawnCli = (args: string[]) => ChildProcess;

export const spawnSelf: SpawnCli = (args) =>
  spawn(process.execPath, [...process.execArgv, process.argv[1], ...args], { stdio: ['ignore', 'pipe', 'pipe'] });

export interface SweepRequest {
  /** Experiment file with a `sweep` block (a new sweep), or… */
  file?: string;
  /** …a sweep folder to resume. */
  resume?: string;
  /** Folder the sweep folder is created in. */
  runsDir: string;
  /** Runs at once (default: the file's `sweep.parallel`). */
  parallel?: number;
  /** CPU threads in all (default: the machine's); each run gets ⌊threads / parallel⌋, at least 1. */
  threads?: number;
  /** Passed to every run: `--max-steps`, `--device`. */
  maxSteps?: number;
  device?: string;
  spawn?: SpawnCli;
}

export interface SweepHooks {
  /** The sweep folder exists and sweep.json is written. */
  onStart?(dir: string, sweep: SweepJson, queued: number): void;
  /** A point's run started (its folder is known). */
  onRun?(index: number, runDir: string): void;
  /** A point's run process ended. */
  onDone?(index: number, status: string, code: number | null): void;
  /** A human line (a run's error, a resumed run). */
  onLog?(line: string): void;
}

export interface SweepHandle {
  readonly dir: Promise<string>;
  /** Settles with the final point states once every run process has exited. */
  readonly done: Promise<{ dir: string; status: SweepJson['status']; points: SweepPointState[]; best: SweepPointState | undefined }>;
  /** Stops the whole sweep (SIGINT to the live runs, nothing new started). */
  stop(): void;
}

/** Starts (or resumes) a sweep; see the module comment. */
export function runSweep(req: SweepRequest, hooks: SweepHooks = {}): SweepHandle {
  let stopped = false;
  const live = new Map<number, ChildProcess>();
  let resolveDir!: (d: string) => void;
  const dirP = new Promise<string>((r) => (resolveDir = r));
  const done = (async () => {
    const { dir, sweep, parallel } = await prepare(req);
    resolveDir(dir);
    const states = await sweepState(dir, sweep);
    const todo = states.filter((p) => p.status === 'pending' || p.status === 'stopped' || p.status === 'crashed');
    sweep.status = 'running';
    sweep.pid = process.pid;
    sweep.launches = [...(sweep.launches ?? []), { backend: 'local', job_id: String(process.pid), indices: todo.map((p) => p.index), submitted_at: new Date().toISOString() }];
    await writeSweep(dir, sweep);
    hooks.onStart?.(dir, sweep, todo.length);
    const threads = Math.max(1, Math.floor((req.threads ?? availableParallelism()) / parallel));
    let writes = Promise.resolve();
    const save = () => (writes = writes.then(() => writeSweep(dir, sweep)));

    const runOne = (p: SweepPointState) =>
      new Promise<void>((resolve) => {
        const common = ['--json', '--threads', String(threads), ...(req.maxSteps ? ['--max-steps', String(req.maxSteps)] : []), ...(req.device ? ['--device', req.device] : [])];
        // The cluster task's contract (src/launch/task.ts): it resumes a started point itself.
        const args = ['train', '--sweep', dir, '--index', String(p.index), ...common];
        if (p.run_dir) hooks.onLog?.(`point ${p.index}: resuming ${p.run_dir}`);
        const child = (req.spawn ?? spawnSelf)(args);
        live.set(p.index, child);
        let status = 'failed';
        let lastError = '';
        createInterface({ input: child.stdout! }).on('line', (line) => {
          let e: { event?: string; run_dir?: string; status?: string; message?: string };
          try {
            e = JSON.parse(line);
          } catch {
            return;
          }
          if (e.event === 'run' && e.run_dir) {
            sweep.points[p.index].run_dir = e.run_dir;
            void save();
            hooks.onRun?.(p.index, e.run_dir);
          } else if (e.event === 'done' && e.status) status = e.status;
          else if (e.event === 'error' && e.message) lastError = e.message.split('\n')[0];
        });
        child.stderr?.resume();
        child.on('error', (err) => (lastError = err.message));
        child.on('close', (code) => {
          live.delete(p.index);
          if (code === 130) status = 'stopped';
          if (status === 'failed' && lastError) hooks.onLog?.(`point ${p.index} (${p.name}): ${lastError}`);
          hooks.onDone?.(p.index, status, code);
          resolve();
        });
      });

    const queue = [...todo];
    const worker = async () => {
      for (let p = queue.shift(); p && !stopped; p = queue.shift()) await runOne(p);
    };
    await Promise.all(Array.from({ length: Math.min(parallel, Math.max(1, todo.length)) }, worker));
    await writes;
    const points = await sweepState(dir, sweep);
    const finished = points.every((p) => p.status === 'completed' || p.status === 'failed');
    sweep.status = finished ? 'completed' : 'stopped';
    await writeSweep(dir, sweep);
    return { dir, status: sweep.status, points, best: bestPoint(points) };
  })();
  done.catch(() => resolveDir(''));
  return {
    dir: dirP,
    done,
    stop() {
      stopped = true;
      for (const child of live.values()) child.kill('SIGINT');
    },
  };
}

/** The sweep folder and sweep.json: created for a file, read for a resume. */
async function prepare(req: SweepRequest): Promise<{ dir: string; sweep: SweepJson; parallel: number }> {
  if (!req.file && !req.resume) throw new Error('runSweep needs an experiment file or a sweep folder to resume');
  const { dir, sweep, parallel } = await openOrCreateSweep(req);
  return { dir, sweep, parallel: req.parallel ?? parallel ?? 1 };
}
