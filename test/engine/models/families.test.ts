// Qwen2, Qwen3 and Phi-3 against an independent float64 forward written here from the
// transformers modeling files (v4.55 modeling_qwen2.py, modeling_qwen3.py, modeling_phi3.py):
// plain loops over Float64Arrays, no engine graph code. Tiny random models are written as
// config.json + safetensors (F32, F16, BF16; one sharded with model.safetensors.index.json),
// loaded through the real loader, and compared per position within 1e-4. F16/BF16 checkpoints
// are compared with the reference fed the same rounded weights.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CausalLM, shiftLabels } from '../../../src/engine/infer/causal-lm';
import { loadModelConfig } from '../../../src/engine/models/index';
import { createRng } from '../../../src/engine/data/random';
import { writeSafetensors } from '../../../src/engine/weights/safetensors';
import { fromFloat32, toFloat32 } from '../../../src/engine/weights/dtype';
import { peftKey } from '../../../src/engine/weights/peft';
import type { HostTensor } from '../../../src/engine/tensor';

type Storage = 'float32' | 'float16' | 'bfloat16';

/** What the reference needs to know about a family, read off its HF modeling file. */
interface Spec {
  D: number; F: number; L: number; H: number; Hkv: number; Dh: number; V: number;
  eps: number; theta: number;
  /** Qwen2: q/k/v bias (o_proj none). */
  qkvBias: boolean;
  /** Qwen3: per-head RMSNorm on q and k before RoPE. */
  qkNorm: boolean;
  /** Phi-3: qkv_proj and gate_up_proj. */
  fused: boolean;
  /** RoPE dims Dr (Phi-3 partial_rotary_factor). */
  rotary: number;
  /** Inverse frequencies for a sequence of length T (longrope switches on T) and the cos/sin factor. */
  rope: (T: number) => { inv: number[]; scale: number };
  slidingWindow: number | null;
  tied: boolean;
}

type Weights = Map<string, Float64Array>;

/** Plain-loop float64 causal-LM forward of one sequence: logits [T][V]. */
function referenceForward(s: Spec, W: Weights, ids: number[]): number[][] {
  const get = (n: string) => { const w = W.get(n); if (!w) throw new Error(`reference: no ${n}`); return w; };
  const T = ids.length;
  const linear = (x: Float64Array, w: Float64Array, outF: number, b?: Float64Array) => {
    const inF = x.length;
    const y = new Float64Array(outF);
    for (let o = 0; o < outF; o++) {
      let acc = b ? b[o] : 0;
      for (let i = 0; i < inF; i++) acc += w[o * inF + i] * x[i];
      y[o] = acc;
    }
    return y;
  };
  const rms = (x: Float64Array, w: Float64Array) => {
    let ms = 0;
    for (const v of x) ms += v * v;
    const r = 1 / Math.sqrt(ms / x.length + s.eps);
    return x.map((v, i) => v * r * w[i]);
  };
  const { inv, scale } = s.rope(T);
  // apply_rotary_pos_emb on the first Dr dims: x·cos + rotate_half(x)·sin, rotate_half = cat(−x2, x1).
  const rope = (x: Float64Array, pos: number) => {
    const out = Float64Array.from(x);
    const half = s.rotary / 2;
    for (let j = 0; j < half; j++) {
      const c = Math.cos(pos * inv[j]) * scale;
      const sn = Math.sin(pos * inv[j]) * scale;
      out[j] = x[j] * c - x[j + half] * sn;
      out[j + half] = x[j + half] * c + x[j] * sn;
    }
    return out;
  };
  const { D, F, H, Hkv, Dh, V } = s;
  const embed = get('model.embed_tokens.weight');
  let hs: Float64Array[] = ids.map((id) => embed.slice(id * D, (id + 1) * D));
  for (let l = 0; l < s.L; l++) {
    const p = `model.layers.${l}`;
    const q: Float64Array[][] = [], k: Float64Array[][] = [], v: Float64Array[][] = [];
    for (let t = 0; t < T; t++) {
      const n = rms(hs[t], get(`${p}.input_layernorm.weight`));
      let qf: Float64Array, kf: Float64Array, vf: Float64Array;
      if (s.fused) {
        const qkv = linear(n, get(`${p}.self_attn.qkv_proj.weight`), (H + 2 * Hkv) * Dh);
        qf = qkv.slice(0, H * Dh); kf = qkv.slice(H * Dh, (H + Hkv) * Dh); vf = qkv.slice((H + Hkv) * Dh);
      } else {
        const b = (m: string) => (s.qkvBias ? get(`${p}.self_attn.${m}.bias`) : undefined);
        qf = linear(n, get(`${p}.self_attn.q_proj.weight`), H * Dh, b('q_proj'));
        kf = linear(n, get(`${p}.self_attn.k_proj.weight`), Hkv * Dh, b('k_proj'));
        vf = linear(n, get(`${p}.self_attn.v_proj.weight`), Hkv * Dh, b('v_proj'));
      }
      const heads = (x: Float64Array, nh: number, norm: string | null) => Array.from({ length: nh }, (_, h) => {
        let y = x.slice(h * Dh, (h + 1) * Dh);
        if (norm) y = rms(y, get(`${p}.self_attn.${norm}.weight`));
        return y;
      });
      q.push(heads(qf, H, s.qkNorm ? 'q_norm' : null).map((y) => rope(y, t)));
      k.push(heads(kf, Hkv, s.qkNorm ? 'k_norm' : null).map((y) => rope(y, t)));
      v.push(heads(vf, Hkv, null));
    }
    const next: Float64Array[] = [];
    for (let t = 0; t < T; t++) {
      const attn = new Float64Array(H * Dh);
      for (let h = 0; h < H; h++) {
        const kvh = Math.floor(h / (H / Hkv)); // repeat_kv: query head h reads KV head h // n_rep
        const keys: number[] = [];
        for (let j = 0; j <= t; j++) if (s.slidingWindow === null || t - j < s.slidingWindow) keys.push(j);
        const sc = keys.map((j) => { let a = 0; for (let d = 0; d < Dh; d++) a += q[t][h][d] * k[j][kvh][d]; return a / Math.sqrt(Dh); });
        const m = Math.max(...sc);
        const e = sc.map((x) => Math.exp(x - m));
        const z = e.reduce((a, b) => a + b, 0);
        keys.forEach((j, idx) => { for (let d = 0; d < Dh; d++) attn[h * Dh + d] += (e[idx] / z) * v[j][kvh][d]; });
      }
      const h1 = hs[t].map((x, i) => x + linear(attn, get(`${p}.self_attn.o_proj.weight`), D)[i]);
      const n2 = rms(h1, get(`${p}.post_attention_layernorm.weight`));
      let gate: Float64Array, up: Float64Array;
      if (s.fused) {
        const gu = linear(n2, get(`${p}.mlp.gate_up_proj.weight`), 2 * F);
        gate = gu.slice(0, F); up = gu.slice(F);
      } else {
        gate = linear(n2, get(`${p}.mlp.gate_proj.weight`), F);
        up = linear(n2, get(`${p}.mlp.up_proj.weight`), F);
      }
      const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]);
      const down = linear(act, get(`${p}.mlp.down_proj.weight`), D);
      next.push(h1.map((x, i) => x + down[i]));
    }
    hs = next;
  }
  const head = s.tied ? embed : get('lm_head.weight');
  return hs.map((x) => Array.from(linear(rms(x, get('model.norm.weight')), head, V)));
}

/** Random checkpoint tensors [out, in] for the names a family's HF module tree has. */
function randomCheckpoint(names: [string, number[]][], seed: number): Map<string, Float32Array> {
  const rand = createRng(seed);
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of names) {
    const n = shape.reduce((a, b) => a * b, 1);
    const u = () => rand() * 2 - 1;
    let f: () => number;
    if (name.endsWith('norm.weight')) f = () => 1 + 0.3 * u(); // not 1, so a misplaced norm shows
    else if (name.endsWith('.bias')) f = () => 0.5 * u();
    else if (name.includes('embed_tokens')) f = u;
    else f = () => (1.5 * u()) / Math.sqrt(shape[1]);
    out.set(name, Float32Array.from({ length: n }, f));
  }
  return out;
}

/** HF module names and shapes, written from each modeling file's __init__ (not from the engine). */
function moduleTree(s: Spec, family: 'qwen2' | 'qwen3' | 'phi3'): [string, number[]][] {
  const { D, F, H, Hkv, Dh, V } = s;
  const t: [string, number[]][] = [['model.embed_tokens.weight', [V, D]], ['model.norm.weight', [D]]];
  if (!s.tied) t.push(['lm_head.weight', [V, D]]);
  for (let l = 0; l < s.L; l++) {
    const p = `model.layers.${l}`;
    t.push([`${p}.input_layernorm.weight`, [D]], [`${p}.post_attention_layernorm.weight`, [D]]);
    t.push([`${p}.self_attn.o_proj.weight`, [D, H * Dh]], [`${p}.mlp.down_proj.weight`, [D, F]]);
    if (family === 'phi3') {
      t.push([`${p}.self_attn.qkv_proj.weight`, [(H + 2 * Hkv) * Dh, D]], [`${p}.mlp.gate_up_proj.weight`, [2 * F, D]]);
      continue;
    }
    t.push([`${p}.self_attn.q_proj.weight`, [H * Dh, D]], [`${p}.self_attn.k_proj.weight`, [Hkv * Dh, D]], [`${p}.self_attn.v_proj.weight`, [Hkv * Dh, D]]);
    t.push([`${p}.mlp.gate_proj.weight`, [F, D]], [`${p}.mlp.up_proj.weight`, [F, D]]);
    if (family === 'qwen2') t.push([`${p}.self_attn.q_proj.bias`, [H * Dh]], [`${p}.self_attn.k_proj.bias`, [Hkv * Dh]], [`${p}.self_attn.v_proj.bias`, [Hkv * Dh]]);
    if (family === 'qwen3') t.push([`${p}.self_attn.q_norm.weight`, [Dh]], [`${p}.self_attn.k_norm.weight`, [Dh]]);
  }
  return t;
}

/**
 * Writes a model folder; returns the weights as stored (rounded to the storage dtype) in float64.
 */
async function writeModel(dir: string, config: object, tree: [string, number[]][], tensors: Map<string, Float32Array>, storage: Storage, sharded: boolean): Promise<Weights> {
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const stored = new Map<string, HostTensor>(tree.map(([name, shape]) => [name, fromFloat32(tensors.get(name)!, shape, storage)]));
  if (!sharded) {
    await writeSafetensors(join(dir, 'model.safetensors'), stored);
  } else {
    const names = [...stored.keys()];
    const shards = [names.filter((_, i) => i % 2 === 0), names.filter((_, i) => i % 2 === 1)];
    const weightMap: Record<string, string> = {};
    for (let i = 0; i < 2; i++) {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      await writeSafetensors(join(dir, file), new Map(shards[i].map((n) => [n, stored.get(n)!])));
      for (const n of shards[i]) weightMap[n] = file;
    }
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
  }
  return new Map([...stored].map(([n, t]) => [n, Float64Array.from(toFloat32(t))]));
}

/** HF `_compute_default_rope_parameters`: inv_freq[j] = θ^(−2j/Dr). */
const defaultInvFreq = (theta: number, dr: number) => Array.from({ length: dr / 2 }, (_, j) => 1 / theta ** ((2 * j) / dr));

const QWEN2: { spec: Spec; config: object } = {
  spec: { D: 16, F: 24, L: 2, H: 4, Hkv: 2, Dh: 4, V: 40, eps: 1e-6, theta: 10000, qkvBias: true, qkNorm: false, fused: false, rotary: 4, rope: () => ({ inv: defaultInvFreq(10000, 4), scale: 1 }), slidingWindow: null, tied: true },
  config: {
    architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 40, max_position_embeddings: 64, rms_norm_eps: 1e-6,
    rope_theta: 10000, tie_word_embeddings: true, use_sliding_window: false, sliding_window: 32, max_window_layers: 2, hidden_act: 'silu',
  },
};

// head_dim 8 ≠ hidden_size / heads = 4: Qwen3 sets it explicitly.
const QWEN3: { spec: Spec; config: object } = {
  spec: { D: 16, F: 24, L: 2, H: 4, Hkv: 2, Dh: 8, V: 40, eps: 1e-6, theta: 1000000, qkvBias: false, qkNorm: true, fused: false, rotary: 8, rope: () => ({ inv: defaultInvFreq(1000000, 8), scale: 1 }), slidingWindow: null, tied: false },
  config: {
    architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8, vocab_size: 40, max_position_embeddings: 64, rms_norm_eps: 1e-6,
    rope_theta: 1000000, rope_scaling: null, tie_word_embeddings: false, attention_bias: false, hidden_act: 'silu',
  },
};

// Phi-4-mini-like: partial_rotary_factor 0.75 (Dh 8 → Dr 6), longrope, GQA, plus Phi-3-mini-4k's sliding window.
const SHORT = [1, 1.5, 2.5];
const LONG = [2, 4, 9];
const PHI3: { spec: Spec; config: object } = {
  spec: {
    D: 32, F: 24, L: 2, H: 4, Hkv: 2, Dh: 8, V: 40, eps: 1e-5, theta: 10000, qkvBias: false, qkNorm: false, fused: true, rotary: 6,
    // _compute_longrope_parameters: factor = max_position_embeddings / original = 32 / 8 = 4, attention_factor = √(1 + ln 4 / ln 8);
    // dynamic_rope_update picks long_factor when the sequence exceeds original_max_position_embeddings.
    rope: (T) => ({ inv: defaultInvFreq(10000, 6).map((f, j) => f / (T > 8 ? LONG : SHORT)[j]), scale: Math.sqrt(1 + Math.log(4) / Math.log(8)) }),
    slidingWindow: 5, tied: false,
  },
  config: {
    architectures: ['Phi3ForCausalLM'], model_type: 'phi3', hidden_size: 32, intermediate_size: 24, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 40, max_position_embeddings: 32, original_max_position_embeddings: 8,
    partial_rotary_factor: 0.75, rope_theta: 10000, rms_norm_eps: 1e-5, sliding_window: 5, tie_word_embeddings: false,
    rope_scaling: { type: 'longrope', short_factor: SHORT, long_factor: LONG }, hidden_act: 'silu', resid_pdrop: 0, embd_pdrop: 0,
  },
};

function maxDiff(got: Float32Array | Float64Array, want: number[][], V: number): number {
  let err = 0;
  want.forEach((row, t) => row.forEach((x, v) => { err = Math.max(err, Math.abs(got[t * V + v] - x)); }));
  return err;
}

const ids = (T: number, V: number, seed: number) => { const r = createRng(seed); return Array.from({ length: T }, () => Math.floor(r() * V)); };

const FAMILIES = { qwen2: QWEN2, qwen3: QWEN3, phi3: PHI3 } as const;
const CASES: { family: keyof typeof FAMILIES; storage: Storage; sharded: boolean }[] = [];
for (const family of ['qwen2', 'qwen3', 'phi3'] as const) {
  for (const storage of ['float32', 'float16', 'bfloat16'] as const) CASES.push({ family, storage, sharded: storage === 'bfloat16' && family === 'qwen2' });
}
CASES.push({ family: 'phi3', storage: 'float32', sharded: true });

for (const { family, storage, sharded } of CASES) {
  test(`${family} ${storage}${sharded ? ' sharded' : ''}: logits per position match the float64 reference within 1e-4`, async () => {
    const { spec, config } = FAMILIES[family];
    const dir = mkdtempSync(join(tmpdir(), `loralab-${family}-`));
    try {
      const tree = moduleTree(spec, family);
      const W = await writeModel(dir, config, tree, randomCheckpoint(tree, 7), storage, sharded);
      const lm = await CausalLM.load(dir, { outputs: { logits: true }, threads: 1 });
      // Phi-3: 7 tokens use short_factor, 12 use long_factor (original_max_position_embeddings 8); both cross the window of 5.
      for (const T of family === 'phi3' ? [7, 12] : [9]) {
        const x = ids(T, spec.V, T);
        const { logits } = await lm.run({ inputIds: [x] });
        assert.deepEqual(logits!.shape, [1, T, spec.V]);
        const err = maxDiff(logits!.data as Float32Array, referenceForward(spec, W, x), spec.V);
        assert.ok(err <= 1e-4, `T=${T}: max |logit − reference| = ${err}`);
      }
      await lm.release();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('the reference is sensitive to each family feature (so the tests above can fail)', () => {
  const tree = moduleTree(QWEN3.spec, 'qwen3');
  const W = new Map([...randomCheckpoint(tree, 7)].map(([n, t]) => [n, Float64Array.from(t)]));
  const x = ids(9, 40, 9);
  const base = referenceForward(QWEN3.spec, W, x);
  const flat = (l: number[][]) => l.flat();
  const differs = (other: number[][]) => Math.max(...flat(base).map((v, i) => Math.abs(v - flat(other)[i]))) > 1e-3;
  assert.ok(differs(referenceForward({ ...QWEN3.spec, qkNorm: false }, W, x)), 'q/k norm has no effect');
  assert.ok(differs(referenceForward({ ...QWEN3.spec, slidingWindow: 3 }, W, x)), 'sliding window has no effect');
  assert.ok(differs(referenceForward({ ...QWEN3.spec, rope: () => ({ inv: defaultInvFreq(10000, 8), scale: 1 }) }, W, x)), 'rope_theta has no effect');
});

test('phi3: LoRA on the fused qkv_proj / gate_up_proj (PEFT module names) equals merging s·B·A into the fused weight', async () => {
  const { spec, config } = PHI3;
  const dir = mkdtempSync(join(tmpdir(), 'loralab-phi3-lora-'));
  try {
    const tree = moduleTree(spec, 'phi3');
    const W = await writeModel(dir, config, tree, randomCheckpoint(tree, 3), 'float32', false);
    const lm = await CausalLM.load(dir, { targetModules: 'all-linear', outputs: { logits: true }, threads: 1 });
    const want = [0, 1].flatMap((l) => ['self_attn.qkv_proj', 'self_attn.o_proj', 'mlp.gate_up_proj', 'mlp.down_proj'].map((m) => `model.layers.${l}.${m}`));
    assert.deepEqual([...lm.linearModules].sort(), [...want].sort());
    assert.deepEqual([...lm.loraModules].sort(), [...want].sort());
    const r = 2;
    const rand = createRng(11);
    const feeds: Record<string, HostTensor> = {};
    const scaling = new Float32Array(lm.loraModules.length);
    const merged = new Map(W);
    lm.loraModules.forEach((m, i) => {
      const [outF, inF] = tree.find(([n]) => n === `${m}.weight`)![1];
      const A = Float32Array.from({ length: r * inF }, () => (rand() * 2 - 1) * 0.3);
      const B = Float32Array.from({ length: outF * r }, () => (rand() * 2 - 1) * 0.3);
      scaling[i] = 1.5;
      feeds[peftKey(m, 'A')] = { dtype: 'float32', shape: [r, inF], data: A };
      feeds[peftKey(m, 'B')] = { dtype: 'float32', shape: [outF, r], data: B };
      const w = Float64Array.from(W.get(`${m}.weight`)!);
      for (let o = 0; o < outF; o++) for (let c = 0; c < inF; c++) for (let k = 0; k < r; k++) w[o * inF + c] += 1.5 * B[o * r + k] * A[k * inF + c];
      merged.set(`${m}.weight`, w);
    });
    feeds.lora_scaling = { dtype: 'float32', shape: [scaling.length], data: scaling };
    lm.setLoraFeeds(feeds);
    const x = ids(10, spec.V, 5);
    const { logits } = await lm.run({ inputIds: [x] });
    const err = maxDiff(logits!.data as Float32Array, referenceForward(spec, merged, x), spec.V);
    assert.ok(err <= 1e-4, `max |logit − merged reference| = ${err}`);
    const errBase = maxDiff(logits!.data as Float32Array, referenceForward(spec, W, x), spec.V);
    assert.ok(errBase > 1e-2, 'the adapter changed nothing');
    await lm.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('qwen3: LoRA gradients of the loss match central finite differences (float64)', async () => {
  const { spec, config } = QWEN3;
  const dir = mkdtempSync(join(tmpdir(), 'loralab-qwen3-grad-'));
  try {
    const tree = moduleTree(spec, 'qwen3');
    await writeModel(dir, config, tree, randomCheckpoint(tree, 5), 'float32', false);
    const lm = await CausalLM.load(dir, { dtype: 'float64', targetModules: 'all-linear', outputs: { loss: true, grads: true }, threads: 1 });
    const r = 2;
    const rand = createRng(13);
    const feeds: Record<string, HostTensor> = {};
    for (const m of lm.loraModules) {
      const [outF, inF] = tree.find(([n]) => n === `${m}.weight`)![1];
      feeds[peftKey(m, 'A')] = { dtype: 'float64', shape: [r, inF], data: Float64Array.from({ length: r * inF }, () => (rand() * 2 - 1) * 0.5) };
      feeds[peftKey(m, 'B')] = { dtype: 'float64', shape: [outF, r], data: Float64Array.from({ length: outF * r }, () => (rand() * 2 - 1) * 0.5) };
    }
    feeds.lora_scaling = { dtype: 'float64', shape: [lm.loraModules.length], data: new Float64Array(lm.loraModules.length).fill(2) };
    lm.setLoraFeeds(feeds);
    const x = ids(8, spec.V, 21);
    const batch = { inputIds: [x], labels: [shiftLabels(x)] };
    const { grads } = await lm.run(batch);
    const h = 1e-6;
    const checks = ['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.k_proj', 'model.layers.1.self_attn.v_proj', 'model.layers.1.mlp.gate_proj'];
    for (const m of checks) {
      for (const which of ['A', 'B'] as const) {
        const key = peftKey(m, which);
        const data = feeds[key].data as Float64Array;
        const g = grads!.get(key)!.data as Float64Array;
        for (const idx of [0, Math.floor(data.length / 2), data.length - 1]) {
          const orig = data[idx];
          data[idx] = orig + h;
          lm.setLoraFeeds(feeds);
          const lp = (await lm.run(batch)).loss!;
          data[idx] = orig - h;
          lm.setLoraFeeds(feeds);
          const lmn = (await lm.run(batch)).loss!;
          data[idx] = orig;
          const numeric = (lp - lmn) / (2 * h);
          assert.ok(Math.abs(g[idx] - numeric) <= 1e-6 * Math.max(1, Math.abs(numeric)), `${key}[${idx}]: analytic ${g[idx]} vs numeric ${numeric}`);
        }
      }
    }
    lm.setLoraFeeds(feeds);
    await lm.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('config.json values we do not implement are refused with one line naming the file and key', async () => {
  const cases: [object, RegExp][] = [
    [{ ...QWEN2.config, rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 32768 } }, /config\.json: rope_scaling\.rope_type "yarn" is not supported for qwen2 \(supported: default, linear, llama3\)/],
    [{ ...QWEN3.config, use_sliding_window: true }, /config\.json: "use_sliding_window": true is not supported for qwen3/],
    [{ ...PHI3.config, rope_scaling: { type: 'longrope', short_factor: [1, 1], long_factor: LONG } }, /config\.json: rope_scaling\.short_factor must be a list of 3 positive numbers/],
    [{ ...PHI3.config, rope_scaling: { rope_type: 'dynamic', factor: 2 } }, /config\.json: rope_scaling\.rope_type "dynamic" is not supported for phi3 \(supported: default, longrope\)/],
    [{ ...PHI3.config, hidden_act: 'gelu_pytorch_tanh' }, /config\.json: hidden_act "gelu_pytorch_tanh" is not supported/],
    [{ ...PHI3.config, partial_rotary_factor: 0.4 }, /config\.json: partial_rotary_factor 0\.4 gives 3 rotary dims of head_dim 8/],
  ];
  for (const [config, re] of cases) {
    const dir = mkdtempSync(join(tmpdir(), 'loralab-cfg-'));
    try {
      writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
      await assert.rejects(loadModelConfig(dir), (e: Error) => {
        assert.match(e.message, re);
        assert.ok(!e.message.includes('\n'), 'one line');
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('qwen3: head_dim defaults to 128 (Qwen3Config), qwen2 to hidden_size / heads; phi3 maps su → longrope; v5 rope_parameters', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'loralab-cfg-'));
  try {
    const { head_dim: _drop, ...noHeadDim } = QWEN3.config as Record<string, unknown>;
    writeFileSync(join(dir, 'config.json'), JSON.stringify(noHeadDim));
    assert.equal((await loadModelConfig(dir)).config.head_dim, 128);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(QWEN2.config));
    const q2 = (await loadModelConfig(dir)).config;
    assert.equal(q2.head_dim, 4);
    assert.deepEqual(q2.bias, { q: true, k: true, v: true, o: false, mlp: false });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...PHI3.config, rope_scaling: { type: 'su', short_factor: SHORT, long_factor: LONG } }));
    assert.equal((await loadModelConfig(dir)).config.rope_scaling?.rope_type, 'longrope');
    // transformers v5 writes rope_parameters instead of rope_theta / rope_scaling.
    const { rope_theta: _t, rope_scaling: _s, ...v4 } = QWEN3.config as Record<string, unknown>;
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...v4, rope_parameters: { rope_type: 'default', rope_theta: 5e6 } }));
    const v5 = (await loadModelConfig(dir)).config;
    assert.equal(v5.rope_theta, 5e6);
    assert.equal(v5.rope_scaling?.rope_type, 'default');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
