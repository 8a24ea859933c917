// `loralab runs` end to end (the CLI as a child process).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createRun } from '../../src/runs/index';
import { runCli } from '../helpers/cli';
import { ROOT } from '../helpers/paths';
import { deadPid, sampleInit, tempDir } from './helpers';

/** Like runCli, but in another working directory. */
function runCliIn(cwd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(ROOT, 'src/cli/main.ts'), ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (x) => (stdout += x));
    child.stderr.on('data', (x) => (stderr += x));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('loralab runs --json lists runs newest first with effective status and last losses', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const runsDir = join(dir, 'runs');
  const a = await createRun(runsDir, 'alpha', sampleInit({ pid: await deadPid() }), { now: new Date(2026, 2, 1, 8, 0, 0) });
  await a.appendMetrics({ step: 0, time: 0, val_loss: 5.5 });
  await a.appendMetrics({ step: 7, time: 3.5, train_loss: 4.25 });
  const b = await createRun(runsDir, 'beta', sampleInit(), { now: new Date(2026, 2, 1, 9, 0, 0) });
  await b.update({ status: 'completed', step: 500 });
  await mkdir(join(runsDir, 'junk'));

  const r = await runCli(['runs', '--runs-dir', runsDir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    runs: [
      { id: 'beta-20260301-090000', name: 'beta', status: 'completed', step: 500, train_loss: null, val_loss: null, run_dir: b.dir },
      { id: 'alpha-20260301-080000', name: 'alpha', status: 'crashed', step: 7, train_loss: 4.25, val_loss: 5.5, run_dir: a.dir },
    ],
  });
  assert.equal(r.stdout.split('\n').length, 2, 'one JSON document, one line');
  assert.match(r.stderr, /warning: skipped .*junk: .*no run\.json/);

  const human = await runCli(['runs', '--runs-dir', runsDir]);
  assert.equal(human.code, 0, human.stderr);
  // The table is the result: stdout, so `loralab runs | head` works; warnings and hints stay on stderr.
  const lines = human.stdout.split('\n').filter(Boolean);
  assert.equal(lines.length, 3, human.stdout);
  assert.match(lines[0], /^ID\s+STATUS\s+STEP\s+TRAIN LOSS\s+VAL LOSS$/);
  assert.match(lines[1], /^beta-20260301-090000\s+completed\s+500\/500\s+-\s+-$/);
  assert.match(lines[2], /^alpha-20260301-080000\s+crashed\s+7\/500\s+4\.2500\s+5\.5000$/);
  assert.doesNotMatch(human.stderr, /STATUS|beta-2026/);
  assert.match(human.stderr, /warning: skipped .*junk/);
  assert.match(human.stderr, /resume a stopped or crashed run with: loralab train --resume .*alpha-20260301-080000/);
});

test('loralab runs: a missing runs dir is an empty list; the default is .loralab/runs under the cwd', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const r = await runCli(['runs', '--runs-dir', join(dir, 'nothing-here'), '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { runs: [] });
  const human = await runCli(['runs', '--runs-dir', join(dir, 'nothing-here')]);
  assert.equal(human.code, 0);
  assert.match(human.stderr, /no runs in .*nothing-here/);

  // default runs dir: .loralab/runs under the working directory
  const h = await createRun(join(dir, 'project', '.loralab', 'runs'), 'default-dir', sampleInit());
  const d = await runCliIn(join(dir, 'project'), ['runs', '--json']);
  assert.equal(d.code, 0, d.stderr);
  assert.deepEqual(
    JSON.parse(d.stdout).runs.map((x: { id: string; run_dir: string }) => [x.id, x.run_dir]),
    [[h.id, h.dir]],
  );

  await writeFile(join(dir, 'a-file'), 'x');
  const bad = await runCli(['runs', '--runs-dir', join(dir, 'a-file'), '--json']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /loralab: error: .*a-file: not a folder/);
});

test('--help and --version print to stdout (exit 0), so they can be piped; usage errors stay on stderr', async () => {
  const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const v = await runCli(['--version']);
  assert.equal(v.code, 0);
  assert.equal(v.stdout.trim(), version);
  assert.equal(v.stderr, '');
  for (const args of [['--help'], ['train', '--help'], ['runs', '--help']]) {
    const h = await runCli(args);
    assert.equal(h.code, 0, args.join(' '));
    assert.match(h.stdout, /^Usage: loralab/m, args.join(' '));
    assert.equal(h.stderr, '', args.join(' '));
  }
  assert.match((await runCli(['train', '--help'])).stdout, /--checkpoint <step-N>/);
  const bad = await runCli(['runs', '--no-such-option']);
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout, '');
  assert.match(bad.stderr, /^loralab: error: unknown option '--no-such-option'/);
});
