/** Records → examples with the real stories260K tokenizer: ids, target masks, chunking, truncation. */
import { test, describe, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadTokenizer, type Tokenizer } from '../../../src/engine/tokenizer/index';
import { DataError, TEXT_PIECE_CHARS, maxDataChars, tokenizeRecord, tokenizeRecordSteps, type DataRecord, type Example, type TokenizedRecord } from '../../../src/engine/data/index';
import { BOS, EOS, SHAKESPEARE, SIMPLE_TEMPLATE, TempFiles, mask, storiesTokenizer } from './helpers';

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

interface GoldenCase { text: string; ids: number[]; tokens: string[] }
const GOLDEN = (JSON.parse(readFileSync('/work/shared/golden/stories260K_tokenizer.json', 'utf8')) as { cases: GoldenCase[] }).cases;
/** The golden case of `t` (ids from llama2.c's encoder, BOS first). */
function golden(t: string): GoldenCase {
  const c = GOLDEN.find((x) => x.text === t);
  assert.ok(c, `no golden case for ${JSON.stringify(t)}`);
  return c;
}
/** The id of a token string, as the golden cases pair them. */
function goldenId(token: string): number {
  for (const c of GOLDEN) {
    const i = c.tokens.indexOf(token);
    if (i >= 0) return c.ids[i];
  }
  assert.fail(`no golden case has the token ${JSON.stringify(token)}`);
}
function commonPrefixLength(a: number[], b: number[]): number {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return i;
}
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

  // Reference ids from ../shared/golden (llama2.c's own encoder on the concatenated text).
  test('the ids are prompt + completion encoded as ONE text (golden ids), then EOS: no lone "▁" at the boundary', () => {
    const once = golden('Once upon a time, there was a little girl named Lily.');
    const ex = only(run(pc('Once upon a', ' time, there was a little girl named Lily.')));
    assert.deepEqual(ex.ids, [...once.ids, EOS]);
    assert.ok(!ex.ids.includes(goldenId('▁')), 'a lone ▁ token');
    // Prompt "Once upon a" = <s> ▁Once ▁upon ▁a (hand-checked against the golden tokens): 4 tokens not trained.
    assert.deepEqual(once.tokens.slice(0, 4), ['<s>', '▁Once', '▁upon', '▁a']);
    assert.deepEqual(mask(ex), ones(ex.ids.length, 4));
    assert.equal(bosCount(ex.ids), 1);
  });

  test('a token merging the end of the prompt with the start of the completion counts on the completion side', () => {
    // "Once upon a ti" + "me": one text → <s> ▁Once ▁upon ▁a ▁time (golden); ▁time holds "me", so it is trained.
    const ex = only(run(pc('Once upon a ti', 'me')));
    assert.deepEqual(ex.ids, [...golden('Once upon a time').ids, EOS]);
    assert.deepEqual(mask(ex), [0, 0, 0, 0, 1, 1]);
    // Without completion_only_loss: every token after BOS.
    assert.deepEqual(mask(only(run(pc('Once upon a ti', 'me'), { completionOnlyLoss: false }))), [0, 1, 1, 1, 1, 1]);
  });

  test('an empty prompt: BOS then the completion; every token after BOS is a target', () => {
    const ex = only(run(pc('', 'Once upon a time')));
    assert.deepEqual(ex.ids, [...golden('Once upon a time').ids, EOS]);
    assert.deepEqual(mask(ex), [0, 1, 1, 1, 1, 1]);
  });

  test('an empty completion trains on the EOS alone (TRL)', () => {
    const ex = only(run(pc('Once upon a time', '')));
    assert.deepEqual(ex.ids, [...golden('Once upon a time').ids, EOS]);
    assert.deepEqual(mask(ex), [0, 0, 0, 0, 0, 1]);
  });

  test('special-token text in a completion is plain characters (golden ids of "<", "/", "s", ">"), not an EOS; flagged once', () => {
    const result = run(pc('Once upon a time', '</s>'));
    const ex = only(result);
    const plain = ['<', '/', 's', '>'].map(goldenId);
    assert.deepEqual(ex.ids, [...golden('Once upon a time').ids, ...plain, EOS]);
    assert.equal(ex.ids.filter((id) => id === EOS).length, 1);
    assert.deepEqual(mask(ex), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    assert.equal(result.specialTokenText, '</s>');
    // "<s>" in a prompt is no second BOS either.
    const ex2 = only(run(pc('<s>', 'a')));
    assert.equal(bosCount(ex2.ids), 1);
    assert.deepEqual(ex2.ids.slice(0, 5), [BOS, goldenId('▁'), goldenId('<'), goldenId('s'), goldenId('>')]);
    assert.equal(run(pc('Once', ' upon')).specialTokenText, undefined);
  });

  test('text records: special-token text is plain too', () => {
    const result = run(text('a</s>b'));
    // <s> ▁a < / s > b: hand-checked (stories260K has no merge for these characters).
    assert.deepEqual(only(result).ids, [BOS, goldenId('▁a'), ...['<', '/', 's', '>'].map(goldenId), goldenId('b')]);
    assert.equal(result.specialTokenText, '</s>');
  });

  test('longer than max_seq_length: truncated (start kept), flagged; nothing left to train on → no example', () => {
    const all = only(run(pc(prompt, completion)));
    const p = commonPrefixLength(tok.encode(prompt), tok.encode(prompt + completion));
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

describe('special-token text inside chat messages', () => {
  test('a content holding "</s>" stays plain text; the template\'s own </s> markers stay EOS; ids = one-go encoding', async () => {
    const { Tokenizer: HfTokenizer } = await import('@huggingface/tokenizers');
    const json = JSON.parse(readFileSync('/work/shared/models/stories260K/tokenizer.json', 'utf8')) as Record<string, unknown>;
    // The library itself with no added tokens: every "</s>" it sees is four characters.
    const bare = new HfTokenizer({ ...json, added_tokens: [] }, {});
    const plain = (t: string) => bare.encode(t, { add_special_tokens: false }).ids;
    const messages = [{ role: 'user', content: 'I said </s> ok' }, { role: 'assistant', content: 'Fine.' }];
    const result = run({ kind: 'messages', messages, source }, {}, chatTok);
    const ex = only(result);
    // Render: <s>[user] I said </s> ok</s>[assistant] Fine.</s> — the library splits at each template marker.
    assert.deepEqual(ex.ids, [BOS, ...plain('[user] I said </s> ok'), EOS, ...plain('[assistant] Fine.'), EOS]);
    assert.equal(ex.ids.filter((id) => id === EOS).length, 2);
    assert.equal(result.specialTokenText, '</s>');
    const targets = ex.ids.filter((_, i) => ex.target[i] === 1).map((id) => chatTok.idToToken(id));
    assert.deepEqual(targets, ['F', 'in', 'e', '.', '</s>']); // the header's space is its own ▁ token
  });

  test('a template that edits the content (trim) with special-token text in it: a bad record, not a silent EOS', async () => {
    const trimming = await loadTokenizer(await files.chatModel('{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content | trim }}{{ eos_token }}{% endfor %}'));
    const r = tokenizeRecord({ kind: 'messages', messages: [{ role: 'user', content: ' x </s> ' }, { role: 'assistant', content: 'y' }], source }, trimming, { maxSeqLength: 64, completionOnlyLoss: true });
    assert.ok(!('examples' in r));
    assert.match(r.what, /special token "<\/s>".*chat template changes message text/);
  });
});

describe('large records (bounded work)', () => {
  const story = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. ';

  test('maxDataChars: 4 × (L + 16) × longest token; stories260K\'s longest token is 7 characters (▁little, ▁friend)', () => {
    assert.equal(tok.maxTokenChars, 7);
    assert.equal(maxDataChars(512, 7), 4 * 528 * 7);
  });

  test('a huge completion is cut by characters first: fast, and the first L ids equal the whole text encoded in one go', () => {
    const L = 64;
    const completion = story.repeat(3000); // 282,000 characters
    const t0 = performance.now();
    const result = run(pc('Tell me a story.', completion), { maxSeqLength: L });
    const ms = performance.now() - t0;
    assert.ok(result.cutChars === 'Tell me a story.'.length + completion.length && result.truncated);
    const whole = tok.encode('Tell me a story.' + completion); // the tokenizer on the concatenated string
    assert.deepEqual(only(result).ids, whole.slice(0, L));
    assert.ok(ms < 1500, `took ${ms} ms`);
  });

  test('a huge chat message is cut too, the truncated ids equal the one-go render encoding', () => {
    const L = 48;
    const messages = [{ role: 'user', content: 'Story?' }, { role: 'assistant', content: story.repeat(2000) }, { role: 'user', content: 'More' }];
    const result = run({ kind: 'messages', messages, source }, { maxSeqLength: L }, chatTok);
    assert.ok(result.cutChars !== undefined && result.truncated);
    const whole = chatTok.encode(chatTok.applyChatTemplate(messages), { addSpecialTokens: false });
    assert.deepEqual(only(result).ids, whole.slice(0, L));
  });

  test('a text record longer than one piece is tokenized in pieces with the same ids as one pass', () => {
    const long = readFileSync(SHAKESPEARE, 'utf8').slice(0, 3 * TEXT_PIECE_CHARS + 1234);
    const steps = tokenizeRecordSteps(text(long), tok, { maxSeqLength: 128, completionOnlyLoss: true });
    let yields = 0;
    let r = steps.next();
    while (!r.done) { yields++; r = steps.next(); }
    assert.ok(yields >= 3, `yielded ${yields} times`);
    assert.ok('examples' in r.value);
    assert.deepEqual(r.value.examples.flatMap((e) => e.ids), tok.encode(long).slice(0, r.value.examples.length * 128));
  });
});
