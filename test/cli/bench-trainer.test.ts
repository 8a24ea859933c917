// The model-FLOP count of `loralab bench --trainer` against a count made by hand for the bench
// config (hidden 512, 8 layers, 8/4 heads of 64, intermediate 1408, vocab 32000), 4 × 256, r 16.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BENCH_CONFIG } from '../../src/cli/bench';
import { trainStepFlops, trainerShapes } from '../../src/cli/bench-trainer';

test('trainStepFlops: the bench config at 4 × 256, r 16, counted by hand', () => {
  // Per layer, in·out of q, k, v, o, gate, up, down: 512·512 + 2·512·256 + 512·512 + 3·512·1408 = 2,949,120.
  // Frozen: 8 · 2,949,120 + lm_head 512 · 32,000 = 39,976,960; forward + input gradient 2 · 2 · N · that, N = 1024.
  const frozen = 2 * 2 * 1024 * 39_976_960;
  // Attention: QKᵀ and PV, 2 · B · T² · H · Dh each, per layer; backward twice the forward.
  const attention = 3 * 8 * 2 * (2 * 4 * 256 * 256 * 8 * 64);
  // LoRA r 16: Σ(in + out) per layer = 9,344; forward 2 · N · r · Σ, backward twice that.
  const lora = 3 * 2 * 1024 * 16 * 9_344 * 8;
  assert.equal(trainStepFlops(BENCH_CONFIG, 4, 256, 16), frozen + attention + lora);
  assert.equal(Math.round((frozen + attention + lora) / 1e8) / 10, 184); // the "185 GFLOP per step"
});

test('trainerShapes: batch 1 and 4 × sequence 256 and 1024, then 4 × 1024 with gradient checkpointing', () => {
  assert.deepEqual(trainerShapes(false).map((s) => `${s.batch}x${s.seq}${s.gradientCheckpointing ? '+gc' : ''}`), ['1x256', '1x1024', '4x256', '4x1024', '4x1024+gc']);
  assert.deepEqual(trainerShapes(true).map((s) => `${s.batch}x${s.seq}${s.gradientCheckpointing ? '+gc' : ''}`), ['4x256', '4x1024+gc']);
});
