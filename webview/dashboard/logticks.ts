/**
 * Tick values of a logarithmic loss axis. chart.js's own log ticks sit at 1…9 × 10^k only, so a
 * loss between 2.5 and 5.5 gets the ticks 3, 4, 5 — and a labelling rule that keeps "1, 2, 5 of
 * each decade" leaves one or none. Here: within about a decade the ticks are evenly spaced
 * "nice" values (1, 2 or 5 × 10^k apart, as a linear axis picks them), so the labels cover the
 * visible range at any zoom; across decades they are 1, 2 and 5 × 10^k (fewer when crowded).
 */
import { formatTick } from './format';

/** The smallest of 1, 2, 5 × 10^k that is ≥ x. */
function niceStep(x: number): number {
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 5, 10]) if (m * p >= x * (1 - 1e-9)) return m * p;
  return 10 * p;
}

/**
 * Ticks for a log axis showing [min, max] (both > 0), at most `maxTicks` of them (≥ 2 when the
 * range allows), in increasing order, all inside [min, max].
 */
export function logTicks(min: number, max: number, maxTicks = 8): number[] {
  if (!(min > 0) || !(max > min)) return min > 0 ? [min] : [];
  const count = Math.max(2, maxTicks);
  if (max / min <= 20) {
    // About a decade or less: evenly spaced values read best (2.5, 3, 3.5 … 5.5).
    let step = niceStep((max - min) / (count - 1));
    for (;;) {
      const out: number[] = [];
      for (let v = Math.ceil(min / step - 1e-9) * step; v <= max * (1 + 1e-12); v += step) out.push(Number(v.toPrecision(12)));
      if (out.length >= 2 || step < (max - min) / 1000) return out;
      step = niceStep(step / 2.0001); // a narrow zoom between two nice values: go finer
    }
  }
  for (const mantissas of [[1, 2, 5], [1]]) {
    const out: number[] = [];
    for (let k = Math.floor(Math.log10(min)); 10 ** k <= max; k++) {
      for (const m of mantissas) {
        const v = Number((m * 10 ** k).toPrecision(12));
        if (v >= min * (1 - 1e-12) && v <= max * (1 + 1e-12)) out.push(v);
      }
    }
    if (out.length <= count) return out;
  }
  // Very many decades: every n-th power of ten.
  const lo = Math.ceil(Math.log10(min));
  const hi = Math.floor(Math.log10(max));
  const every = Math.ceil((hi - lo + 1) / count);
  const out: number[] = [];
  for (let k = lo; k <= hi; k += every) out.push(10 ** k);
  return out;
}

/**
 * Ticks for a log axis of a hyperparameter (learning rate, …) showing [min, max] (both > 0):
 * the "1-2-5" values m × 10^k, m ∈ {1, 2, 5}, as on a printed log scale; when fewer than two of
 * them lie within the points' own range [lo, hi] (a range like 0.002–0.004), every m × 10^k,
 * m = 1…9, instead; when those are more than `maxTicks`, powers of ten only. Increasing, all
 * inside [min, max].
 */
export function decadeTicks(min: number, max: number, lo = min, hi = max, maxTicks = 9): number[] {
  if (!(min > 0) || !(max > min)) return min > 0 ? [min] : [];
  const within = (mantissas: number[]): number[] => {
    const out: number[] = [];
    for (let k = Math.floor(Math.log10(min)); 10 ** k <= max * (1 + 1e-12); k++) {
      for (const m of mantissas) {
        const v = Number((m * 10 ** k).toPrecision(12));
        if (v >= min * (1 - 1e-12) && v <= max * (1 + 1e-12)) out.push(v);
      }
    }
    return out;
  };
  const inData = (ticks: number[]) => ticks.filter((v) => v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)).length;
  const coarse = within([1, 2, 5]);
  const fine = within([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  if (inData(coarse) < 2 && hi > lo && inData(fine) > inData(coarse) && fine.length <= maxTicks) return fine;
  if (coarse.length <= maxTicks) return coarse;
  const decades = within([1]);
  const every = Math.ceil(decades.length / maxTicks);
  return decades.filter((_, i) => i % every === 0);
}

/**
 * Labels for the ticks of one log axis in one notation: all in exponent form ("5e-4", "1e-3",
 * "2e-3") when `formatTick` would write any of them so (|v| < 1e-3 or ≥ 1e6), else `formatTick`'s.
 */
export function logTickLabels(values: number[]): string[] {
  const labels = values.map(formatTick);
  if (!labels.some((l) => l.includes('e'))) return labels;
  return values.map((v) => (v === 0 ? '0' : v.toExponential(2).replace(/\.?0+e/, 'e').replace('e+', 'e')));
}
