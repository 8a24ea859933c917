/** Loading errors: one-line TokenizerErrors naming the folder or file. */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadTokenizer, TokenizerError } from '../../../src/engine/tokenizer/index';
import { STORIES_DIR, TempModels, storiesTokenizerJson } from './helpers';

const models = new TempModels();
after(() => models.cleanup());

/** Asserts a promise rejects with a one-line TokenizerError whose message contains every part. */
async function rejectsWith(p: Promise<unknown>, ...parts: string[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof TokenizerError, `expected a TokenizerError, got ${String(e)}`);
    assert.equal(e.name, 'TokenizerError');
    for (const part of parts) assert.ok(e.message.includes(part), `"${e.message}" should mention ${part}`);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

describe('loadTokenizer errors', () => {
  test('missing tokenizer.json names the file and the folder', async () => {
    const dir = await models.make({ 'config.json': { model_type: 'llama' } });
    await rejectsWith(loadTokenizer(dir), 'tokenizer.json', dir);
  });

  test('tokenizer.json that is not JSON names the file', async () => {
    const dir = await models.make({ 'tokenizer.json': '{"version": "1.0", "model": ' });
    await rejectsWith(loadTokenizer(dir), join(dir, 'tokenizer.json'), 'not valid JSON');
  });

  test('tokenizer.json that is JSON but not an object', async () => {
    const dir = await models.make({ 'tokenizer.json': '[1, 2]' });
    await rejectsWith(loadTokenizer(dir), join(dir, 'tokenizer.json'), 'JSON object');
  });

  test('tokenizer.json without a model', async () => {
    const dir = await models.make({ 'tokenizer.json': { version: '1.0' } });
    await rejectsWith(loadTokenizer(dir), join(dir, 'tokenizer.json'), '"model"');
  });

  test('tokenizer.json with a model type the library does not know', async () => {
    const dir = await models.make({ 'tokenizer.json': { version: '1.0', added_tokens: [], model: { type: 'Mystery' } } });
    await rejectsWith(loadTokenizer(dir), join(dir, 'tokenizer.json'), '@huggingface/tokenizers');
  });

  test('bad JSON in tokenizer_config.json / config.json names that file', async () => {
    const tj = await storiesTokenizerJson();
    const a = await models.make({ 'tokenizer.json': tj, 'tokenizer_config.json': '{ add_bos_token: true }' });
    await rejectsWith(loadTokenizer(a), join(a, 'tokenizer_config.json'), 'not valid JSON');
    const b = await models.make({ 'tokenizer.json': tj, 'config.json': '' });
    await rejectsWith(loadTokenizer(b), join(b, 'config.json'), 'not valid JSON');
  });

  test('fields of the wrong type name the file and the field', async () => {
    const tj = await storiesTokenizerJson();
    const a = await models.make({ 'tokenizer.json': tj, 'tokenizer_config.json': { add_bos_token: 'yes' } });
    await rejectsWith(loadTokenizer(a), 'tokenizer_config.json', 'add_bos_token');
    const b = await models.make({ 'tokenizer.json': tj, 'tokenizer_config.json': { bos_token: 7 } });
    await rejectsWith(loadTokenizer(b), 'tokenizer_config.json', 'bos_token');
    const c = await models.make({ 'tokenizer.json': tj, 'generation_config.json': { eos_token_id: 'two' } });
    await rejectsWith(loadTokenizer(c), 'generation_config.json', 'eos_token_id');
  });

  test('a folder that does not exist, or a file instead of a folder', async () => {
    const missing = join(STORIES_DIR, 'no-such-folder');
    await rejectsWith(loadTokenizer(missing), missing, 'does not exist');
    const file = join(STORIES_DIR, 'tokenizer.json');
    await rejectsWith(loadTokenizer(file), file, 'not a folder');
  });

  test('the error keeps the file and the cause', async () => {
    const dir = await models.make({ 'tokenizer.json': 'nope' });
    const e = await loadTokenizer(dir).then(() => undefined, (err: unknown) => err);
    assert.ok(e instanceof TokenizerError);
    assert.equal(e.file, join(dir, 'tokenizer.json'));
    assert.ok(e.cause instanceof SyntaxError);
  });
});
