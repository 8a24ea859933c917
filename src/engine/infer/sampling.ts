/**
 * Choosing the next token from a row of logits: logits processors and sampling with Hugging
 * Face `transformers` generation semantics.
 *
 * Source: transformers `generation/logits_process.py` (RepetitionPenaltyLogitsProcessor,
 * TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper) and `generation/utils.py`
 * (`_get_logits_processor`, `_sample`), read at huggingface/transformers commit 00857b6cf63a
 * (v5 development line; the formulas and their order are unchanged since v4.45). The order is
 * repetition penalty → temperature → top-k → top-p; temperature, top-k and top-p act only when
 * sampling (`do_sample`), the repetition penalty also in greedy decoding.
 *
 * Logits are processed in float64 copies; the caller's array is never changed. A filtered token
 * gets −Infinity (HF's `filter_value`).
 */

/** How the next token is chosen (HF `GenerationConfig` names in snake_case). */
export interface SamplingParams {
  /** Sample from the processed distribution (true) or take its argmax (false). HF `do_sample`. */
  doSample: boolean;
  /** Divides the logits (> 0); 1 = unchanged. Only when sampling. HF `temperature`. */
  temperature: number;
  /** Keep the k highest logits (ties with the k-th kept too); 0 = off. Only when sampling. HF `top_k`. */
  topK: number;
  /** Nucleus: keep the smallest set of most probable tokens whose probability sums to ≥ top_p; 1 = off. HF `top_p`. */
  topP: number;
  /** CTRL penalty (> 0) on every token already in the sequence, prompt included; 1 = off. HF `repetition_penalty`. */
  repetitionPenalty: number;
}

/**
 * Checks the ranges HF's processors enforce.
 * @throws RangeError naming the parameter (HF's name) and the allowed range.
 */
export function validateSamplingParams(p: SamplingParams): void {
  if (!(p.repetitionPenalty > 0) || !Number.isFinite(p.repetitionPenalty)) {
    throw new RangeError(`repetition_penalty must be a number > 0 (1 = no penalty), got ${p.repetitionPenalty}`);
  }
  if (!p.doSample) return;
  if (!(p.temperature > 0) || !Number.isFinite(p.temperature)) {
    throw new RangeError(`temperature must be a number > 0 when sampling (0 means greedy decoding), got ${p.temperature}`);
  }
  if (!Number.isInteger(p.topK) || p.topK < 0) throw new RangeError(`top_k must be an integer ≥ 0 (0 = off), got ${p.topK}`);
  if (!(p.topP > 0 && p.topP <= 1)) throw new RangeError(`top_p must be in (0, 1] (1 = off), got ${p.topP}`);
}

/**
 * CTRL repetition penalty (Keskar et al. 2019, arXiv:1909.05858, as in HF
 * `RepetitionPenaltyLogitsProcessor`): for each distinct token id in `ids` (prompt included),
 * a logit x becomes x / penalty when x ≥ 0 and x · penalty when x < 0. Applied once per token,
 * however often it occurs. In place on `scores` (length V); ids ≥ V are ignored.
 */
export function applyRepetitionPenalty(scores: Float64Array, ids: readonly number[], penalty: number): void {
  if (penalty === 1) return;
  const seen = new Set<number>();
  for (const id of ids) {
    if (id < 0 || id >= scores.length || seen.has(id)) continue;
    seen.add(id);
    const x = scores[id];
    scores[id] = x < 0 ? x * penalty : x / penalty;
  }
}

/** HF `TemperatureLogitsWarper`: scores / temperature, in place. */
export function applyTemperature(scores: Float64Array, temperature: number): void {
  if (temperature === 1) return;
  for (let i = 0; i < scores.length; i++) scores[i] /= temperature;
}

/**
 * HF `TopKLogitsWarper`: every score below the k-th highest becomes −Infinity (so a tie with the
 * k-th is kept). k is clamped to [1, V]; 0 turns it off. In place.
 */
export function applyTopK(scores: Float64Array, k: number): void {
  if (k <= 0 || k >= scores.length) return;
  const kth = [...scores].sort((a, b) => b - a)[Math.max(1, k) - 1];
  for (let i = 0; i < scores.length; i++) if (scores[i] < kth) scores[i] = -Infinity;
}

/**
 * HF `TopPLogitsWarper` (nucleus sampling, Holtzman et al. 2019): sort ascending, accumulate the
 * softmax probabilities, and drop every token whose cumulative probability (itself and all less
 * likely tokens) is ≤ 1 − top_p; the `minTokensToKeep` most likely tokens always stay. In place.
 * Ties sort by id (the lower id counts as more likely), a choice HF leaves to `torch.sort`.
 */
export function applyTopP(scores: Float64Array, topP: number, minTokensToKeep = 1): void {
  if (topP >= 1) return;
  const order = Array.from(scores.keys()).sort((a, b) => scores[a] - scores[b] || b - a);
  const probs = softmax(scores);
  const V = scores.length;
  let cumulative = 0;
  for (let j = 0; j < V - minTokensToKeep; j++) {
    cumulative += probs[order[j]];
    if (cumulative <= 1 - topP) scores[order[j]] = -Infinity;
    else break;
  }
}

/** Softmax in float64 (max-subtracted); −Infinity scores get probability 0. */
export function softmax(scores: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < scores.length; i++) if (scores[i] > max) max = scores[i];
  const out = new Float64Array(scores.length);
  let sum = 0;
  for (let i = 0; i < scores.length; i++) {
    out[i] = Math.exp(scores[i] - max);
    sum += out[i];
  }
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

/** Index of the highest score; the lowest index on ties (as `torch.argmax`). */
export function argmax(scores: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < scores.length; i++) if (scores[i] > scores[best]) best = i;
  return best;
}

/**
 * The processed scores HF would sample from (or take the argmax of): a float64 copy of `logits`
 * with the repetition penalty, then (when sampling) temperature, top-k and top-p applied.
 *
 * @param logits next-token logits, length V
 * @param ids every id of the sequence so far, prompt included (for the repetition penalty)
 */
export function processLogits(logits: ArrayLike<number>, ids: readonly number[], p: SamplingParams): Float64Array {
  const scores = Float64Array.from(logits);
  applyRepetitionPenalty(scores, ids, p.repetitionPenalty);
  if (p.doSample) {
    applyTemperature(scores, p.temperature);
    applyTopK(scores, p.topK);
    applyTopP(scores, p.topP);
  }
  return scores;
}

/**
 * Draws an index from a probability vector by inverse CDF with one uniform number u ∈ [0, 1)
 * (`torch.multinomial(probs, 1)` semantics; the draw itself is ours, not torch's RNG).
 * Never returns an index of probability 0.
 */
export function sampleIndex(probs: ArrayLike<number>, u: number): number {
  let cumulative = 0;
  let last = -1;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] <= 0) continue;
    cumulative += probs[i];
    last = i;
    if (u < cumulative) return i;
  }
  return last; // rounding left u ≥ the total: the last token with mass
}

/**
 * Chooses the next token: argmax of the processed scores when not sampling, else a draw from
 * their softmax with `rng` (a uniform [0, 1) generator, e.g. `createRng(seed)` from
 * `data/random.ts`).
 */
export function selectNextToken(logits: ArrayLike<number>, ids: readonly number[], p: SamplingParams, rng: () => number): number {
  const scores = processLogits(logits, ids, p);
  if (!p.doSample) return argmax(scores);
  return sampleIndex(softmax(scores), rng());
}
