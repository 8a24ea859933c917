// The bundled extension (dist/extension.cjs) activated against a stub `vscode` module: the tree
// shows the workspace's experiment, Start Run forks the bundled trainer (dist/trainer.js) and the
// run completes, the dashboard panel answers `ready` with `init`, a reload restores it, in
// Restricted Mode starting a run is refused with an explanation, closing the window stops a run
// with a checkpoint, and after a reload Resume Run continues it. Needs `npm run build`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import Module, { createRequire } from 'node:module';
import { join } from 'node:path';
import * as stub from './vscode-stub';
import { makeExperiment } from '../helpers/experiment';
import { ROOT } from '../helpers/paths';

const BUNDLE = join(ROOT, 'dist/extension.cjs');
const TRAINER = join(ROOT, 'dist/trainer.js');

interface Node {
  label: string;
  contextValue: string;
  description?: string;
  children: Node[];
  target: { kind: string; runDir?: string };
}

async function until<T>(what: string, get: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 120_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await get();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}\n${stub.recorded.output.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('the bundled extension: tree, Start Run with the bundled trainer, dashboard, restore, Restricted Mode, stop on close, resume after reload', { timeout: 180_000 }, async (t) => {
  if (!existsSync(BUNDLE) || !existsSync(TRAINER)) return t.skip('dist/ not built (npm run build)');
  const exp = makeExperiment({ name: 'smoke', trainBytes: [0, 20_000], training: { max_steps: 4, eval_steps: 2, save_steps: 2 } });
  t.after(() => rm(exp.dir, { recursive: true, force: true }));
  stub.setWorkspace(exp.dir);

  // require('vscode') inside the bundle gets the stub
  const M = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
  const load = M._load;
  M._load = (request, ...rest) => (request === 'vscode' ? stub : load(request, ...rest));
  t.after(() => void (M._load = load));
  const ext = createRequire(import.meta.url)(BUNDLE) as { activate(c: unknown): void; deactivate(): Promise<void> };
  let context = stub.extensionContext(ROOT);
  const closeWindow = async () => {
    await ext.deactivate();
    for (const d of context.subscriptions) d.dispose();
    context.subscriptions.length = 0;
  };
  ext.activate(context);
  t.after(closeWindow);

  // one command table, all registered
  for (const id of ['loralab.newExperiment', 'loralab.startRun', 'loralab.stopRun', 'loralab.resumeRun', 'loralab.openDashboard', 'loralab.refresh', 'loralab.showTokenLoss']) {
    assert.ok(stub.recorded.commands.has(id), id);
  }
  const tree = stub.recorded.trees.get('loralab.experiments')!;
  // getChildren may be async (checkpoint rows read their validation loss).
  const roots = async () => (await tree.getChildren()) as Node[];
  const [expNode] = await until('the experiment in the tree', async () => { const r = await roots(); return r.length > 0 && r; });
  assert.equal(expNode.label, 'exp.lora.json');
  assert.equal(expNode.contextValue, 'experiment');
  const lenses = stub.recorded.codeLens[0].provideCodeLenses({ uri: stub.Uri.file(exp.file) });
  assert.deepEqual(lenses.map((l) => l.command!.title), ['▶ Start run']);

  // Start Run from the CodeLens (a URI argument)
  await stub.commands.executeCommand('loralab.startRun', ...lenses[0].command!.arguments!);
  const item = await until('a status-bar item', () => stub.recorded.statusItems.find((i) => i.id.startsWith('loralab.training')));
  assert.ok(item.visible);
  const run = await until('a completed run in the tree', async () => (await roots())[0]?.children.find((n) => n.contextValue === 'run-completed'));
  assert.equal(run.description, `step 4/4 · loss ${/loss (\d+\.\d{3})/.exec(run.description!)![1]}`);
  assert.deepEqual(run.children.map((c) => c.label), ['step-2', 'step-4']);
  await until('the status-bar item to go', () => item.disposed);
  await until('the completion message', () => stub.recorded.messages.some((m) => /completed \(4 steps/.test(m.text)));
  assert.ok(stub.recorded.output.some((l) => /\[smoke\] starting: model/.test(l) || /starting: model/.test(l)), 'trainer log in the output channel');
  assert.equal(lenses.length, 1);
  const lenses2 = stub.recorded.codeLens[0].provideCodeLenses({ uri: stub.Uri.file(exp.file) });
  assert.deepEqual(lenses2.map((l) => l.command!.title), ['▶ Start run', 'Open dashboard']);

  // the dashboard: one panel per run, ready → init with every row
  await stub.commands.executeCommand('loralab.openDashboard', run);
  await stub.commands.executeCommand('loralab.openDashboard', { kind: 'run', runDir: run.target.runDir });
  assert.equal(stub.recorded.panels.length, 1, 'reopening reveals the open panel');
  const panel = stub.recorded.panels[0];
  const opts = panel.options as { enableScripts: boolean; localResourceRoots: stub.Uri[] };
  assert.equal(opts.enableScripts, true);
  assert.deepEqual(opts.localResourceRoots.map((u) => u.fsPath), [join(ROOT, 'dist/webview'), join(ROOT, 'media')]);
  assert.match(panel.webview.html, /dist\/webview\/dashboard\.js/);
  assert.match(panel.webview.html, /Content-Security-Policy/);
  panel.fromPage({ v: 1, type: 'ready' });
  const init = await until('init', () => panel.sent.find((m) => (m as { type: string }).type === 'init')) as { run: { status: string; run_dir: string }; rows: { step: number }[] };
  assert.equal(init.run.status, 'completed');
  assert.deepEqual(init.rows.map((r) => r.step), [1, 2, 3, 4]);

  // a window reload: the serializer restores the panel from the page's saved state
  panel.dispose();
  const restored = new stub.StubPanel('loralab.dashboard', 'whatever', {});
  await stub.recorded.serializers.get('loralab.dashboard')!.deserializeWebviewPanel(restored, { v: 1, prefs: {}, run: { run_dir: init.run.run_dir } });
  assert.equal(restored.disposed, false);
  restored.fromPage({ v: 1, type: 'ready' });
  await until('init after restore', () => restored.sent.some((m) => (m as { type: string }).type === 'init'));
  const gone = new stub.StubPanel('loralab.dashboard', 'x', {});
  await stub.recorded.serializers.get('loralab.dashboard')!.deserializeWebviewPanel(gone, { run: { run_dir: join(exp.dir, 'no-such-run') } });
  assert.equal(gone.disposed, true, 'a deleted run is not restored');

  // Restricted Mode: starting is refused with the reason
  stub.workspace.isTrusted = false;
  t.after(() => void (stub.workspace.isTrusted = true));
  const before = stub.recorded.statusItems.length;
  await stub.commands.executeCommand('loralab.startRun', stub.Uri.file(exp.file));
  assert.match(stub.recorded.messages.at(-1)!.text, /disabled in Restricted Mode/);
  assert.equal(stub.recorded.statusItems.length, before, 'no trainer started');
  stub.workspace.isTrusted = true;

  // closing the window stops a training run with a checkpoint; after a reload it is resumable
  const longFile = join(exp.dir, 'long.lora.json');
  const spec = JSON.parse((await readFile(exp.file, 'utf8')).replace(/^\/\/.*\n/, ''));
  await writeFile(longFile, JSON.stringify({ ...spec, name: 'long', training: { ...spec.training, max_steps: 2000, eval_steps: 1000, save_steps: 1000 } }));
  await stub.commands.executeCommand('loralab.startRun', stub.Uri.file(longFile));
  await until('the long run to log a step', () => stub.recorded.output.some((l) => /^\[long-\d{8}-\d{6}\] starting: model/.test(l)));
  await until('its first metrics row', () => stub.recorded.statusItems.some((i) => /long \d+\/2000 · loss/.test(i.text) && !i.disposed));
  const t0 = Date.now();
  await closeWindow();
  assert.ok(Date.now() - t0 < 10_000, 'deactivate waits at most 10 s');
  const longRun = stub.recorded.output.map((l) => /run folder (.*long-.*)$/.exec(l)?.[1]).find(Boolean)!;
  const { openRun, listCheckpoints } = await import('../../src/runs/index');
  const stopped = await (await openRun(longRun)).read();
  assert.equal(stopped.status, 'stopped');
  assert.deepEqual((await listCheckpoints(longRun)).map((c) => c.step), [stopped.step]);

  context = stub.extensionContext(ROOT); // a window reload
  ext.activate(context);
  const tree2 = stub.recorded.trees.get('loralab.experiments')!;
  assert.notEqual(tree2, tree, 'a new tree after the reload');
  assert.ok(stub.recorded.messages.some((m) => /closing the window stopped a run with a checkpoint \(long-/.test(m.text)), 'the reload says which run closing the window stopped');
  const resumable = await until('the stopped run, resumable', async () =>
    ((await tree2.getChildren()) as Node[]).find((n) => n.label === 'long.lora.json')?.children.find((n) => n.contextValue === 'run-stopped-resumable'),
  );
  assert.equal(resumable.target.runDir, longRun);
  await stub.commands.executeCommand('loralab.resumeRun', resumable);
  await until('the resumed run to train', () => stub.recorded.output.some((l) => new RegExp(`resuming from step ${stopped.step}`).test(l)));
  await closeWindow();
  assert.equal((await (await openRun(longRun)).read()).status, 'stopped');
});
