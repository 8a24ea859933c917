/**
 * Eval metrics: how well a model's output matches the expected text, each a score in [0, 1]
 * (higher is better), except `nll`, the mean negative log-likelihood (natural log, nats per
 * token) of the expected text given the prompt (lower is better; computed by the runner from the
 * model, not here).
 *
 * | metric | score | passes when (default threshold) |
 * | --- | --- | --- |
 * | `exact` | 1 when output and expected are equal, whitespace at both ends ignored, else 0 (a case with no `max_new_tokens`: when the output starts with expected at a word boundary, {@link answerPrefixMatch}) | score ≥ 1 |
 * | `contains` | 1 when the output contains the expected text (trimmed), else 0 | score ≥ 1 |
 * | `regex` | 1 when the expected text, a JavaScript regular expression (flag `u`), matches somewhere in the output | score ≥ 1 |
 * | `rouge_l` | ROUGE-L F-measure, β = 1 (Lin 2004) | score ≥ 0.5 |
 * | `bleu` | sentence BLEU (Papineni et al. 2002), exp smoothing (sacrebleu) | score ≥ 0.3 |
 * | `nll` | mean NLL of the expected tokens | score ≤ threshold (required) |
 *
 * Whitespace: a model continuing "Tom had a big red" writes " ball", with the space. `exact` and
 * `contains` therefore ignore whitespace at both ends of the expected text (and `exact` of the
 * output too), so `"expected": "ball"` and `" ball"` score alike; ROUGE-L and BLEU split on it;
 * `regex` sees the output as generated (write `^\s*ball` to allow the space). Only the `nll`
 * score depends on where the space goes, which the case's `target_delimiter` decides
 * (eval-set.ts `scoredExpected`, default one space as lm-evaluation-harness).
 *
 * No npm library was used: `bleu-score` has no smoothing and divides by zero on an empty output;
 * `js-rouge` computes summary-level ROUGE-L (union LCS over sentences) and throws on an empty
 * output, which a model does produce. Both formulas are a few lines, written from the papers.
 */

export const METRICS = ['exact', 'contains', 'regex', 'rouge_l', 'bleu', 'nll'] as const;
export type MetricName = (typeof METRICS)[number];

/** Threshold used when a case and its file name none; `nll` has none (a case must give one). */
export const DEFAULT_THRESHOLD: Readonly<Record<Exclude<MetricName, 'nll'>, number>> = {
  exact: 1, contains: 1, regex: 1, rouge_l: 0.5, bleu: 0.3,
};

/**
 * The values a metric's score takes, so the values a threshold can meaningfully have: [0, 1] for
 * the match scores (exact, contains and regex are 0 or 1; ROUGE-L F and BLEU are fractions),
 * [0, ∞) for `nll` (a mean negative log-likelihood in nats per token). A threshold outside it
 * makes every case pass or every case fail, so eval-set parsing refuses it.
 */
export function metricRange(metric: MetricName): readonly [number, number] {
  return metric === 'nll' ? [0, Infinity] : [0, 1];
}

/** Whether lower scores are better (then a case passes when score ≤ threshold). */
export const lowerIsBetter = (metric: MetricName): boolean => metric === 'nll';

/** Whether `score` passes `threshold` for `metric` (≥ for the [0, 1] scores, ≤ for `nll`). */
export function passes(metric: MetricName, score: number, threshold: number): boolean {
  return lowerIsBetter(metric) ? score <= threshold : score >= threshold;
}

/**
 * Words for ROUGE-L: the text lower-cased, split into maximal runs of Unicode letters and digits
 * (everything else separates). This is `rouge_score`'s default tokenizer (Google Research,
 * `tokenize.py`: lower-case, non-alphanumerics → space, split) widened from [a-z0-9] to every
 * script, without stemming.
 */
export function rougeTokens(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/**
 * Tokens for BLEU: maximal runs of letters and digits, and every other non-space character as a
 * token of its own (punctuation split off, as sacrebleu's `13a` tokenizer does); case kept
 * (sacrebleu's default).
 */
export function bleuTokens(text: string): string[] {
  return text.match(/[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu) ?? [];
}

/** Length of the longest common subsequence of two token lists (dynamic programming, O(m·n) time, O(n) memory). */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  let prev = new Array<number>(b.length + 1).fill(0);
  let cur = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) cur[j] = a[i - 1] === b[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], cur[j - 1]);
    [prev, cur] = [cur, prev];
  }
  return prev[b.length];
}

/**
 * ROUGE-L of one candidate against one reference (Lin 2004, "ROUGE: A Package for Automatic
 * Evaluation of Summaries", section 3.1, sentence level): R = LCS/m, P = LCS/n with m, n the
 * reference and candidate lengths in words ({@link rougeTokens}), F = (1 + β²)·R·P / (R + β²·P)
 * with β = 1 (the F1 that `rouge_score`'s `rougeL` reports). 0 when either text has no word or
 * the LCS is empty.
 */
export function rougeL(candidate: string, reference: string, beta = 1): { precision: number; recall: number; f: number } {
  const c = rougeTokens(candidate);
  const r = rougeTokens(reference);
  const lcs = lcsLength(c, r);
  if (lcs === 0) return { precision: 0, recall: 0, f: 0 };
  const precision = lcs / c.length;
  const recall = lcs / r.length;
  const b2 = beta * beta;
  return { precision, recall, f: ((1 + b2) * recall * precision) / (recall + b2 * precision) };
}

function ngramCounts(tokens: readonly string[], n: number): Map<string, number> {
  const out = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    const key = tokens.slice(i, i + n).join('\u0000');
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}

/**
 * Sentence BLEU of a candidate against one reference, in [0, 1] (Papineni et al. 2002, "BLEU: a
 * Method for Automatic Evaluation of Machine Translation"): BP · exp(Σ_n log p_n / N), with p_n
 * the clipped (modified) n-gram precision for n = 1..N (N = 4), BP = 1 when c > r else
 * exp(1 − r/c), c and r the candidate and reference lengths in tokens ({@link bleuTokens}).
 *
 * Smoothing and order as sacrebleu 2.x `sentence_bleu` defaults (`smooth_method="exp"`,
 * `use_effective_order=True`): an order with matches 0 gets p_n = 1 / (2^k · total_n), k counting
 * the orders so far with no match (Chen & Cherry 2014 "method 3", NIST's geometric smoothing);
 * orders the candidate is too short to have (total_n = 0) are left out of the mean. An empty
 * candidate scores 0.
 */
export function bleu(candidate: string, reference: string, maxOrder = 4): number {
  const c = bleuTokens(candidate);
  const r = bleuTokens(reference);
  if (c.length === 0 || r.length === 0) return 0;
  let logSum = 0;
  let order = 0;
  let k = 1;
  for (let n = 1; n <= maxOrder; n++) {
    const total = c.length - n + 1;
    if (total <= 0) break;
    const ref = ngramCounts(r, n);
    let matches = 0;
    for (const [g, count] of ngramCounts(c, n)) matches += Math.min(count, ref.get(g) ?? 0);
    let p: number;
    if (matches === 0) {
      k *= 2;
      p = 1 / (k * total);
    } else p = matches / total;
    logSum += Math.log(p);
    order = n;
  }
  const bp = c.length > r.length ? 1 : Math.exp(1 - r.length / c.length);
  return bp * Math.exp(logSum / order);
}

/** A letter or digit of any script: the characters a word is made of ({@link answerPrefixMatch}). */
const WORD_CHAR = /^[\p{L}\p{N}]$/u;
/** A combining mark or zero-width joiner: always part of the character before it. */
const JOINS_PREVIOUS = /^[\p{M}\u200D]$/u;

/**
 * Whether `output` gives `expected` as its answer and may go on after it: `output` with its
 * leading whitespace dropped starts with `expected` trimmed at both ends, and the match ends at a
 * word boundary, i.e. NOT (the next character of the output is a combining mark / ZWJ, or the last
 * character of `expected` and the next of the output are both letters or digits, `\p{L}\p{N}`).
 * So for "girl": " girl named Lily" and "girl." match, "girls" and " gir" do not; for ",":
 * ", there" matches. This is the `exact` comparison of a case whose token budget comes from its
 * expected text (run.ts `caseGeneration`): the budget counts the tokens of the expected text as
 * scored (" ," is 2 tokens) while the model may write the answer in fewer (",") and go on.
 * lm-evaluation-harness's `is_greedy` compares the same greedy tokens; comparing text at a word
 * boundary instead makes the result independent of how the tokens fall.
 * An empty `expected` (after trimming) never matches.
 */
export function answerPrefixMatch(output: string, expected: string): boolean {
  const e = expected.trim();
  const o = output.trimStart();
  if (e === '' || !o.startsWith(e)) return false;
  const nextCode = o.codePointAt(e.length);
  if (nextCode === undefined) return true;
  const next = String.fromCodePoint(nextCode);
  const last = [...e].at(-1)!;
  return !(JOINS_PREVIOUS.test(next) || (WORD_CHAR.test(last) && WORD_CHAR.test(next)));
}

/**
 * Score of one output for a text metric (every metric but `nll`), see the table above.
 * @param opts.answerPrefix `exact` only: score 1 when the output STARTS with the expected answer
 *   at a word boundary ({@link answerPrefixMatch}) instead of being equal to it.
 * @throws SyntaxError for `regex` when `expected` is not a valid pattern (the eval-set parser
 *   rejects those first).
 */
export function textScore(metric: Exclude<MetricName, 'nll'>, output: string, expected: string, opts: { answerPrefix?: boolean } = {}): number {
  switch (metric) {
    case 'exact':
      if (opts.answerPrefix) return answerPrefixMatch(output, expected) ? 1 : 0;
      return output.trim() === expected.trim() ? 1 : 0;
    case 'contains': return output.includes(expected.trim()) ? 1 : 0;
    case 'regex': return new RegExp(expected, 'u').test(output) ? 1 : 0;
    case 'rouge_l': return rougeL(output, expected).f;
    case 'bleu': return bleu(output, expected);
  }
}
