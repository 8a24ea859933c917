// Tiny random models written as Hugging Face folders (config.json + model.safetensors), for
// tests that load them with CausalLM.load like a real checkpoint.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRng } from '../../src/engine/data/random';
import { loadModelConfig } from '../../src/engine/models/index';
import type { HostTensor } from '../../src/engine/tensor';
import { writeSafetensors } from '../../src/engine/weights/safetensors';
import { tempDir } from './tmp';

/**
 * Writes config.json and random weights (norms 1 ± 0.3, matrices ±1.5/√in, biases ±0.5, embeddings ±1) for the
 * names the family needs into a new temporary folder (removed when the test process exits); returns the folder.
 */
export async function writeTinyModel(config: object, seed: number): Promise<string> {
  const dir = tempDir('loralab-tiny-');
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const info = await loadModelConfig(dir);
  const rand = createRng(seed);
  const u = () => rand() * 2 - 1;
  const tensors = new Map<string, HostTensor>();
  for (const { name, shape, optional } of info.family.weightNames(info.config)) {
    if (optional) continue;
    const n = shape.reduce((a, b) => a * b, 1);
    // 1-D tensors other than norms are biases (Qwen2's q/k/v): ±0.5, finite and large enough to
    // change every output (a bias written as NaN would make bias tests vacuous).
    const f = name.endsWith('norm.weight') ? () => 1 + 0.3 * u()
      : name.includes('embed_tokens') ? u
      : shape.length === 1 ? () => 0.5 * u()
      : () => (1.5 * u()) / Math.sqrt(shape[1]);
    tensors.set(name, { dtype: 'float32', shape, data: Float32Array.from({ length: n }, f) });
  }
  await writeSafetensors(join(dir, 'model.safetensors'), tensors);
  return dir;
}

/** A tiny Qwen3 (q/k RMSNorm, GQA 4/2, head_dim 8 ≠ hidden / heads). */
export const TINY_QWEN3 = {
  architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8, vocab_size: 40, max_position_embeddings: 64, rms_norm_eps: 1e-6,
  rope_theta: 1000000, tie_word_embeddings: false, attention_bias: false, hidden_act: 'silu',
};
