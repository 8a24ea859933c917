// Eval metrics against values worked out by hand from the published definitions: ROUGE-L (Lin
// 2004, section 3.1, including the paper's own "police killed the gunman" example) and sentence
// BLEU (Papineni et al. 2002, with sacrebleu's exp smoothing and effective order).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerPrefixMatch, bleu, bleuTokens, lcsLength, passes, rougeL, rougeTokens, textScore } from '../../../src/engine/eval/metrics';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test('tokenizers: ROUGE lower-cases and drops punctuation; BLEU keeps case and splits punctuation off', () => {
  assert.deepEqual(rougeTokens('The Cat, sat.'), ['the', 'cat', 'sat']);
  assert.deepEqual(bleuTokens('Hello, world!'), ['Hello', ',', 'world', '!']);
  assert.deepEqual(rougeTokens('Ünïcode ok 42'), ['ünïcode', 'ok', '42']);
});

test('LCS length', () => {
  assert.equal(lcsLength(['a', 'b', 'c', 'b', 'd', 'a', 'b'], ['b', 'd', 'c', 'a', 'b', 'a']), 4); // CLRS: "bcba"
  assert.equal(lcsLength([], ['a']), 0);
});

test('ROUGE-L: Lin 2004 example sentences (R = P = LCS/4)', () => {
  // S1 "police killed the gunman"; S2 "police kill the gunman": LCS "police the gunman" = 3 → 0.75.
  close(rougeL('police kill the gunman', 'police killed the gunman').f, 0.75);
  // S3 "the gunman kill police": LCS "the gunman" = 2 → 0.5.
  close(rougeL('the gunman kill police', 'police killed the gunman').f, 0.5);
});

test('ROUGE-L: unequal lengths, β = 1 and β = 2', () => {
  // LCS 3, P = 3/3, R = 3/6: F1 = 2·0.5·1/(0.5 + 1) = 2/3; Fβ=2 = 5·0.5·1/(0.5 + 4) = 5/9.
  const r = rougeL('the cat sat', 'the cat sat on the mat');
  close(r.precision, 1);
  close(r.recall, 0.5);
  close(r.f, 2 / 3);
  close(rougeL('the cat sat', 'the cat sat on the mat', 2).f, 5 / 9);
  close(rougeL('The Cat', 'the cat.').f, 1);
  assert.equal(rougeL('', 'the cat').f, 0);
  assert.equal(rougeL('dog', 'the cat').f, 0);
});

test('BLEU: identical text scores 1; empty output 0', () => {
  close(bleu('the cat is on the mat', 'the cat is on the mat'), 1);
  assert.equal(bleu('', 'the cat'), 0);
});

test('BLEU: Papineni\'s "the the the …" example with exp smoothing', () => {
  // c = 7, r = 6 (BP 1). p1 = 2/7 (clipped); no bigram/trigram/4-gram match:
  // p2 = 1/(2·6), p3 = 1/(4·5), p4 = 1/(8·4). BLEU = (2/7 · 1/12 · 1/20 · 1/32)^(1/4).
  close(bleu('the the the the the the the', 'the cat is on the mat'), Math.pow(2 / 7 / 12 / 20 / 32, 1 / 4));
});

test('BLEU: brevity penalty and effective order on a short output', () => {
  // c = 2, r = 6: p1 = p2 = 1, orders 3 and 4 absent; BP = exp(1 − 6/2) = e^−2.
  close(bleu('the cat', 'the cat sat on the mat'), Math.exp(-2));
  // One substitution in 6 tokens: p1 = 5/6, p2 = 3/5 ("the cat", "cat sat", "sat on"),
  // p3 = 2/4 ("the cat sat", "cat sat on"), p4 = 1/3 ("the cat sat on"); c = r, BP 1.
  close(bleu('the cat sat on a mat', 'the cat sat on the mat'), Math.pow((5 / 6) * (3 / 5) * (2 / 4) * (1 / 3), 1 / 4));
});

test('text scores and pass rules', () => {
  assert.equal(textScore('exact', '  Paris\n', 'Paris'), 1);
  assert.equal(textScore('exact', 'Paris.', 'Paris'), 0);
  assert.equal(textScore('contains', 'It is Paris, France', ' Paris '), 1);
  assert.equal(textScore('contains', 'It is Lyon', 'Paris'), 0);
  assert.equal(textScore('regex', 'answer: 42', '\\d+$'), 1);
  assert.equal(textScore('regex', 'answer: none', '\\d+$'), 0);
  assert.equal(passes('rouge_l', 0.5, 0.5), true);
  assert.equal(passes('rouge_l', 0.49, 0.5), false);
  assert.equal(passes('nll', 2.0, 2.5), true);
  assert.equal(passes('nll', 3.0, 2.5), false);
});

test('answerPrefixMatch (exact with the budget from expected): the output starts with expected and the match ends at a word boundary', () => {
  const yes: [string, string][] = [
    [' girl named Lily', 'girl'], // the model goes on after the word
    [' girl', 'girl'],
    ['girl.', 'girl'],
    [', there', ','], // punctuation answer written in one token, then the story goes on
    [',there', ','], // after punctuation anything is a boundary
    ['. She', '.'],
    [' Lily.', ' Lily. '], // expected trimmed at both ends, output's leading whitespace ignored
    ['\n girl', 'girl'],
    [' niña, dijo', 'niña'],
    [' 女孩。', '女孩'],
    [' 42 apples', '42'],
    [' Lily', 'Lily'],
  ];
  const no: [string, string][] = [
    [' girls', 'girl'], // "girl" ends inside the word "girls"
    [' gir', 'girl'],
    [' g', 'girl'],
    [' niñas', 'niña'], // letters beyond ASCII continue the word too
    [' Straßen', 'Straße'],
    [' 女孩子', '女孩'],
    [' 420', '42'],
    [' cafe\u0301', 'cafe'], // a combining accent belongs to the "e" before it
    [' boy', 'girl'],
    ['', 'girl'],
    [' girl', ''], // nothing to find
  ];
  for (const [o, e] of yes) assert.equal(answerPrefixMatch(o, e), true, `${JSON.stringify(o)} should pass for ${JSON.stringify(e)}`);
  for (const [o, e] of no) assert.equal(answerPrefixMatch(o, e), false, `${JSON.stringify(o)} should fail for ${JSON.stringify(e)}`);
  // textScore: only `exact` with answerPrefix uses it; plain exact stays whole-output equality.
  assert.equal(textScore('exact', ', there', ',', { answerPrefix: true }), 1);
  assert.equal(textScore('exact', ', there', ','), 0);
  assert.equal(textScore('exact', ' girls', 'girl', { answerPrefix: true }), 0);
  assert.equal(textScore('exact', ' girl ', 'girl'), 1);
});
