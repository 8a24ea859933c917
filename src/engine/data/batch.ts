/**
 * Collation: examples → a padded batch of ids, attention mask (segment ids), position ids and
 * labels aligned with positions.
 */
import type { Example } from './tokenize';

/** Label of a position that predicts nothing (PyTorch's `ignore_index`). */
export const IGNORE_INDEX = -100;

/**
 * One batch, B rows right-padded to the longest row T (all fields `[B][T]`).
 *
 * - `inputIds`: token ids; pads hold the pad id.
 * - `attentionMask`: 0 for pad; otherwise the SEGMENT id of the token's example within its row:
 *   1 for an unpacked row, 1, 2, 3, … for the examples of a packed row. Query i sees key j iff
 *   `mask[j] != 0 && mask[j] == mask[i] && j <= i` (so attention never crosses examples).
 * - `positionIds`: 0..len−1 within each example (restarting at every segment); pads get 0.
 * - `labels`: aligned with positions (the model's logits at t are scored against labels[t]):
 *   `labels[b][t] = ids[t+1]` when t+1 is in the same example and is a target token, else −100.
 *   The last token of an example, and pads, predict nothing.
 * - `tokens`: the number of labels ≠ −100, the divisor of the token-mean loss.
 */
export interface Batch {
  inputIds: number[][];
  attentionMask: number[][];
  positionIds: number[][];
  labels: number[][];
  tokens: number;
}

/**
 * Sequence-length buckets: how batches of variable length are padded (TRL `SFTConfig` /
 * `DataCollatorWithPadding` `pad_to_multiple_of`). With a multiple m, a batch whose longest row
 * has n tokens is padded to min(⌈n / m⌉·m, max(n, cap)), so every batch has one of at most
 * ⌈cap / m⌉ lengths (and ONNX Runtime sees a few shapes again and again instead of a new one
 * almost every step); null pads to the longest row.
 */
export interface PadOptions {
  /** Bucket width m (≥ 1), or null for no buckets. */
  padToMultipleOf: number | null;
  /** No bucket is longer than this (`max_seq_length`), unless a row already is. */
  maxLength: number;
}

/**
 * The padded length of a batch whose longest row has `n` tokens (see `PadOptions`).
 * @throws RangeError when `padToMultipleOf` is not a positive integer or null
 */
export function bucketLength(n: number, pad: PadOptions | null | undefined): number {
  if (!pad || pad.padToMultipleOf === null) return n;
  const m = pad.padToMultipleOf;
  if (!Number.isInteger(m) || m < 1) throw new RangeError(`pad_to_multiple_of must be a positive integer or null, got ${m}`);
  return Math.max(n, Math.min(Math.ceil(n / m) * m, pad.maxLength));
}

/**
 * Builds a batch. Each row is one or more examples laid end to end (more than one when packing).
 * Rows are right-padded to the longest row, or to its bucket (`pad`); pads have attention mask
 * 0 and label −100, so they change neither the loss nor the gradients.
 *
 * @param rows B rows, each a non-empty list of examples
 * @param padTokenId id written at pad positions (masked out, so any valid id works)
 * @param pad sequence-length buckets (default none: pad to the longest row)
 */
export function collate(rows: readonly (readonly Example[])[], padTokenId: number, pad?: PadOptions | null): Batch {
  let T = 0;
  for (const row of rows) T = Math.max(T, row.reduce((n, ex) => n + ex.ids.length, 0));
  T = bucketLength(T, pad);
  const batch: Batch = { inputIds: [], attentionMask: [], positionIds: [], labels: [], tokens: 0 };
  for (const row of rows) {
    const ids = new Array<number>(T).fill(padTokenId);
    const mask = new Array<number>(T).fill(0);
    const pos = new Array<number>(T).fill(0);
    const labels = new Array<number>(T).fill(IGNORE_INDEX);
    let offset = 0;
    row.forEach((ex, k) => {
      const n = ex.ids.length;
      for (let t = 0; t < n; t++) {
        ids[offset + t] = ex.ids[t];
        mask[offset + t] = k + 1;
        pos[offset + t] = t;
        if (t + 1 < n && ex.target[t + 1] === 1) {
          labels[offset + t] = ex.ids[t + 1];
          batch.tokens++;
        }
      }
      offset += n;
    });
    batch.inputIds.push(ids);
    batch.attentionMask.push(mask);
    batch.positionIds.push(pos);
    batch.labels.push(labels);
  }
  return batch;
}

/**
 * Validation batches: `examples` in their given order (no shuffle, no packing), `batchSize` per
 * batch, the last one possibly smaller; padded to buckets with `pad` (see `collate`).
 *
 * @throws RangeError when batchSize is not a positive integer
 */
export function evalBatches(examples: readonly Example[], batchSize: number, padTokenId = 0, pad?: PadOptions | null): Batch[] {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`evalBatches: batchSize must be a positive integer, got ${batchSize}`);
  const batches: Batch[] = [];
  for (let i = 0; i < examples.length; i += batchSize) {
    batches.push(collate(examples.slice(i, i + batchSize).map((ex) => [ex]), padTokenId, pad));
  }
  return batches;
}
