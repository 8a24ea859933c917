/**
 * Autoregressive generation: the decoding loop, stopping (EOS, stop strings, max_new_tokens,
 * the model's context) and streaming of text deltas, over a small `DecodeStep` interface that
 * turns "the ids so far" into next-token logits.
 *
 * Two steps implement it: `fullForwardStep` (here; recomputes the whole prefix every token with
 * the full-forward `CausalLM`: correct, O(T²)) and, later, a KV-cache step (prefill once, then
 * one token per call with `past_key_values`). The loop does not know which one it drives.
 *
 * Semantics follow transformers' `GenerationMixin.generate` with `num_beams=1` (generation/
 * utils.py `_sample`): one token per step, the EOS token is part of the returned ids, a finished
 * sequence stops. Stop strings are checked on the decoded completion, and the returned text ends
 * before the first one.
 */
import type { CausalLM } from './causal-lm';
import { type SamplingParams, selectNextToken, validateSamplingParams } from './sampling';
import { createRng } from '../data/random';

/** Next-token logits of one row: length V (the model's vocab_size). */
export type Logits = Float32Array | Float64Array;

/**
 * One decoding step for a batch of rows.
 *
 * Contract of `step(ids, cache)`:
 * - the first call of a generation passes `cache = null` and the prompt of each row (prefill);
 * - every later call passes the rows of the previous call, each extended by exactly one token,
 *   and the `cache` the previous call returned;
 * - it returns, per row, the logits for the token after `ids[b]` (a copy the caller may keep),
 *   and the cache for the next call (`null` when the step keeps none).
 * Rows may differ in length. A step owns no generation state beyond what its cache holds, so one
 * step object can serve several generations one after another (e.g. one per adapter).
 */
export interface DecodeStep<Cache = unknown> {
  /** Largest sequence length (prompt + generated) the model accepts: `max_position_embeddings`. */
  readonly maxPositions: number;
  step(ids: readonly (readonly number[])[], cache: Cache | null): Promise<{ logits: Logits[]; cache: Cache | null }>;
}

/**
 * The full-forward step: runs `lm` on every row's whole sequence (right-padded to the longest,
 * padding masked out) and keeps the logits at each row's last real position. Keeps no cache.
 * Uses whatever adapter `lm` currently has (set it with `lm.setAdapter` / `lm.clearAdapter`).
 *
 * `lm` must have been loaded with the `logits` output (the default).
 */
export function fullForwardStep(lm: CausalLM): DecodeStep<null> {
  return {
    maxPositions: lm.config.max_position_embeddings,
    async step(ids) {
      const T = Math.max(...ids.map((r) => r.length));
      const pad = (row: readonly number[], v: number) => [...row, ...new Array<number>(T - row.length).fill(v)];
      const { logits } = await lm.run({
        inputIds: ids.map((r) => pad(r, 0)),
        attentionMask: ids.map((r) => pad(r.map(() => 1), 0)),
      });
      if (!logits) throw new Error('fullForwardStep: the model was loaded without the logits output');
      const V = logits.shape[2];
      const data = logits.data as Float32Array | Float64Array;
      return { logits: ids.map((r, b) => data.slice((b * T + r.length - 1) * V, (b * T + r.length) * V)), cache: null };
    },
  };
}

/** Why generation ended: an EOS token, a stop string, or the token budget / context (HF and OpenAI names). */
export type FinishReason = 'eos' | 'stop' | 'length';

export interface GenerateOptions {
  /** Most tokens to generate (≥ 1). HF `max_new_tokens`. */
  maxNewTokens: number;
  sampling: SamplingParams;
  /** Ids that end generation (`generation_config.json`'s `eos_token_id`, a list or one id). */
  eosTokenIds: readonly number[];
  /** Strings that end generation when they appear in the decoded completion. */
  stopStrings?: readonly string[];
  /** Seed of the sampling RNG (`createRng(seed)`); unused by greedy decoding. Default 0. */
  seed?: number;
  /** Token ids → text, special tokens left out (e.g. `ids => tok.decode(ids, {skipSpecialTokens: true})`). */
  decode: (ids: readonly number[]) => string;
  /** Called with each new piece of text as soon as it is final (see `generate`). */
  onText?: (delta: string) => void;
}

export interface GenerateResult {
  /** The new token ids, the EOS token included when generation ended on it. */
  ids: number[];
  /** The decoded completion (special tokens left out), cut before a stop string. */
  text: string;
  finishReason: FinishReason;
}

/** How many prompt tokens to decode in front of the new ones, so the decoder sees their left context. */
const ANCHOR_TOKENS = 8;

/**
 * Generates a continuation of `promptIds` with `step`.
 *
 * Each step: logits of the next token → `selectNextToken` (repetition penalty over prompt and
 * generated ids, then temperature / top-k / top-p when sampling; RNG `createRng(seed)`) → append.
 * Stops, in this order of checks after each token: an id in `eosTokenIds` ("eos"); a stop string
 * in the decoded completion ("stop"; the text is cut before the earliest one); `maxNewTokens`
 * tokens or the model's context full ("length").
 *
 * Streaming: `onText` gets text deltas whose concatenation equals the final `text`. The completion
 * is decoded as a whole after every token (with a few prompt tokens in front, so a SentencePiece
 * decoder keeps a leading space), and only its stable part is emitted: trailing U+FFFD (a UTF-8
 * character whose bytes are split over byte-fallback tokens) and a tail that may be the start of
 * a stop string are held back until the next token settles them.
 *
 * @throws RangeError when `maxNewTokens` < 1, the prompt is empty or fills the context, or a
 *   sampling parameter is out of range (see `validateSamplingParams`).
 */
export async function generate<C>(step: DecodeStep<C>, promptIds: readonly number[], opts: GenerateOptions): Promise<GenerateResult> {
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 1) throw new RangeError(`max_new_tokens must be an integer ≥ 1, got ${opts.maxNewTokens}`);
  if (promptIds.length === 0) throw new RangeError('the prompt has no tokens: nothing to continue from');
  if (promptIds.length >= step.maxPositions) {
    throw new RangeError(`the prompt has ${promptIds.length} tokens but the model's context (max_position_embeddings) is ${step.maxPositions}: shorten the prompt`);
  }
  validateSamplingParams(opts.sampling);
  const rng = createRng(opts.seed ?? 0);
  const eos = new Set(opts.eosTokenIds);
  const stops = (opts.stopStrings ?? []).filter((s) => s.length > 0);
  const text = completionDecoder(promptIds, opts.decode);

  const ids = [...promptIds];
  const generated: number[] = [];
  let cache: C | null = null;
  let emitted = '';
  let finishReason: FinishReason = 'length';
  let finalText = '';

  while (true) {
    const out: { logits: Logits[]; cache: C | null } = await step.step([ids], cache);
    cache = out.cache;
    const next = selectNextToken(out.logits[0], ids, opts.sampling, rng);
    ids.push(next);
    generated.push(next);
    if (eos.has(next)) {
      finishReason = 'eos';
      finalText = text(generated.slice(0, -1));
      break;
    }
    const full = text(generated);
    const cut = firstStop(full, stops);
    if (cut >= 0) {
      finishReason = 'stop';
      finalText = full.slice(0, cut);
      break;
    }
    if (generated.length >= opts.maxNewTokens || ids.length >= step.maxPositions) {
      finalText = full;
      break;
    }
    const stable = stableLength(full, stops);
    if (opts.onText && stable > emitted.length && full.startsWith(emitted)) {
      opts.onText(full.slice(emitted.length, stable));
      emitted = full.slice(0, stable);
    }
  }
  if (opts.onText && finalText.startsWith(emitted) && finalText.length > emitted.length) opts.onText(finalText.slice(emitted.length));
  return { ids: generated, text: finalText, finishReason };
}

/**
 * new ids → their text in context: decode(anchor + new) minus decode(anchor), where the anchor is
 * the prompt's last few tokens (the whole prompt if that prefix test fails, e.g. when the decoder
 * changes text across the boundary).
 */
function completionDecoder(promptIds: readonly number[], decode: (ids: readonly number[]) => string): (ids: readonly number[]) => string {
  const tail = promptIds.slice(-ANCHOR_TOKENS);
  const tailText = decode(tail);
  const fullText = decode(promptIds);
  return (ids) => {
    if (ids.length === 0) return '';
    const withTail = decode([...tail, ...ids]);
    if (withTail.startsWith(tailText) && !tailText.includes('\uFFFD')) return withTail.slice(tailText.length);
    const withAll = decode([...promptIds, ...ids]);
    return withAll.startsWith(fullText) ? withAll.slice(fullText.length) : decode(ids);
  };
}

/** Index of the earliest stop string in `text`, or −1. */
function firstStop(text: string, stops: readonly string[]): number {
  let best = -1;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

/**
 * How much of `text` cannot change any more: all but a trailing run of U+FFFD (an incomplete
 * UTF-8 character) and all but a tail that is a proper prefix of some stop string.
 */
function stableLength(text: string, stops: readonly string[]): number {
  let end = text.length;
  while (end > 0 && text[end - 1] === '\uFFFD') end--;
  for (const s of stops) {
    for (let k = Math.min(s.length - 1, end); k > 0; k--) {
      if (text.slice(end - k, end) === s.slice(0, k)) {
        end -= k;
        break;
      }
    }
  }
  return end;
}
