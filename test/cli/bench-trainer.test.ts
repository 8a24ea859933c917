// The model-FLOP count of `loralab bench --trainer` against a count made by hand for the bench
// config (hidden 512, 8 layers, 8/4 heads of 64, intermediate 1408, vocab 32000), 4 × 256, r 16.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BENCH_CONFIG } from '../../src/cli/bench';
import { TRAINER_LEGEND, TRAINER_TABLE_HEADER, type TrainerFigures, stepsNote, trainStepFlops, trainerShapes, trainerTableRow } from '../../src/cli/bench-trainer';

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

test('stepsNote: how many steps are timed after the 2 warm-up steps, singular for one', () => {
  assert.equal(stepsNote(3), '3 steps (2 warm-up) → 1 timed step');
  assert.equal(stepsNote(5), '5 steps (2 warm-up) → 3 timed steps');
});

test('trainerTableRow: whole numbers right-aligned under TRAINER_TABLE_HEADER, "+ grad ckpt", n/a for an unmeasured figure', () => {
  const f: TrainerFigures = {
    batch: 4, seq: 1024, gradientCheckpointing: true, step_ms: 7363.4, tokens_per_s: 556.3, gflop_per_step: 893.2, gflop_per_s: 121.3,
    peak_rss_mib: 1477.2, runtime_rss_mib: 101.6, load_peak_mib: 1206.4, built_rss_mib: 865.0, steps_mib: NaN, weights_f32_mib: 215.1,
  };
  const row = trainerTableRow(f);
  assert.equal(row, '4 × 1024 + grad ckpt    7363       556      121          1477 |     102       1206          865           n/a          215');
  // Each figure ends where its column name ends (right-aligned), so the columns line up.
  assert.equal(row.indexOf('|'), TRAINER_TABLE_HEADER.indexOf('|'));
  for (const col of ['step ms', 'tokens/s', 'GFLOP/s', 'peak RSS MiB', 'runtime', 'load peak', 'after build', 'steps (+MiB)', 'f32 weights']) {
    const end = TRAINER_TABLE_HEADER.indexOf(col) + col.length;
    assert.ok(row[end - 1] !== ' ' && (end === row.length || row[end] === ' '), `${col}: no figure ends at column ${end}`);
  }
  assert.ok(!/ckpt\b/.test(trainerTableRow({ ...f, gradientCheckpointing: false })));
});

test('TRAINER_LEGEND: every column after the shape is explained, runtime before ONNX Runtime and the model, f32 weights computed', () => {
  const legend = TRAINER_LEGEND.join(' ');
  for (const col of ['step ms', 'GFLOP/s', 'peak RSS', 'runtime', 'load peak', 'after build', 'steps (+MiB)', 'f32 weights']) {
    assert.ok(TRAINER_TABLE_HEADER.includes(col), col);
    assert.ok(legend.includes(`${col} = `), `legend lacks ${col}`);
  }
  assert.match(legend, /runtime = RSS once the trainer has started \(Node \+ its code, before ONNX Runtime and the model are loaded\)/);
  assert.match(legend, /f32 weights = the model's weights at 4 bytes each \(computed, not measured\)/);
});
