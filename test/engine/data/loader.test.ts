/** Collation (padding, segment ids, label alignment) and the seeded, resumable DataLoader. */
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type { Tokenizer } from '../../../src/engine/tokenizer/index';
import { DataLoader, IGNORE_INDEX, collate, evalBatches, tokenizeRecord, type Batch, type DataLoaderOptions, type Example } from '../../../src/engine/data/index';
import { EOS, example, storiesTokenizer } from './helpers';

let tok: Tokenizer;
before(async () => {
  tok = await storiesTokenizer();
});

function textExample(t: string, line = 1): Example {
  const r = tokenizeRecord({ kind: 'text', text: t, source: { file: 'mem', line } }, tok, { maxSeqLength: 512, completionOnlyLoss: true });
  assert.ok('examples' in r);
  return r.examples[0];
}

describe('collate: padding and label alignment (the golden batch)', () => {
  test('rows of 20 and 15 tokens: right-padded to 20, labels[t] = ids[t+1], 33 target labels', async () => {
    const golden = JSON.parse(await readFile('/work/shared/golden/stories260K_train5.json', 'utf8')) as {
      texts: string[]; token_ids: number[][]; attention_mask: number[][];
    };
    const [a, b] = golden.texts.map((t) => textExample(t));
    assert.deepEqual([a.ids, b.ids], golden.token_ids);
    assert.deepEqual([a.ids.length, b.ids.length], [20, 15]);

    const batch = collate([[a], [b]], EOS);
    const pad = (ids: number[]) => [...ids, ...new Array<number>(20 - ids.length).fill(EOS)];
    assert.deepEqual(batch.inputIds, [a.ids, pad(b.ids)]);
    assert.deepEqual(batch.attentionMask, golden.attention_mask);
    assert.deepEqual(batch.positionIds, [
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19],
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0, 0, 0, 0, 0],
    ]);
    // Row 0: [317, 272, ..., 426, -100]; row 1: 14 predictions then 6 × -100.
    assert.deepEqual(batch.labels[0], [...golden.token_ids[0].slice(1), -100]);
    assert.deepEqual(batch.labels[1], [...golden.token_ids[1].slice(1), -100, -100, -100, -100, -100, -100]);
    assert.deepEqual(batch.labels[1].slice(0, 3), [274, 287, 269]);
    assert.equal(batch.tokens, 33);
  });

  test('non-target tokens get -100 at the position that would predict them', () => {
    const ex = example([1, 10, 11, 12, 13], 3); // targets: 12, 13
    const batch = collate([[ex]], 0);
    assert.deepEqual(batch.labels, [[-100, -100, 12, 13, -100]]);
    assert.equal(batch.tokens, 2);
  });

  test('a packed row: segment ids, positions restart, no label crosses a boundary', () => {
    const batch = collate([[example([1, 5, 6]), example([1, 7, 8, 9])], [example([1, 4])]], 0);
    assert.deepEqual(batch.inputIds, [[1, 5, 6, 1, 7, 8, 9], [1, 4, 0, 0, 0, 0, 0]]);
    assert.deepEqual(batch.attentionMask, [[1, 1, 1, 2, 2, 2, 2], [1, 1, 0, 0, 0, 0, 0]]);
    assert.deepEqual(batch.positionIds, [[0, 1, 2, 0, 1, 2, 3], [0, 1, 0, 0, 0, 0, 0]]);
    assert.deepEqual(batch.labels, [[5, 6, -100, 7, 8, 9, -100], [4, -100, -100, -100, -100, -100, -100]]);
    assert.equal(batch.tokens, 6);
  });
});

describe('evalBatches', () => {
  test('fixed order, last batch smaller, same every call', () => {
    const exs = [2, 3, 4, 5, 6].map((n, i) => example(Array.from({ length: n }, (_, t) => 10 + t), 1, i + 1));
    const batches = evalBatches(exs, 2, 0);
    assert.deepEqual(batches.map((b) => b.inputIds.length), [2, 2, 1]);
    assert.deepEqual(batches.map((b) => b.inputIds[0].filter((_, t) => b.attentionMask[0][t] !== 0).length), [2, 4, 6]);
    assert.deepEqual(evalBatches(exs, 2, 0), batches);
    assert.equal(batches.reduce((n, b) => n + b.tokens, 0), 1 + 2 + 3 + 4 + 5);
  });
});

/** n distinct examples; example i has i+2 tokens (first token encodes i). */
function numbered(n: number): Example[] {
  return Array.from({ length: n }, (_, i) => example([1000 + i, ...Array.from({ length: (i % 7) + 1 }, (_, t) => t + 3)], 1, i + 1));
}
const firstIds = (b: Batch) => b.inputIds.map((row) => row[0]);
const opts = (over: Partial<DataLoaderOptions> = {}): DataLoaderOptions => ({ batchSize: 4, seed: 0, packing: false, maxSeqLength: 64, padTokenId: 0, ...over });
const take = (loader: DataLoader, k: number) => Array.from({ length: k }, () => loader.next());

describe('DataLoader', () => {
  const data = numbered(10);

  test('drop_last false: 10 examples in batches of 4 → 4, 4, 2, then the next epoch', () => {
    const loader = new DataLoader(data, opts());
    assert.equal(loader.batchesPerEpoch, 3);
    const sizes = take(loader, 4).map((b) => b.inputIds.length);
    assert.deepEqual(sizes, [4, 4, 2, 4]);
    assert.deepEqual(loader.state(), { epoch: 1, index: 4 });
  });

  test('each epoch visits every example exactly once, in a different order per epoch', () => {
    const loader = new DataLoader(data, opts());
    const epoch0 = take(loader, 3).flatMap(firstIds);
    const epoch1 = take(loader, 3).flatMap(firstIds);
    const all = data.map((e) => e.ids[0]);
    assert.deepEqual([...epoch0].sort(), [...all].sort());
    assert.deepEqual([...epoch1].sort(), [...all].sort());
    assert.notDeepEqual(epoch0, epoch1);
    assert.notDeepEqual(epoch0, all); // shuffled
  });

  test('same seed → same batches; different seed → different batches', () => {
    const a = take(new DataLoader(data, opts({ seed: 7 })), 8);
    const b = take(new DataLoader(data, opts({ seed: 7 })), 8);
    const c = take(new DataLoader(data, opts({ seed: 8 })), 8);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a.map(firstIds), c.map(firstIds));
  });

  for (const packing of [false, true]) {
    test(`state() / restore() continue identically over the next 10 batches (packing ${packing})`, () => {
      const o = opts({ seed: 3, packing, batchSize: packing ? 2 : 3, maxSeqLength: 12 });
      const original = new DataLoader(numbered(23), o);
      take(original, 5);
      const saved = JSON.parse(JSON.stringify(original.state())) as ReturnType<DataLoader['state']>;
      const expected = take(original, 10);
      const restored = DataLoader.restore(numbered(23), o, saved);
      assert.deepEqual(take(restored, 10), expected);
      const reset = new DataLoader(numbered(23), o);
      reset.setState(saved);
      assert.deepEqual(take(reset, 10), expected);
      assert.ok(original.state().epoch >= 1, 'the 15 batches wrapped into a later epoch');
    });
  }

  test('a state that does not fit the data is refused', () => {
    const loader = new DataLoader(data, opts());
    assert.throws(() => loader.setState({ epoch: 0, index: 10 }), /state.index must be in 0\.\.9, got 10/);
    assert.throws(() => loader.setState({ epoch: -1, index: 0 }), /state.epoch must be a non-negative integer/);
  });

  test('examples longer than maxSeqLength are truncated (start kept)', () => {
    const loader = new DataLoader([example([1, 2, 3, 4, 5, 6])], opts({ maxSeqLength: 4, batchSize: 1 }));
    const b = loader.next();
    assert.deepEqual(b.inputIds, [[1, 2, 3, 4]]);
    assert.deepEqual(b.labels, [[2, 3, 4, -100]]);
  });

  test('pads are the given pad id; IGNORE_INDEX is -100', () => {
    const loader = new DataLoader([example([1, 2]), example([1, 2, 3, 4])], opts({ batchSize: 2, padTokenId: 77 }));
    const b = loader.next();
    const short = b.inputIds.find((r) => r[3] === 77);
    assert.ok(short);
    assert.equal(IGNORE_INDEX, -100);
  });
});
