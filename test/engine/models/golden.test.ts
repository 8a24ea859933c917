// The Llama graph against golden values from an independent PyTorch reference
// (../shared/golden, see ../shared/models/README.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CausalLM, shiftLabels } from '../../../src/engine/infer/causal-lm';
import { readPeftAdapter } from '../../../src/engine/weights/peft';
import { SafetensorsFile } from '../../../src/engine/weights/safetensors';
import { SHARED } from '../../helpers/paths';

const MODEL = `${SHARED}/models/stories260K`;
const logitsGolden = JSON.parse(readFileSync(`${SHARED}/golden/stories260K_logits.json`, 'utf8'));
const gradsGolden = JSON.parse(readFileSync(`${SHARED}/golden/stories260K_lora_grads.json`, 'utf8'));

test('logits of the golden prompt match within 1e-4 and argmax is identical', async () => {
  const lm = await CausalLM.load(MODEL, { outputs: { logits: true } });
  const ids: number[] = logitsGolden.token_ids;
  const { logits } = await lm.run({ inputIds: [ids] });
  const V = logitsGolden.vocab_size;
  assert.deepEqual(logits!.shape, [1, ids.length, V]);
  const data = logits!.data as Float32Array;
  let maxDiff = 0;
  for (let t = 0; t < ids.length; t++) {
    let best = 0;
    for (let v = 0; v < V; v++) {
      maxDiff = Math.max(maxDiff, Math.abs(data[t * V + v] - logitsGolden.logits[t][v]));
      if (data[t * V + v] > data[t * V + best]) best = v;
    }
    assert.equal(best, logitsGolden.argmax_per_position[t], `argmax at position ${t}`);
  }
  assert.ok(maxDiff <= 1e-4, `max |logit diff| ${maxDiff}`);
});

test('loss and every LoRA gradient match the golden (loss 1e-5, grads 1e-4 × max|grad|)', async () => {
  const adapterDir = `${SHARED}/golden/adapters/stories260K_r4_a8`;
  const adapter = await readPeftAdapter(adapterDir);
  const lm = await CausalLM.load(MODEL, { adapter: { adapter, source: adapterDir }, outputs: { loss: true, grads: true } });
  const ids: number[] = gradsGolden.token_ids;
  const res = await lm.run({ inputIds: [ids], labels: [shiftLabels(ids)] });
  assert.ok(Math.abs(res.loss! - gradsGolden.loss_value) <= 1e-5, `loss ${res.loss} vs ${gradsGolden.loss_value}`);
  const golden = SafetensorsFile.openSync(`${SHARED}/golden/stories260K_lora_grads.safetensors`);
  const keys: string[] = gradsGolden.safetensors_keys.inputs;
  assert.equal(keys.length, 70);
  assert.equal(res.grads!.size, 70);
  for (const key of keys) {
    const want = golden.readSync(`${key}.grad`).data as Float32Array;
    const got = res.grads!.get(key)!.data as Float32Array;
    assert.equal(got.length, want.length, key);
    const scale = Math.max(...Array.from(want, Math.abs));
    let err = 0;
    for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]));
    assert.ok(err <= 1e-4 * scale, `${key}: max err ${err} > 1e-4 × ${scale}`);
  }
  golden.close();
});

test('base model loss without LoRA matches the golden', async () => {
  const lm = await CausalLM.load(MODEL, { outputs: { loss: true } });
  const ids: number[] = gradsGolden.token_ids;
  const res = await lm.run({ inputIds: [ids], labels: [shiftLabels(ids)] });
  assert.ok(Math.abs(res.loss! - gradsGolden.base_model_loss_without_lora) <= 1e-5, `${res.loss}`);
});
