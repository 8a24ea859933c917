/**
 * The dashboard's data path without a browser: TensorBoard's de-biased EMA, the series store
 * and min/max downsampling (one-shot and incremental).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DebiasedEma, debiasedEma } from '../../webview/dashboard/smoothing';
import { Series } from '../../webview/dashboard/series';
import { IncrementalMinMax, minMaxDownsample, type XY } from '../../webview/dashboard/downsample';

/** Deterministic noise in [0, 1). */
function lcg(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
}

test('de-biased EMA: hand-computed values at 0.6, identity at 0, non-finite values pass through', () => {
  // last = 0.6·last + 0.4·x; smoothed = last / (1 − 0.6^count)
  const expected = [0.8 / 0.4, (0.48 + 1.6) / 0.64, (1.248 + 0.4) / 0.784, (0.9888 + 1.2) / 0.8704];
  debiasedEma([2, 4, 1, 3], 0.6).forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-12, `${i}: ${v} vs ${expected[i]}`));
  assert.deepEqual(debiasedEma([5, 1, 7], 0), [5, 1, 7]);
  assert.equal(debiasedEma([3], 0.99)[0], 3, 'the first value is not pulled toward 0');
  const ema = new DebiasedEma(0.5);
  assert.equal(ema.next(4), 4);
  assert.ok(Number.isNaN(ema.next(NaN)));
  assert.equal(ema.next(2), (0.5 * 2 + 0.5 * 2) / 0.75, 'NaN did not enter the average: count is 2, last was 2');
  assert.throws(() => new DebiasedEma(1), RangeError);
});

test('series: keeps every point, grows, re-smooths on a new weight, truncates on a step going back', () => {
  const s = new Series(0.6);
  const ys: number[] = [];
  const rnd = lcg(1);
  for (let i = 0; i < 5000; i++) {
    ys.push(1 + rnd());
    s.push(i, ys[i]);
  }
  s.push(5000, NaN); // skipped
  assert.equal(s.length, 5000);
  assert.deepEqual(Array.from(s.smoothed.subarray(0, 5000)), debiasedEma(ys, 0.6));
  const v = s.version;
  s.setSmoothing(0.9);
  assert.ok(s.version > v);
  assert.deepEqual(Array.from(s.smoothed.subarray(0, 5000)), debiasedEma(ys, 0.9));
  // A resumed run rewrites steps from 4000 on.
  s.push(4000, 7);
  assert.equal(s.length, 4001);
  assert.equal(s.xs[4000], 4000);
  assert.equal(s.ys[4000], 7);
  assert.deepEqual(Array.from(s.smoothed.subarray(0, 4001)), debiasedEma([...ys.slice(0, 4000), 7], 0.9));
});

function checkReduced(out: XY[], n: number, buckets: number): void {
  assert.ok(out.length <= 2 * buckets + 2, `${out.length} points for ${buckets} buckets`);
  for (let i = 1; i < out.length; i++) assert.ok(out[i].x > out[i - 1].x, 'strictly increasing x');
  assert.ok(out.length > 0 && n > 0);
}

test('min/max downsampling: bounded, ordered, keeps spikes and dips, all points when they fit', () => {
  const n = 100_000;
  const xs = new Float64Array(n);
  const ys = new Float64Array(n);
  const rnd = lcg(2);
  for (let i = 0; i < n; i++) {
    xs[i] = i + 1;
    ys[i] = 2 + rnd();
  }
  ys[54_321] = 1e6;
  ys[77_777] = -5;
  const out = minMaxDownsample(xs, ys, n, 1, n, 800);
  checkReduced(out, n, 800);
  assert.ok(out.some((p) => p.x === 54_322 && p.y === 1e6), 'spike kept');
  assert.ok(out.some((p) => p.x === 77_778 && p.y === -5), 'dip kept');
  assert.deepEqual(minMaxDownsample(xs, ys, 100, 1, 100, 800).length, 100);
  // A zoomed range: its points plus one neighbour each side.
  const zoom = minMaxDownsample(xs, ys, n, 1000, 1100, 800);
  assert.equal(zoom.length, 103);
  assert.deepEqual([zoom[0].x, zoom[zoom.length - 1].x], [999, 1101]);
  assert.deepEqual(minMaxDownsample(xs, ys, 0, 0, 1, 10), []);
});

test('incremental min/max equals a fresh reduction after any sequence of appends, and stays bounded', () => {
  const n = 60_000;
  const xs = new Float64Array(n);
  const ys = new Float64Array(n);
  const rnd = lcg(3);
  for (let i = 0; i < n; i++) {
    xs[i] = i;
    ys[i] = rnd() < 0.0005 ? 50 : rnd();
  }
  const live = new IncrementalMinMax();
  let m = 0;
  while (m < n) {
    m = Math.min(n, m + 1 + Math.floor(rnd() * (m < 2000 ? 50 : 3000)));
    const buckets = 400 + Math.floor(rnd() * 20); // the plot width wobbling by a few pixels
    const got = live.points(xs, ys, m, 0, xs[m - 1], buckets, 0);
    checkReduced(got, m, buckets);
    for (let i = 0; i < m; i++) if (ys[i] === 50) assert.ok(got.some((p) => p.x === xs[i]), `spike at ${i} kept with ${m} points`);
  }
  // Same final grid from scratch: identical points.
  const fresh = new IncrementalMinMax().points(xs, ys, n, 0, xs[n - 1], 400, 0);
  const again = new IncrementalMinMax();
  for (let k = 1; k <= 10; k++) again.points(xs, ys, (k * n) / 10, 0, xs[(k * n) / 10 - 1], 400, 0);
  assert.deepEqual(again.points(xs, ys, n, 0, xs[n - 1], 400, 0), fresh);
  // A zoomed view falls back to the one-shot reduction of that range.
  assert.deepEqual(again.points(xs, ys, n, 100, 200, 400, 0), minMaxDownsample(xs, ys, n, 100, 200, 400));
  // A changed version (truncation, re-smoothing) starts over.
  const ys2 = ys.map((y) => y + 1);
  assert.deepEqual(again.points(xs, ys2, n, 0, xs[n - 1], 400, 1), new IncrementalMinMax().points(xs, ys2, n, 0, xs[n - 1], 400, 1));
});
