/**
 * "Did you mean …?" for a mistyped key or value: the closest known name by edit distance. Plain
 * strings only; the layers above (experiment files, sweeps, eval sets) phrase the message.
 */

/**
 * Edit distance (insert, delete, substitute, swap neighbours), case-insensitive: the optimal
 * string alignment distance (Damerau–Levenshtein restricted to non-overlapping swaps; Wagner &
 * Fischer 1974 with the transposition case of Damerau 1964).
 */
export function editDistance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * The candidate closest to `word`, if it is close enough to be a plausible typo (at most one
 * edit per three characters; no guess for words under four characters). Used for "did you
 * mean" in experiment files, sweep files and eval sets.
 */
export function closestMatch(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const dist = editDistance(word, c);
    if (dist < bestDistance) {
      best = c;
      bestDistance = dist;
    }
  }
  // Short words are a letter or two away from too many things ("gpu" → "cpu"): no guess.
  if (word.length < 4) return undefined;
  return best !== undefined && bestDistance <= Math.floor(word.length / 3) ? best : undefined;
}
