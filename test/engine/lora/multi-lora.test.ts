// Several adapters in one batch (multi-LoRA): each row gathers its own adapter from the stacked
// A / B, ranks padded with zeros. Proven against independent references:
// - one linear layer in float64 against y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ written out here, per row;
// - on stories260K (with the golden PEFT adapter) and a tiny random Qwen3: every row of a batch
//   [base, r2, golden r4, r8] equals the same adapter run ALONE through the ordinary single-adapter
//   graph (itself checked against the golden PyTorch logits / gradients elsewhere): logits within
//   1e-4 at the prefill and every decode step, identical greedy ids, identical sampled ids per seed;
// - adapter swaps (setAdapters / setAdapter / clearAdapter) never build another session.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { CausalLM } from '../../../src/engine/infer/causal-lm';
import { generate, generateBatch } from '../../../src/engine/infer/generate';
import { HF_DEFAULTS } from '../../../src/engine/infer/generation-config';
import { KvCacheStep } from '../../../src/engine/infer/kv-cache';
import type { SamplingParams } from '../../../src/engine/infer/sampling';
import { createRng } from '../../../src/engine/data/random';
import { Graph } from '../../../src/engine/graph/ir';
import { serializeModel } from '../../../src/engine/graph/onnx';
import { type AdapterSource, adapterFeeds, stackedAdapterFeeds } from '../../../src/engine/lora/feeds';
import { LoraGraph } from '../../../src/engine/lora/index';
import { Session } from '../../../src/engine/runtime/session';
import { type LoraWeights, type PeftAdapter, completeLoraConfig, peftRank, readPeftAdapter } from '../../../src/engine/weights/peft';
import { SHARED } from '../../helpers/paths';
import { TINY_QWEN3, writeTinyModel } from '../../helpers/tiny-model';

const STORIES = `${SHARED}/models/stories260K`;
const GOLDEN_ADAPTER = `${SHARED}/golden/adapters/stories260K_r4_a8`;
const golden = JSON.parse(readFileSync(`${SHARED}/golden/stories260K_logits.json`, 'utf8'));
const TOL = 1e-4;
type Logits = Float32Array | Float64Array;

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

/**
 * A random PEFT adapter (A ±1/√in, B ±bScale) on `modules` with rank `r` (or rank_pattern), so
 * that it visibly changes the logits (a fresh PEFT adapter has B = 0 and changes nothing).
 */
function randomAdapter(lm: CausalLM, modules: readonly string[], config: { r: number; lora_alpha: number; rank_pattern?: Record<string, number> }, seed: number, bScale: number): PeftAdapter {
  const rand = createRng(seed);
  const u = () => rand() * 2 - 1;
  const full = completeLoraConfig(config, modules);
  const out = new Map<string, LoraWeights>();
  for (const module of modules) {
    const { in: inF, out: outF } = lm.lm.lora.shapes.get(module)!;
    const r = peftRank(full, module);
    out.set(module, {
      module,
      A: { dtype: 'float32', shape: [r, inF], data: Float32Array.from({ length: r * inF }, () => u() / Math.sqrt(inF)) },
      B: { dtype: 'float32', shape: [outF, r], data: Float32Array.from({ length: outF * r }, () => u() * bScale) },
    });
  }
  return { config: full, modules: out };
}

/** Greedy decoding of every row in one batch; per row, the logits of the prefill and each step. */
async function greedyBatch(step: KvCacheStep, prompts: number[][], steps: number) {
  const logits: Logits[][] = prompts.map(() => []);
  const ids: number[][] = prompts.map(() => []);
  let out = await step.prefill(prompts);
  for (let s = 0; ; s++) {
    out.logits.forEach((l, b) => logits[b].push(l));
    if (s === steps) break;
    const next = out.logits.map(argmax);
    next.forEach((n, b) => ids[b].push(n));
    out = await step.extend(out.cache, next);
  }
  return { logits, ids };
}

/**
 * Runs `variants` as rows of one batch on `multi` and each one alone on `single` (the ordinary
 * single-adapter graph), and checks every row against its solo run. Returns the batch's logits.
 */
async function batchEqualsAlone(multi: CausalLM, single: CausalLM, variants: AdapterSource[], prompt: number[], steps: number) {
  multi.setAdapters(variants);
  const batch = await greedyBatch(new KvCacheStep(multi), variants.map(() => prompt), steps);
  for (const [i, v] of variants.entries()) {
    if (v) single.setAdapter(v.adapter, v.source);
    else single.clearAdapter();
    const alone = await greedyBatch(new KvCacheStep(single), [prompt], steps);
    assert.deepEqual(batch.ids[i], alone.ids[0], `row ${i} (${v?.source ?? 'base'}): greedy ids differ from the adapter alone`);
    alone.logits[0].forEach((l, s) => {
      const err = maxAbsDiff(batch.logits[i][s], l);
      assert.ok(err <= TOL, `row ${i} (${v?.source ?? 'base'}), step ${s}: max |batch − alone| = ${err}`);
    });
  }
  // Not vacuous: every adapter row is far from the base row (so a wrong gather would show).
  const base = variants.findIndex((v) => v === null);
  variants.forEach((v, i) => {
    if (v) assert.ok(maxAbsDiff(batch.logits[i][0], batch.logits[base][0]) > 0.05, `row ${i}: the adapter barely changes the logits; the test would prove nothing`);
  });
  return batch;
}

const dirs: string[] = [];
let stories: { multi: CausalLM; single: CausalLM; variants: AdapterSource[] };
before(async () => {
  const multi = await CausalLM.load(STORIES, { threads: 1, kvCache: true, multiLora: true, targetModules: 'all-linear' });
  const single = await CausalLM.load(STORIES, { threads: 1, kvCache: true, targetModules: 'all-linear' });
  const attention = single.linearModules.filter((m) => m.includes('self_attn'));
  const r2 = randomAdapter(single, attention, { r: 2, lora_alpha: 4 }, 1, 0.5);
  // rank 8, with down_proj at rank 3 (PEFT rank_pattern): ranks differ within one adapter too.
  const r8 = randomAdapter(single, single.linearModules, { r: 8, lora_alpha: 16, rank_pattern: { down_proj: 3 } }, 2, 0.2);
  const goldenAdapter = await readPeftAdapter(GOLDEN_ADAPTER);
  stories = {
    multi, single, variants: [null, { adapter: r2, source: 'r2' }, { adapter: goldenAdapter, source: GOLDEN_ADAPTER }, { adapter: r8, source: 'r8' }],
  };
});
after(async () => {
  await stories.multi.release();
  await stories.single.release();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('one linear layer, float64: each row gets x·Wᵀ + s·(x·Aᵀ)·Bᵀ of its own adapter (ranks 1 and 3 padded to 3, the base zero)', async () => {
  const [inF, outF, T] = [5, 4, 2];
  const rand = createRng(9);
  const u = () => rand() * 2 - 1;
  const mat = (r: number, c: number) => Array.from({ length: r }, () => Array.from({ length: c }, u));
  const W = mat(outF, inF);
  const g = new Graph('linear');
  const x = g.input('x', 'float64', ['B', 'T', inF]);
  const wT = g.initializer('w.T', { dtype: 'float64', shape: [inF, outF], data: Float64Array.from({ length: inF * outF }, (_, k) => W[k % outF][Math.floor(k / outF)]) });
  const lora = new LoraGraph(g, () => true, null, true);
  const module = 'model.layers.0.self_attn.q_proj';
  g.output(lora.linear(x, module, wT, inF, outF), 'y');
  const adapter = (r: number, alpha: number) => {
    const A = mat(r, inF);
    const B = mat(outF, r);
    const tensors: LoraWeights = { module, A: { dtype: 'float32', shape: [r, inF], data: Float32Array.from(A.flat()) }, B: { dtype: 'float32', shape: [outF, r], data: Float32Array.from(B.flat()) } };
    // The reference reads back the float32 values the feeds carry.
    const A32 = A.map((row, i) => row.map((_, j) => (tensors.A.data as Float32Array)[i * inF + j]));
    const B32 = B.map((row, i) => row.map((_, j) => (tensors.B.data as Float32Array)[i * r + j]));
    return { ref: { A: A32, B: B32, s: alpha / r }, source: { adapter: { config: completeLoraConfig({ r, lora_alpha: alpha }, [module]), modules: new Map([[module, tensors]]) }, source: `a${r}` } };
  };
  const a1 = adapter(1, 2);
  const a3 = adapter(3, 5);
  const rows = [2, 0, 1, 2]; // adapters: [a1, base, a3]
  const feeds = stackedAdapterFeeds(lora, [a1.source, null, a3.source], [module], 'float64', rows);
  assert.deepEqual(feeds[`base_model.model.${module}.lora_A.weight`].shape, [3, 3, inF]);
  assert.deepEqual(feeds[`base_model.model.${module}.lora_B.weight`].shape, [3, outF, 3]);
  const X = rows.map(() => mat(T, inF));
  const session = await Session.create(serializeModel(g), { threads: 1 });
  try {
    const { y } = await session.run({ ...feeds, x: { dtype: 'float64', shape: [rows.length, T, inF], data: Float64Array.from(X.flat(2)) } });
    const refs = [a1.ref, null, a3.ref];
    const dot = (a: number[], b: number[]) => a.reduce((acc, v, i) => acc + v * b[i], 0);
    rows.forEach((ai, b) => {
      for (let t = 0; t < T; t++) {
        const xr = X[b][t];
        const ad = refs[ai];
        const xa = ad ? ad.A.map((aRow) => dot(xr, aRow)) : [];
        for (let o = 0; o < outF; o++) {
          const want = dot(xr, W[o]) + (ad ? ad.s * dot(xa, ad.B[o]) : 0);
          const got = (y.data as Float64Array)[(b * T + t) * outF + o];
          assert.ok(Math.abs(got - want) < 1e-12, `row ${b} t ${t} o ${o}: ${got} vs ${want}`);
        }
      }
    });
  } finally {
    await session.release();
  }
});

test('stories260K: batch [base, r2, golden r4, r8 (down_proj r3)] equals each adapter alone, prefill + 12 greedy steps, within 1e-4', async () => {
  const batch = await batchEqualsAlone(stories.multi, stories.single, stories.variants, golden.token_ids, 12);
  // The base row is the golden greedy continuation of an independent implementation.
  assert.deepEqual(batch.ids[0], golden.greedy.new_token_ids.slice(0, 12));
});

test('tiny random Qwen3: batch [r8, base, r2] on the KV cache and on the full forward equals each adapter alone', async () => {
  const dir = await writeTinyModel(TINY_QWEN3, 3);
  dirs.push(dir);
  const multi = await CausalLM.load(dir, { threads: 1, kvCache: true, multiLora: true, targetModules: 'all-linear' });
  const single = await CausalLM.load(dir, { threads: 1, kvCache: true, targetModules: 'all-linear' });
  const multiFull = await CausalLM.load(dir, { threads: 1, multiLora: true, targetModules: 'all-linear' });
  const singleFull = await CausalLM.load(dir, { threads: 1, targetModules: 'all-linear' });
  try {
    const mlp = single.linearModules.filter((m) => m.includes('mlp'));
    const variants: AdapterSource[] = [
      { adapter: randomAdapter(single, single.linearModules, { r: 8, lora_alpha: 8 }, 4, 0.5), source: 'r8' },
      null,
      { adapter: randomAdapter(single, mlp, { r: 2, lora_alpha: 4 }, 5, 0.5), source: 'r2' },
    ];
    const rand = createRng(6);
    const prompt = Array.from({ length: 5 }, () => Math.floor(rand() * 40));
    await batchEqualsAlone(multi, single, variants, prompt, 10);
    // The full-forward graph (no cache) takes the same stacked feeds: every position of every row.
    multiFull.setAdapters(variants);
    const ids = [...prompt, 7, 11, 3];
    const { logits } = await multiFull.run({ inputIds: variants.map(() => ids) });
    const n = ids.length * 40;
    for (const [i, v] of variants.entries()) {
      if (v) singleFull.setAdapter(v.adapter, v.source);
      else singleFull.clearAdapter();
      const alone = (await singleFull.run({ inputIds: [ids] })).logits!.data as Float32Array;
      const err = maxAbsDiff((logits!.data as Float32Array).subarray(i * n, (i + 1) * n), alone);
      assert.ok(err <= TOL, `full forward row ${i}: max |batch − alone| = ${err}`);
    }
  } finally {
    for (const m of [multi, single, multiFull, singleFull]) await m.release();
  }
});

test('generateBatch: each row samples what generate() samples alone with the same seed; streaming per row', async () => {
  const { multi, single, variants } = stories;
  const sampling: SamplingParams = { doSample: true, temperature: 1.2, topK: 0, topP: 0.95, repetitionPenalty: 1.1 };
  const decode = (ids: readonly number[]) => ids.map((i) => `<${i}>`).join('');
  const opts = { maxNewTokens: 16, sampling, eosTokenIds: [2], decode, seed: 11 };
  multi.setAdapters(variants);
  const streamed = variants.map(() => '');
  const finished: number[] = [];
  const batch = await generateBatch(new KvCacheStep(multi), variants.map(() => golden.token_ids), {
    ...opts, onText: (row, d) => (streamed[row] += d), onFinish: (row) => finished.push(row),
  });
  assert.deepEqual([...finished].sort(), [0, 1, 2, 3]);
  for (const [i, v] of variants.entries()) {
    if (v) single.setAdapter(v.adapter, v.source);
    else single.clearAdapter();
    const alone = await generate(new KvCacheStep(single), golden.token_ids, opts);
    assert.deepEqual(batch[i], alone, `row ${i}`);
    assert.equal(streamed[i], alone.text);
  }
  assert.ok(new Set(batch.map((r) => r.ids.join())).size > 1, 'every row sampled the same ids');
  // Explicit per-row seeds: a row with seed 11 matches the run above, whatever the others use.
  const seeded = await generateBatch(new KvCacheStep(multi), variants.map(() => golden.token_ids), { ...opts, seeds: [5, 6, 11, 8] });
  assert.deepEqual(seeded[2], batch[2]);
});

test('adapter swaps never build another session, on the multi-adapter path too; one lora_index entry serves every row', async () => {
  const create = Session.create;
  let builds = 0;
  Session.create = async (...a: Parameters<typeof Session.create>) => {
    builds++;
    return create.apply(Session, a);
  };
  try {
    const lm = await CausalLM.load(STORIES, { threads: 1, kvCache: true, multiLora: true, targetModules: 'all-linear' });
    try {
      assert.equal(builds, 1);
      const [, r2, gold, r8] = stories.variants;
      const step = new KvCacheStep(lm);
      const opts = { maxNewTokens: 4, sampling: HF_DEFAULTS, eosTokenIds: [2], decode: (ids: readonly number[]) => ids.join(' ') };
      lm.setAdapters([r8, null, gold]);
      await generateBatch(step, [[1, 2], [1, 2], [1, 2]], opts);
      lm.setAdapters([gold, r2], [1, 1, 0]); // three rows, two adapters
      const mixed = await step.prefill([golden.token_ids, golden.token_ids, golden.token_ids]);
      lm.setAdapter(r8!.adapter, r8!.source); // one adapter, every row
      const both = await step.prefill([golden.token_ids, golden.token_ids]);
      lm.clearAdapter();
      await generate(step, golden.token_ids, opts);
      assert.equal(builds, 1, 'an adapter swap built a session');

      stories.single.setAdapter(r8!.adapter, r8!.source);
      const r8Alone = (await new KvCacheStep(stories.single).prefill([golden.token_ids])).logits[0];
      for (const l of both.logits) assert.ok(maxAbsDiff(l, r8Alone) <= TOL);
      stories.single.setAdapter(r2!.adapter, r2!.source);
      const r2Alone = (await new KvCacheStep(stories.single).prefill([golden.token_ids])).logits[0];
      assert.ok(maxAbsDiff(mixed.logits[0], r2Alone) <= TOL && maxAbsDiff(mixed.logits[1], r2Alone) <= TOL);
      assert.ok(maxAbsDiff(mixed.logits[2], both.logits[0]) > 0.05, 'row 2 should run the golden adapter, not r8');
    } finally {
      await lm.release();
    }
  } finally {
    Session.create = create;
  }
});

test('bad input: the same one-line adapter checks as adapterFeeds; rows and batch size checked', async () => {
  const { multi, single, variants } = stories;
  const gold = variants[2]!;
  const bad: PeftAdapter = { config: gold.adapter.config, modules: new Map(gold.adapter.modules) };
  const [k, w] = [...bad.modules][0];
  bad.modules.set(k, { ...w, B: { ...w.B, shape: [w.B.shape[0] + 1, w.B.shape[1]] } });
  let solo = '';
  try {
    adapterFeeds(single.lm.lora, bad, single.linearModules, '/x/bad');
  } catch (e) {
    solo = (e as Error).message;
  }
  assert.match(solo, /^\/x\/bad\/adapter_model\.safetensors: tensor "base_model\.model\.model\.layers\.0\..*lora_B\.weight" has shape \[\d+, 4\] but the model needs/);
  assert.throws(() => multi.setAdapters([null, { adapter: bad, source: '/x/bad' }]), { message: solo });
  assert.throws(() => multi.setAdapters([null, gold], [0, 2]), /row 1 asks for adapter 2, but 2 adapters are stacked \(0 to 1\)/);
  assert.throws(() => multi.setAdapters([]), /no adapters to stack/);
  assert.throws(() => single.setAdapters([null]), /loaded without multiLora; load it with CausalLM\.load\(dir, \{ multiLora: true \}\)/);
  multi.setAdapters([null, gold, null]);
  await assert.rejects(new KvCacheStep(multi).prefill([[1, 2], [1, 2]]), /the batch has 2 rows but setAdapters gave adapters for 3 rows/);
});
