/**
 * Qwen3 family (dense Qwen3 0.6B–32B): Hugging Face `config.json` → forward graph with
 * transformers v4.55 `modeling_qwen3.py` / `configuration_qwen3.py` semantics (the Llama
 * decoder of `decoder.ts` with these differences):
 *   - `q_norm`, `k_norm`: RMSNorm over head_dim (weight [Dh], eps rms_norm_eps) on every query
 *     and key head, after the projection and before RoPE;
 *   - `head_dim` is its own key (Qwen3Config default 128), not hidden_size / num_attention_heads
 *     (Qwen3-0.6B: hidden 1024, 16 heads, head_dim 128);
 *   - `attention_bias` (default false) puts a bias on q/k/v/o_proj; the MLP has none;
 *   - defaults: max_position_embeddings 32768, rms_norm_eps 1e-6, rope_theta 10000,
 *     tie_word_embeddings false; `use_sliding_window: true` is refused (see qwen2.ts).
 * Qwen3-MoE (`qwen3_moe`) is a different model_type and is not handled here.
 *
 * Shape legend:
 *   B batch, T sequence, D hidden_size, H num_attention_heads, Hkv num_key_value_heads,
 *   R = H / Hkv (query heads per KV head), Dh head_dim, F intermediate_size, V vocab_size,
 *   L num_hidden_layers, r LoRA rank.
 *
 * Per layer:  q = rope(q_norm(view(q_proj(n1), (B, T, H, Dh)))),  k likewise with k_norm (Hkv heads),
 * h = x + o_proj(attn(q, k, v)),  x' = h + down_proj(silu(gate_proj(n2)) · up_proj(n2)).
 */
import type { DecoderConfig, ModelFamily } from './types';
import { buildDecoder, decoderWeightNames, field, resolveDecoderConfig } from './decoder';
import { refuseQwenSlidingWindow } from './qwen2';

/** Raw `config.json` → resolved config with HF `Qwen3Config` defaults. @throws ModelError naming `file` and the key. */
export function resolveQwen3Config(raw: Record<string, unknown>, file: string): DecoderConfig {
  refuseQwenSlidingWindow(raw, file);
  const cfg = resolveDecoderConfig(raw, file, {
    max_position_embeddings: 32768, rms_norm_eps: 1e-6, rope_theta: 10000, head_dim: 128, tie_word_embeddings: false,
    rope_types: ['default', 'linear', 'llama3'],
  });
  const attentionBias = field<boolean>(raw, file, 'attention_bias', 'boolean', false);
  cfg.bias = { q: attentionBias, k: attentionBias, v: attentionBias, o: attentionBias, mlp: false };
  cfg.qk_norm = true;
  return cfg;
}

export const qwen3Family: ModelFamily = {
  modelTypes: ['qwen3'],
  resolveConfig: resolveQwen3Config,
  weightNames: decoderWeightNames,
  build: buildDecoder,
};
