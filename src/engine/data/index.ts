/**
 * Datasets for fine-tuning: reading `.jsonl` / `.txt` data, tokenizing with loss masks
 * (completion-only by default), the seeded train/validation split, and batching with seeded
 * per-epoch shuffling and optional packing.
 *
 * ```ts
 * const data = await loadDataset(cfg.data, tokenizer, cfg.training.seed);
 * const loader = new DataLoader(data.train, { batchSize: 8, seed: 0, packing: false, maxSeqLength: 512, padTokenId: tokenizer.padTokenId });
 * const batch = loader.next(); // { inputIds, attentionMask, positionIds, labels, tokens }
 * ```
 */
export { DataError } from './errors';
export type { DataRecord, SkippedRecord, Source } from './records';
export { readRecords, DATA_EXTENSIONS } from './read';
export type { ReadOptions } from './read';
export { tokenizeRecord, tokenizeRecordSteps, maxDataChars, TEXT_PIECE_CHARS } from './tokenize';
export type { Example, TokenizeOptions, TokenizedRecord } from './tokenize';
export { splitHoldout } from './split';
export { createRng, shuffle, permutation } from './random';
export { bucketLength, collate, evalBatches, IGNORE_INDEX } from './batch';
export type { Batch, PadOptions } from './batch';
export { packBestFitDecreasing } from './packing';
export { DataLoader } from './loader';
export type { DataLoaderOptions, LoaderState } from './loader';
export { loadDataset, describeDataProblems } from './dataset';
export type { DataConfig, Dataset, DatasetStats, LoadOptions } from './dataset';
export { fingerprint } from './fingerprint';
