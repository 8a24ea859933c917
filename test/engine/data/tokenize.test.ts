/** Records → examples with the real stories260K tokenizer: ids, target masks, chunking, truncation. */
import { test, describe, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { loadTokenizer, type Tokenizer } from '../../../src/engine/tokenizer/index';
import { DataError, tokenizeRecord, type DataRecord, type Example, type TokenizedRecord } from '../../../src/engine/data/index';
import { BOS, EOS, SIMPLE_TEMPLATE, TempFiles, countTargets, mask, storiesTokenizer } from './helpers';

const files = new TempFiles();
after(() => files.cleanup());

let tok: Tokenizer;
let chatTok: Tokenizer;
before(async () => {
  tok = await storiesTokenizer();
  chatTok = await loadTokenizer(await files.chatModel(SIMPLE_TEMPLATE));
});

const source = { file: 'mem.jsonl', line: 1 };
const text = (t: string): DataRecord => ({ kind: 'text', text: t, source });
const pc = (prompt: string, completion: string): DataRecord => ({ kind: 'prompt_completion', prompt, completion, source });

function run(record: DataRecord, opts: { maxSeqLength?: number; completionOnlyLoss?: boolean } = {}, tokenizer = tok): TokenizedRecord {
  const result = tokenizeRecord(record, tokenizer, { maxSeqLength: opts.maxSeqLength ?? 512, completionOnlyLoss: opts.completionOnlyLoss ?? true });
  assert.ok('examples' in result, `expected examples, got ${JSON.stringify(result)}`);
  return result;
}

function only(result: TokenizedRecord): Example {
  assert.equal(result.examples.length, 1);
  return result.examples[0];
}

const bosCount = (ids: number[]) => ids.filter((id) => id === BOS).length;
const ones = (n: number, zerosFirst = 1) => Array.from({ length: n }, (_, i) => (i < zerosFirst ? 0 : 1));

describe('text records', () => {
  test('ids are encode(text): one BOS first, no EOS (stories260K does not add it); every token after BOS is a target', () => {
    const ex = only(run(text('Once upon a time, there was a cat.')));
    assert.deepEqual(ex.ids, tok.encode('Once upon a time, there was a cat.'));
    assert.equal(ex.ids[0], BOS);
    assert.equal(bosCount(ex.ids), 1);
    assert.notEqual(ex.ids[ex.ids.length - 1], EOS);
    assert.deepEqual(mask(ex), ones(ex.ids.length));
    assert.deepEqual(ex.source, source);
  });

  test('longer than max_seq_length: chunked into consecutive pieces; only the first has BOS; nothing lost', () => {
    const long = 'Lily found a small red ball in the garden. Tom and his dog went to the park. The sun was warm.';
    const all = tok.encode(long);
    const L = 8;
    const { examples, truncated } = run(text(long), { maxSeqLength: L });
    assert.equal(truncated, false);
    assert.ok(all.length > 3 * L);
    const dropsLast = all.length % L === 1; // a 1-token last piece predicts nothing
    assert.equal(examples.length, Math.ceil(all.length / L) - (dropsLast ? 1 : 0));
    assert.deepEqual(examples.flatMap((e) => e.ids), dropsLast ? all.slice(0, -1) : all);
    examples.forEach((e, k) => {
      assert.ok(e.ids.length <= L);
      assert.deepEqual(e.ids, all.slice(k * L, (k + 1) * L));
      assert.equal(bosCount(e.ids), k === 0 ? 1 : 0);
      assert.deepEqual(mask(e), ones(e.ids.length));
    });
  });

  test('a last chunk of a single token has nothing to predict and is dropped', () => {
    // Find a length L that leaves exactly one token in the last chunk.
    const t = 'Once upon a time, there was a little girl named Lily. She loved to play outside.';
    const n = tok.encode(t).length;
    const L = n - 1;
    const { examples } = run(text(t), { maxSeqLength: L });
    assert.equal(examples.length, 1);
    assert.equal(examples[0].ids.length, L);
  });
});

describe('prompt/completion records', () => {
  const prompt = 'Q: What did Lily find?';
  const completion = ' A small red ball.';

  test('ids are encode(prompt) + encode(completion, no special tokens) + EOS (as TRL appends eos_token)', () => {
    const ex = only(run(pc(prompt, completion)));
    const p = tok.encode(prompt);
    const c = tok.encode(completion, { addSpecialTokens: false });
    assert.deepEqual(ex.ids, [...p, ...c, EOS]);
    assert.equal(bosCount(ex.ids), 1);
  });

  test('completion_only_loss: targets are the completion tokens and its EOS; otherwise all after BOS', () => {
    const p = tok.encode(prompt).length;
    const n = p + tok.encode(completion, { addSpecialTokens: false }).length + 1;
    const completionOnly = only(run(pc(prompt, completion), { completionOnlyLoss: true }));
    assert.deepEqual(mask(completionOnly), ones(n, p));
    assert.equal(countTargets(completionOnly), n - p);
    const full = only(run(pc(prompt, completion), { completionOnlyLoss: false }));
    assert.deepEqual(full.ids, completionOnly.ids);
    assert.deepEqual(mask(full), ones(n));
  });

  test('a completion that already ends with the EOS token gets no second EOS', () => {
    const ex = only(run(pc('Hi', ' there</s>')));
    assert.deepEqual(ex.ids, [...tok.encode('Hi'), ...tok.encode(' there', { addSpecialTokens: false }), EOS]);
    assert.equal(ex.ids.filter((id) => id === EOS).length, 1);
  });

  test('longer than max_seq_length: truncated (start kept), flagged; nothing left to train on → no example', () => {
    const all = only(run(pc(prompt, completion)));
    const p = tok.encode(prompt).length;
    const L = p + 3;
    const cut = run(pc(prompt, completion), { maxSeqLength: L });
    assert.equal(cut.truncated, true);
    const ex = only(cut);
    assert.deepEqual(ex.ids, all.ids.slice(0, L));
    assert.deepEqual(mask(ex), ones(L, p));
    const none = run(pc(prompt, completion), { maxSeqLength: p });
    assert.equal(none.truncated, true);
    assert.deepEqual(none.examples, []);
    // Without completion-only loss the prompt tokens are targets, so the example stays.
    assert.equal(only(run(pc(prompt, completion), { maxSeqLength: p, completionOnlyLoss: false })).ids.length, p);
  });
});

describe('messages records', () => {
  const messages = [
    { role: 'user', content: 'Hi there' },
    { role: 'assistant', content: 'Hello! How are you?' },
    { role: 'user', content: 'Fine.' },
    { role: 'assistant', content: 'Good to hear.' },
  ];
  const chat: DataRecord = { kind: 'messages', messages, source };

  test('ids are the template render encoded without special tokens: exactly one BOS (the template\'s)', () => {
    const ex = only(run(chat, {}, chatTok));
    const rendered = chatTok.applyChatTemplate(messages);
    assert.equal(rendered, '<s>[user] Hi there</s>[assistant] Hello! How are you?</s>[user] Fine.</s>[assistant] Good to hear.</s>');
    assert.deepEqual(ex.ids, chatTok.encode(rendered, { addSpecialTokens: false }));
    assert.equal(ex.ids[0], BOS);
    assert.equal(bosCount(ex.ids), 1);
  });

  test('completion_only_loss: only the two assistant turns (content + end of turn) are targets', () => {
    const ex = only(run(chat, { completionOnlyLoss: true }, chatTok));
    const spans: string[][] = [];
    let current: string[] | undefined;
    ex.ids.forEach((id, t) => {
      if (ex.target[t] === 1) (current ??= (spans.push([]), spans[spans.length - 1])).push(chatTok.idToToken(id)!);
      else current = undefined;
    });
    // Hand-checked against the token list: the header "[assistant]" is never a target; "▁He"
    // straddles the header's space and the content, so it is in the span (overlap rule).
    assert.deepEqual(spans, [
      ['▁He', 'll', 'o', '!', '▁H', 'ow', '▁a', 're', '▁you', '?', '</s>'],
      ['G', 'oo', 'd', '▁to', '▁he', 'ar', '.', '</s>'],
    ]);
    const full = only(run(chat, { completionOnlyLoss: false }, chatTok));
    assert.deepEqual(full.ids, ex.ids);
    assert.deepEqual(mask(full), ones(ex.ids.length));
  });

  test('a template without BOS gets one BOS first; spans shift with it', async () => {
    const zephyr = '{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}{{ eos_token }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}';
    const t = await loadTokenizer(await files.chatModel(zephyr));
    const two = messages.slice(0, 2);
    const ex = only(run({ kind: 'messages', messages: two, source }, { completionOnlyLoss: true }, t));
    const rendered = t.applyChatTemplate(two);
    assert.deepEqual(ex.ids, [BOS, ...t.encode(rendered, { addSpecialTokens: false })]);
    assert.equal(bosCount(ex.ids), 1);
    const targets = ex.ids.filter((_, i) => ex.target[i] === 1).map((id) => t.idToToken(id));
    assert.deepEqual(targets, ['H', 'e', 'll', 'o', '!', '▁H', 'ow', '▁a', 're', '▁you', '?', '</s>', '▁', '<0x0A>']);
  });

  test('truncated to max_seq_length (start kept)', () => {
    const all = only(run(chat, {}, chatTok));
    const cut = run(chat, { maxSeqLength: 25 }, chatTok);
    assert.equal(cut.truncated, true);
    const ex = only(cut);
    assert.deepEqual(ex.ids, all.ids.slice(0, 25));
    assert.deepEqual(mask(ex), mask(all).slice(0, 25));
  });

  test('a model without a chat template: DataError naming the record (not a skippable bad record)', () => {
    assert.throws(() => tokenizeRecord(chat, tok, { maxSeqLength: 512, completionOnlyLoss: true }), (e: unknown) => {
      assert.ok(e instanceof DataError);
      assert.equal(e.message, 'mem.jsonl:1: a {"messages"} record, but the model\'s tokenizer has no chat template (a base model?); use {"text"} or {"prompt","completion"} records, or add a "chat_template" to the model\'s tokenizer_config.json');
      return true;
    });
  });

  test('a template that raises, or that does not render incrementally, makes the record a bad record', async () => {
    const raising = await loadTokenizer(await files.chatModel("{% if messages[0]['role'] != 'user' %}{{ raise_exception('first must be user') }}{% endif %}{% for m in messages %}{{ m.content }}{% endfor %}"));
    const r1 = tokenizeRecord({ kind: 'messages', messages: [{ role: 'assistant', content: 'x' }], source }, raising, { maxSeqLength: 64, completionOnlyLoss: true });
    assert.ok(!('examples' in r1));
    assert.match(r1.what, /^the chat template failed on this conversation \(.*first must be user.*\)$/);
    // Renders the last message differently from earlier ones, so prefixes are not prefixes.
    const nonIncremental = await loadTokenizer(await files.chatModel('{% for m in messages %}{% if loop.last %}[last] {% endif %}{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}> {% endif %}'));
    const r2 = tokenizeRecord(chat, nonIncremental, { maxSeqLength: 64, completionOnlyLoss: true });
    assert.ok(!('examples' in r2));
    assert.equal(r2.what, 'the chat template does not render this conversation incrementally (the text up to messages[1] is not a prefix of the whole), so the assistant tokens cannot be located');
    // Without completion-only loss no spans are needed, so the record is fine.
    assert.equal(run(chat, { maxSeqLength: 64, completionOnlyLoss: false }, nonIncremental).examples.length, 1);
  });
});
