/**
 * `loadDataset`: the experiment's `data` block → tokenized train and validation examples.
 */
import type { Tokenizer } from '../tokenizer/index';
import { DataError } from './errors';
import { readRecords } from './read';
import { BadRecords, type DataRecord, type SkippedRecord } from './records';
import { splitHoldout } from './split';
import { tokenizeRecord, type Example } from './tokenize';

/** The experiment file's `data` block (TRL `SFTConfig` names), paths already resolved. */
export interface DataConfig {
  /** `.jsonl` or `.txt` training file. */
  train: string;
  /** A `.jsonl` / `.txt` validation file, a fraction in (0, 1) of the training documents, or null / 0 for none. */
  validation: string | number | null;
  /** Longest example in tokens: text is chunked to it, prompt-completion and chat truncated. */
  max_seq_length: number;
  /** Pack examples into rows (used by `DataLoader`, not here). */
  packing: boolean;
  /** Loss on completions / assistant turns only. */
  completion_only_loss: boolean;
  /** Skip (and report) bad records instead of failing on the first. */
  skip_bad_records: boolean;
}

/** Counts of a loaded dataset. */
export interface DatasetStats {
  /** Usable records (a `.txt` document is one) read from the training and validation files. */
  documents: number;
  trainExamples: number;
  validationExamples: number;
  /** Tokens of all training examples. */
  trainTokens: number;
  /** Target tokens (the loss's tokens) of all training examples. */
  targetTokens: number;
  /** Prompt-completion and chat records (train and validation) cut to `max_seq_length`. */
  truncated: number;
  /** Records (train and validation) that yielded no example: nothing left to train on after truncation. */
  dropped: number;
}

/** What `loadDataset` returns. */
export interface Dataset {
  /** Training examples in file order (the `DataLoader` shuffles them per epoch). */
  train: Example[];
  /** Validation examples in file order; empty when there is no validation set. */
  validation: Example[];
  /** Bad records left out (`skip_bad_records`), by file then line. */
  skipped: SkippedRecord[];
  stats: DatasetStats;
}

/**
 * Reads, validates, splits and tokenizes the data of an experiment.
 *
 * 1. Reads `cfg.train` (see `readRecords`: `.jsonl` records or `.txt` documents).
 * 2. Validation: a path is read the same way; a fraction in (0, 1) holds out `ceil(fraction · n)`
 *    of the training RECORDS (documents, before chunking, so no document is on both sides), chosen
 *    with `seed` (same seed → same split, see `splitHoldout`); null or 0 means none.
 * 3. Tokenizes every record (see `tokenizeRecord`: text chunked, prompt-completion and chat
 *    truncated to `max_seq_length`, targets per `completion_only_loss`), dropping examples with no
 *    target token.
 *
 * @throws DataError `file:line: what; what to do` for a bad record unless `skip_bad_records`;
 *   DataError naming the file when it is missing, has an unsupported extension, or has no usable
 *   record or example; DataError for an invalid `max_seq_length` / `validation`, for too few
 *   documents to hold out a fraction, and for chat records with a tokenizer that has no chat template.
 */
export async function loadDataset(cfg: DataConfig, tokenizer: Tokenizer, seed: number): Promise<Dataset> {
  const L = cfg.max_seq_length;
  if (!Number.isInteger(L) || L < 2) {
    throw new DataError(`data.max_seq_length must be an integer of at least 2, got ${JSON.stringify(L)}; fix the experiment file`);
  }
  const v = cfg.validation;
  if (typeof v === 'number' && !(v >= 0 && v < 1)) {
    throw new DataError(`data.validation must be a file or a fraction in (0, 1) of the training documents, got ${v}; fix the experiment file`);
  }
  if (typeof v === 'string' && v.trim() === '') {
    throw new DataError('data.validation is an empty path; give a file, a fraction such as 0.05, or null');
  }

  const readOpts = { completionOnlyLoss: cfg.completion_only_loss, skipBadRecords: cfg.skip_bad_records };
  const trainRead = await readRecords(cfg.train, readOpts);
  let trainRecords = trainRead.records;
  let validationRecords: DataRecord[] = [];
  const skipped = [...trainRead.skipped];
  let documents = trainRecords.length;
  if (typeof v === 'string') {
    const valRead = await readRecords(v, readOpts);
    validationRecords = valRead.records;
    skipped.push(...valRead.skipped);
    documents += validationRecords.length;
  } else if (typeof v === 'number' && v > 0) {
    const held = Math.ceil(v * trainRecords.length - 1e-9);
    if (held >= trainRecords.length) {
      throw new DataError(`${cfg.train}: ${trainRecords.length} usable record(s), too few to hold out ${v} for validation; add data, lower "validation", or set it to null or a file`, { file: cfg.train });
    }
    ({ train: trainRecords, validation: validationRecords } = splitHoldout(trainRecords, v, seed));
  }

  const bad = new BadRecords(cfg.skip_bad_records);
  const tokOpts = { maxSeqLength: L, completionOnlyLoss: cfg.completion_only_loss };
  let truncated = 0;
  let dropped = 0;
  const tokenizeAll = (records: DataRecord[]): Example[] => {
    const out: Example[] = [];
    for (const record of records) {
      const result = tokenizeRecord(record, tokenizer, tokOpts);
      if (!('examples' in result)) {
        bad.report(record.source, result);
        continue;
      }
      if (result.truncated) truncated++;
      if (result.examples.length === 0) dropped++;
      out.push(...result.examples);
    }
    return out;
  };
  const train = tokenizeAll(trainRecords);
  const validation = tokenizeAll(validationRecords);
  skipped.push(...bad.skipped);

  if (train.length === 0) {
    throw new DataError(`${cfg.train}: no example has a token to train on (${trainRecords.length} records, ${dropped} left with no target after truncation to max_seq_length ${L}, ${bad.skipped.length} skipped); raise max_seq_length or check the records`, { file: cfg.train });
  }

  const fileOrder = (file: string) => (file === cfg.train ? 0 : 1);
  skipped.sort((a, b) => fileOrder(a.file) - fileOrder(b.file) || a.line - b.line);
  let trainTokens = 0;
  let targetTokens = 0;
  for (const ex of train) {
    trainTokens += ex.ids.length;
    for (const t of ex.target) targetTokens += t;
  }
  return {
    train,
    validation,
    skipped,
    stats: {
      documents, trainExamples: train.length, validationExamples: validation.length,
      trainTokens, targetTokens, truncated, dropped,
    },
  };
}
