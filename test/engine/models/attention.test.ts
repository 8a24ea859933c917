// Blocked attention (engine/models/attention.ts) against a float64 reference written here:
// softmax(q·kᵀ + mask)·v row by row, and its gradients against central finite differences of
// that reference (not of the engine), for several block sizes (1 row, a size that leaves a padded
// last block, exactly T, more than T).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../../src/engine/graph/ir';
import { serializeModel } from '../../../src/engine/graph/onnx';
import { Session } from '../../../src/engine/runtime/session';
import { Mul, ReduceSum, constant } from '../../../src/engine/ops/index';
import { gradients } from '../../../src/engine/autodiff/index';
import { blockedAttention } from '../../../src/engine/models/attention';
import { createRng } from '../../../src/engine/data/random';

const [B, Hkv, R, T, Dh] = [2, 2, 2, 7, 3];
const rand = createRng(5);
const rnd = (n: number) => Array.from({ length: n }, () => rand() * 2 - 1);
const q = rnd(B * Hkv * R * T * Dh); // (B, Hkv, R, T, Dh)
const k = rnd(B * Hkv * T * Dh); // (B, Hkv, T, Dh): the test's layout; fed transposed
const v = rnd(B * Hkv * T * Dh); // (B, Hkv, T, Dh)
const w = rnd(B * Hkv * R * T * Dh); // loss = Σ out ∘ w
// Causal mask; batch 1 has its last two positions padded (not attended).
const attended = (b: number, i: number, j: number) => j <= i && !(b === 1 && j >= T - 2);
const mask = Array.from({ length: B * T * T }, (_, x) => {
  const b = Math.floor(x / (T * T));
  return attended(b, Math.floor(x / T) % T, x % T) ? 0 : -1e9;
});

/** float64 reference output (B, Hkv, R, T, Dh). */
function reference(qq: number[], kk: number[], vv: number[]): number[] {
  const out = new Array<number>(qq.length).fill(0);
  for (let b = 0; b < B; b++) for (let h = 0; h < Hkv; h++) for (let r = 0; r < R; r++) for (let i = 0; i < T; i++) {
    const qi = (((b * Hkv + h) * R + r) * T + i) * Dh;
    const s = Array.from({ length: T }, (_, j) => {
      let d = mask[(b * T + i) * T + j];
      for (let c = 0; c < Dh; c++) d += qq[qi + c] * kk[((b * Hkv + h) * T + j) * Dh + c];
      return d;
    });
    const m = Math.max(...s);
    const e = s.map((x) => Math.exp(x - m));
    const z = e.reduce((a, x) => a + x, 0);
    for (let c = 0; c < Dh; c++) out[qi + c] = e.reduce((a, p, j) => a + (p / z) * vv[((b * Hkv + h) * T + j) * Dh + c], 0);
  }
  return out;
}
const lossOf = (qq: number[], kk: number[], vv: number[]) => reference(qq, kk, vv).reduce((a, x, i) => a + x * w[i], 0);

/** Central differences of the reference loss with respect to each entry of `which`. */
function numericGrad(which: 0 | 1 | 2): number[] {
  const args = [q, k, v];
  return args[which].map((_, i) => {
    const eps = 1e-6;
    const plus = args.map((a) => a.slice());
    const minus = args.map((a) => a.slice());
    plus[which][i] += eps;
    minus[which][i] -= eps;
    return (lossOf(plus[0], plus[1], plus[2]) - lossOf(minus[0], minus[1], minus[2])) / (2 * eps);
  });
}

const transposeK = (kk: number[]) => { // (B, Hkv, T, Dh) → (B, Hkv, Dh, T)
  const out = new Array<number>(kk.length);
  for (let bh = 0; bh < B * Hkv; bh++) for (let j = 0; j < T; j++) for (let c = 0; c < Dh; c++) out[(bh * Dh + c) * T + j] = kk[(bh * T + j) * Dh + c];
  return out;
};

for (const blockRows of [1, 3, 7, 16]) {
  test(`blocked attention (${blockRows} query rows per block) equals the float64 reference, values and gradients`, async () => {
    const g = new Graph('attention');
    const qv = g.input('q', 'float64', [B, Hkv, R, 'T', Dh]);
    const kTv = g.input('kT', 'float64', [B, Hkv, 1, Dh, 'T']);
    const vv = g.input('v', 'float64', [B, Hkv, 1, 'T', Dh]);
    const mv = g.input('mask', 'float64', [B, 1, 1, 'T', 'T']);
    const out = blockedAttention(qv, kTv, vv, mv, blockRows);
    const loss = ReduceSum(Mul(out, constant(g, { dtype: 'float64', shape: [B, Hkv, R, T, Dh], data: Float64Array.from(w) })), null, false);
    const grads = gradients(loss, [qv, kTv, vv]);
    g.output(out, 'out');
    g.output(grads.get(qv)!, 'dq');
    g.output(grads.get(kTv)!, 'dkT');
    g.output(grads.get(vv)!, 'dv');
    const s = await Session.create(serializeModel(g), { threads: 1 });
    const res = await s.run({
      q: { dtype: 'float64', shape: [B, Hkv, R, T, Dh], data: Float64Array.from(q) },
      kT: { dtype: 'float64', shape: [B, Hkv, 1, Dh, T], data: Float64Array.from(transposeK(k)) },
      v: { dtype: 'float64', shape: [B, Hkv, 1, T, Dh], data: Float64Array.from(v) },
      mask: { dtype: 'float64', shape: [B, 1, 1, T, T], data: Float64Array.from(mask) },
    });
    const close = (name: string, got: ArrayLike<number | bigint>, want: number[], tol: number) => {
      assert.equal(got.length, want.length, `${name}: length`);
      want.forEach((x, i) => assert.ok(Math.abs(Number(got[i]) - x) < tol, `${name}[${i}]: ${got[i]} vs ${x}`));
    };
    assert.deepEqual(res.out.shape, [B, Hkv, R, T, Dh]);
    close('out', res.out.data, reference(q, k, v), 1e-12);
    close('dq', res.dq.data, numericGrad(0), 1e-7);
    close('dkT', res.dkT.data, transposeK(numericGrad(1)), 1e-7);
    close('dv', res.dv.data, numericGrad(2), 1e-7);
    await s.release();
  });
}
