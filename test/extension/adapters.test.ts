// The Adapters view's data (a real run folder read by the runs watcher and the catalog), the
// adapter actions (Activate / Use Base Model / Import) with a fake inference client and fake
// dialogs, and the playground's host session. Expected values are written out by hand from the
// fixture: the val_loss rows appended below, the model folders created here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createRun } from '../../src/runs/index';
import { RunsWatcher } from '../../src/extension/runs/watcher';
import { AdapterCatalog, valLossAt } from '../../src/extension/adapters/catalog';
import { type AdapterNode, buildAdapterTree } from '../../src/extension/adapters/model';
import { AdapterState, HISTORY_LIMIT } from '../../src/extension/adapters/state';
import { AdapterActions, type AdapterUi } from '../../src/extension/adapters/actions';
import { PlaygroundSession } from '../../src/extension/playground/session';
import { type HostToPlayground, isHostToPlayground } from '../../src/protocol/playground';
import { NoTargetError, type PickItem } from '../../src/extension/targets';
import { FakeInference, memento } from './fake-inference';
import { tempDir } from './helpers';

const CONFIG = (extra: Record<string, unknown> = {}) => JSON.stringify({ peft_type: 'LORA', r: 4, lora_alpha: 16, target_modules: ['q_proj', 'v_proj'], ...extra });

/** A completed run of `model` with val_loss at steps 0, 4, 8 (3.0, 2.75, 2.5), checkpoints at 6 and 10, and a final adapter. */
async function fixture(t: Parameters<typeof tempDir>[0]) {
  const dir = await tempDir(t);
  const model = join(dir, 'models', 'tiny');
  await mkdir(model, { recursive: true });
  const runsDir = join(dir, 'runs');
  const run = await createRun(runsDir, 'tiny', {
    experiment_file: null,
    config: { name: 'tiny' },
    model: { path: model, sha256: null },
    dataset: { train_sha256: null, validation_sha256: null },
    provider: 'cpu',
    engine_version: '0.0.0-test',
    max_steps: 10,
    pid: process.pid,
  });
  for (let s = 0; s <= 10; s++) await run.appendMetrics({ step: s, time: s, ...(s > 0 ? { train_loss: 3 - s / 10 } : {}), ...(s % 4 === 0 ? { val_loss: 3 - s / 16 } : {}) });
  for (const step of [6, 10]) await run.writeCheckpoint(step, (tmp) => writeFile(join(tmp, 'adapter_config.json'), CONFIG()));
  await run.writeAdapter((tmp) => writeFile(join(tmp, 'adapter_config.json'), CONFIG()));
  await run.update({ status: 'completed', step: 10 });
  const watcher = new RunsWatcher(runsDir);
  t.after(async () => watcher.dispose());
  await watcher.refresh();
  return { dir, model, run, runs: watcher.runs };
}

function fakeUi(over: Partial<AdapterUi> = {}) {
  const log: string[] = [];
  const picks: PickItem<unknown>[][] = [];
  const ui: AdapterUi & { log: string[]; picks: typeof picks; answers: unknown[] } = {
    log,
    picks,
    answers: [],
    pick: async <T>(items: PickItem<T>[]) => {
      picks.push(items as PickItem<unknown>[]);
      const want = ui.answers.shift();
      return typeof want === 'function' ? (want as (i: PickItem<T>[]) => T | undefined)(items) : (want as T | undefined);
    },
    pickFolder: async (title) => {
      log.push(`folder? ${title}`);
      return ui.answers.shift() as string | undefined;
    },
    modelSetting: () => '',
    info: async (m, ...actions) => {
      log.push(`info: ${m} [${actions.join(', ')}]`);
      return ui.answers.shift() as string | undefined;
    },
    progress: (title, task) => {
      log.push(`progress: ${title}`);
      return task();
    },
    openPlayground: () => log.push('playground'),
    ...over,
  };
  return ui;
}

test('valLossAt: the last evaluation at or before the step', () => {
  const rows = [{ step: 0, val_loss: 3 }, { step: 2 }, { step: 4, val_loss: 2.5 }, { step: 6 }];
  assert.deepEqual(valLossAt(rows, 5), { val_loss: 2.5, val_step: 4 });
  assert.deepEqual(valLossAt(rows, 3), { val_loss: 3, val_step: 0 });
  assert.deepEqual(valLossAt([{ step: 1 }], 1), { val_loss: null, val_step: null });
});

test('catalog + tree: final adapter and checkpoints of a run with their validation loss, the active one marked', async (t) => {
  const { run, runs, model } = await fixture(t);
  const catalog = new AdapterCatalog();
  const adapters = await catalog.runAdapters(runs);
  assert.deepEqual(
    adapters.map((a) => [a.kind, a.step, a.val_loss, a.val_step, a.r, a.lora_alpha, a.base_model]),
    [
      ['final', 10, 2.5, 8, 4, 16, model], // val at step 8: 3 − 8/16
      ['checkpoint', 10, 2.5, 8, 4, 16, model],
      ['checkpoint', 6, 2.75, 4, 4, 16, model], // val at step 4: 3 − 4/16
    ],
  );
  const ck6 = adapters[2];
  assert.equal(ck6.path, join(run.dir, 'checkpoints', 'step-6'));

  const none = buildAdapterTree({ runAdapters: adapters, imported: [], active: null });
  // The run as named outside the Experiments tree: experiment name · start time (the id's suffix).
  const [, y, mo, d, h, mi, sec] = /-(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})$/.exec(run.id)!;
  assert.deepEqual(none.map((n) => n.label), ['Base model', `tiny · ${y}-${mo}-${d} ${h}:${mi}:${sec}`]);
  const runNode = none[1];
  assert.deepEqual(runNode.children.map((c) => [c.label, c.description, c.contextValue]), [
    ['final adapter', 'val loss 2.500 (step 8) · step 10', 'adapter-final'],
    ['step-10', 'val loss 2.500 (step 8)', 'adapter-checkpoint'],
    ['step-6', 'val loss 2.750 (step 4)', 'adapter-checkpoint'],
  ]);
  assert.equal(none[0].contextValue, 'base-model');

  const active = buildAdapterTree({ runAdapters: adapters, imported: [], active: { path: ck6.path, model, label: 'x', kind: 'checkpoint' } });
  const marked = active[1].children.filter((c) => c.icon.id === 'pass-filled');
  assert.deepEqual(marked.map((c) => [c.label, c.contextValue, c.description]), [['step-6', 'adapter-checkpoint-active', 'active · val loss 2.750 (step 4)']]);
  // The mark comes first (a narrow side bar cuts the end); the run row leaves it to its child.
  assert.equal(active[1].description, undefined);
  assert.equal(active[1].collapsible, 'expanded');
  assert.match(active[1].ariaLabel, /holds the active adapter/);
  const base = buildAdapterTree({ runAdapters: adapters, imported: [], active: { path: null, model, label: 'base model', kind: 'base' } });
  assert.equal(base[0].contextValue, 'base-model-active');
  assert.equal(base[0].description, 'active · tiny');
});

test('imported adapters: read from adapter_config.json; a broken one is listed with its reason and cannot be activated', async (t) => {
  const dir = await tempDir(t);
  const good = join(dir, 'good');
  const bad = join(dir, 'bad');
  await mkdir(good);
  await mkdir(bad);
  await writeFile(join(good, 'adapter_config.json'), CONFIG({ r: 8, base_model_name_or_path: 'HuggingFaceTB/SmolLM2-135M' }));
  await writeFile(join(bad, 'adapter_config.json'), CONFIG({ peft_type: 'PREFIX_TUNING' }));
  const imported = await new AdapterCatalog().importedAdapters([good, bad, join(dir, 'gone')]);
  assert.deepEqual(imported.map((a) => [a.r, a.base_model]), [[8, 'HuggingFaceTB/SmolLM2-135M'], [null, null], [null, null]]);
  assert.match(imported[1].problem!, /bad[/\\]adapter_config\.json: peft_type is "PREFIX_TUNING"/);
  assert.match(imported[2].problem!, /gone[/\\]adapter_config\.json does not exist/);
  const tree = buildAdapterTree({ runAdapters: [], imported, active: null });
  const group = tree.find((n) => n.label === 'Imported') as AdapterNode;
  assert.deepEqual(group.children.map((c) => [c.label, c.description, c.contextValue]), [
    ['good', 'r 8 · α 16', 'adapter-imported'],
    ['bad', 'cannot be used', 'adapter-imported-broken'],
    ['gone', 'cannot be used', 'adapter-imported-broken'],
  ]);
});

test("Activate Adapter: the run's model, checked by the worker, then remembered; a mismatch leaves the active adapter as it was", async (t) => {
  const { runs, model, run } = await fixture(t);
  const client = new FakeInference();
  const state = new AdapterState(memento());
  const ui = fakeUi();
  const actions = new AdapterActions({ client, state, catalog: new AdapterCatalog(), runs: () => runs, ui });

  // From the palette: a quick pick of the base model and every adapter.
  ui.answers.push((items: PickItem<unknown>[]) => items.find((i) => /step-6/.test(i.label))!.value);
  const a = await actions.activate();
  // Named as everywhere outside the Experiments tree: experiment name · start time (from the id's
  // -YYYYMMDD-HHMMSS suffix, re-read here from the folder name).
  const [, y, mo, d, h, mi, sec] = /-(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})$/.exec(run.id)!;
  const named = `${run.id.slice(0, run.id.length - 16)} · ${y}-${mo}-${d} ${h}:${mi}:${sec}`;
  assert.deepEqual(ui.picks[0].map((i) => i.label), ['$(circle-large-outline) Base model', `$(package) ${named} (final)`, `$(save) step-10 · ${named}`, `$(save) step-6 · ${named}`]);
  const ck6 = join(run.dir, 'checkpoints', 'step-6');
  assert.deepEqual(client.calls, [{ op: 'activate', args: [model, ck6] }]);
  assert.deepEqual(a, { path: ck6, model, label: `step-6 · ${named}`, kind: 'checkpoint' });
  assert.deepEqual(state.active, a);

  // A mismatch: the worker's message comes through; nothing changes.
  const final = (await actions.all())[0];
  client.mismatch.set(final.path, 'adapter_model.safetensors: lora_A of model.layers.0.self_attn.q_proj is [4, 48], the model needs [4, 64]');
  await assert.rejects(actions.activate(final), /lora_A of model\.layers\.0\.self_attn\.q_proj is \[4, 48\], the model needs \[4, 64\]/);
  assert.deepEqual(state.active, a);

  // Use Base Model keeps the model.
  assert.deepEqual(await actions.useBase(), { path: null, model, label: 'base model', kind: 'base' });
  assert.deepEqual(client.calls.at(-1), { op: 'activate', args: [model, null] });

  // Nothing to activate at all.
  const empty = new AdapterActions({ client, state, catalog: new AdapterCatalog(), runs: () => [], ui });
  await assert.rejects(empty.activate(), NoTargetError);
});

test('Import PEFT Adapter…: base_model_name_or_path when it is a local folder, else the setting, else ask; remembered per workspace', async (t) => {
  const dir = await tempDir(t);
  const model = join(dir, 'model');
  await mkdir(model);
  const local = join(dir, 'local');
  const hub = join(dir, 'hub');
  const empty = join(dir, 'empty');
  for (const d of [local, hub, empty]) await mkdir(d);
  await writeFile(join(local, 'adapter_config.json'), CONFIG({ base_model_name_or_path: '../model' })); // relative to the adapter folder
  await writeFile(join(hub, 'adapter_config.json'), CONFIG({ base_model_name_or_path: 'HuggingFaceTB/SmolLM2-135M' }));
  const client = new FakeInference();
  const mem = memento();
  const state = new AdapterState(mem);
  const ui = fakeUi();
  const actions = new AdapterActions({ client, state, catalog: new AdapterCatalog(), runs: () => [], ui });

  ui.answers.push(local, 'Activate');
  await actions.importAdapter();
  assert.deepEqual(client.calls, [{ op: 'activate', args: [model, local] }]);
  assert.deepEqual(state.imported, [local]);
  assert.deepEqual(mem.data.get('loralab.importedAdapters'), [local]);
  assert.match(ui.log.find((l) => l.startsWith('info'))!, /Imported local \(r 4, lora_alpha 16\); it fits model\. \[Activate, Open in Playground\]/);
  assert.equal(state.active?.path, local);

  // A Hub id is no folder: the setting decides (no dialog).
  const withSetting = new AdapterActions({ client, state, catalog: new AdapterCatalog(), runs: () => [], ui: fakeUi({ modelSetting: () => model }) });
  await withSetting.importAdapter(hub);
  assert.deepEqual(client.calls.at(-1), { op: 'activate', args: [model, hub] });

  // No setting: the user is asked; dismissing imports nothing.
  const ask = fakeUi();
  const asking = new AdapterActions({ client, state: new AdapterState(memento()), catalog: new AdapterCatalog(), runs: () => [], ui: ask });
  assert.equal(await asking.importAdapter(hub), undefined);
  assert.match(ask.log[0], /folder\? Base model folder for hub/);

  // Not an adapter folder: one line naming the file. A mismatch names the adapter and the model.
  await assert.rejects(actions.importAdapter(empty), (e: Error) => /empty[/\\]adapter_config\.json does not exist/.test(e.message) && !e.message.includes('\n'));
  client.mismatch.set(hub, 'lora_B of model.layers.1.mlp.down_proj is [64, 4], the model needs [128, 4]');
  await assert.rejects(withSetting.importAdapter(hub), new RegExp(`hub does not fit ${model.replace(/[\\/.]/g, '.')}: lora_B of model\\.layers\\.1\\.mlp\\.down_proj is \\[64, 4\\], the model needs \\[128, 4\\]`));

  await state.removeImported(local);
  assert.deepEqual(state.imported, [hub]);
  assert.equal(state.active?.path, null, 'removing the active adapter falls back to the base model');
});

test('history: newest first, a repeated prompt moves up, at most HISTORY_LIMIT', async () => {
  const state = new AdapterState(memento());
  for (let i = 0; i < HISTORY_LIMIT + 5; i++) await state.addHistory({ prompt: `p${i}` }, new Date(Date.UTC(2026, 0, 1, 0, i)));
  await state.addHistory({ prompt: 'p10' }, new Date(Date.UTC(2026, 0, 2)));
  const h = state.history;
  assert.equal(h.length, HISTORY_LIMIT);
  assert.deepEqual(h.slice(0, 3).map((e) => e.prompt), ['p10', `p${HISTORY_LIMIT + 4}`, `p${HISTORY_LIMIT + 3}`]);
  assert.equal(h.filter((e) => e.prompt === 'p10').length, 1);
});

test('playground session: ready → init → model facts; generate streams both columns; cancel ends it; adapter changes reach the page', async () => {
  const client = new FakeInference();
  const state = new AdapterState(memento());
  await state.setActive({ path: '/a/ck', model: '/m/tiny', label: 'step-6 · tiny', kind: 'checkpoint' });
  const sent: HostToPlayground[] = [];
  const session = new PlaygroundSession({
    post: async (m) => {
      assert.ok(isHostToPlayground(m), JSON.stringify(m));
      sent.push(m);
      return true;
    },
    client,
    state,
    ensureModel: async () => undefined,
    pickAdapter: () => sent.push({ v: 1, type: 'error', gen: null, message: 'picked' }),
    log: () => undefined,
  });
  const params = { max_new_tokens: 8, temperature: 0, top_p: 1, top_k: 0, seed: null };
  await session.receive({ v: 1, type: 'generate', gen: 1, prompt: 'x', params, columns: ['base'] }); // before ready: ignored
  assert.equal(sent.length, 0);
  await session.receive({ v: 1, type: 'ready' });
  assert.deepEqual(sent.splice(0), [
    { v: 1, type: 'init', adapter: { path: '/a/ck', label: 'step-6 · tiny' }, model: '/m/tiny', history: [] },
    { v: 1, type: 'model', model: '/m/tiny', facts: null, error: null },
    { v: 1, type: 'model', model: '/m/tiny', facts: { model: '/m/tiny', has_chat_template: true, max_positions: 512 }, error: null },
  ]);

  const running = session.receive({ v: 1, type: 'generate', gen: 1, prompt: 'Once', params: { ...params, seed: 3 }, columns: ['base', 'adapter'] });
  await new Promise((r) => setImmediate(r));
  const g = client.generations[0];
  assert.deepEqual(g.req, { model: '/m/tiny', variants: [null, '/a/ck'], prompt: 'Once', params: { max_new_tokens: 8, temperature: 0, top_p: 1, top_k: 0, seed: 3 } });
  g.token(1, ' upon');
  g.token(0, ' there');
  g.token(1, ' a');
  g.finish([
    { adapter: null, ids: [5], text: ' there', finish_reason: 'length' },
    { adapter: '/a/ck', ids: [6, 7], text: ' upon a', finish_reason: 'eos' },
  ]);
  await running;
  assert.deepEqual(sent.splice(0).filter((m) => m.type !== 'history'), [
    { v: 1, type: 'started', gen: 1, columns: ['base', 'adapter'] },
    { v: 1, type: 'token', gen: 1, column: 'adapter', text: ' upon' },
    { v: 1, type: 'token', gen: 1, column: 'base', text: ' there' },
    { v: 1, type: 'token', gen: 1, column: 'adapter', text: ' a' },
    {
      v: 1,
      type: 'done',
      gen: 1,
      results: [
        { column: 'base', text: ' there', tokens: 1, finish_reason: 'length' },
        { column: 'adapter', text: ' upon a', tokens: 2, finish_reason: 'eos' },
      ],
    },
  ]);
  assert.deepEqual(state.history.map((h) => h.prompt), ['Once']);

  // Stop: cancel of the running gen reaches the worker; a stale gen's cancel does not.
  const second = session.receive({ v: 1, type: 'generate', gen: 2, messages: [{ role: 'user', content: 'Hi' }], params, columns: ['adapter'] });
  await new Promise((r) => setImmediate(r));
  await session.receive({ v: 1, type: 'cancel', gen: 1 });
  assert.equal(client.generations[1].cancelled, false);
  await session.receive({ v: 1, type: 'cancel', gen: 2 });
  assert.equal(client.generations[1].cancelled, true);
  await second;
  assert.deepEqual(sent.at(-1), { v: 1, type: 'done', gen: 2, results: [{ column: 'adapter', text: '', tokens: 0, finish_reason: 'cancelled' }] });
  assert.deepEqual(client.generations[1].req.messages, [{ role: 'user', content: 'Hi' }]);

  // Base model active: an "adapter" column is not run.
  await state.setActive({ path: null, model: '/m/tiny', label: 'base model', kind: 'base' });
  await session.adapterChanged();
  assert.deepEqual(sent.at(-1), { v: 1, type: 'adapter', adapter: null, model: '/m/tiny' });
  const third = session.receive({ v: 1, type: 'generate', gen: 3, prompt: 'Hi', params, columns: ['base', 'adapter'] });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(client.generations[2].req.variants, [null]);
  client.generations[2].fail(new Error('the inference worker stopped (exit 1)'));
  await third;
  assert.deepEqual(sent.at(-1), { v: 1, type: 'error', gen: 3, message: 'the inference worker stopped (exit 1)' });

  // Invalid messages are dropped.
  const n = sent.length;
  await session.receive({ v: 1, type: 'generate', gen: 4, prompt: 'x', params: { ...params, top_p: 0 }, columns: ['base'] });
  await session.receive({ v: 1, type: 'generate', gen: 4, prompt: 'x', messages: [{ role: 'user', content: 'y' }], params, columns: ['base'] });
  await session.receive({ v: 1, type: 'generate', gen: 4, prompt: 'x', params, columns: ['base', 'base'] });
  assert.equal(sent.length, n);
  assert.equal(client.generations.length, 3);
});
