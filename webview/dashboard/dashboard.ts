/**
 * The dashboard's state and render loop. Messages from the host append to the series stores
 * (never rebuilding them, except for `init`, which is the whole run by definition); any change
 * — rows, a resize, the smoothing slider, the log toggle, a zoom, a theme switch — only marks
 * the page dirty, and one requestAnimationFrame callback re-downsamples and redraws every
 * chart at most once per frame.
 */
import type { DashboardPrefs, HostToDashboard, RunFacts } from '../../src/protocol/dashboard';
import type { MetricsRowLike } from '../../src/protocol/metrics';
import { isEvalMetricKey } from '../../src/protocol/metrics';
import { EvalChart } from './evalchart';
import { CHART_SPECS, MetricChart, SERIES_KEYS, type ChartName, type SeriesKey, type View } from './charts';
import type { FactsPanel } from './facts';
import { Series } from './series';
import { readTheme, type Theme } from './theme';
import { attachZoom } from './zoom';

/** Smoothing weight and log scale (the host remembers them per workspace). */
export type Prefs = DashboardPrefs;

/** What `vscode.setState` keeps across a hidden/reloaded webview: the view prefs and the last run facts. */
export interface SavedState {
  v: 1;
  prefs: Prefs;
  run: RunFacts | null;
}

export const DEFAULT_PREFS: Prefs = { smoothing: 0.6, logY: false };

export interface RenderInfo {
  /** Time spent downsampling and drawing, ms. */
  ms: number;
  /** Of which downsampling, ms. */
  downsampleMs: number;
  /** Time the last message took to handle (rows into the stores), ms. */
  ingestMs: number;
  /** Points handed to chart.js, all charts together. */
  points: number;
}

interface ChartSlot {
  chart: MetricChart;
  empty: HTMLElement;
}

export class Dashboard {
  readonly stores = new Map<SeriesKey, Series>(SERIES_KEYS.map((k) => [k, new Series()]));
  readonly charts = new Map<ChartName, ChartSlot>();
  /** `eval/<set>/<metric>` → its points (created when a row first carries the key). */
  readonly evalStores = new Map<string, Series>();
  readonly evalChart: EvalChart;
  private readonly evalFigure: HTMLElement;
  lastRender: RenderInfo = { ms: 0, downsampleMs: 0, ingestMs: 0, points: 0 };
  private ingestMs = 0;
  private theme: Theme;
  private zoom: { min: number; max: number } | null = null;
  /** Steps the run was resumed from (markers on every chart). */
  private resumes: number[] = [];
  private frame = 0;
  private waiters: Array<(info: RenderInfo) => void> = [];
  private readonly smoothKeys = new Set(CHART_SPECS.flatMap((c) => c.series.filter((s) => s.smooth).map((s) => s.key)));

  constructor(
    root: HTMLElement,
    private readonly facts: FactsPanel,
    private prefs: Prefs,
    private readonly onPrefs: (prefs: Prefs) => void,
    private readonly onZoomChange: (zoomed: boolean) => void,
    /** Prefs that came from the host (init): the page's controls show them. */
    private readonly onPrefsRestored: (prefs: Prefs) => void = () => undefined,
  ) {
    this.theme = readTheme();
    this.applySmoothing();
    const view = this.view();
    for (const spec of CHART_SPECS) {
      const figure = root.querySelector<HTMLElement>(`[data-chart="${spec.name}"]`)!;
      const canvas = figure.querySelector('canvas')!;
      const chart = new MetricChart(spec, canvas, view, () => this.invalidate());
      attachZoom(
        { canvas, band: figure.querySelector<HTMLElement>('.zoom-band')!, chart: chart.chart },
        (min, max) => this.setZoom({ min, max }),
        () => this.setZoom(null),
      );
      this.charts.set(spec.name, { chart, empty: figure.querySelector<HTMLElement>('.empty')! });
    }
    this.evalFigure = root.querySelector<HTMLElement>('[data-chart="eval"]')!;
    const evalCanvas = this.evalFigure.querySelector('canvas')!;
    this.evalChart = new EvalChart(evalCanvas, view, () => this.invalidate());
    attachZoom(
      { canvas: evalCanvas, band: this.evalFigure.querySelector<HTMLElement>('.zoom-band')!, chart: this.evalChart.chart },
      (min, max) => this.setZoom({ min, max }),
      () => this.setZoom(null),
    );
    this.invalidate();
  }

  get preferences(): Prefs {
    return { ...this.prefs };
  }

  handle(msg: HostToDashboard): void {
    const t0 = performance.now();
    switch (msg.type) {
      case 'init':
        for (const s of this.stores.values()) s.clear();
        this.evalStores.clear();
        this.zoom = null;
        this.onZoomChange(false);
        this.facts.setRun(msg.run);
        this.resumes = msg.run.resumes ?? [];
        if (msg.prefs) this.restorePrefs(msg.prefs);
        this.append(msg.rows);
        break;
      case 'metrics':
        this.append(msg.rows);
        break;
      case 'status':
        this.facts.setStatus(msg.status, msg.step, msg.error, msg.finished_at);
        if (msg.resumes) this.resumes = msg.resumes;
        break;
    }
    this.ingestMs = performance.now() - t0;
    this.invalidate();
  }

  setSmoothing(w: number): void {
    w = Math.min(0.99, Math.max(0, Number.isFinite(w) ? w : 0));
    if (w === this.prefs.smoothing) return;
    this.prefs = { ...this.prefs, smoothing: w };
    this.applySmoothing();
    this.onPrefs(this.preferences);
    this.invalidate();
  }

  /** The workspace's saved prefs (from the host's init): applied without reporting them back. */
  private restorePrefs(p: Prefs): void {
    const next = { smoothing: Math.min(0.99, Math.max(0, p.smoothing)), logY: p.logY };
    if (next.smoothing === this.prefs.smoothing && next.logY === this.prefs.logY) return;
    this.prefs = next;
    this.applySmoothing();
    this.onPrefsRestored(this.preferences);
  }

  setLogY(on: boolean): void {
    if (on === this.prefs.logY) return;
    this.prefs = { ...this.prefs, logY: on };
    this.onPrefs(this.preferences);
    this.invalidate();
  }

  setZoom(range: { min: number; max: number } | null): void {
    // Steps are whole numbers: whole-number edges give clean first and last tick labels.
    if (range) range = { min: Math.floor(range.min), max: Math.max(Math.ceil(range.max), Math.floor(range.min) + 1) };
    this.zoom = range;
    this.onZoomChange(range !== null);
    this.invalidate();
  }

  themeChanged(): void {
    this.theme = readTheme();
    this.invalidate();
  }

  /** Schedules one render on the next animation frame (coalescing every change before it). */
  invalidate(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  /** Resolves after the next render (scheduling one). */
  rendered(): Promise<RenderInfo> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.invalidate();
    });
  }

  render(): void {
    const t0 = performance.now();
    const view = this.view();
    let points = 0;
    let downsampleMs = 0;
    const waiting = this.facts.facts === null || this.facts.facts.status === 'running';
    for (const { chart, empty } of this.charts.values()) {
      downsampleMs += chart.render(this.stores, view);
      const n = chart.drawnPointCount;
      points += n;
      empty.hidden = n > 0;
      empty.textContent = waiting ? 'Waiting for metrics…' : 'No data in this run';
    }
    const hasEval = this.evalStores.size > 0;
    if (this.evalFigure.hidden === hasEval) {
      this.evalFigure.hidden = !hasEval;
      this.evalFigure.parentElement?.classList.toggle('has-eval', hasEval);
      for (const { chart } of this.charts.values()) chart.chart.resize();
      this.evalChart.chart.resize();
    }
    if (hasEval) {
      this.evalChart.render(this.evalStores, view);
      points += this.evalChart.drawnPointCount;
    }
    this.lastRender = { ms: performance.now() - t0, downsampleMs, ingestMs: this.ingestMs, points };
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w(this.lastRender);
  }

  private append(rows: readonly MetricsRowLike[]): void {
    let lastStep = -1;
    let lastTime: number | null = null;
    const targets = SERIES_KEYS.map((key) => [key, this.stores.get(key)!] as const);
    for (const row of rows) {
      if (typeof row !== 'object' || row === null || typeof row.step !== 'number') continue;
      for (const [key, store] of targets) {
        const v = row[key];
        if (typeof v === 'number') store.push(row.step, v);
      }
      // Eval-set results: only rows of a checkpoint carry them; the key list is the row's own.
      for (const k in row) {
        if (!isEvalMetricKey(k)) continue;
        const v = row[k];
        if (typeof v !== 'number') continue;
        let store = this.evalStores.get(k);
        if (!store) this.evalStores.set(k, (store = new Series()));
        store.push(row.step, v);
      }
      lastStep = row.step;
      if (typeof row.time === 'number') lastTime = row.time;
    }
    if (lastStep >= 0) this.facts.noteRows(lastStep, lastTime);
  }

  private applySmoothing(): void {
    for (const [key, s] of this.stores) s.setSmoothing(this.smoothKeys.has(key) ? this.prefs.smoothing : 0);
  }

  /** The step range every chart shows: the zoom, else all steps of all series. */
  private view(): View {
    let xmin = Infinity;
    let xmax = -Infinity;
    for (const s of [...this.stores.values(), ...this.evalStores.values()]) {
      if (!s.length) continue;
      xmin = Math.min(xmin, s.xs[0]);
      xmax = Math.max(xmax, s.xs[s.length - 1]);
    }
    if (xmin > xmax) [xmin, xmax] = [0, 1];
    if (xmax === xmin) xmax = xmin + 1;
    if (this.zoom) [xmin, xmax] = [this.zoom.min, this.zoom.max];
    return { xmin, xmax, zoomed: this.zoom !== null, smoothing: this.prefs.smoothing, logY: this.prefs.logY, theme: this.theme, resumes: this.resumes };
  }
}
