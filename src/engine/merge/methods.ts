/**
 * Element-wise task-vector merges on dense ΔW matrices (flat float64, all of one shape), with
 * the semantics of Hugging Face PEFT `peft/utils/merge_utils.py` (main, commit 0d4d848; the
 * functions are unchanged since PEFT 0.10, where `add_weighted_adapter` got them):
 *
 *   magnitude_prune  Σᵢ wᵢ·trim(τᵢ)
 *   ties             trim each τᵢ; elect the sign γ = sgn(Σᵢ trim(τᵢ)) ("total", ≥ 0 → +) or
 *                    sgn(Σᵢ sgn(trim(τᵢ))) ("frequency"), from the UNWEIGHTED trimmed tensors;
 *                    then the disjoint mean of the weighted ones: Σ_{i: sgn τ̂ᵢ = γ} wᵢ·τ̂ᵢ /
 *                    max(1, #{i: sgn τ̂ᵢ = γ})   (TIES-Merging, Yadav et al. 2023, §3)
 *   dare_linear      Σᵢ wᵢ·drop(τᵢ)
 *   dare_ties        as ties with drop instead of trim    (DARE, Yu et al. 2024, §3)
 *
 * trim keeps the ⌊density·numel⌋ entries of largest |x| (PEFT `magnitude_based_pruning`; ties in
 * |x| go to the lowest flat index, torch.topk leaves them unspecified); drop keeps each entry with
 * probability `density` and rescales the kept ones by 1/density (PEFT `random_pruning`,
 * rescale=True), drawn from our seeded generator (same distribution as torch.bernoulli, not the
 * same draws). density ≥ 1 leaves a tensor untouched, as PEFT does. Every step is exact
 * arithmetic in float64; only the drop mask is random.
 */

/** The ⌊density·n⌋ largest-magnitude entries of `x` kept, the rest zeroed (new array). */
export function magnitudePrune(x: Float64Array, density: number): Float64Array {
  if (density >= 1) return Float64Array.from(x);
  const n = x.length;
  const k = Math.floor(density * n);
  const out = new Float64Array(n);
  if (k <= 0) return out;
  const abs = new Float64Array(n);
  for (let i = 0; i < n; i++) abs[i] = Math.abs(x[i]);
  const threshold = kthLargest(Float64Array.from(abs), k);
  let above = 0;
  for (let i = 0; i < n; i++) if (abs[i] > threshold) above++;
  let ties = k - above; // entries equal to the threshold still to keep, lowest index first
  for (let i = 0; i < n; i++) {
    if (abs[i] > threshold) out[i] = x[i];
    else if (abs[i] === threshold && ties > 0) {
      out[i] = x[i];
      ties--;
    }
  }
  return out;
}

/** The k-th largest value of `a` (1-based; `a` is reordered), by quickselect. */
function kthLargest(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  const target = k - 1; // index in descending order
  while (lo < hi) {
    const pivot = a[(lo + hi) >>> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return a[target];
  }
  return a[target];
}

/** Each entry kept with probability `density` and divided by it, else zeroed (new array). */
export function randomPrune(x: Float64Array, density: number, rand: () => number): Float64Array {
  if (density >= 1) return Float64Array.from(x);
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) if (rand() < density) out[i] = x[i] / density;
  return out;
}

/** How the TIES sign is elected (PEFT `majority_sign_method`). */
export type MajoritySign = 'total' | 'frequency';

/** Σᵢ wᵢ·τᵢ (new array). */
export function weightedSum(tasks: readonly Float64Array[], weights: readonly number[]): Float64Array {
  const out = new Float64Array(tasks[0].length);
  tasks.forEach((t, i) => {
    const w = weights[i];
    for (let j = 0; j < t.length; j++) out[j] += w * t[j];
  });
  return out;
}

/**
 * PEFT's `calculate_majority_sign_mask` + `disjoint_merge` on already pruned task tensors: the
 * elected sign γ per entry from the unweighted tensors (γ = +1 where the total or the sign count
 * is ≥ 0), then Σ over agreeing tasks of wᵢ·τᵢ divided by the number of agreeing tasks (at least
 * 1). Entries that are 0 never agree (sgn 0 ≠ ±1).
 */
export function disjointMerge(tasks: readonly Float64Array[], weights: readonly number[], method: MajoritySign): Float64Array {
  const n = tasks[0].length;
  const out = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let mag = 0;
    for (const t of tasks) mag += method === 'total' ? t[j] : Math.sign(t[j]);
    const gamma = mag >= 0 ? 1 : -1;
    let sum = 0;
    let count = 0;
    tasks.forEach((t, i) => {
      if (Math.sign(t[j]) === gamma) {
        sum += weights[i] * t[j];
        count++;
      }
    });
    out[j] = sum / Math.max(1, count);
  }
  return out;
}

/** The element-wise merge methods. */
export type DenseMergeMethod = 'ties' | 'dare_linear' | 'dare_ties' | 'magnitude_prune';

/**
 * Merges dense task tensors τᵢ (each ΔWᵢ = sᵢ·Bᵢ·Aᵢ, flat, same length) with weights wᵢ by
 * `method` (see the module comment). `rand` draws the DARE masks (one call per entry, tasks in
 * order). Returns a new array.
 */
export function mergeDense(
  method: DenseMergeMethod,
  tasks: readonly Float64Array[],
  weights: readonly number[],
  density: number,
  majoritySign: MajoritySign,
  rand: () => number,
): Float64Array {
  switch (method) {
    case 'magnitude_prune':
      return weightedSum(tasks.map((t) => magnitudePrune(t, density)), weights);
    case 'ties':
      return disjointMerge(tasks.map((t) => magnitudePrune(t, density)), weights, majoritySign);
    case 'dare_linear':
      return weightedSum(tasks.map((t) => randomPrune(t, density, rand)), weights);
    case 'dare_ties':
      return disjointMerge(tasks.map((t) => randomPrune(t, density, rand)), weights, majoritySign);
  }
}
