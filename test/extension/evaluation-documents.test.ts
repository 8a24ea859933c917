// Evaluate Selection opens its completions as read-only `loralab-eval:` documents (a
// TextDocumentContentProvider registered once at activation, gone when the extension's
// disposables are disposed): side by side in a diff titled "Base model ↔ <the active adapter's
// run label>", or the base model's alone; never untitled documents (editable, save prompt).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { register } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { GenerateRequest } from '../../src/extension/worker/api';
import { FakeInference } from './fake-inference';
import { tempDir } from './helpers';

const stubUrl = pathToFileURL(join(import.meta.dirname, 'vscode-stub.ts')).href;
register(`data:text/javascript,${encodeURIComponent(`export async function resolve(s, c, n) { return s === 'vscode' ? { url: ${JSON.stringify(stubUrl)}, shortCircuit: true } : n(s, c); }`)}`);
const stub = await import('./vscode-stub');
const { registerEvaluation, evaluateSelection } = await import('../../src/extension/evaluation/register');
const { EVAL_SCHEME, EvalDocuments, FORGOTTEN_TEXT } = await import('../../src/extension/evaluation/documents');

type StubUri = ReturnType<typeof stub.Uri.file>;

/** Completes with a fixed text per variant: the base model " a time", an adapter " a dragon". */
class Completing extends FakeInference {
  override generate(req: GenerateRequest) {
    this.calls.push({ op: 'generate', args: [req] });
    return { done: Promise.resolve(req.variants.map((adapter) => ({ adapter, ids: [1], text: adapter ? ' a dragon' : ' a time', finish_reason: 'eos' as const }))), cancel: () => undefined };
  }
}

function setup(t: { after(fn: () => unknown): void }, dir: string, active: { path: string | null; model: string; label: string } | null) {
  stub.setWorkspace(dir, { 'loralab.modelPath': '/models/tiny' });
  const text = 'Once upon';
  stub.window.activeTextEditor = {
    document: { uri: stub.Uri.file(join(dir, 'story.txt')), fileName: join(dir, 'story.txt'), getText: () => text },
    selection: {},
  };
  const disposables: { dispose(): unknown }[] = [];
  const inference = new Completing();
  const lab = { own: <T extends { dispose(): unknown }>(d: T) => (disposables.push(d), d), inference, adapterState: { active }, experiments: { list: () => [] } };
  registerEvaluation(lab as never);
  t.after(() => {
    stub.window.activeTextEditor = undefined;
    disposables.forEach((d) => d.dispose());
  });
  return { lab, inference, disposables };
}

test('Evaluate Selection: a read-only diff of loralab-eval: documents titled with the run label; the provider goes with the extension', async (t) => {
  const dir = await tempDir(t);
  const label = 'tiny · 2026-12-06 23:57:07 (final)';
  const { lab, disposables } = setup(t, dir, { path: '/ws/.loralab/runs/tiny-20261206-235707/adapter', model: '/models/tiny', label });
  const provider = stub.recorded.contentProviders.get(EVAL_SCHEME);
  assert.ok(provider, 'a content provider for loralab-eval: is registered at activation');
  stub.recorded.executed.length = 0;

  await evaluateSelection(lab as never);
  const diff = stub.recorded.executed.find((c) => c.id === 'vscode.diff');
  assert.ok(diff, JSON.stringify(stub.recorded.executed));
  const [left, right, title] = diff.args as [StubUri, StubUri, string];
  assert.equal(title, `Base model ↔ ${label}`);
  assert.deepEqual([left.scheme, left.path, right.scheme, right.path], [EVAL_SCHEME, '/Base model', EVAL_SCHEME, `/${label}`]);
  assert.equal(provider.provideTextDocumentContent(left), 'Once upon a time', 'the base side: prompt + the base completion');
  assert.equal(provider.provideTextDocumentContent(right), 'Once upon a dragon', 'the adapter side: prompt + its completion');

  // A second evaluation is a new pair of documents (the first stays as it was).
  await evaluateSelection(lab as never);
  const second = stub.recorded.executed.filter((c) => c.id === 'vscode.diff')[1].args as [StubUri, StubUri];
  assert.notEqual(second[0].toString(), left.toString());
  assert.equal(provider.provideTextDocumentContent(left), 'Once upon a time');

  disposables.forEach((d) => d.dispose());
  disposables.length = 0;
  assert.equal(stub.recorded.contentProviders.has(EVAL_SCHEME), false, 'disposed with the extension');
});

test('Evaluate Selection without an active adapter: the base model\'s text alone, read-only', async (t) => {
  const dir = await tempDir(t);
  const { lab, inference } = setup(t, dir, null);
  const shown: unknown[] = [];
  const orig = stub.window.showTextDocument;
  (stub.window as { showTextDocument: (doc: unknown) => Promise<undefined> }).showTextDocument = async (doc: unknown) => void shown.push(doc);
  t.after(() => void (stub.window.showTextDocument = orig));
  await evaluateSelection(lab as never);
  assert.deepEqual((inference.calls.find((c) => c.op === 'generate')!.args[0] as GenerateRequest).variants, [null]);
  const [uri] = shown as StubUri[];
  assert.equal(uri.scheme, EVAL_SCHEME);
  assert.equal(stub.recorded.contentProviders.get(EVAL_SCHEME)!.provideTextDocumentContent(uri), 'Once upon a time');
});

test('EvalDocuments: path separators in a title are not folders; a closed document\'s text is dropped', () => {
  const docs = new EvalDocuments();
  const uri = docs.add('runs/tiny\\adapter', 'text') as unknown as StubUri;
  assert.equal(uri.path, '/runs\u2215tiny\u2215adapter');
  assert.equal(docs.provideTextDocumentContent(uri as never), 'text');
  docs.forget(stub.Uri.file('/elsewhere') as never); // another scheme: nothing happens
  assert.equal(docs.size, 1);
  docs.forget(uri as never);
  assert.equal(docs.size, 0);
  assert.equal(docs.provideTextDocumentContent(uri as never), FORGOTTEN_TEXT);
});
