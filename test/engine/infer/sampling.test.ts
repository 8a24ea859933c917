// Logits processors and sampling against distributions computed by hand (the expected values are
// written out below from the HF formulas, not produced by the code under test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  type SamplingParams, applyRepetitionPenalty, applyTopK, applyTopP, argmax, processLogits, sampleIndex, selectNextToken,
  softmax, validateSamplingParams,
} from '../../../src/engine/infer/sampling';
import { HF_DEFAULTS, readGenerationDefaults, resolveSampling } from '../../../src/engine/infer/generation-config';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRng } from '../../../src/engine/data/random';
import { tempDir } from '../../helpers/tmp';

const sample = (p: Partial<SamplingParams>): SamplingParams => ({ doSample: true, temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, ...p });
/** Logits whose softmax is exactly `probs` (log-probabilities). */
const logitsOf = (probs: number[]) => probs.map(Math.log);
const close = (got: ArrayLike<number>, want: number[], tol = 1e-12) => {
  assert.equal(got.length, want.length);
  want.forEach((w, i) => assert.ok(Math.abs(got[i] - w) <= tol, `index ${i}: ${got[i]} vs ${w}`));
};

test('repetition penalty: positive logits divided, negative multiplied, once per distinct id', () => {
  const s = Float64Array.from([2, -1, 0.5, -3]);
  applyRepetitionPenalty(s, [0, 1, 1, 1], 2); // id 1 three times: penalised once
  close(s, [1, -2, 0.5, -3]);
  const r = Float64Array.from([2, -1]);
  applyRepetitionPenalty(r, [0, 1], 0.5); // < 1 rewards
  close(r, [4, -0.5]);
});

test('top-k keeps every token tied with the k-th highest', () => {
  const s = Float64Array.from([1, 3, 2, 2, 0]);
  applyTopK(s, 2);
  assert.deepEqual([...s], [-Infinity, 3, 2, 2, -Infinity]);
  const t = Float64Array.from([1, 3, 2, 0]);
  applyTopK(t, 1);
  assert.deepEqual([...t], [-Infinity, 3, -Infinity, -Infinity]);
});

test('top-p keeps the smallest most-likely set reaching p, and at least one token', () => {
  // probs 0.5, 0.3, 0.15, 0.05; ascending cumulative 0.05, 0.20, 0.50, 1.00
  const probs = [0.5, 0.3, 0.15, 0.05];
  // p = 0.75: drop cumulative ≤ 0.25 (0.05 and 0.15) → {0.5, 0.3} renormalised: 0.625, 0.375
  close(softmax(processLogits(logitsOf(probs), [], sample({ topP: 0.75 }))), [0.625, 0.375, 0, 0]);
  // p = 0.85: drop cumulative ≤ 0.15 (0.05 only) → 0.5/0.95, 0.3/0.95, 0.15/0.95
  close(softmax(processLogits(logitsOf(probs), [], sample({ topP: 0.85 }))), [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0]);
  // p = 0.4: the top token alone (0.5) already reaches p
  close(softmax(processLogits(logitsOf(probs), [], sample({ topP: 0.4 }))), [1, 0, 0, 0]);
  // tiny p: still one token kept
  const s = Float64Array.from(logitsOf(probs));
  applyTopP(s, 1e-9);
  assert.deepEqual([...s].map((x) => x === -Infinity), [false, true, true, true]);
});

test('temperature is applied before top-p (HF order)', () => {
  // T = 0.5 squares the probabilities: 0.25, 0.09, 0.0225, 0.0025 (sum 0.365);
  // ascending cumulative 0.0025/0.365 = 0.00685, 0.025/0.365 = 0.0685, 0.315, 1 → p = 0.9 drops the two
  // smallest → 0.25/0.34, 0.09/0.34. (top-p first would have kept three tokens.)
  const got = softmax(processLogits(logitsOf([0.5, 0.3, 0.15, 0.05]), [], sample({ temperature: 0.5, topP: 0.9 })));
  close(got, [0.25 / 0.34, 0.09 / 0.34, 0, 0], 1e-12);
});

test('repetition penalty comes before top-k; greedy applies the penalty but not the warpers', () => {
  // logits 3, 2.5, 1 with id 0 seen and penalty 2 → 1.5, 2.5, 1: top-1 is id 1
  assert.equal(selectNextToken([3, 2.5, 1], [0], sample({ topK: 1, repetitionPenalty: 2 }), () => 0.99), 1);
  assert.equal(selectNextToken([3, 2.5, 1], [0], { ...HF_DEFAULTS, repetitionPenalty: 2 }, () => 0), 1);
  assert.equal(selectNextToken([3, 2.5, 1], [0], HF_DEFAULTS, () => 0), 0);
  // greedy ignores temperature / top-k / top-p
  const greedy = processLogits([3, 2.5, 1], [], { doSample: false, temperature: 0.1, topK: 1, topP: 0.1, repetitionPenalty: 1 });
  assert.deepEqual([...greedy], [3, 2.5, 1]);
  assert.equal(argmax([1, 5, 5]), 1);
});

test('sampleIndex: inverse CDF that never lands on a zero-probability token', () => {
  const p = [0, 0.5, 0, 0.5];
  assert.equal(sampleIndex(p, 0), 1);
  assert.equal(sampleIndex(p, 0.49), 1);
  assert.equal(sampleIndex(p, 0.5), 3);
  assert.equal(sampleIndex(p, 0.9999999999), 3);
  assert.equal(sampleIndex([0.3, 0.3, 0.3, 0], 0.95), 2); // mass sums below u: last token with mass
});

test('sampling frequencies match the hand-computed nucleus distribution (fixed seed)', () => {
  const params = sample({ topP: 0.75 }); // → 0.625 / 0.375 over ids 0 and 1 (see above)
  const logits = logitsOf([0.5, 0.3, 0.15, 0.05]);
  const rng = createRng(1234);
  const N = 20000;
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < N; i++) counts[selectNextToken(logits, [], params, rng)]++;
  // standard error sqrt(0.625·0.375/N) ≈ 0.0034; allow 4σ
  assert.ok(Math.abs(counts[0] / N - 0.625) < 0.014, `id 0: ${counts[0] / N}`);
  assert.ok(Math.abs(counts[1] / N - 0.375) < 0.014, `id 1: ${counts[1] / N}`);
  assert.equal(counts[2] + counts[3], 0);
  // same seed, same draws
  const a = createRng(7);
  const b = createRng(7);
  const draws = (r: () => number) => Array.from({ length: 50 }, () => selectNextToken(logitsOf([0.25, 0.25, 0.25, 0.25]), [], sample({}), r));
  assert.deepEqual(draws(a), draws(b));
});

test('parameter ranges follow HF (temperature > 0 when sampling, 0 < top_p ≤ 1, penalty > 0)', () => {
  assert.throws(() => validateSamplingParams(sample({ temperature: 0 })), /temperature must be a number > 0/);
  assert.throws(() => validateSamplingParams(sample({ topP: 0 })), /top_p must be in \(0, 1\]/);
  assert.throws(() => validateSamplingParams(sample({ topK: 1.5 })), /top_k/);
  assert.throws(() => validateSamplingParams({ ...HF_DEFAULTS, repetitionPenalty: 0 }), /repetition_penalty/);
  validateSamplingParams({ ...HF_DEFAULTS, temperature: 0 }); // greedy: temperature unused
});

test('resolveSampling: flags over generation_config.json over HF defaults; temperature 0 = greedy', () => {
  assert.deepEqual(resolveSampling({}), HF_DEFAULTS);
  const gc = { do_sample: true, temperature: 0.6, top_p: 0.9 };
  assert.deepEqual(resolveSampling(gc), { doSample: true, temperature: 0.6, topK: 50, topP: 0.9, repetitionPenalty: 1 });
  assert.equal(resolveSampling(gc, { temperature: 0 }).doSample, false);
  assert.deepEqual(resolveSampling({ do_sample: false }, { temperature: 0.7, topK: 5 }), { doSample: true, temperature: 0.7, topK: 5, topP: 1, repetitionPenalty: 1 });
  assert.equal(resolveSampling({ do_sample: false, temperature: 0.6 }).doSample, false);
  assert.equal(resolveSampling({ repetition_penalty: 1.3 }, {}).repetitionPenalty, 1.3);
});

test('readGenerationDefaults: the used fields of generation_config.json, type errors name file and field', async () => {
  const dir = tempDir('loralab-gencfg-');
  assert.deepEqual(await readGenerationDefaults(dir), {}); // no file
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ do_sample: true, temperature: 0.6, top_p: 0.9, top_k: null, eos_token_id: [1, 2], max_new_tokens: 64 }));
  assert.deepEqual(await readGenerationDefaults(dir), { do_sample: true, temperature: 0.6, top_p: 0.9, max_new_tokens: 64 });
  writeFileSync(join(dir, 'generation_config.json'), '{"temperature": "hot"}');
  await assert.rejects(readGenerationDefaults(dir), (e: Error) => e.message === `${join(dir, 'generation_config.json')}: "temperature" must be a number ≥ 0, got "hot"; fix or remove the field`);
  writeFileSync(join(dir, 'generation_config.json'), '{"top_p": 1.5}');
  await assert.rejects(readGenerationDefaults(dir), /"top_p" must be a number in \(0, 1\]/);
});
