/**
 * MatMul (numpy matmul semantics, batch dims broadcast) and Gemm (2-D, ONNX spec).
 */
import { type AttrValue, type Dim, Float as FloatAttr, type Value } from '../graph/ir';
import { broadcastShapes, defineGrad, graphOf, int64s, shapeOf } from './core';
import { Mul } from './elementwise';
import { Concat, Reshape, Transpose } from './shape';

/** Y = A @ B. A (..., M, K), B (..., K, N) → Y (..., M, N); ranks ≥ 2 (1-D not supported). */
export function MatMul(a: Value, b: Value): Value {
  if (a.dtype !== b.dtype) throw new Error(`MatMul: dtype mismatch ${a.dtype} vs ${b.dtype}`);
  const g = graphOf(a, b);
  let shape: Dim[] | null = null;
  if (a.shape && b.shape) {
    if (a.shape.length < 2 || b.shape.length < 2) throw new Error(`MatMul: operands must have rank ≥ 2 (got ${a} and ${b})`);
    const [m, k1] = a.shape.slice(-2);
    const [k2, n] = b.shape.slice(-2);
    if (typeof k1 === 'number' && typeof k2 === 'number' && k1 !== k2) {
      throw new Error(`MatMul: inner dims differ: ${a} @ ${b}`);
    }
    const batch = broadcastShapes(g, a.shape.slice(0, -2), b.shape.slice(0, -2))!;
    shape = [...batch, m, n];
  }
  return g.addNode('MatMul', [a, b], {}, [{ dtype: a.dtype, shape }])[0];
}

/** Swaps the last two axes. */
export function transposeLast2(x: Value): Value {
  const r = x.rank;
  const perm = [...Array(r).keys()];
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return Transpose(x, perm);
}

// Y = A B: dA = dY Bᵀ, dB = Aᵀ dY (batch dims are summed back by the walker)
defineGrad('MatMul', ({ x, dy, needs }) => [
  needs[0] ? timesTransposed(dy[0]!, x[1]!) : null,
  needs[1] ? MatMul(transposeLast2(x[0]!), dy[0]!) : null,
]);

/**
 * dY · Bᵀ. For a 2-D B with static shape (K, N) — a linear layer's weight — as Gemm with
 * transB = 1 on dY's rows reshaped to (M, N): B is read in place, where MatMul(dY, Transpose(B))
 * would make ONNX Runtime constant-fold a transposed copy of every frozen weight (as much
 * memory again as the weights).
 */
function timesTransposed(dy: Value, b: Value): Value {
  const [K, N] = b.shape ?? [];
  if (b.rank !== 2 || typeof K !== 'number' || typeof N !== 'number' || !dy.shape || dy.rank < 2) return MatMul(dy, transposeLast2(b));
  if (dy.rank === 2) return Gemm(dy, b, null, { transB: true }); // (M, K)
  const rows = Gemm(Reshape(dy, [-1, N]), b, null, { transB: true }); // (M, K), M = product of dY's leading dims
  return Reshape(rows, Concat([shapeOf(dy, 0, dy.rank - 1), int64s(dy.graph, [K])], 0)); // (…, K)
}

export interface GemmAttrs {
  alpha?: number;
  beta?: number;
  transA?: boolean;
  transB?: boolean;
}

/** Y = alpha·A'·B' + beta·C with A' = transA ? Aᵀ : A (2-D), C broadcast to (M, N). */
export function Gemm(a: Value, b: Value, c: Value | null, attrs: GemmAttrs = {}): Value {
  const g = graphOf(a, b, c);
  const { alpha = 1, beta = 1, transA = false, transB = false } = attrs;
  if (a.rank !== 2 || b.rank !== 2) throw new Error('Gemm: A and B must be 2-D');
  const m = transA ? a.shape![1] : a.shape![0];
  const n = transB ? b.shape![0] : b.shape![1];
  const onnxAttrs: Record<string, AttrValue> = {};
  if (alpha !== 1) onnxAttrs.alpha = new FloatAttr(alpha);
  if (beta !== 1) onnxAttrs.beta = new FloatAttr(beta);
  if (transA) onnxAttrs.transA = 1;
  if (transB) onnxAttrs.transB = 1;
  return g.addNode('Gemm', c ? [a, b, c] : [a, b], onnxAttrs, [{ dtype: a.dtype, shape: [m, n] }])[0];
}

// With P = A', Q = B': dP = α dY Qᵀ, dQ = α Pᵀ dY, dC = β dY; then undo the transposes.
defineGrad('Gemm', ({ node, x, dy, needs }) => {
  const alpha = node.attrs.alpha instanceof FloatAttr ? node.attrs.alpha.value : 1;
  // beta is stored as a 32-bit FLOAT attribute: the forward pass scales C by fround(beta).
  const beta = node.attrs.beta instanceof FloatAttr ? Math.fround(node.attrs.beta.value) : 1;
  const transA = node.attrs.transA === 1;
  const transB = node.attrs.transB === 1;
  const scale = (v: Value, s: number) => (s === 1 ? v : Mul(v, s));
  const g = dy[0]!;
  let dA: Value | null = null;
  let dB: Value | null = null;
  if (needs[0]) {
    // dP = α g Qᵀ; Qᵀ = transB ? B : Bᵀ.  dA = transA ? dPᵀ = α Q gᵀ … via Gemm attrs
    dA = transA
      ? Gemm(x[1]!, g, null, { alpha, transA: transB, transB: true })
      : Gemm(g, x[1]!, null, { alpha, transB: !transB });
  }
  if (needs[1]) {
    dB = transB
      ? Gemm(g, x[0]!, null, { alpha, transA: true, transB: transA })
      : Gemm(x[0]!, g, null, { alpha, transA: !transA });
  }
  const dC = x.length > 2 && x[2] && needs[2] ? scale(g, beta) : null;
  return [dA, dB, dC];
});
