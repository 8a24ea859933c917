/**
 * Random base weights for a config (benchmarks and tests that need a model of a given size
 * without a checkpoint). Norm weights are 1; matrices ~ U(−1/√in, 1/√in) (torch nn.Linear's
 * default bound), embeddings ~ U(−1, 1)·0.02·√3 (≈ std 0.02, HF `initializer_range`).
 */
import type { HostTensor } from '../tensor';
import { createRng } from '../data/random';
import type { DecoderConfig, ModelFamily, WeightSource } from './types';
import { ModelError } from './types';

export function randomWeights(family: ModelFamily, cfg: DecoderConfig, seed = 0): WeightSource {
  const rand = createRng(seed);
  const tensors = new Map<string, HostTensor>();
  for (const { name, shape, optional } of family.weightNames(cfg)) {
    if (optional) continue;
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (name.endsWith('norm.weight')) data.fill(1);
    else {
      const bound = name.includes('embed') ? 0.02 * Math.sqrt(3) : 1 / Math.sqrt(shape[shape.length - 1]);
      for (let i = 0; i < n; i++) data[i] = (rand() * 2 - 1) * bound;
    }
    tensors.set(name, { dtype: 'float32', shape, data });
  }
  return {
    has: (name) => tensors.has(name),
    get: (name) => {
      const t = tensors.get(name);
      if (!t) throw new ModelError(`random weights: no tensor ${name}`);
      return t;
    },
  };
}
