// Execution-provider choice: a missing provider fails with a message naming it and the fix;
// `auto` falls back to what loads. Run errors: one line naming the model and the tensor or
// node, and nothing from ONNX Runtime's own logger on stderr.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { HostTensor } from '../../../src/engine/tensor';
import { Graph } from '../../../src/engine/graph/ir';
import { serializeModel } from '../../../src/engine/graph/onnx';
import { Add, MatMul, Transpose } from '../../../src/engine/ops/index';
import { RuntimeError, Session, autoOrder } from '../../../src/engine/runtime/session';

function tinyModel(): Uint8Array {
  const g = new Graph();
  const x = g.input('x', 'float32', [2]);
  g.output(Add(x, x), 'y');
  return serializeModel(g);
}

test('auto runs on the first provider that loads and records it', async () => {
  const s = await Session.create(tinyModel(), { device: 'auto' });
  assert.ok(autoOrder().includes(s.provider));
  const out = await s.run({ x: { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) } });
  assert.deepEqual(Array.from(out.y.data as Float32Array), [2, 4]);
});

test('cuda without its provider libraries fails pointing to loralab setup-gpu', { skip: autoOrder().includes('cuda') && 'CUDA libraries present' }, async () => {
  await assert.rejects(Session.create(tinyModel(), { device: 'cuda' }), (e: Error) => {
    assert.ok(e instanceof RuntimeError);
    assert.match(e.message, /device "cuda"/);
    assert.match(e.message, /run loralab setup-gpu to install the provider and see which library is missing/);
    assert.doesNotMatch(e.message, /\n/);
    return true;
  });
});

test('feeds are checked by name before running', async () => {
  const s = await Session.create(tinyModel());
  await assert.rejects(s.run({ z: { dtype: 'float32', shape: [2], data: new Float32Array(2) } }), /missing \[x\], unknown \[z\]/);
});

/** x (B, 4) · w (K, 3) + 1: K is symbolic, so a w of the wrong height passes the feed checks and fails inside ORT's MatMul. */
function matmulModel(): Uint8Array {
  const g = new Graph();
  const x = g.input('x', 'float32', ['B', 4]);
  const w = g.input('w', 'float32', ['K', 3]);
  g.output(Add(MatMul(x, w), 1), 'y');
  return serializeModel(g);
}

const f32 = (shape: number[]): HostTensor => ({ dtype: 'float32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });

test('an error inside ORT is one line naming the model, the node and its tensors, and ORT prints nothing', () => {
  // In a child process, so that anything ONNX Runtime writes to stderr is seen.
  const url = (p: string) => JSON.stringify(pathToFileURL(resolve(p)).href);
  const script = `
    const { Graph } = await import(${url('src/engine/graph/ir.ts')});
    const { serializeModel } = await import(${url('src/engine/graph/onnx.ts')});
    const { Add, MatMul } = await import(${url('src/engine/ops/index.ts')});
    const { Session } = await import(${url('src/engine/runtime/session.ts')});
    const g = new Graph();
    const x = g.input('x', 'float32', ['B', 4]);
    const w = g.input('w', 'float32', ['K', 3]);
    g.output(Add(MatMul(x, w), 1), 'y');
    const s = await Session.create(serializeModel(g), { name: 'models/tiny' });
    const t = (shape) => ({ dtype: 'float32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
    try {
      await s.run({ x: t([2, 4]), w: t([5, 3]) });
      console.log(JSON.stringify({ ok: true }));
    } catch (e) {
      console.log(JSON.stringify({ name: e.name, message: e.message }));
    }`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  assert.equal(child.stderr, '', 'ONNX Runtime wrote to stderr');
  const { name, message } = JSON.parse(child.stdout.trim()) as { name: string; message: string };
  assert.equal(name, 'RuntimeError');
  assert.doesNotMatch(message, /[\r\n]/);
  assert.match(message, /^models\/tiny: ONNX Runtime failed in MatMul node "MatMul" \(inputs "x", "w"\): MatMul dimension mismatch; /);
  assert.doesNotMatch(message, /\.h:\d+/); // no ORT source location
});

test('a feed of the wrong dtype or shape is named before ORT runs', async () => {
  const s = await Session.create(matmulModel(), { name: 'models/tiny' });
  const one = (re: RegExp) => (e: Error) => {
    assert.ok(e instanceof RuntimeError);
    assert.doesNotMatch(e.message, /[\r\n]/);
    assert.match(e.message, re);
    return true;
  };
  await assert.rejects(s.run({ x: f32([2, 5]), w: f32([4, 3]) }), one(/^models\/tiny: input "x" is float32 \[2, 5\] but the model takes float32 \[B, 4\] \(dim 1 is 5, expected 4\)/));
  await assert.rejects(s.run({ x: { dtype: 'float64', shape: [2, 4], data: new Float64Array(8) }, w: f32([4, 3]) }), one(/input "x" is float64 \[2, 4\] but the model takes float32/));
  await assert.rejects(s.run({ x: f32([2, 4, 1]), w: f32([4, 3]) }), one(/input "x" .* \(rank 3, expected 2\)/));
  await assert.rejects(s.run({ x: { dtype: 'float32', shape: [2, 4], data: new Float32Array(7) }, w: f32([4, 3]) }), one(/input "x" has shape \[2, 4\] \(8 elements\) but 7 data elements/));
  await assert.rejects(s.run({ x: f32([2, 4]) }), one(/^models\/tiny: feeds do not match the model's inputs: missing \[w\]/));
  // The right feeds still run: y = x·w + 1 with x = 1, w = 1 → 5.
  const ones = (shape: number[]): HostTensor => ({ dtype: 'float32', shape, data: new Float32Array(shape[0] * shape[1]).fill(1) });
  const out = await s.run({ x: ones([2, 4]), w: ones([4, 3]) });
  assert.deepEqual([...(out.y.data as Float32Array)], [5, 5, 5, 5, 5, 5]);
});

test('a symbolic dim must have one size across feeds; an adapter tensor that does not fit is blamed on the adapter', async () => {
  const g = new Graph();
  const x = g.input('x', 'float32', ['B', 4]);
  const A = g.input('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', 'float32', ['r0', 4]);
  const m = g.input('mask', 'float32', ['B', 'r0']);
  g.output(Add(MatMul(x, Transpose(A, [1, 0])), m), 'y');
  const s = await Session.create(serializeModel(g), { name: 'models/tiny' });
  await assert.rejects(s.run({ x: f32([2, 4]), 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight': f32([1, 4]), mask: f32([3, 1]) }),
    /RuntimeError: models\/tiny: input "mask" is float32 \[3, 1\] .*\(dim 0 is B = 3, but input "x" has B = 2\)/);
  await assert.rejects(s.run({ x: f32([2, 4]), 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight': f32([1, 5]), mask: f32([2, 1]) }),
    /input "base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight" is float32 \[1, 5\] .*\(dim 1 is 5, expected 4\); this adapter tensor does not fit the model/);
});
