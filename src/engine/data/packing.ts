/**
 * Best-fit-decreasing bin packing of sequence lengths into rows of a fixed capacity, as TRL's
 * `pack_dataset(..., strategy="bfd")`.
 */

/**
 * Packs items into bins of `capacity` tokens with best-fit decreasing: items are taken longest
 * first (ties keep their input order), and each goes into the open bin with the LEAST remaining
 * room that still fits it, or a new bin. A segment tree over "remaining room" makes each placement
 * O(log capacity).
 *
 * @param lengths item lengths, each in 1..capacity
 * @returns bins in order of creation, each the input indices it holds (in placement order)
 * @throws RangeError when a length is outside 1..capacity
 */
export function packBestFitDecreasing(lengths: readonly number[], capacity: number): number[][] {
  for (const len of lengths) {
    if (!Number.isInteger(len) || len < 1 || len > capacity) throw new RangeError(`packBestFitDecreasing: length ${len} is not in 1..${capacity}`);
  }
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[b] - lengths[a] || a - b);
  const bins: number[][] = [];
  const byRoom: number[][] = Array.from({ length: capacity + 1 }, () => []); // room → open bin ids
  const tree = new RoomTree(capacity + 1);
  for (const i of order) {
    const len = lengths[i];
    const room = tree.firstAtLeast(len);
    let bin: number;
    let left: number;
    if (room < 0) {
      bin = bins.length;
      bins.push([]);
      left = capacity - len;
    } else {
      bin = byRoom[room].pop()!;
      tree.add(room, -1);
      left = room - len;
    }
    bins[bin].push(i);
    byRoom[left].push(bin);
    tree.add(left, 1);
  }
  return bins;
}

/** Counts per room value 0..n-1, answering "smallest room ≥ x with a bin". */
class RoomTree {
  private readonly size: number;
  private readonly count: Int32Array;

  constructor(n: number) {
    this.size = 1 << Math.ceil(Math.log2(Math.max(n, 2)));
    this.count = new Int32Array(2 * this.size);
  }

  add(room: number, delta: number): void {
    for (let node = room + this.size; node >= 1; node >>= 1) this.count[node] += delta;
  }

  /** The smallest room ≥ x holding a bin, or −1. */
  firstAtLeast(x: number): number {
    return this.search(1, 0, this.size - 1, x);
  }

  private search(node: number, lo: number, hi: number, x: number): number {
    if (hi < x || this.count[node] === 0) return -1;
    if (lo === hi) return lo;
    const mid = (lo + hi) >> 1;
    const left = this.search(2 * node, lo, mid, x);
    return left >= 0 ? left : this.search(2 * node + 1, mid + 1, hi, x);
  }
}
