// Evaluation during training: an experiment's "eval" sets run at every checkpoint and their
// means land in the checkpoint step's metrics.jsonl row as eval/<set>/<metric>. The nll value is
// checked against the saved checkpoint scored by another path (full-forward graph with the loss
// output, no KV cache); a bad eval line stops the setup naming the file and line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runTraining } from '../../src/trainer/run';
import { readMetrics } from '../../src/runs/index';
import { CausalLM } from '../../src/engine/infer/causal-lm';
import { scoreTokens } from '../../src/engine/infer/score';
import { loadTokenizer } from '../../src/engine/tokenizer/index';
import { readPeftAdapter } from '../../src/engine/weights/peft';
import { MODEL, makeExperiment } from '../helpers/experiment';

const PROMPT = 'First Citizen:\nBefore we proceed any further,';
const EXPECTED = ' hear me speak.';

test('eval sets at every checkpoint: eval/<set>/<metric> in metrics.jsonl, nll matching the checkpoint', async () => {
  const exp = makeExperiment({ training: { max_steps: 4, save_steps: 2, eval_steps: 100 }, extra: { eval: { files: ['qa.eval.jsonl'] } } });
  writeFileSync(join(exp.dir, 'qa.eval.jsonl'), [
    { $config: { max_new_tokens: 4 } },
    { prompt: PROMPT, expected: EXPECTED, metric: 'rouge_l' },
    { prompt: PROMPT, expected: EXPECTED, metric: 'nll', threshold: 100 },
  ].map((x) => JSON.stringify(x)).join('\n'));
  const out = await runTraining({ experimentFile: exp.file, runsDir: exp.runsDir, threads: 1 });
  assert.equal(out.status, 'completed', out.error);
  const rows = await readMetrics(out.runDir);
  const withEval = rows.filter((r) => r['eval/qa/nll'] !== undefined);
  assert.deepEqual(withEval.map((r) => r.step), [2, 4]);
  for (const r of withEval) {
    assert.equal(r['eval/qa/pass_rate'] !== undefined && r['eval/qa/pass_rate'] >= 0.5, true); // the nll case passes (threshold 100)
    assert.ok(r['eval/qa/rouge_l']! >= 0 && r['eval/qa/rouge_l']! <= 1);
    assert.ok(r.train_loss !== undefined, 'the eval values share the step\'s training row');
  }
  // Reference: the step-4 checkpoint on the full-forward loss graph; mean NLL of the expected tokens.
  const tok = await loadTokenizer(MODEL);
  const joint = tok.encode(PROMPT + EXPECTED);
  const p = tok.encode(PROMPT);
  let start = 0;
  while (start < p.length && p[start] === joint[start]) start++;
  const dir = join(out.runDir, 'checkpoints', 'step-4');
  const lm = await CausalLM.load(MODEL, { adapter: { adapter: await readPeftAdapter(dir), source: dir }, outputs: { loss: true } });
  const s = await scoreTokens(lm, joint);
  await lm.release();
  const tail = s.nll.slice(start - 1);
  const ref = tail.reduce((a, b) => a + b, 0) / tail.length;
  assert.ok(Math.abs(withEval[1]['eval/qa/nll']! - ref) < 1e-4, `${withEval[1]['eval/qa/nll']} vs ${ref}`);
  assert.notEqual(withEval[0]['eval/qa/nll'], withEval[1]['eval/qa/nll']); // the adapter changed between checkpoints
  // Both cases score the same expected text, so the all-cases mean equals the reference too.
  assert.ok(Math.abs(withEval[1]['eval/qa/expected_nll']! - ref) < 1e-4, `${withEval[1]['eval/qa/expected_nll']} vs ${ref}`);
});

test('a bad eval line stops the run before it starts, naming the file and line', async () => {
  const exp = makeExperiment({ training: { max_steps: 2 }, extra: { eval: { files: ['bad.eval.jsonl'] } } });
  writeFileSync(join(exp.dir, 'bad.eval.jsonl'), '{"prompt": "x", "expected": "y"}\n{"prompt": "x", "expected": "y", "metric": "f1"}\n');
  await assert.rejects(runTraining({ experimentFile: exp.file, runsDir: exp.runsDir, threads: 1 }), /bad\.eval\.jsonl:2: "metric" "f1" is not a metric/);
});

test('chat cases on a model without a chat template (stories260K): skipped with one warning (terminal and log.txt), the text cases still run; a set of chat cases only stops the run', async () => {
  assert.equal((await loadTokenizer(MODEL)).chatTemplate, undefined); // the premise, read from the model folder
  const exp = makeExperiment({ training: { max_steps: 2, save_steps: 2, eval_steps: 100 }, extra: { eval: { files: ['mixed.eval.jsonl'] } } });
  writeFileSync(join(exp.dir, 'mixed.eval.jsonl'), [
    { prompt: PROMPT, expected: EXPECTED, metric: 'nll', threshold: 100 },
    { messages: [{ role: 'user', content: 'Who speaks?' }], expected: 'First Citizen' },
    { prompt: PROMPT, expected: EXPECTED, metric: 'rouge_l', max_new_tokens: 4 },
  ].map((x) => JSON.stringify(x)).join('\n'));
  const logged: string[] = [];
  const out = await runTraining({ experimentFile: exp.file, runsDir: exp.runsDir, threads: 1 }, { onLog: (l) => logged.push(l) });
  assert.equal(out.status, 'completed', out.error);
  const warning = /^warning: .*mixed\.eval\.jsonl:2: skipping the chat case \("messages", line 2\) because .*stories260K has no chat template .*running the other 2; write it as \{"prompt": "\.\.\."\}/;
  assert.equal(logged.filter((l) => warning.test(l)).length, 1, logged.join('\n'));
  assert.match(readFileSync(join(out.runDir, 'log.txt'), 'utf8'), /warning: .*mixed\.eval\.jsonl:2: skipping the chat case/);
  const [row] = (await readMetrics(out.runDir)).filter((r) => r['eval/mixed/pass_rate'] !== undefined);
  assert.equal(row.step, 2);
  assert.ok(row['eval/mixed/nll']! >= 0 && row['eval/mixed/rouge_l'] !== undefined, JSON.stringify(row)); // both text cases ran
  // Chat cases only: nothing to evaluate, so the setup stops naming the file and line.
  const chats = makeExperiment({ training: { max_steps: 2 }, extra: { eval: { files: ['chat.eval.jsonl'] } } });
  writeFileSync(join(chats.dir, 'chat.eval.jsonl'), `${JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }], expected: 'Hello' })}\n`);
  await assert.rejects(runTraining({ experimentFile: chats.file, runsDir: chats.runsDir, threads: 1 }), /chat\.eval\.jsonl:1: this case is a chat \("messages"\), but .*has no chat template/);
});

test('the checkpoint evaluator holds no model between checkpoints: it builds one at evaluate and releases it', async () => {
  // A folder with the model's config and tokenizer but no weights: creating the evaluator must
  // not read them (the trainer would otherwise hold a second copy of the weights all run long);
  // evaluating does, and fails naming the folder.
  const { CheckpointEvaluator } = await import('../../src/trainer/eval');
  const { copyFileSync, mkdtempSync, readdirSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'loralab-eval-lazy-'));
  try {
    for (const f of readdirSync(MODEL)) if (!f.endsWith('.safetensors')) copyFileSync(join(MODEL, f), join(dir, f));
    const set = join(dir, 'qa.eval.jsonl');
    writeFileSync(set, `${JSON.stringify({ prompt: PROMPT, expected: EXPECTED, metric: 'nll', threshold: 100 })}\n`);
    const ev = await CheckpointEvaluator.create([set], dir, { threads: 1, modules: [] });
    await assert.rejects(ev.evaluate({ config: { r: 1, lora_alpha: 1 }, modules: new Map() } as never), (e: Error) => e.message.includes(dir));
    await ev.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
