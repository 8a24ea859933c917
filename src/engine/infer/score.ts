/**
 * Per-token negative log-likelihood of a text, with Hugging Face's sliding-window perplexity
 * (transformers docs, "Perplexity of fixed-length models"): windows of `maxLength` tokens
 * advance by `stride`; each window scores only the tokens the previous window did not, so
 * every token after the first is scored exactly once, with as much left context as fits.
 */
import type { CausalLM } from './causal-lm';
import { KvCacheStep } from './kv-cache';
import { IGNORE_INDEX } from '../train/loss';
import type { HostTensor } from '../tensor';

export interface ScoreResult {
  /** The scored ids (BOS first when the tokenizer adds one). */
  token_ids: number[];
  /** NLL (natural log) of token_ids[i + 1]; length token_ids.length − 1. */
  nll: number[];
  mean_nll: number;
  perplexity: number;
  /**
   * With `topK`: per predicted position i (aligned with nll), the k most probable next tokens
   * after token_ids[0..i], most probable first, probabilities softmax(logits) in [0, 1].
   */
  top?: TopToken[][];
}

/** One candidate of a position's next-token distribution. */
export interface TopToken {
  id: number;
  /** softmax probability (float64 from the float32 logits). */
  p: number;
}

/**
 * The text normalisation applied before a text is tokenized for scoring, the same as the
 * training data reader's (data/read.ts): a UTF-8 BOM at the start dropped, CRLF line ends made
 * LF. So `loralab score --file`, the worker's `score` and training see the same tokens for a
 * file saved on Windows.
 */
export function normalizeText(text: string): string {
  return text.replace(/^\uFEFF/, '').replace(/\r\n/g, '\n');
}

/**
 * Scores `ids` under `lm`: a model loaded with the loss output (its `token_nll` is used), or a
 * KV-cache model (`kvCache: true`, as the inference worker loads it; each window is one prefill
 * and the NLL is taken from its logits, `tokenNllFromLogits`).
 *
 * @param maxLength window length in tokens (default: the model's max_position_embeddings).
 * @param stride    window step (default: maxLength / 2, rounded down, at least 1).
 * @param opts.topK also return the k most probable next tokens per position (`top`; needs the
 *                  logits: a KV-cache model, or a model loaded with the logits output).
 * @throws when fewer than 2 tokens are given (nothing to predict), or topK without logits.
 */
export async function scoreTokens(lm: CausalLM, ids: number[], maxLength?: number, stride?: number, opts: { topK?: number } = {}): Promise<ScoreResult> {
  if (ids.length < 2) throw new Error('text is too short to score: it needs at least one token after BOS');
  const max = Math.min(maxLength ?? lm.config.max_position_embeddings, lm.config.max_position_embeddings);
  const step = Math.max(1, stride ?? Math.floor(max / 2));
  const nll = new Array<number>(ids.length - 1).fill(NaN);
  const k = opts.topK ?? 0;
  const top: TopToken[][] = [];
  let prevEnd = 0;
  for (let begin = 0; begin < ids.length; begin += step) {
    const end = Math.min(begin + max, ids.length);
    const window = ids.slice(begin, end);
    // labels[t] = ids[begin + t + 1] when that token is new in this window.
    const labels = window.map((_, t) => {
      const j = begin + t + 1;
      return j < end && j >= prevEnd ? ids[j] : IGNORE_INDEX;
    });
    let data: Float32Array | Float64Array;
    let logits: HostTensor | undefined;
    if (lm.lm.cache) {
      logits = (await new KvCacheStep(lm).prefill([window])).allLogits;
      data = tokenNllFromLogits(logits, labels);
    } else {
      const out = await lm.run({ inputIds: [window], labels: [labels] });
      data = out.tokenNll!.data as Float32Array;
      logits = out.logits;
    }
    if (k > 0 && !logits) throw new Error('top-k next tokens need the logits: load the model with kvCache or the logits output');
    labels.forEach((l, t) => {
      if (l === IGNORE_INDEX) return;
      nll[begin + t] = data[t];
      if (k > 0) top[begin + t] = topKFromLogits(logits!, t, k);
    });
    prevEnd = end;
    if (end === ids.length) break;
  }
  const mean = nll.reduce((a, b) => a + b, 0) / nll.length;
  return { token_ids: ids, nll, mean_nll: mean, perplexity: Math.exp(mean), ...(k > 0 ? { top } : {}) };
}

/**
 * The `k` most probable entries of softmax(logits[0, t, :]) (float64, max subtracted), most
 * probable first; ties by lower id. Probabilities as in `tokenNllFromLogits` (p = exp(−nll)).
 *
 * @param logits (1, T, V) float32 or float64.
 * @param t      position, 0 ≤ t < T.
 */
export function topKFromLogits(logits: HostTensor, t: number, k: number): TopToken[] {
  const V = logits.shape[2];
  const row = (logits.data as Float32Array | Float64Array).subarray(t * V, (t + 1) * V);
  let max = -Infinity;
  for (let v = 0; v < V; v++) if (row[v] > max) max = row[v];
  let sum = 0;
  for (let v = 0; v < V; v++) sum += Math.exp(row[v] - max);
  const best: number[] = [];
  for (let v = 0; v < V; v++) {
    if (best.length === k && row[v] <= row[best[k - 1]]) continue;
    let i = best.length === k ? k - 1 : best.length;
    if (best.length < k) best.push(v);
    while (i > 0 && row[best[i - 1]] < row[v]) { best[i] = best[i - 1]; i--; }
    best[i] = v;
  }
  return best.map((id) => ({ id, p: Math.exp(row[id] - max) / sum }));
}

/**
 * Per-position NLL from the logits of one row: −log softmax(logits[t])[labels[t]] (natural
 * log, computed in float64 with the max subtracted), 0 where labels[t] is IGNORE_INDEX; the
 * host-side twin of the graph's `causalLMLoss` token_nll.
 *
 * @param logits (1, T, V) float32 or float64.
 * @param labels length T.
 */
export function tokenNllFromLogits(logits: HostTensor, labels: readonly number[]): Float64Array {
  const [, T, V] = logits.shape;
  const data = logits.data as Float32Array | Float64Array;
  const out = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    const l = labels[t];
    if (l === IGNORE_INDEX) continue;
    const row = data.subarray(t * V, (t + 1) * V);
    let max = -Infinity;
    for (let v = 0; v < V; v++) if (row[v] > max) max = row[v];
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(row[v] - max);
    out[t] = max + Math.log(sum) - row[l];
  }
  return out;
}
