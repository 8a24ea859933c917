// The VS Code side of the Adapters view (view.ts, commands.ts) against the `vscode` stub: the
// `vscode` import of those modules is resolved to test/extension/vscode-stub.ts by a module hook,
// the context is a small fake holding a real AdapterState / AdapterCatalog / AdapterActions, and
// the worker is a FakeInference. Checks the tree, the status-bar item and the context-menu commands.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { register } from 'node:module';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FakeInference, memento } from './fake-inference';
import { tempDir } from './helpers';

const stubUrl = pathToFileURL(join(import.meta.dirname, 'vscode-stub.ts')).href;
register(`data:text/javascript,${encodeURIComponent(`export async function resolve(s, c, n) { return s === 'vscode' ? { url: ${JSON.stringify(stubUrl)}, shortCircuit: true } : n(s, c); }`)}`);
const stub = await import('./vscode-stub');
const { registerAdaptersView } = await import('../../src/extension/adapters/view');
const { adapterCommands } = await import('../../src/extension/adapters/commands');
const { AdapterState } = await import('../../src/extension/adapters/state');
const { AdapterCatalog } = await import('../../src/extension/adapters/catalog');
const { AdapterActions } = await import('../../src/extension/adapters/actions');
const { Emitter } = await import('../../src/extension/emitter');

interface Node {
  label: string;
  contextValue: string;
  description?: string;
  children: Node[];
}

async function until<T>(what: string, get: () => T | undefined | false, timeoutMs = 5_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = get();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('Adapters view with the vscode stub: imported adapter in the tree, Activate from the context menu marks it and updates the status bar, Copy Path, Open in Playground, Use Base Model', async (t) => {
  const dir = await tempDir(t);
  const model = join(dir, 'model');
  const adapterDir = join(dir, 'owl-adapter');
  await mkdir(model);
  await mkdir(adapterDir);
  await writeFile(join(adapterDir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 4, lora_alpha: 8, base_model_name_or_path: model }));

  const client = new FakeInference();
  const adapterState = new AdapterState(memento());
  await adapterState.addImported(adapterDir);
  const catalog = new AdapterCatalog();
  const subs: { dispose(): unknown }[] = [];
  let playgroundShown = 0;
  const runsChanged = new Emitter<unknown>();
  const lab = {
    own: <T extends { dispose(): unknown }>(d: T) => (subs.push(d), d),
    runs: { runs: () => [], onChange: runsChanged.event },
    output: { appendLine: () => undefined },
    adapterState,
    catalog,
    playground: { show: () => playgroundShown++ },
  } as Record<string, unknown>;
  lab.adapters = new AdapterActions({
    client,
    state: adapterState,
    catalog,
    runs: () => [],
    ui: { pick: async () => undefined, pickFolder: async () => undefined, modelSetting: () => '', info: async () => undefined, progress: (_t, task) => task(), openPlayground: () => playgroundShown++ },
  });
  t.after(() => subs.forEach((d) => d.dispose()));
  registerAdaptersView(lab as never);

  const tree = stub.recorded.trees.get('loralab.adapters')!;
  const roots = () => tree.getChildren() as Node[];
  const imported = await until('the Imported group', () => roots().find((n) => n.label === 'Imported'));
  const owl = imported.children[0];
  assert.deepEqual([owl.label, owl.description, owl.contextValue], ['owl-adapter', 'r 4 · α 8', 'adapter-imported']);
  const status = stub.recorded.statusItems.find((i) => i.id === 'loralab.activeAdapter')!;
  assert.equal(status.text, '$(layers) no adapter');
  assert.equal((status as unknown as { command: { command: string } }).command.command, 'loralab.activateAdapter');
  const item = tree.getTreeItem(owl);
  assert.equal(item.contextValue, 'adapter-imported');

  // Context menu: Activate (VS Code passes the node).
  await adapterCommands['loralab.activateAdapter'](lab as never, undefined, undefined, owl);
  assert.deepEqual(client.calls, [{ op: 'activate', args: [model, adapterDir] }]);
  assert.equal(status.text, '$(layers) owl-adapter');
  const active = await until('the active mark', () => roots().find((n) => n.label === 'Imported')?.children.find((c) => c.contextValue === 'adapter-imported-active'));
  assert.equal(active.description, 'active · r 4 · α 8');

  await adapterCommands['loralab.copyAdapterPath'](lab as never, undefined, undefined, owl);
  assert.equal(stub.env.clipboard.text, adapterDir);

  // Open in Playground on the active adapter: no second activation.
  await adapterCommands['loralab.openAdapterInPlayground'](lab as never, undefined, undefined, active);
  assert.equal(playgroundShown, 1);
  assert.equal(client.calls.length, 1);

  await adapterCommands['loralab.useBaseModel'](lab as never);
  assert.deepEqual(client.calls.at(-1), { op: 'activate', args: [model, null] });
  assert.equal(status.text, '$(layers) base model');
  await until('the base row marked', () => roots()[0].contextValue === 'base-model-active');

  await assert.rejects(adapterCommands['loralab.revealAdapter'](lab as never, undefined, undefined, undefined), /pick an adapter in the Adapters view first/);
});
