// The expected text's tokens (expected.ts) with lm-evaluation-harness's target_delimiter: a text
// prompt and an expected text without whitespace between them get one space, so "Tom had a big
// red" + "ball" is scored as the tokens of "Tom had a big red ball" (▁b|all), not the glued
// "redball" (b|all). Token ids are checked against the model's vocabulary and the golden
// tokenizer case (llama2.c's own encoder); the runner hands the backend the delimited text; the
// summary keeps `mean.<metric>` (cases using the metric) apart from `mean_expected_nll` (all).
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { encodeExpected } from '../../../src/engine/eval/expected';
import { scoredExpected } from '../../../src/engine/eval/eval-set';
import { parseEvalSet } from '../../../src/engine/eval/eval-set';
import { type CaseResult, type EvalBackend, type EvalInput, runEvalSet, summarize } from '../../../src/engine/eval/run';
import { type Tokenizer, loadTokenizer } from '../../../src/engine/tokenizer/index';
import { SHARED } from '../../helpers/paths';

const MODEL = `${SHARED}/models/stories260K`;
const vocab = (JSON.parse(readFileSync(`${MODEL}/tokenizer.json`, 'utf8')) as { model: { vocab: Record<string, number> } }).model.vocab;
const goldenTok = JSON.parse(readFileSync(`${SHARED}/golden/stories260K_tokenizer.json`, 'utf8')) as { cases: { text: string; ids: number[] }[] };
const idsOf = (pieces: string[]) => pieces.map((p) => {
  const id = p === '<s>' ? 1 : vocab[p];
  assert.ok(id !== undefined, `${p} is in the vocabulary`);
  return id;
});
let tok: Tokenizer;
before(async () => {
  tok = await loadTokenizer(MODEL);
});

test('scoredExpected: one space between a text prompt and expected unless either side has the whitespace; chats untouched; target_delimiter overrides', () => {
  assert.equal(scoredExpected({ prompt: 'Tom had a big red' }, 'ball'), ' ball');
  assert.equal(scoredExpected({ prompt: 'Tom had a big red' }, ' ball'), ' ball');
  assert.equal(scoredExpected({ prompt: 'Tom had a big red ' }, 'ball'), 'ball');
  assert.equal(scoredExpected({ prompt: 'Q: 2+2?\n' }, '4'), '4');
  assert.equal(scoredExpected({ prompt: 'Tom had a big red' }, 'ball', ''), 'ball');
  assert.equal(scoredExpected({ prompt: 'Question: 2+2?' }, 'Answer: 4', '\n'), '\nAnswer: 4');
  assert.equal(scoredExpected({ prompt: '' }, 'ball'), 'ball');
  assert.equal(scoredExpected({ messages: [{ role: 'user', content: 'Hi' }] }, 'Hello'), 'Hello');
});

test('"Tom had a big red" + "ball": the delimited ids are the vocabulary\'s ▁b|all (as in the golden "big, red ball."), the glued ones b|all', () => {
  const input: EvalInput = { prompt: 'Tom had a big red' };
  const prompt = idsOf(['<s>', '▁T', 'om', '▁had', '▁a', '▁big', '▁r', 'ed']);
  const spaced = encodeExpected(tok, input, scoredExpected(input, 'ball'), 'stories260K');
  assert.deepEqual(spaced.ids, [...prompt, ...idsOf(['▁b', 'all'])]);
  assert.equal(spaced.start, prompt.length);
  // The golden encoder (llama2.c) writes "red ball" as ▁r|ed|▁b|all too.
  const long = goldenTok.cases.find((c) => c.text.includes('big, red ball.'))!;
  assert.ok(long.ids.join(',').includes(idsOf(['▁big', ',', '▁r', 'ed', '▁b', 'all', '.']).join(',')));
  const glued = encodeExpected(tok, input, scoredExpected(input, 'ball', ''), 'stories260K');
  assert.deepEqual(glued.ids, [...prompt, ...idsOf(['b', 'all'])]);
  assert.equal(glued.start, prompt.length);
});

/** A backend that records the expected text it is asked to score, and answers NLL = its length. */
class RecordingBackend implements EvalBackend {
  scored: string[] = [];
  async generate(_input: EvalInput, variants: readonly (string | null)[]): Promise<string[]> {
    return variants.map(() => ' ball');
  }
  async expectedNll(_input: EvalInput, expected: string, variants: readonly (string | null)[]): Promise<number[]> {
    this.scored.push(expected);
    return variants.map(() => expected.length);
  }
}

test('the runner scores the delimited text; $config and per-case target_delimiter override; chats and exact/contains do not depend on it', async () => {
  const set = parseEvalSet([
    { $config: { target_delimiter: '\n' } },
    { prompt: 'Tom had a big red', expected: 'ball' },
    { prompt: 'Tom had a big red', expected: 'ball', target_delimiter: ' ', metric: 'contains' },
    { prompt: 'Tom had a big red', expected: 'ball', target_delimiter: '' },
    { messages: [{ role: 'user', content: 'Hi' }], expected: 'ball' },
  ].map((x) => JSON.stringify(x)).join('\n'), 'a.eval.jsonl');
  assert.deepEqual(set.problems, []);
  assert.deepEqual(set.cases.map((c) => c.target_delimiter), ['\n', ' ', '', '\n']);
  const backend = new RecordingBackend();
  const [v] = await runEvalSet(set, [null], backend);
  assert.deepEqual(backend.scored, ['\nball', ' ball', 'ball', 'ball']);
  // The output " ball" passes exact and contains against "ball" (whitespace at the ends ignored).
  assert.deepEqual(v.cases.map((c) => c.passed), [true, true, true, true]);
});

test('target_delimiter of another type: one problem on its line, in a case and in $config', () => {
  const set = parseEvalSet([
    JSON.stringify({ prompt: 'a', expected: 'b', target_delimiter: 1 }),
    JSON.stringify({ prompt: 'a', expected: 'b', target_delimiter: null }),
  ].join('\n'), 'x.eval.jsonl');
  assert.deepEqual(set.problems.map((p) => p.line), [1, 2]);
  assert.match(set.problems[0].message, /^"target_delimiter" must be a string \(" " by default, "" to glue .*got 1$/);
  const cfg = parseEvalSet([JSON.stringify({ $config: { target_delimiter: [' '] } }), JSON.stringify({ prompt: 'a', expected: 'b' })].join('\n'), 'x.eval.jsonl');
  assert.deepEqual(cfg.problems.map((p) => [p.line, p.message.startsWith('"$config": "target_delimiter" must be a string')]), [[1, true]]);
});

test('summary: mean.<metric> averages the cases using that metric; mean_expected_nll every case with an NLL', () => {
  const r = (metric: CaseResult['metric'], score: number, nll: number | undefined): CaseResult => ({
    line: 1, name: 'c', output: metric === 'nll' ? null : 'x', expected: 'y', metric, threshold: metric === 'nll' ? 3 : 1,
    scores: { ...(nll === undefined ? {} : { nll }), [metric]: metric === 'nll' ? nll : score }, passed: true, duration_ms: 0,
  });
  const s = summarize([r('exact', 1, 8), r('exact', 0, 2), r('contains', 1, undefined), r('nll', 0, 1), r('nll', 0, 3)]);
  assert.deepEqual(s.mean, { exact: 0.5, contains: 1, nll: 2 }); // nll: (1 + 3) / 2, the nll cases only
  assert.equal(s.mean_expected_nll, (8 + 2 + 1 + 3) / 4); // every case that has an NLL
  assert.equal(summarize([r('exact', 1, undefined)]).mean_expected_nll, undefined);
});
