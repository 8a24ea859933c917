/**
 * Element-wise ONNX ops (multidirectional broadcasting, ONNX spec "Broadcasting in ONNX").
 * Each builder is followed by its gradient rule; broadcast gradients are summed back to the
 * input shape by the autodiff walker, not here.
 */
import type { Value } from '../graph/ir';
import { type DType, ONNX_DTYPE, isFloat } from '../tensor';
import { asValue, broadcastShapes, defineGrad, graphOf, scalar } from './core';

function binary(op: string, a: Value | number, b: Value | number, outDtype?: DType): Value {
  const av = typeof a === 'number' ? asValue(a, b as Value) : a;
  const bv = asValue(b, av);
  if (av.dtype !== bv.dtype) throw new Error(`${op}: dtype mismatch ${av.dtype} vs ${bv.dtype} (${av.name}, ${bv.name})`);
  const g = graphOf(av, bv);
  return g.addNode(op, [av, bv], {}, [{ dtype: outDtype ?? av.dtype, shape: broadcastShapes(g, av.shape, bv.shape) }])[0];
}

function unary(op: string, x: Value, attrs: Record<string, never> = {}): Value {
  return graphOf(x).addNode(op, [x], attrs, [{ dtype: x.dtype, shape: x.shape }])[0];
}

/** C = A + B. */
export function Add(a: Value | number, b: Value | number): Value { return binary('Add', a, b); }
defineGrad('Add', ({ dy }) => [dy[0], dy[0]]);

/** C = A − B. */
export function Sub(a: Value | number, b: Value | number): Value { return binary('Sub', a, b); }
defineGrad('Sub', ({ dy, needs }) => [dy[0], needs[1] ? Neg(dy[0]!) : null]);

/** C = A · B (element-wise). */
export function Mul(a: Value | number, b: Value | number): Value { return binary('Mul', a, b); }
defineGrad('Mul', ({ x, dy, needs }) => [
  needs[0] ? Mul(dy[0]!, x[1]!) : null,
  needs[1] ? Mul(dy[0]!, x[0]!) : null,
]);

/** C = A / B. */
export function Div(a: Value | number, b: Value | number): Value { return binary('Div', a, b); }
// y = a/b: da = dy/b, db = −dy·a/b² = −dy·y/b
defineGrad('Div', ({ x, y, dy, needs }) => [
  needs[0] ? Div(dy[0]!, x[1]!) : null,
  needs[1] ? Neg(Div(Mul(dy[0]!, y[0]), x[1]!)) : null,
]);

/** Z = X ^ Y. */
export function Pow(x: Value, y: Value | number): Value { return binary('Pow', x, y); }
// z = x^y: dx = dy·y·x^(y−1), dy_ = dz·ln(x)·z
defineGrad('Pow', ({ x, y, dy, needs }) => [
  needs[0] ? Mul(dy[0]!, Mul(x[1]!, Pow(x[0]!, Sub(x[1]!, 1)))) : null,
  needs[1] ? Mul(dy[0]!, Mul(Log(x[0]!), y[0])) : null,
]);

/** Y = √X. */
export function Sqrt(x: Value): Value { return unary('Sqrt', x); }
defineGrad('Sqrt', ({ y, dy }) => [Div(Mul(dy[0]!, 0.5), y[0])]); // dx = dy / (2√x)

/** Y = 1 / X. */
export function Reciprocal(x: Value): Value { return unary('Reciprocal', x); }
defineGrad('Reciprocal', ({ y, dy }) => [Neg(Mul(dy[0]!, Mul(y[0], y[0])))]); // dx = −dy·y²

/** Y = −X. */
export function Neg(x: Value): Value { return unary('Neg', x); }
defineGrad('Neg', ({ dy }) => [Neg(dy[0]!)]);

/** Y = eˣ. */
export function Exp(x: Value): Value { return unary('Exp', x); }
defineGrad('Exp', ({ y, dy }) => [Mul(dy[0]!, y[0])]);

/** Y = ln X. */
export function Log(x: Value): Value { return unary('Log', x); }
defineGrad('Log', ({ x, dy }) => [Div(dy[0]!, x[0]!)]);

/** Y = 1 / (1 + e⁻ˣ). */
export function Sigmoid(x: Value): Value { return unary('Sigmoid', x); }
defineGrad('Sigmoid', ({ y, dy }) => [Mul(dy[0]!, Mul(y[0], Sub(1, y[0])))]); // dx = dy·y·(1−y)

/** Y = tanh X. */
export function Tanh(x: Value): Value { return unary('Tanh', x); }
defineGrad('Tanh', ({ y, dy }) => [Mul(dy[0]!, Sub(1, Mul(y[0], y[0])))]);

/** Y = sin X. */
export function Sin(x: Value): Value { return unary('Sin', x); }
defineGrad('Sin', ({ x, dy }) => [Mul(dy[0]!, Cos(x[0]!))]);

/** Y = cos X. */
export function Cos(x: Value): Value { return unary('Cos', x); }
defineGrad('Cos', ({ x, dy }) => [Neg(Mul(dy[0]!, Sin(x[0]!)))]);

/** Y = X. */
export function Identity(x: Value): Value { return unary('Identity', x); }
defineGrad('Identity', ({ dy }) => [dy[0]]);

/** Output = condition ? X : Y (broadcasting all three). */
export function Where(condition: Value, x: Value | number, y: Value | number): Value {
  const xv = typeof x === 'number' ? asValue(x, y as Value) : x;
  const yv = asValue(y, xv);
  const g = graphOf(condition, xv, yv);
  return g.addNode('Where', [condition, xv, yv], {}, [{ dtype: xv.dtype, shape: broadcastShapes(g, condition.shape, xv.shape, yv.shape) }])[0];
}
defineGrad('Where', ({ x, dy, needs }) => [
  null,
  needs[1] ? Where(x[0]!, dy[0]!, 0) : null,
  needs[2] ? Where(x[0]!, 0, dy[0]!) : null,
]);

export { ONNX_DTYPE };

/** Converts element type; `to` is our dtype name (the attribute is its ONNX number). */
export function Cast(x: Value, to: DType): Value {
  return graphOf(x).addNode('Cast', [x], { to: ONNX_DTYPE[to] }, [{ dtype: to, shape: x.shape }])[0];
}
// Only float→float casts carry a gradient (cast back); integer casts stop it.
defineGrad('Cast', ({ x, y, dy }) => [isFloat(x[0]!.dtype) && isFloat(y[0].dtype) ? Cast(dy[0]!, x[0]!.dtype) : null]);

/** Element-wise comparisons and logic (bool output, no gradient). */
export function Equal(a: Value, b: Value | number): Value { return binary('Equal', a, b, 'bool'); }
export function Less(a: Value, b: Value | number): Value { return binary('Less', a, b, 'bool'); }
export function LessOrEqual(a: Value, b: Value | number): Value { return binary('LessOrEqual', a, b, 'bool'); }
export function Greater(a: Value, b: Value | number): Value { return binary('Greater', a, b, 'bool'); }
export function GreaterOrEqual(a: Value, b: Value | number): Value { return binary('GreaterOrEqual', a, b, 'bool'); }
export function And(a: Value, b: Value): Value { return binary('And', a, b, 'bool'); }
export function Not(x: Value): Value { return unary('Not', x); }

/** Element-wise max of two tensors. Gradient goes to the larger (A on ties). */
export function Max(a: Value | number, b: Value | number): Value { return binary('Max', a, b); }
defineGrad('Max', ({ x, dy, needs }) => {
  const aWins = GreaterOrEqual(x[0]!, x[1]!);
  return [needs[0] ? Where(aWins, dy[0]!, 0) : null, needs[1] ? Where(aWins, 0, dy[0]!) : null];
});

/** Element-wise min of two tensors. Gradient goes to the smaller (A on ties). */
export function Min(a: Value | number, b: Value | number): Value { return binary('Min', a, b); }
defineGrad('Min', ({ x, dy, needs }) => {
  const aWins = LessOrEqual(x[0]!, x[1]!);
  return [needs[0] ? Where(aWins, dy[0]!, 0) : null, needs[1] ? Where(aWins, 0, dy[0]!) : null];
});

/** A float scalar constant in the graph of `like` (helper for composite ops). */
export function floatConst(like: Value, v: number): Value { return scalar(like.graph, v, like.dtype); }
