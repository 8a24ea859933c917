/**
 * Runs an eval set against model variants (the base model and/or adapters) through an
 * {@link EvalBackend}: in process on ONNX Runtime (`local.ts`, used by `loralab eval` and the
 * trainer) or over the inference worker (the editor). No onnxruntime import here.
 *
 * Each case: one completion per variant (greedy unless the case sets a temperature), cut at the
 * first stop string and scored with the case's metric, plus the mean NLL of the expected text
 * given the prompt (`nll`, nats per token) whenever the backend can compute it. A case whose
 * metric is `nll` generates nothing. An `exact` case gets generation defaults of its own
 * ({@link caseGeneration}): it checks the model's answer, not the story it goes on to tell.
 * Each result records the generation settings used ({@link UsedGeneration}).
 */
import type { ChatMessage } from '../tokenizer/index';
import { type EvalCase, type EvalGeneration, type EvalSet, scoredExpected } from './eval-set';
import { METRICS, type MetricName, passes, textScore } from './metrics';
import { cutAtStop } from '../stop';

/** What a case asks the model to continue: a text or a chat. */
export type EvalInput = { prompt: string; messages?: undefined } | { prompt?: undefined; messages: readonly ChatMessage[] };

export interface EvalBackend {
  /** One completion per variant (an adapter folder, or null = base), in order. Rejects with a one-line Error. */
  generate(input: EvalInput, variants: readonly (string | null)[], generation: EvalGeneration): Promise<string[]>;
  /**
   * Mean NLL (natural log) of the tokens of `expected` after `input` (which tokens:
   * expected.ts `encodeExpected`, shared by every backend), per variant; null entries (or null)
   * where the backend cannot tell. `expected` is the text as scored: the runner passes
   * eval-set.ts `scoredExpected` (the case's `target_delimiter` applied), glued to the prompt as is.
   */
  expectedNll(input: EvalInput, expected: string, variants: readonly (string | null)[]): Promise<(number | null)[] | null>;
  /**
   * How many tokens `expected` adds after `input` (expected.ts `encodeExpected`: the tokens whose
   * NLL `expectedNll` averages), the same for every variant; 0 when it adds none. Optional: a
   * backend without it leaves an `exact` case the ordinary token budget.
   */
  expectedTokenCount?(input: EvalInput, expected: string, variants: readonly (string | null)[]): Promise<number>;
  /**
   * The token budget `generate` uses when the settings give no `max_new_tokens` (the local
   * backend: the model's generation_config.json `max_new_tokens`, else 128). Optional: only
   * reported in the results ({@link UsedGeneration}). Read after `generate`, so a backend may
   * learn it there (the worker backend does, from the worker's `loaded` event).
   */
  readonly defaultMaxNewTokens?: number;
}

/** Where the token budget of a case came from ({@link UsedGeneration}). */
export type MaxNewTokensSource =
  /** `max_new_tokens` of the case or of `$config`. */
  | 'set'
  /** An `exact` case's default: the token count of its expected text ({@link caseGeneration}). */
  | 'expected'
  /** The backend's default (generation_config.json `max_new_tokens`, else 128). */
  | 'default';

/** The generation settings a case actually ran with (HF `GenerationConfig` names). */
export interface UsedGeneration {
  /** The token budget; null when the backend used its default without saying which. */
  max_new_tokens: number | null;
  max_new_tokens_from: MaxNewTokensSource;
  /** The stop strings ([] when none). */
  stop: string[];
}

export interface CaseResult {
  line: number;
  name: string;
  /** The completion; null for an `nll` case (nothing generated). */
  output: string | null;
  expected: string;
  metric: MetricName;
  threshold: number;
  /** The case's metric, and `nll` when known. */
  scores: Partial<Record<MetricName, number>>;
  passed: boolean;
  /** Milliseconds spent on this case (all variants together). */
  duration_ms: number;
  /** How the output was generated; absent for an `nll` case (nothing generated). */
  generation?: UsedGeneration;
}

export interface EvalSummary {
  cases: number;
  passed: number;
  pass_rate: number;
  /**
   * Mean score of each metric over the cases whose `metric` it is (`nll`: over the `"metric":
   * "nll"` cases only); a metric no case uses is absent.
   */
  mean: Partial<Record<MetricName, number>>;
  /**
   * Mean NLL of the expected text (nats per token) over EVERY case whose NLL is known, whatever
   * its metric; absent when none is. Not `mean.nll`, which averages the `nll` cases only.
   */
  mean_expected_nll?: number;
}

export interface VariantResult {
  adapter: string | null;
  cases: CaseResult[];
  summary: EvalSummary;
}

/** A case that could not run: `FILE:LINE: what` (one line). */
export class EvalRunError extends Error {
  override name = 'EvalRunError';
}

const inputOf = (c: EvalCase): EvalInput => (c.messages ? { messages: c.messages } : { prompt: c.prompt! });

/** `stop` of an `exact` case when neither the case nor `$config` sets one (see {@link caseGeneration}). */
export const EXACT_DEFAULT_STOP: readonly string[] = ['\n'];

/**
 * The generation settings a case runs with: its own (case over `$config`), plus two defaults for
 * an `exact` case, which compares the model's answer to `expected`, following
 * lm-evaluation-harness (EleutherAI, v0.4):
 * - `stop`: when unset, {@link EXACT_DEFAULT_STOP} (`["\n"]`: the answer ends at the line's end,
 *   as in the `until` of the harness's one-line QA tasks, e.g. triviaqa's `["\n", ".", ","]`;
 *   its generic default is the fewshot delimiter "\n\n"), unless `expected` itself holds a line
 *   break inside (then none). `"stop": []` turns it off.
 * - `max_new_tokens`: when unset, `expectedTokens`, the number of tokens of the expected text as
 *   scored (the backend's `expectedTokenCount`, target delimiter included), close to the
 *   harness's `is_greedy` (the `acc` of LAMBADA-style loglikelihood tasks). The runner then
 *   compares the output's beginning, not the whole output (metrics.ts `answerPrefixMatch`): the
 *   case passes when the output, leading whitespace ignored, starts with `expected` (trimmed) and
 *   the match ends at a word boundary (not between two letters/digits). That counts as passing
 *   even when the model writes the answer in fewer tokens than counted: `"expected": ","` is
 *   counted as " ," (2 tokens), the model writes "," and goes on (", there"). So
 *   `{"prompt": "…there was a little", "expected": "girl"}` passes on " girl" or " girl named"
 *   but not on " girls" or " gir". Set `max_new_tokens` to require that the model also ends its
 *   answer there (by EOS or a stop string): the whole output is then compared (trimmed).
 * Other metrics get the case's settings unchanged (their backend default: the model's
 * generation_config.json `max_new_tokens`, else 128 tokens).
 *
 * @param expectedTokens tokens of the expected text; null or 0 when unknown or none.
 */
export function caseGeneration(c: EvalCase, expectedTokens: number | null): EvalGeneration {
  const g = { ...c.generation };
  if (c.metric !== 'exact') return g;
  if (g.stop === undefined && !c.expected.trim().includes('\n')) g.stop = [...EXACT_DEFAULT_STOP];
  if (g.max_new_tokens === undefined && expectedTokens) g.max_new_tokens = expectedTokens;
  return g;
}

/**
 * Whether {@link caseGeneration} would take the token budget of `c` from its expected text, and
 * so the output's beginning is compared (metrics.ts `answerPrefixMatch`).
 */
const budgetFromExpected = (c: EvalCase): boolean => c.metric === 'exact' && c.generation.max_new_tokens === undefined;

/**
 * Runs one case for every variant. Results are in `variants` order.
 * @throws EvalRunError `FILE:LINE: message` when the backend fails on the case.
 */
export async function runCase(file: string, c: EvalCase, variants: readonly (string | null)[], backend: EvalBackend): Promise<CaseResult[]> {
  const t0 = performance.now();
  try {
    const input = inputOf(c);
    const scored = scoredExpected(input, c.expected, c.target_delimiter);
    let outputs: (string | null)[] = variants.map(() => null);
    let used: UsedGeneration | undefined;
    if (c.metric !== 'nll') {
      const count = budgetFromExpected(c) && scored.length > 0 && backend.expectedTokenCount ? await backend.expectedTokenCount(input, scored, variants) : null;
      const g = caseGeneration(c, count);
      // Backends stop at `stop` while generating; cutting again makes the scored text not depend on it.
      outputs = (await backend.generate(input, variants, g)).map((o) => cutAtStop(o, g.stop ?? []));
      used = {
        max_new_tokens: g.max_new_tokens ?? backend.defaultMaxNewTokens ?? null, // read after generate: a backend may learn it there
        max_new_tokens_from: c.generation.max_new_tokens !== undefined ? 'set' : g.max_new_tokens !== undefined ? 'expected' : 'default',
        stop: [...(g.stop ?? [])],
      };
    }
    const nll = c.expected.length > 0 ? await backend.expectedNll(input, scored, variants) : null;
    const ms = Math.round(performance.now() - t0);
    return variants.map((_, i) => {
      const scores: Partial<Record<MetricName, number>> = {};
      const n = nll?.[i];
      if (n !== null && n !== undefined && Number.isFinite(n)) scores.nll = n;
      if (c.metric !== 'nll') scores[c.metric] = textScore(c.metric, outputs[i]!, c.expected, { answerPrefix: budgetFromExpected(c) });
      const score = scores[c.metric];
      if (score === undefined) throw new Error('the NLL of the expected text could not be computed for this case');
      const r: CaseResult = { line: c.line, name: c.name, output: outputs[i], expected: c.expected, metric: c.metric, threshold: c.threshold, scores, passed: passes(c.metric, score, c.threshold), duration_ms: ms };
      if (used) r.generation = { ...used, stop: [...used.stop] };
      return r;
    });
  } catch (e) {
    if (e instanceof EvalRunError) throw e;
    throw new EvalRunError(`${file}:${c.line}: ${(e as Error).message.split('\n')[0]}`);
  }
}

const average = (vals: readonly number[]): number | undefined => (vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : undefined);

/**
 * Pass rate, per-metric means (each over the cases that use the metric) and the mean NLL of the
 * expected text over all cases of one variant's results (see {@link EvalSummary}).
 */
export function summarize(cases: readonly CaseResult[]): EvalSummary {
  const mean: Partial<Record<MetricName, number>> = {};
  for (const m of METRICS) {
    const x = average(cases.filter((c) => c.metric === m).map((c) => c.scores[m]).filter((v): v is number => v !== undefined));
    if (x !== undefined) mean[m] = x;
  }
  const passed = cases.filter((c) => c.passed).length;
  const summary: EvalSummary = { cases: cases.length, passed, pass_rate: cases.length ? passed / cases.length : 0, mean };
  const expectedNll = average(cases.map((c) => c.scores.nll).filter((v): v is number => v !== undefined));
  if (expectedNll !== undefined) summary.mean_expected_nll = expectedNll;
  return summary;
}

/**
 * Runs every case of `set` against every variant, one case at a time (all variants of a case in
 * one call to the backend, so a multi-LoRA backend batches them).
 *
 * @param onCase called after each case with its results per variant (progress).
 * @throws EvalRunError naming the file and line of a case the backend failed on.
 */
export async function runEvalSet(set: EvalSet, variants: readonly (string | null)[], backend: EvalBackend, onCase?: (c: EvalCase, results: CaseResult[]) => void): Promise<VariantResult[]> {
  const per: CaseResult[][] = variants.map(() => []);
  for (const c of set.cases) {
    const res = await runCase(set.file, c, variants, backend);
    res.forEach((r, i) => per[i].push(r));
    onCase?.(c, res);
  }
  return variants.map((adapter, i) => ({ adapter, cases: per[i], summary: summarize(per[i]) }));
}
