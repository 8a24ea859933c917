/**
 * A 4-point sweep end to end through the CLI (`loralab sweep`), on the real stories260K with a
 * few steps: four ordinary run folders in one sweep folder, each run's config holding its
 * point's values, sweep.json naming them, and the best one being the lowest final val_loss as
 * read back from each run's own metrics.jsonl (not from the runner's summary). Then a stop and
 * resume of the whole sweep.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../helpers/cli';
import { SHARED } from '../helpers/paths';
import { tempDir } from '../helpers/tmp';

const text = readFileSync(join(SHARED, 'data/tinyshakespeare.txt'), 'utf8');

function setup(extraSweep = ''): { dir: string; file: string } {
  const dir = tempDir('loralab-sweep-');
  writeFileSync(join(dir, 'train.txt'), text.slice(0, 6000));
  writeFileSync(join(dir, 'valid.txt'), text.slice(6000, 7000));
  const file = join(dir, 'tiny.lora.json');
  writeFileSync(file, `{
  "name": "tiny",
  "model": ${JSON.stringify(join(SHARED, 'models/stories260K'))},
  "data": { "train": "train.txt", "validation": "valid.txt", "max_seq_length": 32, "packing": true },
  "training": { "max_steps": 3, "per_device_train_batch_size": 2, "eval_steps": 3, "save_steps": 1, "logging_steps": 1 },
  "device": "cpu",
  "sweep": { "training.learning_rate": [1e-3, 1e-1], "lora.r": [1, 4]${extraSweep} }
}
`);
  return { dir, file };
}

const lastVal = (runDir: string): number => {
  const rows = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { val_loss?: number });
  return rows.filter((r) => r.val_loss !== undefined).at(-1)!.val_loss!;
};

test('loralab sweep: 4 points → 4 ordinary runs in one sweep folder, the best marked', async () => {
  const { dir, file } = setup();
  const runs = join(dir, 'runs');
  const r = await runCli(['sweep', file, '--runs-dir', runs, '--parallel', '2', '--threads', '2', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const done = events.at(-1);
  assert.equal(done.event, 'done');
  const sweepDirs = readdirSync(runs);
  assert.equal(sweepDirs.length, 1);
  assert.match(sweepDirs[0], /^tiny-sweep-\d{8}-\d{6}$/);
  const sweepDir = join(runs, sweepDirs[0]);
  const sweep = JSON.parse(readFileSync(join(sweepDir, 'sweep.json'), 'utf8'));
  assert.equal(sweep.status, 'completed');
  assert.equal(sweep.points.length, 4);
  const expected = [[1e-3, 1], [1e-3, 4], [1e-1, 1], [1e-1, 4]];
  for (const [i, p] of sweep.points.entries()) {
    assert.ok(p.run_dir.startsWith(sweepDir), p.run_dir);
    const run = JSON.parse(readFileSync(join(p.run_dir, 'run.json'), 'utf8'));
    assert.equal(run.status, 'completed');
    assert.equal(run.config.training.learning_rate, expected[i][0]);
    assert.equal(run.config.lora.r, expected[i][1]);
    assert.equal(run.config.name, p.name);
    assert.ok(existsSync(join(p.run_dir, 'adapter', 'adapter_model.safetensors')));
    // the PEFT adapter has the point's rank
    assert.equal(JSON.parse(readFileSync(join(p.run_dir, 'adapter', 'adapter_config.json'), 'utf8')).r, expected[i][1]);
  }
  const losses = sweep.points.map((p: { run_dir: string }) => lastVal(p.run_dir));
  const best = losses.indexOf(Math.min(...losses));
  assert.equal(done.best, best);
  assert.match(r.stderr, /← best/);
  // `loralab runs` sees the sweep's runs like any others
  const listed = await runCli(['runs', '--runs-dir', runs, '--json']);
  assert.equal(JSON.parse(listed.stdout).runs.length, 4);
});

test('loralab train --sweep --index out of range, and sweep on a file without a sweep block: one-line errors, exit 2', async () => {
  const { dir, file } = setup();
  const r = await runCli(['train', file, '--sweep', '--index', '4', '--runs-dir', join(dir, 'runs')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /tiny\.lora\.json: \/sweep: has 4 points \(0 … 3\); --index 4 is out of range/);
  const plain = join(dir, 'plain.lora.json');
  writeFileSync(plain, readFileSync(file, 'utf8').replace(/,\n {2}"sweep".*\n/, '\n'));
  const s = await runCli(['sweep', plain, '--runs-dir', join(dir, 'runs')]);
  assert.equal(s.code, 2, s.stderr);
  assert.match(s.stderr, /plain\.lora\.json: has no "sweep" block/);
});

test('Ctrl-C stops the whole sweep with checkpoints (exit 130); --resume finishes it', async () => {
  const { dir, file } = setup();
  const runs = join(dir, 'runs');
  const { spawn } = await import('node:child_process');
  const { ROOT } = await import('../helpers/paths');
  const child = spawn(process.execPath, ['--import', 'tsx', `${ROOT}/src/cli/main.ts`, 'sweep', file, '--runs-dir', runs, '--parallel', '1', '--threads', '1', '--max-steps', '200', '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let sent = false;
  child.stdout.on('data', (d) => {
    out += d;
    if (!sent && out.includes('"event":"point"') && out.includes('"status":"running"')) {
      sent = true;
      setTimeout(() => child.kill('SIGINT'), 1500); // a few steps in
    }
  });
  child.stderr.resume();
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 130);
  const sweepDir = join(runs, readdirSync(runs)[0]);
  const sweep = JSON.parse(readFileSync(join(sweepDir, 'sweep.json'), 'utf8'));
  assert.equal(sweep.status, 'stopped');
  const first = JSON.parse(readFileSync(join(sweep.points[0].run_dir, 'run.json'), 'utf8'));
  assert.equal(first.status, 'stopped');
  assert.ok(first.step > 0 && first.step < 200, String(first.step));
  assert.deepEqual(sweep.points.slice(1).map((p: { run_dir: string | null }) => p.run_dir), [null, null, null]);
  const r = await runCli(['sweep', '--resume', sweepDir, '--threads', '2', '--parallel', '2', '--max-steps', '200', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const after = JSON.parse(readFileSync(join(sweepDir, 'sweep.json'), 'utf8'));
  assert.equal(after.status, 'completed');
  assert.equal(after.points[0].run_dir, sweep.points[0].run_dir); // the same run folder, resumed
  for (const p of after.points) assert.equal(JSON.parse(readFileSync(join(p.run_dir, 'run.json'), 'utf8')).status, 'completed');
  const resumed = JSON.parse(readFileSync(join(after.points[0].run_dir, 'run.json'), 'utf8'));
  assert.equal(resumed.resumed_from_step, first.step);
  assert.match(r.stderr, /point 0: resuming/);
});
