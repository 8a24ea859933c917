/**
 * Llama family (Llama 2 / 3.x, SmolLM, TinyLlama): Hugging Face `config.json` → forward graph
 * with transformers `modeling_llama.py` semantics (v4.57; unchanged in the v5 layout, whose
 * `rope_parameters` key is read too). The graph is the shared decoder (`decoder.ts`).
 *
 * Shape legend:
 *   B batch, T sequence, D hidden_size, H num_attention_heads, Hkv num_key_value_heads,
 *   R = H / Hkv (query heads per KV head), Dh head_dim, F intermediate_size, V vocab_size,
 *   L num_hidden_layers, r LoRA rank.
 *
 * Per layer:  h = x + o_proj(attn(input_layernorm(x)));  x' = h + down_proj(silu(gate_proj(n)) · up_proj(n)),
 * n = post_attention_layernorm(h). RMSNorm(x) = x / √(mean(x²) + eps) · w. RoPE in the
 * `rotate_half` layout. Llama specifics: `attention_bias` puts a bias on q/k/v/o_proj,
 * `mlp_bias` on gate/up/down_proj; `head_dim` defaults to hidden_size / num_attention_heads;
 * rope_scaling: default, linear, llama3.
 */
import { buildDecoder, decoderWeightNames, field, resolveDecoderConfig } from './decoder';
import type { DecoderConfig, ModelFamily } from './types';

/** Raw `config.json` → resolved config with HF `LlamaConfig` defaults. @throws ModelError naming `file` and the key. */
export function resolveLlamaConfig(raw: Record<string, unknown>, file: string): DecoderConfig {
  const cfg = resolveDecoderConfig(raw, file, {
    max_position_embeddings: 2048, rms_norm_eps: 1e-6, rope_theta: 10000, head_dim: null, tie_word_embeddings: false,
    rope_types: ['default', 'linear', 'llama3'],
  });
  const attentionBias = field<boolean>(raw, file, 'attention_bias', 'boolean', false);
  const mlpBias = field<boolean>(raw, file, 'mlp_bias', 'boolean', false);
  cfg.bias = { q: attentionBias, k: attentionBias, v: attentionBias, o: attentionBias, mlp: mlpBias };
  return cfg;
}

export const llamaFamily: ModelFamily = {
  modelTypes: ['llama'],
  resolveConfig: resolveLlamaConfig,
  weightNames: decoderWeightNames,
  build: buildDecoder,
};
