/**
 * Reductions (opset 18 form: `axes` is an input) and the softmax family.
 */
import type { Dim, Value } from '../graph/ir';
import { defineGrad, graphOf, int64s, normAxis, shapeOf } from './core';
import { Cast, Div, Exp, Mul, Sub } from './elementwise';
import { Expand, Unsqueeze } from './shape';

function reduce(op: string, x: Value, axes: readonly number[] | null, keepdims: boolean): Value {
  const g = graphOf(x);
  let shape: Dim[] | null = null;
  if (x.shape) {
    const all = axes === null || axes.length === 0;
    const norm = all ? [...Array(x.rank).keys()] : axes.map((a) => normAxis(a, x.rank));
    shape = keepdims ? x.shape.map((d, i) => (norm.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !norm.includes(i));
  }
  const inputs = axes && axes.length ? [x, int64s(g, axes)] : [x];
  return g.addNode(op, inputs, { keepdims: keepdims ? 1 : 0 }, [{ dtype: x.dtype, shape }])[0];
}

/** Sum over `axes` (null or [] = all axes). */
export function ReduceSum(x: Value, axes: readonly number[] | null, keepdims = true): Value {
  return reduce('ReduceSum', x, axes, keepdims);
}

/** Mean over `axes` (null or [] = all axes). */
export function ReduceMean(x: Value, axes: readonly number[] | null, keepdims = true): Value {
  return reduce('ReduceMean', x, axes, keepdims);
}

/** Max over `axes` (no gradient rule: use Softmax/LogSoftmax for stable forms). */
export function ReduceMax(x: Value, axes: readonly number[] | null, keepdims = true): Value {
  return reduce('ReduceMax', x, axes, keepdims);
}

/** Broadcasts a reduced gradient dY back over the reduced axes of X. */
function unreduce(x: Value, y: Value, dy: Value, axesV: Value | null | undefined, keepdims: boolean): Value {
  let g = dy;
  if (!keepdims && y.rank !== x.rank) {
    const axes = axesV ? (readInts(axesV)).map((a) => normAxis(a, x.rank)) : [...Array(x.rank).keys()];
    g = Unsqueeze(g, axes);
  }
  return Expand(g, shapeOf(x));
}

function readInts(v: Value): number[] {
  const init = v.graph.initializers.get(v.name);
  if (!init) throw new Error('reduction gradient: axes must be constant');
  return Array.from(init.tensor.data as BigInt64Array, Number);
}

defineGrad('ReduceSum', ({ node, x, y, dy }) => [unreduce(x[0]!, y[0], dy[0]!, x[1], node.attrs.keepdims !== 0)]);

// dX = expand(dY) / (number of reduced elements) = expand(dY) · Size(Y) / Size(X)
defineGrad('ReduceMean', ({ node, x, y, dy }) => {
  const xs = x[0]!.shape!;
  const ys = y[0].shape!;
  const expanded = unreduce(x[0]!, y[0], dy[0]!, x[1], node.attrs.keepdims !== 0);
  const count = (s: Dim[]) => (s.every((d) => typeof d === 'number') ? (s as number[]).reduce((a, b) => a * b, 1) : null);
  const nx = count(xs);
  const ny = count(ys);
  if (nx !== null && ny !== null) return [Mul(expanded, ny / nx)];
  const g = graphOf(x[0]);
  const size = (v: Value) => Cast(g.addNode('Size', [v], {}, [{ dtype: 'int64', shape: [] }])[0], x[0]!.dtype);
  return [Div(Mul(expanded, size(y[0])), size(x[0]!))];
});

/** Softmax along `axis` (opset 13 semantics: one axis). */
export function Softmax(x: Value, axis = -1): Value {
  return graphOf(x).addNode('Softmax', [x], { axis }, [{ dtype: x.dtype, shape: x.shape }])[0];
}
// y = softmax(x): dx = y ⊙ (dy − Σ_axis dy ⊙ y)
defineGrad('Softmax', ({ node, y, dy }) => {
  const axis = node.attrs.axis as number;
  return [Mul(y[0], Sub(dy[0]!, ReduceSum(Mul(dy[0]!, y[0]), [axis], true)))];
});

/** Log-softmax along `axis`. */
export function LogSoftmax(x: Value, axis = -1): Value {
  return graphOf(x).addNode('LogSoftmax', [x], { axis }, [{ dtype: x.dtype, shape: x.shape }])[0];
}
// y = x − logΣexp(x): dx = dy − exp(y) ⊙ Σ_axis dy
defineGrad('LogSoftmax', ({ node, y, dy }) => {
  const axis = node.attrs.axis as number;
  return [Sub(dy[0]!, Mul(Exp(y[0]), ReduceSum(dy[0]!, [axis], true)))];
});
