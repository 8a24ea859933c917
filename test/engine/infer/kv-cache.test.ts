// Decoding with a KV cache against the full forward (the no-cache graph, itself checked against
// the golden PyTorch logits and the float64 references of test/engine/models): every decode
// step's logits equal the full forward's at that position within 1e-4, on the real stories260K
// and on tiny random Qwen3 and Phi-3 models (sliding window shorter than the sequence, longrope
// crossing original_max_position_embeddings); greedy decoding reproduces the golden ids of an
// independent implementation; a left-padded batch row equals the row alone; an adapter applies.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { CausalLM } from '../../../src/engine/infer/causal-lm';
import { type KvCache, KvCacheStep } from '../../../src/engine/infer/kv-cache';
import { generate } from '../../../src/engine/infer/generate';
import { HF_DEFAULTS } from '../../../src/engine/infer/generation-config';
import { createRng } from '../../../src/engine/data/random';
import { readPeftAdapter } from '../../../src/engine/weights/peft';
import { SHARED } from '../../helpers/paths';
import { TINY_QWEN3, writeTinyModel } from '../../helpers/tiny-model';

const STORIES = `${SHARED}/models/stories260K`;
const ADAPTER = `${SHARED}/golden/adapters/stories260K_r4_a8`;
const golden = JSON.parse(readFileSync(`${SHARED}/golden/stories260K_logits.json`, 'utf8'));
const TOL = 1e-4;

type Logits = Float32Array | Float64Array;

/** The full forward's logits for the token after `row` (its last position). */
async function fullLast(lm: CausalLM, row: readonly number[]): Promise<Float32Array> {
  const { logits } = await lm.run({ inputIds: [[...row]] });
  const V = logits!.shape[2];
  const T = row.length;
  return (logits!.data as Float32Array).slice((T - 1) * V, T * V);
}

function maxAbsDiff(a: Logits, b: Logits): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
function argmax(a: Logits): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}
const randomIds = (n: number, V: number, seed: number) => { const r = createRng(seed); return Array.from({ length: n }, () => Math.floor(r() * V)); };

/**
 * Prefills `prompt`, then feeds `feed` one token at a time (greedy argmax when `feed` is null,
 * `steps` of them); after every call compares the cache's logits with the full forward's.
 * Returns the worst difference and the smallest logit range seen (to show the logits are not flat).
 */
async function compareSteps(full: CausalLM, step: KvCacheStep, prompt: number[], feed: number[] | null, steps: number) {
  const row = [...prompt];
  let { logits, cache } = await step.prefill([row]);
  let worst = 0;
  let range = Infinity;
  for (let s = 0; ; s++) {
    const ref = await fullLast(full, row);
    const err = maxAbsDiff(logits[0], ref);
    assert.ok(err <= TOL, `length ${row.length}: max |cache − full forward| = ${err}`);
    worst = Math.max(worst, err);
    range = Math.min(range, Math.max(...ref) - Math.min(...ref));
    if (s === steps) break;
    const next = feed ? feed[s] : argmax(logits[0]);
    row.push(next);
    ({ logits, cache } = await step.extend(cache, [next]));
  }
  return { worst, range, cache, row };
}

// --- tiny random models written as HF folders ----------------------------------------------

const QWEN3 = TINY_QWEN3;
// Phi-4-mini-like: partial rotary 0.75, GQA, longrope switching at 8 tokens, sliding window 5.
const PHI3 = {
  architectures: ['Phi3ForCausalLM'], model_type: 'phi3', hidden_size: 32, intermediate_size: 24, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 40, max_position_embeddings: 32, original_max_position_embeddings: 8,
  partial_rotary_factor: 0.75, rope_theta: 10000, rms_norm_eps: 1e-5, sliding_window: 5, tie_word_embeddings: false,
  rope_scaling: { type: 'longrope', short_factor: [1, 1.5, 2.5], long_factor: [2, 4, 9] }, hidden_act: 'silu',
};
// Without longrope (its table choice is batch-wide, as in transformers), sliding window 3.
const PHI3_WINDOW = { ...PHI3, rope_scaling: null, sliding_window: 3 };

const dirs: string[] = [];
let stories: { full: CausalLM; cached: CausalLM; step: KvCacheStep };
before(async () => {
  const full = await CausalLM.load(STORIES, { threads: 1 });
  const cached = await CausalLM.load(STORIES, { threads: 1, kvCache: true });
  stories = { full, cached, step: new KvCacheStep(cached) };
});
after(async () => {
  await stories.full.release();
  await stories.cached.release();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function tiny(config: object, seed: number) {
  const dir = await writeTinyModel(config, seed);
  dirs.push(dir);
  const full = await CausalLM.load(dir, { threads: 1 });
  const cached = await CausalLM.load(dir, { threads: 1, kvCache: true });
  return { full, cached, step: new KvCacheStep(cached), release: async () => { await full.release(); await cached.release(); } };
}

// --- (1) every step equals the full forward ---------------------------------------------------

test('stories260K: prefill and each of 24 greedy decode steps give the full forward\'s logits within 1e-4', async () => {
  const { worst, range, row } = await compareSteps(stories.full, stories.step, golden.token_ids.slice(0, 6), null, 24);
  assert.ok(range > 1, `logits are flat (range ${range}): the comparison would prove nothing`);
  assert.equal(row.length, 30);
  assert.ok(worst <= TOL);
});

test('qwen3 (q/k norm, GQA, head_dim ≠ hidden/heads): every decode step equals the full forward within 1e-4', async () => {
  const m = await tiny(QWEN3, 3);
  try {
    const ids = randomIds(20, 40, 5);
    const { range } = await compareSteps(m.full, m.step, ids.slice(0, 3), ids.slice(3), 17);
    assert.ok(range > 0.5, `logits are flat (range ${range})`);
  } finally {
    await m.release();
  }
});

test('phi3 (fused qkv, partial rotary, sliding window 5, longrope switching at 8): every step equals the full forward within 1e-4', async () => {
  const m = await tiny(PHI3, 7);
  try {
    const ids = randomIds(16, 40, 9);
    // 4-token prompt, then 12 steps: the window (5) is exceeded at length 6, longrope switches at length 9.
    const { range, cache } = await compareSteps(m.full, m.step, ids.slice(0, 4), ids.slice(4), 12);
    assert.ok(range > 0.5, `logits are flat (range ${range})`);
    assert.equal(cache.long, true);
    // A prompt already past the switch prefills with the long factors.
    await compareSteps(m.full, m.step, ids.slice(0, 10), ids.slice(10), 6);
  } finally {
    await m.release();
  }
});

test('phi3 longrope: extending a short-factor cache past the switch without recomputing is wrong (why extend re-prefills)', async () => {
  const m = await tiny(PHI3, 7);
  try {
    const ids = randomIds(9, 40, 9);
    let cache: KvCache = (await m.step.prefill([ids.slice(0, 8)])).cache; // 8 tokens: short factors
    assert.equal(cache.long, false);
    const ref = await fullLast(m.full, ids);
    const good = await m.step.extend(cache, [ids[8]]);
    assert.ok(maxAbsDiff(good.logits[0], ref) <= TOL);
    cache = { ...cache, long: true }; // pretend the cached keys were rotated with the long factors
    const stale = await m.step.extend(cache, [ids[8]]);
    assert.ok(maxAbsDiff(stale.logits[0], ref) > 1e-3, 'the stale cache gave the same logits: the test above could not fail');
  } finally {
    await m.release();
  }
});

// --- (2) greedy decoding against the golden ids -------------------------------------------------

test('stories260K: greedy generate() with the cache reproduces the golden 40 new ids, one token per call after the prefill', async () => {
  const shapes: number[][] = [];
  const counting = new KvCacheStep({
    config: stories.cached.config,
    dtype: stories.cached.dtype,
    runFeeds: (feeds) => { shapes.push(feeds.input_ids.shape); return stories.cached.runFeeds(feeds); },
  });
  const res = await generate(counting, golden.token_ids, {
    maxNewTokens: golden.greedy.num_new_tokens, sampling: HF_DEFAULTS, eosTokenIds: [2], decode: (ids) => ids.join(' '),
  });
  assert.deepEqual(res.ids, golden.greedy.new_token_ids);
  assert.equal(res.finishReason, 'length');
  assert.deepEqual(shapes[0], [1, golden.token_ids.length]);
  assert.equal(shapes.length, golden.greedy.num_new_tokens);
  assert.ok(shapes.slice(1).every((s) => s[0] === 1 && s[1] === 1), 'a decode call fed more than one token');
});

// --- (3) left-padded batches ----------------------------------------------------------------------

/** Prefills two rows as one batch, then 6 greedy steps per row; each row's logits must equal the row run alone (cache) and the full forward. */
async function batchEqualsAlone(full: CausalLM, step: KvCacheStep, prompts: number[][]) {
  let batch = await step.prefill(prompts);
  const alone = await Promise.all(prompts.map(async (p) => step.prefill([p])));
  const rows = prompts.map((p) => [...p]);
  for (let s = 0; s <= 6; s++) {
    for (let b = 0; b < prompts.length; b++) {
      const errAlone = maxAbsDiff(batch.logits[b], alone[b].logits[0]);
      const errFull = maxAbsDiff(batch.logits[b], await fullLast(full, rows[b]));
      assert.ok(errAlone <= TOL && errFull <= TOL, `step ${s} row ${b}: |batch − alone| = ${errAlone}, |batch − full| = ${errFull}`);
    }
    if (s === 6) break;
    const next = batch.logits.map(argmax);
    next.forEach((id, b) => rows[b].push(id));
    batch = await step.extend(batch.cache, next);
    for (let b = 0; b < prompts.length; b++) alone[b] = await step.extend(alone[b].cache, [next[b]]);
  }
  assert.deepEqual(batch.cache.rows, rows);
}

test('stories260K: a left-padded batch of prompts of 5 and 12 tokens gives each row its own logits (1e-4)', async () => {
  await batchEqualsAlone(stories.full, stories.step, [golden.token_ids.slice(0, 5), golden.token_ids.slice(2, 14)]);
});

test('phi3 with sliding window 3: a left-padded batch (3 and 9 tokens) gives each row its own logits (1e-4)', async () => {
  const m = await tiny(PHI3_WINDOW, 11);
  try {
    await batchEqualsAlone(m.full, m.step, [randomIds(3, 40, 1), randomIds(9, 40, 2)]);
  } finally {
    await m.release();
  }
});

// --- (4) adapters ---------------------------------------------------------------------------------

test('stories260K with the golden r=4 adapter: cache decode equals the full forward with the adapter; clearing it swaps back', async () => {
  const adapter = await readPeftAdapter(ADAPTER);
  const full = await CausalLM.load(STORIES, { threads: 1, adapter: { adapter, source: ADAPTER } });
  const cached = await CausalLM.load(STORIES, { threads: 1, kvCache: true, adapter: { adapter, source: ADAPTER } });
  try {
    const step = new KvCacheStep(cached);
    const prompt = golden.token_ids.slice(0, 8);
    const { row } = await compareSteps(full, step, prompt, null, 10);
    const base = await fullLast(stories.full, row.slice(0, -1));
    const adapted = await fullLast(full, row.slice(0, -1));
    assert.ok(maxAbsDiff(base, adapted) > 1e-3, 'the adapter changes nothing: the comparison would not show it is applied');
    cached.clearAdapter(); // a change of feeds: same session
    await compareSteps(stories.full, step, prompt, null, 4);
    cached.setAdapter(adapter, ADAPTER);
    await compareSteps(full, step, prompt, null, 4);
  } finally {
    await full.release();
    await cached.release();
  }
});

// --- contract and errors -------------------------------------------------------------------------

test('the cache graph has the transformers.js / Optimum names; misuse fails with one line', async () => {
  const names = stories.cached.session.inputNames;
  for (let i = 0; i < 5; i++) assert.ok(names.includes(`past_key_values.${i}.key`) && names.includes(`past_key_values.${i}.value`));
  const outs = stories.cached.session.outputNames;
  assert.ok(outs.includes('logits') && outs.includes('present.4.key') && outs.includes('present.4.value'));
  const { cache } = await stories.step.prefill([[1, 403, 407]]);
  assert.deepEqual(cache.kv[0].shape, [1, 4, 3, 8]); // (B, Hkv, P+T, Dh)
  assert.equal((await stories.step.extend(cache, [261])).cache.kv[9].shape[2], 4);
  await assert.rejects(stories.step.step([[1, 403, 407, 261, 378]], cache), /row 0 has 5 tokens; the cache holds 3, so it must have 4/);
  await assert.rejects(stories.step.prefill([[1], []]), /row 1 is empty/);
  await assert.rejects(stories.cached.run({ inputIds: [[1, 2]] }), /loaded with kvCache; decode with KvCacheStep/);
  assert.throws(() => new KvCacheStep(stories.full), /loaded without the KV cache; load it with CausalLM\.load\(dir, \{ kvCache: true \}\)/);
});
