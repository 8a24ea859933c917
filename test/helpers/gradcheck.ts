/**
 * Central finite-difference gradient check on float64 graphs, run through ONNX Runtime.
 *
 * `build` receives a fresh graph and the declared inputs and returns the value to check. The
 * scalar checked is L = Σ out ⊙ R with a fixed random R, so every output element gets a
 * different upstream gradient. Each input element is perturbed by ±h (h = 1e-6) and
 * (L(x+h) − L(x−h)) / 2h is compared with the analytic gradient from `gradients()`:
 * max |analytic − numeric| ≤ tol × max(1, max |numeric|), tol = 1e-6 (the bound).
 */
import assert from 'node:assert/strict';
import { Graph, type Value } from '../../src/engine/graph/ir';
import { gradients } from '../../src/engine/autodiff/index';
import { serializeModel } from '../../src/engine/graph/onnx';
import { Session } from '../../src/engine/runtime/session';
import { Mul, ReduceSum, constant } from '../../src/engine/ops/index';
import type { HostTensor } from '../../src/engine/tensor';
import { createRng } from '../../src/engine/data/random';

export interface GradInput {
  name: string;
  shape: number[];
  /** Values; random in [-1, 1) (seeded) when omitted. */
  data?: number[];
  /** int64 inputs (indices) are fed but not differentiated. */
  dtype?: 'float64' | 'int64' | 'bool';
}

/** Deterministic generator so failures reproduce. */
export const rng = (seed: number): (() => number) => createRng(seed);

export async function gradCheck(inputs: GradInput[], build: (...xs: Value[]) => Value, opts: { tol?: number; h?: number; seed?: number } = {}): Promise<void> {
  const tol = opts.tol ?? 1e-6;
  const h = opts.h ?? 1e-6;
  const rand = rng(opts.seed ?? 1);
  const g = new Graph('gradcheck');
  const xs = inputs.map((i) => g.input(i.name, i.dtype ?? 'float64', i.shape));
  const out = build(...xs);
  assert.equal(out.dtype, 'float64', 'gradCheck: output must be float64');
  // R as a constant with the runtime shape of out: build it once from a probe run.
  const feeds: Record<string, HostTensor> = {};
  for (const i of inputs) {
    const n = i.shape.reduce((a, b) => a * b, 1);
    const dtype = i.dtype ?? 'float64';
    if (dtype === 'int64') feeds[i.name] = { dtype, shape: i.shape, data: BigInt64Array.from(i.data!.map((v) => BigInt(v))) };
    else if (dtype === 'bool') feeds[i.name] = { dtype, shape: i.shape, data: Uint8Array.from(i.data!) };
    else feeds[i.name] = { dtype, shape: i.shape, data: Float64Array.from(i.data ?? Array.from({ length: n }, () => rand() * 2 - 1)) };
  }
  const probeG = new Graph('probe');
  const probeXs = inputs.map((i) => probeG.input(i.name, i.dtype ?? 'float64', i.shape));
  probeG.output(build(...probeXs), 'out');
  const probe = await Session.create(serializeModel(probeG), { threads: 1 });
  const outShape = (await probe.run(feeds)).out.shape;
  const R = constant(g, { dtype: 'float64', shape: outShape, data: Float64Array.from({ length: outShape.reduce((a, b) => a * b, 1) }, () => rand() * 2 - 1) }, 'R');
  const loss = ReduceSum(Mul(out, R), null, false);
  const diffInputs = xs.filter((x) => x.dtype === 'float64');
  const grads = gradients(loss, diffInputs);
  g.output(loss, 'loss');
  diffInputs.forEach((x) => {
    const d = grads.get(x);
    assert.ok(d, `no gradient for ${x.name}`);
    g.output(d, `grad_${x.name}`);
  });
  const s = await Session.create(serializeModel(g), { threads: 1 });
  const base = await s.run(feeds);

  for (const x of diffInputs) {
    const data = feeds[x.name].data as Float64Array;
    const analytic = base[`grad_${x.name}`];
    assert.deepEqual(analytic.shape, feeds[x.name].shape, `gradient of ${x.name} has the wrong shape`);
    const numeric = new Float64Array(data.length);
    for (let k = 0; k < data.length; k++) {
      const orig = data[k];
      data[k] = orig + h;
      const lp = ((await s.run(feeds, ['loss'])).loss.data as Float64Array)[0];
      data[k] = orig - h;
      const lm = ((await s.run(feeds, ['loss'])).loss.data as Float64Array)[0];
      data[k] = orig;
      numeric[k] = (lp - lm) / (2 * h);
    }
    const scale = Math.max(1, ...Array.from(numeric, Math.abs));
    const a = analytic.data as Float64Array;
    let err = 0;
    for (let k = 0; k < numeric.length; k++) err = Math.max(err, Math.abs(a[k] - numeric[k]));
    assert.ok(err <= tol * scale, `d/d${x.name}: max |analytic − numeric| = ${err.toExponential(3)} > ${tol} × ${scale.toFixed(3)}\nanalytic ${Array.from(a.slice(0, 6))}\nnumeric  ${Array.from(numeric.slice(0, 6))}`);

  }

}
