/**
 * Reverse-mode differentiation over the graph IR.
 *
 * The walker owns everything no single op rule should: it prunes to the nodes between the
 * requested inputs and the output, visits them in reverse topological order, accumulates the
 * gradient of a value used by several nodes (fan-out) with Add, and sums a broadcast
 * gradient back to its input's shape (un-broadcasting). Rules live next to their op builders
 * in `../ops/` (see `GradRule`). Ops without a rule whose inputs need a gradient throw;
 * ops in `NON_DIFFERENTIABLE` and integer/bool values stop the gradient.
 *
 * Reference: the same structure as tinygrad's `gradient.py` and micrograd's `backward`.
 */
import type { Graph, Node, Value } from '../graph/ir';
import { type Dim } from '../graph/ir';
import { NON_DIFFERENTIABLE, customGradNode, gradRule, onesLike } from '../ops/core';
import { Add } from '../ops/elementwise';
import { ReduceSum } from '../ops/reduce';
import { isFloat } from '../tensor';
import '../ops/index';

/**
 * Builds the gradient of `y` with respect to each of `wrt`, as new nodes of y's graph.
 *
 * @param y     the value to differentiate (usually a scalar loss); any float shape.
 * @param wrt   graph inputs or intermediate values; the gradient of each has its shape.
 * @param seed  dL/dy (same shape as y); defaults to ones (so a scalar loss gets dL/dL = 1).
 * @returns a map from each value in `wrt` to its gradient value; a value that `y` does not
 *          depend on maps to null.
 * @throws  when a node on the path has no gradient rule, or shapes needed for
 *          un-broadcasting are unknown.
 */
export function gradients(y: Value, wrt: Value[], seed?: Value): Map<Value, Value | null> {
  const g = y.graph;
  // A value with a `defineValueGrad` rule is made, for the walker, by its virtual node.
  const custom = new Map<Node, ReturnType<typeof customGradNode>>();
  const nodes = g.nodes.map((n) => {
    const c = customGradNode(n);
    if (!c) return n;
    custom.set(c.node, c);
    return c.node;
  });

  // Forward reachability from wrt (which values depend on them).
  const wanted = new Set<Value>(wrt);
  const dependsOnWrt = new Set<Value>(wrt);
  const onPathForward: Node[] = [];
  for (const n of nodes) {
    if (NON_DIFFERENTIABLE.has(n.opType)) continue;
    if (n.inputs.some((v) => v && dependsOnWrt.has(v))) {
      for (const o of n.outputs) if (isFloat(o.dtype)) dependsOnWrt.add(o);
      onPathForward.push(n);
    }
  }
  if (!dependsOnWrt.has(y)) return new Map(wrt.map((v) => [v, null]));

  // Backward reachability from y, restricted to the forward set.
  const neededValues = new Set<Value>([y]);
  const onPath: Node[] = [];
  for (let i = onPathForward.length - 1; i >= 0; i--) {
    const n = onPathForward[i];
    if (!n.outputs.some((o) => neededValues.has(o))) continue;
    onPath.push(n);
    for (const v of n.inputs) if (v && dependsOnWrt.has(v)) neededValues.add(v);
  }

  const grads = new Map<Value, Value>();
  grads.set(y, seed ?? onesLike(y));

  for (const n of onPath) {
    // onPath is already in reverse topological order.
    const dy = n.outputs.map((o) => grads.get(o) ?? null);
    if (dy.every((d) => d === null)) continue;
    const needs = n.inputs.map((v) => v !== null && neededValues.has(v) && isFloat(v.dtype));
    if (!needs.some(Boolean)) continue;
    const rule = custom.get(n)?.rule ?? gradRule(n.opType);
    if (!rule) throw new Error(`autodiff: no gradient rule for ${n.opType} (node ${n.name}); add one in src/engine/ops/`);
    const dx = rule({ node: n, graph: g, x: n.inputs, y: n.outputs, dy, needs });
    n.inputs.forEach((v, i) => {
      const d = dx[i];
      if (!v || !needs[i] || !d) return;
      const fitted = unbroadcast(d, v);
      const prev = grads.get(v);
      grads.set(v, prev ? Add(prev, fitted) : fitted);
    });
  }
  // Free intermediates: only wanted values are returned.
  return new Map(wrt.map((v) => [v, wanted.has(v) ? grads.get(v) ?? null : null]));
}

/**
 * Sums gradient `d` (shaped like a broadcast result) down to the shape of `x`: leading extra
 * axes are summed away, and axes where x has a static 1 are summed with keepdims.
 */
export function unbroadcast(d: Value, x: Value): Value {
  if (!x.shape || !d.shape) {
    throw new Error(`autodiff: cannot un-broadcast gradient of ${x.name} without known ranks`);
  }
  let out = d;
  const extra = d.rank - x.rank;
  if (extra < 0) throw new Error(`autodiff: gradient ${d} has lower rank than ${x}`);
  if (extra > 0) out = ReduceSum(out, [...Array(extra).keys()], false);
  const axes: number[] = [];
  x.shape.forEach((dim: Dim, i: number) => {
    if (dim === 1 && out.shape![i] !== 1) axes.push(i);
  });
  if (axes.length) out = ReduceSum(out, axes, true);
  return out;
}

export type { Graph };
