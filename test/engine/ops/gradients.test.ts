// One finite-difference check per gradient rule (float64, ONNX Runtime CPU).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../../src/engine/graph/ir';
import { gradients } from '../../../src/engine/autodiff/index';
import { serializeModel } from '../../../src/engine/graph/onnx';
import { Session } from '../../../src/engine/runtime/session';
import { type GradInput, gradCheck } from '../../helpers/gradcheck';
import * as op from '../../../src/engine/ops/index';

/** A float64 input with random data in [-1, 1). */
const f = (name: string, ...shape: number[]): GradInput => ({ name, shape });
/** A float64 input with explicit data. */
const fd = (name: string, shape: number[], data: number[]): GradInput => ({ name, shape, data });
/** A float64 input with values spread over [lo, hi] (deterministic, no repeats for n ≤ 97). */
const fr = (name: string, shape: number[], lo: number, hi: number): GradInput => {
  const n = shape.reduce((a, b) => a * b, 1);
  return { name, shape, data: Array.from({ length: n }, (_, i) => lo + ((i * 37) % 97 + 0.5) / 97 * (hi - lo)) };
};
/** An int64 input (indices, starts, ends). */
const i64 = (name: string, shape: number[], data: number[]): GradInput => ({ name, shape, dtype: 'int64', data });

// ---------------------------------------------------------------------------------------------
// Element-wise binary ops: same shape, [2,3] with [3], [2,1] with [1,4]

const BROADCASTS: [string, number[], number[]][] = [
  ['same shape', [2, 3], [2, 3]],
  ['[2,3] with [3]', [2, 3], [3]],
  ['[2,1] with [1,4]', [2, 1], [1, 4]],
];

for (const [label, sa, sb] of BROADCASTS) {
  test(`Add ${label}`, () => gradCheck([f('a', ...sa), f('b', ...sb)], op.Add));
  test(`Sub ${label}`, () => gradCheck([f('a', ...sa), f('b', ...sb)], op.Sub));
  test(`Mul ${label}`, () => gradCheck([f('a', ...sa), f('b', ...sb)], op.Mul));
  test(`Div ${label}`, () => gradCheck([f('a', ...sa), fr('b', sb, 0.5, 2)], op.Div));
  test(`Pow ${label} (positive base, both operands)`, () => gradCheck([fr('a', sa, 0.3, 2), fr('b', sb, -1.5, 2.5)], op.Pow));
  test(`Max ${label}`, () => gradCheck([fr('a', sa, -1, 1), fr('b', sb, -0.93, 0.97)], op.Max));
  test(`Min ${label}`, () => gradCheck([fr('a', sa, -1, 1), fr('b', sb, -0.93, 0.97)], op.Min));
}
test('Sub, first operand broadcast ([3] − [2,3])', () => gradCheck([f('a', 3), f('b', 2, 3)], op.Sub));
test('Div, divisor broadcast over rows ([2,3] / [2,1])', () => gradCheck([f('a', 2, 3), fd('b', [2, 1], [0.7, -1.3])], op.Div));
test('Pow with a constant exponent', () => gradCheck([fr('x', [2, 3], 0.2, 2)], (x) => op.Pow(x, 3)));
test('Max/Min with ties excluded (mixed signs, explicit data)', () =>
  gradCheck([fd('a', [2, 3], [0.1, 0.9, -0.5, 0.3, -0.8, 0.6]), fd('b', [2, 3], [0.4, 0.2, -0.1, -0.7, 0.5, 0])], (a, b) => op.Add(op.Max(a, b), op.Mul(op.Min(a, b), 3))));

// ---------------------------------------------------------------------------------------------
// Element-wise unary ops

test('Sqrt', () => gradCheck([fr('x', [2, 3], 0.2, 3)], op.Sqrt));
test('Reciprocal', () => gradCheck([fd('x', [2, 3], [0.5, -0.7, 1.3, -2, 0.9, 1.7])], op.Reciprocal));
test('Neg', () => gradCheck([f('x', 2, 3)], op.Neg));
test('Exp', () => gradCheck([f('x', 2, 3)], op.Exp));
test('Log', () => gradCheck([fr('x', [2, 3], 0.2, 3)], op.Log));
test('Sigmoid', () => gradCheck([fr('x', [2, 3], -3, 3)], op.Sigmoid));
test('Tanh', () => gradCheck([fr('x', [2, 3], -2, 2)], op.Tanh));
test('Sin', () => gradCheck([fr('x', [2, 3], -3, 3)], op.Sin));
test('Cos', () => gradCheck([fr('x', [2, 3], -3, 3)], op.Cos));
test('Identity', () => gradCheck([f('x', 2, 3)], op.Identity));

// ---------------------------------------------------------------------------------------------
// Where, Cast

const cond = (shape: number[], data: number[]): GradInput => ({ name: 'c', shape, dtype: 'bool', data });
test('Where, same shapes', () => gradCheck([cond([2, 3], [1, 0, 0, 1, 1, 0]), f('x', 2, 3), f('y', 2, 3)], op.Where));
test('Where, broadcast: cond [2,1], x [2,3], y [3]', () => gradCheck([cond([2, 1], [1, 0]), f('x', 2, 3), f('y', 3)], op.Where));
test('Where, broadcast: cond [2,3], x [1], y [2,1]', () => gradCheck([cond([2, 3], [1, 0, 1, 0, 0, 1]), f('x', 1), f('y', 2, 1)], op.Where));
test('Where with a constant branch', () => gradCheck([cond([3], [0, 1, 1]), f('x', 2, 3)], (c, x) => op.Where(c, x, 0.5)));
test('Cast float64 → float64', () => gradCheck([f('x', 2, 3)], (x) => op.Cast(x, 'float64')));
// Data and step exact in float32, so the round trip loses nothing and the difference is exact.
test('Cast float64 → float32 → float64', () =>
  gradCheck([fd('x', [2, 3], [0.5, -0.25, 1.125, -1.5, 0.75, 2])], (x) => op.Mul(op.Cast(op.Cast(x, 'float32'), 'float64'), x), { h: 2 ** -10 }));

// ---------------------------------------------------------------------------------------------
// MatMul, Gemm

test('MatMul 2-D', () => gradCheck([f('a', 2, 3), f('b', 3, 4)], op.MatMul));
test('MatMul batched', () => gradCheck([f('a', 2, 2, 3), f('b', 2, 3, 2)], op.MatMul));
test('MatMul with batch broadcasting', () => gradCheck([f('a', 2, 3, 4), f('b', 4, 5)], op.MatMul));
test('MatMul, 4-D A @ 2-D B (the weight gradient as one Gemm over all rows, K < N)', () => gradCheck([f('a', 2, 2, 3, 4), f('b', 4, 5)], op.MatMul));
test('MatMul, 3-D A @ 2-D B (K > N)', () => gradCheck([f('a', 2, 3, 5), f('b', 5, 2)], op.MatMul));
test('MatMul, broadcast batch both ways ([2,1,2,3] @ [3,3,2])', () => gradCheck([f('a', 2, 1, 2, 3), f('b', 3, 3, 2)], op.MatMul));
test('MatMul, A broadcast over B batch ([2,3] @ [2,3,2])', () => gradCheck([f('a', 2, 3), f('b', 2, 3, 2)], op.MatMul));

const GEMMS: [boolean, boolean, number[], number[], number[]][] = [
  // transA, transB, A shape, B shape, C shape (M = 2, K = 3, N = 4)
  [false, false, [2, 3], [3, 4], [4]],
  [true, false, [3, 2], [3, 4], [2, 1]],
  [false, true, [2, 3], [4, 3], [1, 4]],
  [true, true, [3, 2], [4, 3], [2, 4]],
];
for (const [transA, transB, sa, sb, sc] of GEMMS) {
  test(`Gemm transA=${transA} transB=${transB}, alpha/beta, C [${sc}]`, () =>
    gradCheck([f('a', ...sa), f('b', ...sb), f('c', ...sc)], (a, b, c) => op.Gemm(a, b, c, { alpha: 0.75, beta: -1.5, transA, transB })));
}
test('Gemm without C, default alpha', () => gradCheck([f('a', 3, 2), f('b', 4, 3)], (a, b) => op.Gemm(a, b, null, { transA: true, transB: true })));
// ONNX stores beta as a 32-bit float, so dC is exactly fround(beta) · dY (finite differences can't see 1e-8).
test('Gemm: dC uses beta as ONNX Runtime does (float32 attribute)', async () => {
  const g = new Graph();
  const [a, b, c] = [g.input('a', 'float64', [2, 3]), g.input('b', 'float64', [3, 2]), g.input('c', 'float64', [2, 2])];
  const dc = gradients(op.ReduceSum(op.Gemm(a, b, c, { beta: 0.1 }), null, false), [c]).get(c)!;
  g.output(dc, 'dc');
  const s = await Session.create(serializeModel(g), { threads: 1 });
  const z = (n: number) => new Float64Array(n);
  const out = await s.run({ a: { dtype: 'float64', shape: [2, 3], data: z(6) }, b: { dtype: 'float64', shape: [3, 2], data: z(6) }, c: { dtype: 'float64', shape: [2, 2], data: z(4) } });
  assert.deepEqual(Array.from(out.dc.data as Float64Array), new Array(4).fill(Math.fround(0.1)));
});
test('Gemm with scalar-broadcast C [1]', () => gradCheck([f('a', 2, 3), f('b', 3, 4), f('c', 1)], (a, b, c) => op.Gemm(a, b, c, { beta: 2 })));

// ---------------------------------------------------------------------------------------------
// Reductions and the softmax family

const REDUCE_AXES: (number[] | null)[] = [[1], [0, 2], [-1], null, []];
for (const reduce of ['ReduceSum', 'ReduceMean'] as const) {
  for (const axes of REDUCE_AXES) {
    for (const keepdims of [true, false]) {
      test(`${reduce} axes=${axes === null ? 'null' : `[${axes}]`} keepdims=${keepdims}`, () => gradCheck([f('x', 2, 3, 2)], (x) => op[reduce](x, axes, keepdims)));
    }
  }
}

for (const axis of [-1, 0, 1]) {
  test(`Softmax axis=${axis}`, () => gradCheck([f('x', 2, 3, 4)], (x) => op.Softmax(x, axis)));
  test(`LogSoftmax axis=${axis}`, () => gradCheck([f('x', 2, 3, 4)], (x) => op.LogSoftmax(x, axis)));
}
test('Softmax', () => gradCheck([{ name: 'x', shape: [3, 5] }], (x) => op.Softmax(x, -1)));

// ---------------------------------------------------------------------------------------------
// Data movement

test('Reshape with 0 and -1', () => gradCheck([f('x', 2, 3, 4)], (x) => op.Reshape(x, [0, -1])));
test('Reshape [4, 0, -1]', () => gradCheck([f('x', 2, 3, 4)], (x) => op.Reshape(x, [4, 0, -1])));
test('Reshape to a runtime shape', () => gradCheck([f('x', 2, 3, 4), f('y', 6, 4)], (x, y) => op.Add(op.Reshape(x, op.shapeOf(y)), y)));
test('Transpose', () => gradCheck([f('x', 2, 3, 4)], (x) => op.Transpose(x, [2, 0, 1])));
test('Concat of 3 inputs (axis 1)', () => gradCheck([f('a', 2, 1), f('b', 2, 3), f('c', 2, 2)], (a, b, c) => op.Concat([a, b, c], 1)));
test('Concat of 3 inputs (axis -1, 3-D)', () => gradCheck([f('a', 2, 2, 1), f('b', 2, 2, 2), f('c', 2, 2, 1)], (a, b, c) => op.Concat([a, b, c], -1)));

test('Slice, positive starts/ends', () => gradCheck([f('x', 3, 5)], (x) => op.Slice(x, [1], [4], [1])));
test('Slice, negative starts/ends on two axes', () => gradCheck([f('x', 3, 5)], (x) => op.Slice(x, [-2, -4], [-1, -1], [0, 1])));
test('Slice, clamped starts/ends', () => gradCheck([f('x', 3, 5)], (x) => op.Slice(x, [-10, 2], [100, 1000], [0, -1])));
test('Slice with explicit steps of 1', () => gradCheck([f('x', 3, 5)], (x) => op.Slice(x, [1], [3], [0], [1])));
test('Slice, runtime int64 starts/ends (dynamic pads)', () =>
  gradCheck([f('x', 3, 5, 2), i64('s', [2], [1, -4]), i64('e', [2], [100, -1])], (x, s, e) => op.Slice(x, s, e, [0, 1])));
test('Slice, runtime int64 starts/ends, clamped below 0', () =>
  gradCheck([f('x', 4, 3), i64('s', [1], [-9]), i64('e', [1], [2])], (x, s, e) => op.Slice(x, s, e, [0])));

test('Slice, empty (end before start): the gradient keeps X\'s shape', () => gradCheck([f('x', 5, 2)], (x) => op.Slice(x, [3], [1], [0])));
test('Slice, empty, runtime starts/ends', () =>
  gradCheck([f('x', 5, 2), i64('s', [1], [3]), i64('e', [1], [-4])], (x, s, e) => op.Add(op.ReduceSum(op.Slice(x, s, e, [0]), null, false), op.ReduceSum(x, [0], false))));

test('Pad', () => gradCheck([f('x', 2, 3)], (x) => op.Pad(x, [1, 0, 0, 2])));
test('Split into 3, recombined out of order', () => gradCheck([f('x', 2, 4)], (x) => {
  const [p, q, r] = op.Split(x, [1, 2, 1], 1);
  return op.Concat([r, p, q], 1);
}));
test('Split with an unused output', () => gradCheck([f('x', 2, 4)], (x) => {
  const [p, , r] = op.Split(x, [1, 2, 1], -1);
  return op.Mul(p, r);
}));
test('Unsqueeze', () => gradCheck([f('x', 2, 3)], (x) => op.Unsqueeze(x, [0, 3])));
test('Squeeze', () => gradCheck([f('x', 2, 1, 3)], (x) => op.Squeeze(x, [1])));
test('Expand [3,1] → [2,3,4]', () => gradCheck([f('x', 3, 1)], (x) => op.Expand(x, [2, 3, 4])));
test('Expand [1,3] → [2,1] (result bigger than the shape)', () => gradCheck([f('x', 1, 3)], (x) => op.Expand(x, [2, 1])));

// ---------------------------------------------------------------------------------------------
// Indexing

test('Gather axis 0, repeated indices', () => gradCheck([f('x', 4, 3), i64('i', [5], [0, 2, 0, 3, 2])], (x, i) => op.Gather(x, i, 0)));
test('Gather axis 0, negative indices', () => gradCheck([f('x', 4, 3), i64('i', [3], [-1, 1, 3])], (x, i) => op.Gather(x, i, 0)));
test('Gather axis 1, 2-D indices', () => gradCheck([f('x', 3, 4), i64('i', [2, 2], [1, 3, 1, 0])], (x, i) => op.Gather(x, i, 1)));
test('Gather axis 1 of a 3-D tensor, scalar index', () => gradCheck([f('x', 2, 3, 2), i64('i', [], [2])], (x, i) => op.Gather(x, i, 1)));
test('GatherElements axis 0, repeated indices', () =>
  gradCheck([f('x', 3, 2), i64('i', [4, 2], [0, 2, 2, 2, 1, 0, 0, 2])], (x, i) => op.GatherElements(x, i, 0)));
test('GatherElements axis 1, repeated and negative indices', () =>
  gradCheck([f('x', 2, 3), i64('i', [2, 4], [0, -3, 2, 1, 1, 1, -1, 2])], (x, i) => op.GatherElements(x, i, 1)));

// ---------------------------------------------------------------------------------------------
// Fan-out (the walker accumulates a value's gradient over its uses)

test('Fan-out: Mul(x, x)', () => gradCheck([f('x', 2, 3)], (x) => op.Mul(x, x)));
test('Fan-out: x used by three nodes, with broadcasting', () =>
  gradCheck([f('x', 3), f('y', 2, 3)], (x, y) => op.Add(op.Mul(op.Tanh(x), y), op.Sub(op.Mul(x, x), op.Exp(x)))));
