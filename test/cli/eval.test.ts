// `loralab eval` on stories260K against the golden values of an independent PyTorch
// implementation: the greedy continuation passes `exact` and a wrong one fails; the `nll` score
// equals the mean NLL of the expected tokens recomputed in float64 from the golden logits.
// Results of a run's adapter land in the run folder's evals/; a bad line exits 2 naming it.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadTokenizer } from '../../src/engine/tokenizer/index';
import { outputPreview } from '../../src/cli/eval';
import { runCli } from '../helpers/cli';
import { SHARED } from '../helpers/paths';
import { tempDir } from '../helpers/tmp';

const MODEL = `${SHARED}/models/stories260K`;
const ADAPTER = `${SHARED}/golden/adapters/stories260K_r4_a8`;
const golden = JSON.parse(readFileSync(`${SHARED}/golden/stories260K_logits.json`, 'utf8'));
const TMP = tempDir('loralab-eval-');
const EVAL = join(TMP, 'golden.eval.jsonl');
const NLL_PROMPT = 'Once upon a time,';
const NLL_EXPECTED = golden.prompt.slice(NLL_PROMPT.length) as string; // " there was a little girl named Lily."
let goldenNll = NaN;

before(async () => {
  writeFileSync(EVAL, [
    { $config: { max_new_tokens: golden.greedy.num_new_tokens } },
    { prompt: golden.prompt, expected: golden.greedy.continuation_text, name: 'golden continuation' },
    { prompt: golden.prompt, expected: 'She went to the moon.', name: 'wrong' },
    { prompt: NLL_PROMPT, expected: NLL_EXPECTED, metric: 'nll', threshold: 100 },
  ].map((x) => JSON.stringify(x)).join('\n'));
  // Reference: −log softmax(golden logits[t])[ids[t+1]] in float64, over the expected tokens.
  const tok = await loadTokenizer(MODEL);
  const ids: number[] = golden.token_ids;
  assert.deepEqual(tok.encode(golden.prompt), ids);
  const start = tok.encode(NLL_PROMPT).length; // the prompt's ids are a prefix of the joint ids here
  assert.deepEqual(ids.slice(0, start), tok.encode(NLL_PROMPT));
  let sum = 0;
  for (let t = start - 1; t < ids.length - 1; t++) {
    const row: number[] = golden.logits[t];
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
    sum += lse - row[ids[t + 1]];
  }
  goldenNll = sum / (ids.length - start);
});

type Out = { variants: { adapter: string | null; cases: { line: number; output: string | null; scores: Record<string, number>; passed: boolean }[]; summary: { cases: number; passed: number; pass_rate: number; mean: Record<string, number> } }[] };

test('--json: golden greedy continuation passes exact, a wrong expected fails, nll equals the golden-derived NLL', async () => {
  const r = await runCli(['eval', EVAL, '--model', MODEL, '--json']);
  assert.equal(r.code, 1, r.stderr); // one case fails
  const out = JSON.parse(r.stdout) as Out;
  assert.equal(out.variants.length, 1);
  const [v] = out.variants;
  assert.equal(v.adapter, null);
  assert.deepEqual(v.cases.map((c) => [c.line, c.passed]), [[2, true], [3, false], [4, true]]);
  assert.equal(v.cases[0].output, golden.greedy.continuation_text);
  assert.equal(v.cases[0].scores.exact, 1);
  assert.equal(v.cases[1].scores.exact, 0);
  assert.equal(v.cases[2].output, null);
  assert.ok(Math.abs(v.cases[2].scores.nll - goldenNll) < 1e-4, `${v.cases[2].scores.nll} vs golden ${goldenNll}`);
  assert.deepEqual({ cases: v.summary.cases, passed: v.summary.passed }, { cases: 3, passed: 2 });
  assert.equal(v.summary.mean.exact, 0.5);
});

test('a run\'s adapter: base and adapter tables on stdout (the start line and "saved" on stderr), results saved in the run folder evals/', async () => {
  const runDir = join(TMP, 'run-1');
  mkdirSync(runDir);
  writeFileSync(join(runDir, 'run.json'), '{}');
  cpSync(ADAPTER, join(runDir, 'adapter'), { recursive: true });
  const r = await runCli(['eval', EVAL, '--model', MODEL, '--base', '--adapter', join(runDir, 'adapter')]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /=== base model ===/);
  assert.match(r.stdout, /=== adapter .*run-1\/adapter ===/);
  assert.match(r.stdout, /passed 2\/3 \(66\.7%\)/);
  assert.doesNotMatch(r.stderr, /===|passed \d/); // the table is the result, not a note
  assert.match(r.stderr, /^eval .*golden\.eval\.jsonl: 3 cases × 2 variants/m);
  const saved = join(runDir, 'evals', 'golden.adapter.json');
  assert.match(r.stderr, new RegExp(`saved .*${'golden.adapter.json'.replace(/\./g, '\\.')}`));
  assert.doesNotMatch(r.stdout, /saved /);
  assert.ok(existsSync(saved), r.stderr);
  const json = JSON.parse(readFileSync(saved, 'utf8'));
  assert.equal(json.cases.length, 3);
  assert.ok(json.adapter.endsWith('run-1/adapter'));
});

test('a bad line: exit 2, one line naming the file and line', async () => {
  const bad = join(TMP, 'bad.eval.jsonl');
  writeFileSync(bad, `${JSON.stringify({ prompt: 'a', expected: 'b' })}\n{"prompt": "a"}\n`);
  const r = await runCli(['eval', bad, '--model', MODEL]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^loralab: error: .*bad\.eval\.jsonl:2: missing "expected"/);
});

test('several bad lines: exit 2, each listed with its line (did you mean, threshold range), not just the first', async () => {
  const bad = join(TMP, 'many-bad.eval.jsonl');
  writeFileSync(bad, [
    JSON.stringify({ prompt: 'a', expected: 'b' }),
    JSON.stringify({ prompt: 'a', expect: 'b' }),
    JSON.stringify({ prompt: 'a', expected: 'b', metric: 'rouge_l', threshold: 1.5 }),
    '{"prompt": ',
    JSON.stringify({ prompt: 'a', expected: 'b', metric: 'contain' }),
  ].join('\n'));
  const r = await runCli(['eval', bad, '--model', MODEL]);
  assert.equal(r.code, 2, r.stderr);
  const out = r.stderr.trim().split('\n');
  assert.equal(out.length, 4, r.stderr);
  assert.match(out[0], /^loralab: error: .*many-bad\.eval\.jsonl:2: unknown key "expect" \(did you mean "expected"\?\)/);
  assert.match(out[1], /^loralab: error: .*many-bad\.eval\.jsonl:3: "threshold" 1\.5 is outside \[0, 1\], the range of metric "rouge_l"/);
  assert.match(out[2], /^loralab: error: .*many-bad\.eval\.jsonl:4: not valid JSON/);
  assert.match(out[3], /^loralab: error: .*many-bad\.eval\.jsonl:5: "metric" "contain" is not a metric \(did you mean "contains"\?\)/);
  assert.doesNotMatch(r.stderr, /more problem/);
});

test('a chat case on a model without a chat template (stories260K): exit 2, one line naming the file and the line', async () => {
  const chat = join(TMP, 'chat.eval.jsonl');
  writeFileSync(chat, [
    JSON.stringify({ prompt: 'Once upon a time', expected: 'there' }),
    JSON.stringify({ messages: [{ role: 'user', content: 'Tell me a story' }], expected: 'Once' }),
  ].join('\n'));
  // Independent check of the premise: the model folder has no template.
  assert.equal((await loadTokenizer(MODEL)).chatTemplate, undefined);
  const r = await runCli(['eval', chat, '--model', MODEL]);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^loralab: error: .*chat\.eval\.jsonl:2: this case is a chat \("messages"\), but .*stories260K has no chat template/);
  assert.doesNotMatch(r.stderr, /at .*\.ts:\d+|onnxruntime|\[W:/);
});

/** Mean of −log softmax(golden logits[t])[ids[t+1]] in float64 over t = start−1 … T−2 (the tokens from `start` on). */
function goldenMeanNll(start: number): number {
  const ids: number[] = golden.token_ids;
  let sum = 0;
  for (let t = start - 1; t < ids.length - 1; t++) {
    const row: number[] = golden.logits[t];
    const max = Math.max(...row);
    sum += max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0)) - row[ids[t + 1]];
  }
  return sum / (ids.length - start);
}

test('target_delimiter: "…girl named" + "Lily." is scored as " Lily." (the golden ids, NLL from the golden logits); "" glues; the table shows a failing case\'s output and both means', async () => {
  const prompt = 'Once upon a time, there was a little girl named';
  const tok = await loadTokenizer(MODEL);
  const start = tok.encode(prompt).length;
  assert.deepEqual(golden.token_ids.slice(0, start), tok.encode(prompt)); // "▁Lily", "." follow in the golden ids
  const file = join(TMP, 'delimiter.eval.jsonl');
  writeFileSync(file, [
    { prompt, expected: 'Lily.', metric: 'nll', threshold: 100 },
    { prompt, expected: 'Lily.', metric: 'nll', threshold: 100, target_delimiter: '' },
    { prompt: golden.prompt, expected: 'She went to the moon.', name: 'wrong', max_new_tokens: 8 },
  ].map((x) => JSON.stringify(x)).join('\n'));
  const r = await runCli(['eval', file, '--model', MODEL, '--json']);
  assert.equal(r.code, 1, r.stderr);
  const [v] = (JSON.parse(r.stdout) as Out).variants;
  const want = goldenMeanNll(start);
  assert.ok(Math.abs(v.cases[0].scores.nll - want) < 1e-4, `${v.cases[0].scores.nll} vs golden ${want}`);
  assert.ok(Math.abs(v.cases[1].scores.nll - want) > 0.1, `glued "namedLily." (L|ily|.) scores other tokens: ${v.cases[1].scores.nll}`);
  const s = v.summary as Out['variants'][0]['summary'] & { mean_expected_nll: number };
  assert.ok(Math.abs(s.mean.nll - (v.cases[0].scores.nll + v.cases[1].scores.nll) / 2) < 1e-9); // the two nll cases
  const all = v.cases.map((c) => c.scores.nll);
  assert.ok(Math.abs(s.mean_expected_nll - all.reduce((a, b) => a + b, 0) / 3) < 1e-9, JSON.stringify(s)); // every case
  const table = await runCli(['eval', file, '--model', MODEL]);
  assert.equal(table.code, 1);
  const output = v.cases[2].output!;
  assert.ok(table.stdout.includes(`  expected "She went to the moon." · output ${JSON.stringify([...output].slice(0, 60).join(''))} · max_new_tokens 8 (set), stop "\\n"\n`), table.stdout);
  assert.match(table.stdout, /passed 2\/3 \(66\.7%\) {3}mean exact 0\.0000 {3}mean nll \d+\.\d{4} {3}mean NLL of expected \d+\.\d{4}/);
});

test('a failing exact case with the default budget: the table shows expected, output and the budget from expected; --json has the generation used', async () => {
  // Golden greedy after "…a little" is ▁g|ir|l (3 tokens, see run.test.ts); "b" is not what it writes.
  const file = join(TMP, 'budget.eval.jsonl');
  const prompt = 'Once upon a time, there was a little';
  writeFileSync(file, [{ prompt, expected: 'girl' }, { prompt, expected: 'b', name: 'one letter' }].map((x) => JSON.stringify(x)).join('\n'));
  const tok = await loadTokenizer(MODEL);
  const budget = tok.encode(`${prompt} b`).length - tok.encode(prompt).length;
  const r = await runCli(['eval', file, '--model', MODEL]);
  assert.equal(r.code, 1, r.stderr);
  const rows = r.stdout.split('\n');
  const i = rows.findIndex((l) => l.endsWith('one letter'));
  assert.match(rows[i], /^ {4}2 {2}exact .* NO {4}one letter$/);
  assert.match(rows[i + 1], new RegExp(`^ {7}expected "b" · output " g[^"]*" · max_new_tokens ${budget} \\(from expected\\), stop "\\\\n"$`));
  const j = await runCli(['eval', file, '--model', MODEL, '--json']);
  const cases = (JSON.parse(j.stdout) as { variants: { cases: { line: number; passed: boolean; generation: unknown }[] }[] }).variants[0].cases;
  assert.deepEqual(cases.map((c) => [c.line, c.passed, c.generation]), [
    [1, true, { max_new_tokens: 3, max_new_tokens_from: 'expected', stop: ['\n'] }],
    [2, false, { max_new_tokens: budget, max_new_tokens_from: 'expected', stop: ['\n'] }],
  ]);
});

test('outputPreview: one line (newlines escaped, leading space kept), at most 60 characters then …', () => {
  assert.equal(outputPreview(' ball\nand'), '" ball\\nand"');
  assert.equal(outputPreview('é'.repeat(61)), `"${'é'.repeat(60)}"…`);
  assert.equal(outputPreview('a'.repeat(60)), `"${'a'.repeat(60)}"`);
});
