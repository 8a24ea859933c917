/**
 * The Compare page's state and render loop (the dashboard's shape): messages and controls only
 * change state and mark what is stale; one requestAnimationFrame callback redraws at most once
 * per frame — the loss charts on every render (a smoothing change or a zoom costs one
 * downsampling pass per run, no table work), the tables and the scatter only when their inputs
 * changed.
 */
import type { CompareProblem, CompareRun, HostToCompare } from '../../src/protocol/compare';
import { formatValue } from '../dashboard/format';
import { readTheme, type Theme } from '../dashboard/theme';
import { attachZoom } from '../dashboard/zoom';
import { LossChart, ScatterChart, formatAxisValue, type LossView, type ScatterSeries } from './charts';
import { runColors } from './colors';
import { DEFAULT_SORT, type SortDir, hyperparameterKeys, runsCsv, sortRuns } from './columns';
import { Readout, valuesAt, type ReadoutEntry } from './hover';
import { AXIS_TITLE, RunCurves, type LossSeries, type XAxis } from './model';
import { HyperTable, RunsTable } from './tables';

export interface Prefs {
  /** Smoothing weight of the train loss, in [0, 0.99]. */
  smoothing: number;
  logY: boolean;
  axis: XAxis;
  diffOnly: boolean;
  /** Hyperparameter on the scatter's x axis (null: the default). */
  scatterKey: string | null;
  sort: { key: string; dir: SortDir };
  /** The eval-set metric charted (`eval/<set>/<metric>`; null: the first the runs have). */
  evalKey: string | null;
}

/** What `vscode.setState` keeps: the view prefs, and the run folders (the panel serializer reopens them). */
export interface SavedState {
  v: 1;
  prefs: Prefs;
  runDirs: string[];
}

export const DEFAULT_PREFS: Prefs = { smoothing: 0.6, logY: false, axis: 'step', diffOnly: true, scatterKey: null, sort: DEFAULT_SORT, evalKey: null };

export interface RenderInfo {
  /** Whole render (charts, and tables when stale), ms. */
  ms: number;
  /** Of which downsampling, ms. */
  downsampleMs: number;
  /** Of which tables and scatter, ms. */
  tablesMs: number;
  /** Time the last message took to handle, ms. */
  ingestMs: number;
  /** Of which stroking the runs' lines, ms. */
  linesMs: number;
  /** Points drawn by the loss charts. */
  points: number;
}

export interface CompareElements {
  root: HTMLElement;
  title: HTMLElement;
  subtitle: HTMLElement;
  problems: HTMLElement;
  axisSelect: HTMLSelectElement;
  axisNote: HTMLElement;
  runsTable: HTMLTableElement;
  hyperTable: HTMLTableElement;
  hyperNote: HTMLElement;
  scatterSelect: HTMLSelectElement;
  scatterNote: HTMLElement;
  evalSelect: HTMLSelectElement;
}

interface LossSlot {
  figure: HTMLElement;
  chart: LossChart;
  box: HTMLElement;
  empty: HTMLElement;
  readout: Readout;
}

const LOSS_SERIES: readonly LossSeries[] = ['train', 'val', 'eval'];
const SERIES_TITLE: Record<LossSeries, string> = { train: 'Train loss', val: 'Validation loss', eval: 'Eval set' };

export class ComparePage {
  curves: RunCurves[] = [];
  problems: CompareProblem[] = [];
  readonly loss = new Map<LossSeries, LossSlot>();
  readonly scatter: ScatterChart;
  readonly runsTable: RunsTable;
  readonly hyperTable: HyperTable;
  lastRender: RenderInfo = { ms: 0, downsampleMs: 0, tablesMs: 0, ingestMs: 0, linesMs: 0, points: 0 };
  highlight: string | null = null;
  private ordered: CompareRun[] = [];
  private theme: Theme;
  private zoom: { min: number; max: number } | null = null;
  private tablesStale = true;
  private frame = 0;
  private ingestMs = 0;
  private waiters: Array<(info: RenderInfo) => void> = [];
  private hoverFrame = 0;
  /** Scroll the scatter into view after the first render ("Compare Sweep"). */
  private focusScatter = false;

  constructor(
    private readonly els: CompareElements,
    private prefs: Prefs,
    private readonly onPrefs: (prefs: Prefs) => void,
    private readonly onZoomChange: (zoomed: boolean) => void,
    private readonly onOpenDashboard: (runDir: string) => void,
  ) {
    this.theme = readTheme();
    const view = this.view();
    for (const name of LOSS_SERIES) {
      const figure = els.root.querySelector<HTMLElement>(`figure[data-chart="${name}"]`)!;
      const canvas = figure.querySelector('canvas')!;
      const box = figure.querySelector<HTMLElement>('.canvas-box')!;
      const chart = new LossChart(name, canvas, view, () => this.invalidate(), (dir) => this.toggleHighlight(dir));
      attachZoom(
        { canvas, band: figure.querySelector<HTMLElement>('.zoom-band')!, chart: chart.chart as never },
        (min, max) => this.setZoom({ min, max }),
        () => this.setZoom(null),
      );
      const readout = new Readout(figure.querySelector<HTMLElement>('.readout')!, figure.querySelector<HTMLElement>('.hover-line')!);
      canvas.addEventListener('pointermove', (e) => this.hover(name, e));
      canvas.addEventListener('pointerleave', () => readout.hide());
      canvas.addEventListener('pointerdown', () => readout.hide());
      this.loss.set(name, { figure, chart, box, empty: figure.querySelector<HTMLElement>('.empty')!, readout });
    }
    this.scatter = new ScatterChart(els.root.querySelector<HTMLCanvasElement>('figure[data-chart="scatter"] canvas')!, this.theme);
    this.runsTable = new RunsTable(els.runsTable, {
      sort: (key) => this.setSort(key),
      toggleHighlight: (dir) => this.toggleHighlight(dir),
      openDashboard: (dir) => this.onOpenDashboard(dir),
    });
    this.hyperTable = new HyperTable(els.hyperTable, els.hyperNote);
    els.scatterSelect.addEventListener('change', () => this.setPrefs({ scatterKey: els.scatterSelect.value }, true));
    els.evalSelect.addEventListener('change', () => this.setEvalKey(els.evalSelect.value));
  }

  get preferences(): Prefs {
    return { ...this.prefs, sort: { ...this.prefs.sort } };
  }

  /** The runs in the runs table's order. */
  get orderedRuns(): readonly CompareRun[] {
    return this.ordered;
  }

  get runDirs(): string[] {
    return [...this.curves.map((c) => c.run.run_dir), ...this.problems.map((p) => p.run_dir)];
  }

  handle(msg: HostToCompare): void {
    const t0 = performance.now();
    switch (msg.type) {
      case 'init':
        this.curves = msg.runs.map((r, i) => new RunCurves(r, i));
        this.problems = msg.problems;
        this.zoom = null;
        this.onZoomChange(false);
        if (this.highlight && !this.curves.some((c) => c.run.run_dir === this.highlight)) this.highlight = null;
        if (msg.preset) {
          this.prefs = { ...this.prefs, scatterKey: msg.preset.scatter_key };
          this.onPrefs(this.preferences);
          if (msg.preset.focus === 'scatter') this.focusScatter = true;
        }
        for (const slot of this.loss.values()) slot.chart.setRuns(this.curves);
        this.colorize();
        this.renderHeader();
        this.renderEvalKeys();
        break;
      case 'run': {
        const i = this.curves.findIndex((c) => c.run.run_dir === msg.run.run_dir);
        if (i < 0) return;
        const next = new RunCurves(msg.run, this.curves[i].index);
        next.color = this.curves[i].color;
        this.curves[i] = next;
        for (const slot of this.loss.values()) slot.chart.setRuns(this.curves);
        this.renderEvalKeys();
        break;
      }
      default:
        return; // generations: webview/compare/generations.ts
    }
    this.tablesStale = true;
    this.ingestMs = performance.now() - t0;
    this.invalidate();
  }

  setSmoothing(w: number): void {
    w = Math.min(0.99, Math.max(0, Number.isFinite(w) ? w : 0));
    this.setPrefs({ smoothing: w }, false);
  }

  setLogY(on: boolean): void {
    this.setPrefs({ logY: on }, false);
  }

  setAxis(axis: XAxis): void {
    if (axis === this.prefs.axis) return;
    this.zoom = null;
    this.onZoomChange(false);
    this.setPrefs({ axis }, false);
    this.renderAxisNote();
  }

  /** Charts another eval-set metric (one of `evalKeys`). */
  setEvalKey(key: string): void {
    this.setPrefs({ evalKey: key }, false);
    this.renderEvalKeys();
  }

  /** Every `eval/<set>/<metric>` some run logged, sorted. */
  get evalKeys(): string[] {
    return [...new Set(this.curves.flatMap((c) => Object.keys(c.run.evals)))].sort();
  }

  setDiffOnly(on: boolean): void {
    this.setPrefs({ diffOnly: on }, true);
  }

  setSort(key: string): void {
    const cur = this.prefs.sort;
    const dir: SortDir = cur.key === key ? (cur.dir === 'asc' ? 'desc' : 'asc') : 'asc';
    this.setPrefs({ sort: { key, dir } }, true);
  }

  setZoom(range: { min: number; max: number } | null): void {
    this.zoom = range && range.max > range.min ? range : null;
    this.onZoomChange(this.zoom !== null);
    this.invalidate();
  }

  toggleHighlight(runDir: string | null): void {
    this.highlight = runDir === this.highlight ? null : runDir;
    this.runsTable.setHighlight(this.highlight);
    this.invalidate();
  }

  themeChanged(): void {
    this.theme = readTheme();
    this.colorize();
    this.tablesStale = true;
    this.invalidate();
  }

  /** The runs table as CSV, in its current order. */
  csv(): string {
    return runsCsv(this.ordered);
  }

  /** Every run's value at x on a loss chart (what the hover readout lists). */
  valuesAt(name: LossSeries, x: number): ReadoutEntry[] {
    const v = this.view();
    const tolerance = (v.xmax - v.xmin) / this.loss.get(name)!.chart.plotWidth;
    return valuesAt(this.curves, name, v.axis, v.smoothing, x, tolerance);
  }

  /** A chart as a PNG data URL, on the theme's background with its title above. */
  pngDataUrl(name: LossSeries | 'scatter'): string {
    const chart = name === 'scatter' ? this.scatter.chart : this.loss.get(name)!.chart.chart;
    const src = chart.canvas;
    const ratio = chart.currentDevicePixelRatio || 1;
    const band = Math.round(28 * ratio);
    const out = document.createElement('canvas');
    out.width = src.width;
    out.height = src.height + band;
    const ctx = out.getContext('2d')!;
    ctx.fillStyle = this.theme.background;
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.fillStyle = this.theme.foreground;
    ctx.font = `600 ${Math.round(13 * ratio)}px ${this.theme.fontFamily}`;
    ctx.textBaseline = 'middle';
    const title = name === 'scatter' ? `Best validation loss vs ${this.scatterKey() ?? ''}` : `${name === 'eval' ? this.curves[0]?.evalKey ?? 'Eval set' : SERIES_TITLE[name]} by ${AXIS_TITLE[this.prefs.axis]} (${this.curves.length} runs)`;
    ctx.fillText(title, Math.round(10 * ratio), band / 2);
    ctx.drawImage(src, 0, band);
    return out.toDataURL('image/png');
  }

  invalidate(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  rendered(): Promise<RenderInfo> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.invalidate();
    });
  }

  render(): void {
    const t0 = performance.now();
    let tablesMs = 0;
    if (this.tablesStale) {
      this.tablesStale = false;
      this.renderTables();
      tablesMs = performance.now() - t0;
    }
    const view = this.view();
    let points = 0;
    let downsampleMs = 0;
    let linesMs = 0;
    for (const [name, slot] of this.loss) {
      if (name === 'eval' && slot.figure.hidden) continue;
      // Eval metrics are scores (0…1, or a mean NLL): the loss charts' log toggle is not theirs.
      const n = slot.chart.render(name === 'eval' ? { ...view, logY: false } : view);
      downsampleMs += slot.chart.downsampleMs;
      linesMs += slot.chart.linesMs;
      points += n;
      slot.empty.hidden = n > 0 || this.curves.length === 0;
      slot.empty.textContent = view.axis === 'epoch' ? 'No run has an epoch axis' : 'No data';
    }
    this.lastRender = { ms: performance.now() - t0, downsampleMs, tablesMs, ingestMs: this.ingestMs, linesMs, points };
    if (this.focusScatter && this.curves.length) {
      this.focusScatter = false;
      this.els.root.querySelector<HTMLElement>('figure[data-chart="scatter"]')?.closest('section')?.scrollIntoView({ block: 'start' });
    }
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w(this.lastRender);
  }

  private setPrefs(patch: Partial<Prefs>, tables: boolean): void {
    this.prefs = { ...this.prefs, ...patch };
    this.onPrefs(this.preferences);
    if (tables) this.tablesStale = true;
    this.invalidate();
  }

  /** The eval picker's options and the eval figure (hidden when no run logged an eval set). */
  private renderEvalKeys(): void {
    const keys = this.evalKeys;
    const select = this.els.evalSelect;
    if (select.options.length !== keys.length || [...select.options].some((o, i) => o.value !== keys[i])) {
      select.replaceChildren(...keys.map((k) => new Option(k.slice('eval/'.length), k)));
    }
    const want = this.prefs.evalKey;
    const key = want && keys.includes(want) ? want : (keys[0] ?? null);
    if (key) select.value = key;
    for (const c of this.curves) c.evalKey = key;
    const slot = this.loss.get('eval')!;
    const was = slot.figure.hidden;
    slot.figure.hidden = key === null;
    if (!slot.figure.hidden) {
      const without = this.curves.filter((c) => key !== null && !c.run.evals[key]).length;
      slot.empty.textContent = 'No run logged this metric';
      slot.figure.querySelector('figcaption span')!.textContent = without ? `Eval set (${without} run${without === 1 ? '' : 's'} without it)` : 'Eval set';
    }
    if (was !== slot.figure.hidden) slot.chart.chart.resize();
    this.invalidate();
  }

  private colorize(): void {
    const colors = runColors(this.curves.length, this.theme);
    for (const c of this.curves) c.color = colors[c.index] ?? colors[0];
  }

  private renderHeader(): void {
    const n = this.curves.length;
    this.els.title.textContent = `Compare ${n} run${n === 1 ? '' : 's'}`;
    this.els.subtitle.textContent = this.problems.length ? `${this.problems.length} selected folder${this.problems.length === 1 ? '' : 's'} could not be read` : '';
    this.els.problems.replaceChildren(
      ...this.problems.map((p) => {
        const li = document.createElement('li');
        li.textContent = p.reason;
        li.title = p.run_dir;
        return li;
      }),
    );
    this.els.problems.hidden = this.problems.length === 0;
    this.renderAxisNote();
  }

  /** Which runs the epoch axis leaves out, and why; disables it when no run has one. */
  private renderAxisNote(): void {
    const missing = this.curves.filter((c) => c.run.steps_per_epoch === null);
    const option = [...this.els.axisSelect.options].find((o) => o.value === 'epoch');
    const none = missing.length === this.curves.length && this.curves.length > 0;
    if (option) {
      option.disabled = none;
      option.title = none ? `No run has an epoch axis: ${missing[0].run.epoch_note ?? ''}` : '';
    }
    if (none && this.prefs.axis === 'epoch') this.prefs = { ...this.prefs, axis: 'step' };
    this.els.axisSelect.value = this.prefs.axis;
    const note = this.els.axisNote;
    if (missing.length && (this.prefs.axis === 'epoch' || none)) {
      const reasons = [...new Set(missing.map((c) => c.run.epoch_note ?? 'unknown'))].join('; ');
      note.textContent = none
        ? `Epochs are not offered: ${reasons}.`
        : `Epochs: ${missing.length} of ${this.curves.length} runs are left out (${reasons}): ${missing.map((c) => c.run.id).join(', ')}.`;
      note.hidden = false;
    } else {
      note.hidden = true;
    }
  }

  private renderTables(): void {
    const runs = this.curves.map((c) => c.run);
    const colors = new Map(this.curves.map((c) => [c.run.run_dir, c.color]));
    this.ordered = sortRuns(runs, this.prefs.sort.key, this.prefs.sort.dir);
    this.runsTable.setRuns(this.ordered, colors, this.prefs.sort, this.highlight);
    this.hyperTable.render(this.ordered, colors, this.prefs.diffOnly);
    this.renderScatter();
  }

  /** Numeric hyperparameters (some run has a number), the scatter's choices. */
  private numericKeys(): string[] {
    const runs = this.curves.map((c) => c.run);
    return hyperparameterKeys(runs).filter((k) => runs.some((r) => typeof r.hyperparameters[k] === 'number'));
  }

  private scatterKey(): string | null {
    const keys = this.numericKeys();
    const want = this.prefs.scatterKey;
    if (want && keys.includes(want)) return want;
    return keys.find((k) => k === 'training.learning_rate') ?? keys[0] ?? null;
  }

  private renderScatter(): void {
    const keys = this.numericKeys();
    const key = this.scatterKey();
    const select = this.els.scatterSelect;
    if (select.options.length !== keys.length || [...select.options].some((o, i) => o.value !== keys[i])) {
      select.replaceChildren(...keys.map((k) => new Option(k, k)));
    }
    if (key) select.value = key;
    select.disabled = keys.length === 0;
    const byRank = new Map<string, ScatterSeries>();
    let noLoss = 0;
    let noX = 0;
    for (const c of this.curves) {
      const r = c.run;
      const x = key ? r.hyperparameters[key] : undefined;
      if (r.summary.best_val_loss === null) {
        noLoss++;
        continue;
      }
      if (typeof x !== 'number') {
        noX++;
        continue;
      }
      const rank = r.hyperparameters['lora.r'];
      const label = typeof rank === 'number' ? `r = ${rank}` : 'r unknown';
      const s = byRank.get(label) ?? { label, points: [] };
      s.points.push({ x, y: r.summary.best_val_loss, id: r.id, color: c.color });
      byRank.set(label, s);
    }
    const series = [...byRank.values()].sort((a, b) => (parseFloat(a.label.slice(4)) || Infinity) - (parseFloat(b.label.slice(4)) || Infinity));
    const logX = key !== null && /learning_rate$/.test(key) && series.every((s) => s.points.every((p) => p.x > 0));
    this.scatter.render(series, key ?? '', logX, this.theme);
    const notes: string[] = [];
    if (noLoss) notes.push(`${noLoss} run${noLoss === 1 ? ' has' : 's have'} no validation loss yet`);
    if (noX && key) notes.push(`${noX} run${noX === 1 ? ' has' : 's have'} no numeric ${key}`);
    const best = this.ordered.find((r) => r.summary.best_val_loss !== null);
    if (best && this.prefs.sort.key === 'best_val_loss') notes.unshift(`Best: ${best.id} (${formatValue(best.summary.best_val_loss!)})`);
    this.els.scatterNote.textContent = notes.join(' · ') + (notes.length ? '. ' : '') + 'Marker shape: LoRA rank (r); colour: the run, as in the table and the curves.';
    const empty = this.els.root.querySelector<HTMLElement>('figure[data-chart="scatter"] .empty')!;
    empty.hidden = series.length > 0;
  }

  private hover(name: LossSeries, e: PointerEvent): void {
    if (e.buttons !== 0) return;
    const offsetX = e.offsetX;
    const offsetY = e.offsetY;
    if (this.hoverFrame) cancelAnimationFrame(this.hoverFrame);
    this.hoverFrame = requestAnimationFrame(() => {
      this.hoverFrame = 0;
      const slot = this.loss.get(name)!;
      const chart = slot.chart.chart;
      const area = chart.chartArea;
      if (!area || offsetX < area.left || offsetX > area.right || offsetY < area.top || offsetY > area.bottom) return slot.readout.hide();
      const x = chart.scales.x.getValueForPixel(offsetX);
      if (x === undefined) return slot.readout.hide();
      const entries = this.valuesAt(name, x);
      const axis = this.prefs.axis;
      const shown = axis === 'step' || axis === 'tokens' ? Math.round(x) : x;
      slot.readout.show(`${AXIS_TITLE[axis]} ${formatAxisValue(axis, shown)}`, entries, this.highlight, offsetX, slot.box.clientWidth);
    });
  }

  /** The x range the loss charts show: the zoom, else every run's points on this axis. */
  private view(): LossView {
    let xmin = Infinity;
    let xmax = -Infinity;
    const axis = this.prefs.axis;
    for (const c of this.curves) {
      for (const s of LOSS_SERIES) {
        const xs = c.xs(s, axis);
        if (!xs || !xs.length) continue;
        xmin = Math.min(xmin, xs[0]);
        xmax = Math.max(xmax, xs[xs.length - 1]);
      }
    }
    if (xmin > xmax) [xmin, xmax] = [0, 1];
    if (xmax === xmin) xmax = xmin + 1;
    if (this.zoom) [xmin, xmax] = [this.zoom.min, this.zoom.max];
    return { axis, xmin, xmax, smoothing: this.prefs.smoothing, logY: this.prefs.logY, theme: this.theme, highlight: this.highlight };
  }
}
