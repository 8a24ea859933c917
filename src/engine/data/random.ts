/**
 * Seeded randomness for data order: a 32-bit PRNG (mulberry32) seeded through a splitmix-style
 * hash of several integer keys, and Fisher–Yates shuffling. Same keys → same sequence, on every
 * platform (integer arithmetic only, no Math.random).
 */

/** Hashes one 32-bit value (the murmur3 / splitmix32 finalizer). */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * A uniform generator in [0, 1) seeded by integer keys, e.g. `createRng(seed, STREAM, epoch)`.
 * Keys may be any safe integers (negative and above 2^32 included).
 *
 * @throws RangeError when a key is not a safe integer
 */
export function createRng(...keys: number[]): () => number {
  let state = 0x9e3779b9;
  for (const key of keys) {
    if (!Number.isSafeInteger(key)) throw new RangeError(`createRng: ${key} is not an integer seed`);
    const lo = key >>> 0;
    const hi = Math.floor(key / 0x100000000) >>> 0;
    state = mix32((state ^ lo) + 0x9e3779b9);
    state = mix32((state ^ hi) + 0x9e3779b9);
  }
  // mulberry32
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Shuffles `items` in place with Fisher–Yates and returns it. */
export function shuffle<T>(items: T[], rng: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const tmp = items[i];
    items[i] = items[j];
    items[j] = tmp;
  }
  return items;
}

/** A seeded random permutation of 0..n-1. */
export function permutation(n: number, rng: () => number): number[] {
  return shuffle(Array.from({ length: n }, (_, i) => i), rng);
}

/** Key streams, so the validation split and the epoch orders draw independent sequences. */
export const STREAM = { split: 1, epoch: 2 } as const;
