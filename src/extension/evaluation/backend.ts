/**
 * The eval backend over the inference worker (`InferenceClient`): what the Test Explorer runs.
 * Completions come from the worker's `generate` (greedy unless the case sets a temperature); the
 * NLL of the expected text from two `score` calls, prompt and prompt + expected, with the
 * expected tokens located as the CLI does (engine/eval/run.ts `expectedTokens`). A chat case has
 * no plain text to score, so its `nll` is unknown here (the CLI computes it). No `vscode` import.
 */
import type { EvalGeneration } from '../../engine/eval/eval-set';
import { type EvalBackend, type EvalInput, expectedTokens } from '../../engine/eval/run';
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

  async expectedNll(input: EvalInput, expected: string, variants: readonly (string | null)[]): Promise<(number | null)[] | null> {
    if (input.messages) return null;
    const out: (number | null)[] = [];
    for (const v of variants) {
      const joint = await this.client.score(this.model, v, input.prompt + expected);
      // A prompt of one token (BOS) cannot be scored alone; its ids are then just that token.
      const promptIds = input.prompt ? (await this.client.score(this.model, v, input.prompt)).token_ids : joint.token_ids.slice(0, 1);
      const { ids, start } = expectedTokens(promptIds, joint.token_ids);
      const tail = joint.nll.slice(start - 1, ids.length - 1);
      out.push(tail.length ? tail.reduce((a, b) => a + b, 0) / tail.length : null);
    }
    return out;
  }
}
