/**
 * The seeded train/validation split of a list of records (documents).
 */
import { createRng, permutation, STREAM } from './random';

/**
 * Holds out `fraction` of the items for validation, chosen with the seed.
 *
 * `ceil(fraction * n)` items are held out, so at least one (as HF `datasets`'
 * `train_test_split(test_size=fraction)` rounds the test side up). Deterministic: the same seed
 * and the same n give the same split. Both sides keep the input order.
 *
 * @param fraction in (0, 1)
 * @returns disjoint `train` and `validation` whose union is `items`
 * @throws RangeError when fraction is not in (0, 1), or when fewer than 2 items leave no training item
 */
export function splitHoldout<T>(items: readonly T[], fraction: number, seed: number): { train: T[]; validation: T[] } {
  if (!(fraction > 0 && fraction < 1)) throw new RangeError(`splitHoldout: fraction must be in (0, 1), got ${fraction}`);
  const n = items.length;
  const held = Math.ceil(fraction * n - 1e-9);
  if (held >= n) throw new RangeError(`splitHoldout: holding out ${held} of ${n} items leaves none to train on`);
  const heldOut = new Uint8Array(n);
  for (const i of permutation(n, createRng(seed, STREAM.split)).slice(0, held)) heldOut[i] = 1;
  const train: T[] = [];
  const validation: T[] = [];
  items.forEach((item, i) => (heldOut[i] ? validation : train).push(item));
  return { train, validation };
}
