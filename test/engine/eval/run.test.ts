// How an eval case generates and what its metric sees (run.ts): the output is cut at the first
// stop string (src/engine/stop.ts, the cut `generate --stop` uses), and an `exact` case defaults to
// lm-evaluation-harness's answer semantics: stop at "\n" and a token budget of the expected
// text's length (`is_greedy`), the output passing when it starts with the expected text at a word
// boundary. Expectations are written by hand; the real-model check is against
// the golden greedy ids of an independent PyTorch run of stories260K.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { cutAtStop, firstStop } from '../../../src/engine/stop';
import { parseEvalSet } from '../../../src/engine/eval/eval-set';
import { EXACT_DEFAULT_STOP, caseGeneration, type EvalBackend, type EvalInput, runEvalSet } from '../../../src/engine/eval/run';
import type { EvalGeneration } from '../../../src/engine/eval/eval-set';
import { LocalEvalBackend } from '../../../src/engine/eval/local';
import { loadTokenizer } from '../../../src/engine/tokenizer/index';
import { SHARED } from '../../helpers/paths';

const MODEL = `${SHARED}/models/stories260K`;
const golden = JSON.parse(readFileSync(`${SHARED}/golden/stories260K_logits.json`, 'utf8')) as { prompt: string; token_ids: number[]; argmax_per_position: number[] };

const lines = (...xs: object[]) => xs.map((x) => JSON.stringify(x)).join('\n');

test('stop strings: the text ends before the earliest one; none found or none given leaves it whole; "" is ignored', () => {
  assert.equal(cutAtStop('girl\nnext', ['\n']), 'girl');
  assert.equal(cutAtStop(' girl named Lily.\n\nOnce', ['\n\n', '.']), ' girl named Lily');
  assert.equal(cutAtStop('a, b. c', ['.', ',']), 'a'); // earliest position wins, not list order
  assert.equal(cutAtStop('no stop here', ['\n']), 'no stop here');
  assert.equal(cutAtStop('text', []), 'text');
  assert.equal(cutAtStop('text', ['']), 'text');
  assert.equal(cutAtStop('\nleading', ['\n']), '');
  assert.equal(firstStop('ab<END>cd<END>', ['<END>']), 2);
  assert.equal(firstStop('abc', ['x']), -1);
});

test('caseGeneration: an exact case defaults to stop ["\\n"] and max_new_tokens = the expected tokens; set values and other metrics are kept', () => {
  const set = parseEvalSet(lines(
    { $config: { temperature: 0 } },
    { prompt: 'p', expected: 'girl' },
    { prompt: 'p', expected: 'girl', stop: [] },
    { prompt: 'p', expected: 'girl', stop: ['.'], max_new_tokens: 9 },
    { prompt: 'p', expected: 'line one\nline two' },
    { prompt: 'p', expected: 'girl', metric: 'contains' },
    { prompt: 'p', expected: 'girl', metric: 'rouge_l', threshold: 0.1 },
  ), 'g.eval.jsonl');
  assert.deepEqual(set.problems, []);
  const [plain, noStop, both, multiLine, contains, rouge] = set.cases;
  assert.deepEqual(EXACT_DEFAULT_STOP, ['\n']);
  assert.deepEqual(caseGeneration(plain, 3), { temperature: 0, stop: ['\n'], max_new_tokens: 3 });
  assert.deepEqual(caseGeneration(plain, null), { temperature: 0, stop: ['\n'] }); // count unknown: the backend's budget
  assert.deepEqual(caseGeneration(plain, 0), { temperature: 0, stop: ['\n'] });
  assert.deepEqual(caseGeneration(noStop, 3), { temperature: 0, stop: [], max_new_tokens: 3 });
  assert.deepEqual(caseGeneration(both, 3), { temperature: 0, stop: ['.'], max_new_tokens: 9 });
  assert.deepEqual(caseGeneration(multiLine, 5), { temperature: 0, max_new_tokens: 5 });
  assert.deepEqual(caseGeneration(contains, 3), { temperature: 0 });
  assert.deepEqual(caseGeneration(rouge, 3), { temperature: 0 });
  // $config stop counts as set.
  const cfg = parseEvalSet(lines({ $config: { stop: ['###'] } }, { prompt: 'p', expected: 'girl' }), 'c.eval.jsonl');
  assert.deepEqual(caseGeneration(cfg.cases[0], 1), { stop: ['###'], max_new_tokens: 1 });
});

/** A generator that ignores stop strings and budgets (returns `text` whole) and records what it was asked. */
class FakeBackend implements EvalBackend {
  asked: EvalGeneration[] = [];
  expectedTokenCount?: () => Promise<number>;
  constructor(private readonly text: string, tokens?: number) {
    if (tokens !== undefined) this.expectedTokenCount = async () => tokens;
  }
  async generate(_input: EvalInput, variants: readonly (string | null)[], g: EvalGeneration): Promise<string[]> {
    this.asked.push(g);
    return variants.map(() => this.text);
  }
  async expectedNll(): Promise<null> {
    return null;
  }
}

test('the runner scores the output cut at the stop string: "girl\\nnext" passes exact "girl"; "stop": [] keeps the whole output (fails with max_new_tokens set)', async () => {
  const set = parseEvalSet(lines(
    { prompt: 'Once upon a time there was a little', expected: 'girl' },
    { prompt: 'Once upon a time there was a little', expected: 'girl', stop: [], max_new_tokens: 1 },
    { prompt: 'Once upon a time there was a little', expected: 'girl', metric: 'contains' },
  ), 's.eval.jsonl');
  const backend = new FakeBackend(' girl\nnext day', 1);
  const [v] = await runEvalSet(set, [null], backend);
  assert.deepEqual(v.cases.map((c) => [c.output, c.passed]), [[' girl', true], [' girl\nnext day', false], [' girl\nnext day', true]]);
  assert.deepEqual(backend.asked, [{ stop: ['\n'], max_new_tokens: 1 }, { stop: [], max_new_tokens: 1 }, {}]);
});

test('default budget: the output passes when it starts with expected at a word boundary (", there" for ","; not " girls" for "girl"); a set max_new_tokens compares the whole output', async () => {
  const cases = [
    { prompt: 'Once upon a time', expected: ',', out: ', there', pass: true },
    { prompt: '…girl named Lily', expected: '.', out: '. She', pass: true },
    { prompt: '…a little', expected: 'girl', out: ' girl named', pass: true },
    { prompt: '…a little', expected: 'girl', out: ' girls', pass: false },
    { prompt: '…a little', expected: 'girl', out: ' g', pass: false },
    { prompt: 'Había una', expected: 'niña', out: ' niñas', pass: false },
    { prompt: 'Había una', expected: 'niña', out: ' niña que', pass: true },
    // The strict meaning when the case sets the budget: the model must end its answer there.
    { prompt: 'Once upon a time', expected: ',', out: ', there', pass: false, max_new_tokens: 2 },
    { prompt: 'Once upon a time', expected: ',', out: ',', pass: true, max_new_tokens: 1 },
  ];
  for (const { out, pass, ...c } of cases) {
    const set = parseEvalSet(lines({ ...c }), 'p.eval.jsonl');
    const backend = new FakeBackend(out, 2);
    const [v] = await runEvalSet(set, [null], backend);
    assert.equal(v.cases[0].passed, pass, `${JSON.stringify(out)} for ${JSON.stringify(c.expected)}${c.max_new_tokens ? ` (max_new_tokens ${c.max_new_tokens})` : ''}`);
    assert.equal(v.cases[0].output, out); // the output is reported whole
  }
});

test('each result records the generation used: budget and where it came from, stop; none for an nll case', async () => {
  const set = parseEvalSet(lines(
    { prompt: 'p', expected: 'girl' },
    { prompt: 'p', expected: 'girl', max_new_tokens: 8, stop: '.' },
    { prompt: 'p', expected: 'girl', metric: 'contains' },
    { prompt: 'p', expected: 'girl', metric: 'nll', threshold: 9 },
  ), 'u.eval.jsonl');
  const backend = Object.assign(new FakeBackend(' g', 2), { defaultMaxNewTokens: 128, expectedNll: async (_i: EvalInput, _e: string, vs: readonly (string | null)[]) => vs.map(() => 1) });
  const [v] = await runEvalSet(set, [null], backend);
  assert.deepEqual(v.cases.map((c) => c.generation), [
    { max_new_tokens: 2, max_new_tokens_from: 'expected', stop: ['\n'] },
    { max_new_tokens: 8, max_new_tokens_from: 'set', stop: ['.'] },
    { max_new_tokens: 128, max_new_tokens_from: 'default', stop: [] },
    undefined,
  ]);
  // A backend that does not say its default budget: null.
  const [w] = await runEvalSet(parseEvalSet(lines({ prompt: 'p', expected: 'girl', metric: 'contains' }), 'w.eval.jsonl'), [null], new FakeBackend(' g'));
  assert.deepEqual(w.cases[0].generation, { max_new_tokens: null, max_new_tokens_from: 'default', stop: [] });
});

test('stories260K: "Once upon a time" + exact "," passes with the default budget although " ," counts 2 tokens and greedy writes ", there"', async () => {
  const tok = await loadTokenizer(MODEL);
  const vocab = (JSON.parse(readFileSync(`${MODEL}/tokenizer.json`, 'utf8')) as { model: { vocab: Record<string, number> } }).model.vocab;
  const prompt = 'Once upon a time';
  const p = tok.encode(prompt);
  assert.deepEqual(golden.token_ids.slice(0, p.length), p);
  // Independent expectation: the golden (PyTorch) argmax after "time" is ",", after "," it is "▁there".
  assert.deepEqual(golden.argmax_per_position.slice(p.length - 1, p.length + 1), [vocab[','], vocab['▁there']]);
  assert.equal(golden.token_ids[p.length], vocab[',']); // so greedy decoding follows the golden ids
  // The vocabulary has no "▁," piece: the scored " ," is "▁" + "," (2 tokens).
  assert.equal(vocab['▁,'], undefined);
  // "…girl named Lily" + ".": golden argmax "." then "▁She".
  const lily = 'Once upon a time, there was a little girl named Lily';
  const q = tok.encode(lily);
  assert.deepEqual(golden.token_ids.slice(0, q.length), q);
  assert.deepEqual(golden.argmax_per_position.slice(q.length - 1, q.length + 1), [vocab['.'], vocab['▁She']]);
  const set = parseEvalSet(lines(
    { prompt, expected: ',' },
    { prompt: lily, expected: '.' },
    { prompt, expected: ',', max_new_tokens: 2 }, // strict: the model must end there, it goes on
    { prompt, expected: ',', max_new_tokens: 1 },
  ), 'comma.eval.jsonl');
  const backend = await LocalEvalBackend.load(MODEL, [], { threads: 1 });
  try {
    assert.equal(await backend.expectedTokenCount({ prompt }, ' ,'), 2);
    const [v] = await runEvalSet(set, [null], backend);
    assert.deepEqual(v.cases.map((c) => [c.output, c.passed]), [[', there', true], ['. She', true], [', there', false], [',', true]]);
    assert.deepEqual(v.cases[0].generation, { max_new_tokens: 2, max_new_tokens_from: 'expected', stop: ['\n'] });
  } finally {
    await backend.release();
  }
});

test('stories260K: "…there was a little" + exact "girl" passes with the default budget (the golden greedy tokens are ▁g|ir|l); with max_new_tokens 8 it fails (the model goes on)', async () => {
  const tok = await loadTokenizer(MODEL);
  const prompt = 'Once upon a time, there was a little';
  const p = tok.encode(prompt);
  assert.deepEqual(golden.token_ids.slice(0, p.length), p); // the prompt is a prefix of the golden ids
  // Independent expectation: PyTorch's argmax after "little", then after "▁g", "ir", is the
  // vocabulary's ▁g, ir, l: greedy decoding writes " girl" in 3 tokens, then goes on.
  const vocab = (JSON.parse(readFileSync(`${MODEL}/tokenizer.json`, 'utf8')) as { model: { vocab: Record<string, number> } }).model.vocab;
  const girl = ['▁g', 'ir', 'l'].map((piece) => vocab[piece]);
  assert.deepEqual(golden.argmax_per_position.slice(p.length - 1, p.length + 2), girl);
  assert.deepEqual(golden.token_ids.slice(p.length, p.length + 3), girl);
  const set = parseEvalSet(lines(
    { prompt, expected: 'girl' },
    { prompt, expected: 'girl', max_new_tokens: 8 },
  ), 'girl.eval.jsonl');
  const backend = await LocalEvalBackend.load(MODEL, [], { threads: 1 });
  try {
    assert.equal(await backend.expectedTokenCount({ prompt }, ' girl'), 3);
    const [v] = await runEvalSet(set, [null], backend);
    assert.equal(v.cases[0].output, ' girl');
    assert.equal(v.cases[0].passed, true);
    // Golden continues " named Lily." after "girl": 8 tokens hold more than "girl" and no line break.
    assert.ok(v.cases[1].output!.startsWith(' girl named Lily'), v.cases[1].output!);
    assert.equal(v.cases[1].passed, false);
  } finally {
    await backend.release();
  }
});
