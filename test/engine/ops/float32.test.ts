// Every gradient rule also runs in float32 under ONNX Runtime (some kernels are registered
// for fewer types: ScatterND/ScatterElements with reduction, int64 Max/Min in the dynamic
// Slice rule). The float32 gradient must match the float64 one (checked by finite
// differences in gradients.test.ts) to float32 precision.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, type Value } from '../../../src/engine/graph/ir';
import { gradients } from '../../../src/engine/autodiff/index';
import { serializeModel } from '../../../src/engine/graph/onnx';
import { Session } from '../../../src/engine/runtime/session';
import * as op from '../../../src/engine/ops/index';
import type { HostTensor } from '../../../src/engine/tensor';
import { rng } from '../../helpers/gradcheck';

interface In { shape: number[]; int?: number[]; bool?: number[]; lo?: number; hi?: number }

/** Gradients of L = ½ Σ out² w.r.t. every float input, with the float inputs in `dtype`. */
async function grads(dtype: 'float32' | 'float64', inputs: In[], build: (...xs: Value[]) => Value): Promise<number[][]> {
  const rand = rng(3);
  const g = new Graph();
  const feeds: Record<string, HostTensor> = {};
  const xs = inputs.map((spec, k) => {
    const name = `in${k}`;
    const n = spec.shape.reduce((a, b) => a * b, 1);
    if (spec.int) {
      feeds[name] = { dtype: 'int64', shape: spec.shape, data: BigInt64Array.from(spec.int.map(BigInt)) };
      return g.input(name, 'int64', spec.shape);
    }
    if (spec.bool) {
      feeds[name] = { dtype: 'bool', shape: spec.shape, data: Uint8Array.from(spec.bool) };
      return g.input(name, 'bool', spec.shape);
    }
    const { lo = -1, hi = 1 } = spec;
    const data = Array.from({ length: n }, () => lo + rand() * (hi - lo));
    feeds[name] = { dtype, shape: spec.shape, data: dtype === 'float32' ? Float32Array.from(data) : Float64Array.from(data) };
    return g.input(name, dtype, spec.shape);
  });
  const out = build(...xs);
  assert.equal(out.dtype, dtype);
  const loss = op.ReduceSum(op.Mul(op.Mul(out, out), 0.5), null, false);
  const floats = xs.filter((x) => x.dtype === dtype);
  const gr = gradients(loss, floats);
  floats.forEach((x, k) => g.output(gr.get(x)!, `g${k}`));
  const s = await Session.create(serializeModel(g), { threads: 1 });
  const res = await s.run(feeds);
  await s.release();
  return floats.map((x, k) => {
    assert.deepEqual(res[`g${k}`].shape, x.shape);
    return Array.from(res[`g${k}`].data as Float32Array | Float64Array);
  });
}

async function check(inputs: In[], build: (...xs: Value[]) => Value): Promise<void> {
  const ref = await grads('float64', inputs, build);
  const got = await grads('float32', inputs, build);
  ref.forEach((r, k) => {
    const scale = Math.max(1, ...r.map(Math.abs));
    const err = Math.max(...r.map((v, i) => Math.abs(v - got[k][i])));
    assert.ok(err <= 1e-4 * scale, `input ${k}: float32 gradient differs by ${err}\nf64 ${r.slice(0, 6)}\nf32 ${got[k].slice(0, 6)}`);
    assert.ok(r.some((v) => v !== 0), `input ${k}: gradient is all zeros`);
  });
}

const s = (...shape: number[]): In => ({ shape });
const pos = (...shape: number[]): In => ({ shape, lo: 0.3, hi: 2 });
const int = (shape: number[], values: number[]): In => ({ shape, int: values });

test('float32: Gather axis 0 (ScatterND add), repeated indices', () => check([s(4, 3), int([5], [0, 2, 0, -1, 2])], (x, i) => op.Gather(x, i, 0)));
test('float32: Gather axis 1, 2-D indices', () => check([s(3, 4), int([2, 2], [1, 3, 1, 0])], (x, i) => op.Gather(x, i, 1)));
test('float32: GatherElements (ScatterElements add), repeated indices', () => check([s(3, 2), int([4, 2], [0, 2, 2, 2, 1, 0, 0, 2])], (x, i) => op.GatherElements(x, i, 0)));
test('float32: Slice with runtime int64 starts/ends (dynamic pads)', () =>
  check([s(3, 5, 2), int([2], [1, -4]), int([2], [100, -1])], (x, b, e) => op.Slice(x, b, e, [0, 1])));
test('float32: Slice, Pad, Concat, Split', () =>
  check([s(3, 4), s(3, 2)], (x, y) => {
    const [p, q] = op.Split(op.Pad(op.Slice(x, [-2], [100], [1]), [0, 1, 0, 0]), [1, 2], 1);
    return op.Concat([q, y, p], 1);
  }));
test('float32: Max, Min, Where', () =>
  check([s(2, 3), s(3), { shape: [2, 1], bool: [1, 0] }], (a, b, c) => op.Where(c, op.Max(a, b), op.Min(a, b))));
test('float32: arithmetic and unary ops', () =>
  check([pos(2, 3), pos(3)], (a, b) =>
    op.Add(op.Sub(op.Div(op.Pow(a, b), op.Sqrt(b)), op.Reciprocal(a)),
      op.Mul(op.Neg(op.Log(a)), op.Add(op.Sigmoid(op.Sin(a)), op.Tanh(op.Cos(op.Exp(op.Identity(b)))))))));
test('float32: Cast to the other float type and back', () =>
  check([s(2, 3)], (x) => op.Cast(op.Mul(op.Cast(x, x.dtype === 'float32' ? 'float64' : 'float32'), 3), x.dtype)));
test('float32: MatMul and Gemm', () =>
  check([s(2, 2, 3), s(3, 4), s(3), s(3, 4)], (a, b, c, w) => op.Gemm(op.ReduceSum(op.MatMul(a, b), [0], false), w, c, { alpha: 0.5, beta: 2, transB: true })));
test('float32: reductions, Softmax, LogSoftmax', () =>
  check([s(2, 3, 4)], (x) => op.Add(op.ReduceMean(op.Softmax(x, 1), [0], false), op.ReduceSum(op.LogSoftmax(x, 0), [0, 1], true))));
test('float32: Reshape, Transpose, Unsqueeze, Squeeze, Expand', () =>
  check([s(2, 3, 1)], (x) => op.Expand(op.Unsqueeze(op.Transpose(op.Reshape(op.Squeeze(x, [2]), [-1, 0]), [1, 0]), [0]), [2, 1, 1])));
