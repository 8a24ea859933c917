// Evaluation in the editor against the `vscode` stub and a scripted InferenceClient: eval sets
// are discovered as one test item per case at its line; running with the base-model profile
// passes a case whose completion matches and fails another with a diff (expected vs actual) and
// the score/threshold; bad lines of an open eval set become diagnostics at their line. Plus the
// plain heatmap colour mapping and token alignment, checked on hand-computed values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { register } from 'node:module';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CaseScore, GenerateRequest, ScoreResult } from '../../src/extension/worker/api';
import { FakeInference } from './fake-inference';
import { tempDir } from './helpers';

const stubUrl = pathToFileURL(join(import.meta.dirname, 'vscode-stub.ts')).href;
register(`data:text/javascript,${encodeURIComponent(`export async function resolve(s, c, n) { return s === 'vscode' ? { url: ${JSON.stringify(stubUrl)}, shortCircuit: true } : n(s, c); }`)}`);
const stub = await import('./vscode-stub');
const { registerEvaluation, showTokenLoss } = await import('../../src/extension/evaluation/register');
const { lossColor, diffColor, bucketOf, tokenOffsets } = await import('../../src/extension/evaluation/heatmap');

/** Completes every prompt with " Paris" and scores by a table. */
class ScriptedInference extends FakeInference {
  private readonly vocab = new Map<string, number>();
  override generate(req: GenerateRequest) {
    this.calls.push({ op: 'generate', args: [req] });
    return { done: Promise.resolve(req.variants.map((adapter) => ({ adapter, ids: [1], text: ' Paris', finish_reason: 'eos' as const }))), cancel: () => undefined };
  }
  override async score(_model: string, adapter: string | null, text: string): Promise<ScoreResult> {
    this.calls.push({ op: 'score', args: [adapter, text] });
    const tokens = ['<s>', ...text.split(/(?= )/)];
    return { token_ids: tokens.map((t) => this.vocab.get(t) ?? (this.vocab.set(t, this.vocab.size), this.vocab.size - 1)), tokens, nll: tokens.slice(1).map(() => 2), mean_nll: 2 };
  }
  /** Every expected token at NLL 2, as `score` above. */
  override async scoreCase(model: string, adapter: string | null, input: { prompt: string } | { messages: unknown[] }, expected: string): Promise<CaseScore> {
    this.calls.push({ op: 'scoreCase', args: [adapter, input, expected] });
    const s = await this.score(model, adapter, ('prompt' in input ? input.prompt : '') + expected);
    return { ...s, expected_start: 1, expected_nll: 2 };
  }
}

test('Test Explorer: discover cases, run with the base model, a failure is a diff with score and threshold', async (t) => {
  const dir = await tempDir(t);
  stub.setWorkspace(dir, { 'loralab.modelPath': '/models/tiny' });
  const file = join(dir, 'capitals.eval.jsonl');
  await writeFile(file, [
    '{"$config": {"max_new_tokens": 4}}',
    '{"prompt": "The capital of France is", "expected": "Paris", "name": "france"}',
    '{"prompt": "The capital of Italy is", "expected": "Rome", "name": "italy"}',
  ].join('\n'));
  const inference = new ScriptedInference();
  const disposables: { dispose(): unknown }[] = [];
  const lab = { own: <T extends { dispose(): unknown }>(d: T) => (disposables.push(d), d), inference, adapterState: { active: null } };
  registerEvaluation(lab as never);
  const ctrl = stub.recorded.testControllers.at(-1)!;
  await ctrl.resolveHandler!(undefined);
  const fileItem = ctrl.items.get(stub.Uri.file(file).toString())!;
  const cases: InstanceType<typeof stub.StubTestItem>[] = [];
  fileItem.children.forEach((c) => cases.push(c));
  assert.deepEqual(cases.map((c) => [c.label, c.range!.startLine]), [['2: france', 1], ['3: italy', 2]]);
  assert.deepEqual(ctrl.profiles.map((p) => p.label), ['Base model', 'Active adapter', 'All adapters of this experiment']);

  await ctrl.profiles[0].run({ include: undefined, exclude: [] }, { isCancellationRequested: false });
  const run = ctrl.runs.at(-1)!;
  assert.ok(run.ended);
  const outcome = (id: string) => run.outcomes.filter((o) => o.id === id && o.state !== 'started')[0];
  assert.equal(outcome(cases[0].id).state, 'passed');
  const failed = outcome(cases[1].id);
  assert.equal(failed.state, 'failed');
  const [m] = failed.messages!;
  assert.equal(m.expectedOutput, 'Rome');
  assert.equal(m.actualOutput, ' Paris');
  assert.equal(m.message, 'base model: exact: score 0.0000 < threshold 1, NLL of expected 2.0000');
  const gen = inference.calls.find((c) => c.op === 'generate')!.args[0] as GenerateRequest;
  assert.deepEqual(gen.variants, [null]);
  assert.equal(gen.params.max_new_tokens, 4);
  assert.equal(gen.params.temperature, 0); // greedy unless the case says otherwise

  // The active-adapter profile without an active adapter: errored with what to do.
  await ctrl.profiles[1].run({ include: [cases[0]], exclude: [] }, { isCancellationRequested: false });
  const e = ctrl.runs.at(-1)!.outcomes[0];
  assert.equal(e.state, 'errored');
  assert.match(e.messages![0].message, /No active adapter/);
  disposables.forEach((d) => d.dispose());
});

test('heatmap colours: linear alpha up to the cap; diverging green/red; buckets', () => {
  assert.equal(lossColor(0), 'rgba(255, 64, 64, 0)');
  assert.equal(lossColor(3), 'rgba(255, 64, 64, 0.3)'); // 0.6 · 3/6
  assert.equal(lossColor(60), 'rgba(255, 64, 64, 0.6)');
  assert.equal(diffColor(-1.5), 'rgba(64, 200, 64, 0.3)'); // adapter better by 1.5 nats: 0.6 · 1.5/3
  assert.equal(diffColor(0.75), 'rgba(255, 64, 64, 0.15)');
  assert.equal(bucketOf(0, 6), 0);
  assert.equal(bucketOf(3, 6), 6);
  assert.equal(bucketOf(100, 6), 11);
});

test('token offsets: SentencePiece pieces located in the text; byte-fallback pieces zero-width', () => {
  const text = 'Once upon a time';
  assert.deepEqual(tokenOffsets(text, ['▁Once', '▁upon', '▁a', '▁time']), [[0, 4], [4, 9], [9, 11], [11, 16]]);
  assert.deepEqual(tokenOffsets('a é', ['▁a', '▁', '<0xC3>', '<0xA9>']), [[0, 1], [1, 2], [2, 2], [2, 2]]);
});

test('Show Token Loss with no adapter and no loralab.modelPath uses the model the workspace\'s experiments name; several: a quick pick', async (t) => {
  const dir = await tempDir(t);
  stub.setWorkspace(dir, {});
  const exp = (name: string, model: string) => writeFile(join(dir, `${name}.lora.json`), JSON.stringify({ name, model, data: { train: 'train.txt' } }));
  await exp('a', '/models/tiny');
  await exp('b', '/models/tiny');
  await writeFile(join(dir, 'broken.lora.json'), '{ "name": ');
  const files = ['a', 'b', 'broken'].map((n) => ({ file: join(dir, `${n}.lora.json`), workspaceFolder: dir }));
  const inference = new ScriptedInference();
  const text = 'Once upon a time';
  const editor = {
    document: { uri: stub.Uri.file(join(dir, 'story.txt')), fileName: join(dir, 'story.txt'), getText: () => text, positionAt: (o: number) => ({ line: 0, character: o }) },
    setDecorations: () => undefined,
  };
  stub.window.activeTextEditor = editor;
  t.after(() => void (stub.window.activeTextEditor = undefined));
  const lab = { own: <T,>(d: T) => d, inference, adapterState: { active: null }, experiments: { list: () => files } };
  await showTokenLoss(lab as never, false);
  assert.deepEqual(inference.calls.filter((c) => c.op === 'score').map((c) => c.args), [[null, text]]);
  assert.ok(inference.calls.some((c) => c.op === 'load' && c.args[0] === '/models/tiny'), JSON.stringify(inference.calls));

  // Two models: the user picks one; dismissing the pick scores nothing.
  await exp('c', '/models/other');
  files.push({ file: join(dir, 'c.lora.json'), workspaceFolder: dir });
  inference.calls.length = 0;
  stub.recorded.answers.push('/models/other');
  await showTokenLoss(lab as never, false);
  assert.ok(inference.calls.some((c) => c.op === 'load' && c.args[0] === '/models/other'), JSON.stringify(inference.calls));
  inference.calls.length = 0;
  await showTokenLoss(lab as never, false);
  assert.deepEqual(inference.calls, []);

  // No experiment names a model: the error says every way to give one.
  const none = { ...lab, experiments: { list: () => [] } };
  await assert.rejects(showTokenLoss(none as never, false), /^Error: no model: activate an adapter .*loralab\.modelPath.*experiment file/);
});
