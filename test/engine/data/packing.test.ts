/** Best-fit-decreasing packing and packed batches over real tinyshakespeare documents. */
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { DataLoader, packBestFitDecreasing, tokenizeRecord, type Batch, type Example } from '../../../src/engine/data/index';
import { EOS, SHAKESPEARE, storiesTokenizer } from './helpers';

describe('packBestFitDecreasing', () => {
  test('longest first, each into the fullest bin it fits (worked by hand)', () => {
    // Sorted: 5(#0) 4(#1) 3(#2) 3(#3) 2(#4) 1(#5), capacity 8.
    // 5 → new bin A (room 3); 4 → new bin B (room 4); 3 → A (room 3 is the least ≥ 3; room 0);
    // 3 → B (room 1); 2 → new bin C (room 6); 1 → B (room 1 is the least ≥ 1; room 0).
    assert.deepEqual(packBestFitDecreasing([5, 4, 3, 3, 2, 1], 8), [[0, 2], [1, 3, 5], [4]]);
  });

  test('ties keep input order; exact fits; one item per bin at full capacity', () => {
    assert.deepEqual(packBestFitDecreasing([2, 2, 2, 2], 4), [[0, 1], [2, 3]]);
    assert.deepEqual(packBestFitDecreasing([4, 4], 4), [[0], [1]]);
    assert.deepEqual(packBestFitDecreasing([], 4), []);
    assert.throws(() => packBestFitDecreasing([5], 4), /length 5 is not in 1\.\.4/);
  });

  test('every item is placed once and no bin overflows (random lengths)', () => {
    let s = 12345;
    const lengths = Array.from({ length: 2000 }, () => ((s = (s * 1103515245 + 12345) % 2 ** 31) % 100) + 1);
    const bins = packBestFitDecreasing(lengths, 128);
    assert.deepEqual(bins.flat().sort((a, b) => a - b), lengths.map((_, i) => i));
    for (const bin of bins) assert.ok(bin.reduce((n, i) => n + lengths[i], 0) <= 128);
    const total = lengths.reduce((a, b) => a + b, 0);
    assert.ok(bins.length <= Math.ceil(total / 128) * 1.05 + 1, `BFD is near-optimal: ${bins.length} bins for ${total} tokens`);
  });
});

describe('packed batches over tinyshakespeare documents', () => {
  const L = 64;
  let examples: Example[];
  before(async () => {
    const tok = await storiesTokenizer();
    const text = (await readFile(SHAKESPEARE, 'utf8')).slice(0, 20_000);
    examples = text.split(/\n\s*\n/).filter((d) => d.trim()).flatMap((doc, i) => {
      const r = tokenizeRecord({ kind: 'text', text: doc, source: { file: 'mem', line: i } }, tok, { maxSeqLength: L, completionOnlyLoss: true });
      assert.ok('examples' in r);
      return r.examples;
    });
  });

  /** The segments of a batch row: [start, end) runs of equal non-zero mask values. */
  function segments(batch: Batch, b: number): [number, number][] {
    const mask = batch.attentionMask[b];
    const out: [number, number][] = [];
    for (let t = 0; t < mask.length && mask[t] !== 0; t++) {
      if (t === 0 || mask[t] !== mask[t - 1]) out.push([t, t + 1]);
      else out[out.length - 1][1] = t + 1;
    }
    return out;
  }

  test('one epoch: segment ids 1..k, positions restart, labels stay inside documents, every target token exactly once', () => {
    const loader = new DataLoader(examples, { batchSize: 4, seed: 1, packing: true, maxSeqLength: L, padTokenId: EOS });
    assert.ok(loader.rowsPerEpoch < examples.length, `packing merges rows: ${loader.rowsPerEpoch} rows for ${examples.length} examples`);
    const remaining = new Map<string, number>();
    for (const ex of examples) remaining.set(ex.ids.join(','), (remaining.get(ex.ids.join(',')) ?? 0) + 1);
    let tokens = 0;
    let rows = 0;
    let multiDocRows = 0;
    for (let i = 0; i < loader.batchesPerEpoch; i++) {
      const batch = loader.next();
      tokens += batch.tokens;
      let counted = 0;
      for (let b = 0; b < batch.inputIds.length; b++) {
        rows++;
        const segs = segments(batch, b);
        const used = segs[segs.length - 1][1];
        assert.ok(used <= L);
        assert.ok(batch.attentionMask[b].slice(used).every((m) => m === 0), 'pads only at the end');
        if (segs.length > 1) multiDocRows++;
        segs.forEach(([s, e], k) => {
          const ids = batch.inputIds[b].slice(s, e);
          assert.ok(batch.attentionMask[b].slice(s, e).every((m) => m === k + 1), 'segment id k+1 for the k-th document');
          assert.deepEqual(batch.positionIds[b].slice(s, e), ids.map((_, t) => t), 'positions restart at 0');
          const key = ids.join(',');
          const left = remaining.get(key);
          assert.ok(left, 'the segment is a whole example not seen before in this epoch');
          remaining.set(key, left - 1);
          const ex = examples.find((x) => x.ids.join(',') === key)!;
          const expected = ids.map((_, t) => (t + 1 < ids.length && ex.target[t + 1] === 1 ? ids[t + 1] : -100));
          assert.deepEqual(batch.labels[b].slice(s, e), expected, 'labels = the example\'s own next target tokens; the last predicts nothing');
          counted += expected.filter((x) => x !== -100).length;
        });
        assert.ok(batch.labels[b].slice(used).every((x) => x === -100));
      }
      assert.equal(batch.tokens, counted);
    }
    assert.ok([...remaining.values()].every((n) => n === 0), 'every example of the epoch was used');
    assert.equal(rows, loader.rowsPerEpoch);
    assert.ok(multiDocRows > 0);
    assert.equal(tokens, examples.reduce((n, ex) => n + ex.target.reduce((m, t) => m + t, 0), 0));
    assert.deepEqual(loader.state(), { epoch: 1, index: 0 });
  });

  test('packing is seeded: same seed → same rows, another seed → another order; rows per epoch constant', () => {
    const make = (seed: number) => new DataLoader(examples, { batchSize: 4, seed, packing: true, maxSeqLength: L, padTokenId: EOS });
    const a = make(5);
    const b = make(5);
    const c = make(6);
    const n = a.batchesPerEpoch + 2;
    const batchesA = Array.from({ length: n }, () => a.next());
    assert.deepEqual(Array.from({ length: n }, () => b.next()), batchesA);
    assert.notDeepEqual(Array.from({ length: n }, () => c.next()).map((x) => x.inputIds), batchesA.map((x) => x.inputIds));
    assert.equal(c.rowsPerEpoch, a.rowsPerEpoch);
  });
});
