// Data problems seen from the trainer: a huge record does not freeze it (Ctrl-C answered while
// tokenizing), and truncated / untrainable records and special-token text are reported in the
// terminal, in log.txt and in run.json. Real model (stories260K), CPU, `loralab train` as a process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, SHARED } from '../helpers/paths';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'loralab-data-proc-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function experiment(dir: string, train: string, maxSeqLength: number, maxSteps: number): Promise<string> {
  const file = join(dir, 'exp.lora.json');
  await writeFile(file, JSON.stringify({
    name: 'data', model: join(SHARED, 'models/stories260K'),
    data: { train, validation: null, max_seq_length: maxSeqLength },
    lora: { r: 4, lora_alpha: 8 },
    training: { learning_rate: 1e-3, max_steps: maxSteps, per_device_train_batch_size: 2, save_steps: 1000, eval_steps: 1000, logging_steps: 1, seed: 0 },
    device: 'cpu',
  }));
  return file;
}

test('a data file with one huge record: the trainer shows progress and answers SIGINT within 2 s while tokenizing', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t);
  // One .txt document of ~3 MB (no blank line): about 15 s of tokenizing on a small CPU.
  const story = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park.\n';
  await writeFile(join(dir, 'huge.txt'), story.repeat(32_000));
  const exp = await experiment(dir, 'huge.txt', 64, 1);
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'train', exp, '--runs-dir', join(dir, 'runs')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const progress = new Promise<void>((resolve) => child.stderr.on('data', (d) => {
    stderr += d;
    if (/data: tokenizing \d+%/.test(stderr)) resolve();
  }));
  const first = await Promise.race([progress.then(() => 'progress'), exited.then(() => 'exit'), new Promise((r) => setTimeout(() => r('timeout'), 90_000).unref())]);
  assert.equal(first, 'progress', `no progress line; stderr:\n${stderr}`);
  const t0 = performance.now();
  child.kill('SIGINT');
  const code = await Promise.race([exited, new Promise<'late'>((r) => setTimeout(() => r('late'), 10_000).unref())]);
  const ms = performance.now() - t0;
  if (code === 'late') child.kill('SIGKILL');
  assert.equal(code, 130, `stderr:\n${stderr}`);
  assert.ok(ms < 2000, `exited ${Math.round(ms)} ms after SIGINT`);
  assert.match(stderr, /stopped before training started/);
});

test('truncated and untrainable records and special-token text are reported in the terminal, log.txt and run.json', { timeout: 180_000 }, async (t) => {
  const dir = await tempDir(t);
  const long = 'Lily and Tom went to the park to play with the big red ball all day long.';
  const records = [
    { prompt: 'Q: Who?', completion: ' Lily.</s>' }, // line 1: special-token text
    { prompt: 'Q: Who?', completion: '' }, // line 2: EOS alone, fine
    { prompt: long, completion: ' yes' }, // line 3: nothing trainable left within 16 tokens
    { prompt: 'Q:', completion: ` ${long}` }, // line 4: truncated, some completion kept
    { text: `${long} ${long}` }, // line 5: chunked, not truncated
  ];
  await writeFile(join(dir, 'train.jsonl'), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const exp = await experiment(dir, 'train.jsonl', 16, 1);
  const res = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'train', exp, '--runs-dir', join(dir, 'runs')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stderr }));
  });
  assert.equal(res.code, 0, res.stderr);
  const file = join(dir, 'train.jsonl');
  const expected = [
    `warning: ${file}:1: the data holds the text of the special token "</s>"; it is trained as plain characters, not as that token`,
    `warning: 2 records were longer than max_seq_length 16 tokens and truncated (longest: ${file}:4,`,
    `warning: 1 record has no token left to train on after truncation to max_seq_length 16 and is left out: ${file}:3; raise data.max_seq_length or shorten their prompts`,
  ];
  for (const line of expected) assert.ok(res.stderr.includes(line), `terminal lacks ${line}\n${res.stderr}`);
  const [runId] = await readdir(join(dir, 'runs'));
  const runDir = join(dir, 'runs', runId);
  const log = await readFile(join(runDir, 'log.txt'), 'utf8');
  for (const line of expected) assert.ok(log.includes(line), `log.txt lacks ${line}\n${log}`);
  const run = JSON.parse(await readFile(join(runDir, 'run.json'), 'utf8')) as { dataset: { report: Record<string, unknown> } };
  const report = run.dataset.report;
  assert.equal(report.truncated, 2);
  assert.equal(report.untrainable, 1);
  assert.deepEqual(report.untrainable_records, [`${file}:3`]);
  assert.deepEqual(report.special_token_text, [{ file, line: 1, token: '</s>', records: 1 }]);
  assert.equal(report.skipped, 0);
  assert.equal((report.longest_truncated as { line: number }).line, 4);
});
