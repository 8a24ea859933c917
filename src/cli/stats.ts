/** Small statistics for the benchmarks' figures. */

/** The median: the middle value, or the mean of the two middle values for an even count. @throws on an empty list. */
export function median(xs: readonly number[]): number {
  if (!xs.length) throw new Error('median of no values');
  const s = [...xs].sort((x, y) => x - y);
  const h = Math.floor(s.length / 2);
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/**
 * The upper median, sorted[⌊n / 2⌋]: a measurement's step time as ../shared/bench/torch_lora_bench.py
 * takes its `step_s_median`, so our step figures and PyTorch's are the same statistic (for an
 * odd count it is the median). @throws on an empty list.
 */
export function upperMedian(xs: readonly number[]): number {
  if (!xs.length) throw new Error('median of no values');
  return [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
}
