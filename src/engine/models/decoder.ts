/**
 * The decoder-only transformer shared by the Llama-like families (llama, mistral, qwen2, qwen3,
 * phi3): resolved config → forward graph. Each family file maps its raw `config.json` onto a
 * `DecoderConfig` (its own defaults, its feature flags) and reuses this builder; a feature a
 * family needs is a flag here, never a `model_type` test.
 *
 * Shape legend:
 *   B batch, T sequence, D hidden_size, H num_attention_heads, Hkv num_key_value_heads,
 *   R = H / Hkv (query heads per KV head), Dh head_dim, Dr rotary dims (= int(Dh · partial_rotary_factor)),
 *   F intermediate_size, V vocab_size, L num_hidden_layers, r LoRA rank.
 *
 * Per layer (transformers `modeling_llama.py` and the families' copies of it):
 *   h  = x + o_proj(attn(input_layernorm(x)))
 *   x' = h + down_proj(silu(gate_proj(n)) · up_proj(n)),   n = post_attention_layernorm(h)
 * RMSNorm(x) = x / √(mean(x²) + eps) · w. RoPE in the `rotate_half` layout on the first Dr dims:
 * q' = cat(q_rot·cos + rotate_half(q_rot)·sin, q_pass) with cos/sin of cat(freqs, freqs).
 * Features (see `DecoderConfig`): per-projection biases, per-head q/k RMSNorm before RoPE (Qwen3),
 * fused qkv_proj / gate_up_proj (Phi-3: q, k, v and gate, up are column slices of one output),
 * partial rotary, sliding-window attention, longrope. Without a KV cache, attention runs in blocks
 * of query rows with a hand-written, recomputing backward (attention.ts).
 *
 * KV cache (`BuildOptions.kvCache`, inference): the same graph also takes each layer's past keys
 * and values, P of them, and returns them with the T new ones appended (transformers'
 * `DynamicCache.update`: keys cached after RoPE). The T queries sit at absolute (cache) indices
 * P..P+T−1; query P+t sees key j ≤ P+t (and, with a sliding window W, j > P+t−W), as HF's
 * `cache_position`-based masks do. Positions for RoPE come from `position_ids`.
 */
import { Graph, type Value } from '../graph/ir';
import {
  Add, And, Cast, Concat, Div, Equal, Gather, Greater, GreaterOrEqual, LessOrEqual, MatMul, Min, Mul, Neg, Not, Range, ReduceMax,
  ReduceMean, Reshape, Sigmoid, Slice, Softmax, Sqrt, Sub, Transpose, Unsqueeze, Where, scalar, shapeOf,
} from '../ops/index';
import { LoraGraph } from '../lora/index';
import { blockedAttention } from './attention';
import { type HostTensor, castFloat } from '../tensor';
import { fromFloat32, toFloat32 } from '../weights/dtype';
import {
  ModelError, type BuildOptions, type CausalLMGraph, type DecoderConfig, type LayerKV, type RopeScaling, type WeightSource, pastNames,
} from './types';

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

/** The Hugging Face defaults of one family's config class, and what it accepts. */
export interface FamilyDefaults {
  max_position_embeddings: number;
  rms_norm_eps: number;
  rope_theta: number;
  /** head_dim when config.json omits it; null = hidden_size / num_attention_heads. */
  head_dim: number | null;
  tie_word_embeddings: boolean;
  /** `rope_type` values the family's modeling file supports and we implement. */
  rope_types: readonly RopeScaling['rope_type'][];
  /** Older spellings of a rope_type (Phi-3: su, yarn → longrope). */
  rope_aliases?: Readonly<Record<string, RopeScaling['rope_type']>>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Raw `config.json` → the common part of a resolved config, with a family's defaults. Feature
 * flags come back off (no bias, no q/k norm, unfused, full causal attention); the family sets
 * its own. Reads both the v4 layout (`rope_theta`, `rope_scaling`) and the transformers v5 one
 * (`rope_parameters` holding `rope_type`, `rope_theta`, `partial_rotary_factor`).
 *
 * @throws ModelError naming `file` and the key: missing or mistyped keys, head_dim not an
 *   integer, heads not a multiple of KV heads, hidden_act other than silu, an unsupported or
 *   malformed rope_scaling.
 */
export function resolveDecoderConfig(raw: Record<string, unknown>, file: string, d: FamilyDefaults): DecoderConfig {
  const num = (k: string, dflt?: number) => field<number>(raw, file, k, 'number', dflt);
  const hidden = num('hidden_size');
  const heads = num('num_attention_heads');
  const kvHeads = num('num_key_value_heads', heads);
  const headDim = num('head_dim', d.head_dim ?? hidden / heads);
  if (!Number.isInteger(headDim)) throw new ModelError(`${file}: hidden_size ${hidden} is not divisible by num_attention_heads ${heads}; set head_dim`);
  if (heads % kvHeads !== 0) throw new ModelError(`${file}: num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`);
  const act = field<string>(raw, file, 'hidden_act', 'string', 'silu');
  if (act !== 'silu') throw new ModelError(`${file}: hidden_act "${act}" is not supported (supported: silu)`);
  const ropeParams = isObject(raw.rope_parameters) ? raw.rope_parameters : null;
  const ropeTheta = typeof ropeParams?.rope_theta === 'number' ? ropeParams.rope_theta : num('rope_theta', d.rope_theta);
  const prf = typeof ropeParams?.partial_rotary_factor === 'number' ? ropeParams.partial_rotary_factor : num('partial_rotary_factor', 1);
  const rotary = Math.floor(headDim * prf);
  if (!(prf > 0 && prf <= 1) || rotary % 2 !== 0 || rotary === 0) {
    throw new ModelError(`${file}: partial_rotary_factor ${prf} gives ${rotary} rotary dims of head_dim ${headDim}; it must be in (0, 1] and give an even number`);
  }
  const maxPos = num('max_position_embeddings', d.max_position_embeddings);
  const ropeKey = raw.rope_scaling != null ? 'rope_scaling' : 'rope_parameters';
  const ropeRaw = raw.rope_scaling ?? ropeParams;
  return {
    model_type: String(raw.model_type),
    hidden_size: hidden,
    intermediate_size: num('intermediate_size'),
    num_hidden_layers: num('num_hidden_layers'),
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: headDim,
    vocab_size: num('vocab_size'),
    max_position_embeddings: maxPos,
    rms_norm_eps: num('rms_norm_eps', d.rms_norm_eps),
    rope_theta: ropeTheta,
    rope_scaling: resolveRopeScaling(ropeRaw, file, ropeKey, d, { raw, rotary, maxPos }),
    partial_rotary_factor: prf,
    tie_word_embeddings: field<boolean>(raw, file, 'tie_word_embeddings', 'boolean', d.tie_word_embeddings),
    hidden_act: 'silu',
    sliding_window: null,
    bias: { q: false, k: false, v: false, o: false, mlp: false },
    qk_norm: false,
    fused_projections: false,
    bos_token_id: typeof raw.bos_token_id === 'number' ? raw.bos_token_id : null,
    eos_token_id: (raw.eos_token_id as number | number[] | null | undefined) ?? null,
  };
}

/**
 * Resolves `rope_scaling` (HF keys; `type` is the older spelling of `rope_type`). For longrope
 * (transformers `_compute_longrope_parameters`): `short_factor` and `long_factor` must hold Dr/2
 * numbers; `original_max_position_embeddings` comes from rope_scaling or the top level.
 */
function resolveRopeScaling(
  value: unknown, file: string, key: string, d: FamilyDefaults,
  ctx: { raw: Record<string, unknown>; rotary: number; maxPos: number },
): RopeScaling | null {
  if (value === null || value === undefined) return null;
  if (!isObject(value)) throw new ModelError(`${file}: "${key}" must be an object or null`);
  const spelled = String(value.rope_type ?? value.type ?? 'default');
  const type = d.rope_aliases?.[spelled] ?? spelled;
  if (!(d.rope_types as readonly string[]).includes(type)) {
    throw new ModelError(`${file}: ${key}.rope_type "${spelled}" is not supported for ${String(ctx.raw.model_type)} (supported: ${d.rope_types.join(', ')}); remove "${key}" to train at the original context length`);
  }
  const num = (k: string) => (typeof value[k] === 'number' ? value[k] : undefined);
  const rs: RopeScaling = {
    rope_type: type as RopeScaling['rope_type'],
    factor: num('factor'),
    low_freq_factor: num('low_freq_factor'),
    high_freq_factor: num('high_freq_factor'),
    original_max_position_embeddings: num('original_max_position_embeddings'),
    attention_factor: num('attention_factor'),
  };
  if (type === 'longrope') {
    const list = (k: 'short_factor' | 'long_factor') => {
      const v = value[k];
      if (!Array.isArray(v) || v.length !== ctx.rotary / 2 || !v.every((x) => typeof x === 'number' && x > 0)) {
        throw new ModelError(`${file}: ${key}.${k} must be a list of ${ctx.rotary / 2} positive numbers (rotary dims / 2) for longrope, got ${Array.isArray(v) ? `${v.length} entries` : JSON.stringify(v)}`);
      }
      return v as number[];
    };
    rs.short_factor = list('short_factor');
    rs.long_factor = list('long_factor');
    const orig = rs.original_max_position_embeddings ?? ctx.raw.original_max_position_embeddings;
    if (typeof orig !== 'number' || orig <= 0) throw new ModelError(`${file}: longrope needs "original_max_position_embeddings" (top level or in ${key})`);
    rs.original_max_position_embeddings = orig;
  }
  return rs;
}

/** Rotary dims Dr: the first `int(head_dim · partial_rotary_factor)` dims of each head. */
export function rotaryDim(cfg: DecoderConfig): number {
  return Math.floor(cfg.head_dim * cfg.partial_rotary_factor);
}

/**
 * Inverse frequencies of RoPE (Dr/2 of them), with HF's `rope_type` variants:
 * default: θ^(−2j/Dr); linear: divided by `factor`; llama3: long wavelengths divided by
 * `factor`, short ones kept, the band between smoothly interpolated
 * (transformers `_compute_llama3_parameters`); longrope: divided by `short_factor[j]`, or by
 * `long_factor[j]` when `long` (transformers `_compute_longrope_parameters`).
 */
export function ropeInvFreq(cfg: DecoderConfig, long = false): Float64Array {
  const dr = rotaryDim(cfg);
  const inv = new Float64Array(dr / 2);
  for (let j = 0; j < dr / 2; j++) inv[j] = 1 / Math.pow(cfg.rope_theta, (2 * j) / dr);
  const rs = cfg.rope_scaling;
  if (!rs || rs.rope_type === 'default') return inv;
  if (rs.rope_type === 'longrope') {
    const ext = long ? rs.long_factor! : rs.short_factor!;
    return inv.map((f, j) => f / ext[j]);
  }
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

/**
 * The factor on cos and sin: 1, except longrope: `attention_factor`, else √(1 + ln s / ln n₀)
 * for s = `factor` (default max_position_embeddings / n₀) > 1, n₀ = original_max_position_embeddings.
 */
export function ropeAttentionFactor(cfg: DecoderConfig): number {
  const rs = cfg.rope_scaling;
  if (!rs || rs.rope_type !== 'longrope') return 1;
  if (rs.attention_factor !== undefined) return rs.attention_factor;
  const orig = rs.original_max_position_embeddings!;
  const factor = rs.factor ?? cfg.max_position_embeddings / orig;
  return factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(orig));
}

/**
 * cos/sin tables [n, Dr] of cat(freqs, freqs) · attention factor, freqs[p, j] = p · inv_freq[j],
 * for positions 0..n−1 (n = max_position_embeddings unless given).
 */
export function ropeTables(cfg: DecoderConfig, dtype: 'float32' | 'float64', opts: { long?: boolean; positions?: number } = {}): { cos: HostTensor; sin: HostTensor } {
  const inv = ropeInvFreq(cfg, opts.long ?? false);
  const scale = ropeAttentionFactor(cfg);
  const dr = rotaryDim(cfg);
  const n = opts.positions ?? cfg.max_position_embeddings;
  const Arr = dtype === 'float32' ? Float32Array : Float64Array;
  const cos = new Arr(n * dr);
  const sin = new Arr(n * dr);
  for (let p = 0; p < n; p++) {
    for (let j = 0; j < dr / 2; j++) {
      const a = p * inv[j];
      cos[p * dr + j] = cos[p * dr + j + dr / 2] = Math.cos(a) * scale;
      sin[p * dr + j] = sin[p * dr + j + dr / 2] = Math.sin(a) * scale;
    }
  }
  return { cos: { dtype, shape: [n, dr], data: cos }, sin: { dtype, shape: [n, dr], data: sin } };
}

type WeightName = { name: string; shape: number[]; optional?: boolean };

/** Checkpoint tensors (HF names and [out, in] shapes) the decoder graph needs for `cfg`. */
export function decoderWeightNames(cfg: DecoderConfig): WeightName[] {
  const { hidden_size: D, intermediate_size: F, num_attention_heads: H, num_key_value_heads: Hkv, head_dim: Dh, vocab_size: V, bias } = cfg;
  const out: WeightName[] = [{ name: 'model.embed_tokens.weight', shape: [V, D] }];
  const linear = (module: string, outF: number, inF: number, hasBias: boolean) => {
    out.push({ name: `${module}.weight`, shape: [outF, inF] });
    if (hasBias) out.push({ name: `${module}.bias`, shape: [outF] });
  };
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    out.push({ name: `${p}.input_layernorm.weight`, shape: [D] });
    if (cfg.fused_projections) {
      linear(`${p}.self_attn.qkv_proj`, (H + 2 * Hkv) * Dh, D, false);
    } else {
      linear(`${p}.self_attn.q_proj`, H * Dh, D, bias.q);
      linear(`${p}.self_attn.k_proj`, Hkv * Dh, D, bias.k);
      linear(`${p}.self_attn.v_proj`, Hkv * Dh, D, bias.v);
    }
    if (cfg.qk_norm) out.push({ name: `${p}.self_attn.q_norm.weight`, shape: [Dh] }, { name: `${p}.self_attn.k_norm.weight`, shape: [Dh] });
    linear(`${p}.self_attn.o_proj`, D, H * Dh, bias.o);
    out.push({ name: `${p}.post_attention_layernorm.weight`, shape: [D] });
    if (cfg.fused_projections) {
      linear(`${p}.mlp.gate_up_proj`, 2 * F, D, false);
    } else {
      linear(`${p}.mlp.gate_proj`, F, D, bias.mlp);
      linear(`${p}.mlp.up_proj`, F, D, bias.mlp);
    }
    linear(`${p}.mlp.down_proj`, D, F, bias.mlp);
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

/**
 * Builds the causal-LM forward graph (logits) of a decoder described by `cfg`. LoRA wraps every
 * linear module that `opts.loraTargets` selects, by its checkpoint name (fused modules included:
 * `self_attn.qkv_proj`, `mlp.gate_up_proj`, as PEFT names them).
 *
 * Precision (`opts.weightDtype`, `opts.halfMatMul`; engine/device.ts `resolvePrecision`): the
 * embedding and every linear weight (lm_head included) are stored as float16 / bfloat16
 * initializers (rounded to nearest even); norm weights, biases and RoPE tables stay in the compute
 * dtype. The embedding rows are gathered in half and cast up. A linear layer either casts its
 * weight up where it is used (`Cast` at the boundary: providers without half kernels, i.e. CPU)
 * or, with `halfMatMul`, casts its input down and runs the MatMul in half, casting the product
 * back (x·Wᵀ in half, as PyTorch autocast runs linear layers; the backward's dx = dy·W then runs
 * in half too, which is why fp16 needs loss scaling). The LoRA branch, RMSNorm, softmax, the
 * residual stream and the output head's product with the loss stay in the compute dtype.
 *
 * @throws ModelError when lm_head.weight is missing and the embeddings are not tied.
 */
export function buildDecoder(cfg: DecoderConfig, weights: WeightSource, opts: BuildOptions = {}): CausalLMGraph {
  const dtype = opts.dtype ?? 'float32';
  const { hidden_size: D, intermediate_size: F, num_attention_heads: H, num_key_value_heads: Hkv, head_dim: Dh, vocab_size: V, bias } = cfg;
  const R = H / Hkv;
  const Dr = rotaryDim(cfg);
  const g = new Graph(`${cfg.model_type}`);
  const lora = new LoraGraph(g, opts.loraTargets ?? (() => false), opts.loraDropout ?? null, opts.multiLora ?? false);
  const w = (name: string, shape: number[]) => castFloat(weights.get(name, shape), dtype);
  const init = (name: string, shape: number[]) => g.initializer(name, w(name, shape));
  // Frozen matrices (embedding, linear weights) in their storage dtype, and back in the compute dtype.
  // float32 storage means "no half storage" whatever the compute dtype (float64 reference builds).
  const halfType = opts.weightDtype === 'float16' || opts.weightDtype === 'bfloat16' ? opts.weightDtype : null;
  if (halfType && dtype !== 'float32') throw new Error(`buildDecoder: weightDtype ${halfType} needs the float32 compute dtype, got ${dtype}`);
  const stored = (t: HostTensor): HostTensor => (halfType ? fromFloat32(toFloat32(t), t.shape, halfType) : t);
  const up = (v: Value) => (v.dtype === dtype ? v : Cast(v, dtype));
  const initT = (name: string, shape: number[]) => g.initializer(`${name}.T`, stored(transpose2d(w(name, shape))));
  if (!cfg.tie_word_embeddings && !weights.has('lm_head.weight')) {
    throw new ModelError('lm_head.weight is missing and tie_word_embeddings is false in config.json');
  }

  const cached = opts.kvCache ?? false;
  const inputIds = g.input('input_ids', 'int64', ['B', 'T']);
  const attentionMask = g.input('attention_mask', 'int64', ['B', cached ? 'P+T' : 'T']);
  const positionIds = g.input('position_ids', 'int64', ['B', 'T']);
  const past: LayerKV[] = [];
  const present: LayerKV[] = [];
  if (cached) {
    for (let i = 0; i < cfg.num_hidden_layers; i++) {
      const n = pastNames(i);
      past.push({ key: g.input(n.key, dtype, ['B', Hkv, 'P', Dh]), value: g.input(n.value, dtype, ['B', Hkv, 'P', Dh]) });
    }
  }

  const embed = g.initializer('model.embed_tokens.weight', stored(w('model.embed_tokens.weight', [V, D])));
  let x = up(Gather(embed, inputIds, 0)); // (B, T, D)

  const { cos: cosT, sin: sinT } = ropeGraph(g, cfg, positionIds, dtype); // (B, T, 1, Dr) each
  const mask = attentionMaskGraph(g, inputIds, attentionMask, cfg.sliding_window, cached); // (B, 1, 1, T, T) bool; cached: (B, 1, 1, T, P+T)
  // Additive mask, made once for every layer: 0 where attended, MASK_VALUE elsewhere (scores are
  // far below 64, the float32 spacing at 1e9, so score + MASK_VALUE = MASK_VALUE as with Where).
  // An Add has no backward of its own over the (T, T) scores, where Where needs one per layer.
  const maskBias = Where(mask, scalar(g, 0, dtype), MASK_VALUE); // like mask, float
  const eps = scalar(g, cfg.rms_norm_eps, dtype);
  const rmsNorm = (v: Value, name: string, size: number) => {
    const variance = ReduceMean(Mul(v, v), [-1], true); // (…, 1)
    return Mul(Div(v, Sqrt(Add(variance, eps))), init(name, [size]));
  };
  const linear = (v: Value, module: string, inF: number, outF: number, hasBias: boolean) => {
    const wT = initT(`${module}.weight`, [outF, inF]); // (in, out), storage dtype
    // Half MatMul: x·Wᵀ in the weight's dtype, (…, out) cast back; else Wᵀ cast up at its use.
    const base = halfType && opts.halfMatMul ? Cast(MatMul(Cast(v, halfType), wT), dtype) : undefined;
    const y = lora.linear(v, module, base ? wT : up(wT), inF, outF, base);
    return hasBias ? Add(y, init(`${module}.bias`, [outF])) : y;
  };
  const cols = (v: Value, from: number, to: number) => Slice(v, [from], [to], [-1]);
  const half = Dr / 2;
  const rotateHalf = (v: Value) => Concat([Neg(cols(v, half, Dr)), cols(v, 0, half)], -1);
  const rope = (v: Value) => {
    const rot = Dr === Dh ? v : cols(v, 0, Dr); // (B, T, ·, Dr)
    const out = Add(Mul(rot, cosT), Mul(rotateHalf(rot), sinT));
    return Dr === Dh ? out : Concat([out, cols(v, Dr, Dh)], -1); // (B, T, ·, Dh)
  };
  const invSqrtDh = scalar(g, 1 / Math.sqrt(Dh), dtype);

  const residuals: Value[] = [];
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    residuals.push(x); // (B, T, D): layer i's input
    // --- attention ---
    const n1 = rmsNorm(x, `${p}.input_layernorm.weight`, D); // (B, T, D)
    let q: Value, k: Value, v: Value;
    if (cfg.fused_projections) {
      const qkv = linear(n1, `${p}.self_attn.qkv_proj`, D, (H + 2 * Hkv) * Dh, false); // (B, T, (H + 2·Hkv)·Dh)
      q = cols(qkv, 0, H * Dh); // (B, T, H·Dh)
      k = cols(qkv, H * Dh, (H + Hkv) * Dh); // (B, T, Hkv·Dh)
      v = cols(qkv, (H + Hkv) * Dh, (H + 2 * Hkv) * Dh); // (B, T, Hkv·Dh)
    } else {
      q = linear(n1, `${p}.self_attn.q_proj`, D, H * Dh, bias.q); // (B, T, H·Dh)
      k = linear(n1, `${p}.self_attn.k_proj`, D, Hkv * Dh, bias.k); // (B, T, Hkv·Dh)
      v = linear(n1, `${p}.self_attn.v_proj`, D, Hkv * Dh, bias.v); // (B, T, Hkv·Dh)
    }
    q = Reshape(q, [0, 0, H, Dh]); // (B, T, H, Dh)
    k = Reshape(k, [0, 0, Hkv, Dh]); // (B, T, Hkv, Dh)
    v = Reshape(v, [0, 0, Hkv, Dh]); // (B, T, Hkv, Dh)
    if (cfg.qk_norm) {
      q = rmsNorm(q, `${p}.self_attn.q_norm.weight`, Dh); // (B, T, H, Dh)
      k = rmsNorm(k, `${p}.self_attn.k_norm.weight`, Dh); // (B, T, Hkv, Dh)
    }
    q = rope(q);
    k = rope(k);
    // Grouped-query attention without copying K/V: split query heads into (Hkv, R) and let
    // MatMul broadcast K and V over R.
    // 1/√Dh applied to q (T·Dh values) rather than to the (T, T) scores: one (T, T) tensor less in
    // the forward and in the backward.
    const q5 = Transpose(Reshape(Mul(q, invSqrtDh), [0, 0, Hkv, R, Dh]), [0, 2, 3, 1, 4]); // (B, Hkv, R, T, Dh)
    let kT: Value, v5: Value;
    if (cached) {
      // Append the new keys / values to the past ones: (B, Hkv, P+T, Dh), S = P + T below.
      const keys = Concat([past[i].key, Transpose(k, [0, 2, 1, 3])], 2); // (B, Hkv, S, Dh)
      const values = Concat([past[i].value, Transpose(v, [0, 2, 1, 3])], 2); // (B, Hkv, S, Dh)
      present.push({ key: keys, value: values });
      kT = Unsqueeze(Transpose(keys, [0, 1, 3, 2]), [2]); // (B, Hkv, 1, Dh, S)
      v5 = Unsqueeze(values, [2]); // (B, Hkv, 1, S, Dh)
    } else {
      kT = Unsqueeze(Transpose(k, [0, 2, 3, 1]), [2]); // (B, Hkv, 1, Dh, T)
      v5 = Unsqueeze(Transpose(v, [0, 2, 1, 3]), [2]); // (B, Hkv, 1, T, Dh)
    }
    // Without a cache, attention runs in blocks of query rows with a backward that recomputes
    // each block's probabilities (attention.ts): one block of (T, T) scores exists at a time.
    const ctx = cached
      ? MatMul(Softmax(Add(MatMul(q5, kT), maskBias), -1), v5) // scores, probabilities (B, Hkv, R, T, S); (B, Hkv, R, T, Dh)
      : blockedAttention(q5, kT, v5, maskBias); // (B, Hkv, R, T, Dh)
    const merged = Reshape(Transpose(ctx, [0, 3, 1, 2, 4]), [0, 0, H * Dh]); // (B, T, H·Dh)
    x = Add(x, linear(merged, `${p}.self_attn.o_proj`, H * Dh, D, bias.o)); // (B, T, D)
    // --- MLP ---
    const n2 = rmsNorm(x, `${p}.post_attention_layernorm.weight`, D); // (B, T, D)
    let gate: Value, up: Value;
    if (cfg.fused_projections) {
      const gateUp = linear(n2, `${p}.mlp.gate_up_proj`, D, 2 * F, false); // (B, T, 2F)
      gate = cols(gateUp, 0, F); // (B, T, F)
      up = cols(gateUp, F, 2 * F); // (B, T, F)
    } else {
      gate = linear(n2, `${p}.mlp.gate_proj`, D, F, bias.mlp); // (B, T, F)
      up = linear(n2, `${p}.mlp.up_proj`, D, F, bias.mlp); // (B, T, F)
    }
    const act = Mul(Mul(gate, Sigmoid(gate)), up); // silu(gate) · up, (B, T, F)
    x = Add(x, linear(act, `${p}.mlp.down_proj`, F, D, bias.mlp)); // (B, T, D)
  }
  residuals.push(x);
  x = rmsNorm(x, 'model.norm.weight', D);
  // Output head: tied embeddings reuse embed_tokens (the lm_head copy, if any, is ignored).
  // The head's product stays in the compute dtype (the fused loss takes MatMul(hidden, head)).
  const head = up(cfg.tie_word_embeddings
    ? g.initializer('lm_head.weight.T', stored(transpose2d(w('model.embed_tokens.weight', [V, D]))))
    : initT('lm_head.weight', [V, D]));
  const logits = MatMul(x, head); // (B, T, V)
  return { graph: g, config: cfg, inputIds, attentionMask, positionIds, logits, lora, residuals, ...(cached ? { cache: { past, present } } : {}) };
}

/**
 * longrope's switch point n₀ = original_max_position_embeddings (at most max_position_embeddings):
 * a batch uses the long factors when max(position_ids) + 1 > n₀ (transformers
 * `dynamic_rope_update` / `_longrope_frequency_update`). null for the other rope types.
 */
export function longropeSwitchLength(cfg: DecoderConfig): number | null {
  const rs = cfg.rope_scaling;
  return rs?.rope_type === 'longrope' ? Math.min(rs.original_max_position_embeddings!, cfg.max_position_embeddings) : null;
}

/**
 * cos and sin gathered at `position_ids`: (B, T, 1, Dr) each, to broadcast over heads.
 * longrope, as transformers' `dynamic_rope_update`: the long table for the whole batch when
 * max(position_ids) + 1 > original_max_position_embeddings, else the short one (which only
 * covers those positions, so its gather index is clamped). With a KV cache, position_ids hold
 * absolute positions, so max + 1 is the length so far (past + new); keys cached with the short
 * table are stale once the length crosses the threshold, and transformers (Phi3ForCausalLM.
 * prepare_inputs_for_generation) then drops the cache and recomputes: `infer/kv-cache.ts` does too.
 */
function ropeGraph(g: Graph, cfg: DecoderConfig, positionIds: Value, dtype: 'float32' | 'float64'): { cos: Value; sin: Value } {
  const rs = cfg.rope_scaling;
  if (rs?.rope_type !== 'longrope') {
    const { cos, sin } = ropeTables(cfg, dtype);
    return {
      cos: Unsqueeze(Gather(g.initializer('rope_cos', cos), positionIds, 0), [2]), // (B, T, 1, Dr)
      sin: Unsqueeze(Gather(g.initializer('rope_sin', sin), positionIds, 0), [2]), // (B, T, 1, Dr)
    };
  }
  const orig = longropeSwitchLength(cfg)!;
  const short = ropeTables(cfg, dtype, { positions: orig });
  const long = ropeTables(cfg, dtype, { long: true });
  const useLong = Greater(ReduceMax(positionIds, null, false), scalar(g, orig - 1, 'int64')); // () bool
  const shortPos = Min(positionIds, scalar(g, orig - 1, 'int64')); // (B, T)
  const pick = (which: 'cos' | 'sin') => Unsqueeze(Where(
    useLong,
    Gather(g.initializer(`rope_${which}_long`, long[which]), positionIds, 0),
    Gather(g.initializer(`rope_${which}_short`, short[which]), shortPos, 0),
  ), [2]); // (B, T, 1, Dr)
  return { cos: pick('cos'), sin: pick('sin') };
}

/**
 * Attention mask (B, 1, 1, T, T) bool. `attention_mask` (B, T) holds 0 for padding and a
 * segment id ≥ 1 for real tokens (all 1 without packing; 1, 2, 3… for the documents of a
 * packed row). Query i sees key j iff j ≤ i, attention_mask[b, j] ≠ 0, the two share a segment,
 * and (with a sliding window W) i − j < W. For 0/1 masks this is Hugging Face's causal + padding
 * mask; a padding query sees nothing and its (unused) output is a uniform average.
 *
 * `cached`: `attention_mask` is (B, S) over past and new tokens, S = P + T; query t has the
 * absolute index i = P + t and the same rule applies over keys j < S; the mask is
 * (B, 1, 1, T, S). With P = 0 it equals the uncached mask.
 */
function attentionMaskGraph(g: Graph, inputIds: Value, attentionMask: Value, slidingWindow: number | null, cached: boolean): Value {
  const T = Reshape(shapeOf(inputIds, 1, 2), []); // () int64
  const zero = scalar(g, 0, 'int64');
  const one = scalar(g, 1, 'int64');
  let keyIdx: Value, queryIdx: Value, segQuery: Value;
  if (cached) {
    const S = Reshape(shapeOf(attentionMask, 1, 2), []); // () int64, P + T
    const qIdx = Range(Sub(S, T), S, one); // (T): P..S−1
    keyIdx = Unsqueeze(Range(zero, S, one), [0]); // (1, S)
    queryIdx = Unsqueeze(qIdx, [1]); // (T, 1)
    segQuery = Unsqueeze(Gather(attentionMask, qIdx, 1), [2]); // (B, T, 1)
  } else {
    const idx = Range(zero, T, one); // (T)
    keyIdx = Unsqueeze(idx, [0]); // (1, T)
    queryIdx = Unsqueeze(idx, [1]); // (T, 1)
    segQuery = Unsqueeze(attentionMask, [2]); // (B, T, 1)
  }
  let causal = LessOrEqual(keyIdx, queryIdx); // (T, T); cached (T, S)
  if (slidingWindow !== null) {
    causal = And(causal, GreaterOrEqual(keyIdx, Sub(queryIdx, scalar(g, slidingWindow - 1, 'int64'))));
  }
  const segKey = Unsqueeze(attentionMask, [1]); // (B, 1, T); cached (B, 1, S)
  const sameSegment = And(Equal(segKey, segQuery), Not(Equal(segKey, 0))); // (B, T, T); cached (B, T, S)
  return Unsqueeze(And(sameSegment, causal), [1, 2]); // (B, 1, 1, T, T); cached (B, 1, 1, T, S)
}
