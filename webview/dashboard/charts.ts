/**
 * The dashboard's four line charts (chart.js, tree-shaken: only the line controller, linear
 * and log scales, legend and tooltip are registered). A chart never owns the data: on every
 * render it is handed a bounded, min/max-downsampled view of the series (≈ 2 points per pixel
 * of plot width), so 100,000 steps draw as fast as 1,000. Animation, parsing and index
 * normalisation are off/on as chart.js's performance guide advises.
 */
import {
  Chart,
  Legend,
  LineController,
  LineElement,
  LinearScale,
  LogarithmicScale,
  PointElement,
  Tooltip,
  type ChartDataset,
  type ChartOptions,
  type ScaleOptionsByType,
} from 'chart.js';
import { IncrementalMinMax, type XY } from './downsample';
import { formatTick, formatValue } from './format';
import type { Series } from './series';
import { withAlpha, type ChartColor, type Theme } from './theme';

Chart.register(LineController, LineElement, PointElement, LinearScale, LogarithmicScale, Legend, Tooltip);

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
  title: string;
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
  { name: 'grad_norm', title: 'Gradient norm (before clipping)', series: [{ key: 'grad_norm', label: 'grad norm', color: 'yellow', smooth: true }], legend: false, logToggle: false },
  { name: 'tokens_per_s', title: 'Throughput (tokens/s)', series: [{ key: 'tokens_per_s', label: 'tokens/s', color: 'green', smooth: true }], legend: false, logToggle: false },
];

export const SERIES_KEYS: readonly SeriesKey[] = CHART_SPECS.flatMap((c) => c.series.map((s) => s.key));

/** What one render needs to know. */
export interface View {
  xmin: number;
  xmax: number;
  smoothing: number;
  logY: boolean;
  theme: Theme;
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

  constructor(
    readonly spec: ChartSpec,
    canvas: HTMLCanvasElement,
    view: View,
    /** Asks for a render (after a resize, or a legend click). */
    private readonly invalidate: () => void,
  ) {
    const datasets: ChartDataset<'line', XY[]>[] = [];
    // Raw copies first with a higher `order`: chart.js draws higher orders first (behind).
    for (const raw of [true, false]) {
      for (const s of spec.series) {
        if (raw && !s.smooth) continue;
        this.slots.push({ spec: s, raw, reducer: new IncrementalMinMax() });
        datasets.push({
          label: raw ? `${s.label} (raw)` : s.label,
          data: [],
          order: raw ? 1 : 0,
          borderWidth: raw ? 1 : 1.75,
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
    this.chart = new Chart(canvas, { type: 'line', data: { datasets }, options: this.options(view) });
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
      callback: (value: number | string): string => {
        const v = Number(value);
        if (!logY) return formatTick(v);
        // Log axes get a tick at every 1…9 × 10^k; label only 1, 2 and 5 of each decade.
        const m = Math.round(v / 10 ** Math.floor(Math.log10(v) + 1e-9));
        return m === 1 || m === 2 || m === 5 ? formatTick(v) : '';
      },
    };
    const y = (logY
      ? { type: 'logarithmic', ticks: yTicks, grid: { color: t.grid }, border }
      : { type: 'linear', ticks: yTicks, grid: { color: t.grid }, border, grace: '2%', ...(this.spec.name === 'lr' ? { min: 0 } : {}) }) as unknown as ScaleOptionsByType<'linear'>;
    return {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      resizeDelay: 0,
      normalized: true,
      parsing: false,
      spanGaps: true,
      onResize: () => this.invalidate(),
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
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
            title: (items) => (items.length ? `step ${formatValue(items[0].parsed.x ?? 0)}` : ''),
            label: (item) => `${item.dataset.label}: ${formatValue(item.parsed.y ?? NaN)}`,
          },
        },
      },
    };
  }
}
