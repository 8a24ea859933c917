/**
 * Qwen2 family (Qwen2, Qwen2.5, Qwen2.5-Coder/-Math): Hugging Face `config.json` → forward
 * graph with transformers v4.55 `modular_qwen2.py` / `configuration_qwen2.py` semantics
 * (the Llama decoder of `decoder.ts` with these differences):
 *   - q_proj, k_proj, v_proj carry a bias; o_proj and the MLP do not (no `attention_bias` key);
 *   - Qwen2Config defaults: max_position_embeddings 32768, rms_norm_eps 1e-6, rope_theta 10000,
 *     tie_word_embeddings false (Qwen2.5-0.5B/1.5B/3B set it true and ship no lm_head.weight);
 *   - `use_sliding_window: true` (sliding attention on layers ≥ max_window_layers) is refused:
 *     no released checkpoint enables it.
 *
 * Shape legend:
 *   B batch, T sequence, D hidden_size, H num_attention_heads, Hkv num_key_value_heads,
 *   R = H / Hkv (query heads per KV head), Dh head_dim (= D / H unless set), F intermediate_size,
 *   V vocab_size, L num_hidden_layers, r LoRA rank.
 *
 * Per layer:  h = x + o_proj(attn(input_layernorm(x)));  x' = h + down_proj(silu(gate_proj(n)) · up_proj(n)),
 * n = post_attention_layernorm(h); q = x·Wqᵀ + bq (likewise k, v), RoPE in the `rotate_half` layout.
 */
import { ModelError, type DecoderConfig, type ModelFamily } from './types';
import { buildDecoder, decoderWeightNames, resolveDecoderConfig } from './decoder';

/**
 * Refuses `use_sliding_window: true` (Qwen2 and Qwen3 share the key and its meaning).
 * @throws ModelError naming `file` and the key.
 */
export function refuseQwenSlidingWindow(raw: Record<string, unknown>, file: string): void {
  if (raw.use_sliding_window === true) {
    throw new ModelError(`${file}: "use_sliding_window": true is not supported for ${String(raw.model_type)} (sliding attention on layers ≥ max_window_layers); set it to false, as the released checkpoints do`);
  }
}

/** Raw `config.json` → resolved config with HF `Qwen2Config` defaults. @throws ModelError naming `file` and the key. */
export function resolveQwen2Config(raw: Record<string, unknown>, file: string): DecoderConfig {
  refuseQwenSlidingWindow(raw, file);
  const cfg = resolveDecoderConfig(raw, file, {
    max_position_embeddings: 32768, rms_norm_eps: 1e-6, rope_theta: 10000, head_dim: null, tie_word_embeddings: false,
    rope_types: ['default', 'linear', 'llama3'],
  });
  cfg.bias = { q: true, k: true, v: true, o: false, mlp: false };
  return cfg;
}

export const qwen2Family: ModelFamily = {
  modelTypes: ['qwen2'],
  resolveConfig: resolveQwen2Config,
  weightNames: decoderWeightNames,
  build: buildDecoder,
};
