// Five optimizer steps against ../shared/golden/stories260K_train5.* (PyTorch AdamW,
// global-norm clipping, HF warmup + cosine schedule, a right-padded batch of two).
// Tolerances from ../shared/golden/README-train.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CausalLM } from '../../../src/engine/infer/causal-lm';
import { AdamW, initAdamState } from '../../../src/engine/train/optimizer';
import { learningRate } from '../../../src/engine/train/schedule';
import { IGNORE_INDEX } from '../../../src/engine/train/loss';
import { readPeftAdapter, peftKey } from '../../../src/engine/weights/peft';
import { SafetensorsFile } from '../../../src/engine/weights/safetensors';
import type { HostTensor } from '../../../src/engine/tensor';
import { SHARED } from '../../helpers/paths';

const golden = JSON.parse(readFileSync(`${SHARED}/golden/stories260K_train5.json`, 'utf8'));

test('5 AdamW steps reproduce lr, loss, grad norm and the final adapter', async () => {
  const adapterDir = `${SHARED}/golden/adapters/stories260K_r4_a8`;
  const adapter = await readPeftAdapter(adapterDir);
  const lm = await CausalLM.load(`${SHARED}/models/stories260K`, { adapter: { adapter, source: adapterDir }, outputs: { loss: true, grads: true } });
  const params = new Map<string, HostTensor>();
  for (const [m, w] of adapter.modules) {
    params.set(peftKey(m, 'A'), w.A);
    params.set(peftKey(m, 'B'), w.B);
  }
  const ids: number[][] = golden.input_ids_padded;
  const mask: number[][] = golden.attention_mask;
  const labels = ids.map((row, b) => row.map((_, t) => (t + 1 < row.length && mask[b][t + 1] === 1 ? row[t + 1] : IGNORE_INDEX)));
  const opt = await AdamW.create(new Map([...params].map(([k, v]) => [k, v.shape])), {
    adam_beta1: 0.9, adam_beta2: 0.999, adam_epsilon: 1e-8, weight_decay: 0.1, max_grad_norm: 1.0,
  });
  const state = initAdamState(params);
  const sched = { lr_scheduler_type: 'cosine' as const, learning_rate: 1e-2, warmup_steps: 2, max_steps: 5 };
  for (let k = 0; k < 5; k++) {
    const want = golden.steps[k];
    const lr = learningRate(sched, k);
    assert.ok(Math.abs(lr - want.lr) <= 1e-12 * Math.max(1, want.lr), `lr at step ${k}: ${lr} vs ${want.lr}`);
    lm.setLoraFeeds(Object.fromEntries(params));
    const res = await lm.run({ inputIds: ids, attentionMask: mask, labels });
    const tolLoss = k < 2 ? 1e-5 : 2e-5;
    assert.ok(Math.abs(res.loss! - want.loss) <= tolLoss, `loss at step ${k}: ${res.loss} vs ${want.loss}`);
    const norm = await opt.step(params, res.grads!, state, lr);
    const tolNorm = k < 2 ? 1e-5 : 1e-4;
    assert.ok(Math.abs(norm - want.grad_norm) / want.grad_norm <= tolNorm, `grad norm at step ${k}: ${norm} vs ${want.grad_norm}`);
  }
  lm.setLoraFeeds(Object.fromEntries(params));
  const final = await lm.run({ inputIds: ids, attentionMask: mask, labels });
  assert.ok(Math.abs(final.loss! - golden.final_loss) <= 2e-5, `final loss ${final.loss} vs ${golden.final_loss}`);
  const ref = SafetensorsFile.openSync(`${SHARED}/golden/stories260K_train5.safetensors`);
  let sumSq = 0;
  let count = 0;
  let maxAbs = 0;
  for (const [key, p] of params) {
    const want = ref.readSync(key).data as Float32Array;
    const got = p.data as Float32Array;
    for (let i = 0; i < want.length; i++) {
      const d = Math.abs(got[i] - want[i]);
      sumSq += d * d;
      maxAbs = Math.max(maxAbs, d);
      count++;
    }
  }
  ref.close();
  assert.equal(count, 23120);
  const rms = Math.sqrt(sumSq / count);
  assert.ok(rms <= 1e-5, `adapter RMS diff ${rms}`);
  assert.ok(maxAbs <= 1e-3, `adapter max abs diff ${maxAbs}`);
});

test('padding: per-position NLLs of the padded batch match each sequence run alone', async () => {
  const adapterDir = `${SHARED}/golden/adapters/stories260K_r4_a8`;
  const adapter = await readPeftAdapter(adapterDir);
  const lm = await CausalLM.load(`${SHARED}/models/stories260K`, { adapter: { adapter, source: adapterDir }, outputs: { loss: true } });
  const ids: number[][] = golden.input_ids_padded;
  const mask: number[][] = golden.attention_mask;
  const labels = ids.map((row, b) => row.map((_, t) => (t + 1 < row.length && mask[b][t + 1] === 1 ? row[t + 1] : IGNORE_INDEX)));
  const res = await lm.run({ inputIds: ids, attentionMask: mask, labels });
  const T = ids[0].length;
  const nll = res.tokenNll!.data as Float32Array;
  const want: number[][] = golden.padding_check_step0.nll_in_padded_batch;
  want.forEach((row, b) => row.forEach((x, i) => assert.ok(Math.abs(nll[b * T + i] - x) <= 1e-5, `row ${b} pos ${i}: ${nll[b * T + i]} vs ${x}`)));
});
