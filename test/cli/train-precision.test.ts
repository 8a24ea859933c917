// The resolved training precision is recorded (starting: line, --json run event, run.json
// precision_resolved), and a resume says when the experiment file changed since the run started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolvePrecision } from '../../src/engine/device';
import { describePrecision } from '../../src/trainer/run';
import { runCli } from '../helpers/cli';
import { makeExperiment } from '../helpers/experiment';

test('describePrecision: the format that runs, per provider (device.ts resolvePrecision semantics)', () => {
  assert.equal(describePrecision(resolvePrecision('auto', 'cpu')), 'fp32');
  assert.equal(describePrecision(resolvePrecision('auto', 'cuda')), 'fp16 weights and matmuls, with loss scaling');
  assert.equal(describePrecision(resolvePrecision('bf16', 'cuda')), 'bf16 weights and matmuls');
  assert.equal(describePrecision(resolvePrecision('fp16', 'cpu')), 'fp16 weights, computed in fp32');
});

test('train: the resolved precision in the starting: line, the run event and run.json; resume notes an edited experiment file', async () => {
  const exp = makeExperiment({ training: { max_steps: 1, save_steps: 1, precision: 'fp16' } });
  const r = await runCli(['train', exp.file, '--runs-dir', exp.runsDir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const run = JSON.parse(r.stdout.split('\n').find((l) => l.includes('"event":"run"'))!);
  assert.equal(run.precision, 'fp16 weights, computed in fp32');
  const dir = join(exp.runsDir, readdirSync(exp.runsDir)[0]);
  assert.match(readFileSync(join(dir, 'log.txt'), 'utf8'), /starting: model .* on cpu, fp16 weights, computed in fp32;/);
  const json = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
  assert.equal(json.config.training.precision, 'fp16');
  assert.equal(json.precision_resolved, 'fp16 weights, computed in fp32');

  // Unchanged file (and --max-steps, an override): no note.
  const same = await runCli(['train', '--resume', dir, '--max-steps', '2']);
  assert.equal(same.code, 0, same.stderr);
  assert.doesNotMatch(same.stderr, /has changed since/);

  // Edited: one line naming the file and the keys, old → new; the saved configuration is used.
  const text = readFileSync(exp.file, 'utf8');
  writeFileSync(exp.file, text.replace('"precision": "fp16"', '"precision": "bf16"').replace('"learning_rate": 0.002', '"learning_rate": 0.001'));
  const edited = await runCli(['train', '--resume', dir, '--max-steps', '3']);
  assert.equal(edited.code, 0, edited.stderr);
  const note = edited.stderr.split('\n').filter((l) => l.includes('has changed since'));
  assert.deepEqual(note, [`resuming with the configuration saved in run.json; ${exp.file} has changed since (training.learning_rate: 0.002 → 0.001, training.precision: fp16 → bf16)`]);
  assert.match(edited.stderr, /on cpu, fp16 weights, computed in fp32/);
  assert.ok(readFileSync(join(dir, 'log.txt'), 'utf8').includes(note[0]));
});
