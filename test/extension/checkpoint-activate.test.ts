// Activate on a checkpoint row of the Experiments tree (target `{ kind: 'checkpoint', dir }`):
// the adapter command activates that checkpoint folder — not a picker — against the model setting.
// `vscode` resolves to test/extension/vscode-stub.ts by a module hook.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { register } from 'node:module';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FakeInference, memento } from './fake-inference';
import { entry, makeRun, tempDir } from './helpers';

const stubUrl = pathToFileURL(join(import.meta.dirname, 'vscode-stub.ts')).href;
register(`data:text/javascript,${encodeURIComponent(`export async function resolve(s, c, n) { return s === 'vscode' ? { url: ${JSON.stringify(stubUrl)}, shortCircuit: true } : n(s, c); }`)}`);
await import('./vscode-stub');
const { adapterCommands } = await import('../../src/extension/adapters/commands');
const { AdapterState } = await import('../../src/extension/adapters/state');
const { AdapterCatalog } = await import('../../src/extension/adapters/catalog');
const { AdapterActions } = await import('../../src/extension/adapters/actions');
const { runNode } = await import('../../src/extension/experiments/model');

test('Activate on an Experiments-tree checkpoint activates that checkpoint folder; a vanished one is named', async (t) => {
  const dir = await tempDir(t);
  const run = await makeRun(join(dir, 'runs'));
  const ck = join(run.dir, 'checkpoints', 'step-20');
  await mkdir(ck, { recursive: true });
  await writeFile(join(ck, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 8, lora_alpha: 32 }));
  const e = entry({ id: 'r', run_dir: run.dir, checkpoints: [{ step: 20, dir: ck }] });
  const client = new FakeInference();
  const catalog = new AdapterCatalog();
  let picks = 0;
  const lab = {
    runs: { runs: () => [e] },
    catalog,
    adapterState: new AdapterState(memento()),
    adapters: new AdapterActions({
      client,
      state: new AdapterState(memento()),
      catalog,
      runs: () => [e],
      ui: { pick: async () => (picks++, undefined), pickFolder: async () => undefined, modelSetting: () => '/models/tiny', info: async () => undefined, progress: (_t, task) => task(), openPlayground: () => undefined },
    }),
  };
  const node = runNode(e).children[0];
  await adapterCommands['loralab.activateAdapter'](lab as never, node.target, undefined, node);
  assert.deepEqual(client.calls, [{ op: 'activate', args: ['/models/tiny', ck] }]);
  assert.equal(picks, 0);
  await assert.rejects(
    adapterCommands['loralab.activateAdapter'](lab as never, { kind: 'checkpoint', runDir: run.dir, dir: join(run.dir, 'checkpoints', 'step-99'), step: 99 }, undefined, {}),
    /step-99 is not a complete checkpoint \(any more\); refresh the Experiments view/,
  );
});
