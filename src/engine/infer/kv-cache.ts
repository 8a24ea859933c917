/**
 * Decoding with a KV cache: the prompt is run once (prefill), then one token per call, each
 * call feeding back the keys and values the previous one returned. One session and one copy of
 * the weights serve both: the graph built with `BuildOptions.kvCache` takes
 * `past_key_values.<i>.key|value` (B, Hkv, P, Dh) — P = 0 for the prefill — and returns
 * `present.<i>.key|value` (B, Hkv, P+T, Dh), the names of transformers.js / Optimum ONNX exports.
 *
 * Shape legend: B rows, T new tokens per call, P cached tokens, S = P + T, Hkv
 * num_key_value_heads, Dh head_dim, V vocab_size.
 *
 * Batches of prompts of different lengths are left-padded, as Hugging Face batches for
 * generation: padding has attention_mask 0 and each row's position ids count from 0 at its first
 * real token (transformers `generate`: position_ids = cumsum(attention_mask) − 1), so a row's
 * logits do not depend on the other rows. Adapters are the model's LoRA feeds (`CausalLM.setAdapter`),
 * so swapping one never rebuilds the session.
 *
 * longrope (Phi-3): when the length crosses original_max_position_embeddings, the cached keys
 * were rotated with the short factors; like transformers (Phi3ForCausalLM.
 * prepare_inputs_for_generation, "enforce re-compute cache"), the step that crosses drops the
 * cache and prefills the whole sequence again with the long factors.
 */
import { longropeSwitchLength } from '../models/decoder';
import { type DecoderConfig, pastNames, presentNames } from '../models/types';
import type { HostTensor } from '../tensor';
import { CausalLM } from './causal-lm';
import type { DecodeStep, Logits } from './generate';

/** What `KvCacheStep` drives: a `CausalLM` loaded with `kvCache: true` (or any object like it, e.g. in benchmarks). */
export interface KvCacheModel {
  readonly config: DecoderConfig;
  readonly dtype: 'float32' | 'float64';
  /** Runs the KV-cache graph on these feeds plus the adapter's LoRA feeds; every output by name. */
  runFeeds(feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>>;
}

/**
 * The state after a call: what the next call feeds back. Treat it as opaque and immutable (each
 * call returns a new one, so an old one can be extended again, e.g. to branch).
 */
export interface KvCache {
  /** Every row's tokens so far (prompt + fed tokens), without padding. */
  readonly rows: readonly (readonly number[])[];
  /** Cached length S (padding included): the P of the next call. */
  readonly length: number;
  /** attention_mask over the S cached positions, (B, S) row-major: 0 padding, 1 real token. */
  readonly mask: BigInt64Array;
  /** Per layer: `present.<i>.key`, `present.<i>.value`, (B, Hkv, S, Dh) in the compute dtype. */
  readonly kv: readonly HostTensor[];
  /** Whether the cached keys were rotated with longrope's long factors. */
  readonly long: boolean;
}

/** Next-token logits of each row (length V, copies) and the cache to extend. */
export interface CacheStepResult {
  logits: Logits[];
  cache: KvCache;
  /** The logits of every position fed in this call, (B, T, V) with the rows left-padded (e.g. to score a prompt, infer/score.ts). */
  allLogits: HostTensor;
}

/**
 * A `DecodeStep` (infer/generate.ts) that keeps a KV cache: `generate(new KvCacheStep(lm), …)`
 * decodes in O(T) model work per token instead of the full-forward step's O(T²) recompute.
 * Also usable directly: `prefill(rows)` then `extend(cache, nextIds)`.
 *
 * Numerics: the logits equal the full forward's at the same position (float32 rounding aside;
 * checked within 1e-4 in test/engine/infer/kv-cache.test.ts).
 */
export class KvCacheStep implements DecodeStep<KvCache> {
  readonly maxPositions: number;
  private readonly switchLength: number | null;

  /**
   * @param model a `CausalLM` loaded with `{ kvCache: true }`; its current adapter is used on
   *   every call (`setAdapter` / `clearAdapter` between generations), or with `multiLora: true`
   *   each row's own adapter (`setAdapters`; row i = adapter i by default).
   * @throws Error when `model` is a CausalLM loaded without `kvCache`.
   */
  constructor(private readonly model: KvCacheModel) {
    if (model instanceof CausalLM && !model.lm.cache) {
      throw new Error('KvCacheStep: the model was loaded without the KV cache; load it with CausalLM.load(dir, { kvCache: true })');
    }
    this.maxPositions = model.config.max_position_embeddings;
    this.switchLength = longropeSwitchLength(model.config);
  }

  /**
   * The `DecodeStep` contract: `cache` null → prefill `ids`; else every row of `ids` is the
   * cache's row plus one token, which is fed.
   * @throws Error when a row did not grow by exactly one token or the batch size changed.
   */
  async step(ids: readonly (readonly number[])[], cache: KvCache | null): Promise<CacheStepResult> {
    if (cache === null) return this.prefill(ids);
    if (ids.length !== cache.rows.length) throw new Error(`KvCacheStep.step: ${ids.length} rows, but the cache holds ${cache.rows.length}`);
    ids.forEach((row, b) => {
      if (row.length !== cache.rows[b].length + 1) {
        throw new Error(`KvCacheStep.step: row ${b} has ${row.length} tokens; the cache holds ${cache.rows[b].length}, so it must have ${cache.rows[b].length + 1}`);
      }
    });
    return this.extend(cache, ids.map((r) => r[r.length - 1]));
  }

  /**
   * Runs the prompts (B rows, left-padded to the longest, T = its length) with an empty cache.
   * Feeds: input_ids (B, T) with padding id 0, attention_mask (B, T), position_ids (B, T) =
   * 0.. from each row's first real token (0 on padding), `past_key_values.*` (B, Hkv, 0, Dh).
   * @throws RangeError when there are no rows or a row is empty.
   */
  async prefill(rows: readonly (readonly number[])[]): Promise<CacheStepResult> {
    if (rows.length === 0) throw new RangeError('KvCacheStep.prefill: no rows');
    rows.forEach((r, b) => {
      if (r.length === 0) throw new RangeError(`KvCacheStep.prefill: row ${b} is empty; a prompt needs at least one token`);
    });
    const B = rows.length;
    const T = Math.max(...rows.map((r) => r.length));
    const ids = new BigInt64Array(B * T);
    const mask = new BigInt64Array(B * T);
    const pos = new BigInt64Array(B * T);
    rows.forEach((row, b) => {
      const pad = T - row.length;
      row.forEach((id, t) => {
        ids[b * T + pad + t] = BigInt(id);
        mask[b * T + pad + t] = 1n;
        pos[b * T + pad + t] = BigInt(t);
      });
    });
    const { num_hidden_layers: L, num_key_value_heads: Hkv, head_dim: Dh } = this.model.config;
    const empty: HostTensor = { dtype: this.model.dtype, shape: [B, Hkv, 0, Dh], data: this.model.dtype === 'float32' ? new Float32Array(0) : new Float64Array(0) };
    const kv = Array.from({ length: 2 * L }, () => empty);
    return this.run(rows.map((r) => [...r]), ids, T, mask, pos, kv, T);
  }

  /**
   * Feeds one token per row (`nextIds[b]` appended to row b) after `cache`: input_ids (B, 1),
   * attention_mask (B, S+1) = the cache's plus a 1, position_ids (B, 1) = each row's length so
   * far, past = the cache. With longrope, the call that crosses original_max_position_embeddings
   * prefills the extended rows instead (see the file comment).
   * @throws RangeError when `nextIds` does not have one id per row.
   */
  async extend(cache: KvCache, nextIds: readonly number[]): Promise<CacheStepResult> {
    const B = cache.rows.length;
    if (nextIds.length !== B) throw new RangeError(`KvCacheStep.extend: ${nextIds.length} ids for ${B} rows`);
    const rows = cache.rows.map((r, b) => [...r, nextIds[b]]);
    if (this.switchLength !== null && !cache.long && Math.max(...rows.map((r) => r.length)) > this.switchLength) {
      return this.prefill(rows);
    }
    const S = cache.length;
    const mask = new BigInt64Array(B * (S + 1));
    for (let b = 0; b < B; b++) {
      mask.set(cache.mask.subarray(b * S, (b + 1) * S), b * (S + 1));
      mask[b * (S + 1) + S] = 1n;
    }
    const ids = BigInt64Array.from(nextIds, (id) => BigInt(id));
    const pos = BigInt64Array.from(cache.rows, (r) => BigInt(r.length));
    return this.run(rows, ids, 1, mask, pos, cache.kv, S + 1);
  }

  private async run(rows: number[][], ids: BigInt64Array, T: number, mask: BigInt64Array, pos: BigInt64Array, kv: readonly HostTensor[], S: number): Promise<CacheStepResult> {
    const B = rows.length;
    const feeds: Record<string, HostTensor> = {
      input_ids: { dtype: 'int64', shape: [B, T], data: ids },
      attention_mask: { dtype: 'int64', shape: [B, S], data: mask },
      position_ids: { dtype: 'int64', shape: [B, T], data: pos },
    };
    const L = this.model.config.num_hidden_layers;
    for (let i = 0; i < L; i++) {
      feeds[pastNames(i).key] = kv[2 * i];
      feeds[pastNames(i).value] = kv[2 * i + 1];
    }
    const out = await this.model.runFeeds(feeds);
    const present: HostTensor[] = [];
    for (let i = 0; i < L; i++) present.push(out[presentNames(i).key], out[presentNames(i).value]);
    const logits = out.logits;
    const V = logits.shape[2];
    const data = logits.data as Float32Array | Float64Array;
    // Left padding: every row's last real token is at position T − 1.
    const last = Array.from({ length: B }, (_, b) => data.slice((b * T + T - 1) * V, (b * T + T) * V));
    const maxLen = Math.max(...rows.map((r) => r.length));
    const long = this.switchLength !== null && maxLen > this.switchLength;
    return { logits: last, cache: { rows, length: S, mask, kv: present, long }, allLogits: logits };
  }
}
