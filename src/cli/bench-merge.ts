/**
 * `loralab bench-merge`: the `svd` merge of two rank-16 adapters on every linear layer of a
 * random Llama (hidden 2048, 16 layers, 16 heads, intermediate 8192) — the low-rank path (QR of
 * the stacked factors + SVD of the small core, never forming out×in) against the dense path
 * (form ΔW = Σ wᵢ·sᵢ·Bᵢ·Aᵢ, then its rank-k truncated SVD, as ties / dare do). The dense path is
 * measured on one module of each distinct shape and extrapolated by the number of modules of
 * that shape (said so in the output). Prints both times, their ratio and the relative difference
 * of the two rank-k ΔW on the measured modules. Not a test.
 */
import { availableParallelism, cpus } from 'node:os';
import { createRng } from '../engine/data/random';
import { mergeAdapters } from '../engine/merge/index';
import { deltaWeight } from '../engine/merge/index';
import { linearModules } from '../engine/models/inspect';
import { llamaFamily, resolveLlamaConfig } from '../engine/models/llama';
import { type Mat, matmul, transpose, truncatedSvd } from '../engine/merge/linalg';
import { type LoraWeights, type PeftAdapter, completeLoraConfig, peftScaling } from '../engine/weights/peft';
import { emitJson, info } from './output';

export interface MergeBenchArgs {
  /** LoRA rank of each input and of the result (default 16). */
  rank?: number;
  /** Decoder layers (default 16; fewer for a quick run). */
  layers?: number;
  json?: boolean;
}

function randomAdapter(mods: { module: string; in: number; out: number }[], r: number, alpha: number, seed: number): PeftAdapter {
  const rand = createRng(seed);
  const modules = new Map<string, LoraWeights>();
  for (const { module, in: inF, out } of mods) {
    const bound = 1 / Math.sqrt(inF);
    modules.set(module, {
      module,
      A: { dtype: 'float32', shape: [r, inF], data: Float32Array.from({ length: r * inF }, () => (rand() * 2 - 1) * bound) },
      B: { dtype: 'float32', shape: [out, r], data: Float32Array.from({ length: out * r }, () => (rand() * 2 - 1) * 0.01) },
    });
  }
  return { config: completeLoraConfig({ r, lora_alpha: alpha }, modules.keys()), modules };
}

export async function runMergeBench(args: MergeBenchArgs): Promise<void> {
  const r = args.rank ?? 16;
  const L = args.layers ?? 16;
  const config = resolveLlamaConfig({
    model_type: 'llama', hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: L, num_attention_heads: 16,
    num_key_value_heads: 16, head_dim: 128, vocab_size: 32000, max_position_embeddings: 2048, rms_norm_eps: 1e-5,
    rope_theta: 10000, tie_word_embeddings: false,
  }, 'bench-merge config');
  const mods = linearModules({ family: llamaFamily, config });
  info(`bench-merge: svd merge of two rank-${r} adapters (alpha ${2 * r} and ${r}, weights 0.7 and −0.5) on ${mods.length} linear layers of a random Llama (hidden 2048, ${L} layers, intermediate 8192), target rank ${r}`);
  info(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores (single-threaded JS)`);
  const X = randomAdapter(mods, r, 2 * r, 1);
  const Y = randomAdapter(mods, r, r, 2);
  const inputs = [{ adapter: X, source: 'X', weight: 0.7 }, { adapter: Y, source: 'Y', weight: -0.5 }];

  const t0 = performance.now();
  const low = mergeAdapters(inputs, { method: 'svd', rank: r });
  const lowMs = performance.now() - t0;
  info(`low-rank path (QR of stacked factors + SVD of the ${2 * r}×${2 * r} core), all ${mods.length} modules: ${(lowMs / 1000).toFixed(2)} s`);

  // Dense path on one module per distinct shape, extrapolated by the count of that shape.
  const byShape = new Map<string, { module: string; count: number }>();
  for (const m of mods) {
    const key = `${m.out}x${m.in}`;
    const e = byShape.get(key);
    if (e) e.count++;
    else byShape.set(key, { module: m.module, count: 1 });
  }
  let denseMs = 0;
  let num = 0;
  let den = 0;
  const measured: { module: string; shape: string; ms: number; count: number }[] = [];
  for (const [shape, { module, count }] of byShape) {
    const t1 = performance.now();
    const [out, inF] = shape.split('x').map(Number);
    const M: Mat = { rows: out, cols: inF, data: new Float64Array(out * inF) };
    for (const { adapter, weight } of inputs) {
      const dw = deltaWeight(adapter.modules.get(module)!, weight * peftScaling(adapter.config, module));
      for (let i = 0; i < dw.length; i++) M.data[i] += dw[i];
    }
    const svd = truncatedSvd(M, r, { rand: createRng(3) });
    const ms = performance.now() - t1;
    denseMs += ms * count;
    measured.push({ module, shape, ms: Math.round(ms), count });
    info(`dense path (form ΔW ${out}×${inF}, rank-${r} truncated SVD): ${module} ${(ms / 1000).toFixed(2)} s, × ${count} modules of this shape`);
    // ‖ΔW_low − ΔW_dense‖_F on this module, both rank r.
    const us: Mat = { rows: out, cols: svd.S.length, data: Float64Array.from(svd.U.data) };
    for (let i = 0; i < out; i++) for (let j = 0; j < svd.S.length; j++) us.data[i * svd.S.length + j] *= svd.S[j];
    const dDense = matmul(us, transpose(svd.V));
    const lw = low.modules.get(module)!;
    const dLow = deltaWeight(lw, peftScaling(low.config, module));
    for (let i = 0; i < dLow.length; i++) {
      num += (dLow[i] - dDense.data[i]) ** 2;
      den += dDense.data[i] ** 2;
    }
  }
  const rel = Math.sqrt(num / den);
  const ratio = denseMs / lowMs;
  info(`dense path, all ${mods.length} modules: ${(denseMs / 1000).toFixed(1)} s (EXTRAPOLATED from the ${byShape.size} modules measured, one per shape)`);
  info(`ratio dense / low-rank: ${ratio.toFixed(0)}×   relative ‖ΔW_low-rank − ΔW_dense‖_F / ‖ΔW_dense‖_F on the measured modules: ${rel.toExponential(2)}`);
  if (args.json) {
    emitJson({
      modules: mods.length, rank: r, low_rank_ms: Math.round(lowMs), dense_ms_extrapolated: Math.round(denseMs), dense_measured: measured,
      ratio: Number(ratio.toFixed(1)), relative_delta_difference: rel,
    });
  }
}
