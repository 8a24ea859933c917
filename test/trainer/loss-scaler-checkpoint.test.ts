// A checkpoint keeps the loss scaler's state (trainer_state.json "loss_scaler") so a resumed
// fp16 run continues with the same scale and growth count; a damaged value is refused by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCheckpoint, writeCheckpointFiles } from '../../src/trainer/checkpoint';
import { LossScaler, initAdamState } from '../../src/engine/train/optimizer';
import { peftKey } from '../../src/engine/weights/peft';
import type { HostTensor } from '../../src/engine/tensor';

test('loss_scaler round-trips through a checkpoint and restores a LossScaler; a bad one is named', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'loralab-scaler-'));
  try {
    const m = 'model.layers.0.self_attn.q_proj';
    const params = new Map<string, HostTensor>([
      [peftKey(m, 'A'), { dtype: 'float32', shape: [2, 4], data: new Float32Array(8).fill(0.5) }],
      [peftKey(m, 'B'), { dtype: 'float32', shape: [4, 2], data: new Float32Array(8) }],
    ]);
    const scaler = new LossScaler();
    scaler.update(true);
    scaler.update(false);
    const state = { step: 3, data: { epoch: 0, index: 2 }, elapsed_s: 1, tokens: 30, seed: 0, train_loss: 2, loss_scaler: scaler.state() };
    await writeCheckpointFiles(dir, { r: 2, lora_alpha: 4 }, params, [m], initAdamState(params), state);
    const ck = await readCheckpoint(dir, 3);
    assert.deepEqual(ck.state.loss_scaler, { scale: 32768, growth_tracker: 1 });
    const resumed = new LossScaler({}, ck.state.loss_scaler);
    assert.deepEqual(resumed.state(), scaler.state());
    const file = join(dir, 'trainer_state.json');
    writeFileSync(file, readFileSync(file, 'utf8').replace(/"scale": 32768/, '"scale": -1'));
    await assert.rejects(readCheckpoint(dir, 3), /trainer_state\.json: "loss_scaler" is .*expected \{"scale": a number > 0, "growth_tracker": a count\}/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
