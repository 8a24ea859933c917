/**
 * Mistral: the Llama graph with `sliding_window` attention (HF `modeling_mistral.py`:
 * query i sees keys j with i − W < j ≤ i). Everything else maps onto `llama.ts`.
 */
import { buildLlama, llamaWeightNames, resolveLlamaConfig } from './llama';
import type { DecoderConfig, ModelFamily } from './types';

export function resolveMistralConfig(raw: Record<string, unknown>, file: string): DecoderConfig {
  const cfg = resolveLlamaConfig({ rope_theta: 10000, max_position_embeddings: 32768, ...raw }, file);
  const sw = raw.sliding_window;
  cfg.sliding_window = typeof sw === 'number' && sw > 0 ? sw : null;
  return cfg;
}

export const mistralFamily: ModelFamily = {
  modelTypes: ['mistral'],
  resolveConfig: resolveMistralConfig,
  weightNames: llamaWeightNames,
  build: buildLlama,
};
