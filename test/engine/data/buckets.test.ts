// Sequence-length buckets (data.pad_to_multiple_of): batch lengths fall in a small set, and the
// padding is masked so the loss and gradients equal the float64 golden of the unpadded text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DataLoader, IGNORE_INDEX, bucketLength, collate, evalBatches, type Example } from '../../../src/engine/data/index';
import { CausalLM } from '../../../src/engine/infer/causal-lm';
import { readPeftAdapter } from '../../../src/engine/weights/peft';
import { SafetensorsFile } from '../../../src/engine/weights/safetensors';
import { SHARED } from '../../helpers/paths';

const ex = (ids: number[]): Example => ({ ids, target: new Uint8Array(ids.length).fill(1), source: { file: 'x.txt', line: 1 } } as Example);

test('bucketLength: next multiple, capped at max_seq_length, never below the longest row; null = no buckets', () => {
  const pad = (m: number | null, maxLength = 512) => ({ padToMultipleOf: m, maxLength });
  assert.equal(bucketLength(10, pad(64)), 64);
  assert.equal(bucketLength(64, pad(64)), 64);
  assert.equal(bucketLength(65, pad(64)), 128);
  assert.equal(bucketLength(500, pad(64)), 512);
  assert.equal(bucketLength(450, pad(64, 460)), 460);
  assert.equal(bucketLength(10, pad(64, 32)), 32);
  assert.equal(bucketLength(40, pad(null)), 40);
  assert.equal(bucketLength(40, null), 40);
  assert.throws(() => bucketLength(3, pad(0)), /pad_to_multiple_of must be a positive integer or null, got 0/);
});

test('over an epoch, every batch length is a bucket, and every pad is masked', () => {
  const lengths = Array.from({ length: 57 }, (_, i) => 3 + ((i * 37) % 190));
  const examples = lengths.map((n, i) => ex(Array.from({ length: n }, (_, t) => 5 + ((i + t) % 50))));
  for (const packing of [false, true]) {
    const loader = new DataLoader(examples, { batchSize: 4, seed: 3, packing, maxSeqLength: 200, padTokenId: 0, padToMultipleOf: 64 });
    const seen = new Set<number>();
    for (let b = 0; b < loader.batchesPerEpoch; b++) {
      const batch = loader.next();
      const T = batch.inputIds[0].length;
      seen.add(T);
      batch.inputIds.forEach((row, r) => {
        assert.equal(row.length, T);
        const real = batch.attentionMask[r].filter((m) => m !== 0).length;
        for (let t = real; t < T; t++) {
          assert.equal(batch.attentionMask[r][t], 0, `pad at ${t} has attention mask 0`);
          assert.equal(batch.labels[r][t], IGNORE_INDEX, `pad at ${t} predicts nothing`);
        }
      });
    }
    assert.ok([...seen].every((T) => [64, 128, 192, 200].includes(T)), `packing ${packing}: lengths ${[...seen].sort((a, b) => a - b)}`);
    if (!packing) assert.ok(seen.size >= 2, 'the data has several lengths');
  }
  const val = evalBatches(examples.slice(0, 9), 4, 0, { padToMultipleOf: 64, maxLength: 200 });
  assert.ok(val.every((b) => [64, 128, 192, 200].includes(b.inputIds[0].length)));
  assert.throws(() => new DataLoader(examples, { batchSize: 4, seed: 3, packing: false, maxSeqLength: 200, padTokenId: 0, padToMultipleOf: 2.5 }), /padToMultipleOf must be a positive integer or null, got 2.5/);
});

test('a text padded to its 64-token bucket has the golden float64 loss and LoRA gradients', async () => {
  const G = JSON.parse(readFileSync(`${SHARED}/golden/stories260K_lora_grads.json`, 'utf8'));
  const ids: number[] = G.token_ids; // 24 tokens
  const batch = collate([[ex(ids)]], 300, { padToMultipleOf: 64, maxLength: 512 });
  assert.equal(batch.inputIds[0].length, 64);
  assert.equal(batch.tokens, 23);
  const adapterDir = `${SHARED}/golden/adapters/stories260K_r4_a8`;
  const adapter = await readPeftAdapter(adapterDir);
  const lm = await CausalLM.load(`${SHARED}/models/stories260K`, { adapter: { adapter, source: adapterDir }, outputs: { loss: true, grads: true } });
  const res = await lm.run(batch);
  await lm.release();
  assert.ok(Math.abs(res.loss! - G.loss_value) <= 1e-5, `padded loss ${res.loss} vs golden ${G.loss_value}`);
  const golden = SafetensorsFile.openSync(`${SHARED}/golden/stories260K_lora_grads.safetensors`);
  for (const key of G.safetensors_keys.inputs as string[]) {
    const want = golden.readSync(`${key}.grad`).data as Float32Array;
    const got = res.grads!.get(key)!.data as Float32Array;
    const scale = Math.max(...Array.from(want, Math.abs));
    let err = 0;
    for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]));
    assert.ok(err <= 1e-4 * scale, `${key}: max err ${err} > 1e-4 × ${scale}`);
  }
  golden.close();
});
