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
  tie_word_embeddings: boolean;
  attention_bias: boolean;
  mlp_bias: boolean;
  hidden_act: 'silu';
  /** Mistral: attend to at most this many previous keys (null = full causal). */
  sliding_window: number | null;
  bos_token_id: number | null;
  eos_token_id: number | number[] | null;
}

/** `rope_scaling` as Hugging Face writes it (`rope_type`, or the older `type`). */
export interface RopeScaling {
  rope_type: 'default' | 'linear' | 'llama3';
  factor?: number;
  low_freq_factor?: number;
  high_freq_factor?: number;
  original_max_position_embeddings?: number;
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
  /** Which linear modules carry LoRA; none when omitted. */
  loraTargets?: (module: string) => boolean;
  /** LoRA dropout (training graphs): ratio and the base seed of ONNX Runtime's generator. */
  loraDropout?: { ratio: number; seed: number } | null;
}

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
