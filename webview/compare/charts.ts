/**
 * The Compare view's charts (chart.js, tree-shaken): the overlaid train-loss and validation-loss
 * line charts (one dataset per run, one colour per run) and the scatter of a hyperparameter
 * against best validation loss (one series per LoRA rank, told apart by marker shape; each point
 * in its run's colour, as in the runs table and the curves). As on the dashboard, a line chart
 * never owns the data: every render hands it the dashboard's min/max downsampling of each run
 * over the visible x range (≈ 2 points per pixel of plot width), so 100 runs × 10,000 steps
 * draw from at most 100 × 2 × width points. chart.js's own tooltip is off on the line charts:
 * the hover readout (hover.ts) lists every run's value at the pointer's x instead.
 */
import {
  Chart,
  Legend,
  LineController,
  LineElement,
  LinearScale,
  LogarithmicScale,
  PointElement,
  ScatterController,
  Tooltip,
  type ChartDataset,
  type ChartOptions,
  type ScaleOptionsByType,
} from 'chart.js';
import { runLabel } from '../../src/protocol/run-label';
import { minMaxDownsample, type XY } from '../dashboard/downsample';
import { formatTick, formatValue } from '../dashboard/format';
import { decadeTicks, logTickLabels, logTicks } from '../dashboard/logticks';
import { withAlpha, type Theme } from '../dashboard/theme';
import { AXIS_TITLE, type LossSeries, type RunCurves, type XAxis } from './model';

Chart.register(LineController, ScatterController, LineElement, PointElement, LinearScale, LogarithmicScale, Legend, Tooltip);

/** Runs up to which the line charts show chart.js's legend (beyond it the runs table is the legend). */
export const LEGEND_MAX_RUNS = 10;

export interface LossView {
  axis: XAxis;
  xmin: number;
  xmax: number;
  smoothing: number;
  logY: boolean;
  theme: Theme;
  /** Run folder of the highlighted run, or null. */
  highlight: string | null;
}

export interface DrawnDataset {
  label: string;
  color: string;
  points: [number, number][];
}

/** Compact tick of a wall-time axis (seconds): "45s", "12m", "1.5h". */
export function formatTimeTick(s: number): string {
  if (s < 120) return `${+s.toFixed(0)}s`;
  if (s < 7200) return `${+(s / 60).toFixed(1)}m`;
  return `${+(s / 3600).toFixed(1)}h`;
}

export const formatAxisValue = (axis: XAxis, v: number): string =>
  axis === 'time' ? formatTimeTick(v) : axis === 'epoch' ? String(+v.toFixed(2)) : formatTick(v);

/** Tick labels: every tick is labelled (on a log axis `logAxis` has already picked them). */
function axisTicks(t: Theme, font: { family: string; size: number }) {
  return { color: t.muted, font, maxTicksLimit: 8, callback: (value: number | string): string => formatTick(Number(value)) };
}

/**
 * A logarithmic axis whose ticks cover its visible range: chart.js puts log ticks at 1…9 × 10^k
 * only (three labels, or one, for a range like 0.002–0.004). `pick` chooses them instead (the
 * dashboard's `logTicks` for losses, `decadeTicks` for hyperparameters: one definition each, in
 * webview/dashboard/logticks.ts); the labels share one notation (`logTickLabels`).
 */
function logAxis(t: Theme, font: { family: string; size: number }, pick: (min: number, max: number) => number[]) {
  return {
    type: 'logarithmic',
    ticks: {
      ...axisTicks(t, font),
      callback: (value: number | string, index: number, ticks: { value: number }[]): string => logTickLabels(ticks.map((k) => k.value))[index] ?? formatTick(Number(value)),
    },
    afterBuildTicks: (scale: { min: number; max: number; ticks: { value: number }[] }) => {
      scale.ticks = pick(scale.min, scale.max).map((value) => ({ value }));
    },
  };
}

/** What the line layer draws for one run (the downsampled points, in x order). */
interface Line {
  color: string;
  width: number;
  dots: number;
  points: XY[];
  /** Drawn last (on top). */
  top: boolean;
}

export class LossChart {
  readonly chart: Chart<'line', XY[]>;
  private curves: RunCurves[] = [];
  private lines: Line[] = [];
  private optionsKey = '';
  /** Smallest and largest y of the points drawn within the visible x range (> 0 on a log axis). */
  private yLimits: { min: number; max: number } | null = null;
  /** Milliseconds the last render spent downsampling, and stroking the lines. */
  downsampleMs = 0;
  linesMs = 0;

  constructor(
    readonly name: LossSeries,
    canvas: HTMLCanvasElement,
    view: LossView,
    private readonly invalidate: () => void,
    private readonly onLegendClick: (runDir: string) => void,
  ) {
    // chart.js draws the axes, grid and legend; the runs' lines are drawn by `drawLines` in one
    // pass over the downsampled points. (As chart.js datasets, 100 runs × 1,400 points cost
    // ~20× more per render: chart.js builds and resolves an element per point.)
    this.chart = new Chart(canvas, {
      type: 'line',
      data: { datasets: [] },
      options: this.options(view),
      plugins: [{ id: 'loralabLines', afterDatasetsDraw: (chart) => this.drawLines(chart as Chart<'line', XY[]>) }],
    });
  }

  setRuns(curves: RunCurves[]): void {
    this.curves = curves;
    // Empty datasets: they only name the runs in the legend (≤ LEGEND_MAX_RUNS runs).
    this.chart.data.datasets = curves.map((c): ChartDataset<'line', XY[]> => ({ label: runLabel(c.run), data: [], borderWidth: 2, pointRadius: 0 }));
    this.lines = [];
    this.optionsKey = '';
  }

  get plotWidth(): number {
    const area = this.chart.chartArea;
    return Math.max(1, Math.round(area && area.width > 0 ? area.width : this.chart.width || 300));
  }

  get pointCount(): number {
    return this.lines.reduce((n, l) => n + l.points.length, 0);
  }

  /** Recomputes every run's drawn points and redraws synchronously; returns the points drawn. */
  render(view: LossView): number {
    const key = `${view.logY}|${view.axis}|${this.curves.length}|${JSON.stringify(view.theme)}`;
    if (key !== this.optionsKey) {
      this.chart.options = this.options(view);
      this.optionsKey = key;
    }
    const buckets = this.plotWidth;
    const t0 = performance.now();
    const sparseDots = this.curves.length <= LEGEND_MAX_RUNS;
    let ymin = Infinity;
    let ymax = -Infinity;
    this.lines = this.curves.map((c, i) => {
      const xs = c.xs(this.name, view.axis);
      const ys = c.ys(this.name, view.smoothing);
      const points = xs ? minMaxDownsample(xs, ys, xs.length, view.xmin, view.xmax, buckets) : [];
      for (const p of points) {
        if (p.x < view.xmin || p.x > view.xmax || !Number.isFinite(p.y) || (view.logY && p.y <= 0)) continue;
        if (p.y < ymin) ymin = p.y;
        if (p.y > ymax) ymax = p.y;
      }
      const mine = view.highlight === c.run.run_dir;
      const faded = view.highlight !== null && !mine;
      const color = faded ? withAlpha(c.color, view.theme.kind.startsWith('high-contrast') ? 0.35 : 0.2) : c.color;
      const ds = this.chart.data.datasets[i];
      ds.borderColor = color;
      ds.backgroundColor = color;
      const dots = (sparseDots || mine) && points.length > 0 && points.length <= 60 ? (mine ? 3 : 2.5) : 0;
      return { color, width: mine ? 3 : 1.5, dots, points, top: mine };
    });
    this.downsampleMs = performance.now() - t0;
    const x = this.chart.options.scales!.x!;
    x.min = view.xmin;
    x.max = view.xmax;
    // The datasets are empty (the lines are ours), so chart.js sees no data: the y scale's data
    // limits are the drawn points', handed over in `afterDataLimits` (chart.js then widens a
    // linear axis to whole ticks). Without them it falls back to 0–1 (linear) or 1–10 (log).
    this.yLimits = ymin <= ymax ? { min: ymin, max: ymax } : null;
    this.chart.update('none');
    return this.pointCount;
  }

  drawn(): DrawnDataset[] {
    return this.lines.map((l, i) => ({ label: runLabel(this.curves[i].run), color: l.color, points: l.points.map((p) => [p.x, p.y] as [number, number]) }));
  }

  get yScaleType(): string {
    return this.chart.scales.y?.type ?? '';
  }

  /** The y scale's range as laid out (chart.js's `scales.y.min/max`), or null before a layout. */
  get yRange(): { min: number; max: number } | null {
    const y = this.chart.scales.y;
    return y ? { min: y.min, max: y.max } : null;
  }

  destroy(): void {
    this.chart.destroy();
  }

  /**
   * Sets the y scale's data limits to the drawn points' (`yLimits`), with a little room: 4% of
   * the span each side (a factor on a log axis), or ±5% of the value when the span is zero.
   * Left as chart.js found them when nothing is drawn.
   */
  private fitY(scale: { min: number; max: number }, log: boolean): void {
    const lim = this.yLimits;
    if (!lim) return;
    if (log) {
      const pad = lim.max > lim.min ? (lim.max / lim.min) ** 0.04 : 1.05;
      scale.min = lim.min / pad;
      scale.max = lim.max * pad;
    } else {
      const pad = lim.max > lim.min ? (lim.max - lim.min) * 0.04 : Math.abs(lim.max) * 0.05 || 1;
      scale.min = lim.min - pad;
      scale.max = lim.max + pad;
    }
  }

  /** Strokes every run's line (the highlighted one last, on top), clipped to the plot area. */
  private drawLines(chart: Chart<'line', XY[]>): void {
    const { ctx, chartArea: area } = chart;
    const xs = chart.scales.x;
    const ys = chart.scales.y;
    if (!area || !xs || !ys) return;
    const t0 = performance.now();
    ctx.save();
    ctx.beginPath();
    ctx.rect(area.left, area.top, area.width, area.height);
    ctx.clip();
    ctx.lineJoin = 'round';
    const order = [...this.lines.filter((l) => !l.top), ...this.lines.filter((l) => l.top)];
    for (const l of order) {
      if (!l.points.length) continue;
      ctx.strokeStyle = l.color;
      ctx.lineWidth = l.width;
      ctx.beginPath();
      let pen = false;
      for (const p of l.points) {
        if (!Number.isFinite(p.y) || (ys.type === 'logarithmic' && p.y <= 0)) {
          pen = false;
          continue;
        }
        const px = xs.getPixelForValue(p.x);
        const py = ys.getPixelForValue(p.y);
        if (pen) ctx.lineTo(px, py);
        else ctx.moveTo(px, py);
        pen = true;
      }
      ctx.stroke();
      if (l.dots > 0) {
        ctx.fillStyle = l.color;
        ctx.beginPath();
        for (const p of l.points) {
          if (!Number.isFinite(p.y) || (ys.type === 'logarithmic' && p.y <= 0)) continue;
          const px = xs.getPixelForValue(p.x);
          const py = ys.getPixelForValue(p.y);
          ctx.moveTo(px + l.dots, py);
          ctx.arc(px, py, l.dots, 0, 2 * Math.PI);
        }
        ctx.fill();
      }
    }
    ctx.restore();
    this.linesMs = performance.now() - t0;
  }

  private options(view: LossView): ChartOptions<'line'> {
    const t = view.theme;
    const font = { family: t.fontFamily, size: Math.max(10, t.fontSize - 1) };
    const border = { color: t.contrastBorder ?? t.grid };
    const afterDataLimits = (scale: { min: number; max: number }) => this.fitY(scale, view.logY);
    const y = (view.logY
      ? { ...logAxis(t, font, logTicks), grid: { color: t.grid }, border, afterDataLimits }
      : { type: 'linear', ticks: axisTicks(t, font), grid: { color: t.grid }, border, afterDataLimits }) as unknown as ScaleOptionsByType<'linear'>;
    return {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      resizeDelay: 0,
      normalized: true,
      parsing: false,
      events: ['click'], // legend clicks only: hover and zoom have their own listeners
      onResize: () => this.invalidate(),
      layout: { padding: { top: 2, right: 8 } },
      scales: {
        x: {
          type: 'linear',
          min: view.xmin,
          max: view.xmax,
          title: { display: true, text: AXIS_TITLE[view.axis], color: t.muted, font, padding: { top: 0, bottom: 0 } },
          ticks: { color: t.muted, font, maxRotation: 0, autoSkipPadding: 16, callback: (v) => formatAxisValue(view.axis, Number(v)) },
          grid: { color: t.grid },
          border,
        },
        y,
      },
      plugins: {
        legend: {
          display: this.curves.length > 1 && this.curves.length <= LEGEND_MAX_RUNS,
          position: 'top',
          align: 'end',
          labels: { color: t.foreground, font, boxWidth: 14, boxHeight: 3 },
          onClick: (_e, item) => {
            const c = this.curves[item.datasetIndex ?? -1];
            if (c) this.onLegendClick(c.run.run_dir);
          },
        },
        tooltip: { enabled: false },
      },
    };
  }
}

/** A scatter point: one run, in its colour (the runs table's and the curves'). */
export interface ScatterPoint extends XY {
  id: string;
  color: string;
}

export interface ScatterSeries {
  label: string;
  points: ScatterPoint[];
}

/** Marker shapes of the series (ranks), in order; beyond eight ranks they repeat. */
export const SCATTER_SHAPES = ['circle', 'rect', 'triangle', 'rectRot', 'star', 'crossRot', 'rectRounded', 'cross'] as const;

export class ScatterChart {
  readonly chart: Chart<'scatter', ScatterPoint[]>;
  private optionsKey = '';
  /** The points' x range (the log axis's ticks must fall within it). */
  private xData = { lo: NaN, hi: NaN };

  constructor(canvas: HTMLCanvasElement, theme: Theme) {
    this.chart = new Chart(canvas, { type: 'scatter', data: { datasets: [] }, options: this.options(theme, 'x', false) });
  }

  /**
   * Draws the series (points sorted by x, joined by a faint neutral line) with a linear or log x
   * axis. A series (rank) is a marker shape; a point's colour is its run's, so the scatter, the
   * runs table and the curves agree; the legend shows the shapes in the foreground colour.
   */
  render(series: ScatterSeries[], xLabel: string, logX: boolean, theme: Theme): void {
    // Room around the outermost points (a log axis gets a factor of 2 each side).
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of series) for (const p of s.points) [lo, hi] = [Math.min(lo, p.x), Math.max(hi, p.x)];
    const pad = lo < hi ? (hi - lo) * 0.05 : Math.abs(lo) * 0.1 || 1;
    const bounds = lo <= hi ? { suggestedMin: logX ? lo / 2 : lo - pad, suggestedMax: logX ? hi * 2 : hi + pad } : {};
    this.xData = { lo, hi };
    const key = `${xLabel}|${logX}|${lo}|${hi}|${JSON.stringify(theme)}`;
    if (key !== this.optionsKey) {
      this.chart.options = this.options(theme, xLabel, logX, bounds);
      this.optionsKey = key;
    }
    const line = withAlpha(theme.muted, 0.45);
    this.chart.data.datasets = series.map((s, i) => {
      const data = [...s.points].sort((a, b) => a.x - b.x);
      const colors = data.map((p) => p.color);
      return {
        label: s.label,
        data,
        // A line through a rank's points, unless several runs share an x (seeds): then points only.
        showLine: data.every((p, j) => j === 0 || p.x !== data[j - 1].x),
        borderColor: line,
        backgroundColor: theme.foreground, // the legend's marker
        borderWidth: 1,
        pointBackgroundColor: colors,
        pointBorderColor: colors,
        pointBorderWidth: 1.5,
        pointRadius: 5,
        pointHoverRadius: 7,
        pointStyle: SCATTER_SHAPES[i % SCATTER_SHAPES.length],
      };
    });
    this.chart.update('none');
  }

  /** What is drawn: per series its label and marker shape; per point x, y, run id and colour. */
  drawn(): { label: string; shape: string; points: [number, number, string, string][] }[] {
    return this.chart.data.datasets.map((d) => ({
      label: d.label ?? '',
      shape: String(d.pointStyle),
      points: d.data.map((p) => [p.x, p.y, p.id, p.color] as [number, number, string, string]),
    }));
  }

  /** The x axis's labelled ticks as drawn (after chart.js skips crowded ones). */
  get xTickLabels(): { value: number; label: string }[] {
    const x = this.chart.scales.x;
    if (!x) return [];
    return x.ticks.filter((t) => t.label !== '' && t.label !== undefined).map((t) => ({ value: t.value, label: String(t.label) }));
  }

  get xScaleType(): string {
    return this.chart.scales.x?.type ?? '';
  }

  private options(t: Theme, xLabel: string, logX: boolean, bounds: { suggestedMin?: number; suggestedMax?: number } = {}): ChartOptions<'scatter'> {
    const font = { family: t.fontFamily, size: Math.max(10, t.fontSize - 1) };
    const border = { color: t.contrastBorder ?? t.grid };
    const x = (logX
      ? { ...logAxis(t, font, (min, max) => decadeTicks(min, max, this.xData.lo, this.xData.hi)), grid: { color: t.grid }, border, ...bounds }
      : { type: 'linear', ticks: axisTicks(t, font), grid: { color: t.grid }, border, ...bounds }) as unknown as ScaleOptionsByType<'linear'>;
    x.title = { display: true, text: logX ? `${xLabel} (log)` : xLabel, color: t.muted, font, padding: { top: 0, bottom: 0 } } as never;
    return {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      resizeDelay: 0,
      layout: { padding: { top: 2, right: 12 } },
      scales: {
        x,
        y: {
          type: 'linear',
          grace: '5%',
          title: { display: true, text: 'best validation loss', color: t.muted, font, padding: { top: 0, bottom: 0 } },
          ticks: axisTicks(t, font),
          grid: { color: t.grid },
          border,
        },
      },
      plugins: {
        // The legend explains the shapes (ranks); the colours are the runs', named in the runs table.
        legend: {
          position: 'top',
          align: 'end',
          labels: {
            color: t.foreground,
            font,
            boxWidth: 10,
            boxHeight: 10,
            usePointStyle: true,
            generateLabels: (chart) =>
              Chart.defaults.plugins.legend.labels.generateLabels(chart).map((l) => ({ ...l, fillStyle: t.foreground, strokeStyle: t.foreground })),
          },
        },
        tooltip: {
          backgroundColor: t.tooltipBackground,
          borderColor: t.tooltipBorder,
          borderWidth: 1,
          titleColor: t.foreground,
          bodyColor: t.foreground,
          titleFont: { ...font, weight: 'bold' },
          bodyFont: font,
          callbacks: {
            title: (items) => (items[0]?.raw as ScatterPoint | undefined)?.id ?? '',
            label: (item) => `${item.dataset.label}: ${xLabel} ${formatValue(item.parsed.x ?? NaN)}, best val loss ${formatValue(item.parsed.y ?? NaN)}`,
          },
        },
      },
    };
  }
}
