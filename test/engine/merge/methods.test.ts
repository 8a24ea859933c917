// TIES / DARE / magnitude pruning of src/engine/merge/methods.ts on hand-made vectors, values
// derived by hand from PEFT's merge_utils.py semantics (see the module comment).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { disjointMerge, magnitudePrune, mergeDense, randomPrune } from '../../../src/engine/merge/methods';
import { createRng } from '../../../src/engine/data/random';

const f = (xs: number[]) => Float64Array.from(xs);
const arr = (x: Float64Array) => [...x];
/** A fake uniform source returning the given values in turn. */
const seq = (xs: number[]) => {
  let i = 0;
  return () => xs[i++ % xs.length];
};

test('magnitudePrune keeps the ⌊density·n⌋ largest |x|; equal magnitudes go to the lowest index', () => {
  assert.deepEqual(arr(magnitudePrune(f([3, -1, 2, -4]), 0.5)), [3, 0, 0, -4]);
  assert.deepEqual(arr(magnitudePrune(f([1, -1, 1, 1]), 0.5)), [1, -1, 0, 0]);
  assert.deepEqual(arr(magnitudePrune(f([5, 1, 2]), 0.5)), [5, 0, 0]); // ⌊1.5⌋ = 1
  assert.deepEqual(arr(magnitudePrune(f([5, 1, 2]), 0.2)), [0, 0, 0]); // ⌊0.6⌋ = 0
  assert.deepEqual(arr(magnitudePrune(f([5, 1, 2]), 1)), [5, 1, 2]);
});

test('magnitudePrune agrees with a sort on random data with repeated values', () => {
  const rand = createRng(2);
  const x = f(Array.from({ length: 1001 }, () => Math.round((rand() * 2 - 1) * 20)));
  for (const d of [0.1, 0.37, 0.5, 0.93]) {
    const k = Math.floor(d * x.length);
    const order = [...x.keys()].sort((a, b) => Math.abs(x[b]) - Math.abs(x[a]) || a - b).slice(0, k);
    const want = new Float64Array(x.length);
    for (const i of order) want[i] = x[i];
    assert.deepEqual(arr(magnitudePrune(x, d)), arr(want), `density ${d}`);
  }
});

test('randomPrune keeps x/density where u < density (Bernoulli(density)), else 0', () => {
  assert.deepEqual(arr(randomPrune(f([1, 2, 3, 4]), 0.5, seq([0.1, 0.7, 0.3, 0.9]))), [2, 0, 6, 0]);
  assert.deepEqual(arr(randomPrune(f([1, 2]), 1, seq([0.99]))), [1, 2]);
});

test('disjointMerge (TIES): sign elected from unweighted totals, mean of the weighted agreeing entries', () => {
  const t1 = f([1, -2, 3, 0]);
  const t2 = f([-3, 1, 2, -1]);
  // totals [-2, -1, 5, -1] → γ = [-, -, +, -]; agreeing: [t2], [t1], [t1, t2], [t2]
  assert.deepEqual(arr(disjointMerge([t1, t2], [1, 1], 'total')), [-3, -2, 2.5, -1]);
  assert.deepEqual(arr(disjointMerge([t1, t2], [2, 0.5], 'total')), [-1.5, -4, 3.5, -0.5]);
  // sign counts [0, 0, 2, -1] → γ = [+, +, +, -] (0 counts as +)
  assert.deepEqual(arr(disjointMerge([t1, t2], [1, 1], 'frequency')), [1, 1, 2.5, -1]);
  // nothing agrees (all zero): 0 / max(1, 0) = 0
  assert.deepEqual(arr(disjointMerge([f([0]), f([0])], [1, 1], 'total')), [0]);
});

test('mergeDense: ties = trim then disjoint merge; magnitude_prune = Σ w·trim; dare_* use the drop mask', () => {
  const x = f([1, 2, -1, -2]);
  const y = f([6, -2, 6, -2]);
  // trim(x, 0.5) = [0, 2, 0, -2] (2 and -2 tie, lower index first is index 1, then 3); trim(y) = [6, 0, 6, 0]
  // totals [6, 2, 6, -2] → γ [+, +, +, -]
  assert.deepEqual(arr(mergeDense('ties', [x, y], [1, 1], 0.5, 'total', seq([0]))), [6, 2, 6, -2]);
  assert.deepEqual(arr(mergeDense('magnitude_prune', [x, y], [1, 0.5], 0.5, 'total', seq([0]))), [3, 2, 3, -2]);
  // drop with u = [0.1, 0.9, 0.1, 0.9] for x then y, density 0.5: x → [2, 0, -2, 0], y → [12, 0, 12, 0]
  const u = [0.1, 0.9, 0.1, 0.9];
  assert.deepEqual(arr(mergeDense('dare_linear', [x, y], [1, -1], 0.5, 'total', seq(u))), [-10, 0, -14, 0]);
  // dare_ties: totals [14, 0, 10, 0] → γ [+, +, +, +]; entry 2: only y (12) agrees
  assert.deepEqual(arr(mergeDense('dare_ties', [x, y], [1, 1], 0.5, 'total', seq(u))), [7, 0, 12, 0]);
});
