/** Small statistics for the benchmarks' figures. */

/** The median: the middle value, or the mean of the two middle values for an even count. @throws on an empty list. */
export function median(xs: readonly number[]): number {
  if (!xs.length) throw new Error('median of no values');
  const s = [...xs].sort((x, y) => x - y);
  const h = Math.floor(s.length / 2);
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}
