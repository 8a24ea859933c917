// `loralab score` end to end (the CLI as a child process) against the golden values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { runCli } from '../helpers/cli';
import { SHARED } from '../helpers/paths';

const MODEL = `${SHARED}/models/stories260K`;
const ADAPTER = `${SHARED}/golden/adapters/stories260K_r4_a8`;
const logitsGolden = JSON.parse(readFileSync(`${SHARED}/golden/stories260K_logits.json`, 'utf8'));
const gradsGolden = JSON.parse(readFileSync(`${SHARED}/golden/stories260K_lora_grads.json`, 'utf8'));

/** NLL of token_ids[t+1] under the golden logits at position t (float64 log-softmax). */
function goldenNll(): number[] {
  const ids: number[] = logitsGolden.token_ids;
  return ids.slice(1).map((next, t) => {
    const row: number[] = logitsGolden.logits[t];
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0));
    return lse - row[next];
  });
}

test('score --json reproduces the NLLs implied by the golden logits within 2e-4', async () => {
  const r = await runCli(['score', '--model', MODEL, '--text', logitsGolden.prompt, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.token_ids, logitsGolden.token_ids);
  const want = goldenNll();
  assert.equal(out.nll.length, want.length);
  out.nll.forEach((n: number, i: number) => assert.ok(Math.abs(n - want[i]) <= 2e-4, `position ${i}: ${n} vs ${want[i]}`));
  const mean = want.reduce((a, b) => a + b, 0) / want.length;
  assert.ok(Math.abs(out.mean_nll - mean) <= 2e-4);
  assert.ok(Math.abs(out.perplexity - Math.exp(out.mean_nll)) < 1e-9);
});

test('score --adapter gives the golden LoRA loss as mean NLL within 1e-5', async () => {
  const r = await runCli(['score', '--model', MODEL, '--adapter', ADAPTER, '--text', gradsGolden.text, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.token_ids, gradsGolden.token_ids);
  assert.ok(Math.abs(out.mean_nll - gradsGolden.loss_value) <= 1e-5, `${out.mean_nll}`);
  // and the adapter really changes the result (base loss differs at the 1e-4 level)
  assert.ok(Math.abs(out.mean_nll - gradsGolden.base_model_loss_without_lora) > 1e-4);
});

test('sliding window: every token scored once; a window as long as the text equals full context', async () => {
  const text = readFileSync(`${SHARED}/data/tinyshakespeare.txt`, 'utf8').slice(0, 400);
  const full = JSON.parse((await runCli(['score', '--model', MODEL, '--file', '-', '--json'], text)).stdout);
  const windowed = JSON.parse((await runCli(['score', '--model', MODEL, '--file', '-', '--max-length', '32', '--json'], text)).stdout);
  assert.ok(full.token_ids.length > 64, 'text long enough for several windows');
  assert.deepEqual(windowed.token_ids, full.token_ids);
  assert.equal(windowed.nll.length, full.token_ids.length - 1);
  assert.ok(windowed.nll.every((x: number) => Number.isFinite(x) && x >= 0));
  // The first window (tokens 1..31) sees the same context as the full run.
  for (let i = 0; i < 31; i++) assert.ok(Math.abs(windowed.nll[i] - full.nll[i]) < 1e-5, `token ${i + 1}`);
  // Later tokens lose left context, so some NLLs differ.
  assert.ok(windowed.nll.slice(31).some((x: number, i: number) => Math.abs(x - full.nll[31 + i]) > 1e-3));
});

test('human output goes to stderr with a per-token table; stdout stays empty', async () => {
  const r = await runCli(['score', '--model', MODEL, '--text', 'Once upon a time']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /mean NLL: \d+\.\d+\s+perplexity: \d+\.\d+/);
  assert.match(r.stderr, /" upon"/);
});
