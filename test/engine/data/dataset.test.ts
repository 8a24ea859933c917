/** loadDataset end to end: kinds, stats, validation (file / fraction / none), skip mode, tinyshakespeare, fingerprint. */
import { test, describe, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Tokenizer } from '../../../src/engine/tokenizer/index';
import { DataError, fingerprint, loadDataset, type DataConfig } from '../../../src/engine/data/index';
import { BOS, EOS, SHAKESPEARE, TempFiles, countTargets, storiesTokenizer } from './helpers';

const files = new TempFiles();
after(() => files.cleanup());

let tok: Tokenizer;
before(async () => {
  tok = await storiesTokenizer();
});

const cfg = (train: string, over: Partial<DataConfig> = {}): DataConfig => ({
  train, validation: null, max_seq_length: 512, packing: false, completion_only_loss: true, skip_bad_records: false, ...over,
});

async function loadError(c: DataConfig): Promise<DataError> {
  try {
    await loadDataset(c, tok, 0);
  } catch (e) {
    assert.ok(e instanceof DataError, `expected DataError, got ${String(e)}`);
    return e;
  }
  assert.fail('no DataError thrown');
}

/** n text records "Story number i." */
const stories = (n: number) => Array.from({ length: n }, (_, i) => ({ text: `Story number ${i}. The cat sat on the mat.` }));

describe('loadDataset', () => {
  test('text and prompt/completion records: examples in file order, exact ids, stats', async () => {
    const train = await files.jsonl([{ text: 'Once upon a time.' }, { prompt: 'Q: Who?', completion: ' Lily.' }]);
    const data = await loadDataset(cfg(train), tok, 0);
    assert.deepEqual(data.train.map((e) => e.ids), [
      tok.encode('Once upon a time.'),
      [...tok.encode('Q: Who? Lily.'), EOS], // prompt + completion encoded as one text, then EOS
    ]);
    assert.deepEqual(data.train.map((e) => e.source), [{ file: train, line: 1 }, { file: train, line: 2 }]);
    assert.deepEqual(data.validation, []);
    assert.deepEqual(data.skipped, []);
    const tokens = data.train[0].ids.length + data.train[1].ids.length;
    // 'Q: Who?' is a prefix of 'Q: Who? Lily.' in tokens (the space goes to "▁L…"), so the completion side is the rest.
    const promptTokens = tok.encode('Q: Who?').length;
    assert.deepEqual(tok.encode('Q: Who? Lily.').slice(0, promptTokens), tok.encode('Q: Who?'));
    const targets = (data.train[0].ids.length - 1) + (data.train[1].ids.length - promptTokens);
    assert.deepEqual(data.stats, {
      documents: 2, trainExamples: 2, validationExamples: 0, trainTokens: tokens, targetTokens: targets,
      truncated: 0, longestTruncated: null, dropped: 0, droppedRecords: [], specialTokenText: [],
    });
    for (const ex of data.train) assert.equal(ex.ids.filter((id) => id === BOS).length, 1);
  });

  test('chunking counts examples, truncation counts records; a record left without targets is dropped', async () => {
    const longText = 'Lily found a small red ball in the garden. Tom and his dog went to the park.';
    const train = await files.jsonl([{ text: longText }, { prompt: 'A long prompt that fills everything up', completion: ' yes' }, { prompt: 'Hi', completion: ' yes' }]);
    assert.equal(tok.encode(longText).length, 34); // → chunks of 8, 8, 8, 8, 2
    const hiYes = tok.encode('Hi yes').length + 1;
    assert.ok(hiYes <= 8); // fits in 8
    const data = await loadDataset(cfg(train, { max_seq_length: 8 }), tok, 0);
    assert.deepEqual(data.train.map((e) => e.ids.length), [8, 8, 8, 8, 2, hiYes]);
    assert.equal(data.stats.trainExamples, 6);
    assert.equal(data.stats.truncated, 1); // the long prompt: cut to 8 prompt tokens, no completion left
    assert.equal(data.stats.dropped, 1);
    assert.deepEqual(data.stats.droppedRecords, [{ file: train, line: 2 }]);
    assert.deepEqual(data.stats.longestTruncated, { file: train, line: 2, tokens: tok.encode('A long prompt that fills everything up yes').length + 1, atLeast: false });
    assert.equal(data.stats.documents, 3);
    assert.ok(data.train.every((e) => e.ids.length <= 8 && countTargets(e) > 0));
  });

  test('validation file: read and tokenized the same way', async () => {
    const train = await files.jsonl(stories(3));
    const val = await files.file('val.txt', 'First doc.\n\nSecond doc.\n');
    const data = await loadDataset(cfg(train, { validation: val }), tok, 0);
    assert.deepEqual(data.validation.map((e) => e.ids), [tok.encode('First doc.'), tok.encode('Second doc.')]);
    assert.equal(data.stats.documents, 5);
    assert.equal(data.stats.validationExamples, 2);
  });

  test('validation fraction: ceil(f·n) documents held out, seeded, disjoint; null and 0 hold out none', async () => {
    const train = await files.jsonl(stories(20));
    const a = await loadDataset(cfg(train, { validation: 0.1 }), tok, 42);
    const b = await loadDataset(cfg(train, { validation: 0.1 }), tok, 42);
    const c = await loadDataset(cfg(train, { validation: 0.1 }), tok, 43);
    const lines = (exs: { source: { line: number } }[]) => exs.map((e) => e.source.line);
    assert.equal(a.validation.length, 2);
    assert.equal(a.train.length, 18);
    assert.deepEqual(lines(a.validation), lines(b.validation));
    assert.notDeepEqual(lines(a.validation), lines(c.validation));
    assert.deepEqual([...lines(a.train), ...lines(a.validation)].sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i + 1));
    assert.equal(a.stats.documents, 20);
    const tiny = await loadDataset(cfg(train, { validation: 0.001 }), tok, 0);
    assert.equal(tiny.validation.length, 1, 'at least one held out');
    for (const none of [null, 0]) assert.equal((await loadDataset(cfg(train, { validation: none }), tok, 0)).validation.length, 0);
  });

  test('a held-out document keeps all its chunks on the validation side', async () => {
    const train = await files.jsonl(Array.from({ length: 10 }, (_, i) => ({ text: `Doc ${i}: Lily found a small red ball in the garden and Tom went to the park.` })));
    const data = await loadDataset(cfg(train, { validation: 0.3, max_seq_length: 6 }), tok, 1);
    const trainLines = new Set(data.train.map((e) => e.source.line));
    const valLines = new Set(data.validation.map((e) => e.source.line));
    assert.equal(valLines.size, 3);
    assert.ok([...valLines].every((l) => !trainLines.has(l)));
    assert.ok(data.validation.length > 3);
  });

  test('skip mode: bad records of both files are counted and listed by file and line', async () => {
    const train = await files.jsonl(['{"text": "good one"}', '{"text": 1}', '{oops', '{"text": "good two"}']);
    const val = await files.jsonl(['{"prompt": "p"}', '{"text": "good val"}'], 'val.jsonl');
    const data = await loadDataset(cfg(train, { validation: val, skip_bad_records: true }), tok, 0);
    assert.equal(data.train.length, 2);
    assert.equal(data.validation.length, 1);
    assert.deepEqual(data.skipped.map((s) => [s.file, s.line]), [[train, 2], [train, 3], [val, 1]]);
    assert.equal(data.skipped[2].reason, '"prompt" without "completion"');
    const err = await loadError(cfg(train, { validation: val }));
    assert.equal(err.message, `${train}:2: "text" must be a string, got a number; make it a string, or set "skip_bad_records": true to skip such records`);
  });

  test('errors: bad settings, too few documents for a fraction, nothing to train on', async () => {
    const one = await files.jsonl([{ prompt: 'A very long prompt indeed', completion: ' x' }]);
    assert.equal((await loadError(cfg(one, { max_seq_length: 1 }))).message, 'data.max_seq_length must be an integer of at least 2, got 1; fix the experiment file');
    assert.equal((await loadError(cfg(one, { validation: 1.5 }))).message, 'data.validation must be a file or a fraction in (0, 1) of the training documents, got 1.5; fix the experiment file');
    assert.equal((await loadError(cfg(one, { validation: 0.5 }))).message,
      `${one}: 1 usable record(s), too few to hold out 0.5 for validation; add data, lower "validation", or set it to null or a file`);
    assert.equal((await loadError(cfg(one, { max_seq_length: 3 }))).message,
      `${one}: no example has a token to train on (1 records, 1 left with no target after truncation to max_seq_length 3, 0 skipped); raise max_seq_length or check the records`);
    const missing = join(await files.dir(), 'val.jsonl');
    assert.equal((await loadError(cfg(one, { validation: missing }))).file, missing);
  });

  test('tinyshakespeare, first 300,000 bytes: one document per blank-line-separated block', async () => {
    const bytes = (await readFile(SHAKESPEARE)).subarray(0, 300_000);
    const text = bytes.toString('utf8');
    // Independent count: split on runs of blank lines, keep non-blank pieces.
    const expected = text.split(/\r?\n(?:[ \t]*\r?\n)+/).filter((d) => /\S/.test(d)).length;
    assert.ok(expected > 1000, `${expected} documents`);
    const file = await files.file('shakespeare-300k.txt', bytes);
    const data = await loadDataset(cfg(file, { max_seq_length: 256, validation: 0.05 }), tok, 0);
    assert.equal(data.stats.documents, expected);
    const held = Math.ceil(0.05 * expected);
    assert.equal(new Set(data.validation.map((e) => e.source.line)).size, held);
    assert.equal(new Set(data.train.map((e) => e.source.line)).size, expected - held);
    // Every document starts with exactly one BOS; later chunks of a long speech have none.
    const firstChunks = new Set<number>();
    for (const ex of [...data.train, ...data.validation]) {
      const bos = ex.ids.filter((id) => id === BOS).length;
      if (!firstChunks.has(ex.source.line)) {
        firstChunks.add(ex.source.line);
        assert.equal(ex.ids[0], BOS);
        assert.equal(bos, 1);
      } else {
        assert.equal(bos, 0);
      }
    }
    assert.equal(data.stats.trainTokens, data.train.reduce((n, e) => n + e.ids.length, 0));
    assert.equal(data.stats.targetTokens, data.train.reduce((n, e) => n + countTargets(e), 0));
  });
});

describe('fingerprint', () => {
  test('sha256 of the bytes, hex', async () => {
    const abc = await files.file('abc.txt', 'abc');
    assert.equal(await fingerprint(abc), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const expected = createHash('sha256').update(await readFile(SHAKESPEARE)).digest('hex');
    assert.equal(await fingerprint(SHAKESPEARE), expected);
  });

  test('a missing file is a DataError naming it', async () => {
    const missing = join(await files.dir(), 'gone.jsonl');
    await assert.rejects(fingerprint(missing), (e: unknown) => e instanceof DataError && e.file === missing && e.message === `${missing}: file not found; check the path`);
  });
});
