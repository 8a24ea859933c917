/** stories260K against the golden tokenizer cases (ids from llama2.c's encode()). */
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { loadTokenizer, type Tokenizer } from '../../../src/engine/tokenizer/index';
import { GOLDEN_TOKENIZER, STORIES_DIR } from './helpers';

interface GoldenCase { text: string; ids: number[]; tokens: string[]; decoded: string }
const golden = JSON.parse(await readFile(GOLDEN_TOKENIZER, 'utf8')) as { description: string; cases: GoldenCase[] };

describe('stories260K golden cases', () => {
  let tok: Tokenizer;
  before(async () => { tok = await loadTokenizer(STORIES_DIR); });

  test('the golden file has its 36 cases, each starting with BOS', () => {
    assert.equal(golden.cases.length, 36);
    for (const c of golden.cases) assert.equal(c.ids[0], 1, JSON.stringify(c.text));
  });

  for (const c of golden.cases) {
    test(`case ${JSON.stringify(c.text).slice(0, 60)}`, () => {
      assert.deepEqual(tok.encode(c.text), c.ids, 'ids');
      assert.deepEqual(c.ids.map((id) => tok.idToToken(id)), c.tokens, 'tokens');
      assert.equal(tok.decode(c.ids, { skipSpecialTokens: true }), c.decoded, 'decoded');
      assert.equal(c.decoded, c.text);
      assert.deepEqual(tok.encode(c.text, { addSpecialTokens: false }), c.ids.slice(1), 'without BOS');
    });
  }
});

describe('stories260K settings', () => {
  let tok: Tokenizer;
  before(async () => { tok = await loadTokenizer(STORIES_DIR); });

  test('special tokens, vocab and limits come from the folder', () => {
    assert.equal(tok.vocabSize, 512);
    assert.equal(tok.bosTokenId, 1);
    assert.equal(tok.eosTokenId, 2);
    assert.deepEqual(tok.eosTokenIds, [2]);
    assert.equal(tok.padTokenId, 2, 'no pad token: falls back to EOS');
    assert.equal(tok.addBos, true);
    assert.equal(tok.addEos, false);
    assert.equal(tok.bosToken, '<s>');
    assert.equal(tok.eosToken, '</s>');
    assert.equal(tok.modelMaxLength, 512);
    assert.equal(tok.chatTemplate, undefined);
    assert.equal(tok.isSpecial(1), true);
    assert.equal(tok.isSpecial(403), false);
  });

  test('idToToken / tokenToId / tokenToString', () => {
    assert.equal(tok.idToToken(403), '▁Once');
    assert.equal(tok.tokenToId('▁Once'), 403);
    assert.equal(tok.idToToken(512), undefined);
    assert.equal(tok.idToToken(-1), undefined);
    assert.equal(tok.tokenToString(403), ' Once', 'keeps the leading space');
    assert.equal(tok.tokenToString(410), ' ');
    assert.equal(tok.tokenToString(426), '.');
    assert.equal(tok.tokenToString(13), '\n', 'byte token <0x0A>');
    assert.equal(tok.tokenToString(229), '<0xE2>', 'partial UTF-8 byte shows raw');
    assert.equal(tok.tokenToString(1), '<s>');
    assert.equal(tok.tokenToString(9999), '<id 9999?>');
  });

  test('tokenToString of every token of a sentence, joined, gives the text with its leading space', () => {
    const text = 'Once upon a time, there was a little girl named Lily.';
    const ids = tok.encode(text, { addSpecialTokens: false });
    assert.equal(ids.map((id) => tok.tokenToString(id)).join(''), ' ' + text);
  });

  test('decode: special tokens kept or skipped, empty list, unknown ids, bad ids', () => {
    assert.equal(tok.decode([1, 403, 2]), '<s> Once</s>');
    assert.equal(tok.decode([1, 403, 2], { skipSpecialTokens: true }), 'Once');
    assert.equal(tok.decode([]), '');
    assert.equal(tok.decode([1], { skipSpecialTokens: true }), '');
    assert.equal(tok.decode([403, 600, 407]), 'Once upon', 'ids beyond the vocab are skipped');
    assert.throws(() => tok.decode([1.5]), { name: 'TokenizerError' });
    assert.throws(() => tok.decode([-1]), { name: 'TokenizerError' });
  });

  test('spaces before punctuation survive a round trip (no clean-up by default)', () => {
    const text = 'Hello , world . ok ?';
    assert.equal(tok.decode(tok.encode(text), { skipSpecialTokens: true }), text);
  });

  test('literal special-token text encodes as the special token (HF behaviour)', () => {
    assert.deepEqual(tok.encode('hi</s>', { addSpecialTokens: false }), [270, 417, 2]);
  });
});
