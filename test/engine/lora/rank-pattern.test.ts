// Adapters whose modules have different ranks (PEFT rank_pattern / alpha_pattern, merged
// adapters), on the real stories260K Llama:
// - logits with the adapter as LoRA feeds equal the base graph run on dense weights
//   W' = W + s·B·A merged in float64 here, with r and s per module written out by hand;
// - a per-module gradient equals a central finite difference of the float64 loss.
// Before each module had its own rank dim, ONNX Runtime failed on such an adapter with
// "Shape mismatch attempting to re-use buffer".
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CausalLM, shiftLabels } from '../../../src/engine/infer/causal-lm';
import { createRng } from '../../../src/engine/data/random';
import { loraRankDim } from '../../../src/engine/lora/index';
import type { HostTensor } from '../../../src/engine/tensor';
import { type LoraWeights, peftKey, readPeftAdapter, writePeftAdapter } from '../../../src/engine/weights/peft';
import { SafetensorsFile, writeSafetensors } from '../../../src/engine/weights/safetensors';
import { SHARED } from '../../helpers/paths';

const MODEL = `${SHARED}/models/stories260K`;
const tmp = mkdtempSync(join(tmpdir(), 'loralab-rank-pattern-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

// stories260K: D = 64, Hkv·Dh = 32, intermediate 172, 5 layers.
const PROJS: Record<string, [number, number]> = {
  'self_attn.q_proj': [64, 64],
  'self_attn.k_proj': [64, 32],
  'self_attn.v_proj': [64, 32],
  'self_attn.o_proj': [64, 64],
  'mlp.gate_proj': [64, 172],
  'mlp.up_proj': [64, 172],
  'mlp.down_proj': [172, 64],
};

// The adapter config under test: default r 4 / alpha 8; PEFT's first matching key wins, so
// layer 1's q_proj takes rank 8 from its own key before "q_proj" gives the others rank 2.
const CONFIG = {
  r: 4,
  lora_alpha: 8,
  rank_pattern: { 'layers.1.self_attn.q_proj': 8, q_proj: 2, v_proj: 8, 'mlp\\.(gate|down)_proj': 8 },
  alpha_pattern: { q_proj: 1, down_proj: 32 },
};
/** r and s = alpha / r of each module, derived by hand from CONFIG (not by the engine). */
function handRankAndScaling(module: string): { r: number; s: number } {
  if (module === 'model.layers.1.self_attn.q_proj') return { r: 8, s: 1 / 8 };
  if (module.endsWith('q_proj')) return { r: 2, s: 1 / 2 };
  if (module.endsWith('down_proj')) return { r: 8, s: 32 / 8 };
  if (module.endsWith('v_proj') || module.endsWith('gate_proj')) return { r: 8, s: 8 / 8 };
  return { r: 4, s: 8 / 4 }; // k_proj, o_proj, up_proj
}

function randomAdapter(seed: number): LoraWeights[] {
  const rand = createRng(seed);
  const t = (shape: [number, number], scale: number): HostTensor => ({
    dtype: 'float32', shape, data: Float32Array.from({ length: shape[0] * shape[1] }, () => (rand() * 2 - 1) * scale),
  });
  const out: LoraWeights[] = [];
  for (let l = 0; l < 5; l++) {
    for (const [p, [inF, outF]] of Object.entries(PROJS)) {
      const module = `model.layers.${l}.${p}`;
      const { r } = handRankAndScaling(module);
      out.push({ module, A: t([r, inF], 1 / Math.sqrt(inF)), B: t([outF, r], 0.1) });
    }
  }
  return out;
}

const adapterDir = join(tmp, 'adapter');
const weights = randomAdapter(7);
const IDS = [1, 403, 407, 261, 378, 300, 267, 289, 352, 410, 285, 2];

test('the adapter has modules of rank 2, 4 and 8 and the graph gives each module its own rank dim', async () => {
  await writePeftAdapter(adapterDir, CONFIG, weights);
  const adapter = await readPeftAdapter(adapterDir);
  const ranks = new Set([...adapter.modules.values()].map((w) => w.A.shape[0]));
  assert.deepEqual([...ranks].sort(), [2, 4, 8]);
  const lm = await CausalLM.load(MODEL, { adapter: { adapter, source: adapterDir } });
  const dims = lm.lm.lora.modules.map((m) => lm.lm.lora.inputs.get(m)!.A.shape![0]);
  assert.equal(new Set(dims).size, 35);
  assert.equal(dims[0], loraRankDim('model.layers.0.self_attn.q_proj'));
  await lm.release();
});

test('logits with per-module ranks and alphas equal the base graph on W + s·B·A merged densely in float64 (1e-5 relative)', async () => {
  await writePeftAdapter(adapterDir, CONFIG, weights);
  const adapter = await readPeftAdapter(adapterDir);

  // The merged model: same config, every adapted W [out, in] replaced by W + s·B·A.
  const merged = join(tmp, 'merged');
  mkdirSync(merged);
  copyFileSync(join(MODEL, 'config.json'), join(merged, 'config.json'));
  const src = SafetensorsFile.openSync(join(MODEL, 'model.safetensors'));
  const tensors = new Map<string, HostTensor>();
  for (const name of src.names()) tensors.set(name, src.readSync(name));
  src.close();
  for (const { module, A, B } of weights) {
    const { r, s } = handRankAndScaling(module);
    const W = tensors.get(`${module}.weight`)!;
    const [outF, inF] = W.shape;
    const a = A.data as Float32Array;
    const b = B.data as Float32Array;
    const w = W.data as Float32Array;
    const out = new Float32Array(outF * inF);
    for (let o = 0; o < outF; o++) {
      for (let i = 0; i < inF; i++) {
        let d = 0;
        for (let k = 0; k < r; k++) d += b[o * r + k] * a[k * inF + i];
        out[o * inF + i] = w[o * inF + i] + s * d;
      }
    }
    tensors.set(`${module}.weight`, { dtype: 'float32', shape: [outF, inF], data: out });
  }
  await writeSafetensors(join(merged, 'model.safetensors'), tensors, { format: 'pt' });

  const withLora = await CausalLM.load(MODEL, { adapter: { adapter, source: adapterDir } });
  const dense = await CausalLM.load(merged);
  const batch = { inputIds: [IDS, [...IDS].reverse()] };
  const got = (await withLora.run(batch)).logits!.data as Float32Array;
  const want = (await dense.run(batch)).logits!.data as Float32Array;
  withLora.clearAdapter();
  const base = (await withLora.run(batch)).logits!.data as Float32Array;
  await withLora.release();
  await dense.release();

  let scale = 0;
  let err = 0;
  let effect = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]));
    err = Math.max(err, Math.abs(got[i] - want[i]));
    effect = Math.max(effect, Math.abs(want[i] - base[i]));
  }
  assert.ok(effect > 0.5, `the adapter must change the logits for the test to mean anything (max change ${effect})`);
  assert.ok(err <= 1e-5 * scale, `max |LoRA − dense| ${err} > 1e-5 × ${scale}`);
});

test('float64: the gradient of a rank-2 A and a rank-8 B equals a central finite difference of the loss', async () => {
  await writePeftAdapter(adapterDir, CONFIG, weights);
  const adapter = await readPeftAdapter(adapterDir);
  const lm = await CausalLM.load(MODEL, { dtype: 'float64', adapter: { adapter, source: adapterDir }, outputs: { loss: true, grads: true } });
  const batch = { inputIds: [IDS], labels: [shiftLabels(IDS)] };
  const res = await lm.run(batch);
  const h = 1e-6;
  for (const [module, which, r] of [['model.layers.2.self_attn.q_proj', 'A', 2], ['model.layers.3.mlp.down_proj', 'B', 8]] as const) {
    const key = peftKey(module, which);
    const grad = res.grads!.get(key)!;
    assert.equal(grad.shape[which === 'A' ? 0 : 1], r, `${key} has rank ${r}`);
    const w = adapter.modules.get(module)![which];
    const data = Float64Array.from(w.data as Float32Array);
    const g = grad.data as Float64Array;
    for (const k of [0, 5, data.length - 1]) {
      const orig = data[k];
      const lossAt = async (x: number) => {
        data[k] = x;
        lm.setLoraFeeds({ [key]: { dtype: 'float64', shape: w.shape, data: Float64Array.from(data) } });
        return (await lm.run(batch)).loss!;
      };
      const numeric = ((await lossAt(orig + h)) - (await lossAt(orig - h))) / (2 * h);
      data[k] = orig;
      assert.ok(Math.abs(g[k] - numeric) <= 1e-6 * Math.max(1, Math.abs(numeric)), `${key}[${k}]: analytic ${g[k]} vs numeric ${numeric}`);
    }
    lm.setLoraFeeds({ [key]: { dtype: 'float64', shape: w.shape, data } });
  }
  await lm.release();
});
