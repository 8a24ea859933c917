// The worker's `score` of an eval case (prompt or chat + expected reply): the mean NLL of the
// expected tokens equals a float64 log-softmax of the independent PyTorch golden logits
// (../shared/golden/stories260K_logits.json), computed here, for a chat case and a text case
// whose prompt + expected encode to the golden token ids; it equals what `loralab eval`
// (LocalEvalBackend) computes; a chat on a model without a chat template is a one-line error;
// the protocol guard rejects malformed score requests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalEvalBackend } from '../../src/engine/eval/local';
import { isWorkerRequest } from '../../src/protocol/worker';
import { LOGITS_GOLDEN, MODEL, chatModel, goldenNll, inProcessService } from './helpers';

/** The golden text split as a case: the prompt's ids are golden token_ids[0..6). */
const PROMPT = 'Once upon a time,';
const EXPECTED_CHAT = 'there was a little girl named Lily.';
const EXPECTED_TEXT = ' there was a little girl named Lily.';
const START = 6;

const service = inProcessService;

test('worker score of a case: chat and text NLL of the expected reply = golden logits; = loralab eval', { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'loralab-score-case-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const model = await chatModel(join(dir, 'chat-model'));
  // Reference: nll[t] of golden token t + 1 from the PyTorch logits (float64 log-softmax), the
  // expected tokens are golden ids[START..].
  const ref = goldenNll();
  const refMean = ref.slice(START - 1).reduce((a, b) => a + b, 0) / (LOGITS_GOLDEN.token_ids.length - START);

  const { svc, request } = service();
  t.after(() => svc.close());
  assert.equal((await request({ type: 'load', model, threads: 1 })).type, 'loaded');
  const cases = [
    { what: 'chat', body: { messages: [{ role: 'user', content: PROMPT }], expected: EXPECTED_CHAT } },
    { what: 'text', body: { prompt: PROMPT, expected: EXPECTED_TEXT } },
  ];
  for (const { what, body } of cases) {
    const res = await request({ type: 'score', adapter: null, ...body });
    assert.equal(res.type, 'scored', `${what}: ${JSON.stringify(res)}`);
    if (res.type !== 'scored') continue;
    assert.deepEqual(res.token_ids, LOGITS_GOLDEN.token_ids, `${what}: prompt + expected encode to the golden ids`);
    assert.equal(res.expected_start, START, what);
    res.nll.forEach((x, i) => assert.ok(Math.abs(x - ref[i]) < 1e-4, `${what} position ${i}: ${x} vs golden ${ref[i]}`));
    assert.ok(Math.abs(res.expected_nll! - refMean) < 1e-4, `${what}: expected_nll ${res.expected_nll} vs golden ${refMean}`);
    assert.equal(res.top, undefined, 'a case score lists no top tokens');
  }

  // `loralab eval`'s backend computes the same number (one definition of the expected tokens).
  const cli = await LocalEvalBackend.load(model, []);
  t.after(() => cli.release());
  const [cliChat] = await cli.expectedNll({ messages: [{ role: 'user', content: PROMPT }] }, EXPECTED_CHAT, [null]);
  assert.ok(Math.abs(cliChat - refMean) < 1e-4, `loralab eval: ${cliChat} vs golden ${refMean}`);

  // A text score still answers as before (top-5 listed).
  const text = await request({ type: 'score', adapter: null, text: LOGITS_GOLDEN.prompt });
  assert.ok(text.type === 'scored' && text.top?.length === text.nll.length && text.expected_nll === undefined);
});

test('worker score of a chat case on a model without a chat template: a one-line error naming the model', { timeout: 60_000 }, async (t) => {
  const { svc, request } = service();
  t.after(() => svc.close());
  assert.equal((await request({ type: 'load', model: MODEL, threads: 1 })).type, 'loaded');
  const res = await request({ type: 'score', adapter: null, messages: [{ role: 'user', content: PROMPT }], expected: EXPECTED_CHAT });
  assert.equal(res.type, 'error');
  assert.equal(res.type === 'error' && res.message, `the case is a chat ("messages") but ${MODEL} has no chat template; write it as {"prompt": ...}`);
});

test('protocol guard: a score request is a text, or a prompt or chat with its expected reply, nothing else', () => {
  const ok = (body: Record<string, unknown>) => isWorkerRequest({ v: 1, type: 'score', id: 1, adapter: null, ...body });
  assert.equal(ok({ text: 'hi' }), true);
  assert.equal(ok({ prompt: 'Q:', expected: 'A' }), true);
  assert.equal(ok({ messages: [{ role: 'user', content: 'Q' }], expected: 'A' }), true);
  assert.equal(ok({}), false, 'nothing to score');
  assert.equal(ok({ text: 'hi', expected: 'A' }), false, 'a text has no expected reply');
  assert.equal(ok({ prompt: 'Q:' }), false, 'a prompt without expected');
  assert.equal(ok({ expected: 'A' }), false, 'expected without a prompt');
  assert.equal(ok({ prompt: 'Q:', messages: [], expected: 'A' }), false, 'both a prompt and a chat');
  assert.equal(ok({ messages: [{ role: 'user' }], expected: 'A' }), false, 'a message without content');
  assert.equal(ok({ messages: [{ role: 'user', content: 3 }], expected: 'A' }), false, 'a non-string content');
  assert.equal(ok({ messages: 'Q', expected: 'A' }), false, 'messages not an array');
  assert.equal(ok({ prompt: 'Q:', expected: 2 }), false, 'a non-string expected');
  assert.equal(ok({ adapter: 3, text: 'hi' }), false, 'a bad adapter');
  // generate: messages are checked the same way
  assert.equal(isWorkerRequest({ v: 1, type: 'generate', id: 1, variants: [null], messages: [{ role: 'user', content: 1 }], params: {} }), false);
  assert.equal(isWorkerRequest({ v: 1, type: 'generate', id: 1, variants: [null], messages: [{ role: 'user', content: 'hi' }], params: {} }), true);
});
