/**
 * The dashboard's eval-set chart: one line per `eval/<set>/<metric>` key the run logged (the
 * trainer evaluates its eval sets at each checkpoint: issue "Evaluate in the editor"), on the
 * same step axis and zoom as the other charts, beside the loss chart. Shown only once a row
 * carries such a key. Checkpoint results are sparse, so each point is drawn as a dot and every
 * point in the visible range is drawn (the min/max downsampling keeps it bounded all the same).
 */
import { Chart, Legend, LineController, LineElement, LinearScale, PointElement, Tooltip, type ChartDataset, type ChartOptions } from 'chart.js';
import { minMaxDownsample, type XY } from './downsample';
import { formatTick, formatValue } from './format';
import type { Series } from './series';
import type { DrawnDataset, View } from './charts';

Chart.register(LineController, LineElement, PointElement, LinearScale, Legend, Tooltip);

/** The legend's name of a key: `qa/exact` for `eval/qa/exact`. */
export const evalLabel = (key: string): string => key.replace(/^eval\//, '');

export class EvalChart {
  readonly chart: Chart<'line', XY[]>;
  private keys: string[] = [];
  private optionsKey = '';

  constructor(canvas: HTMLCanvasElement, view: View, private readonly invalidate: () => void) {
    this.chart = new Chart(canvas, { type: 'line', data: { datasets: [] }, options: this.options(view) });
  }

  get drawnPointCount(): number {
    return this.chart.data.datasets.reduce((n, d) => n + d.data.length, 0);
  }

  /** Redraws the series of `stores` (key → series) over the view's step range. */
  render(stores: ReadonlyMap<string, Series>, view: View): void {
    const key = JSON.stringify(view.theme);
    if (key !== this.optionsKey) {
      this.chart.options = this.options(view);
      this.optionsKey = key;
    }
    const x = this.chart.options.scales!.x!;
    x.min = view.xmin;
    x.max = view.xmax;
    const keys = [...stores.keys()].sort();
    if (keys.join('\n') !== this.keys.join('\n')) {
      this.keys = keys;
      this.chart.data.datasets = keys.map((k): ChartDataset<'line', XY[]> => ({ label: evalLabel(k), data: [], borderWidth: 1.75, pointRadius: 3, pointHoverRadius: 4, tension: 0, spanGaps: true, clip: 5 }));
    }
    const c = view.theme.charts;
    const palette = [c.green, c.purple, c.red, c.yellow, c.blue, c.orange];
    const width = Math.max(1, Math.round(this.chart.chartArea?.width || this.chart.width || 300));
    this.chart.data.datasets.forEach((ds, i) => {
      const s = stores.get(this.keys[i])!;
      ds.data = minMaxDownsample(s.xs, s.ys, s.length, view.xmin, view.xmax, width);
      ds.borderColor = palette[i % palette.length];
      ds.backgroundColor = ds.borderColor;
      (ds as { pointStyle?: string }).pointStyle = (['circle', 'rect', 'triangle', 'rectRot', 'crossRot', 'star'] as const)[Math.floor(i / palette.length) % 6];
    });
    // A full update: point colours are resolved per element (a few checkpoints: cheap).
    this.chart.update();
  }

  drawn(): DrawnDataset[] {
    return this.chart.data.datasets.map((d) => ({ label: d.label ?? '', color: String(d.borderColor), points: d.data.map((p) => [p.x, p.y] as [number, number]) }));
  }

  private options(view: View): ChartOptions<'line'> {
    const t = view.theme;
    const font = { family: t.fontFamily, size: Math.max(10, t.fontSize - 1) };
    const border = { color: t.contrastBorder ?? t.grid };
    return {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      resizeDelay: 0,
      normalized: true,
      parsing: false,
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
        y: { type: 'linear', grace: '5%', ticks: { color: t.muted, font, maxTicksLimit: 6, callback: (v) => formatTick(Number(v)) }, grid: { color: t.grid }, border },
      },
      plugins: {
        legend: { display: true, position: 'top', align: 'end', labels: { color: t.foreground, font, boxWidth: 7, boxHeight: 7, usePointStyle: true } },
        tooltip: {
          backgroundColor: t.tooltipBackground,
          borderColor: t.tooltipBorder,
          borderWidth: 1,
          titleColor: t.foreground,
          bodyColor: t.foreground,
          titleFont: { ...font, weight: 'bold' },
          bodyFont: font,
          callbacks: {
            title: (items) => (items.length ? `step ${formatValue(items[0].parsed.x ?? 0)}` : ''),
            label: (item) => `${item.dataset.label}: ${formatValue(item.parsed.y ?? NaN)}`,
          },
        },
      },
    };
  }
}
