/**
 * Drag-to-zoom on the step axis (no chart.js plugin): press, drag across a chart and release to
 * show only that step range on every chart; double-click (or "Reset zoom") shows everything
 * again. The downsampler then spends the pixel budget on the zoomed range, so zooming in
 * reveals detail that the whole-run view merges.
 */
import type { Chart } from 'chart.js';

export interface ZoomTarget {
  canvas: HTMLCanvasElement;
  /** Absolutely positioned band shown while dragging. */
  band: HTMLElement;
  chart: Chart<'line', unknown[]>;
}

/** Drags shorter than this many pixels are clicks, not zooms. */
const MIN_DRAG_PX = 4;

export function attachZoom(t: ZoomTarget, onZoom: (min: number, max: number) => void, onReset: () => void): void {
  let start: number | null = null;
  const area = (): { left: number; right: number } => {
    const a = t.chart.chartArea;
    return a ? { left: a.left, right: a.right } : { left: 0, right: t.canvas.clientWidth };
  };
  const localX = (e: PointerEvent | MouseEvent): number => {
    const a = area();
    const x = e.clientX - t.canvas.getBoundingClientRect().left;
    return Math.min(a.right, Math.max(a.left, x));
  };
  const showBand = (a: number, b: number): void => {
    t.band.hidden = false;
    t.band.style.left = `${Math.min(a, b)}px`;
    t.band.style.width = `${Math.abs(b - a)}px`;
  };
  t.canvas.addEventListener('pointerdown', (e) => {
    if (e.button !== 0) return;
    start = localX(e);
    t.canvas.setPointerCapture(e.pointerId);
  });
  t.canvas.addEventListener('pointermove', (e) => {
    if (start !== null) showBand(start, localX(e));
  });
  const finish = (e: PointerEvent, apply: boolean): void => {
    if (start === null) return;
    const end = localX(e);
    const a = Math.min(start, end);
    const b = Math.max(start, end);
    start = null;
    t.band.hidden = true;
    if (!apply || b - a < MIN_DRAG_PX) return;
    const x = t.chart.scales.x;
    const min = x.getValueForPixel(a);
    const max = x.getValueForPixel(b);
    if (min !== undefined && max !== undefined && max > min) onZoom(min, max);
  };
  t.canvas.addEventListener('pointerup', (e) => finish(e, true));
  t.canvas.addEventListener('pointercancel', (e) => finish(e, false));
  t.canvas.addEventListener('dblclick', () => onReset());
}
