/**
 * The eval backend over the inference worker (`InferenceClient`): what the Test Explorer runs.
 * Completions come from the worker's `generate` (greedy unless the case sets a temperature); the
 * NLL of the expected text from one `score` of the case per variant (prompt or chat + expected),
 * which the worker encodes with src/engine/eval/expected.ts, the definition `loralab eval` uses,
 * so the editor shows the CLI's number for text and chat cases alike. No `vscode` import.
 */
import type { EvalGeneration } from '../../engine/eval/eval-set';
import type { EvalBackend, EvalInput } from '../../engine/eval/run';
import type { CaseScore, InferenceClient } from '../worker/api';

/** Identifies one `score` of a case: the input, the scored text and the variant. */
const scoreKey = (input: EvalInput, expected: string, variant: string | null): string => JSON.stringify([input.prompt ?? input.messages, expected, variant]);

export class WorkerEvalBackend implements EvalBackend {
  /** The last `expectedTokenCount` score, reused by the next `expectedNll` of the same case. */
  private kept: { key: string; score: CaseScore } | null = null;
  /** The `max_new_tokens` of the worker's `loaded` event for `model`, once `generate` has loaded it. */
  private loadedMaxNewTokens: number | undefined;

  constructor(private readonly client: InferenceClient, private readonly model: string) {}

  /**
   * The budget of a case without `max_new_tokens`, as the worker resolves it (the model's
   * generation_config.json `max_new_tokens`, else the engine's default): known once `generate`
   * has run (run.ts `runCase` reads it after), undefined before.
   */
  get defaultMaxNewTokens(): number | undefined {
    return this.loadedMaxNewTokens;
  }

  async generate(input: EvalInput, variants: readonly (string | null)[], g: EvalGeneration): Promise<string[]> {
    this.loadedMaxNewTokens = (await this.client.load(this.model)).max_new_tokens;
    const params = { ...g, temperature: g.temperature ?? 0 };
    const gen = this.client.generate({ model: this.model, variants: [...variants], ...(input.messages ? { messages: [...input.messages] } : { prompt: input.prompt }), params }, () => undefined);
    const results = await gen.done;
    return results.map((r) => r.text);
  }

  /**
   * Tokens of `expected` after `input` (the budget of an `exact` case, run.ts `caseGeneration`):
   * from the worker's `score` of the case for the first variant, which the worker encodes with
   * engine/eval/expected.ts. That score is kept for the `expectedNll` call of the same case.
   */
  async expectedTokenCount(input: EvalInput, expected: string, variants: readonly (string | null)[]): Promise<number> {
    const s = await this.score(input, expected, variants[0] ?? null);
    this.kept = { key: scoreKey(input, expected, variants[0] ?? null), score: s };
    return s.token_ids.length - s.expected_start;
  }

  /** Mean NLL (nats per token) of `expected` after `input`, per variant; null where `expected` adds no token. */
  async expectedNll(input: EvalInput, expected: string, variants: readonly (string | null)[]): Promise<(number | null)[]> {
    const out: (number | null)[] = [];
    for (const v of variants) {
      const kept = this.kept?.key === scoreKey(input, expected, v) ? this.kept.score : null;
      out.push((kept ?? await this.score(input, expected, v)).expected_nll);
    }
    this.kept = null;
    return out;
  }

  /** A worker `score` of the case for one variant. */
  private score(input: EvalInput, expected: string, variant: string | null): Promise<CaseScore> {
    const body = input.messages ? { messages: [...input.messages] } : { prompt: input.prompt };
    return this.client.scoreCase(this.model, variant, body, expected);
  }
}
