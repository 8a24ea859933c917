// Learning-rate schedules against Hugging Face's formulas, computed by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { learningRate, lrMultiplier, warmupSteps } from '../../../src/engine/train/schedule';

const base = { learning_rate: 1, warmup_steps: 4, max_steps: 10 };

test('constant ignores warmup', () => {
  assert.deepEqual([0, 3, 9].map((k) => lrMultiplier({ ...base, lr_scheduler_type: 'constant' }, k)), [1, 1, 1]);
});

test('constant_with_warmup: k/w during warmup, then 1 (step 0 runs at lr 0)', () => {
  const s = { ...base, lr_scheduler_type: 'constant_with_warmup' as const };
  assert.deepEqual([0, 1, 2, 3, 4, 9].map((k) => lrMultiplier(s, k)), [0, 0.25, 0.5, 0.75, 1, 1]);
});

test('linear: warmup then (total − k) / (total − w)', () => {
  const s = { ...base, lr_scheduler_type: 'linear' as const };
  assert.deepEqual([0, 2, 4, 7, 10].map((k) => lrMultiplier(s, k)), [0, 0.5, 1, 0.5, 0]);
});

test('cosine: half a cycle after warmup (the golden train5 values)', () => {
  const s = { lr_scheduler_type: 'cosine' as const, learning_rate: 1e-2, warmup_steps: 2, max_steps: 5 };
  assert.deepEqual([0, 1, 2, 3, 4].map((k) => learningRate(s, k)), [0, 0.005, 0.01, 0.0075, 0.0025000000000000014]);
});

test('warmup_ratio is used when warmup_steps is 0 (ceil, as HF get_warmup_steps)', () => {
  assert.equal(warmupSteps({ ...base, lr_scheduler_type: 'linear', warmup_steps: 0, warmup_ratio: 0.25 }), 3);
  assert.equal(warmupSteps({ ...base, lr_scheduler_type: 'linear', warmup_steps: 2, warmup_ratio: 0.5 }), 2);
});
