/**
 * Min/max downsampling for line charts (what W&B does for its line plots): however many points
 * a series holds, the chart gets at most about two per horizontal pixel. The visible x range is
 * split into `buckets` equal intervals (one per pixel); each bucket keeps its lowest and its
 * highest point, in x order. A spike therefore always survives — an average or a stride would
 * erase it — and the drawn envelope looks the same as drawing every point.
 */

export interface XY {
  x: number;
  y: number;
}

/** First index with xs[i] ≥ x (xs sorted ascending, first n used). */
export function lowerBound(xs: ArrayLike<number>, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Points of (xs, ys)[0, n) whose x lies in [xmin, xmax], plus the nearest point outside on
 * each side (so the line runs on to the edge of a zoomed chart), reduced to at most
 * 2 · buckets + 2 points: all of them when they fit, else per-bucket min and max.
 */
export function minMaxDownsample(
  xs: ArrayLike<number>,
  ys: ArrayLike<number>,
  n: number,
  xmin: number,
  xmax: number,
  buckets: number,
): XY[] {
  if (n === 0) return [];
  const lo = lowerBound(xs, n, xmin);
  let hi = lowerBound(xs, n, xmax);
  while (hi < n && xs[hi] <= xmax) hi++;
  const out: XY[] = [];
  // Points just outside the range, kept as they are.
  const before = lo > 0 ? lo - 1 : -1;
  const after = hi < n ? hi : -1;
  if (before >= 0) out.push({ x: xs[before], y: ys[before] });
  buckets = Math.max(1, Math.floor(buckets));
  if (hi - lo <= 2 * buckets) {
    for (let i = lo; i < hi; i++) out.push({ x: xs[i], y: ys[i] });
  } else {
    const span = xmax - xmin;
    const scale = span > 0 ? buckets / span : 0;
    let bucket = -1;
    let minI = -1;
    let maxI = -1;
    const flush = (): void => {
      if (minI < 0) return;
      const a = Math.min(minI, maxI);
      const b = Math.max(minI, maxI);
      out.push({ x: xs[a], y: ys[a] });
      if (b !== a) out.push({ x: xs[b], y: ys[b] });
    };
    for (let i = lo; i < hi; i++) {
      let b = Math.floor((xs[i] - xmin) * scale);
      if (b >= buckets) b = buckets - 1;
      if (b !== bucket) {
        flush();
        bucket = b;
        minI = maxI = i;
      } else {
        const y = ys[i];
        if (y < ys[minI]) minI = i;
        if (y > ys[maxI]) maxI = i;
      }
    }
    flush();
  }
  if (after >= 0) out.push({ x: xs[after], y: ys[after] });
  return out;
}

/**
 * The same min/max reduction, kept up to date as points are appended, for the view that shows
 * a whole series (the live case: one row arrives, the x range grows by one step). Buckets lie
 * on a fixed grid from `xmin` with a power-of-two width, the smallest that fits in `buckets`
 * buckets; a new point only touches the last bucket, and when the range outgrows the grid the
 * width doubles by merging neighbouring buckets. So an append costs O(1) plus O(buckets) to
 * emit, instead of a scan of every point — and the result equals a fresh reduction of all
 * points with that grid. The grid leaves between buckets/2 and buckets buckets, i.e. at most
 * 2 · buckets points. Anything else (a zoomed view, a series that changed in place, a new
 * width) falls back to {@link minMaxDownsample} or starts the grid again.
 */
export class IncrementalMinMax {
  private key = '';
  private origin = 0;
  private width = 1;
  private limit = 1;
  /** Per bucket: index of its lowest and of its highest point, -1 when empty. */
  private minI: number[] = [];
  private maxI: number[] = [];
  /** Points [0, folded) are in the buckets. */
  private folded = 0;

  /**
   * `version` must change whenever points already seen change (truncation, re-smoothing,
   * clearing); plain appends keep it.
   */
  points(xs: ArrayLike<number>, ys: ArrayLike<number>, n: number, xmin: number, xmax: number, buckets: number, version: number): XY[] {
    buckets = Math.max(1, Math.floor(buckets));
    if (n <= 2 * buckets || xs[0] < xmin || xs[n - 1] > xmax) {
      this.key = '';
      return minMaxDownsample(xs, ys, n, xmin, xmax, buckets);
    }
    // The plot width moves by a few pixels when tick labels change; keep the grid through that.
    const key = `${xmin}|${version}`;
    if (key !== this.key || n < this.folded || buckets < this.limit || buckets > this.limit * 1.4) this.reset(key, xmin, xs[n - 1] - xmin, buckets);
    const span = xs[n - 1] - this.origin;
    while (Math.floor(span / this.width) + 1 > this.limit) this.double(ys);
    for (let i = this.folded; i < n; i++) {
      const b = Math.floor((xs[i] - this.origin) / this.width);
      while (this.minI.length <= b) {
        this.minI.push(-1);
        this.maxI.push(-1);
      }
      if (this.minI[b] < 0) this.minI[b] = this.maxI[b] = i;
      else {
        if (ys[i] < ys[this.minI[b]]) this.minI[b] = i;
        if (ys[i] > ys[this.maxI[b]]) this.maxI[b] = i;
      }
    }
    this.folded = n;
    const out: XY[] = [];
    for (let b = 0; b < this.minI.length; b++) {
      const lo = this.minI[b];
      if (lo < 0) continue;
      const hi = this.maxI[b];
      const a = Math.min(lo, hi);
      const c = Math.max(lo, hi);
      out.push({ x: xs[a], y: ys[a] });
      if (c !== a) out.push({ x: xs[c], y: ys[c] });
    }
    return out;
  }

  private reset(key: string, origin: number, span: number, buckets: number): void {
    this.key = key;
    this.origin = origin;
    this.limit = Math.max(1, Math.floor(buckets * 0.9));
    this.width = span > 0 ? 2 ** Math.floor(Math.log2(span / this.limit)) : 1;
    while (span > 0 && Math.floor(span / this.width) + 1 > this.limit) this.width *= 2;
    this.minI = [];
    this.maxI = [];
    this.folded = 0;
  }

  /** Doubles the bucket width: bucket j of the new grid is buckets 2j and 2j + 1 of the old. */
  private double(ys: ArrayLike<number>): void {
    const minI: number[] = [];
    const maxI: number[] = [];
    for (let j = 0; 2 * j < this.minI.length; j++) {
      const [a, b] = [2 * j, 2 * j + 1];
      const am = this.minI[a];
      const bm = b < this.minI.length ? this.minI[b] : -1;
      const aM = this.maxI[a];
      const bM = b < this.maxI.length ? this.maxI[b] : -1;
      // Ties keep the earlier point, as a left-to-right scan does.
      minI.push(am < 0 ? bm : bm < 0 ? am : ys[bm] < ys[am] ? bm : am);
      maxI.push(aM < 0 ? bM : bM < 0 ? aM : ys[bM] > ys[aM] ? bM : aM);
    }
    this.minI = minI;
    this.maxI = maxI;
    this.width *= 2;
  }
}
