/**
 * Per-token negative log-likelihood of a text, with Hugging Face's sliding-window perplexity
 * (transformers docs, "Perplexity of fixed-length models"): windows of `maxLength` tokens
 * advance by `stride`; each window scores only the tokens the previous window did not, so
 * every token after the first is scored exactly once, with as much left context as fits.
 */
import type { CausalLM } from './causal-lm';
import { IGNORE_INDEX } from '../train/loss';

export interface ScoreResult {
  /** The scored ids (BOS first when the tokenizer adds one). */
  token_ids: number[];
  /** NLL (natural log) of token_ids[i + 1]; length token_ids.length − 1. */
  nll: number[];
  mean_nll: number;
  perplexity: number;
}

/**
 * Scores `ids` under `lm` (which must output token_nll).
 *
 * @param maxLength window length in tokens (default: the model's max_position_embeddings).
 * @param stride    window step (default: maxLength / 2, rounded down, at least 1).
 * @throws when fewer than 2 tokens are given (nothing to predict).
 */
export async function scoreTokens(lm: CausalLM, ids: number[], maxLength?: number, stride?: number): Promise<ScoreResult> {
  if (ids.length < 2) throw new Error('text is too short to score: it needs at least one token after BOS');
  const max = Math.min(maxLength ?? lm.config.max_position_embeddings, lm.config.max_position_embeddings);
  const step = Math.max(1, stride ?? Math.floor(max / 2));
  const nll = new Array<number>(ids.length - 1).fill(NaN);
  let prevEnd = 0;
  for (let begin = 0; begin < ids.length; begin += step) {
    const end = Math.min(begin + max, ids.length);
    const window = ids.slice(begin, end);
    // labels[t] = ids[begin + t + 1] when that token is new in this window.
    const labels = window.map((_, t) => {
      const j = begin + t + 1;
      return j < end && j >= prevEnd ? ids[j] : IGNORE_INDEX;
    });
    const { tokenNll } = await lm.run({ inputIds: [window], labels: [labels] });
    const data = tokenNll!.data as Float32Array;
    labels.forEach((l, t) => {
      if (l !== IGNORE_INDEX) nll[begin + t] = data[t];
    });
    prevEnd = end;
    if (end === ids.length) break;
  }
  const mean = nll.reduce((a, b) => a + b, 0) / nll.length;
  return { token_ids: ids, nll, mean_nll: mean, perplexity: Math.exp(mean) };
}
