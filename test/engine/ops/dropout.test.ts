// Dropout: training-mode masks and the gradient dx = dy · mask / (1 − ratio).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../../src/engine/graph/ir';
import { serializeModel } from '../../../src/engine/graph/onnx';
import { gradients } from '../../../src/engine/autodiff/index';
import { Dropout, Mul, ReduceSum, constant } from '../../../src/engine/ops/index';
import { Session } from '../../../src/engine/runtime/session';

test('Dropout gradient is dy · mask / (1 − ratio), with the mask of the same run', async () => {
  const g = new Graph();
  const x = g.input('x', 'float32', [4, 64]);
  const [y, mask] = Dropout(x, 0.25, true, 7);
  const R = constant(g, { dtype: 'float32', shape: [4, 64], data: Float32Array.from({ length: 256 }, (_, i) => Math.sin(i) + 2) });
  const loss = ReduceSum(Mul(y, R), null, false);
  const dx = gradients(loss, [x]).get(x)!;
  g.output(y, 'y');
  g.output(mask, 'mask');
  g.output(dx, 'dx');
  const s = await Session.create(serializeModel(g));
  const xs = Float32Array.from({ length: 256 }, (_, i) => (i % 7) - 3);
  const out = await s.run({ x: { dtype: 'float32', shape: [4, 64], data: xs } });
  const m = out.mask.data as Uint8Array;
  const kept = m.reduce((a, b) => a + b, 0);
  assert.ok(kept > 150 && kept < 230, `kept ${kept} of 256 at ratio 0.25`);
  const r = R.graph.initializers.get(R.name)!.tensor.data as Float32Array;
  const d = out.dx.data as Float32Array;
  const yv = out.y.data as Float32Array;
  for (let i = 0; i < 256; i++) {
    assert.ok(Math.abs(d[i] - (m[i] ? r[i] / 0.75 : 0)) < 1e-5, `dx[${i}]`);
    assert.ok(Math.abs(yv[i] - (m[i] ? xs[i] / 0.75 : 0)) < 1e-5, `y[${i}]`);
  }
});
