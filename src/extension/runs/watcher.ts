/**
 * Follows runs dirs on disk, for the Experiments view, the status of dashboards and the
 * CodeLens. The run directory is the source of truth (DESIGN.md, "Processes"): runs started by
 * this window, by another window or by the CLI all show up here the same way. Plain Node; no
 * `vscode` import.
 *
 * A `RunsWatcher` polls one runs dir: every tick it lists the run folders and stats `run.json`,
 * `metrics.jsonl` and `checkpoints/`; only a folder whose stats changed is read again. A
 * `running` run is re-checked every tick, as its process can die without touching a file
 * (it then reads `crashed`). Changes are reported as one `RunsChange` per tick.
 */
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import {
  CHECKPOINTS_DIR,
  METRICS_FILE,
  RUN_FILE,
  SWEEP_FILE,
  effectiveStatus,
  lastMetrics,
  listCheckpoints,
  parseRunJson,
  type CheckpointInfo,
  type RunJson,
  type RunProblem,
  type RunSummary,
} from '../../runs/index';
import { Emitter, type Disposable } from '../emitter';

/** A run as the extension shows it: the `loralab runs` summary plus what the tree needs. */
export interface RunEntry extends RunSummary {
  /** Absolute path of the experiment file the run was started from, or null. */
  experiment_file: string | null;
  /** Process that owns (or owned) the run. */
  pid: number;
  hostname: string;
  error: string | null;
  finished_at: string | null;
  /** Complete checkpoints, by step. */
  checkpoints: CheckpointInfo[];
  /**
   * False for a start that failed before training began (run.json `config` null, see the
   * supervisor's `recordFailedStart`): there is nothing to resume, Start Run tries again.
   */
  config_recorded: boolean;
}

/** What one scan found different (run folders by absolute path). */
export interface RunsChange {
  runsDir: string;
  /** Runs that appeared. */
  added: string[];
  /** Runs whose entry changed (status, step, losses, checkpoints, …). */
  changed: string[];
  /** Runs whose folder (or run.json) disappeared. */
  removed: string[];
  /** Runs whose `metrics.jsonl` gained complete lines (a torn last line does not count). */
  metrics: string[];
}

export interface WatcherOptions {
  /** Poll interval while a run of this dir is `running` (ms). Default 1000. */
  activeIntervalMs?: number;
  /** Poll interval otherwise (ms). Default 3000. */
  idleIntervalMs?: number;
}

interface Cached {
  /** Stats of run.json, metrics.jsonl and checkpoints/ when last read. */
  key: string;
  json: RunJson;
  entry: RunEntry;
  /** Bytes of metrics.jsonl up to its last newline. */
  metricsComplete: number;
}

/** `code` of a Node system error. */
const errno = (e: unknown) => (e as NodeJS.ErrnoException | undefined)?.code;

async function statOrNull(path: string): Promise<import('node:fs').Stats | null> {
  try {
    return await fsp.stat(path);
  } catch (e) {
    if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') return null;
    throw e;
  }
}

/** Offset just after the last '\n' of a file of `size` bytes (0 when it has none). */
async function completeBytes(file: string, size: number): Promise<number> {
  if (size === 0) return 0;
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, 'r');
  } catch (e) {
    if (errno(e) === 'ENOENT') return 0;
    throw e;
  }
  try {
    const CHUNK = 64 * 1024;
    for (let end = size; end > 0; end -= CHUNK) {
      const start = Math.max(0, end - CHUNK);
      const buf = Buffer.alloc(end - start);
      await fh.read(buf, 0, buf.length, start);
      const nl = buf.lastIndexOf(0x0a);
      if (nl >= 0) return start + nl + 1;
    }
    return 0;
  } finally {
    await fh.close();
  }
}

/** Newest first, as `listRuns` orders them (created_at, then id). */
export function compareNewestFirst(a: RunSummary, b: RunSummary): number {
  if (a.created_at !== b.created_at) return a.created_at < b.created_at ? 1 : -1;
  return b.id.localeCompare(a.id);
}

export class RunsWatcher implements Disposable {
  private readonly cache = new Map<string, Cached>();
  private readonly problemsByDir = new Map<string, RunProblem>();
  private readonly changes = new Emitter<RunsChange>();
  private scanning: Promise<RunsChange> | null = null;
  private queued: Promise<RunsChange> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private disposed = false;
  private readonly activeMs: number;
  private readonly idleMs: number;

  /** Fires after a scan that found something different. */
  readonly onChange = this.changes.event;

  constructor(
    readonly runsDir: string,
    opts: WatcherOptions = {},
  ) {
    this.activeMs = opts.activeIntervalMs ?? 1000;
    this.idleMs = opts.idleIntervalMs ?? 3000;
  }

  /** The runs found by the last scan, newest first. */
  get runs(): RunEntry[] {
    return [...this.cache.values()].map((c) => c.entry).sort(compareNewestFirst);
  }

  /** Folders of the runs dir that could not be read as runs (damaged run.json). */
  get problems(): RunProblem[] {
    return [...this.problemsByDir.values()];
  }

  /** Scans now and then keeps polling until disposed. */
  start(): void {
    void this.tick();
  }

  /**
   * Scans once (calls made while a scan runs share one follow-up scan) and reports what changed.
   * Errors reading the runs dir itself propagate; a single unreadable run is a `problem`.
   */
  refresh(): Promise<RunsChange> {
    if (!this.scanning) {
      this.scanning = this.scan().finally(() => (this.scanning = null));
      return this.scanning;
    }
    this.queued ??= this.scanning
      .catch(() => undefined)
      .then(() => {
        this.queued = null;
        return this.refresh();
      });
    return this.queued;
  }

  /** A scan shortly (coalesces bursts, e.g. one per IPC event of a trainer). */
  refreshSoon(delayMs = 100): void {
    if (this.soon || this.disposed) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      void this.refresh().catch(() => undefined);
    }, delayMs);
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    clearTimeout(this.soon);
    this.changes.dispose();
  }

  private async tick(): Promise<void> {
    if (this.disposed) return;
    try {
      await this.refresh();
    } catch {
      // the runs dir is unreadable right now (e.g. removed or replaced by a file): retry later
    }
    if (this.disposed) return;
    const active = [...this.cache.values()].some((c) => c.entry.status === 'running');
    this.timer = setTimeout(() => void this.tick(), active ? this.activeMs : this.idleMs);
  }

  private async scan(): Promise<RunsChange> {
    const root = nodePath.resolve(this.runsDir);
    let names: import('node:fs').Dirent[] = [];
    try {
      names = await fsp.readdir(root, { withFileTypes: true });
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw e;
    }
    const top = names.filter((d) => d.isDirectory() && !d.name.startsWith('.')).map((d) => nodePath.join(root, d.name));
    // A sweep folder (sweep.json, src/runs/sweep.ts) holds ordinary run folders: follow those.
    const dirs = (
      await Promise.all(
        top.map(async (dir) => {
          if (!(await statOrNull(nodePath.join(dir, SWEEP_FILE)))) return [dir];
          const inner = await fsp.readdir(dir, { withFileTypes: true }).catch(() => []);
          return inner.filter((d) => d.isDirectory() && !d.name.startsWith('.')).map((d) => nodePath.join(dir, d.name));
        }),
      )
    ).flat();
    const change: RunsChange = { runsDir: this.runsDir, added: [], changed: [], removed: [], metrics: [] };
    const seen = new Set<string>();
    await Promise.all(
      dirs.map(async (dir) => {
        const prev = this.cache.get(dir);
        let next: Cached | null;
        try {
          next = await this.read(dir, prev);
          this.problemsByDir.delete(dir);
        } catch (e) {
          this.problemsByDir.set(dir, { run_dir: dir, reason: (e instanceof Error ? e.message : String(e)).split('\n')[0] });
          next = null;
        }
        if (!next) return;
        seen.add(dir);
        this.cache.set(dir, next);
        if (!prev) change.added.push(dir);
        else if (next.entry !== prev.entry && JSON.stringify(next.entry) !== JSON.stringify(prev.entry)) change.changed.push(dir);
        if (prev ? next.metricsComplete !== prev.metricsComplete : next.metricsComplete > 0) change.metrics.push(dir);
      }),
    );
    for (const dir of [...this.cache.keys()]) {
      if (seen.has(dir)) continue;
      this.cache.delete(dir);
      change.removed.push(dir);
    }
    for (const dir of [...this.problemsByDir.keys()]) if (!dirs.includes(dir)) this.problemsByDir.delete(dir);
    for (const list of [change.added, change.changed, change.removed, change.metrics]) list.sort();
    if (change.added.length || change.changed.length || change.removed.length || change.metrics.length) this.changes.fire(change);
    return change;
  }

  /** Reads one run folder (or reuses the cached read when nothing on disk changed); null when it has no run.json (yet). */
  private async read(dir: string, prev: Cached | undefined): Promise<Cached | null> {
    const runFile = nodePath.join(dir, RUN_FILE);
    const metricsFile = nodePath.join(dir, METRICS_FILE);
    const [rj, m, ck] = await Promise.all([statOrNull(runFile), statOrNull(metricsFile), statOrNull(nodePath.join(dir, CHECKPOINTS_DIR))]);
    if (!rj) return null;
    const key = [rj.ino, rj.mtimeMs, rj.size, m?.mtimeMs ?? 0, m?.size ?? 0, ck?.mtimeMs ?? 0].join(':');
    if (prev && prev.key === key) {
      if (prev.json.status !== 'running') return prev;
      const status = effectiveStatus(prev.json); // the process may have died since
      return status === prev.entry.status ? prev : { ...prev, entry: { ...prev.entry, status } };
    }
    let text: string;
    try {
      text = await fsp.readFile(runFile, 'utf8');
    } catch (e) {
      if (errno(e) === 'ENOENT') return null; // deleted between stat and read
      throw e;
    }
    const json = parseRunJson(text, runFile);
    const [last, checkpoints, metricsComplete] = await Promise.all([lastMetrics(dir), listCheckpoints(dir), completeBytes(metricsFile, m?.size ?? 0)]);
    const entry: RunEntry = {
      id: nodePath.basename(dir),
      name: json.name,
      status: effectiveStatus(json),
      step: Math.max(json.step, last.step ?? 0),
      max_steps: json.max_steps,
      train_loss: last.train_loss,
      val_loss: last.val_loss,
      run_dir: dir,
      created_at: json.created_at,
      experiment_file: json.experiment_file ?? null,
      pid: json.pid,
      hostname: json.hostname,
      error: json.error ?? null,
      finished_at: json.finished_at ?? null,
      checkpoints,
      config_recorded: json.config !== null && json.config !== undefined,
    };
    return { key, json, entry, metricsComplete };
  }
}

/**
 * The runs of several runs dirs (one per workspace folder, plus those of runs started from
 * files outside them), as one list. Changes of every dir are forwarded.
 */
export class RunsIndex implements Disposable {
  private readonly watchers = new Map<string, { watcher: RunsWatcher; sub: Disposable }>();
  private readonly changes = new Emitter<RunsChange>();
  private disposed = false;
  readonly onChange = this.changes.event;

  constructor(private readonly opts: WatcherOptions = {}) {}

  /** The dirs followed now. */
  get dirs(): string[] {
    return [...this.watchers.keys()];
  }

  /**
   * Follows exactly these runs dirs (new ones start polling, dropped ones stop and their runs are
   * reported removed). Ignored once disposed (a late caller must not restart polling).
   */
  setDirs(dirs: Iterable<string>): void {
    if (this.disposed) return;
    const want = new Set([...dirs].map((d) => nodePath.resolve(d)));
    for (const [dir, w] of this.watchers) {
      if (want.has(dir)) continue;
      const removed = w.watcher.runs.map((r) => r.run_dir);
      w.sub.dispose();
      w.watcher.dispose();
      this.watchers.delete(dir);
      if (removed.length) this.changes.fire({ runsDir: dir, added: [], changed: [], removed, metrics: [] });
    }
    for (const dir of want) {
      if (this.watchers.has(dir)) continue;
      const watcher = new RunsWatcher(dir, this.opts);
      const sub = watcher.onChange((c) => this.changes.fire(c));
      this.watchers.set(dir, { watcher, sub });
      watcher.start();
    }
  }

  /** Every run of every dir, newest first. */
  runs(): RunEntry[] {
    return [...this.watchers.values()].flatMap((w) => w.watcher.runs).sort(compareNewestFirst);
  }

  /** The run in this folder, if one of the followed dirs holds it. */
  find(runDir: string): RunEntry | undefined {
    const dir = nodePath.resolve(runDir);
    return this.watchers.get(nodePath.dirname(dir))?.watcher.runs.find((r) => r.run_dir === dir);
  }

  /** Scans every dir now. */
  async refresh(): Promise<void> {
    await Promise.all([...this.watchers.values()].map((w) => w.watcher.refresh().catch(() => undefined)));
  }

  /** Scans the dir holding `runDir` (or every dir) shortly. */
  refreshSoon(runDir?: string): void {
    const w = runDir ? this.watchers.get(nodePath.dirname(nodePath.resolve(runDir))) : undefined;
    if (w) w.watcher.refreshSoon();
    else for (const x of this.watchers.values()) x.watcher.refreshSoon();
  }

  dispose(): void {
    this.disposed = true;
    for (const w of this.watchers.values()) {
      w.sub.dispose();
      w.watcher.dispose();
    }
    this.watchers.clear();
    this.changes.dispose();
  }
}
