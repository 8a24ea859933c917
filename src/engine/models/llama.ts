/**
 * Llama family (Llama 2 / 3.x, SmolLM, TinyLlama; Mistral maps onto it): Hugging Face
 * `config.json` → forward graph with HF `modeling_llama.py` semantics.
 *
 * Shape legend:
 *   B batch, T sequence, D hidden_size, H num_attention_heads, Hkv num_key_value_heads,
 *   R = H / Hkv (query heads per KV head), Dh head_dim, F intermediate_size, V vocab_size,
 *   L num_hidden_layers, r LoRA rank.
 *
 * Per layer:  h = x + o_proj(attn(input_layernorm(x)));  x' = h + down_proj(silu(gate_proj(n)) · up_proj(n)),
 * n = post_attention_layernorm(h). RMSNorm(x) = x / √(mean(x²) + eps) · w. RoPE in the
 * `rotate_half` layout: q' = q·cos + rotate_half(q)·sin with cos/sin of cat(freqs, freqs).
 */
import { Graph, type Value } from '../graph/ir';
import {
  Add, And, Concat, Div, Equal, Gather, GreaterOrEqual, LessOrEqual, MatMul, Mul, Neg, Not, Range, ReduceMean, Reshape,
  Sigmoid, Slice, Softmax, Sqrt, Sub, Transpose, Unsqueeze, Where, scalar, shapeOf,
} from '../ops/index';
import { LoraGraph } from '../lora/index';
import { type HostTensor, castFloat } from '../tensor';
import { ModelError, type BuildOptions, type CausalLMGraph, type DecoderConfig, type ModelFamily, type RopeScaling, type WeightSource } from './types';

/** The largest negative value used for masked attention scores (finite: no NaN on fully masked rows). */
const MASK_VALUE = -1e9;

/** Reads a field of a raw config with a type check; errors name the file and key. */
export function field<T>(raw: Record<string, unknown>, file: string, key: string, type: 'number' | 'boolean' | 'string' | 'object', fallback?: T): T {
  const v = raw[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new ModelError(`${file}: missing "${key}"; a Hugging Face config.json for this model family must set it`);
  }
  if (typeof v !== type) throw new ModelError(`${file}: "${key}" must be a ${type}, got ${JSON.stringify(v)}`);
  return v as T;
}

/** Resolves `rope_scaling` (HF keys; `type` is the older spelling of `rope_type`). */
function resolveRopeScaling(raw: unknown, file: string): RopeScaling | null {
  if (raw === null || raw === undefined) return null;
  if (typeof raw !== 'object') throw new ModelError(`${file}: "rope_scaling" must be an object or null`);
  const r = raw as Record<string, unknown>;
  const type = (r.rope_type ?? r.type ?? 'default') as string;
  if (type !== 'default' && type !== 'linear' && type !== 'llama3') {
    throw new ModelError(`${file}: rope_scaling.rope_type "${type}" is not supported (supported: default, linear, llama3)`);
  }
  const num = (k: string) => (typeof r[k] === 'number' ? (r[k] as number) : undefined);
  return {
    rope_type: type,
    factor: num('factor'),
    low_freq_factor: num('low_freq_factor'),
    high_freq_factor: num('high_freq_factor'),
    original_max_position_embeddings: num('original_max_position_embeddings'),
  };
}

/** Raw `config.json` → resolved config with HF `LlamaConfig` defaults. */
export function resolveLlamaConfig(raw: Record<string, unknown>, file: string): DecoderConfig {
  const num = (k: string, d?: number) => field<number>(raw, file, k, 'number', d);
  const bool = (k: string, d: boolean) => field<boolean>(raw, file, k, 'boolean', d);
  const hidden = num('hidden_size');
  const heads = num('num_attention_heads');
  const kvHeads = num('num_key_value_heads', heads);
  const headDim = num('head_dim', hidden / heads);
  if (!Number.isInteger(headDim)) throw new ModelError(`${file}: hidden_size ${hidden} is not divisible by num_attention_heads ${heads}; set head_dim`);
  if (heads % kvHeads !== 0) throw new ModelError(`${file}: num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`);
  const act = field<string>(raw, file, 'hidden_act', 'string', 'silu');
  if (act !== 'silu') throw new ModelError(`${file}: hidden_act "${act}" is not supported (supported: silu)`);
  return {
    model_type: String(raw.model_type),
    hidden_size: hidden,
    intermediate_size: num('intermediate_size'),
    num_hidden_layers: num('num_hidden_layers'),
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: headDim,
    vocab_size: num('vocab_size'),
    max_position_embeddings: num('max_position_embeddings', 2048),
    rms_norm_eps: num('rms_norm_eps', 1e-6),
    rope_theta: num('rope_theta', 10000),
    rope_scaling: resolveRopeScaling(raw.rope_scaling, file),
    tie_word_embeddings: bool('tie_word_embeddings', false),
    attention_bias: bool('attention_bias', false),
    mlp_bias: bool('mlp_bias', false),
    hidden_act: 'silu',
    sliding_window: null,
    bos_token_id: typeof raw.bos_token_id === 'number' ? raw.bos_token_id : null,
    eos_token_id: (raw.eos_token_id as number | number[] | null | undefined) ?? null,
  };
}

/**
 * Inverse frequencies of RoPE, with HF's `rope_type` variants:
 * default: θ^(−2j/Dh); linear: divided by `factor`; llama3: long wavelengths divided by
 * `factor`, short ones kept, the band between smoothly interpolated
 * (transformers `_compute_llama3_parameters`).
 */
export function ropeInvFreq(cfg: DecoderConfig): Float64Array {
  const dh = cfg.head_dim;
  const inv = new Float64Array(dh / 2);
  for (let j = 0; j < dh / 2; j++) inv[j] = 1 / Math.pow(cfg.rope_theta, (2 * j) / dh);
  const rs = cfg.rope_scaling;
  if (!rs || rs.rope_type === 'default') return inv;
  const factor = rs.factor ?? 1;
  if (rs.rope_type === 'linear') return inv.map((f) => f / factor);
  const low = rs.low_freq_factor ?? 1;
  const high = rs.high_freq_factor ?? 4;
  const oldCtx = rs.original_max_position_embeddings ?? 8192;
  const lowWavelen = oldCtx / low;
  const highWavelen = oldCtx / high;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highWavelen) return f;
    if (wavelen > lowWavelen) return f / factor;
    const smooth = (oldCtx / wavelen - low) / (high - low);
    return (1 - smooth) * (f / factor) + smooth * f;
  });
}

/** cos/sin tables [maxPos, Dh] of cat(freqs, freqs), freqs[p, j] = p · inv_freq[j]. */
export function ropeTables(cfg: DecoderConfig, dtype: 'float32' | 'float64'): { cos: HostTensor; sin: HostTensor } {
  const inv = ropeInvFreq(cfg);
  const dh = cfg.head_dim;
  const n = cfg.max_position_embeddings;
  const Arr = dtype === 'float32' ? Float32Array : Float64Array;
  const cos = new Arr(n * dh);
  const sin = new Arr(n * dh);
  for (let p = 0; p < n; p++) {
    for (let j = 0; j < dh / 2; j++) {
      const a = p * inv[j];
      cos[p * dh + j] = cos[p * dh + j + dh / 2] = Math.cos(a);
      sin[p * dh + j] = sin[p * dh + j + dh / 2] = Math.sin(a);
    }
  }
  return { cos: { dtype, shape: [n, dh], data: cos }, sin: { dtype, shape: [n, dh], data: sin } };
}

/** Checkpoint tensors needed by the llama graph. */
export function llamaWeightNames(cfg: DecoderConfig): { name: string; shape: number[]; optional?: boolean }[] {
  const { hidden_size: D, intermediate_size: F, num_attention_heads: H, num_key_value_heads: Hkv, head_dim: Dh, vocab_size: V } = cfg;
  const out: { name: string; shape: number[]; optional?: boolean }[] = [{ name: 'model.embed_tokens.weight', shape: [V, D] }];
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    out.push(
      { name: `${p}.input_layernorm.weight`, shape: [D] },
      { name: `${p}.self_attn.q_proj.weight`, shape: [H * Dh, D] },
      { name: `${p}.self_attn.k_proj.weight`, shape: [Hkv * Dh, D] },
      { name: `${p}.self_attn.v_proj.weight`, shape: [Hkv * Dh, D] },
      { name: `${p}.self_attn.o_proj.weight`, shape: [D, H * Dh] },
      { name: `${p}.post_attention_layernorm.weight`, shape: [D] },
      { name: `${p}.mlp.gate_proj.weight`, shape: [F, D] },
      { name: `${p}.mlp.up_proj.weight`, shape: [F, D] },
      { name: `${p}.mlp.down_proj.weight`, shape: [D, F] },
    );
    if (cfg.attention_bias) {
      out.push(
        { name: `${p}.self_attn.q_proj.bias`, shape: [H * Dh] },
        { name: `${p}.self_attn.k_proj.bias`, shape: [Hkv * Dh] },
        { name: `${p}.self_attn.v_proj.bias`, shape: [Hkv * Dh] },
        { name: `${p}.self_attn.o_proj.bias`, shape: [D] },
      );
    }
    if (cfg.mlp_bias) {
      out.push(
        { name: `${p}.mlp.gate_proj.bias`, shape: [F] },
        { name: `${p}.mlp.up_proj.bias`, shape: [F] },
        { name: `${p}.mlp.down_proj.bias`, shape: [D] },
      );
    }
  }
  out.push({ name: 'model.norm.weight', shape: [D] });
  // Tied embeddings: lm_head.weight may be absent (the usual HF layout) or a copy.
  out.push({ name: 'lm_head.weight', shape: [V, D], optional: cfg.tie_word_embeddings });
  return out;
}

/** Transposes a float [out, in] matrix to [in, out] (MatMul wants x @ Wᵀ). */
function transpose2d(t: HostTensor): HostTensor {
  const [o, i] = t.shape;
  const src = t.data as Float32Array | Float64Array;
  const dst = new (src.constructor as Float32ArrayConstructor)(o * i);
  for (let r = 0; r < o; r++) for (let c = 0; c < i; c++) dst[c * o + r] = src[r * i + c];
  return { dtype: t.dtype, shape: [i, o], data: dst };
}

/** Builds the causal-LM forward graph (logits) of a Llama-family model. */
export function buildLlama(cfg: DecoderConfig, weights: WeightSource, opts: BuildOptions = {}): CausalLMGraph {
  const dtype = opts.dtype ?? 'float32';
  const { hidden_size: D, intermediate_size: F, num_attention_heads: H, num_key_value_heads: Hkv, head_dim: Dh, vocab_size: V } = cfg;
  const R = H / Hkv;
  const g = new Graph(`${cfg.model_type}`);
  const lora = new LoraGraph(g, opts.loraTargets ?? (() => false), opts.loraDropout ?? null);
  const w = (name: string, shape: number[]) => castFloat(weights.get(name, shape), dtype);
  const init = (name: string, shape: number[]) => g.initializer(name, w(name, shape));
  const initT = (name: string, shape: number[]) => g.initializer(`${name}.T`, transpose2d(w(name, shape)));

  const inputIds = g.input('input_ids', 'int64', ['B', 'T']);
  const attentionMask = g.input('attention_mask', 'int64', ['B', 'T']);
  const positionIds = g.input('position_ids', 'int64', ['B', 'T']);

  const embed = init('model.embed_tokens.weight', [V, D]);
  let x = Gather(embed, inputIds, 0); // (B, T, D)

  // RoPE tables gathered at the positions: (B, T, 1, Dh) to broadcast over heads.
  const { cos, sin } = ropeTables(cfg, dtype);
  const cosT = Unsqueeze(Gather(g.initializer('rope_cos', cos), positionIds, 0), [2]); // (B, T, 1, Dh)
  const sinT = Unsqueeze(Gather(g.initializer('rope_sin', sin), positionIds, 0), [2]); // (B, T, 1, Dh)

  const mask = attentionMaskGraph(g, inputIds, attentionMask, cfg.sliding_window); // (B, 1, 1, T, T) bool
  const eps = scalar(g, cfg.rms_norm_eps, dtype);
  const rmsNorm = (v: Value, name: string) => {
    const variance = ReduceMean(Mul(v, v), [-1], true); // (B, T, 1)
    return Mul(Div(v, Sqrt(Add(variance, eps))), init(name, [D]));
  };
  const linear = (v: Value, module: string, inF: number, outF: number, bias: boolean) => {
    const y = lora.linear(v, module, initT(`${module}.weight`, [outF, inF]), inF, outF);
    return bias ? Add(y, init(`${module}.bias`, [outF])) : y;
  };
  const half = Dh / 2;
  const rotateHalf = (v: Value) => Concat([Neg(Slice(v, [half], [Dh], [-1])), Slice(v, [0], [half], [-1])], -1);
  const rope = (v: Value) => Add(Mul(v, cosT), Mul(rotateHalf(v), sinT));
  const invSqrtDh = scalar(g, 1 / Math.sqrt(Dh), dtype);

  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    // --- attention ---
    const n1 = rmsNorm(x, `${p}.input_layernorm.weight`); // (B, T, D)
    const q = rope(Reshape(linear(n1, `${p}.self_attn.q_proj`, D, H * Dh, cfg.attention_bias), [0, 0, H, Dh])); // (B, T, H, Dh)
    const k = rope(Reshape(linear(n1, `${p}.self_attn.k_proj`, D, Hkv * Dh, cfg.attention_bias), [0, 0, Hkv, Dh])); // (B, T, Hkv, Dh)
    const v = Reshape(linear(n1, `${p}.self_attn.v_proj`, D, Hkv * Dh, cfg.attention_bias), [0, 0, Hkv, Dh]); // (B, T, Hkv, Dh)
    // Grouped-query attention without copying K/V: split query heads into (Hkv, R) and let
    // MatMul broadcast K and V over R.
    const q5 = Transpose(Reshape(q, [0, 0, Hkv, R, Dh]), [0, 2, 3, 1, 4]); // (B, Hkv, R, T, Dh)
    const kT = Unsqueeze(Transpose(k, [0, 2, 3, 1]), [2]); // (B, Hkv, 1, Dh, T)
    const v5 = Unsqueeze(Transpose(v, [0, 2, 1, 3]), [2]); // (B, Hkv, 1, T, Dh)
    const scores = Mul(MatMul(q5, kT), invSqrtDh); // (B, Hkv, R, T, T)
    const probs = Softmax(Where(mask, scores, MASK_VALUE), -1); // (B, Hkv, R, T, T)
    const ctx = MatMul(probs, v5); // (B, Hkv, R, T, Dh)
    const merged = Reshape(Transpose(ctx, [0, 3, 1, 2, 4]), [0, 0, H * Dh]); // (B, T, H·Dh)
    x = Add(x, linear(merged, `${p}.self_attn.o_proj`, H * Dh, D, cfg.attention_bias)); // (B, T, D)
    // --- MLP ---
    const n2 = rmsNorm(x, `${p}.post_attention_layernorm.weight`); // (B, T, D)
    const gate = linear(n2, `${p}.mlp.gate_proj`, D, F, cfg.mlp_bias); // (B, T, F)
    const up = linear(n2, `${p}.mlp.up_proj`, D, F, cfg.mlp_bias); // (B, T, F)
    const act = Mul(Mul(gate, Sigmoid(gate)), up); // silu(gate) · up, (B, T, F)
    x = Add(x, linear(act, `${p}.mlp.down_proj`, F, D, cfg.mlp_bias)); // (B, T, D)
  }
  x = rmsNorm(x, 'model.norm.weight');
  // Output head: tied embeddings reuse embed_tokens (the lm_head copy, if any, is ignored).
  const head = cfg.tie_word_embeddings || !weights.has('lm_head.weight')
    ? g.initializer('lm_head.weight.T', transpose2d(w('model.embed_tokens.weight', [V, D])))
    : initT('lm_head.weight', [V, D]);
  if (!cfg.tie_word_embeddings && !weights.has('lm_head.weight')) {
    throw new ModelError('lm_head.weight is missing and tie_word_embeddings is false in config.json');
  }
  const logits = MatMul(x, head); // (B, T, V)
  return { graph: g, config: cfg, inputIds, attentionMask, positionIds, logits, lora };
}

/**
 * Attention mask (B, 1, 1, T, T) bool. `attention_mask` (B, T) holds 0 for padding and a
 * segment id ≥ 1 for real tokens (all 1 without packing; 1, 2, 3… for the documents of a
 * packed row). Query i sees key j iff j ≤ i, attention_mask[b, j] ≠ 0, the two share a segment,
 * and (with a sliding window W) i − j < W. For 0/1 masks this is Hugging Face's causal + padding
 * mask; a padding query sees nothing and its (unused) output is a uniform average.
 */
function attentionMaskGraph(g: Graph, inputIds: Value, attentionMask: Value, slidingWindow: number | null): Value {
  const T = Reshape(shapeOf(inputIds, 1, 2), []); // () int64
  const idx = Range(scalar(g, 0, 'int64'), T, scalar(g, 1, 'int64')); // (T)
  const keyIdx = Unsqueeze(idx, [0]); // (1, T)
  const queryIdx = Unsqueeze(idx, [1]); // (T, 1)
  let causal = LessOrEqual(keyIdx, queryIdx); // (T, T)
  if (slidingWindow !== null) {
    causal = And(causal, GreaterOrEqual(keyIdx, Sub(queryIdx, scalar(g, slidingWindow - 1, 'int64'))));
  }
  const segKey = Unsqueeze(attentionMask, [1]); // (B, 1, T)
  const segQuery = Unsqueeze(attentionMask, [2]); // (B, T, 1)
  const sameSegment = And(Equal(segKey, segQuery), Not(Equal(segKey, 0))); // (B, T, T)
  return Unsqueeze(And(sameSegment, causal), [1, 2]); // (B, 1, 1, T, T)
}

export const llamaFamily: ModelFamily = {
  modelTypes: ['llama'],
  resolveConfig: resolveLlamaConfig,
  weightNames: llamaWeightNames,
  build: buildLlama,
};
