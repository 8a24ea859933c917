/**
 * Autoregressive generation: the decoding loop, stopping (EOS, stop strings, max_new_tokens,
 * the model's context) and streaming of text deltas, over a small `DecodeStep` interface that
 * turns "the ids so far" into next-token logits.
 *
 * Two steps implement it: `KvCacheStep` (infer/kv-cache.ts; prefill once, then one token per
 * call with `past_key_values`: what `loralab generate` and the worker use) and `fullForwardStep`
 * (here; recomputes the whole prefix every token with the full-forward `CausalLM`: O(T²), kept
 * as the reference the KV cache is tested against). The loop does not know which one it drives.
 *
 * `generateBatch` decodes several rows at once (e.g. one per adapter on a multi-LoRA model, row
 * i = variant i); `generate` is its one-row case.
 *
 * Semantics follow transformers' `GenerationMixin.generate` with `num_beams=1` (generation/
 * utils.py `_sample`): one token per step, the EOS token is part of the returned ids, a finished
 * sequence stops. Stop strings are checked on the decoded completion, and the returned text ends
 * before the first one.
 */
import type { CausalLM } from './causal-lm';
import { type SamplingParams, selectNextToken, validateSamplingParams } from './sampling';
import { createRng } from '../data/random';
import { firstStop } from '../stop';

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

/**
 * Why generation ended: an EOS token, a stop string, the token budget / context (HF and OpenAI
 * names), or `signal` aborted (`cancelled`).
 */
export type FinishReason = 'eos' | 'stop' | 'length' | 'cancelled';

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
  /** Checked before every step: once aborted, generation ends with finish_reason "cancelled" and the tokens so far. */
  signal?: { readonly aborted: boolean };
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
 * Generates a continuation of `promptIds` with `step`: `generateBatch` with one row.
 *
 * Each step: logits of the next token → `selectNextToken` (repetition penalty over prompt and
 * generated ids, then temperature / top-k / top-p when sampling; RNG `createRng(seed)`) → append.
 * Stops, in this order of checks after each token: an id in `eosTokenIds` ("eos"); a stop string
 * in the decoded completion ("stop"; the text is cut before the earliest one); `maxNewTokens`
 * tokens or the model's context full ("length"). Before every step, an aborted `opts.signal`
 * ends it ("cancelled", with the tokens generated so far; none when aborted from the start).
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
  const { onText, ...rest } = opts;
  const [res] = await generateBatch(step, [promptIds], { ...rest, onText: onText && ((_row, delta) => onText(delta)) });
  return res;
}

export interface BatchGenerateOptions extends Omit<GenerateOptions, 'onText'> {
  /**
   * Seed of each row's own sampling RNG (`createRng(seeds[b])`); default `seed` (else 0) for every
   * row, so a row samples exactly what `generate` with that seed samples alone.
   */
  seeds?: readonly number[];
  /** Called with row `row`'s next piece of text as soon as it is final (as `GenerateOptions.onText`). */
  onText?: (row: number, delta: string) => void;
  /** Called once per row when it ends, after its last `onText`, with its result. */
  onFinish?: (row: number, result: GenerateResult) => void;
}

/**
 * Generates a continuation of every prompt in one batch: `step` gets all rows each call (a
 * multi-LoRA model gives each row its own adapter), and each row is decoded, stopped and
 * streamed as `generate` does alone, with its own RNG (`seeds`). Results are in prompt order.
 *
 * A row that has ended keeps being fed (its last token again, outputs ignored) until every row
 * has ended, so the batch stays rectangular, as transformers' `generate` pads finished rows.
 * The rows share one cache length: "length" because of the context applies to every open row
 * when the longest row fills it (rows with equal prompts, e.g. one prompt per adapter, end
 * exactly as alone). `signal` ends every open row ("cancelled").
 *
 * @throws RangeError when `maxNewTokens` < 1, there are no prompts, a prompt is empty or fills
 *   the context, `seeds` has not one seed per prompt, or a sampling parameter is out of range.
 */
export async function generateBatch<C>(step: DecodeStep<C>, prompts: readonly (readonly number[])[], opts: BatchGenerateOptions): Promise<GenerateResult[]> {
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 1) throw new RangeError(`max_new_tokens must be an integer ≥ 1, got ${opts.maxNewTokens}`);
  if (prompts.length === 0) throw new RangeError('generateBatch: no prompts');
  for (const p of prompts) {
    if (p.length === 0) throw new RangeError('the prompt has no tokens: nothing to continue from');
    if (p.length >= step.maxPositions) {
      throw new RangeError(`the prompt has ${p.length} tokens but the model's context (max_position_embeddings) is ${step.maxPositions}: shorten the prompt`);
    }
  }
  if (opts.seeds && opts.seeds.length !== prompts.length) throw new RangeError(`generateBatch: ${opts.seeds.length} seeds for ${prompts.length} prompts`);
  validateSamplingParams(opts.sampling);
  const eos = new Set(opts.eosTokenIds);
  const stops = (opts.stopStrings ?? []).filter((s) => s.length > 0);
  const rows = prompts.map((p, b) => ({
    ids: [...p],
    generated: [] as number[],
    rng: createRng(opts.seeds?.[b] ?? opts.seed ?? 0),
    text: completionDecoder(p, opts.decode),
    emitted: '',
    result: null as GenerateResult | null,
  }));
  type Row = (typeof rows)[number];
  const finish = (row: Row, b: number, finishReason: FinishReason, text: string) => {
    if (opts.onText && text.startsWith(row.emitted) && text.length > row.emitted.length) opts.onText(b, text.slice(row.emitted.length));
    row.result = { ids: row.generated, text, finishReason };
    opts.onFinish?.(b, row.result);
  };
  let cache: C | null = null;

  while (rows.some((r) => !r.result)) {
    if (opts.signal?.aborted) {
      rows.forEach((r, b) => { if (!r.result) finish(r, b, 'cancelled', r.text(r.generated)); });
      break;
    }
    const out: { logits: Logits[]; cache: C | null } = await step.step(rows.map((r) => r.ids), cache);
    cache = out.cache;
    rows.forEach((r, b) => {
      if (r.result) {
        r.ids.push(r.ids[r.ids.length - 1]); // keeps the batch rectangular; its logits are ignored
        return;
      }
      const next = selectNextToken(out.logits[b], r.ids, opts.sampling, r.rng);
      r.ids.push(next);
      r.generated.push(next);
    });
    const contextFull = Math.max(...rows.map((r) => r.ids.length)) >= step.maxPositions;
    rows.forEach((r, b) => {
      if (r.result) return;
      if (eos.has(r.generated[r.generated.length - 1])) return finish(r, b, 'eos', r.text(r.generated.slice(0, -1)));
      const full = r.text(r.generated);
      const cut = firstStop(full, stops);
      if (cut >= 0) return finish(r, b, 'stop', full.slice(0, cut));
      if (r.generated.length >= opts.maxNewTokens || contextFull) return finish(r, b, 'length', full);
      const stable = stableLength(full, stops);
      if (opts.onText && stable > r.emitted.length && full.startsWith(r.emitted)) {
        opts.onText(b, full.slice(r.emitted.length, stable));
        r.emitted = full.slice(0, stable);
      }
    });
  }
  return rows.map((r) => r.result!);
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
