/**
 * The host side of one run dashboard, without the panel: answers the page's `ready` with
 * `init` (the facts from run.json and every row of metrics.jsonl), then sends the rows appended
 * since (`metrics`) and status changes (`status`) each time `update()` is called. Everything is
 * read from the run folder, so a reopened panel or a reloaded window shows the same state.
 * Plain; the panel's `postMessage` is injected.
 */
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { type DashboardPrefs, type DashboardToHost, type HostToDashboard, DASHBOARD_PROTOCOL_VERSION, isDashboardToHost } from '../../protocol/dashboard';
import type { MetricsRowLike } from '../../protocol/metrics';
import { ADAPTER_DIR, LOG_FILE, type RunJson, type RunStatus, dropOrphanedRows, effectiveStatus, openRun, tailMetrics } from '../../runs/index';
import { resumeSteps, runFacts } from './facts';

export interface DashboardPort {
  /** Sends a message to the page (`webview.postMessage`). */
  post(message: HostToDashboard): unknown;
  /** The page asked to stop the run. */
  stopRun(): void;
  /** The page asked to reveal the run folder. */
  revealRunFolder(): void;
  /** A summary-band button on the run's final adapter folder (`adapterDir`). */
  adapterAction(action: 'activateAdapter' | 'openAdapterInPlayground' | 'revealAdapter', adapterDir: string): void;
  /** The page asked to resume the run (its summary band's Resume button). */
  resumeRun(): void;
  /** The view settings saved for the workspace (sent with `init`), or null. */
  prefs(): DashboardPrefs | null;
  /** The user changed the view settings: remember them for the workspace. */
  savePrefs(prefs: DashboardPrefs): void;
}

export interface DashboardReaders {
  readRun(runDir: string): Promise<RunJson>;
  tail: typeof tailMetrics;
  /** The run's log.txt ('' when it has none). */
  readLog(runDir: string): Promise<string>;
  /** The run's final adapter folder, `<run>/adapter`, when it exists; else null. */
  adapterDir(runDir: string): Promise<string | null>;
}

const defaultReaders: DashboardReaders = {
  readRun: async (dir) => (await openRun(dir)).read(),
  tail: tailMetrics,
  readLog: (dir) => fsp.readFile(nodePath.join(dir, LOG_FILE), 'utf8').catch(() => ''),
  adapterDir: async (dir) => {
    const adapter = nodePath.join(dir, ADAPTER_DIR);
    return (await fsp.stat(adapter).then((st) => st.isDirectory(), () => false)) ? adapter : null;
  },
};

export class DashboardSession {
  /** Whether the page has said `ready` (nothing is sent before). */
  private ready = false;
  /** Byte offset in metrics.jsonl after the last row sent. */
  private offset = 0;
  private lastStep = -1;
  private statusKey = '';
  /** Serialises init / update, which both move `offset`. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly runDir: string,
    private readonly port: DashboardPort,
    private readonly readers: DashboardReaders = defaultReaders,
  ) {}

  /** A message from the page; anything that is not a valid `DashboardToHost` is dropped. */
  receive(message: unknown): Promise<void> {
    if (!isDashboardToHost(message)) return Promise.resolve();
    const m: DashboardToHost = message;
    switch (m.type) {
      case 'ready':
        // Also after the page was reloaded (a hidden panel is rebuilt when shown): start over.
        this.ready = true;
        return this.enqueue(() => this.init());
      case 'stopRun':
        this.port.stopRun();
        return Promise.resolve();
      case 'revealRunFolder':
        this.port.revealRunFolder();
        return Promise.resolve();
      case 'activateAdapter':
      case 'openAdapterInPlayground':
      case 'revealAdapter':
        return this.readers.adapterDir(this.runDir).then((dir) => {
          if (dir) this.port.adapterAction(m.type, dir);
        });
      case 'resumeRun':
        this.port.resumeRun();
        return Promise.resolve();
      case 'prefs':
        this.port.savePrefs({ smoothing: m.prefs.smoothing, logY: m.prefs.logY });
        return Promise.resolve();
    }
  }

  /** Sends what changed in the run folder since the last call (no-op before `ready`). */
  update(): Promise<void> {
    return this.enqueue(() => this.sendChanges());
  }

  private enqueue(fn: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(fn, fn);
    return this.queue;
  }

  private async init(): Promise<void> {
    const run = await this.readers.readRun(this.runDir);
    const tail = await this.readers.tail(this.runDir, 0);
    const rows = dropOrphanedRows(tail.rows);
    this.offset = tail.offset;
    this.lastStep = rows.length ? rows[rows.length - 1].step : -1;
    const status = effectiveStatus(run);
    this.statusKey = statusKey(run, status);
    const resumes = resumeSteps(run, await this.readers.readLog(this.runDir));
    const facts = { ...runFacts(run, this.runDir, status, Math.max(run.step, this.lastStep), resumes), adapter_dir: await this.readers.adapterDir(this.runDir) };
    this.port.post({ v: DASHBOARD_PROTOCOL_VERSION, type: 'init', run: facts, rows, prefs: this.port.prefs() });
  }

  private async sendChanges(): Promise<void> {
    if (!this.ready) return;
    const tail = await this.readers.tail(this.runDir, this.offset);
    const rows: MetricsRowLike[] = tail.rows;
    let prev = this.lastStep;
    const rewound = rows.some((r) => {
      const back = r.step <= prev;
      prev = r.step;
      return back;
    });
    if (tail.reset || rewound) return this.init(); // replaced file or a resume re-logging steps: send the whole history again
    this.offset = tail.offset;
    if (rows.length) {
      this.lastStep = rows[rows.length - 1].step;
      this.port.post({ v: DASHBOARD_PROTOCOL_VERSION, type: 'metrics', rows });
    }
    const run = await this.readers.readRun(this.runDir);
    const status = effectiveStatus(run);
    const key = statusKey(run, status);
    if (key === this.statusKey) return;
    this.statusKey = key;
    const resumes = resumeSteps(run, await this.readers.readLog(this.runDir));
    this.port.post({ v: DASHBOARD_PROTOCOL_VERSION, type: 'status', status, step: Math.max(run.step, this.lastStep), error: run.error ?? null, finished_at: run.finished_at ?? null, resumes, adapter_dir: await this.readers.adapterDir(this.runDir) });
  }
}

function statusKey(run: RunJson, status: RunStatus): string {
  return JSON.stringify([status, run.error ?? null, run.finished_at ?? null]);
}
