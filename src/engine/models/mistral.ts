/**
 * Mistral: the Llama decoder with `sliding_window` attention (transformers v4.57
 * `modeling_mistral.py`: query i sees keys j with i − W < j ≤ i) and MistralConfig's defaults
 * (max_position_embeddings 32768). Everything else maps onto `llama.ts`.
 */
import { buildDecoder, decoderWeightNames } from './decoder';
import { resolveLlamaConfig } from './llama';
import type { DecoderConfig, ModelFamily } from './types';

/** Raw `config.json` → resolved config with HF `MistralConfig` defaults. @throws ModelError naming `file` and the key. */
export function resolveMistralConfig(raw: Record<string, unknown>, file: string): DecoderConfig {
  const cfg = resolveLlamaConfig({ rope_theta: 10000, max_position_embeddings: 32768, ...raw }, file);
  const sw = raw.sliding_window;
  cfg.sliding_window = typeof sw === 'number' && sw > 0 ? sw : null;
  return cfg;
}

export const mistralFamily: ModelFamily = {
  modelTypes: ['mistral'],
  resolveConfig: resolveMistralConfig,
  weightNames: decoderWeightNames,
  build: buildDecoder,
};
