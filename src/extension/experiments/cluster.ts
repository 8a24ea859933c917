/**
 * Cluster state of the sweeps the Experiments view shows: for each sweep folder whose latest
 * launch went to Slurm or Kubernetes, `sweepStatus` (src/launch/status.ts: `squeue` / `kubectl`
 * as child processes, plus the run folders) every ~10 s while the view is visible and the sweep
 * unfinished. The tree puts each run's state (pending, running, done, failed, unfinished) in its
 * description; a scheduler that cannot be asked is one line in the sweep's tooltip, never a
 * notification. Local sweeps are asked once and then left alone. Plain; no `vscode` import.
 */
import * as nodePath from 'node:path';
import type { ClusterState, SweepStatus } from '../../launch/status';
import { sweepFinished } from '../../launch/status';
import type { SweepBackend } from '../../runs/index';

/** What the tree shows of one cluster sweep. */
export interface ClusterView {
  /** null when sweep.json could not be read (then `error` says why). */
  backend: Exclude<SweepBackend, 'local'> | null;
  /** Run folder (resolved) → its point's cluster state. */
  runs: ReadonlyMap<string, ClusterState>;
  /** Points by cluster state, those without a run folder yet included. */
  counts: Readonly<Partial<Record<ClusterState, number>>>;
  /** One line when the scheduler could not be asked (the states are then from the run folders only). */
  error: string | null;
}

export interface ClusterPollerDeps {
  /** `sweepStatus` of src/launch/status.ts (a fake in tests). */
  status(dir: string): Promise<SweepStatus>;
  /** Called when some sweep's view changed (the tree rebuilds). */
  onChange(): void;
  /** Milliseconds between polls (default 10,000). */
  intervalMs?: number;
  setInterval?: (fn: () => void, ms: number) => unknown;
  clearInterval?: (handle: unknown) => void;
}

interface Entry {
  /** null: not asked yet; 'local': not a cluster sweep (never asked again). */
  view: ClusterView | 'local' | null;
  finished: boolean;
  /** The poll under way (a second caller waits for it instead of running squeue again). */
  inFlight: Promise<void> | null;
}

export const CLUSTER_POLL_MS = 10_000;

export class ClusterPoller {
  private readonly sweeps = new Map<string, Entry>();
  private visible = true;
  private timer: unknown;
  private disposed = false;

  constructor(private readonly d: ClusterPollerDeps) {}

  /** The sweep folders the tree shows now: new ones are asked at once, gone ones forgotten. */
  setSweeps(dirs: readonly string[]): void {
    const want = new Set(dirs.map((d) => nodePath.resolve(d)));
    for (const dir of [...this.sweeps.keys()]) if (!want.has(dir)) this.sweeps.delete(dir);
    for (const dir of want) {
      if (this.sweeps.has(dir)) continue;
      this.sweeps.set(dir, { view: null, finished: false, inFlight: null });
      if (this.visible) void this.poll(dir);
    }
    this.schedule();
  }

  /** Whether the view is visible: polling pauses while it is hidden, and catches up when shown. */
  setVisible(visible: boolean): void {
    const was = this.visible;
    this.visible = visible;
    if (visible && !was) void this.pollAll();
    this.schedule();
  }

  /** The cluster view of a sweep folder; undefined for a local sweep or one not asked yet. */
  view(dir: string): ClusterView | undefined {
    const v = this.sweeps.get(nodePath.resolve(dir))?.view;
    return v && v !== 'local' ? v : undefined;
  }

  /** Whether a timer is running (some visible cluster sweep is unfinished). */
  get polling(): boolean {
    return this.timer !== undefined;
  }

  /** Asks every unfinished sweep now (what the timer does). */
  async pollAll(): Promise<void> {
    await Promise.all([...this.sweeps].filter(([, e]) => e.view !== 'local' && !e.finished).map(([dir]) => this.poll(dir)));
  }

  dispose(): void {
    this.disposed = true;
    this.stopTimer();
    this.sweeps.clear();
  }

  private poll(dir: string): Promise<void> {
    const e = this.sweeps.get(dir);
    if (!e || this.disposed) return Promise.resolve();
    e.inFlight ??= this.ask(dir, e).finally(() => (e.inFlight = null));
    return e.inFlight;
  }

  private async ask(dir: string, e: Entry): Promise<void> {
    let next: ClusterView | 'local';
    let finished = false;
    try {
      const s = await this.d.status(dir);
      if (s.backend === 'local') next = 'local';
      else {
        const runs = new Map<string, ClusterState>();
        const counts: Partial<Record<ClusterState, number>> = {};
        for (const p of s.points) {
          if (p.run_dir) runs.set(nodePath.resolve(p.run_dir), p.cluster);
          counts[p.cluster] = (counts[p.cluster] ?? 0) + 1;
        }
        next = { backend: s.backend, runs, counts, error: s.queueError };
        finished = s.queueError === null && sweepFinished(s.points);
      }
    } catch (err) {
      // A damaged or vanished sweep.json: keep the last states, say why in one line.
      const prev = e.view && e.view !== 'local' ? e.view : null;
      const line = (err as Error).message.split('\n')[0];
      next = prev ? { ...prev, error: line } : { backend: null, runs: new Map(), counts: {}, error: line };
    }
    if (this.disposed || this.sweeps.get(dir) !== e) return;
    const changed = !sameView(e.view, next);
    e.view = next;
    e.finished = next === 'local' || finished;
    this.schedule();
    if (changed) this.d.onChange();
  }

  /** Runs the timer while the view is visible and some cluster sweep may still change. */
  private schedule(): void {
    const needed = !this.disposed && this.visible && [...this.sweeps.values()].some((e) => e.view !== 'local' && !e.finished);
    if (needed && this.timer === undefined) {
      const set = this.d.setInterval ?? ((fn: () => void, ms: number) => setInterval(fn, ms).unref());
      this.timer = set(() => void this.pollAll(), this.d.intervalMs ?? CLUSTER_POLL_MS);
    } else if (!needed) this.stopTimer();
  }

  private stopTimer(): void {
    if (this.timer === undefined) return;
    (this.d.clearInterval ?? ((h: unknown) => clearInterval(h as NodeJS.Timeout)))(this.timer);
    this.timer = undefined;
  }
}

function sameView(a: ClusterView | 'local' | null, b: ClusterView | 'local'): boolean {
  if (a === null || a === 'local' || b === 'local') return a === b;
  if (a.backend !== b.backend || a.error !== b.error || a.runs.size !== b.runs.size) return false;
  for (const [k, v] of a.runs) if (b.runs.get(k) !== v) return false;
  return JSON.stringify(a.counts) === JSON.stringify(b.counts);
}
