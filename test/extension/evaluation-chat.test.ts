// A chat eval case in the Test Explorer gets the NLL of its expected reply from the inference
// worker (the real InferenceService, in process, behind an InferenceClient), the same number
// `loralab eval` computes, here checked against a float64 log-softmax of the independent PyTorch
// golden logits: the failure message and the run output show it (before, a chat case had no NLL
// in the editor and an `nll` chat case could not run).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { register } from 'node:module';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CaseScore, GenerateRequest, LoadedModel } from '../../src/extension/worker/api';
import type { ChatMessageLike, WorkerEvent, WorkerRequest } from '../../src/protocol/worker';
import { InferenceService } from '../../src/worker/service';
import { LOGITS_GOLDEN, chatModel, goldenNll } from '../worker/helpers';
import { FakeInference } from './fake-inference';
import { tempDir } from './helpers';

const stubUrl = pathToFileURL(join(import.meta.dirname, 'vscode-stub.ts')).href;
register(`data:text/javascript,${encodeURIComponent(`export async function resolve(s, c, n) { return s === 'vscode' ? { url: ${JSON.stringify(stubUrl)}, shortCircuit: true } : n(s, c); }`)}`);
const stub = await import('./vscode-stub');
const { registerEvaluation } = await import('../../src/extension/evaluation/register');

type Final = Exclude<WorkerEvent, { type: 'ready' | 'log' | 'token' }>;

/** Loads and scores on the real worker service; completions are scripted (" Paris"). */
class ServiceInference extends FakeInference {
  private id = 0;
  private readonly waiting = new Map<number, (e: Final) => void>();
  readonly svc = new InferenceService((e) => {
    if (e.type !== 'ready' && e.type !== 'log' && e.type !== 'token' && e.id !== null) this.waiting.get(e.id)?.(e);
  });
  private request(req: Record<string, unknown>): Promise<Final> {
    const id = ++this.id;
    const done = new Promise<Final>((resolve) => this.waiting.set(id, resolve));
    this.svc.handle({ v: 1, id, ...req } as Exclude<WorkerRequest, { type: 'shutdown' }>);
    return done;
  }
  override async load(model: string): Promise<LoadedModel> {
    const e = await this.request({ type: 'load', model, threads: 1 });
    if (e.type !== 'loaded') throw new Error(JSON.stringify(e));
    return e;
  }
  override generate(req: GenerateRequest) {
    this.calls.push({ op: 'generate', args: [req] });
    return { done: Promise.resolve(req.variants.map((adapter) => ({ adapter, ids: [1], text: ' Paris', finish_reason: 'eos' as const }))), cancel: () => undefined };
  }
  override async scoreCase(model: string, adapter: string | null, input: { prompt: string } | { messages: ChatMessageLike[] }, expected: string): Promise<CaseScore> {
    this.calls.push({ op: 'scoreCase', args: [adapter, input, expected] });
    await this.load(model);
    const e = await this.request({ type: 'score', adapter, ...input, expected });
    if (e.type !== 'scored') throw new Error(e.type === 'error' ? e.message : JSON.stringify(e));
    return { ...e, expected_start: e.expected_start!, expected_nll: e.expected_nll ?? null };
  }
}

test('Test Explorer: a chat case shows the NLL of its expected reply (= golden logits); an nll chat case runs', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t);
  const model = await chatModel(join(dir, 'chat-model'));
  // golden ids = chat "Once upon a time," + "there was a little girl named Lily."; expected ids[6..]
  const ref = goldenNll().slice(5);
  const refMean = ref.reduce((a, b) => a + b, 0) / ref.length;
  assert.equal(ref.length, LOGITS_GOLDEN.token_ids.length - 6);
  stub.setWorkspace(dir, { 'loralab.modelPath': model });
  const file = join(dir, 'chat.eval.jsonl');
  const messages = [{ role: 'user', content: 'Once upon a time,' }];
  await writeFile(file, [
    JSON.stringify({ messages, expected: 'there was a little girl named Lily.', name: 'exact chat' }),
    JSON.stringify({ messages, expected: 'there was a little girl named Lily.', name: 'nll chat', metric: 'nll', threshold: 0.01 }),
  ].join('\n'));
  const inference = new ServiceInference();
  t.after(() => inference.svc.close());
  const disposables: { dispose(): unknown }[] = [];
  t.after(() => disposables.forEach((d) => d.dispose()));
  const lab = { own: <T extends { dispose(): unknown }>(d: T) => (disposables.push(d), d), inference, adapterState: { active: null } };
  registerEvaluation(lab as never);
  const ctrl = stub.recorded.testControllers.at(-1)!;
  await ctrl.resolveHandler!(undefined);
  await ctrl.profiles[0].run({ include: undefined, exclude: [] }, { isCancellationRequested: false });
  const run = ctrl.runs.at(-1)!;
  const ended = (line: number) => run.outcomes.find((o) => o.id === `${stub.Uri.file(file).toString()}#${line}` && o.state !== 'started')!;

  // The worker was asked for the chat and its expected reply (not a plain text).
  assert.deepEqual(inference.calls.filter((c) => c.op === 'scoreCase')[0].args, [null, { messages }, 'there was a little girl named Lily.']);
  const nllIn = (text: string) => Number(/NLL of expected (\d+\.\d+)|nll: score (\d+\.\d+)/.exec(text)!.slice(1).find(Boolean));

  const exact = ended(1);
  assert.equal(exact.state, 'failed');
  const msg = exact.messages![0].message;
  assert.match(msg, /^base model: exact: score 0\.0000 < threshold 1, NLL of expected \d+\.\d{4}$/);
  assert.ok(Math.abs(nllIn(msg) - refMean) < 2e-4, `shown ${msg} vs golden ${refMean}`);
  assert.ok(run.output.some((l) => l.includes('NLL of expected') && l.startsWith('1: exact chat')), run.output.join(''));

  const nll = ended(2);
  assert.equal(nll.state, 'failed', JSON.stringify(nll)); // threshold 0.01 nats: far below the real NLL
  assert.match(nll.messages![0].message, /^base model: nll: score \d+\.\d{4} > threshold 0\.01$/);
  assert.ok(Math.abs(nllIn(nll.messages![0].message) - refMean) < 2e-4);
});
