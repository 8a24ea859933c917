// Eval-set parsing: $config defaults, per-case overrides, and every bad line reported with its
// line number (blank lines counted) while the good cases are still returned.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EvalSetError, assertNoProblems, parseEvalSet } from '../../../src/engine/eval/eval-set';

const lines = (...l: unknown[]) => l.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join('\n');

test('$config defaults apply; case values win; defaults: exact, threshold 1', () => {
  const set = parseEvalSet(lines(
    { $config: { metric: 'rouge_l', threshold: 0.7, max_new_tokens: 16, stop: ['\n'] } },
    { prompt: 'A', expected: 'b' },
    '',
    { prompt: 'C', expected: 'd', metric: 'contains', max_new_tokens: 4, name: 'named' },
    { messages: [{ role: 'user', content: 'Hi there' }], expected: 'Hello', threshold: 0.2 },
  ), 'x.eval.jsonl');
  assert.deepEqual(set.problems, []);
  assert.deepEqual(set.cases.map((c) => [c.line, c.name, c.metric, c.threshold, c.generation.max_new_tokens]), [
    [2, 'A', 'rouge_l', 0.7, 16],
    [4, 'named', 'contains', 1, 4], // the $config threshold was for rouge_l: contains gets its own default
    [5, 'Hi there', 'rouge_l', 0.2, 16],
  ]);
  assert.deepEqual(set.cases[0].generation.stop, ['\n']);
  assert.deepEqual(set.cases[2].messages, [{ role: 'user', content: 'Hi there' }]);
  const plain = parseEvalSet(lines({ prompt: 'p', expected: 'e' }), 'y.eval.jsonl');
  assert.equal(plain.cases[0].metric, 'exact');
  assert.equal(plain.cases[0].threshold, 1);
});

test('bad lines are problems at their line; good lines still parse', () => {
  const set = parseEvalSet(lines(
    { prompt: 'ok', expected: 'fine' },
    '{"prompt": "x", "expected": ',
    { prompt: 'x' },
    { prompt: 'x', expected: 'y', metric: 'f1' },
    '',
    { prompt: 'x', messages: [], expected: 'y' },
    { prompt: 'x', expected: 'y', metric: 'nll' },
    { prompt: 'x', expected: '(unclosed', metric: 'regex' },
    { prompt: 'x', expect: 'y' },
    { $config: { metric: 'exact' } },
    { prompt: 'x', expected: 'y', temperature: -1 },
    { messages: [{ role: 'user' }], expected: 'y' },
    [1, 2],
  ), 'bad.eval.jsonl');
  assert.equal(set.cases.length, 1);
  assert.deepEqual(set.problems.map((p) => p.line), [2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13]);
  const msg = (line: number) => set.problems.find((p) => p.line === line)!.message;
  assert.match(msg(2), /^not valid JSON/);
  assert.match(msg(3), /missing "expected"/);
  assert.match(msg(4), /"metric" "f1" is not a metric; use one of exact, contains, regex, rouge_l, bleu, nll/);
  assert.match(msg(6), /exactly one of "prompt".*"messages"/);
  assert.match(msg(7), /metric "nll" needs a "threshold"/);
  assert.match(msg(8), /not a valid regular expression/);
  assert.match(msg(9), /unknown key "expect"/);
  assert.match(msg(10), /"\$config" must be on the first line/);
  assert.match(msg(11), /"temperature" must be a number ≥ 0, got -1/);
  assert.match(msg(12), /messages\[0\]\.content must be a string/);
  assert.match(msg(13), /must be a JSON object/);
  assert.throws(() => assertNoProblems(set), (e: Error) => e instanceof EvalSetError && /^bad\.eval\.jsonl:2: not valid JSON.*\(and 10 more problems\)$/.test(e.message));
});

test('an empty file is one problem on line 1', () => {
  const set = parseEvalSet('\n\n', 'e.eval.jsonl');
  assert.deepEqual(set.problems, [{ line: 1, message: 'the eval set has no case; add lines like {"prompt": "...", "expected": "..."}' }]);
});
