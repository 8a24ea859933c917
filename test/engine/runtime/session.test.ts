// Execution-provider choice: a missing provider fails with a message naming it and the fix;
// `auto` falls back to what loads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../../src/engine/graph/ir';
import { serializeModel } from '../../../src/engine/graph/onnx';
import { Add } from '../../../src/engine/ops/index';
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

test('cuda without its provider libraries fails with the install command', { skip: autoOrder().includes('cuda') && 'CUDA libraries present' }, async () => {
  await assert.rejects(Session.create(tinyModel(), { device: 'cuda' }), (e: Error) => {
    assert.ok(e instanceof RuntimeError);
    assert.match(e.message, /device "cuda"/);
    assert.match(e.message, /ONNXRUNTIME_NODE_INSTALL=cuda12/);
    assert.doesNotMatch(e.message, /\n/);
    return true;
  });
});

test('feeds are checked by name before running', async () => {
  const s = await Session.create(tinyModel());
  await assert.rejects(s.run({ z: { dtype: 'float32', shape: [2], data: new Float32Array(2) } }), /missing \[x\], unknown \[z\]/);
});
