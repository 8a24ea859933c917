// Per-module rank helpers of src/engine/lora (PEFT rank_pattern semantics, values by hand).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../../src/engine/graph/ir';
import { LoraGraph, initLoraModules, rankAboveWidth, unusedPatternKeys } from '../../../src/engine/lora/index';
import { createRng } from '../../../src/engine/data/random';

/** A LoraGraph over three modules: q [64 → 64], k [64 → 32], down [172 → 64] (stories260K sizes). */
function graphOf(): LoraGraph {
  const g = new Graph('t');
  const lora = new LoraGraph(g, () => true);
  const x = g.input('x', 'float32', ['B', 'T', 64]);
  const xm = g.input('xm', 'float32', ['B', 'T', 172]);
  lora.linear(x, 'model.layers.0.self_attn.q_proj', g.input('wq', 'float32', [64, 64]), 64, 64);
  lora.linear(x, 'model.layers.0.self_attn.k_proj', g.input('wk', 'float32', [64, 32]), 64, 32);
  lora.linear(xm, 'model.layers.0.mlp.down_proj', g.input('wd', 'float32', [172, 64]), 172, 64);
  return lora;
}

test('initLoraModules: rank per module from rank_pattern, A ~ U(±1/√in), B = 0, reproducible', () => {
  const lora = graphOf();
  const config = { r: 4, lora_alpha: 8, rank_pattern: { q_proj: 2, 'mlp\\.down_proj': 8 } };
  const init = initLoraModules(lora, config, createRng(1));
  assert.deepEqual([...init.keys()], lora.modules);
  const shapes = [...init.values()].map((w) => [w.A.shape, w.B.shape]);
  assert.deepEqual(shapes, [[[2, 64], [64, 2]], [[4, 64], [32, 4]], [[8, 172], [64, 8]]]);
  for (const w of init.values()) {
    const bound = 1 / Math.sqrt(w.A.shape[1]);
    assert.ok((w.A.data as Float32Array).every((v) => Math.abs(v) <= bound));
    assert.ok((w.A.data as Float32Array).some((v) => Math.abs(v) > bound / 2));
    assert.ok((w.B.data as Float32Array).every((v) => v === 0));
  }
  const again = initLoraModules(lora, config, createRng(1));
  assert.deepEqual(again.get('model.layers.0.mlp.down_proj')!.A.data, init.get('model.layers.0.mlp.down_proj')!.A.data);
});

test('rankAboveWidth names the narrowest module whose rank exceeds min(in, out), and the key that set it', () => {
  const lora = graphOf();
  assert.equal(rankAboveWidth(lora, { r: 32, lora_alpha: 8 }), undefined);
  assert.deepEqual(rankAboveWidth(lora, { r: 40, lora_alpha: 8 }), { module: 'model.layers.0.self_attn.k_proj', r: 40, max: 32, patternKey: undefined });
  assert.deepEqual(rankAboveWidth(lora, { r: 8, lora_alpha: 8, rank_pattern: { 'mlp\\..*': 100 } }), { module: 'model.layers.0.mlp.down_proj', r: 100, max: 64, patternKey: 'mlp\\..*' });
});

test('unusedPatternKeys: keys that match nothing, or only modules an earlier key already decides (PEFT: first key wins)', () => {
  const modules = ['model.layers.0.self_attn.q_proj', 'model.layers.1.self_attn.q_proj', 'model.layers.0.mlp.down_proj'];
  assert.deepEqual(unusedPatternKeys({ q_proj: 2, 'layers.0.self_attn.q_proj': 8, proj: 4, down_proj: 8 }, modules), ['layers.0.self_attn.q_proj', 'proj']);
  assert.deepEqual(unusedPatternKeys(undefined, modules), []);
});
