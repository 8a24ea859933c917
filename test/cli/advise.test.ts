/**
 * `loralab advise`: human lines (`file:line: warning [id] …` + source) and `--json`, on the real
 * stories260K. Parameter counts are derived by hand from its config.json (hidden 64, 4 KV heads
 * of 8, intermediate 172, 5 layers): per layer Σ(in+out) = q 128 + k 96 + v 96 + o 128 +
 * gate 236 + up 236 + down 236 = 1156, so 5780 per unit of rank.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../helpers/cli';
import { SHARED } from '../helpers/paths';
import { tempDir } from '../helpers/tmp';

function setup(body: string): { dir: string; file: string; env: NodeJS.ProcessEnv } {
  const dir = tempDir('loralab-advise-');
  writeFileSync(join(dir, 'train.txt'), readFileSync(join(SHARED, 'data/tinyshakespeare.txt'), 'utf8').slice(0, 20000));
  const file = join(dir, 'a.lora.json');
  writeFileSync(file, `{
  "name": "a",
  "model": ${JSON.stringify(join(SHARED, 'models/stories260K'))},
  "data": { "train": "train.txt", "max_seq_length": 64 },
${body}
}
`);
  return { dir, file, env: { XDG_CACHE_HOME: join(dir, 'cache') } };
}

test('advise: each finding on the line of its key, with its source; capacity meter; exit 0', async () => {
  const { file, env } = setup(`  "lora": {
    "r": 2,
    "target_modules": ["q_proj", "v_proj"]
  },
  "training": {
    "per_device_train_batch_size": 64,
    "lr_scheduler_type": "cosine"
  }`);
  const r = await runCli(['advise', file], undefined, env);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  const finding = lines.filter((l) => !l.startsWith('    ') && l.startsWith(file));
  assert.deepEqual(finding.map((l) => l.slice(file.length).split(' ').slice(0, 3).join(' ')), [
    ':10: warning [effective-batch]',
    ':7: warning [attention-only]',
    ':11: info [schedule]',
    ':6: warning [capacity]',
  ]);
  assert.ok(lines.every((l, i) => !l.startsWith(file) || lines[i + 1].startsWith('    source: ')));
  assert.match(r.stdout, /effective batch 64 \(per_device_train_batch_size 64 × gradient_accumulation_steps 1\) is above 32/);
  assert.match(r.stdout, /source: Schulman & Thinking Machines Lab, "LoRA Without Regret" \(2025-09-29\), "Batch size effects" https:\/\/thinkingmachines\.ai\/blog\/lora\//);
  // q_proj + v_proj at r 2: 2 · 5 · (128 + 96) = 2240 parameters
  assert.match(r.stdout, /capacity: 2\.24k LoRA parameters for [\d.]+k trained tokens/);
});

test('advise --json: numbers, pointers, fixes; the token count is cached by data fingerprint', async () => {
  const { dir, file, env } = setup(`  "lora": { "r": 4 },
  "training": { "learning_rate": 1e-2 },
  "advise": { "full_finetune_learning_rate": 1e-4 }`);
  const r = await runCli(['advise', file, '--json'], undefined, env);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  const lr = out.findings.find((f: { id: string }) => f.id === 'learning-rate');
  assert.equal(lr.value, 10); // 1e-2 against 10 × 1e-4 = 1e-3
  assert.equal(lr.line, 6);
  assert.deepEqual(lr.fix, { pointer: '/training/learning_rate', value: 1e-3, title: 'Set learning_rate to 0.001' });
  assert.equal(out.suggestion.learning_rate, 1e-3);
  assert.equal(out.capacity.lora_parameters, 4 * 5780);
  const tokens = out.capacity.trained_tokens;
  assert.ok(tokens > 5000 && tokens < 20000, String(tokens));
  const cached = readdirSync(join(dir, 'cache', 'loralab')).filter((f) => f.startsWith('trained-tokens-'));
  assert.equal(cached.length, 1);
  // Same data: the cached count is used (we plant a different number to see it read back).
  writeFileSync(join(dir, 'cache', 'loralab', cached[0]), JSON.stringify({ tokens: 123 }));
  assert.equal(JSON.parse((await runCli(['advise', file, '--json'], undefined, env)).stdout).capacity.trained_tokens, 123);
  // Changed data: counted again, under a new key.
  writeFileSync(join(dir, 'train.txt'), 'To be, or not to be, that is the question.\n');
  const again = JSON.parse((await runCli(['advise', file, '--json'], undefined, env)).stdout);
  assert.ok(again.capacity.trained_tokens > 0 && again.capacity.trained_tokens < 100);
});

test('advise on an invalid file: its file:line problems, exit 2', async () => {
  const { file, env } = setup('  "lora": { "r": 0 }');
  const r = await runCli(['advise', file], undefined, env);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /a\.lora\.json:5: \/lora\/r: must be >= 1/);
});

test('train prints the findings once, before the first step, and writes them to log.txt', async () => {
  const { dir, file, env } = setup(`  "training": { "lr_scheduler_type": "cosine", "max_steps": 2, "per_device_train_batch_size": 2, "eval_steps": 10, "save_steps": 10 },
  "device": "cpu"`);
  const r = await runCli(['train', file, '--runs-dir', join(dir, 'runs')], undefined, env);
  assert.equal(r.code, 0, r.stderr);
  const advice = r.stderr.split('\n').filter((l) => l.startsWith('advice: '));
  assert.equal(advice.length, 1);
  assert.match(advice[0], /^advice: info \[schedule\] lr_scheduler_type "cosine" gives cosine decay; .* \(Schulman & Thinking Machines Lab/);
  assert.ok(r.stderr.indexOf('advice: ') < r.stderr.indexOf('done: '));
  const runDir = join(dir, 'runs', readdirSync(join(dir, 'runs'))[0]);
  assert.equal(readFileSync(join(runDir, 'log.txt'), 'utf8').split('\n').filter((l) => l.includes('advice: ')).length, 1);
});
