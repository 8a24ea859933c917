// `loralab score` end to end (the CLI as a child process) against the golden values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { runCli } from '../helpers/cli';
import { SHARED } from '../helpers/paths';
import { tempDir } from '../helpers/tmp';

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

test('score with a NaN weight exits 1 naming the tensor, not 0 with "mean NLL: NaN"', async () => {
  const { copyFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { readPeftAdapter, writePeftAdapter } = await import('../../src/engine/weights/peft');
  const dir = tempDir('loralab-nan-');
  const ad = await readPeftAdapter(ADAPTER);
  (ad.modules.get('model.layers.2.self_attn.v_proj')!.B.data as Float32Array)[5] = NaN;
  await writePeftAdapter(dir, ad.config, ad.modules);
  const r = await runCli(['score', '--model', MODEL, '--adapter', dir, '--text', 'Once upon a time']);
  assert.equal(r.code, 1, r.stderr);
  assert.doesNotMatch(r.stderr + r.stdout, /mean NLL/);
  assert.match(r.stderr, /^loralab: error: .*adapter_model\.safetensors: tensor "model\.layers\.2\.self_attn\.v_proj\.lora_B" holds NaN; the weights are damaged/m);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  // The same for the base model's own weights.
  const model = tempDir('loralab-nan-model-');
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) copyFileSync(join(MODEL, f), join(model, f));
  const { SafetensorsFile, writeSafetensors } = await import('../../src/engine/weights/safetensors');
  const st = SafetensorsFile.openSync(join(MODEL, 'model.safetensors'));
  const tensors = Object.fromEntries(st.names().map((n) => [n, st.readSync(n)]));
  (tensors['model.norm.weight'].data as Float32Array)[0] = Infinity;
  await writeSafetensors(join(model, 'model.safetensors'), tensors, { format: 'pt' });
  const b = await runCli(['score', '--model', model, '--text', 'Once upon a time']);
  assert.equal(b.code, 1, b.stderr);
  assert.match(b.stderr, /model\.safetensors: tensor "model\.norm\.weight" holds Infinity/);
});
