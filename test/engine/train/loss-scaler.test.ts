// Dynamic loss scaling (engine/train/optimizer.ts LossScaler, train/step.ts trainStep): the state
// machine against hand-written sequences of PyTorch's GradScaler semantics, and skipped steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdamW, LossScaler, initAdamState, unscaleGradients } from '../../../src/engine/train/optimizer';
import { trainStep, type StepModel } from '../../../src/engine/train/step';
import type { Batch } from '../../../src/engine/data/batch';
import type { HostTensor } from '../../../src/engine/tensor';

test('GradScaler defaults: scale 2^16, halved on Inf/NaN, doubled after 2000 clean steps', () => {
  const s = new LossScaler();
  assert.equal(s.scale, 65536);
  s.update(true);
  assert.deepEqual(s.state(), { scale: 32768, growth_tracker: 0 });
  for (let i = 0; i < 1999; i++) s.update(false);
  assert.deepEqual(s.state(), { scale: 32768, growth_tracker: 1999 });
  s.update(false);
  assert.deepEqual(s.state(), { scale: 65536, growth_tracker: 0 });
});

test('hand-written sequences (growth_interval 3)', () => {
  const run = (seq: string): [number, number][] => {
    const s = new LossScaler({ growth_interval: 3 });
    return [...seq].map((c) => {
      s.update(c === 'x');
      return [s.scale, s.state().growth_tracker];
    });
  };
  // . = clean step, x = Inf/NaN found
  assert.deepEqual(run('..x...'), [[65536, 1], [65536, 2], [32768, 0], [32768, 1], [32768, 2], [65536, 0]]);
  assert.deepEqual(run('.xx.'), [[65536, 1], [32768, 0], [16384, 0], [16384, 1]]);
  assert.deepEqual(run('......'), [[65536, 1], [65536, 2], [131072, 0], [131072, 1], [131072, 2], [262144, 0]]);
});

test('growth stops below float32 overflow; state round trip; bad states refused', () => {
  const s = new LossScaler({ init_scale: 2 ** 127, growth_interval: 1 });
  s.update(false);
  assert.deepEqual(s.state(), { scale: 2 ** 127, growth_tracker: 0 }, 'scale · 2 would be Inf in float32: kept');
  const t = new LossScaler({}, { scale: 1024, growth_tracker: 7 });
  assert.deepEqual(t.state(), { scale: 1024, growth_tracker: 7 });
  assert.throws(() => new LossScaler({}, { scale: 0, growth_tracker: 0 }), /positive finite "scale"/);
  assert.throws(() => new LossScaler({}, { scale: 8, growth_tracker: 1.5 }), /growth_tracker/);
  assert.throws(() => new LossScaler({ backoff_factor: 2 }), RangeError);
});

test('unscaleGradients divides and reports Inf / NaN', () => {
  const g = (xs: number[]): HostTensor => ({ dtype: 'float32', shape: [xs.length], data: Float32Array.from(xs) });
  const ok = new Map([['a', g([8, -16])], ['b', g([4])]]);
  assert.equal(unscaleGradients(ok, 4), false);
  assert.deepEqual([...(ok.get('a')!.data as Float32Array), ...(ok.get('b')!.data as Float32Array)], [2, -4, 1]);
  assert.equal(unscaleGradients(new Map([['a', g([1, Infinity])]]), 2), true);
  assert.equal(unscaleGradients(new Map([['a', g([NaN])]]), 2), true);
});

/** A model whose gradient is `lossScale · g` (what a scaled backward returns), or Inf when `overflow`. */
function fakeModel(g: number[], overflow: () => boolean, seen: number[]): StepModel {
  return {
    async run(_batch, opts) {
      const scale = opts?.lossScale ?? 1;
      seen.push(scale);
      const data = Float32Array.from(g, (x) => (overflow() ? Infinity : x * scale));
      return { loss: 2, grads: new Map([['p', { dtype: 'float32', shape: [g.length], data }]]) };
    },
  };
}

const batch = (tokens: number): Batch => ({ inputIds: [[1, 2]], attentionMask: [[1, 1]], positionIds: [[0, 1]], labels: [[2, -100]], tokens });

test('an Inf gradient skips the step: weights and moments unchanged, scale halved; a clean step unscales before AdamW', async () => {
  const opt = await AdamW.create(new Map([['p', [3]]]), { adam_beta1: 0.9, adam_beta2: 0.999, adam_epsilon: 1e-8, weight_decay: 0, max_grad_norm: 0 });
  const params = new Map<string, HostTensor>([['p', { dtype: 'float32', shape: [3], data: Float32Array.from([1, 2, 3]) }]]);
  const adam = initAdamState(params);
  const scaler = new LossScaler();
  const seen: number[] = [];
  let overflow = true;
  const model = fakeModel([0.5, -0.25, 1e-3], () => overflow, seen);

  const skipped = await trainStep(model, opt, params, adam, [batch(1)], 0.1, scaler);
  assert.deepEqual({ ...skipped, gradNorm: 0 }, { loss: 2, gradNorm: 0, targetTokens: 1, updated: false, skipped: true });
  assert.deepEqual([...(params.get('p')!.data as Float32Array)], [1, 2, 3], 'weights unchanged');
  assert.deepEqual([...adam.m.get('p')!, ...adam.v.get('p')!], [0, 0, 0, 0, 0, 0], 'moments unchanged');
  assert.equal(adam.t, 0, 'no optimizer step counted');
  assert.equal(scaler.scale, 32768);

  overflow = false;
  // Two micro-batches of 3 and 1 tokens: each returns scale · g, so the unscaled mean is g.
  const res = await trainStep(model, opt, params, adam, [batch(3), batch(1)], 0.1, scaler);
  assert.equal(res.updated, true);
  assert.deepEqual(seen, [65536, 32768, 32768], 'the loss scale fed to every backward');
  // Hand-derived AdamW first step: m̂ = g, v̂ = g², so p ← p − lr · g / (|g| + ε) ≈ p − 0.1 · sign(g).
  const p = params.get('p')!.data as Float32Array;
  assert.ok(Math.abs(p[0] - 0.9) < 1e-6 && Math.abs(p[1] - 2.1) < 1e-6 && Math.abs(p[2] - 2.9) < 1e-5, `${[...p]}`);
  assert.ok(Math.abs(res.gradNorm - Math.hypot(0.5, 0.25, 1e-3)) < 1e-6, `grad norm of the unscaled gradients: ${res.gradNorm}`);
  assert.deepEqual(scaler.state(), { scale: 32768, growth_tracker: 1 });
  await opt.release();
});
