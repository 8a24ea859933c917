/**
 * Data-movement ONNX ops: Reshape, Transpose, Concat, Slice, Split, Unsqueeze, Squeeze,
 * Expand, Pad. Builders take shapes/axes as JS arrays (emitted as int64 initializers, so the
 * output shape can be inferred) or as int64 Values for runtime shapes.
 */
import type { Dim, Value } from '../graph/ir';
import { constInts, defineGrad, graphOf, int64s, normAxis, shapeOf, zerosLike } from './core';

function asShapeValue(x: Value, s: Value | readonly number[]): Value {
  return Array.isArray(s) ? int64s(graphOf(x), s) : (s as Value);
}

/** The graph a node on `x` with shape operands `s` goes into: the innermost of them (a Loop body's value may be a Slice's end). */
function graphWith(x: Value, ...s: (Value | readonly number[] | undefined)[]): ReturnType<typeof graphOf> {
  return graphOf(x, ...s.map((v) => (v === undefined || Array.isArray(v) ? null : (v as Value))));
}

/**
 * Reshape (allowzero = 0): a 0 in `shape` copies the input dim, −1 is inferred.
 * Gradient: reshape back to Shape(x).
 */
export function Reshape(x: Value, shape: Value | readonly number[]): Value {
  const g = graphWith(x, shape);
  const sv = asShapeValue(x, shape);
  const ints = constInts(sv);
  let out: Dim[] | null = null;
  if (ints) {
    out = ints.map((d, i) => (d === 0 ? (x.shape ? x.shape[i] : g.unknownDim()) : d === -1 ? -1 : d));
    const neg = out.indexOf(-1);
    if (neg >= 0) {
      // Infer −1 when every other dim (in and out) is static.
      const inStatic = x.shape?.every((d) => typeof d === 'number');
      const outStatic = out.every((d, i) => i === neg || typeof d === 'number');
      if (inStatic && outStatic) {
        const total = (x.shape as number[]).reduce((a, b) => a * b, 1);
        const rest = (out as number[]).reduce((a, b, i) => (i === neg ? a : a * b), 1);
        out[neg] = total / rest;
      } else out[neg] = g.unknownDim();
    }
  } else if (sv.shape && typeof sv.shape[0] === 'number') {
    out = Array.from({ length: sv.shape[0] }, () => g.unknownDim());
  }
  return g.addNode('Reshape', [x, sv], {}, [{ dtype: x.dtype, shape: out }])[0];
}
defineGrad('Reshape', ({ x, dy }) => [Reshape(dy[0]!, shapeOf(x[0]!))]);

/** Permutes axes: output dim i is input dim perm[i]. */
export function Transpose(x: Value, perm: readonly number[]): Value {
  const shape = x.shape ? perm.map((p) => x.shape![p]) : null;
  return graphOf(x).addNode('Transpose', [x], { perm: [...perm] }, [{ dtype: x.dtype, shape }])[0];
}
defineGrad('Transpose', ({ node, dy }) => {
  const perm = node.attrs.perm as number[];
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return [Transpose(dy[0]!, inv)];
});

/** Joins tensors along `axis`. */
export function Concat(xs: Value[], axis: number): Value {
  const g = graphOf(...xs);
  let shape: Dim[] | null = null;
  if (xs.every((v) => v.shape)) {
    const r = xs[0].rank;
    const a = normAxis(axis, r);
    shape = [...xs[0].shape!];
    const sizes = xs.map((v) => v.shape![a]);
    shape[a] = sizes.every((s) => typeof s === 'number') ? (sizes as number[]).reduce((p, q) => p + q, 0) : g.unknownDim();
  }
  return g.addNode('Concat', xs, { axis }, [{ dtype: xs[0].dtype, shape }])[0];
}
// Each input's gradient is its slice of dY along the axis.
defineGrad('Concat', ({ node, x, dy, needs }) => {
  const axis = normAxis(node.attrs.axis as number, dy[0]!.rank);
  const sizes = x.map((v) => v!.shape![axis]);
  const grads: (Value | null)[] = [];
  if (sizes.every((s) => typeof s === 'number')) {
    let off = 0;
    for (let i = 0; i < x.length; i++) {
      const size = sizes[i] as number;
      grads.push(needs[i] ? Slice(dy[0]!, [off], [off + size], [axis]) : null);
      off += size;
    }
    return grads;
  }
  let off: Value = int64s(graphOf(dy[0]), [0]);
  for (let i = 0; i < x.length; i++) {
    const end: Value = addInts(off, shapeOf(x[i]!, axis, axis + 1));
    grads.push(needs[i] ? Slice(dy[0]!, off, end, [axis]) : null);
    off = end;
  }
  return grads;
});

function addInts(a: Value, b: Value): Value {
  return graphOf(a, b).addNode('Add', [a, b], {}, [{ dtype: 'int64', shape: a.shape }])[0];
}

/**
 * Slice with step 1 (or `steps`): starts/ends as constant arrays or int64 Values, `axes`
 * constant. Out-of-range starts/ends clamp as in the spec.
 */
export function Slice(x: Value, starts: Value | readonly number[], ends: Value | readonly number[], axes: readonly number[], steps?: readonly number[]): Value {
  const g = graphWith(x, starts, ends);
  const sv = asShapeValue(x, starts);
  const ev = asShapeValue(x, ends);
  const inputs = [x, sv, ev, int64s(g, axes)];
  if (steps) inputs.push(int64s(g, steps));
  let shape: Dim[] | null = null;
  if (x.shape) {
    shape = [...x.shape];
    const s = constInts(sv);
    const e = constInts(ev);
    axes.forEach((ax, i) => {
      const a = normAxis(ax, x.rank);
      const dim = x.shape![a];
      const step = steps ? steps[i] : 1;
      if (s && e && typeof dim === 'number' && step === 1) {
        const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
        shape![a] = Math.max(clamp(e[i]) - clamp(s[i]), 0);
      } else shape![a] = g.unknownDim();
    });
  }
  return g.addNode('Slice', inputs, {}, [{ dtype: x.dtype, shape }])[0];
}
// dX is dY padded with zeros back to X's shape (steps of 1 only). An empty slice (end ≤ start
// after clamping) pads at the end only up to start, so the padded size is still the dim.
defineGrad('Slice', ({ x, dy }) => {
  const [data, startsV, endsV, axesV, stepsV] = x as Value[];
  const axes = constInts(axesV)!.map((a) => normAxis(a, data.rank));
  if (stepsV && constInts(stepsV)!.some((s) => s !== 1)) throw new Error('Slice gradient: only steps of 1 are supported');
  const starts = constInts(startsV);
  const ends = constInts(endsV);
  const r = data.rank;
  const staticPads = starts && ends && axes.every((a) => typeof data.shape![a] === 'number');
  if (staticPads) {
    const pads = new Array<number>(2 * r).fill(0);
    axes.forEach((a, i) => {
      const dim = data.shape![a] as number;
      const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
      pads[a] = clamp(starts[i]);
      pads[r + a] = dim - Math.max(clamp(ends[i]), clamp(starts[i]));
    });
    return [Pad(dy[0]!, pads)];
  }
  // Runtime pads: begin = start clamped, end = dim − max(end clamped, start clamped) (int64 ops).
  const g = graphOf(dy[0]);
  const dims = shapeOf(data);
  const zeros = zerosLike(dims);
  const norm = (v: Value) => {
    const ax = int64s(g, axes);
    const dimsAt = g.addNode('Gather', [dims, ax], { axis: 0 }, [{ dtype: 'int64', shape: [axes.length] }])[0];
    const neg = g.addNode('Less', [v, int64s(g, [0])], {}, [{ dtype: 'bool', shape: [axes.length] }])[0];
    const plus = g.addNode('Add', [v, dimsAt], {}, [{ dtype: 'int64', shape: [axes.length] }])[0];
    const raw = g.addNode('Where', [neg, plus, v], {}, [{ dtype: 'int64', shape: [axes.length] }])[0];
    const lo = g.addNode('Max', [raw, int64s(g, [0])], {}, [{ dtype: 'int64', shape: [axes.length] }])[0];
    const clamped = g.addNode('Min', [lo, dimsAt], {}, [{ dtype: 'int64', shape: [axes.length] }])[0];
    return { clamped, dimsAt, ax };
  };
  const s = norm(startsV);
  const e = norm(endsV);
  const endAt = g.addNode('Max', [e.clamped, s.clamped], {}, [{ dtype: 'int64', shape: [axes.length] }])[0];
  const endPad = g.addNode('Sub', [e.dimsAt, endAt], {}, [{ dtype: 'int64', shape: [axes.length] }])[0];
  const scatter = (vals: Value) =>
    g.addNode('ScatterElements', [zeros, s.ax, vals], { axis: 0 }, [{ dtype: 'int64', shape: [r] }])[0];
  const pads = Concat([scatter(s.clamped), scatter(endPad)], 0);
  return [Pad(dy[0]!, pads)];
});

/** Constant-mode zero padding: `pads` = [x1_begin, x2_begin, …, x1_end, x2_end, …]. */
export function Pad(x: Value, pads: Value | readonly number[]): Value {
  const g = graphWith(x, pads);
  const pv = asShapeValue(x, pads);
  const p = constInts(pv);
  let shape: Dim[] | null = null;
  if (x.shape) {
    const r = x.rank;
    shape = x.shape.map((d, i) => (p && typeof d === 'number' ? d + p[i] + p[r + i] : p && p[i] === 0 && p[r + i] === 0 ? d : g.unknownDim()));
  }
  return g.addNode('Pad', [x, pv], {}, [{ dtype: x.dtype, shape }])[0];
}
// dX = dY with the padding sliced off (non-negative constant pads only).
defineGrad('Pad', ({ x, dy }) => {
  const p = constInts(x[1]!);
  if (!p || p.some((v) => v < 0)) throw new Error('Pad gradient: needs constant non-negative pads');
  const r = x[0]!.rank;
  const axes = [...Array(r).keys()];
  return [Slice(dy[0]!, axes.map((a) => p[a]), axes.map((a) => -p[r + a] || Number.MAX_SAFE_INTEGER), axes)];
});

/** Splits along `axis` into pieces of the given static sizes. */
export function Split(x: Value, sizes: readonly number[], axis = 0): Value[] {
  const g = graphOf(x);
  const a = x.shape ? normAxis(axis, x.rank) : axis;
  const outs = sizes.map((s) => ({ dtype: x.dtype, shape: x.shape ? x.shape.map((d, i) => (i === a ? s : d)) : null }));
  return g.addNode('Split', [x, int64s(g, sizes)], { axis }, outs);
}
defineGrad('Split', ({ node, y, dy }) => [Concat(y.map((v, i) => dy[i] ?? zerosLike(v)), node.attrs.axis as number)]);

/** Inserts size-1 axes at `axes` (positions in the output). */
export function Unsqueeze(x: Value, axes: readonly number[]): Value {
  let shape: Dim[] | null = null;
  if (x.shape) {
    const r = x.rank + axes.length;
    const norm = axes.map((a) => normAxis(a, r));
    shape = [];
    let k = 0;
    for (let i = 0; i < r; i++) shape.push(norm.includes(i) ? 1 : x.shape[k++]);
  }
  const g = graphOf(x);
  return g.addNode('Unsqueeze', [x, int64s(g, axes)], {}, [{ dtype: x.dtype, shape }])[0];
}
defineGrad('Unsqueeze', ({ x, dy }) => [Reshape(dy[0]!, shapeOf(x[0]!))]);

/** Removes the size-1 axes `axes`. */
export function Squeeze(x: Value, axes: readonly number[]): Value {
  const g = graphOf(x);
  const norm = axes.map((a) => normAxis(a, x.rank));
  const shape = x.shape ? x.shape.filter((_, i) => !norm.includes(i)) : null;
  return g.addNode('Squeeze', [x, int64s(g, axes)], {}, [{ dtype: x.dtype, shape }])[0];
}
defineGrad('Squeeze', ({ x, dy }) => [Reshape(dy[0]!, shapeOf(x[0]!))]);

/** Broadcasts x to `shape` (numpy rules; the result may be bigger than `shape`). */
export function Expand(x: Value, shape: Value | readonly number[]): Value {
  const g = graphOf(x);
  const sv = asShapeValue(x, shape);
  const ints = constInts(sv);
  let out: Dim[] | null = null;
  if (x.shape) {
    const target: Dim[] | null = ints ?? (sv.shape && typeof sv.shape[0] === 'number' ? Array.from({ length: sv.shape[0] }, () => g.unknownDim()) : null);
    if (target) {
      const r = Math.max(target.length, x.rank);
      out = [];
      for (let i = 0; i < r; i++) {
        const t = target[i - (r - target.length)] ?? 1;
        const d = x.shape[i - (r - x.rank)] ?? 1;
        out.push(t === 1 ? d : d === 1 ? t : d);
      }
    }
  }
  return g.addNode('Expand', [x, sv], {}, [{ dtype: x.dtype, shape: out }])[0];
}
// Broadcast: the walker sums dY back to X's shape.
defineGrad('Expand', ({ dy }) => [dy[0]]);
