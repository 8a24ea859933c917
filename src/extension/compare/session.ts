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
  type ComparePreset,
  COMPARE_PROTOCOL_VERSION,
  isCompareToHost,
} from '../../protocol/compare';
import type { InferenceClient } from '../worker/api';
import { type GenerationRun, GenerationRequest } from './generate';
import { loadCompareRun } from './load';

export interface ComparePort {
  post(message: HostToCompare): unknown;
  /**
   * Asks where to save (`suggestedName` in the workspace folder) and writes `bytes` there.
   * Resolves to the path written, or undefined when the dialog was dismissed.
   */
  save(bytes: Uint8Array, suggestedName: string, filter: { name: string; extensions: string[] }): Promise<string | undefined>;
  openDashboard(runDir: string): void;
  /** The inference worker (side-by-side generations). */
  readonly inference: Pick<InferenceClient, 'generate'>;
}

export interface CompareReaders {
  load(runDir: string): Promise<CompareRun>;
}

const CHART_FILE: Record<CompareChartName, string> = { train: 'train-loss', val: 'validation-loss', eval: 'eval-set', scatter: 'hyperparameter-scatter' };

/** `2026-11-29-101500` (local time): export file names sort by when they were made. */
function stamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

export class CompareSession {
  private ready = false;
  private queue: Promise<void> = Promise.resolve();
  /** What the generations need of each run shown (the last `init` / `run` sent), by run folder. */
  private readonly shown = new Map<string, GenerationRun>();
  private generation: GenerationRequest | null = null;

  constructor(
    readonly runDirs: readonly string[],
    private readonly port: ComparePort,
    private readonly readers: CompareReaders = { load: loadCompareRun },
    private readonly now: () => Date = () => new Date(),
    /** Sent with `init` (only the first: a reloaded page keeps the user's choices). */
    private preset: ComparePreset | null = null,
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
      case 'generate': {
        // A new prompt replaces the one still generating.
        this.generation?.stop();
        const request = new GenerationRequest(m.gen, this.port.inference, (msg) => this.port.post(msg));
        this.generation = request;
        const runs = this.runDirs.map((d) => this.shown.get(d)).filter((r): r is GenerationRun => r !== undefined);
        return request.run(runs, m.prompt, m.params).finally(() => {
          if (this.generation === request) this.generation = null;
        });
      }
      case 'stopGeneration':
        if (this.generation?.gen === m.gen) this.generation.stop();
        return Promise.resolve();
    }
  }

  /** The panel closed: ends a running generation. */
  dispose(): void {
    this.generation?.stop();
    this.generation = null;
  }

  private remember(run: CompareRun): void {
    this.shown.set(run.run_dir, { id: run.id, name: run.name, run_dir: run.run_dir, status: run.status, model: run.model, adapter_dir: run.adapter_dir });
  }

  /** Re-sends the runs among `changed` (run folders) that this view shows (no-op before `ready`). */
  update(changed: Iterable<string>): Promise<void> {
    const mine = [...changed].filter((d) => this.runDirs.includes(d));
    if (!mine.length) return Promise.resolve();
    return this.enqueue(async () => {
      if (!this.ready) return;
      for (const dir of mine) {
        const run = await this.readers.load(dir).catch(() => null);
        if (!run) continue;
        this.remember(run);
        this.port.post({ v: COMPARE_PROTOCOL_VERSION, type: 'run', run });
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
      if ('run' in r) {
        runs.push(r.run);
        this.remember(r.run);
      }
      else problems.push(r.problem);
    }
    this.port.post({ v: COMPARE_PROTOCOL_VERSION, type: 'init', runs, problems, preset: this.preset });
    this.preset = null;
  }
}

/** The first line of an error's message, naming the run folder when the message does not. */
function oneLine(e: unknown, dir: string): string {
  const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0];
  return msg.includes(dir) ? msg : `${nodePath.basename(dir)}: ${msg}`;
}
