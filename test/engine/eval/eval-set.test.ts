// Eval-set parsing: $config defaults, per-case overrides, and every bad line reported with its
// line number (blank lines counted) while the good cases are still returned.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EvalSetError, assertChatTemplate, assertNoProblems, parseEvalSet, withoutChatCases } from '../../../src/engine/eval/eval-set';

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
  assert.match(msg(9), /unknown key "expect" \(did you mean "expected"\?\)/);
  // Eleven bad lines: the first ten listed one per line, in order, then the count of the rest.
  assert.throws(() => assertNoProblems(set), (e: Error) => {
    assert.ok(e instanceof EvalSetError);
    const out = e.message.split('\n');
    assert.equal(out.length, 11);
    assert.deepEqual(out.slice(0, 10).map((l) => l.match(/^bad\.eval\.jsonl:(\d+): /)?.[1]), ['2', '3', '4', '6', '7', '8', '9', '10', '11', '12']);
    assert.equal(out[10], 'bad.eval.jsonl: and 1 more problem; fix the lines above and run again');
    return true;
  });
});

test('assertNoProblems lists every bad line when there are at most ten; none: no throw', () => {
  const set = parseEvalSet(lines({ prompt: 'a' }, { prompt: 'ok', expected: 'x' }, { prompt: 'b', expected: 1 }, '[]'), 'f.eval.jsonl');
  assert.throws(() => assertNoProblems(set), (e: Error) => {
    assert.deepEqual(e.message.split('\n'), [
      'f.eval.jsonl:1: missing "expected": add the text the model should produce',
      'f.eval.jsonl:3: "expected" must be a string, got 1',
      'f.eval.jsonl:4: a case must be a JSON object like {"prompt": "...", "expected": "..."}',
    ]);
    return true;
  });
  const many = parseEvalSet(Array.from({ length: 14 }, () => '{').join('\n'), 'm.eval.jsonl');
  assert.throws(() => assertNoProblems(many), (e: Error) => e.message.split('\n').length === 11 && e.message.endsWith('m.eval.jsonl: and 4 more problems; fix the lines above and run again'));
  assert.doesNotThrow(() => assertNoProblems(parseEvalSet(lines({ prompt: 'a', expected: 'b' }), 'ok.eval.jsonl')));
});

test('did you mean: unknown case and $config keys, unknown metric names; no guess for a far-off word', () => {
  const set = parseEvalSet(lines(
    { $config: { max_new_token: 8 } },
    { promt: 'x', expected: 'y' },
    { prompt: 'x', expected: 'y', metric: 'contain' },
    { prompt: 'x', expected: 'y', metric: 'rougel' },
    { prompt: 'x', expected: 'y', banana: 1 },
  ), 'd.eval.jsonl');
  const msg = (line: number) => set.problems.find((p) => p.line === line)!.message;
  assert.match(msg(1), /^"\$config" has unknown key "max_new_token" \(did you mean "max_new_tokens"\?\); known keys: /);
  assert.match(msg(2), /^unknown key "promt" \(did you mean "prompt"\?\); a case has /);
  assert.match(msg(3), /^"metric" "contain" is not a metric \(did you mean "contains"\?\); use one of /);
  assert.match(msg(4), /^"metric" "rougel" is not a metric \(did you mean "rouge_l"\?\)/);
  assert.match(msg(5), /^unknown key "banana"; a case has /);
});

test('a threshold outside its metric\'s range is a problem on its line ([0, 1] for the match scores, ≥ 0 for nll)', () => {
  const set = parseEvalSet(lines(
    { $config: { metric: 'rouge_l', threshold: 1.5 } },
    { prompt: 'a', expected: 'b', metric: 'exact', threshold: 2 },
    { prompt: 'a', expected: 'b', metric: 'bleu', threshold: -0.1 },
    { prompt: 'a', expected: 'b', metric: 'nll', threshold: 2.5 }, // fine: nll is nats, not a fraction
    { prompt: 'a', expected: 'b', metric: 'nll', threshold: -1 },
    { prompt: 'a', expected: 'b', metric: 'contains', threshold: 0 }, // the ends of [0, 1] are in range
    { prompt: 'a', expected: 'b', metric: 'regex', threshold: 1 },
    { prompt: 'a', expected: 'b', threshold: 100 }, // exact (the default metric)
  ), 't.eval.jsonl');
  assert.deepEqual(set.problems.map((p) => p.line), [1, 2, 3, 5, 8]);
  const msg = (line: number) => set.problems.find((p) => p.line === line)!.message;
  assert.match(msg(1), /^"\$config": "threshold" 1\.5 is outside \[0, 1\], the range of metric "rouge_l" scores/);
  assert.match(msg(2), /^"threshold" 2 is outside \[0, 1\], the range of metric "exact" scores; use a value between 0 and 1 \(default 1\)$/);
  assert.match(msg(3), /^"threshold" -0\.1 is outside \[0, 1\], the range of metric "bleu"/);
  assert.match(msg(5), /^"threshold" -1 is below 0, but metric "nll" is a mean NLL/);
  assert.match(msg(8), /metric "exact"/);
  assert.deepEqual(set.cases.map((c) => [c.line, c.metric, c.threshold]), [[4, 'nll', 2.5], [6, 'contains', 0], [7, 'regex', 1]]);
  // A $config threshold without a metric is for exact; with metric nll any value ≥ 0 is fine.
  assert.deepEqual(parseEvalSet(lines({ $config: { threshold: 3 } }, { prompt: 'a', expected: 'b' }), 'u.eval.jsonl').problems.map((p) => p.line), [1]);
  assert.deepEqual(parseEvalSet(lines({ $config: { metric: 'nll', threshold: 3 } }, { prompt: 'a', expected: 'b' }), 'v.eval.jsonl').problems, []);
});

test('assertChatTemplate: a chat case on a model without a chat template names the file and the first chat line; prompts only or a template: fine', () => {
  const set = parseEvalSet(lines(
    { prompt: 'a', expected: 'b' },
    { messages: [{ role: 'user', content: 'Hi' }], expected: 'Hello' },
    { messages: [{ role: 'user', content: 'Bye' }], expected: 'Bye' },
  ), 'chat.eval.jsonl');
  assert.throws(() => assertChatTemplate(set, 'models/base', false), (e: Error) =>
    e instanceof EvalSetError && !e.message.includes('\n') &&
    /^chat\.eval\.jsonl:2: this case is a chat \("messages"\), but models\/base has no chat template .*\(1 more chat case after it\); write it as \{"prompt": "\.\.\."\}/.test(e.message));
  assert.doesNotThrow(() => assertChatTemplate(set, 'models/chat', true));
  assert.doesNotThrow(() => assertChatTemplate(parseEvalSet(lines({ prompt: 'a', expected: 'b' }), 'p.eval.jsonl'), 'models/base', false));
});

test('withoutChatCases (training): chat cases skipped with one warning line naming the file, lines and what to do; all chat: refused; a template: nothing skipped', () => {
  const set = parseEvalSet(lines(
    { prompt: 'a', expected: 'b' },
    { messages: [{ role: 'user', content: 'Hi' }], expected: 'Hello' },
    { prompt: 'c', expected: 'd' },
    { messages: [{ role: 'user', content: 'Bye' }], expected: 'Bye' },
  ), 'mixed.eval.jsonl');
  const r = withoutChatCases(set, 'models/base', false);
  assert.deepEqual(r.set.cases.map((c) => c.line), [1, 3]);
  assert.equal(r.set.file, 'mixed.eval.jsonl');
  assert.equal(r.warning, 'warning: mixed.eval.jsonl:2: skipping 2 chat cases ("messages", lines 2, 4) because models/base has no chat template (a base model?), running the other 2; write them as {"prompt": "..."} to evaluate them too');
  assert.deepEqual(set.cases.map((c) => c.line), [1, 2, 3, 4]); // the parsed set is left as it was
  const one = withoutChatCases(parseEvalSet(lines({ messages: [{ role: 'user', content: 'Hi' }], expected: 'Hello' }, { prompt: 'a', expected: 'b' }), 'one.eval.jsonl'), 'm', false);
  assert.match(one.warning!, /^warning: one\.eval\.jsonl:1: skipping the chat case \("messages", line 1\) because m has no chat template .*running the other 1; write it as/);
  assert.deepEqual(withoutChatCases(set, 'models/chat', true), { set, warning: null });
  const prompts = parseEvalSet(lines({ prompt: 'a', expected: 'b' }), 'p.eval.jsonl');
  assert.deepEqual(withoutChatCases(prompts, 'models/base', false), { set: prompts, warning: null });
  const allChat = parseEvalSet(lines({ messages: [{ role: 'user', content: 'Hi' }], expected: 'Hello' }, { messages: [{ role: 'user', content: 'Yo' }], expected: 'Yo' }), 'chat.eval.jsonl');
  assert.throws(() => withoutChatCases(allChat, 'models/base', false), (e: Error) =>
    e instanceof EvalSetError && !e.message.includes('\n') && /^chat\.eval\.jsonl:1: this case is a chat \("messages"\), but models\/base has no chat template/.test(e.message));
});

test('an empty file is one problem on line 1', () => {
  const set = parseEvalSet('\n\n', 'e.eval.jsonl');
  assert.deepEqual(set.problems, [{ line: 1, message: 'the eval set has no case; add lines like {"prompt": "...", "expected": "..."}' }]);
});

test('"expected" empty or only whitespace is a problem for every metric (nll included: no token to score)', () => {
  const set = parseEvalSet(lines(
    { prompt: 'a', expected: '' },
    { prompt: 'a', expected: ' \n', metric: 'contains' },
    { prompt: 'a', expected: '', metric: 'regex' },
    { prompt: 'a', expected: '', metric: 'rouge_l' },
    { prompt: 'a', expected: '\t', metric: 'bleu' },
    { prompt: 'a', expected: '', metric: 'nll', threshold: 2 },
    { messages: [{ role: 'user', content: 'Hi' }], expected: ' ' },
    { prompt: 'a', expected: ' b ' }, // fine: a word with spaces around it
  ), 'empty.eval.jsonl');
  assert.deepEqual(set.cases.map((c) => c.line), [8]);
  assert.deepEqual(set.problems.map((p) => p.line), [1, 2, 3, 4, 5, 6, 7]);
  assert.throws(() => assertNoProblems(set), (e: Error) => {
    const out = e.message.split('\n');
    assert.equal(out[0], 'empty.eval.jsonl:1: "expected" is empty; write the text the model should produce');
    assert.equal(out[1], 'empty.eval.jsonl:2: "expected" is empty (only whitespace); write the text the model should produce');
    assert.equal(out[5], 'empty.eval.jsonl:6: "expected" is empty; write the text the model should produce');
    return true;
  });
});

test('"stop": one string is a list of one; [""] and non-strings are problems on their line', () => {
  const set = parseEvalSet(lines(
    { $config: { stop: '###' } },
    { prompt: 'a', expected: 'b' },
    { prompt: 'a', expected: 'b', stop: '\n' },
    { prompt: 'a', expected: 'b', stop: ['\n', ''] },
    { prompt: 'a', expected: 'b', stop: 3 },
  ), 'stop.eval.jsonl');
  assert.deepEqual(set.cases.map((c) => [c.line, c.generation.stop]), [[2, ['###']], [3, ['\n']]]);
  const msg = (line: number) => set.problems.find((p) => p.line === line)!.message;
  assert.deepEqual(set.problems.map((p) => p.line), [4, 5]);
  assert.equal(msg(4), '"stop" must not contain "": an empty text matches at once, so nothing would be generated; remove it ("stop": [] for no stop string)');
  assert.equal(msg(5), '"stop" must be a string or a list of strings, got 3');
  const cfg = parseEvalSet(lines({ $config: { stop: [''] } }, { prompt: 'a', expected: 'b' }), 'c.eval.jsonl');
  assert.match(cfg.problems[0].message, /^"\$config": "stop" must not contain ""/);
});
