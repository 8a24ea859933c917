/**
 * One metric over steps, kept whole in memory (growable Float64Arrays: 100,000 points cost
 * 2.4 MB) together with its smoothed values, which are extended incrementally on append and
 * recomputed only when the smoothing weight changes. The charts never see this directly: they
 * get a bounded, downsampled view (downsample.ts).
 */
import { DebiasedEma } from './smoothing';

export class Series {
  xs = new Float64Array(1024);
  ys = new Float64Array(1024);
  /** Smoothed ys (equal to ys when the weight is 0). */
  smoothed = new Float64Array(1024);
  length = 0;
  /** Bumped whenever points already stored change (not on a plain append): caches key on it. */
  version = 0;
  private ema: DebiasedEma;

  constructor(private weight = 0) {
    this.ema = new DebiasedEma(weight);
  }

  get smoothingWeight(): number {
    return this.weight;
  }

  /**
   * Appends (step, value). Non-finite values (a NaN loss arrives as null) are skipped. A step
   * at or below the last one means the run was resumed from an earlier checkpoint and the
   * file continues from there: the points from that step on are dropped first (TensorBoard
   * purges such orphaned points the same way), so the curve never folds back on itself.
   */
  push(x: number, y: number): void {
    if (!Number.isFinite(x) || !Number.isFinite(y)) return;
    if (this.length > 0 && x <= this.xs[this.length - 1]) this.truncateFrom(x);
    if (this.length === this.xs.length) this.grow();
    this.xs[this.length] = x;
    this.ys[this.length] = y;
    this.smoothed[this.length] = this.ema.next(y);
    this.length++;
  }

  /** Drops every point with step ≥ x. */
  truncateFrom(x: number): void {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.xs[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    if (lo === this.length) return;
    this.length = lo;
    this.resmooth();
  }

  setSmoothing(weight: number): void {
    if (weight === this.weight) return;
    this.weight = weight;
    this.resmooth();
  }

  clear(): void {
    this.length = 0;
    this.version++;
    this.ema = new DebiasedEma(this.weight);
  }

  get lastX(): number | undefined {
    return this.length ? this.xs[this.length - 1] : undefined;
  }

  private resmooth(): void {
    this.version++;
    this.ema = new DebiasedEma(this.weight);
    for (let i = 0; i < this.length; i++) this.smoothed[i] = this.ema.next(this.ys[i]);
  }

  private grow(): void {
    const n = this.xs.length * 2;
    for (const key of ['xs', 'ys', 'smoothed'] as const) {
      const next = new Float64Array(n);
      next.set(this[key]);
      this[key] = next;
    }
  }
}
