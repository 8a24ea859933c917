/**
 * Dropout (ONNX opset 12+ form: `ratio` and `training_mode` inputs, optional `mask` output).
 * In training mode ONNX Runtime draws the mask from a Philox generator seeded by the `seed`
 * attribute at session creation, so a fresh session replays the same sequence of masks.
 */
import type { Value } from '../graph/ir';
import { defineGrad, graphOf, scalar } from './core';
import { Mul, Where } from './elementwise';

/**
 * y = x · mask / (1 − ratio) with mask ~ Bernoulli(1 − ratio) when training, y = x otherwise.
 * Returns [y, mask] (mask bool, same shape as x).
 */
export function Dropout(x: Value, ratio: number, training: boolean, seed?: number): [Value, Value] {
  const g = graphOf(x);
  const attrs: Record<string, number> = {};
  if (seed !== undefined) attrs.seed = seed;
  const [y, mask] = g.addNode('Dropout', [x, scalar(g, ratio, x.dtype), g.initializer('training_mode', { dtype: 'bool', shape: [], data: new Uint8Array([training ? 1 : 0]) })], attrs, [
    { dtype: x.dtype, shape: x.shape },
    { dtype: 'bool', shape: x.shape },
  ]);
  return [y, mask];
}
// dx = dy · mask / (1 − ratio)
defineGrad('Dropout', ({ x, y, dy, graph }) => {
  const ratioInit = graph.initializers.get(x[1]!.name) ?? graph.parent?.initializers.get(x[1]!.name);
  const ratio = ratioInit ? Number(ratioInit.tensor.data[0]) : NaN;
  if (!Number.isFinite(ratio)) throw new Error('Dropout gradient: ratio must be a constant');
  return [Where(y[1], Mul(dy[0]!, 1 / (1 - ratio)), 0), null, null];
});
