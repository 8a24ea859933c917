/**
 * `DataLoader`: seeded, resumable batches over the training examples, with optional packing.
 */
import { collate, type Batch } from './batch';
import { packBestFitDecreasing } from './packing';
import { createRng, permutation, shuffle, STREAM } from './random';
import type { Example } from './tokenize';

/** Options of {@link DataLoader}. */
export interface DataLoaderOptions {
  /** Rows per batch (`per_device_train_batch_size`). */
  batchSize: number;
  /** Training seed; epoch e's order is drawn from (seed, e). */
  seed: number;
  /** Pack several examples per row (best-fit decreasing), or one example per row. */
  packing: boolean;
  /** Longest row; longer examples are truncated to it (keep the start). */
  maxSeqLength: number;
  /** Id at pad positions (`tokenizer.padTokenId`). */
  padTokenId: number;
  /**
   * Sequence-length buckets (`data.pad_to_multiple_of`): pad each batch to a multiple of this,
   * capped at `maxSeqLength` (see `bucketLength`); null or absent pads to the longest row.
   */
  padToMultipleOf?: number | null;
}

/**
 * Where a loader stands: the next batch starts at position `index` of epoch `epoch`'s order
 * (an example position when not packing, a packed-row position when packing). Saved in a
 * checkpoint's `trainer_state.json`; with the same examples and options it resumes exactly.
 */
export interface LoaderState {
  epoch: number;
  index: number;
}

/**
 * Endless batches over the training examples, epoch after epoch.
 *
 * Order: epoch e uses a Fisher–Yates shuffle seeded by (seed, e), so a run is reproducible and a
 * resumed run (`restore`) continues at exactly the same example. Batches take `batchSize` rows in
 * that order; the last batch of an epoch may be smaller (`drop_last=False`, the HF Trainer
 * default), and the next batch starts the next epoch.
 *
 * Without packing each row is one example. With packing, the epoch's examples (in their shuffled
 * order) are packed into rows of at most `maxSeqLength` tokens with best-fit decreasing (TRL's
 * `packing_strategy="bfd"`), then the rows themselves are shuffled with the same seeded generator
 * (BFD orders rows by length); each row's examples are separate segments (see `Batch`:
 * segment-id attention mask, positions restarting per example, no label across a boundary).
 * Every target token of an epoch appears in exactly one batch of that epoch, packed or not.
 */
export class DataLoader {
  /** Rows per epoch: examples, or packed rows when packing. Constant across epochs. */
  readonly rowsPerEpoch: number;
  private readonly examples: readonly Example[];
  private readonly opts: DataLoaderOptions;
  private epoch = 0;
  private index = 0;
  private cached?: { epoch: number; rows: Example[][] };

  /**
   * @param examples training examples (non-empty); longer than `maxSeqLength` → truncated
   * @throws RangeError for an empty example list, a batch size or max length that is not a
   *   positive integer (max length ≥ 2), a seed that is not a safe integer, or a
   *   padToMultipleOf that is neither null nor a positive integer
   */
  constructor(examples: readonly Example[], opts: DataLoaderOptions) {
    const { batchSize, maxSeqLength, seed } = opts;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`DataLoader: batchSize must be a positive integer, got ${batchSize}`);
    if (!Number.isInteger(maxSeqLength) || maxSeqLength < 2) throw new RangeError(`DataLoader: maxSeqLength must be an integer ≥ 2, got ${maxSeqLength}`);
    if (!Number.isSafeInteger(seed)) throw new RangeError(`DataLoader: seed must be an integer, got ${seed}`);
    const m = opts.padToMultipleOf;
    if (m !== undefined && m !== null && !(Number.isInteger(m) && m >= 1)) throw new RangeError(`DataLoader: padToMultipleOf must be a positive integer or null, got ${m}`);
    this.opts = { ...opts };
    this.examples = examples
      .map((ex) => (ex.ids.length > maxSeqLength ? { ...ex, ids: ex.ids.slice(0, maxSeqLength), target: ex.target.slice(0, maxSeqLength) } : ex))
      .filter((ex) => ex.target.some((t, i) => i > 0 && t === 1));
    if (this.examples.length === 0) throw new RangeError('DataLoader: no example with a target token to train on');
    this.rowsPerEpoch = this.opts.packing ? this.rows(0).length : this.examples.length;
  }

  /** A loader positioned at `state` (from `state()` of a loader with the same examples and options). */
  static restore(examples: readonly Example[], opts: DataLoaderOptions, state: LoaderState): DataLoader {
    const loader = new DataLoader(examples, opts);
    loader.setState(state);
    return loader;
  }

  /** Batches per epoch (the last one possibly smaller). */
  get batchesPerEpoch(): number {
    return Math.ceil(this.rowsPerEpoch / this.opts.batchSize);
  }

  /** The next batch; after the last batch of an epoch comes the first of the next. */
  next(): Batch {
    const rows = this.rows(this.epoch);
    const end = Math.min(this.index + this.opts.batchSize, rows.length);
    const batch = collate(rows.slice(this.index, end), this.opts.padTokenId, { padToMultipleOf: this.opts.padToMultipleOf ?? null, maxLength: this.opts.maxSeqLength });
    this.index = end;
    if (this.index >= rows.length) {
      this.epoch++;
      this.index = 0;
    }
    return batch;
  }

  /** Where the next batch starts (a copy). */
  state(): LoaderState {
    return { epoch: this.epoch, index: this.index };
  }

  /**
   * Moves to a saved position.
   * @throws RangeError when epoch is not a non-negative integer or index is not in 0..rowsPerEpoch−1
   */
  setState(state: LoaderState): void {
    const { epoch, index } = state;
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw new RangeError(`DataLoader: state.epoch must be a non-negative integer, got ${epoch}`);
    if (!Number.isInteger(index) || index < 0 || index >= this.rowsPerEpoch) {
      throw new RangeError(`DataLoader: state.index must be in 0..${this.rowsPerEpoch - 1}, got ${index} (a state saved with other data or options?)`);
    }
    this.epoch = epoch;
    this.index = index;
  }

  /** The rows of an epoch, in order (cached for the current epoch). */
  private rows(epoch: number): Example[][] {
    if (this.cached?.epoch === epoch) return this.cached.rows;
    const rng = createRng(this.opts.seed, STREAM.epoch, epoch);
    const order = permutation(this.examples.length, rng).map((i) => this.examples[i]);
    let rows: Example[][];
    if (this.opts.packing) {
      const bins = packBestFitDecreasing(order.map((ex) => ex.ids.length), this.opts.maxSeqLength);
      rows = shuffle(bins.map((bin) => bin.map((i) => order[i])), rng);
    } else {
      rows = order.map((ex) => [ex]);
    }
    this.cached = { epoch, rows };
    return rows;
  }
}
