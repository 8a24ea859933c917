/**
 * What every model family provides: a resolved config and a forward graph builder.
 */
import type { Graph, Value } from '../graph/ir';
import type { LoraGraph } from '../lora/index';
import type { HostTensor } from '../tensor';

export class ModelError extends Error {}

/**
 * The decoder-only transformer config after defaults are resolved, with Hugging Face's key
 * names (`config.json`). Families map their raw config onto this once.
 */
export interface DecoderConfig {
  model_type: string;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim: number;
  vocab_size: number;
  max_position_embeddings: number;
  rms_norm_eps: number;
  rope_theta: number;
  rope_scaling: RopeScaling | null;
  /** Fraction of head_dim that RoPE rotates (the first `int(head_dim · f)` dims; the rest pass through). Phi-4-mini: 0.75. */
  partial_rotary_factor: number;
  tie_word_embeddings: boolean;
  hidden_act: 'silu';
  /** Attend to at most this many previous keys (null = full causal): Mistral, Phi-3. */
  sliding_window: number | null;
  // --- Graph features: set by each family from its modeling file, not config.json keys. ---
  /** Which linear layers carry a bias (Llama: attention_bias on q/k/v/o, mlp_bias; Qwen2: q/k/v only). */
  bias: { q: boolean; k: boolean; v: boolean; o: boolean; mlp: boolean };
  /** Qwen3: RMSNorm over head_dim on every query and key head (`q_norm`, `k_norm`), after the projection, before RoPE. */
  qk_norm: boolean;
  /** Phi-3: q/k/v as one `self_attn.qkv_proj` [(H + 2·Hkv)·Dh, D] and gate/up as one `mlp.gate_up_proj` [2F, D]. */
  fused_projections: boolean;
  bos_token_id: number | null;
  eos_token_id: number | number[] | null;
}

/**
 * `rope_scaling` as Hugging Face writes it (`rope_type`, or the older `type`), after the family
 * has checked it. `longrope` (Phi-3): inverse frequencies divided by `short_factor` while the
 * sequence fits `original_max_position_embeddings`, by `long_factor` beyond; cos and sin scaled
 * by `attention_factor`.
 */
export interface RopeScaling {
  rope_type: 'default' | 'linear' | 'llama3' | 'longrope';
  factor?: number;
  low_freq_factor?: number;
  high_freq_factor?: number;
  original_max_position_embeddings?: number;
  short_factor?: number[];
  long_factor?: number[];
  attention_factor?: number;
}

/** Reads base-model tensors (float32) by checkpoint name. */
export interface WeightSource {
  has(name: string): boolean;
  /** @throws ModelError naming the tensor when it is missing or its shape is wrong. */
  get(name: string, shape: readonly number[]): HostTensor;
}

export interface BuildOptions {
  /** Compute dtype; float32 (default) or float64 (tests). */
  dtype?: 'float32' | 'float64';
  /**
   * Storage dtype of the frozen embedding and linear weights (default: the compute dtype);
   * float16 / bfloat16 need the float32 compute dtype. See `buildDecoder` and engine/device.ts
   * `PrecisionPlan`.
   */
  weightDtype?: 'float32' | 'float16' | 'bfloat16';
  /** With a half `weightDtype`: run the frozen linear layers' MatMul in it (GPU providers). Default false: cast the weight up. */
  halfMatMul?: boolean;
  /** Which linear modules carry LoRA; none when omitted. */
  loraTargets?: (module: string) => boolean;
  /** LoRA dropout (training graphs): ratio and the base seed of ONNX Runtime's generator. */
  loraDropout?: { ratio: number; seed: number } | null;
  /**
   * Build the KV-cache graph (inference): one graph for prefill and decode, with the input and
   * output names of transformers.js / Optimum ONNX exports. Extra inputs per layer i:
   * `past_key_values.<i>.key` / `.value` (B, Hkv, P, Dh) in the compute dtype (P = 0 for the
   * prefill); `attention_mask` then covers past and new tokens, (B, P+T). Outputs (see
   * `CausalLMGraph.cache`): `present.<i>.key` / `.value` (B, Hkv, P+T, Dh), the keys after RoPE.
   * Off (default): the training / full-forward graph, unchanged.
   */
  kvCache?: boolean;
  /**
   * Several adapters in one batch (inference): each LoRA module takes N stacked adapters and each
   * row gathers its own by `lora_index` (see `LoraGraph`, lora/index.ts). Default false.
   */
  multiLora?: boolean;
}

/** The KV-cache values of one layer: past (graph inputs) or present (to be marked as outputs). */
export interface LayerKV {
  key: Value;
  value: Value;
}

/** Graph input names of layer i's past keys and values (transformers.js / Optimum ONNX exports). */
export const pastNames = (i: number) => ({ key: `past_key_values.${i}.key`, value: `past_key_values.${i}.value` });
/** Graph output names of layer i's present keys and values (transformers.js / Optimum ONNX exports). */
export const presentNames = (i: number) => ({ key: `present.${i}.key`, value: `present.${i}.value` });

/**
 * A causal-LM forward graph. Inputs: `input_ids` (B, T) int64, `attention_mask` (B, T) int64
 * (1 = real token), `position_ids` (B, T) int64, plus the LoRA inputs. Output value: logits
 * (B, T, V) in the compute dtype.
 */
export interface CausalLMGraph {
  graph: Graph;
  config: DecoderConfig;
  inputIds: Value;
  attentionMask: Value;
  positionIds: Value;
  logits: Value;
  lora: LoraGraph;
  /**
   * With `BuildOptions.kvCache`: per layer, the past inputs (`past_key_values.<i>.key|value`)
   * and the present values, which the caller marks as outputs `present.<i>.key|value`
   * (`presentNames`); absent otherwise.
   */
  cache?: { past: LayerKV[]; present: LayerKV[] };
  /**
   * The residual stream at each layer boundary, (B, T, D): residuals[i] is decoder layer i's
   * input, residuals[L] the last layer's output (before the final norm). Gradient checkpointing
   * (train/step.ts) keeps these and recomputes everything between them.
   */
  residuals?: Value[];
}

export interface ModelFamily {
  /** `model_type` values this family handles. */
  modelTypes: readonly string[];
  /** Raw config.json → resolved config. @throws ModelError naming `file` and the key. */
  resolveConfig(raw: Record<string, unknown>, file: string): DecoderConfig;
  /** Tensor names and shapes the graph needs from the checkpoint. */
  weightNames(cfg: DecoderConfig): { name: string; shape: number[]; optional?: boolean }[];
  build(cfg: DecoderConfig, weights: WeightSource, opts: BuildOptions): CausalLMGraph;
}
