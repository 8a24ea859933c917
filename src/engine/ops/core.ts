/**
 * Shared machinery of the op definitions: the gradient-rule table, constants, and shape
 * inference helpers. Each op file defines builders named exactly like the ONNX op type
 * (`MatMul`, `ReduceSum`, …) with their gradient rule right below (STYLE.md rule 1).
 */
import { type Dim, type Graph, Node, type Shape, Value } from '../graph/ir';
import { type DType, type HostTensor, allocData, tensor } from '../tensor';

/** What a gradient rule sees: the node, its inputs x, outputs y and output gradients dy. */
export interface GradContext {
  node: Node;
  graph: Graph;
  x: (Value | null)[];
  y: Value[];
  /** Gradient of each output; null when nothing downstream depends on that output. */
  dy: (Value | null)[];
  /** Which inputs a gradient is wanted for; a rule may skip the others. */
  needs: boolean[];
}

/**
 * A gradient rule answers only "what is dInput given dOutput" for each input. The returned
 * gradient may have the broadcast (output) shape: the walker in `autodiff/` sums it back to
 * the input's shape and accumulates fan-out.
 */
export type GradRule = (ctx: GradContext) => (Value | null | undefined)[];

const gradRules = new Map<string, GradRule>();

/** Registers the gradient rule of an op type (once, next to its builder). */
export function defineGrad(opType: string, rule: GradRule): void {
  if (gradRules.has(opType)) throw new Error(`gradient rule for ${opType} defined twice`);
  gradRules.set(opType, rule);
}

export function gradRule(opType: string): GradRule | undefined {
  return gradRules.get(opType);
}

/**
 * A gradient given for one value instead of derived through the nodes that compute it (JAX's
 * `custom_vjp`, PyTorch's `autograd.Function`): the walker treats `output` as made by a virtual
 * node with inputs `inputs` and runs `rule` for it, never looking at the nodes in between (they
 * may be ops without rules, such as Loop). Used by fused ops whose backward is cheaper written by
 * hand (train/loss.ts: the chunked cross-entropy). The producer of `output` must have one output.
 */
export function defineValueGrad(output: Value, inputs: Value[], rule: GradRule): void {
  if (!output.producer || output.producer.outputs.length !== 1) throw new Error(`defineValueGrad: ${output.name} must be the only output of a node`);
  valueGrads.set(output, new Node(`custom:${output.producer.opType}`, inputs, [output], {}, `${output.producer.name}:custom_grad`));
  customRules.set(output, rule);
}
const valueGrads = new WeakMap<Value, Node>();
const customRules = new WeakMap<Value, GradRule>();

/** The virtual node (and rule) standing in for `n` when its output has a `defineValueGrad` rule. */
export function customGradNode(n: Node): { node: Node; rule: GradRule } | null {
  const out = n.outputs.length === 1 ? n.outputs[0] : null;
  const node = out ? valueGrads.get(out) : undefined;
  return node ? { node, rule: customRules.get(out!)! } : null;
}

/** Op types that never carry a gradient (their outputs are integers, booleans or shapes). */
export const NON_DIFFERENTIABLE = new Set([
  'Shape', 'Size', 'Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual', 'And', 'Or', 'Not',
  'Range', 'ConstantOfShape', 'ArgMax', 'ArgMin', 'Trilu',
]);

// ---------------------------------------------------------------------------------------------
// Constants

/** Scalar constant of the given dtype (shape []). */
export function scalar(g: Graph, value: number, dtype: DType): Value {
  let cache = scalarCache.get(g);
  if (!cache) scalarCache.set(g, (cache = new Map()));
  const key = `${dtype}:${Object.is(value, -0) ? '-0' : value}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const data = allocData(dtype, 1);
  if (data instanceof BigInt64Array) data[0] = BigInt(value);
  else data[0] = value;
  const v = g.initializer(`const_${dtype}`, tensor(dtype, [], data));
  cache.set(key, v);
  return v;
}
const scalarCache = new WeakMap<Graph, Map<string, Value>>();

/** 1-D int64 constant (shapes, axes, starts…). */
export function int64s(g: Graph, values: readonly number[]): Value {
  return g.initializer('const_i64', tensor('int64', [values.length], BigInt64Array.from(values.map((v) => BigInt(v)))));
}

/** A constant tensor of any dtype. */
export function constant(g: Graph, t: HostTensor, name = 'const'): Value {
  return g.initializer(name, t);
}

/** Turns a number into a scalar constant of `like`'s dtype; passes Values through. */
export function asValue(x: Value | number, like: Value): Value {
  return typeof x === 'number' ? scalar(like.graph, x, like.dtype) : x;
}

/** The innermost graph among the operands (a subgraph may read its parent's values). */
export function graphOf(...vs: (Value | null | undefined)[]): Graph {
  let g: Graph | null = null;
  for (const v of vs) {
    if (!v) continue;
    if (g === null || isAncestor(g, v.graph)) g = v.graph;
  }
  if (g === null) throw new Error('op needs at least one Value operand');
  return g;
}

function isAncestor(a: Graph, b: Graph): boolean {
  for (let p = b.parent; p; p = p.parent) if (p === a) return true;
  return false;
}

/** The integer values of a constant int64 tensor (an initializer), or null if not constant. */
export function constInts(v: Value): number[] | null {
  const init = v.graph.initializers.get(v.name);
  if (!init || init.value !== v) return null;
  const d = init.tensor.data;
  if (d instanceof BigInt64Array) return Array.from(d, (x) => Number(x));
  if (d instanceof Int32Array) return Array.from(d);
  return null;
}

// ---------------------------------------------------------------------------------------------
// Shapes

/** Normalises a possibly negative axis against a rank. */
export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** Numpy-style multidirectional broadcasting of static/symbolic shapes. */
export function broadcastShapes(g: Graph, ...shapes: Shape[]): Shape {
  if (shapes.some((s) => s === null)) return null;
  const ss = shapes as Dim[][];
  const rank = Math.max(...ss.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of ss) {
      const k = i - (rank - s.length);
      if (k < 0) continue;
      const e = s[k];
      if (e === 1) continue;
      if (d === 1) d = e;
      else if (d !== e) {
        if (typeof d === 'number' && typeof e === 'number') {
          throw new Error(`cannot broadcast shapes ${ss.map((x) => `[${x}]`).join(' and ')}`);
        }
        if (typeof e === 'number') d = e;
        else if (typeof d !== 'number') d = g.unknownDim();
      }
    }
    out.push(d);
  }
  return out;
}

/** Shape (one int64 per dim) of a value, as a 1-D value; `Shape` op with start/end. */
export function shapeOf(x: Value, start?: number, end?: number): Value {
  const g = x.graph;
  const attrs: Record<string, number> = {};
  if (start !== undefined) attrs.start = start;
  if (end !== undefined) attrs.end = end;
  let len: Dim = g.unknownDim();
  if (x.shape) {
    const r = x.shape.length;
    const s = start === undefined ? 0 : Math.min(Math.max(start < 0 ? start + r : start, 0), r);
    const e = end === undefined ? r : Math.min(Math.max(end < 0 ? end + r : end, 0), r);
    len = Math.max(e - s, 0);
  }
  return graphOf(x).addNode('Shape', [x], attrs, [{ dtype: 'int64', shape: [len] }])[0];
}

/** Zeros with the runtime shape of `like` (ConstantOfShape over Shape). */
export function zerosLike(like: Value): Value {
  const g = graphOf(like);
  const value = tensor(like.dtype, [1]);
  return g.addNode('ConstantOfShape', [shapeOf(like)], { value }, [{ dtype: like.dtype, shape: like.shape }])[0];
}

/** Ones with the runtime shape of `like`. */
export function onesLike(like: Value): Value {
  const g = graphOf(like);
  const data = allocData(like.dtype, 1);
  if (data instanceof BigInt64Array) data[0] = 1n;
  else data[0] = 1;
  return g.addNode('ConstantOfShape', [shapeOf(like)], { value: tensor(like.dtype, [1], data) }, [{ dtype: like.dtype, shape: like.shape }])[0];
}
