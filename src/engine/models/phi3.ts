/**
 * Phi-3 family (Phi-3-mini/-medium, Phi-3.5-mini, Phi-4-mini; `model_type` phi3): Hugging Face
 * `config.json` → forward graph with transformers v4.55 `modeling_phi3.py` /
 * `configuration_phi3.py` semantics (the Llama decoder of `decoder.ts` with these differences):
 *   - fused projections: `self_attn.qkv_proj` [(H + 2·Hkv)·Dh, D] whose output columns are q,
 *     then k, then v; `mlp.gate_up_proj` [2F, D] whose output is chunked into gate, then up.
 *     LoRA wraps these fused modules under these names, as PEFT does, so PEFT adapters load;
 *   - `partial_rotary_factor` (Phi-4-mini: 0.75): RoPE on the first int(Dh · f) dims of each head;
 *   - `rope_scaling` longrope (older spellings "su" and "yarn" mean longrope here, as in
 *     Phi3Config): inverse frequencies divided by short_factor, or by long_factor for a batch
 *     whose max(position_ids) + 1 exceeds original_max_position_embeddings; cos and sin times
 *     attention_factor (default √(1 + ln s / ln n₀), s = max_position_embeddings / n₀);
 *   - `sliding_window` (Phi-3-mini-4k: 2047): query i sees keys j with i − W < j ≤ i;
 *   - no biases; defaults: max_position_embeddings 4096, original_max_position_embeddings 4096,
 *     rms_norm_eps 1e-5, rope_theta 10000, tie_word_embeddings false (Phi-4-mini sets true).
 *   resid_pdrop / embd_pdrop / attention_dropout (0.0 in the released configs) are not applied.
 *
 * Shape legend:
 *   B batch, T sequence, D hidden_size, H num_attention_heads, Hkv num_key_value_heads,
 *   R = H / Hkv (query heads per KV head), Dh head_dim, Dr rotary dims, F intermediate_size,
 *   V vocab_size, L num_hidden_layers, r LoRA rank.
 *
 * Per layer:  q, k, v = split(qkv_proj(n1));  h = x + o_proj(attn(rope(q), rope(k), v));
 * gate, up = chunk(gate_up_proj(n2));  x' = h + down_proj(silu(gate) · up).
 */
import type { DecoderConfig, ModelFamily } from './types';
import { buildDecoder, decoderWeightNames, resolveDecoderConfig } from './decoder';

/** Raw `config.json` → resolved config with HF `Phi3Config` defaults. @throws ModelError naming `file` and the key. */
export function resolvePhi3Config(raw: Record<string, unknown>, file: string): DecoderConfig {
  const cfg = resolveDecoderConfig({ original_max_position_embeddings: 4096, ...raw }, file, {
    max_position_embeddings: 4096, rms_norm_eps: 1e-5, rope_theta: 10000, head_dim: null, tie_word_embeddings: false,
    rope_types: ['default', 'longrope'],
    rope_aliases: { su: 'longrope', yarn: 'longrope' },
  });
  const sw = raw.sliding_window;
  cfg.sliding_window = typeof sw === 'number' && sw > 0 ? sw : null;
  cfg.fused_projections = true;
  return cfg;
}

export const phi3Family: ModelFamily = {
  modelTypes: ['phi3'],
  resolveConfig: resolvePhi3Config,
  weightNames: decoderWeightNames,
  build: buildDecoder,
};
