/** Exactly one BOS / EOS, whether the tokenizer.json post-processor or the config adds it. */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadTokenizer, Tokenizer, type TokenizerFiles } from '../../../src/engine/tokenizer/index';
import { TempModels, storiesTokenizerJson, templateProcessing, type Json } from './helpers';

const models = new TempModels();
after(() => models.cleanup());

const TEXT = 'Once upon a time';
const BODY = [403, 407, 261, 378];
const BOS = { token: '<s>', id: 1 };
const EOS = { token: '</s>', id: 2 };

/** A model folder with stories260K's tokenizer.json, its post-processor replaced. */
async function model(postProcessor: Json | null, tokenizerConfig?: Json, extra: Record<string, Json> = {}): Promise<string> {
  const tj = await storiesTokenizerJson();
  tj.post_processor = postProcessor;
  const files: Record<string, Json> = { 'tokenizer.json': tj, ...extra };
  if (tokenizerConfig) files['tokenizer_config.json'] = tokenizerConfig;
  return models.make(files);
}

const count = (ids: number[], id: number) => ids.filter((x) => x === id).length;

describe('BOS', () => {
  test('(a) post-processor adds <s> and add_bos_token true: one BOS', async () => {
    const tok = await loadTokenizer(await model(templateProcessing([BOS]), { add_bos_token: true, bos_token: '<s>', eos_token: '</s>' }));
    assert.deepEqual(tok.encode(TEXT), [1, ...BODY]);
    assert.equal(tok.addBos, true);
    assert.deepEqual(tok.encode(''), [1]);
  });

  test('(b) no post-processor and add_bos_token true: one BOS', async () => {
    const tok = await loadTokenizer(await model(null, { add_bos_token: true, bos_token: '<s>', eos_token: '</s>' }));
    assert.deepEqual(tok.encode(TEXT), [1, ...BODY]);
    assert.deepEqual(tok.encode(''), [1]);
  });

  test('(b2) post-processor key missing altogether, bos_token as an AddedToken object: one BOS', async () => {
    const tj = await storiesTokenizerJson();
    delete tj.post_processor;
    const dir = await models.make({
      'tokenizer.json': tj,
      'tokenizer_config.json': { add_bos_token: true, bos_token: { content: '<s>', lstrip: false, special: true }, eos_token: { content: '</s>' } },
    });
    const tok = await loadTokenizer(dir);
    assert.deepEqual(tok.encode(TEXT), [1, ...BODY]);
    assert.equal(tok.bosToken, '<s>');
  });

  test('(c) add_bos_token false and no post-processor BOS: none', async () => {
    const tok = await loadTokenizer(await model(null, { add_bos_token: false, bos_token: '<s>', eos_token: '</s>' }));
    assert.deepEqual(tok.encode(TEXT), BODY);
    assert.equal(tok.addBos, false);
    assert.equal(tok.bosTokenId, 1, 'the model still has a BOS id');
  });

  test('(c2) add_bos_token false overrides a post-processor that adds BOS: none', async () => {
    const tok = await loadTokenizer(await model(templateProcessing([BOS]), { add_bos_token: false, bos_token: '<s>' }));
    assert.deepEqual(tok.encode(TEXT), BODY);
  });

  test('no add_bos_token: the post-processor decides', async () => {
    const withPp = await loadTokenizer(await model(templateProcessing([BOS]), { bos_token: '<s>' }));
    assert.deepEqual(withPp.encode(TEXT), [1, ...BODY]);
    const withoutPp = await loadTokenizer(await model(null, { bos_token: '<s>', tokenizer_class: 'PreTrainedTokenizerFast' }));
    assert.deepEqual(withoutPp.encode(TEXT), BODY);
  });

  test('no add_bos_token, Llama tokenizer class: BOS by default (transformers LlamaTokenizerFast)', async () => {
    const tok = await loadTokenizer(await model(null, { tokenizer_class: 'LlamaTokenizerFast', bos_token: '<s>' }));
    assert.deepEqual(tok.encode(TEXT), [1, ...BODY]);
  });

  test('BOS id from config.json when tokenizer_config.json is absent', async () => {
    const tok = await loadTokenizer(await model(null, undefined, { 'config.json': { model_type: 'llama', bos_token_id: 1, eos_token_id: 2 } }));
    assert.equal(tok.bosTokenId, 1);
    assert.equal(tok.bosToken, '<s>');
    assert.deepEqual(tok.encode(TEXT), [1, ...BODY], 'llama model_type: BOS by default');
  });

  test('literal "<s>" at the start of the text is not mistaken for the added BOS', async () => {
    const tok = await loadTokenizer(await model(null, { add_bos_token: true, bos_token: '<s>' }));
    assert.equal(count(tok.encode('<s>Once'), 1), 2);
  });

  test('addSpecialTokens false: no BOS in any setup', async () => {
    for (const [pp, cfg] of [[templateProcessing([BOS]), { add_bos_token: true, bos_token: '<s>' }],
      [null, { add_bos_token: true, bos_token: '<s>' }]] as const) {
      const tok = await loadTokenizer(await model(pp, cfg));
      assert.deepEqual(tok.encode(TEXT, { addSpecialTokens: false }), BODY);
    }
  });

  test('add_bos_token true with no BOS token anywhere: TokenizerError naming tokenizer_config.json', async () => {
    const dir = await model(null, { add_bos_token: true });
    await assert.rejects(loadTokenizer(dir), (e: Error) =>
      e.name === 'TokenizerError' && e.message.includes('tokenizer_config.json') && e.message.includes('add_bos_token'));
  });
});

describe('EOS', () => {
  test('(d) add_eos_token true, no post-processor EOS: EOS once at the end', async () => {
    const tok = await loadTokenizer(await model(templateProcessing([BOS]), { add_bos_token: true, add_eos_token: true, bos_token: '<s>', eos_token: '</s>' }));
    const ids = tok.encode(TEXT);
    assert.deepEqual(ids, [1, ...BODY, 2]);
    assert.equal(count(ids, 2), 1);
    assert.equal(tok.addEos, true);
    assert.deepEqual(tok.encode(''), [1, 2]);
    assert.deepEqual(tok.encode(TEXT, { addSpecialTokens: false }), BODY);
  });

  test('(d2) add_eos_token true and the post-processor already adds EOS: once', async () => {
    const tok = await loadTokenizer(await model(templateProcessing([BOS], [EOS]), { add_bos_token: true, add_eos_token: true, bos_token: '<s>', eos_token: '</s>' }));
    assert.deepEqual(tok.encode(TEXT), [1, ...BODY, 2]);
  });

  test('(d3) add_eos_token true, no BOS at all: EOS only', async () => {
    const tok = await loadTokenizer(await model(null, { add_bos_token: false, add_eos_token: true, bos_token: '<s>', eos_token: '</s>' }));
    assert.deepEqual(tok.encode(TEXT), [...BODY, 2]);
  });

  test('add_eos_token false removes an EOS the post-processor adds', async () => {
    const tok = await loadTokenizer(await model(templateProcessing([BOS], [EOS]), { add_bos_token: true, add_eos_token: false, bos_token: '<s>', eos_token: '</s>' }));
    assert.deepEqual(tok.encode(TEXT), [1, ...BODY]);
  });

  test('eos_token_id list in generation_config.json: eosTokenIds has all, eosTokenId the tokenizer\'s', async () => {
    const tok = await loadTokenizer(await model(null, { eos_token: '</s>' }, {
      'config.json': { eos_token_id: 2, bos_token_id: 1 },
      'generation_config.json': { eos_token_id: [5, 2, 7] },
    }));
    assert.equal(tok.eosTokenId, 2);
    assert.deepEqual(tok.eosTokenIds, [2, 5, 7]);
  });

  test('eos_token_id list without a tokenizer eos_token: first entry is eosTokenId', async () => {
    const tok = await loadTokenizer(await model(null, undefined, { 'config.json': { eos_token_id: [2, 9] } }));
    assert.equal(tok.eosTokenId, 2);
    assert.deepEqual(tok.eosTokenIds, [2, 9]);
  });
});

describe('PAD', () => {
  test('pad_token in tokenizer_config.json (AddedToken object) wins', async () => {
    const tok = await loadTokenizer(await model(null, { eos_token: '</s>', pad_token: { content: '<unk>' } }));
    assert.equal(tok.padTokenId, 0);
    assert.equal(tok.padToken, '<unk>');
  });

  test('pad_token_id from generation_config.json, then config.json', async () => {
    const a = await loadTokenizer(await model(null, { eos_token: '</s>' }, {
      'generation_config.json': { pad_token_id: 5 }, 'config.json': { pad_token_id: 6 } }));
    assert.equal(a.padTokenId, 5);
    const b = await loadTokenizer(await model(null, { eos_token: '</s>' }, { 'config.json': { pad_token_id: 6 } }));
    assert.equal(b.padTokenId, 6);
  });

  test('no pad anywhere: EOS, and with no EOS either: 0', async () => {
    assert.equal((await loadTokenizer(await model(null, { eos_token: '</s>' }))).padTokenId, 2);
    const none = await loadTokenizer(await model(null));
    assert.equal(none.eosTokenId, undefined);
    assert.deepEqual(none.eosTokenIds, []);
    assert.equal(none.padTokenId, 0);
  });
});

describe('in-memory construction', () => {
  test('new Tokenizer(files) works without a folder', async () => {
    const files: TokenizerFiles = { tokenizerJson: await storiesTokenizerJson(), tokenizerConfig: { add_bos_token: true, bos_token: '<s>' } };
    const tok = new Tokenizer(files);
    assert.deepEqual(tok.encode(TEXT), [1, ...BODY]);
    assert.equal(tok.modelMaxLength, undefined);
  });

  test('"unlimited" model_max_length (int(1e30)) reads as undefined', async () => {
    const tok = new Tokenizer({ tokenizerJson: await storiesTokenizerJson(), tokenizerConfig: { model_max_length: 1e30 } });
    assert.equal(tok.modelMaxLength, undefined);
  });
});
