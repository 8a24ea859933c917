/**
 * The hover readout of a loss chart: at the pointer's x, every run's drawn value (smoothed train
 * loss, raw validation loss) at its nearest logged point, sorted from lowest to highest, with
 * the run's colour. Runs whose curve does not reach that x are left out. Many runs flow into
 * columns so 100 of them fit beside the pointer.
 */
import { runLabel } from '../../src/protocol/run-label';
import { lowerBound } from '../dashboard/downsample';
import { formatLossCell } from './columns';
import { type LossSeries, type RunCurves, type XAxis } from './model';

export interface ReadoutEntry {
  id: string;
  /** The run as people read it: `tiny · 2026-12-06 23:39:11` (`runLabel`). */
  label: string;
  run_dir: string;
  color: string;
  /** x of the run's point used (nearest to the pointer). */
  x: number;
  value: number;
}

/**
 * Each run's value at x: the point nearest to x among the run's logged points, for runs whose
 * points span x (within `tolerance` of its first and last x). Sorted by value, lowest first.
 */
export function valuesAt(curves: readonly RunCurves[], series: LossSeries, axis: XAxis, smoothing: number, x: number, tolerance: number): ReadoutEntry[] {
  const out: ReadoutEntry[] = [];
  for (const c of curves) {
    const xs = c.xs(series, axis);
    const n = xs?.length ?? 0;
    if (!xs || n === 0 || x < xs[0] - tolerance || x > xs[n - 1] + tolerance) continue;
    const ys = c.ys(series, smoothing);
    const i = lowerBound(xs, n, x);
    const j = i >= n ? n - 1 : i > 0 && x - xs[i - 1] < xs[i] - x ? i - 1 : i;
    if (!Number.isFinite(ys[j])) continue;
    out.push({ id: c.run.id, label: runLabel(c.run), run_dir: c.run.run_dir, color: c.color, x: xs[j], value: ys[j] });
  }
  return out.sort((a, b) => a.value - b.value || a.id.localeCompare(b.id));
}

/** Rows per column of the readout before it flows into another column. */
const ROWS_PER_COLUMN = 34;

export class Readout {
  constructor(
    private readonly box: HTMLElement,
    private readonly line: HTMLElement,
  ) {}

  show(title: string, entries: readonly ReadoutEntry[], highlight: string | null, px: number, containerWidth: number): void {
    if (!entries.length) return this.hide();
    const columns = Math.ceil(entries.length / ROWS_PER_COLUMN);
    const head = document.createElement('div');
    head.className = 'readout-title';
    head.textContent = title;
    const list = document.createElement('ol');
    list.style.setProperty('--rows', String(Math.min(entries.length, ROWS_PER_COLUMN)));
    list.dataset.columns = String(columns);
    for (const e of entries) {
      const li = document.createElement('li');
      if (e.run_dir === highlight) li.className = 'highlight';
      const sw = document.createElement('span');
      sw.className = 'swatch';
      sw.style.setProperty('--swatch', e.color);
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = e.label;
      name.title = e.id;
      const v = document.createElement('span');
      v.className = 'value';
      v.textContent = formatLossCell(e.value);
      li.append(sw, name, v);
      list.append(li);
    }
    this.box.replaceChildren(head, list);
    this.box.hidden = false;
    this.line.hidden = false;
    this.line.style.left = `${px}px`;
    // Beside the pointer, on the side with more room.
    const w = this.box.offsetWidth;
    const left = px + 14 + w <= containerWidth ? px + 14 : Math.max(0, px - 14 - w);
    this.box.style.left = `${left}px`;
  }

  hide(): void {
    this.box.hidden = true;
    this.line.hidden = true;
  }
}
