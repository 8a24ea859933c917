// The editor's eval backend (WorkerEvalBackend over a scripted InferenceClient): an `exact` case
// gets the runner's defaults from the worker's own token count of the expected text (score of
// the case: token_ids.length − expected_start, written into the script by hand), and that score
// is reused for the case's NLL instead of asking the worker twice; the output is cut at "\n".
// A case without max_new_tokens reports the worker's default budget (its `loaded` event), checked
// end to end (WorkerClient over the real InferenceService) against the ids the worker generated
// (the golden PyTorch greedy continuation, cut at that many tokens).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { ChatMessageLike, GenerationResult, WorkerRequest } from '../../src/protocol/worker';
import { InferenceService } from '../../src/worker/service';
import { type WorkerChild, WorkerClient } from '../../src/extension/worker/client';
import { LOGITS_GOLDEN, MODEL } from '../worker/helpers';
import { tempDir } from './helpers';
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
    client.maxNewTokens = 9;
    const [r] = await runCase(set.file, set.cases[i], [null], new WorkerEvalBackend(client, '/m'));
    // the contains case sets no budget: the worker's default (its `loaded` event) is reported
    assert.equal(r.generation?.max_new_tokens, i === 0 ? 9 : 16);
    assert.deepEqual(client.calls.filter((c) => c.op === 'generate').map((c) => (c.args[0] as GenerateRequest).params), [params]);
    assert.equal(client.calls.filter((c) => c.op === 'scoreCase').length, 1);
  }
});

/**
 * A `WorkerChild` running the real worker service in this process (no fork): what the client
 * sends goes to `InferenceService.handle`, what the service sends comes back as IPC messages.
 */
class ServiceChild extends EventEmitter implements WorkerChild {
  readonly pid = process.pid;
  connected = true;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  private readonly svc = new InferenceService((e) => setImmediate(() => this.emit('message', e)));
  constructor() {
    super();
    setImmediate(() => this.emit('message', { v: 1, type: 'ready', pid: this.pid }));
  }
  send(m: WorkerRequest): boolean {
    if (m.type === 'shutdown') void this.svc.close().then(() => this.exit(0));
    else this.svc.handle(m);
    return true;
  }
  kill(): boolean {
    void this.svc.close().then(() => this.exit(null));
    return true;
  }
  private exit(code: number | null): void {
    if (!this.connected) return;
    this.connected = false;
    this.stdout.end();
    this.stderr.end();
    this.emit('exit', code, null);
  }
}

test('WorkerEvalBackend: a case without max_new_tokens reports the budget the worker used (generation_config.json max_new_tokens 7, else 128)', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t);
  // stories260K with generation_config.json `max_new_tokens: 7` (its own sets none)
  const m7 = join(dir, 'm7');
  await mkdir(m7);
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) await symlink(join(MODEL, f), join(m7, f));
  const genConfig = JSON.parse(await readFile(join(MODEL, 'generation_config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(genConfig.max_new_tokens, undefined);
  await writeFile(join(m7, 'generation_config.json'), JSON.stringify({ ...genConfig, max_new_tokens: 7 }));

  const client = new WorkerClient({ fork: () => new ServiceChild(), idleTimeoutMs: 0, threads: 1 });
  t.after(() => client.dispose());
  // Keeps the worker's answer to every generate: the ids show the budget actually used.
  const generated: GenerationResult[][] = [];
  const generate = client.generate.bind(client);
  client.generate = (req, onToken) => {
    const g = generate(req, onToken);
    void g.done.then((r) => generated.push(r));
    return g;
  };
  const set = parseEvalSet(JSON.stringify({ prompt: LOGITS_GOLDEN.prompt, expected: 'She loved', metric: 'contains' }), 'w.eval.jsonl');
  const golden = LOGITS_GOLDEN.greedy.new_token_ids; // PyTorch greedy continuation, 40 tokens, no EOS

  const [r7] = await runCase(set.file, set.cases[0], [null], new WorkerEvalBackend(client, m7));
  assert.deepEqual(r7.generation, { max_new_tokens: 7, max_new_tokens_from: 'default', stop: [] });
  assert.deepEqual(generated.at(-1)!.map((r) => [r.ids, r.finish_reason]), [[golden.slice(0, 7), 'length']]);

  // The engine's documented default (README: `--max-new-tokens` default 128) when generation_config.json sets none.
  const [r128] = await runCase(set.file, set.cases[0], [null], new WorkerEvalBackend(client, MODEL));
  assert.deepEqual(r128.generation, { max_new_tokens: 128, max_new_tokens_from: 'default', stop: [] });
  const [res] = generated.at(-1)!;
  assert.deepEqual([res.ids.length, res.finish_reason, res.ids.slice(0, golden.length)], [128, 'length', golden]);
});
