/**
 * The host side of one Compare view, without the panel: answers the page's `ready` with `init`
 * (every selected run read from its folder), re-sends a run (`run`) when its folder changes, and
 * saves the exports the page asks for. Plain; the panel's `postMessage`, the save dialog and
 * the dashboard opener are injected.
 */
import * as nodePath from 'node:path';
import {
  type CompareChartName,
  type CompareProblem,
  type CompareRun,
  type CompareToHost,
  type HostToCompare,
  COMPARE_PROTOCOL_VERSION,
  isCompareToHost,
} from '../../protocol/compare';
import { loadCompareRun } from './load';

export interface ComparePort {
  post(message: HostToCompare): unknown;
  /**
   * Asks where to save (`suggestedName` in the workspace folder) and writes `bytes` there.
   * Resolves to the path written, or undefined when the dialog was dismissed.
   */
  save(bytes: Uint8Array, suggestedName: string, filter: { name: string; extensions: string[] }): Promise<string | undefined>;
  openDashboard(runDir: string): void;
}

export interface CompareReaders {
  load(runDir: string): Promise<CompareRun>;
}

const CHART_FILE: Record<CompareChartName, string> = { train: 'train-loss', val: 'validation-loss', scatter: 'hyperparameter-scatter' };

/** `2026-11-29-101500` (local time): export file names sort by when they were made. */
function stamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

export class CompareSession {
  private ready = false;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly runDirs: readonly string[],
    private readonly port: ComparePort,
    private readonly readers: CompareReaders = { load: loadCompareRun },
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** A message from the page; anything that is not a valid `CompareToHost` is dropped. */
  receive(message: unknown): Promise<void> {
    if (!isCompareToHost(message)) return Promise.resolve();
    const m: CompareToHost = message;
    switch (m.type) {
      case 'ready':
        this.ready = true;
        return this.enqueue(() => this.init());
      case 'exportCsv':
        return this.port.save(new TextEncoder().encode(m.csv), `compare-runs-${stamp(this.now())}.csv`, { name: 'CSV', extensions: ['csv'] }).then(() => undefined);
      case 'exportPng': {
        const bytes = Buffer.from(m.data_url.slice(m.data_url.indexOf(',') + 1), 'base64');
        return this.port.save(new Uint8Array(bytes), `compare-${CHART_FILE[m.chart]}-${stamp(this.now())}.png`, { name: 'PNG image', extensions: ['png'] }).then(() => undefined);
      }
      case 'openDashboard':
        if (this.runDirs.includes(m.run_dir)) this.port.openDashboard(m.run_dir);
        return Promise.resolve();
      case 'generate':
        // Reserved: the side-by-side generations need the inference worker (not wired in yet).
        this.port.post({ v: COMPARE_PROTOCOL_VERSION, type: 'generation', run_dir: null, text: '', done: true, error: 'side-by-side generations are not available yet: they need the inference worker' });
        return Promise.resolve();
    }
  }

  /** Re-sends the runs among `changed` (run folders) that this view shows (no-op before `ready`). */
  update(changed: Iterable<string>): Promise<void> {
    const mine = [...changed].filter((d) => this.runDirs.includes(d));
    if (!mine.length) return Promise.resolve();
    return this.enqueue(async () => {
      if (!this.ready) return;
      for (const dir of mine) {
        const run = await this.readers.load(dir).catch(() => null);
        if (run) this.port.post({ v: COMPARE_PROTOCOL_VERSION, type: 'run', run });
      }
    });
  }

  private enqueue(fn: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(fn, fn);
    return this.queue;
  }

  private async init(): Promise<void> {
    const results = await Promise.all(
      this.runDirs.map((dir) =>
        this.readers.load(dir).then(
          (run) => ({ run }),
          (e: unknown) => ({ problem: { run_dir: dir, reason: oneLine(e, dir) } }),
        ),
      ),
    );
    const runs: CompareRun[] = [];
    const problems: CompareProblem[] = [];
    for (const r of results) {
      if ('run' in r) runs.push(r.run);
      else problems.push(r.problem);
    }
    this.port.post({ v: COMPARE_PROTOCOL_VERSION, type: 'init', runs, problems });
  }
}

/** The first line of an error's message, naming the run folder when the message does not. */
function oneLine(e: unknown, dir: string): string {
  const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0];
  return msg.includes(dir) ? msg : `${nodePath.basename(dir)}: ${msg}`;
}
