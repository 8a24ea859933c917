/**
 * Indexing ops: Gather, GatherElements and their scatter-add adjoints, plus Range.
 */
import type { Dim, Value } from '../graph/ir';
import { defineGrad, graphOf, normAxis, zerosLike } from './core';
import { Transpose, Unsqueeze } from './shape';

/**
 * Gather along `axis`: out shape = data[:axis] + indices.shape + data[axis+1:].
 * Indices are int64 (negative values count from the end, as in the spec).
 */
export function Gather(data: Value, indices: Value, axis = 0): Value {
  const g = graphOf(data, indices);
  let shape: Dim[] | null = null;
  if (data.shape && indices.shape) {
    const a = normAxis(axis, data.rank);
    shape = [...data.shape.slice(0, a), ...indices.shape, ...data.shape.slice(a + 1)];
  }
  return g.addNode('Gather', [data, indices], { axis }, [{ dtype: data.dtype, shape }])[0];
}
// dData = scatter-add of dY rows into zeros (ScatterND, reduction "add"), axis moved to front.
defineGrad('Gather', ({ node, x, dy, needs }) => {
  if (!needs[0]) return [null, null];
  const [data, indices] = x as Value[];
  const a = normAxis(node.attrs.axis as number, data.rank);
  const ir = indices.rank;
  let upd = dy[0]!;
  let base = data;
  let perm: number[] | null = null;
  if (a !== 0) {
    // Bring the gathered axis (and the index dims) to the front.
    perm = [a, ...[...Array(data.rank).keys()].filter((i) => i !== a)];
    base = Transpose(data, perm);
    const updPerm = [...Array(ir).keys()].map((i) => a + i);
    const rest = [...Array(upd.rank).keys()].filter((i) => i < a || i >= a + ir);
    upd = Transpose(upd, [...updPerm, ...rest]);
  }
  const g = graphOf(upd);
  const idx = Unsqueeze(indices, [-1]);
  const zeros = zerosLike(base);
  let grad = g.addNode('ScatterND', [zeros, idx, upd], { reduction: 'add' }, [{ dtype: data.dtype, shape: base.shape }])[0];
  if (perm) {
    const inv = new Array<number>(perm.length);
    perm.forEach((p, i) => (inv[p] = i));
    grad = Transpose(grad, inv);
  }
  return [grad, null];
});

/** out[i][j][k] = data[index[i][j][k]][j][k] for axis 0 (and so on); out shape = indices shape. */
export function GatherElements(data: Value, indices: Value, axis: number): Value {
  return graphOf(data, indices).addNode('GatherElements', [data, indices], { axis }, [{ dtype: data.dtype, shape: indices.shape }])[0];
}
// dData = ScatterElements(zeros, indices, dY, reduction "add")
defineGrad('GatherElements', ({ node, x, dy, needs }) => {
  if (!needs[0]) return [null, null];
  const g = graphOf(dy[0]);
  const zeros = zerosLike(x[0]!);
  return [g.addNode('ScatterElements', [zeros, x[1]!, dy[0]!], { axis: node.attrs.axis as number, reduction: 'add' }, [{ dtype: x[0]!.dtype, shape: x[0]!.shape }])[0], null];
});

/**
 * ScatterElements (ONNX opset 18): a copy of `data` with `updates[i][j]` written to (axis 1)
 * `[i][indices[i][j]]`, combined by `reduction` ("none" replaces, "add" adds). Indices int64,
 * the same shape as updates. No gradient rule (used in hand-written backward passes).
 */
export function ScatterElements(data: Value, indices: Value, updates: Value, axis: number, reduction: 'none' | 'add' = 'none'): Value {
  return graphOf(data, indices, updates).addNode('ScatterElements', [data, indices, updates], { axis, reduction }, [{ dtype: data.dtype, shape: data.shape }])[0];
}

/**
 * NonZero (ONNX): the indices of the non-zero (true) elements of `x`, (rank(x), M) int64 in
 * row-major order. No gradient (integer output).
 */
export function NonZero(x: Value): Value {
  const g = graphOf(x);
  return g.addNode('NonZero', [x], {}, [{ dtype: 'int64', shape: [x.rank, g.unknownDim()] }])[0];
}

/** [start, start + delta, …) below limit; all three scalars of one dtype. */
export function Range(start: Value, limit: Value, delta: Value): Value {
  const g = graphOf(start, limit, delta);
  return g.addNode('Range', [start, limit, delta], {}, [{ dtype: start.dtype, shape: [g.unknownDim()] }])[0];
}
