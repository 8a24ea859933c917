/**
 * The dashboard's four line charts (chart.js, tree-shaken: only the line controller, linear
 * and log scales, legend and tooltip are registered). A chart never owns the data: on every
 * render it is handed a bounded, min/max-downsampled view of the series (≈ 2 points per pixel
 * of plot width), so 100,000 steps draw as fast as 1,000. Animation, parsing and index
 * normalisation are off/on as chart.js's performance guide advises.
 */
import {
  Chart,
  Interaction,
  Legend,
  LineController,
  LineElement,
  LinearScale,
  LogarithmicScale,
  PointElement,
  Tooltip,
  type ChartDataset,
  type ChartOptions,
  type InteractionItem,
  type Plugin,
  type ScaleOptionsByType,
} from 'chart.js';
import { IncrementalMinMax, lowerBound, type XY } from './downsample';
import { formatTick, formatValue } from './format';
import { logTicks } from './logticks';
import type { Series } from './series';
import { withAlpha, type ChartColor, type Theme } from './theme';

Chart.register(LineController, LineElement, PointElement, LinearScale, LogarithmicScale, Legend, Tooltip);

/**
 * Interaction mode `nearestPerDataset`: for every visible dataset, its point nearest to the
 * pointer in x. chart.js's `nearest` mode keeps only the globally nearest points, so between
 * two eval steps the tooltip showed train loss alone; here validation loss (logged every
 * eval_steps) shows its nearest value too.
 */
const nearestPerDataset = (chart: Chart, e: { x: number | null }): InteractionItem[] => {
  const items: InteractionItem[] = [];
  const area = chart.chartArea;
  if (e.x === null || !area || e.x < area.left || e.x > area.right) return items;
  const x = chart.scales.x.getValueForPixel(e.x) ?? NaN;
  chart.data.datasets.forEach((ds, datasetIndex) => {
    const meta = chart.getDatasetMeta(datasetIndex);
    const data = ds.data as XY[];
    if (!chart.isDatasetVisible(datasetIndex) || !data.length) return;
    const xs = { length: data.length } as { length: number; [i: number]: number };
    for (let i = 0; i < data.length; i++) xs[i] = data[i].x;
    const i = lowerBound(xs, data.length, x);
    const j = i >= data.length ? data.length - 1 : i > 0 && x - data[i - 1].x < data[i].x - x ? i - 1 : i;
    if (meta.data[j]) items.push({ element: meta.data[j], datasetIndex, index: j });
  });
  return items;
};
(Interaction.modes as unknown as Record<string, unknown>).nearestPerDataset = nearestPerDataset;

/** Metrics row fields that are charted. */
export type SeriesKey = 'train_loss' | 'val_loss' | 'lr' | 'grad_norm' | 'tokens_per_s';
export type ChartName = 'loss' | 'lr' | 'grad_norm' | 'tokens_per_s';

export interface SeriesSpec {
  key: SeriesKey;
  label: string;
  color: ChartColor;
  /** Follows the smoothing slider (noisy per-step values); others are always drawn raw. */
  smooth: boolean;
}

export interface ChartSpec {
  name: ChartName;
  /** The caption: short enough for one line at the narrowest chart width. */
  title: string;
  /** The caption's tooltip and the canvas's accessible name, where the title is abbreviated. */
  tip?: string;
  series: SeriesSpec[];
  legend: boolean;
  /** Follows the log-scale toggle. */
  logToggle: boolean;
}

export const CHART_SPECS: readonly ChartSpec[] = [
  {
    name: 'loss',
    title: 'Loss',
    series: [
      { key: 'train_loss', label: 'train loss', color: 'blue', smooth: true },
      { key: 'val_loss', label: 'validation loss', color: 'orange', smooth: false },
    ],
    legend: true,
    logToggle: true,
  },
  { name: 'lr', title: 'Learning rate', series: [{ key: 'lr', label: 'learning rate', color: 'purple', smooth: false }], legend: false, logToggle: false },
  { name: 'grad_norm', title: 'Grad norm (pre-clip)', tip: 'Gradient norm before clipping', series: [{ key: 'grad_norm', label: 'grad norm', color: 'yellow', smooth: true }], legend: false, logToggle: false },
  { name: 'tokens_per_s', title: 'Throughput (tokens/s)', series: [{ key: 'tokens_per_s', label: 'tokens/s', color: 'green', smooth: true }], legend: false, logToggle: false },
];

export const SERIES_KEYS: readonly SeriesKey[] = CHART_SPECS.flatMap((c) => c.series.map((s) => s.key));

/** The tooltip's step: that of the densest series' point (train loss, not validation every eval_steps). */
function titleStep(items: readonly { parsed: { x: number | null }; dataset: { data: unknown[] } }[]): number {
  let best = items[0];
  for (const it of items) if (it.dataset.data.length > best.dataset.data.length) best = it;
  return best?.parsed.x ?? 0;
}

/** What one render needs to know. */
export interface View {
  xmin: number;
  xmax: number;
  /** A zoom is set (else the view is every logged step). */
  zoomed?: boolean;
  smoothing: number;
  logY: boolean;
  theme: Theme;
  /** Steps the run was resumed from: a dashed marker on each chart. */
  resumes?: readonly number[];
}

/** A dataset of the chart: the series itself, or (`raw`) its faint unsmoothed copy behind it. */
interface Slot {
  spec: SeriesSpec;
  raw: boolean;
  reducer: IncrementalMinMax;
}

export interface DrawnDataset {
  label: string;
  /** Line colour as drawn (a theme colour; rgba() for a faint raw copy). */
  color: string;
  points: [number, number][];
}

export class MetricChart {
  readonly chart: Chart<'line', XY[]>;
  private readonly slots: Slot[] = [];
  private readonly hidden = new Set<SeriesKey>();
  private optionsKey = '';
  private view: View;
  /** Steps the last draw marked as resumes (for the test hook). */
  markersDrawn: number[] = [];

  constructor(
    readonly spec: ChartSpec,
    canvas: HTMLCanvasElement,
    view: View,
    /** Asks for a render (after a resize, or a legend click). */
    private readonly invalidate: () => void,
  ) {
    this.view = view;
    const datasets: ChartDataset<'line', XY[]>[] = [];
    // Raw copies first with a higher `order`: chart.js draws higher orders first (behind).
    for (const raw of [true, false]) {
      for (const s of spec.series) {
        if (raw && !s.smooth) continue;
        this.slots.push({ spec: s, raw, reducer: new IncrementalMinMax() });
        // Validation loss is drawn last (on top of the noisy train loss), a little wider.
        const validation = s.key === 'val_loss';
        datasets.push({
          label: raw ? `${s.label} (raw)` : s.label,
          data: [],
          order: raw ? 1 : validation ? -1 : 0,
          borderWidth: raw ? 1 : validation ? 2.25 : 1.75,
          pointBorderWidth: validation ? 1.25 : 1,
          pointRadius: 0,
          pointHoverRadius: raw ? 0 : 3,
          tension: 0,
          spanGaps: true,
          normalized: true,
          parsing: false,
          hidden: raw,
        });
      }
    }
    this.chart = new Chart(canvas, { type: 'line', data: { datasets }, options: this.options(view), plugins: [this.resumeMarkers()] });
  }

  /**
   * A dashed vertical line at each step the run was resumed from, labelled "resumed" on the loss
   * chart, so a bend or jump there reads as the restart it is.
   */
  private resumeMarkers(): Plugin<'line'> {
    return {
      id: 'resumeMarkers',
      afterDatasetsDraw: (chart) => {
        const area = chart.chartArea;
        const x = chart.scales.x;
        const drawn: number[] = [];
        const t = this.view.theme;
        const ctx = chart.ctx;
        for (const step of this.view.resumes ?? []) {
          if (step < this.view.xmin || step > this.view.xmax) continue;
          const px = Math.round(x.getPixelForValue(step)) + 0.5;
          ctx.save();
          ctx.strokeStyle = t.foreground;
          ctx.globalAlpha = 0.7;
          ctx.lineWidth = 1;
          ctx.setLineDash([4, 3]);
          ctx.beginPath();
          ctx.moveTo(px, area.top);
          ctx.lineTo(px, area.bottom);
          ctx.stroke();
          if (this.spec.name === 'loss') {
            ctx.setLineDash([]);
            ctx.globalAlpha = 1;
            ctx.fillStyle = t.muted;
            ctx.font = `${Math.max(10, t.fontSize - 2)}px ${t.fontFamily}`;
            ctx.textBaseline = 'top';
            ctx.fillText(`resumed (step ${step})`, px + 4, area.top + 2);
          }
          ctx.restore();
          drawn.push(step);
        }
        this.markersDrawn = drawn;
      },
    };
  }

  /** Canvas coordinates (CSS px) of `step` on the x axis, y at mid-plot. */
  stepPixel(step: number): { x: number; y: number } {
    const a = this.chart.chartArea;
    return { x: this.chart.scales.x.getPixelForValue(step), y: (a.top + a.bottom) / 2 };
  }

  /** The tooltip shown now: title, then its body lines (empty when hidden). */
  tooltipLines(): string[] {
    const tip = this.chart.tooltip;
    if (!tip || tip.opacity === 0 || !tip.getActiveElements().length) return [];
    return [...(tip.title ?? []), ...tip.body.flatMap((b) => b.lines)];
  }

  /** Canvas pixel of the drawn point of dataset `label` at `step`, and the plot area. */
  pointPixel(label: string, step: number): { x: number; y: number; area: { left: number; right: number; top: number; bottom: number } } | null {
    const i = this.chart.data.datasets.findIndex((d) => d.label === label);
    if (i < 0) return null;
    const j = this.chart.data.datasets[i].data.findIndex((p) => p.x === step);
    const el = this.chart.getDatasetMeta(i).data[j];
    if (!el) return null;
    const a = this.chart.chartArea;
    return { x: el.x, y: el.y, area: { left: a.left, right: a.right, top: a.top, bottom: a.bottom } };
  }

  /** Width of the plot area in CSS pixels (the canvas width before the first layout). */
  get plotWidth(): number {
    const area = this.chart.chartArea;
    return Math.max(1, Math.round(area && area.width > 0 ? area.width : this.chart.width || 300));
  }

  get canvasWidth(): number {
    return this.chart.width;
  }

  /** Points drawn, summed over the visible datasets. */
  get drawnPointCount(): number {
    return this.chart.data.datasets.reduce((n, d) => n + (d.hidden ? 0 : d.data.length), 0);
  }

  /**
   * Recomputes the drawn points from the stores and redraws (synchronously, no animation).
   * Returns the milliseconds spent downsampling.
   */
  render(stores: ReadonlyMap<SeriesKey, Series>, view: View): number {
    this.view = view;
    // Options are rebuilt only for a new theme or axis type; the step range changes in place.
    const key = `${view.logY}|${JSON.stringify(view.theme)}`;
    if (key !== this.optionsKey) {
      this.chart.options = this.options(view);
      this.optionsKey = key;
    }
    const x = this.chart.options.scales!.x!;
    x.min = view.xmin;
    x.max = view.xmax;
    const buckets = this.plotWidth;
    const t0 = performance.now();
    const smoothingOn = view.smoothing > 0;
    let styleChanged = false;
    this.chart.data.datasets.forEach((ds, i) => {
      const { spec, raw, reducer } = this.slots[i];
      const store = stores.get(spec.key)!;
      const smoothed = spec.smooth && smoothingOn;
      const off = this.hidden.has(spec.key) || (raw && !smoothed);
      ds.hidden = off;
      const ys = raw || !smoothed ? store.ys : store.smoothed;
      ds.data = off ? [] : reducer.points(store.xs, ys, store.length, view.xmin, view.xmax, buckets, store.version);
      const color = view.theme.charts[spec.color];
      ds.borderColor = raw ? withAlpha(color, view.theme.faintAlpha) : color;
      ds.backgroundColor = ds.borderColor;
      // A dot ringed in the background colour stands out from the lines it sits on.
      (ds as { pointBorderColor?: string }).pointBorderColor = view.theme.background;
      // Unzoomed, the first and last points sit on the plot's edges (the step-0 validation
      // loss): let their dots (radius 2.5) draw over the edge instead of being cut in half.
      // Zoomed, lines run to points outside the range and must stop at the edge.
      (ds as { clip?: number }).clip = view.zoomed ? 0 : 5;
      // Sparse series (validation loss every eval_steps, or a run's first steps) get dots.
      const radius = !raw && ds.data.length > 0 && ds.data.length <= 60 ? 2.5 : 0;
      const point = ds as { pointRadius?: number };
      if (point.pointRadius !== radius) {
        point.pointRadius = radius;
        styleChanged = true;
      }
    });
    const ms = performance.now() - t0;
    // 'none' skips re-resolving the point options chart.js shares between points, so a
    // changed radius needs a full update (instant too: animation is off).
    if (styleChanged) this.chart.update();
    else this.chart.update('none');
    return ms;
  }

  /** What the chart draws now (datasets hidden or empty left out), for the test hook. */
  drawn(): DrawnDataset[] {
    return this.chart.data.datasets.filter((d) => !d.hidden && d.data.length > 0).map((d) => ({ label: d.label ?? '', color: String(d.borderColor), points: d.data.map((p) => [p.x, p.y] as [number, number]) }));
  }

  /** The y axis's tick labels as drawn, bottom to top (for the test hook). */
  yTickLabels(): string[] {
    const y = this.chart.scales.y;
    return y ? y.ticks.map((t) => String(t.label ?? '')) : [];
  }

  get yScaleType(): string {
    return this.chart.scales.y?.type ?? String((this.chart.options.scales?.y as { type?: string } | undefined)?.type);
  }

  destroy(): void {
    this.chart.destroy();
  }

  private options(view: View): ChartOptions<'line'> {
    const t = view.theme;
    const font = { family: t.fontFamily, size: Math.max(10, t.fontSize - 1) };
    const border = { color: t.contrastBorder ?? t.grid };
    const logY = this.spec.logToggle && view.logY;
    const yTicks = {
      color: t.muted,
      font,
      maxTicksLimit: 8,
      callback: (value: number | string): string => formatTick(Number(value)),
    };
    // The loss axis says its unit: token-mean cross-entropy (natural log).
    const title = this.spec.name === 'loss' ? { title: { display: true, text: 'loss, nats/token', color: t.muted, font, padding: { top: 0, bottom: 2 } } } : {};
    const y = (logY
      ? {
          type: 'logarithmic',
          ticks: yTicks,
          grid: { color: t.grid },
          border,
          ...title,
          // chart.js puts log ticks at 1…9 × 10^k only; replace them with ticks that cover the range.
          afterBuildTicks: (scale: { min: number; max: number; ticks: { value: number }[] }) => {
            scale.ticks = logTicks(scale.min, scale.max).map((value) => ({ value }));
          },
        }
      : { type: 'linear', ticks: yTicks, grid: { color: t.grid }, border, grace: '2%', ...title, ...(this.spec.name === 'lr' ? { min: 0 } : {}) }) as unknown as ScaleOptionsByType<'linear'>;
    return {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      resizeDelay: 0,
      normalized: true,
      parsing: false,
      spanGaps: true,
      onResize: () => this.invalidate(),
      interaction: { mode: 'nearestPerDataset' as 'nearest', axis: 'x', intersect: false },
      layout: { padding: { top: 2, right: 8 } },
      scales: {
        x: {
          type: 'linear',
          min: view.xmin,
          max: view.xmax,
          title: { display: true, text: 'step', color: t.muted, font, padding: { top: 0, bottom: 0 } },
          ticks: { color: t.muted, font, maxRotation: 0, autoSkipPadding: 16, precision: 0, callback: (v) => formatTick(Number(v)) },
          grid: { color: t.grid },
          border,
        },
        y,
      },
      plugins: {
        legend: {
          display: this.spec.legend,
          position: 'top',
          align: 'end',
          labels: {
            color: t.foreground,
            font,
            boxWidth: 14,
            boxHeight: 3,
            filter: (item) => !this.slots[item.datasetIndex ?? 0]?.raw,
            // Series order (train, then validation), not drawing order.
            sort: (a, b) => (a.datasetIndex ?? 0) - (b.datasetIndex ?? 0),
          },
          onClick: (_e, item) => {
            const slot = this.slots[item.datasetIndex ?? -1];
            if (!slot) return;
            if (this.hidden.has(slot.spec.key)) this.hidden.delete(slot.spec.key);
            else this.hidden.add(slot.spec.key);
            this.invalidate();
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
          displayColors: true,
          boxWidth: 8,
          boxHeight: 8,
          callbacks: {
            // The step of the nearest train-loss point; a series logged less often (validation)
            // says the step of its own nearest point when that differs.
            title: (items) => (items.length ? `step ${formatValue(titleStep(items))}` : ''),
            label: (item) => {
              const step = item.parsed.x ?? 0;
              const title = titleStep(item.chart.tooltip?.dataPoints ?? [item]);
              return `${item.dataset.label}${step !== title ? ` (step ${formatValue(step)})` : ''}: ${formatValue(item.parsed.y ?? NaN)}`;
            },
          },
        },
      },
    };
  }
}
