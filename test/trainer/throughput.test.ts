// tokens_per_s counts training time only (issue 14, item 7): a validation pass delayed by 1.5 s
// inside a logging window must not lower the window's throughput; the row reports it as val_time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runTraining } from '../../src/trainer/run';
import { readMetrics } from '../../src/runs/index';
import { makeExperiment } from '../helpers/experiment';

const DELAY_S = 1.5;

test('tokens_per_s leaves validation out; val_time reports it', async () => {
  // Logged every 2 steps, validated every step: the window of steps 3–4 holds step 3's validation.
  const exp = makeExperiment({ validationBytes: [-4000, 0], training: { max_steps: 4, logging_steps: 2, eval_steps: 1, save_steps: 100 } });
  const slow = async (pass: () => Promise<number | null>) => {
    await new Promise((r) => setTimeout(r, DELAY_S * 1000));
    return pass();
  };
  const out = await runTraining({ experimentFile: exp.file, runsDir: exp.runsDir, threads: 1 }, {}, { requested: false }, { validation: slow });
  assert.equal(out.status, 'completed', out.error);
  const rows = await readMetrics(out.runDir);
  const at = (s: number) => rows.find((r) => r.step === s)!;
  // Every validated step (0…4) reports at least the injected delay as val_time.
  for (const s of [0, 1, 2, 3, 4]) assert.ok(at(s).val_time! >= DELAY_S, `step ${s}: val_time ${at(s).val_time}`);
  // Throughput implies the window's training time: Δtokens / tokens_per_s. The wall time between
  // the rows of steps 2 and 4 holds two delayed validations (steps 3 and 4) on top of training
  // steps 3 and 4; the training time must hold neither.
  const training = (at(4).tokens! - at(2).tokens!) / at(4).tokens_per_s!;
  const wall = at(4).time - at(2).time;
  const validating = at(3).val_time! + at(4).val_time!;
  assert.ok(wall >= validating, `the wall time ${wall} s holds both validations (${validating} s)`);
  assert.ok(training <= wall - validating + 0.05, `tokens_per_s implies ${training.toFixed(3)} s of training, but only ${(wall - validating).toFixed(3)} s of the ${wall.toFixed(3)} s between the rows was not validation`);
});
