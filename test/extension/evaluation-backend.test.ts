// The editor's eval backend (WorkerEvalBackend over a scripted InferenceClient): an `exact` case
// gets the runner's defaults from the worker's own token count of the expected text (score of
// the case: token_ids.length − expected_start, written into the script by hand), and that score
// is reused for the case's NLL instead of asking the worker twice; the output is cut at "\n".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChatMessageLike } from '../../src/protocol/worker';
import type { CaseScore, GenerateRequest } from '../../src/extension/worker/api';
import { WorkerEvalBackend } from '../../src/extension/evaluation/backend';
import { parseEvalSet } from '../../src/engine/eval/eval-set';
import { runCase } from '../../src/engine/eval/run';
import { FakeInference } from './fake-inference';

/** Answers " girl\nnamed Lily" and scores every case as 5 prompt tokens + 3 expected tokens. */
class Scripted extends FakeInference {
  override generate(req: GenerateRequest) {
    this.calls.push({ op: 'generate', args: [req] });
    return { done: Promise.resolve(req.variants.map((adapter) => ({ adapter, ids: [1], text: ' girl\nnamed Lily', finish_reason: 'length' as const }))), cancel: () => undefined };
  }
  override async scoreCase(_model: string, adapter: string | null, input: { prompt: string } | { messages: ChatMessageLike[] }, expected: string): Promise<CaseScore> {
    this.calls.push({ op: 'scoreCase', args: [adapter, input, expected] });
    return { token_ids: [1, 2, 3, 4, 5, 6, 7, 8], tokens: [], nll: [], mean_nll: 1, expected_start: 5, expected_nll: adapter === null ? 0.5 : 0.25 };
  }
}

test('WorkerEvalBackend: an exact case asks the worker for 3 new tokens (its expected tokens) with stop ["\\n"], one score per variant, passes on " girl"', async () => {
  const set = parseEvalSet(JSON.stringify({ prompt: 'Once upon a time there was a little', expected: 'girl' }), 'w.eval.jsonl');
  const client = new Scripted();
  const results = await runCase(set.file, set.cases[0], [null, '/runs/a/adapter'], new WorkerEvalBackend(client, '/m'));
  const gen = client.calls.filter((c) => c.op === 'generate').map((c) => (c.args[0] as GenerateRequest).params);
  assert.deepEqual(gen, [{ stop: ['\n'], max_new_tokens: 3, temperature: 0 }]);
  // The count's score (first variant) serves that variant's NLL: one score per variant, not two for the first.
  assert.deepEqual(client.calls.filter((c) => c.op === 'scoreCase').map((c) => c.args[0]), [null, '/runs/a/adapter']);
  assert.deepEqual(results.map((r) => [r.output, r.passed, r.scores.nll]), [[' girl', true, 0.5], [' girl', true, 0.25]]);
});

test('WorkerEvalBackend: a contains case or an exact case with max_new_tokens needs no count (no extra score)', async () => {
  const set = parseEvalSet([
    JSON.stringify({ prompt: 'p', expected: 'girl', metric: 'contains' }),
    JSON.stringify({ prompt: 'p', expected: 'girl', max_new_tokens: 16 }),
  ].join('\n'), 'w.eval.jsonl');
  for (const [i, params] of [[0, { temperature: 0 }], [1, { max_new_tokens: 16, stop: ['\n'], temperature: 0 }]] as const) {
    const client = new Scripted();
    await runCase(set.file, set.cases[i], [null], new WorkerEvalBackend(client, '/m'));
    assert.deepEqual(client.calls.filter((c) => c.op === 'generate').map((c) => (c.args[0] as GenerateRequest).params), [params]);
    assert.equal(client.calls.filter((c) => c.op === 'scoreCase').length, 1);
  }
});
