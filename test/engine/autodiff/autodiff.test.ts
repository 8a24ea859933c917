// The reverse-mode walker: dependence, stopped gradients, missing rules, pruning, and a small
// MLP end to end (finite differences, then a few SGD steps in float32 through ONNX Runtime).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Dim, Graph, type Value } from '../../../src/engine/graph/ir';
import { gradients } from '../../../src/engine/autodiff/index';
import { serializeModel } from '../../../src/engine/graph/onnx';
import { Session } from '../../../src/engine/runtime/session';
import * as op from '../../../src/engine/ops/index';
import type { HostTensor } from '../../../src/engine/tensor';
import { gradCheck, rng } from '../../helpers/gradcheck';

const f64 = (shape: number[], data: number[]): HostTensor => ({ dtype: 'float64', shape, data: Float64Array.from(data) });
const f32 = (shape: number[], data: number[]): HostTensor => ({ dtype: 'float32', shape, data: Float32Array.from(data) });
const i64 = (shape: number[], data: number[]): HostTensor => ({ dtype: 'int64', shape, data: BigInt64Array.from(data.map(BigInt)) });

/** Marks `outs` as graph outputs, runs the graph once and returns each output's data as numbers. */
async function run(g: Graph, outs: Record<string, Value>, feeds: Record<string, HostTensor>): Promise<Record<string, number[]>> {
  for (const [name, v] of Object.entries(outs)) g.output(v, name);
  const s = await Session.create(serializeModel(g), { threads: 1 });
  const res = await s.run(feeds);
  await s.release();
  return Object.fromEntries(Object.entries(res).map(([k, t]) => [k, Array.from(t.data as Float64Array, Number)]));
}

const count = (g: Graph, opType: string) => g.nodes.filter((n) => n.opType === opType).length;
/** Matrix products: MatMul, and Gemm (the MatMul rule's dX = dY·Wᵀ for a 2-D W). */
const products = (g: Graph) => count(g, 'MatMul') + count(g, 'Gemm');

test('a value the loss does not depend on gets null', () => {
  const g = new Graph();
  const x = g.input('x', 'float64', [2, 3]);
  const z = g.input('z', 'float64', [2, 3]);
  const loss = op.ReduceSum(op.Mul(x, x), null, false);
  const grads = gradients(loss, [x, z]);
  assert.ok(grads.get(x));
  assert.equal(grads.get(z), null);
});

test('when the loss depends on none of wrt, every gradient is null and no node is added', () => {
  const g = new Graph();
  const x = g.input('x', 'float64', [3]);
  const z = g.input('z', 'float64', [3]);
  const loss = op.ReduceSum(op.Exp(x), null, false);
  const before = g.nodes.length;
  const grads = gradients(loss, [z]);
  assert.deepEqual([...grads.entries()], [[z, null]]);
  assert.equal(g.nodes.length, before);
});

test('the gradient of an intermediate value, and of y itself, with an explicit seed', async () => {
  const g = new Graph();
  const x = g.input('x', 'float64', [3]);
  const h = op.Mul(x, 2);
  const y = op.Exp(h);
  const seed = op.constant(g, f64([3], [1, 10, 100]));
  const grads = gradients(y, [h, y, x], seed);
  const out = await run(g, { dh: grads.get(h)!, dy: grads.get(y)!, dx: grads.get(x)! }, { x: f64([3], [0, 0.5, -1]) });
  const expDh = [0, 0.5, -1].map((v, i) => [1, 10, 100][i] * Math.exp(2 * v));
  out.dh.forEach((v, i) => assert.ok(Math.abs(v - expDh[i]) < 1e-9 * Math.abs(expDh[i]), `dh[${i}] = ${v}`));
  assert.deepEqual(out.dy, [1, 10, 100]);
  out.dx.forEach((v, i) => assert.ok(Math.abs(v - 2 * expDh[i]) < 1e-9 * Math.abs(expDh[i]), `dx[${i}] = ${v}`));
});

test('Shape stops the gradient: a loss of Shape(x) alone has no gradient', () => {
  const g = new Graph();
  const x = g.input('x', 'float64', [2, 3]);
  const loss = op.ReduceSum(op.Cast(op.shapeOf(x), 'float64'), null, false);
  assert.equal(gradients(loss, [x]).get(x), null);
});

test('Shape/Equal stop the gradient: only the direct path contributes', async () => {
  const g = new Graph();
  const x = g.input('x', 'float64', [4]);
  const c = g.input('c', 'float64', [4]);
  // loss = Σ x · [x == c] · len(x): the mask and the length are constants to autodiff.
  const mask = op.Cast(op.Equal(x, c), 'float64');
  const len = op.Cast(op.shapeOf(x), 'float64');
  const loss = op.ReduceSum(op.Mul(op.Mul(x, mask), len), null, false);
  const grads = gradients(loss, [x, c]); // would throw "no gradient rule for Equal" if not stopped
  assert.equal(grads.get(c), null);
  const out = await run(g, { dx: grads.get(x)! }, { x: f64([4], [1, 2, 3, 4]), c: f64([4], [1, 0, 3, 0]) });
  assert.deepEqual(out.dx, [4, 0, 4, 0]);
});

test('an integer Cast stops the gradient', async () => {
  const g = new Graph();
  const x = g.input('x', 'float64', [3]);
  const rounded = op.Cast(op.Cast(x, 'int64'), 'float64');
  const loss = op.ReduceSum(op.Add(op.Mul(rounded, 5), x), null, false);
  const out = await run(g, { dx: gradients(loss, [x]).get(x)! }, { x: f64([3], [1.5, 2, -3]) });
  assert.deepEqual(out.dx, [1, 1, 1]);
});

test('a missing gradient rule throws with the op name', () => {
  const g = new Graph();
  const x = g.input('x', 'float64', [2, 3]);
  const loss = op.ReduceSum(op.ReduceMax(x, [1]), null, false);
  assert.throws(() => gradients(loss, [x]), /no gradient rule for ReduceMax/);

  const h = g.addNode('MyCustomOp', [x], {}, [{ dtype: 'float64', shape: [2, 3] }])[0];
  assert.throws(() => gradients(op.ReduceSum(h, null, false), [x]), /MyCustomOp/);
});

test('an op without a rule off the path to wrt does not throw', () => {
  const g = new Graph();
  const x = g.input('x', 'float64', [2, 3]);
  const w = g.input('w', 'float64', [2, 3]);
  const loss = op.ReduceSum(op.Mul(x, op.ReduceMax(w, [1])), null, false);
  assert.ok(gradients(loss, [x]).get(x));
  assert.throws(() => gradients(loss, [w]), /ReduceMax/);
});

test('pruning: a frozen MatMul weight gets no dW MatMul', () => {
  const g = new Graph();
  const x = g.input('x', 'float64', [4, 3]);
  const w = g.input('w', 'float64', [3, 2]);
  const loss = op.ReduceSum(op.MatMul(x, w), null, false);
  assert.equal(products(g), 1);
  const grads = gradients(loss, [x]);
  assert.ok(grads.get(x));
  assert.equal(products(g), 2, 'only dX = dY Wᵀ is built');
  gradients(loss, [w]);
  assert.equal(products(g), 3, 'only dW = Xᵀ dY is built');
  gradients(loss, [x, w]);
  assert.equal(products(g), 5);
});

test('pruning: a LoRA-style adapter over a frozen 2-layer stack builds only the adapter path', () => {
  const g = new Graph();
  const x = g.input('x', 'float64', [4, 3]);
  const w1 = g.input('w1', 'float64', [3, 5]);
  const a = g.input('a', 'float64', [3, 1]);
  const b = g.input('b', 'float64', [1, 5]);
  const w2 = g.input('w2', 'float64', [5, 2]);
  const side = g.input('side', 'float64', [4, 3]);
  const h = op.Tanh(op.Add(op.MatMul(x, w1), op.MatMul(op.MatMul(x, a), b)));
  const loss = op.Add(op.ReduceSum(op.MatMul(h, w2), null, false), op.ReduceSum(op.Exp(side), null, false));
  const matmuls = products(g);
  const exps = count(g, 'Exp');
  const grads = gradients(loss, [b]);
  assert.ok(grads.get(b));
  // dH = dY W2ᵀ, then dB = (XA)ᵀ dZ: two products; nothing for W1, A, X, or the side branch.
  assert.equal(products(g) - matmuls, 2);
  assert.equal(count(g, 'Exp'), exps);
});

test('dX of a frozen 2-D weight reads the weight in place: Gemm(transB) on the rows, no Transpose of W', async () => {
  // ONNX Runtime constant-folds Transpose(initializer) into a second copy of the weight; the
  // rule must not build one. Checked on the graph and against a float64 reference of dY·Wᵀ.
  const g = new Graph();
  const x = g.input('x', 'float64', [2, 3, 4]);
  const rand = rng(7);
  const wData = Float64Array.from({ length: 4 * 5 }, () => rand() * 2 - 1);
  const w = g.initializer('w', { dtype: 'float64', shape: [4, 5], data: wData });
  const c = g.input('c', 'float64', [2, 3, 5]);
  const loss = op.ReduceSum(op.Mul(op.MatMul(x, w), c), null, false); // dY = c
  const grads = gradients(loss, [x]);
  assert.equal(g.nodes.filter((n) => n.opType === 'Transpose' && n.inputs.includes(w)).length, 0, 'no Transpose of the weight');
  const gemm = g.nodes.find((n) => n.opType === 'Gemm');
  assert.ok(gemm && gemm.inputs[1] === w && gemm.attrs.transB === 1, 'Gemm(dY rows, W, transB = 1)');
  g.output(grads.get(x)!, 'dx');
  const cData = Float64Array.from({ length: 30 }, () => rand() * 2 - 1);
  const session = await Session.create(serializeModel(g));
  try {
    const out = await session.run({ x: { dtype: 'float64', shape: [2, 3, 4], data: new Float64Array(24) }, c: { dtype: 'float64', shape: [2, 3, 5], data: cData } }, ['dx']);
    assert.deepEqual(out.dx.shape, [2, 3, 4]);
    for (let r = 0; r < 6; r++) {
      for (let k = 0; k < 4; k++) {
        let want = 0;
        for (let n = 0; n < 5; n++) want += cData[r * 5 + n] * wData[k * 5 + n];
        assert.ok(Math.abs((out.dx.data as Float64Array)[r * 4 + k] - want) < 1e-12, `dx[${r}, ${k}]`);
      }
    }
  } finally {
    await session.release();
  }
});

/** A 2-layer MLP with softmax cross-entropy: x [N,D] → tanh(x W1 + b1) W2 + b2 → mean NLL. */
function mlpLoss(x: Value, labels: Value, w1: Value, b1: Value, w2: Value, b2: Value): Value {
  const h = op.Tanh(op.Add(op.MatMul(x, w1), b1));
  const logits = op.Add(op.Gemm(h, w2, null), b2);
  const logp = op.LogSoftmax(logits, -1);
  const picked = op.GatherElements(logp, op.Unsqueeze(labels, [1]), 1);
  return op.Neg(op.ReduceMean(picked, null, false));
}

test('2-layer MLP: finite differences on every parameter', () =>
  gradCheck([
    { name: 'x', shape: [4, 3] },
    { name: 'labels', shape: [4], dtype: 'int64', data: [0, 2, 1, 2] },
    { name: 'w1', shape: [3, 5] },
    { name: 'b1', shape: [5] },
    { name: 'w2', shape: [5, 3] },
    { name: 'b2', shape: [3] },
  ], mlpLoss));

test('2-layer MLP: SGD on the gradients (float32) fits XOR', async () => {
  const g = new Graph();
  const x = g.input('x', 'float32', [4, 2]);
  const labels = g.input('labels', 'int64', [4]);
  const params = { w1: [2, 8], b1: [8], w2: [8, 2], b2: [2] } as const;
  const p = Object.fromEntries(Object.entries(params).map(([k, s]) => [k, g.input(k, 'float32', [...s])]));
  const loss = mlpLoss(x, labels, p.w1, p.b1, p.w2, p.b2);
  const grads = gradients(loss, Object.values(p));
  g.output(loss, 'loss');
  for (const [k, v] of Object.entries(p)) g.output(grads.get(v)!, `grad_${k}`);
  const s = await Session.create(serializeModel(g), { threads: 1 });

  const rand = rng(7);
  const weights: Record<string, HostTensor> = {};
  for (const [k, shape] of Object.entries(params)) {
    const n = shape.reduce((a: number, b: number) => a * b, 1);
    weights[k] = f32([...shape], Array.from({ length: n }, () => (k.startsWith('w') ? rand() * 2 - 1 : 0)));
  }
  const feeds = { x: f32([4, 2], [0, 0, 0, 1, 1, 0, 1, 1]), labels: i64([4], [0, 1, 1, 0]) };
  const losses: number[] = [];
  for (let step = 0; step < 300; step++) {
    const out = await s.run({ ...feeds, ...weights });
    losses.push((out.loss.data as Float32Array)[0]);
    for (const k of Object.keys(params)) {
      const w = weights[k].data as Float32Array;
      const d = out[`grad_${k}`].data as Float32Array;
      assert.equal(d.length, w.length);
      for (let i = 0; i < w.length; i++) w[i] -= 0.5 * d[i];
    }
  }
  await s.release();
  assert.ok(Number.isFinite(losses.at(-1)!));
  assert.ok(losses.at(-1)! < 0.1 * losses[0], `loss ${losses[0]} → ${losses.at(-1)}`);
});

/** Gradients of Σ out ⊙ R (R fixed, deterministic) for float64 inputs declared with `decl` shapes. */
async function gradValues(decl: Dim[][], data: HostTensor[], build: (...xs: Value[]) => Value): Promise<number[][]> {
  const g = new Graph();
  const xs = decl.map((shape, k) => g.input(`x${k}`, 'float64', shape));
  const out = build(...xs);
  // R = sin(1 + 0.7·index) shaped like out at run time: out ⊙ R via a Range over its size.
  const n = g.addNode('Size', [out], {}, [{ dtype: 'int64', shape: [] }])[0];
  const idx = op.Cast(op.Range(op.scalar(g, 0, 'int64'), n, op.scalar(g, 1, 'int64')), 'float64');
  const r = op.Reshape(op.Sin(op.Add(op.Mul(idx, 0.7), 1)), op.shapeOf(out));
  const grads = gradients(op.ReduceSum(op.Mul(out, r), null, false), xs);
  const outs = Object.fromEntries(xs.map((x, k) => [`g${k}`, grads.get(x)!]));
  const res = await run(g, outs, Object.fromEntries(data.map((t, k) => [`x${k}`, t])));
  return xs.map((_, k) => res[`g${k}`]);
}

test('symbolic dims: the dynamic branches (ReduceMean, Concat, Slice, Reshape, un-broadcast) match static shapes', async () => {
  const rand = rng(5);
  const data = [[2, 3], [4, 3], [1, 3]].map((s) => f64(s, Array.from({ length: s[0] * s[1] }, () => rand() * 2 - 1)));
  const build = (x: Value, z: Value, b: Value) => {
    const cat = op.Concat([x, z], 0); // [B + C, 3]: concatenated along a symbolic axis
    const sliced = op.Slice(cat, [1], [-1], [0]); // starts/ends constant, axis symbolic
    const mean = op.ReduceMean(op.Mul(sliced, sliced), [0], false); // element count unknown
    const flat = op.Reshape(op.Add(sliced, b), [-1]); // b broadcast over a symbolic axis
    return op.Add(op.ReduceSum(op.Mul(flat, flat), null, true), op.ReduceSum(op.Mul(mean, mean), null, false));
  };
  const symbolic = await gradValues([['B', 3], ['C', 3], [1, 3]], data, build);
  const fixed = await gradValues([[2, 3], [4, 3], [1, 3]], data, build);
  assert.equal(symbolic.length, 3);
  symbolic.forEach((gs, k) => gs.forEach((v, i) => assert.ok(Math.abs(v - fixed[k][i]) < 1e-12, `input ${k}[${i}]: ${v} vs ${fixed[k][i]}`)));
});
