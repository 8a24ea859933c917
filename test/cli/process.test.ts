// Process-wide CLI behaviour (src/cli/main.ts installProcessHandlers): a closed stdout ends a
// streaming command quietly (exit 0, like `git log | head`), SIGTERM/SIGINT stop a command with
// one "stopped" line and exit 130; and sweep reports an invalid sweep block as advise/train do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, spawnCli } from '../helpers/cli';
import { SHARED } from '../helpers/paths';
import { tempDir } from '../helpers/tmp';

const MODEL = `${SHARED}/models/stories260K`;

function exited(child: ReturnType<typeof spawnCli>): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr })));
}

test('generate | head: a closed stdout ends generate quietly with exit 0 (no EPIPE stack trace)', async () => {
  const child = spawnCli(['generate', '--model', MODEL, '--prompt', 'Once', '--max-new-tokens', '400']);
  child.stdout.once('data', () => child.stdout.destroy()); // what `head -c 50` does after 50 bytes
  const r = await exited(child);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /EPIPE|at .*\.ts:\d+|node:events/);
});

test('runs --json | head: the same for a command that prints a document', async () => {
  const dir = tempDir('cli-epipe-');
  const child = spawnCli(['runs', '--runs-dir', dir, '--json']);
  child.stdout.destroy();
  const r = await exited(child);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /EPIPE|node:events/);
});

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  test(`${sig} during generate: exit 130 and one "stopped" line on stderr`, async () => {
    const child = spawnCli(['generate', '--model', MODEL, '--prompt', 'Once', '--max-new-tokens', '400']);
    child.stdout.once('data', () => child.kill(sig));
    child.stdout.resume();
    const r = await exited(child);
    assert.equal(r.code, 130, `${r.signal} ${r.stderr}`);
    const last = r.stderr.trim().split('\n').pop();
    assert.equal(last, `loralab: stopped by ${sig}`);
  });
}

test('sweep: an invalid sweep block (an empty zip list) is the file\'s error with its line, exit 2, as train --sweep', async () => {
  const dir = tempDir('cli-sweep-');
  writeFileSync(join(dir, 'train.txt'), 'To be, or not to be: that is the question.\n'.repeat(20));
  const file = join(dir, 'zip.lora.json');
  writeFileSync(file, JSON.stringify({
    name: 'zip', model: MODEL, data: { train: 'train.txt', validation: null, max_seq_length: 32 }, device: 'cpu',
    sweep: { method: 'zip', 'training.learning_rate': [1e-3], 'lora.r': [] },
  }, null, 2));
  for (const args of [['sweep', file, '--runs-dir', join(dir, 'runs')], ['train', file, '--sweep', '--index', '0', '--runs-dir', join(dir, 'runs')]]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, /zip\.lora\.json:\d+: \/sweep\/lora\.r: must not be empty/);
    assert.doesNotMatch(r.stderr, /Cannot read properties/);
  }
});
