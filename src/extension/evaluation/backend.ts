/**
 * The eval backend over the inference worker (`InferenceClient`): what the Test Explorer runs.
 * Completions come from the worker's `generate` (greedy unless the case sets a temperature); the
 * NLL of the expected text from one `score` of the case per variant (prompt or chat + expected),
 * which the worker encodes with src/engine/eval/expected.ts, the definition `loralab eval` uses,
 * so the editor shows the CLI's number for text and chat cases alike. No `vscode` import.
 */
import type { EvalGeneration } from '../../engine/eval/eval-set';
import type { EvalBackend, EvalInput } from '../../engine/eval/run';
import type { InferenceClient } from '../worker/api';

export class WorkerEvalBackend implements EvalBackend {
  constructor(private readonly client: InferenceClient, private readonly model: string) {}

  async generate(input: EvalInput, variants: readonly (string | null)[], g: EvalGeneration): Promise<string[]> {
    await this.client.load(this.model);
    const params = { ...g, temperature: g.temperature ?? 0 };
    const gen = this.client.generate({ model: this.model, variants: [...variants], ...(input.messages ? { messages: [...input.messages] } : { prompt: input.prompt }), params }, () => undefined);
    const results = await gen.done;
    return results.map((r) => r.text);
  }

  /** Mean NLL (nats per token) of `expected` after `input`, per variant; null where `expected` adds no token. */
  async expectedNll(input: EvalInput, expected: string, variants: readonly (string | null)[]): Promise<(number | null)[]> {
    const body = input.messages ? { messages: [...input.messages] } : { prompt: input.prompt };
    const out: (number | null)[] = [];
    for (const v of variants) out.push((await this.client.scoreCase(this.model, v, body, expected)).expected_nll);
    return out;
  }
}
