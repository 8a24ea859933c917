/**
 * `loadDataset`: the experiment's `data` block → tokenized train and validation examples.
 */
import type { Tokenizer } from '../tokenizer/index';
import { DataError } from './errors';
import { readRecords } from './read';
import { BadRecords, type DataRecord, type SkippedRecord, type Source } from './records';
import { splitHoldout } from './split';
import { tokenizeRecordSteps, type Example } from './tokenize';
import { YIELD_MS, yieldToEventLoop } from './yield';

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
  /**
   * Sequence-length buckets (TRL `pad_to_multiple_of`; used by `DataLoader` and `evalBatches`,
   * not here): batches are padded to a multiple of this, at most max_seq_length; null pads to
   * the longest row. Absent in run.json files written before it existed (= null).
   */
  pad_to_multiple_of?: number | null;
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
  /** The longest truncated record: where, and its length in tokens (`atLeast` when it was cut by characters before tokenizing, so only a lower bound is known). */
  longestTruncated: { file: string; line: number; tokens: number; atLeast: boolean } | null;
  /** Records (train and validation) that yielded no example: nothing left to train on after truncation. */
  dropped: number;
  /** The first (up to 10) of those records. */
  droppedRecords: Source[];
  /** Per file, the first record whose data text holds a special token's string (trained as plain characters), and how many such records the file has. */
  specialTokenText: { file: string; line: number; token: string; records: number }[];
}

/** Options of {@link loadDataset}. */
export interface LoadOptions {
  /** Called while records are tokenized, at most every 50 ms: the fraction of the data's characters done. */
  onProgress?(fraction: number): void;
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
 * The data problems a user should see, one line each (without a "warning:" prefix): records
 * skipped as bad, data text holding a special token's string (once per file, with the first
 * line), truncated records (count and the longest), and records left with no token to train on
 * (count and the first lines). Empty when there is nothing to say.
 */
export function describeDataProblems(data: Dataset, maxSeqLength: number): string[] {
  const lines: string[] = [];
  const s = data.stats;
  for (const k of data.skipped) lines.push(`skipped ${k.file}:${k.line}: ${k.reason}`);
  for (const x of s.specialTokenText) {
    const more = x.records > 1 ? ` (${x.records} records in this file)` : '';
    lines.push(`${x.file}:${x.line}: the data holds the text of the special token ${JSON.stringify(x.token)}${more}; it is trained as plain characters, not as that token`);
  }
  if (s.truncated > 0 && s.longestTruncated) {
    const l = s.longestTruncated;
    lines.push(`${s.truncated} record${s.truncated === 1 ? ' was' : 's were'} longer than max_seq_length ${maxSeqLength} tokens and truncated (longest: ${l.file}:${l.line}, ${l.atLeast ? 'over ' : ''}${l.tokens} tokens); raise data.max_seq_length to keep more`);
  }
  if (s.dropped > 0) {
    const where = s.droppedRecords.map((r) => `${r.file}:${r.line}`).join(', ');
    const more = s.dropped > s.droppedRecords.length ? `, and ${s.dropped - s.droppedRecords.length} more` : '';
    lines.push(`${s.dropped} record${s.dropped === 1 ? ' has' : 's have'} no token left to train on after truncation to max_seq_length ${maxSeqLength} and ${s.dropped === 1 ? 'is' : 'are'} left out: ${where}${more}; raise data.max_seq_length or shorten their prompts`);
  }
  return lines;
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
 *    target token. It yields to the event loop at least every 50 ms (so Ctrl-C and IPC are
 *    answered while a huge record is tokenized) and calls `opts.onProgress`. What it found
 *    (truncated records and the longest, records left with no target, special-token text per
 *    file) is in `stats`; `describeDataProblems` turns it into lines for the user.
 *
 * @throws DataError `file:line: what; what to do` for a bad record unless `skip_bad_records`;
 *   DataError naming the file when it is missing, has an unsupported extension, or has no usable
 *   record or example; DataError for an invalid `max_seq_length` / `validation`, for too few
 *   documents to hold out a fraction, and for chat records with a tokenizer that has no chat template.
 */
export async function loadDataset(cfg: DataConfig, tokenizer: Tokenizer, seed: number, opts: LoadOptions = {}): Promise<Dataset> {
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
  let longestTruncated: DatasetStats['longestTruncated'] = null;
  let dropped = 0;
  const droppedRecords: Source[] = [];
  const specialTokenText: DatasetStats['specialTokenText'] = [];
  const dataChars = (r: DataRecord) => (r.kind === 'text' ? r.text.length : r.kind === 'prompt_completion' ? r.prompt.length + r.completion.length : r.messages.reduce((n, m) => n + m.content.length, 0));
  let totalChars = 0;
  for (const r of trainRecords) totalChars += dataChars(r);
  for (const r of validationRecords) totalChars += dataChars(r);
  let doneChars = 0;
  let lastYield = performance.now();
  const tick = async (recordDone: number) => {
    if (performance.now() - lastYield < YIELD_MS) return;
    opts.onProgress?.(totalChars > 0 ? Math.min(1, (doneChars + recordDone) / totalChars) : 1);
    await yieldToEventLoop(); // answer signals (Ctrl-C) and IPC while tokenizing
    lastYield = performance.now();
  };
  const tokenizeAll = async (records: DataRecord[]): Promise<Example[]> => {
    const out: Example[] = [];
    for (const record of records) {
      const steps = tokenizeRecordSteps(record, tokenizer, tokOpts);
      let step = steps.next();
      while (!step.done) {
        await tick(step.value);
        step = steps.next();
      }
      const result = step.value;
      doneChars += dataChars(record);
      await tick(0);
      if (!('examples' in result)) {
        bad.report(record.source, result);
        continue;
      }
      if (result.truncated) {
        truncated++;
        const atLeast = result.cutChars !== undefined;
        if (longestTruncated === null || result.tokens > longestTruncated.tokens || (atLeast && !longestTruncated.atLeast)) {
          longestTruncated = { file: record.source.file, line: record.source.line, tokens: result.tokens, atLeast };
        }
      }
      if (result.examples.length === 0) {
        dropped++;
        if (droppedRecords.length < 10) droppedRecords.push(record.source);
      }
      if (result.specialTokenText !== undefined) {
        const seen = specialTokenText.find((x) => x.file === record.source.file);
        if (seen) seen.records++;
        else specialTokenText.push({ file: record.source.file, line: record.source.line, token: result.specialTokenText, records: 1 });
      }
      for (const ex of result.examples) out.push(ex);
    }
    return out;
  };
  const train = await tokenizeAll(trainRecords);
  const validation = await tokenizeAll(validationRecords);
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
      trainTokens, targetTokens, truncated, longestTruncated, dropped, droppedRecords, specialTokenText,
    },
  };
}
