/** Chat templates rendered with @huggingface/jinja. */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadTokenizer, TokenizerError } from '../../../src/engine/tokenizer/index';
import { STORIES_DIR, TempModels, storiesTokenizerJson, type Json } from './helpers';

const models = new TempModels();
after(() => models.cleanup());

const SIMPLE = "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}{{ eos_token }}{% endfor %}"
  + "{% if add_generation_prompt %}[assistant] {% endif %}";

/** TinyLlama-1.1B-Chat's template (Zephyr style), which relies on trim_blocks/lstrip_blocks. */
const TINYLLAMA = "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n"
  + "{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
  + "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n"
  + "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";

const CHAT = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Hi' },
  { role: 'assistant', content: 'Hello!' },
];

async function model(tokenizerConfig: Json, extra: Record<string, string> = {}): Promise<string> {
  return models.make({ 'tokenizer.json': await storiesTokenizerJson(), 'tokenizer_config.json': tokenizerConfig, ...extra });
}

describe('applyChatTemplate', () => {
  test('a string template gets messages, bos_token and eos_token', async () => {
    const tok = await loadTokenizer(await model({ bos_token: '<s>', eos_token: '</s>', chat_template: SIMPLE }));
    assert.equal(tok.chatTemplate, SIMPLE);
    assert.equal(tok.applyChatTemplate(CHAT), '<s>[system] Be brief.</s>[user] Hi</s>[assistant] Hello!</s>');
    assert.equal(tok.applyChatTemplate(CHAT.slice(0, 2), { addGenerationPrompt: true }),
      '<s>[system] Be brief.</s>[user] Hi</s>[assistant] ');
  });

  test('bos/eos given as AddedToken objects reach the template as strings', async () => {
    const tok = await loadTokenizer(await model({ bos_token: { content: '<s>' }, eos_token: { content: '</s>' }, chat_template: SIMPLE }));
    assert.equal(tok.applyChatTemplate([{ role: 'user', content: 'x' }]), '<s>[user] x</s>');
  });

  test('TinyLlama chat template renders as transformers does (trim_blocks, lstrip_blocks)', async () => {
    const tok = await loadTokenizer(await model({ bos_token: '<s>', eos_token: '</s>', chat_template: TINYLLAMA }));
    assert.equal(tok.applyChatTemplate([{ role: 'user', content: 'Hi' }], { addGenerationPrompt: true }),
      '<|user|>\nHi</s>\n<|assistant|>\n');
    assert.equal(tok.applyChatTemplate(CHAT),
      '<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello!</s>\n');
  });

  test('the rendered text encodes with exactly one BOS when special tokens are not added again', async () => {
    const tok = await loadTokenizer(await model({ add_bos_token: true, bos_token: '<s>', eos_token: '</s>', chat_template: SIMPLE }));
    const ids = tok.encode(tok.applyChatTemplate(CHAT), { addSpecialTokens: false });
    assert.equal(ids[0], 1);
    assert.equal(ids.filter((x) => x === 1).length, 1);
    assert.equal(ids.filter((x) => x === 2).length, 3);
  });

  test('a list of named templates: "default" is used', async () => {
    const tok = await loadTokenizer(await model({
      bos_token: '<s>', eos_token: '</s>',
      chat_template: [{ name: 'tool_use', template: 'TOOLS' }, { name: 'default', template: SIMPLE }],
    }));
    assert.equal(tok.chatTemplate, SIMPLE);
    assert.deepEqual(Object.keys(tok.chatTemplates).sort(), ['default', 'tool_use']);
  });

  test('a list without "default": TokenizerError listing the names', async () => {
    const tok = await loadTokenizer(await model({ chat_template: [{ name: 'tool_use', template: 'TOOLS' }] }));
    assert.equal(tok.chatTemplate, undefined);
    assert.throws(() => tok.applyChatTemplate(CHAT), (e: Error) =>
      e instanceof TokenizerError && e.message.includes('"tool_use"') && e.message.includes('tokenizer_config.json'));
  });

  test('chat_template.jinja overrides tokenizer_config.json', async () => {
    const tok = await loadTokenizer(await model({ bos_token: '<s>', chat_template: 'OLD' }, { 'chat_template.jinja': '{{ bos_token }}NEW' }));
    assert.equal(tok.applyChatTemplate(CHAT), '<s>NEW');
  });

  test('no chat template: TokenizerError naming tokenizer_config.json', async () => {
    const tok = await loadTokenizer(STORIES_DIR);
    assert.throws(() => tok.applyChatTemplate(CHAT), (e: Error) =>
      e instanceof TokenizerError && e.message.includes('tokenizer_config.json') && e.message.includes('no chat_template')
      && !e.message.includes('\n'));
  });

  test('raise_exception in the template: TokenizerError with its message', async () => {
    const tpl = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversation must start with user') }}{% endif %}ok";
    const tok = await loadTokenizer(await model({ chat_template: tpl }));
    assert.equal(tok.applyChatTemplate([{ role: 'user', content: 'x' }]), 'ok');
    assert.throws(() => tok.applyChatTemplate(CHAT), (e: Error) =>
      e instanceof TokenizerError && e.message.includes('Conversation must start with user'));
  });

  test('a template that does not parse: TokenizerError naming the file', async () => {
    const tok = await loadTokenizer(await model({ chat_template: '{% for m in messages %}no end' }));
    assert.throws(() => tok.applyChatTemplate(CHAT), (e: Error) =>
      e instanceof TokenizerError && e.message.includes('tokenizer_config.json') && e.message.includes('does not parse'));
  });

  test('a chat_template of the wrong type: TokenizerError at load', async () => {
    await assert.rejects(loadTokenizer(await model({ chat_template: 42 })), { name: 'TokenizerError' });
  });
});
