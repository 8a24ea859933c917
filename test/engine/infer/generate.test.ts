// The decoding loop: stopping, streaming and the DecodeStep contract with a scripted step (its
// logits pick a fixed sequence of tokens), and greedy decoding of the real stories260K model
// against the golden ids of an independent PyTorch implementation.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CausalLM } from '../../../src/engine/infer/causal-lm';
import { type DecodeStep, type GenerateOptions, fullForwardStep, generate, generateBatch } from '../../../src/engine/infer/generate';
import { HF_DEFAULTS } from '../../../src/engine/infer/generation-config';
import { type Tokenizer, loadTokenizer } from '../../../src/engine/tokenizer/index';
import { SHARED } from '../../helpers/paths';

const MODEL = `${SHARED}/models/stories260K`;
const golden = JSON.parse(readFileSync(`${SHARED}/golden/stories260K_logits.json`, 'utf8'));
const V = 512;
let tok: Tokenizer;
before(async () => {
  tok = await loadTokenizer(MODEL);
});

/** A step whose logits make greedy decoding produce `script` (one-hot, 10 vs 0), recording each call. */
function scripted(script: number[], maxPositions = 512) {
  const calls: { ids: number[][]; cache: unknown }[] = [];
  let n = 0;
  const step: DecodeStep<{ n: number }> = {
    maxPositions,
    async step(ids, cache) {
      calls.push({ ids: ids.map((r) => [...r]), cache });
      const logits = new Float32Array(V);
      logits[script[n++] ?? 0] = 10;
      return { logits: [logits], cache: { n } };
    },
  };
  return { step, calls };
}

const opts = (over: Partial<GenerateOptions> = {}): GenerateOptions => ({
  maxNewTokens: 50, sampling: HF_DEFAULTS, eosTokenIds: [2], decode: (ids) => tok.decode(ids, { skipSpecialTokens: true }), ...over,
});
const enc = (s: string) => tok.encode(s, { addSpecialTokens: false });

test('stops at EOS: the EOS id is returned, its text is not; the step contract holds', async () => {
  const body = enc('She loved to play'); // ▁She ▁loved …: the Metaspace prefix gives the leading space
  const { step, calls } = scripted([...body, 2, 300]);
  const prompt = tok.encode('Once upon a time');
  const res = await generate(step, prompt, opts());
  assert.deepEqual(res.ids, [...body, 2]);
  assert.equal(res.text, ' She loved to play');
  assert.equal(res.finishReason, 'eos');
  // first call: prompt + null cache; then one more token per call and the previous cache
  assert.equal(calls.length, body.length + 1);
  assert.deepEqual(calls[0], { ids: [prompt], cache: null });
  calls.slice(1).forEach((c, i) => {
    assert.deepEqual(c.ids, [[...prompt, ...body.slice(0, i + 1)]]);
    assert.deepEqual(c.cache, { n: i + 1 });
  });
});

test('an eos_token_id list: any of its ids stops', async () => {
  const body = enc(' a b');
  const { step } = scripted([...body, 426, 2]);
  const res = await generate(step, [1], opts({ eosTokenIds: [2, 426] }));
  assert.deepEqual(res.ids, [...body, 426]);
  assert.equal(res.finishReason, 'eos');
});

test('max_new_tokens and the model context end with finish_reason "length"', async () => {
  const body = enc(' She loved to play outside in the park');
  const a = await generate(scripted(body).step, [1], opts({ maxNewTokens: 3 }));
  assert.deepEqual(a.ids, body.slice(0, 3));
  assert.equal(a.finishReason, 'length');
  assert.equal(a.text, tok.decode([1, ...body.slice(0, 3)], { skipSpecialTokens: true }));
  const b = await generate(scripted(body, 5).step, [1, 403], opts()); // 2 prompt + 3 new = 5 positions
  assert.equal(b.ids.length, 3);
  assert.equal(b.finishReason, 'length');
  await assert.rejects(generate(scripted(body, 2).step, [1, 403], opts()), /context \(max_position_embeddings\) is 2/);
});

test('stop strings: text cut before the earliest one, also across tokens; nothing of it is streamed', async () => {
  const body = enc(' Hi. The end. More');
  const deltas: string[] = [];
  const res = await generate(scripted(body).step, [1], opts({ stopStrings: ['end.', 'The e', 'zzz'], onText: (d) => deltas.push(d) }));
  assert.equal(res.finishReason, 'stop');
  assert.equal(res.text, ' Hi. ');
  assert.equal(deltas.join(''), ' Hi. ');
  assert.ok(res.ids.length < body.length);
});

test('streaming never emits half a character split over byte-fallback tokens', async () => {
  const body = enc('中文 ok'); // '中' and '文' are three <0x..> byte tokens each
  assert.ok(body.some((id) => /^<0x/.test(tok.idToToken(id)!)), 'the test needs byte-fallback tokens');
  const deltas: string[] = [];
  const res = await generate(scripted([...body, 2]).step, tok.encode('Once'), opts({ onText: (d) => deltas.push(d) }));
  assert.equal(res.text, ' 中文 ok');
  assert.equal(deltas.join(''), res.text);
  assert.ok(deltas.every((d) => !d.includes('\uFFFD')), JSON.stringify(deltas));
  assert.ok(deltas.length >= 3, 'text is streamed in pieces, not at the end');
});

test('sampling is reproducible with a seed and differs between seeds', async () => {
  const uniform: DecodeStep<null> = { maxPositions: 512, step: async (ids) => ({ logits: ids.map(() => new Float32Array(V)), cache: null }) };
  const sampling = { ...HF_DEFAULTS, doSample: true, topK: 0 };
  const run = (seed: number) => generate(uniform, [1], opts({ sampling, seed, maxNewTokens: 20, eosTokenIds: [] }));
  assert.deepEqual((await run(5)).ids, (await run(5)).ids);
  assert.notDeepEqual((await run(5)).ids, (await run(6)).ids);
});

let lm: CausalLM;
after(async () => lm?.release());

test('greedy decoding of stories260K reproduces the golden 40 new tokens and text', async () => {
  lm = await CausalLM.load(MODEL);
  const prompt = tok.encode(golden.prompt);
  assert.deepEqual(prompt, golden.token_ids);
  const deltas: string[] = [];
  const res = await generate(fullForwardStep(lm), prompt, opts({ maxNewTokens: golden.greedy.num_new_tokens, onText: (d) => deltas.push(d) }));
  assert.deepEqual(res.ids, golden.greedy.new_token_ids);
  assert.equal(res.text, golden.greedy.continuation_text);
  assert.equal(res.finishReason, 'length');
  assert.equal(deltas.join(''), res.text);
});

test('fullForwardStep: rows of different lengths get the logits at their own last position', async () => {
  lm ??= await CausalLM.load(MODEL);
  const step = fullForwardStep(lm);
  const long = golden.token_ids as number[];
  const short = long.slice(0, 5);
  const { logits, cache } = await step.step([short, long], null);
  assert.equal(cache, null);
  // golden.logits[t] = logits after token_ids[0..t]
  for (const [row, t] of [[0, 4], [1, long.length - 1]] as const) {
    const want: number[] = golden.logits[t];
    const err = Math.max(...want.map((w, v) => Math.abs(w - logits[row][v])));
    assert.ok(err < 1e-4, `row ${row}: max |Δ| ${err}`);
  }
});

test('generateBatch: rows end on their own (eos, stop, length); an ended row keeps the batch rectangular; results in prompt order', async () => {
  // Row b's logits pick scripts[b][k] at its k-th step.
  const park = enc(' park').slice(0, 4); // 4 tokens, the stop string complete at the last
  const scripts = [[5, 2, 9, 9, 9, 9], [...park, 7, 7], [11, 12, 13, 14, 15, 16]];
  const calls: number[][][] = [];
  const step: DecodeStep<number> = {
    maxPositions: 512,
    async step(ids, cache) {
      calls.push(ids.map((r) => [...r]));
      const k = cache ?? 0;
      return { logits: ids.map((_, b) => { const l = new Float32Array(V); l[scripts[b][k]] = 10; return l; }), cache: k + 1 };
    },
  };
  const streamed = ['', '', ''];
  const order: number[] = [];
  const prompt = tok.encode('Once upon a time');
  const res = await generateBatch(step, [prompt, prompt, prompt], {
    ...opts({ maxNewTokens: 5, stopStrings: ['park'] }), onText: (row, d) => (streamed[row] += d), onFinish: (row) => order.push(row),
  });
  assert.deepEqual(res.map((r) => r.finishReason), ['eos', 'stop', 'length']);
  assert.deepEqual(res[0].ids, [5, 2]);
  assert.deepEqual(res[1].ids, park);
  assert.ok(tok.decode(park, { skipSpecialTokens: true }).endsWith('park'));
  assert.match(res[1].text, /^\s+$/, 'the text is cut before the stop string'); // the spaces before "park"
  assert.deepEqual(res[2].ids, [11, 12, 13, 14, 15]);
  assert.deepEqual(order, [0, 1, 2]);
  assert.deepEqual(streamed, res.map((r) => r.text));
  assert.equal(calls.length, 5);
  // After its EOS, row 0 repeats its last token: every row grows by one per call.
  assert.deepEqual(calls[3][0], [...prompt, 5, 2, 2]);
  assert.ok(calls.every((c) => c.every((r) => r.length === c[0].length)));
});

test('generateBatch: the context ends every open row when the longest row fills it; bad seeds rejected', async () => {
  const step: DecodeStep<null> = {
    maxPositions: 6,
    async step(ids) {
      return { logits: ids.map(() => { const l = new Float32Array(V); l[9] = 10; return l; }), cache: null };
    },
  };
  const { onText: _, ...batchOpts } = opts({ maxNewTokens: 10 });
  const res = await generateBatch(step, [[1, 3, 4], [1]], batchOpts);
  assert.deepEqual(res.map((r) => [r.ids.length, r.finishReason]), [[3, 'length'], [3, 'length']]);
  await assert.rejects(generateBatch(step, [[1], [1]], { ...batchOpts, seeds: [1] }), /1 seeds for 2 prompts/);
});
