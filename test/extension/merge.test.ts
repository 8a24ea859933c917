// The merge feature's host side under plain Node: the Merge page's session and "Merge Into Base
// Model…" with a fake CLI runner (the arguments they pass, the messages they post, errors,
// cancel), the real child-process runner on small scripts (a crash is one line, never a throw),
// and the scan of `.loralab/merged/*/merge.json` for the Adapters view.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MERGE_METHODS } from '../../src/engine/merge/index';
import { partialFolderPath } from '../../src/engine/merge/folder';
import { type HostToMerge, MERGE_METHOD_NAMES, type MergePlan } from '../../src/protocol/merge';
import type { CliChild, CliEvent, CliExit, CliRunner } from '../../src/extension/merge/cli';
import { callCli, forkCliRunner, mergeArgs } from '../../src/extension/merge/cli';
import { MergeSession } from '../../src/extension/merge/session';
import { scanMergedAdapters } from '../../src/extension/merge/scan';
import { type IntoBaseUi, mergeIntoBaseModel } from '../../src/extension/merge/into-base';
import type { AdapterEntry } from '../../src/extension/adapters/catalog';
import { tempDir } from '../helpers/tmp';

const A = '/ws/.loralab/runs/a/adapter';
const B = '/ws/.loralab/runs/b/adapter';
const PLAN: MergePlan = { method: 'svd', r: 4, lora_alpha: 4, bytes: 2048, modules: [{ module: 'model.layers.0.self_attn.q_proj', r: 4, kept_norm_fraction: 0.75, delta_norm: 2, bytes: 2048 }] };
const done = (p: MergePlan = PLAN, event = 'done'): CliEvent => ({ event, adapter_dir: null, rank_pattern: {}, ...p });

/** A scripted child: the test emits its JSON lines and ends it. */
class FakeChild implements CliChild {
  static nextPid = 4000;
  pid = FakeChild.nextPid++;
  killed = false;
  private end!: (x: CliExit) => void;
  exited = new Promise<CliExit>((r) => (this.end = r));
  constructor(readonly args: readonly string[], readonly emit: (e: CliEvent) => void) {}
  kill(): void {
    this.killed = true;
    this.exit(null, 'SIGTERM');
  }
  exit(code: number | null, signal: string | null = null, stderr: string[] = []): void {
    this.end({ code, signal, error: null, stderr });
  }
}

function fakeRunner(): { runner: CliRunner; children: FakeChild[] } {
  const children: FakeChild[] = [];
  return {
    children,
    runner: (args, onEvent) => {
      const c = new FakeChild(args, onEvent);
      children.push(c);
      return c;
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

function session(folder: string | null = null) {
  const posted: HostToMerge[] = [];
  const fake = fakeRunner();
  const merged: string[] = [];
  const s = new MergeSession([{ path: A, label: 'a (final)', r: 4, lora_alpha: 8 }], {
    post: (m) => posted.push(m),
    runner: fake.runner,
    pickAdapters: async (exclude) => [{ path: B, label: `b (excluding ${exclude.length})`, r: 8, lora_alpha: 16 }],
    folder,
    merged: (dir) => void merged.push(dir),
    log: () => undefined,
  });
  return { s, posted, fake, merged };
}

test('the protocol lists exactly the engine\'s merge methods', () => {
  assert.deepEqual([...MERGE_METHOD_NAMES], [...MERGE_METHODS]);
});

test('mergeArgs: each weight as --weights=W (negative ones never read as options), only the given parameters, --dry-run without an output', () => {
  assert.deepEqual(mergeArgs({ adapters: [{ path: A, weight: 0.6 }, { path: B, weight: -0.4 }], method: 'ties', rank: 8, density: 0.5, majority_sign: 'frequency' }, undefined), [
    'merge', '--method', 'ties', '--adapters', A, B, '--weights=0.6', '--weights=-0.4', '--rank', '8', '--density', '0.5', '--majority-sign', 'frequency', '--dry-run', '--json',
  ]);
  assert.deepEqual(mergeArgs({ adapters: [{ path: A, weight: 1 }], method: 'dare_linear', density: 0.3, seed: 7 }, '/ws/.loralab/merged/m'), [
    'merge', '--method', 'dare_linear', '--adapters', A, '--weights=1', '--density', '0.3', '--seed', '7', '--out', '/ws/.loralab/merged/m', '--json',
  ]);
});

test('session: ready → init with a free name; Add adapters; invalid messages are dropped', async () => {
  const ws = tempDir('merge-session-');
  const folder = join(ws, '.loralab', 'merged');
  mkdirSync(join(folder, 'merged-1'), { recursive: true });
  const { s, posted, fake } = session(folder);
  await s.receive({ v: 1, type: 'ready' });
  assert.deepEqual(posted, [{ v: 1, type: 'init', adapters: [{ path: A, label: 'a (final)', r: 4, lora_alpha: 8 }], name: 'merged-2', folder }]);
  await s.receive({ v: 1, type: 'pickAdapters', exclude: [A] });
  assert.deepEqual(posted.at(-1), { v: 1, type: 'adapters', adapters: [{ path: B, label: 'b (excluding 1)', r: 8, lora_alpha: 16 }] });
  for (const bad of [
    { v: 2, type: 'ready' },
    { v: 1, type: 'preview', id: 1, request: { adapters: [], method: 'linear' } },
    { v: 1, type: 'preview', id: 1, request: { adapters: [{ path: A, weight: 1 }], method: 'linear', rank: 4 } }, // linear has no rank
    { v: 1, type: 'preview', id: 1, request: { adapters: [{ path: A, weight: 1 }], method: 'ties' } }, // ties needs a density
    { v: 1, type: 'merge', name: '../escape', request: { adapters: [{ path: A, weight: 1 }], method: 'linear' } },
    { v: 1, type: 'preview', id: 1, request: { adapters: [{ path: A, weight: 'NaN' }], method: 'linear' } },
  ]) await s.receive(bad);
  assert.equal(fake.children.length, 0, 'no CLI run for an invalid message');
  assert.equal(posted.length, 2);
});

test('session: a preview runs `merge --dry-run --json` and posts the plan; a newer preview stops the older one, whose answer is dropped', async () => {
  const { s, posted, fake } = session('/ws/.loralab/merged');
  const req = { adapters: [{ path: A, weight: 0.5 }, { path: B, weight: -0.5 }], method: 'svd', rank: 4 };
  const first = s.receive({ v: 1, type: 'preview', id: 1, request: req });
  await tick();
  const second = s.receive({ v: 1, type: 'preview', id: 2, request: req });
  await tick();
  assert.equal(fake.children.length, 2);
  assert.equal(fake.children[0].killed, true);
  assert.deepEqual(fake.children[1].args, ['merge', '--method', 'svd', '--adapters', A, B, '--weights=0.5', '--weights=-0.5', '--rank', '4', '--dry-run', '--json']);
  fake.children[1].emit(done(PLAN, 'plan'));
  fake.children[1].exit(0);
  await Promise.all([first, second]);
  const plans = posted.filter((m) => m.type === 'plan');
  assert.deepEqual(plans, [{ v: 1, type: 'plan', id: 2, plan: PLAN }]);
  assert.equal(posted.filter((m) => m.type === 'error').length, 0, 'the stopped preview posts nothing');
  assert.deepEqual(posted.at(-1), { v: 1, type: 'busy', what: null });
});

test('session: Merge writes <folder>/<name> via the CLI, posts merged and calls the hook; an existing name and a relative path are refused without a run', async () => {
  const ws = tempDir('merge-session-');
  const folder = join(ws, '.loralab', 'merged');
  const { s, posted, fake, merged } = session(folder);
  const req = { adapters: [{ path: A, weight: 1 }, { path: B, weight: 1 }], method: 'linear' };
  const run = s.receive({ v: 1, type: 'merge', name: 'both', request: req });
  await tick();
  assert.deepEqual(fake.children[0].args, ['merge', '--method', 'linear', '--adapters', A, B, '--weights=1', '--weights=1', '--out', join(folder, 'both'), '--json']);
  assert.deepEqual(posted.at(-1), { v: 1, type: 'busy', what: 'merge' });
  // A second merge while one runs is refused.
  await s.receive({ v: 1, type: 'merge', name: 'other', request: req });
  assert.deepEqual(posted.at(-1), { v: 1, type: 'error', id: null, message: 'a merge is already running; wait for it or press Stop' });
  fake.children[0].emit({ event: 'progress', done: 1, total: 2 });
  fake.children[0].emit(done({ ...PLAN, method: 'linear' }));
  fake.children[0].exit(0);
  await run;
  assert.deepEqual(posted.slice(-3), [
    { v: 1, type: 'merged', name: 'both', dir: join(folder, 'both'), plan: { ...PLAN, method: 'linear' } },
    { v: 1, type: 'name', name: 'merged-1' },
    { v: 1, type: 'busy', what: null },
  ]);
  assert.deepEqual(merged, [join(folder, 'both')]);

  mkdirSync(join(folder, 'taken'), { recursive: true });
  await s.receive({ v: 1, type: 'merge', name: 'taken', request: req });
  assert.deepEqual(posted.slice(-2), [
    { v: 1, type: 'name', name: 'merged-1' },
    { v: 1, type: 'error', id: null, message: `${join(folder, 'taken')} already exists; choose another name` },
  ]);
  await s.receive({ v: 1, type: 'merge', name: 'rel', request: { adapters: [{ path: 'runs/a', weight: 1 }], method: 'linear' } });
  assert.deepEqual(posted.at(-1), { v: 1, type: 'error', id: null, message: 'runs/a is not an absolute adapter folder' });
  const noFolder = session(null);
  await noFolder.s.receive({ v: 1, type: 'merge', name: 'x', request: req });
  assert.match((noFolder.posted.at(-1) as { message: string }).message, /^open a folder first/);
  assert.equal(fake.children.length + noFolder.fake.children.length, 1);
});

test('session: errors are the CLI\'s one line; a dead child (signal, crash, junk) is an error line, not a throw', async () => {
  const { s, posted, fake } = session('/ws/.loralab/merged');
  const req = { adapters: [{ path: A, weight: 1 }, { path: B, weight: 1 }], method: 'svd' };
  const cases: [(c: FakeChild) => void, string][] = [
    [(c) => { c.emit({ event: 'error', message: 'module "q" is [out 64, in 64] in /a but [out 64, in 65] in /b; the adapters were trained on different models — merge adapters of one base model\nsecond line', exit_code: 2 }); c.exit(2); }, 'module "q" is [out 64, in 64] in /a but [out 64, in 65] in /b; the adapters were trained on different models — merge adapters of one base model'],
    [(c) => c.exit(null, 'SIGKILL'), 'the loralab CLI was killed by SIGKILL'],
    [(c) => c.exit(1, null, ['some log', 'loralab: error: out of memory', '']), 'out of memory'],
    [(c) => { c.emit({ event: 'plan', method: 'svd' }); c.exit(0); }, 'the loralab CLI printed an unexpected result; see the LoRA Lab output'],
    [(c) => c.exit(0), 'the loralab CLI exited with code 0 without a result'],
  ];
  for (const [i, [play, message]] of cases.entries()) {
    const run = s.receive({ v: 1, type: 'preview', id: 10 + i, request: req });
    await tick();
    play(fake.children.at(-1)!);
    await run;
    assert.deepEqual(posted.filter((m) => m.type === 'error').at(-1), { v: 1, type: 'error', id: 10 + i, message });
  }
});

test('session: Stop kills the merge; a partial folder the child left is removed; "nothing was written"', async () => {
  const ws = tempDir('merge-session-');
  const folder = join(ws, '.loralab', 'merged');
  const { s, posted, fake } = session(folder);
  const run = s.receive({ v: 1, type: 'merge', name: 'stopped', request: { adapters: [{ path: A, weight: 1 }], method: 'linear' } });
  await tick();
  const child = fake.children[0];
  const partial = partialFolderPath(join(folder, 'stopped'), child.pid);
  mkdirSync(partial, { recursive: true });
  writeFileSync(join(partial, 'adapter_model.safetensors'), 'half');
  await s.receive({ v: 1, type: 'cancel' });
  await run;
  assert.equal(child.killed, true);
  assert.equal(existsSync(partial), false);
  assert.equal(existsSync(join(folder, 'stopped')), false);
  assert.deepEqual(posted.slice(-2), [{ v: 1, type: 'error', id: null, message: 'merge stopped; nothing was written' }, { v: 1, type: 'busy', what: null }]);
  // Closing the panel stops what runs, and nothing is posted afterwards.
  const again = s.receive({ v: 1, type: 'preview', id: 1, request: { adapters: [{ path: A, weight: 1 }], method: 'linear' } });
  await tick();
  const n = posted.length;
  s.dispose();
  await again;
  assert.equal(fake.children[1].killed, true);
  assert.equal(posted.length, n);
});

test('forkCliRunner on real children: JSON lines in order, a crash with stderr is its last line, a missing script is one line', async () => {
  const dir = tempDir('merge-runner-');
  const ok = join(dir, 'ok.mjs');
  writeFileSync(ok, `console.log('not json'); console.log(JSON.stringify({event:'progress',done:1,total:2})); console.log(JSON.stringify({event:'done',n:process.argv.slice(2)}));`);
  const crash = join(dir, 'crash.mjs');
  writeFileSync(crash, `process.stderr.write('loading\\nRangeError: Array buffer allocation failed\\n'); process.exit(3);`);
  const logs: string[] = [];
  const progress: CliEvent[] = [];
  const res = await callCli(forkCliRunner(ok, { onLog: (l) => logs.push(l) }), ['merge', '--weights=-1'], (e) => progress.push(e)).result;
  assert.deepEqual(res, { event: 'done', n: ['merge', '--weights=-1'] });
  assert.deepEqual(progress, [{ event: 'progress', done: 1, total: 2 }]);
  assert.deepEqual(logs, ['not json']);
  await assert.rejects(callCli(forkCliRunner(crash), []).result, (e: Error) => e.message === 'RangeError: Array buffer allocation failed');
  await assert.rejects(callCli(forkCliRunner(join(dir, 'missing.mjs')), []).result, (e: Error) => /Cannot find module|exited with code 1/.test(e.message) && !e.message.includes('\n'));
});

test('scanMergedAdapters: folders with merge.json under .loralab/merged, sorted; hidden partial folders and folders without a recipe skipped; a broken config is a problem line', async () => {
  const ws = tempDir('merge-scan-');
  const root = join(ws, '.loralab', 'merged');
  const make = (name: string, config: string | null, recipe = true) => {
    mkdirSync(join(root, name), { recursive: true });
    if (config !== null) writeFileSync(join(root, name, 'adapter_config.json'), config);
    if (recipe) writeFileSync(join(root, name, 'merge.json'), '{"method": "linear"}');
  };
  make('zeta', JSON.stringify({ peft_type: 'LORA', r: 8, lora_alpha: 8, target_modules: ['q_proj'], base_model_name_or_path: '/models/stories260K' }));
  make('alpha', JSON.stringify({ peft_type: 'LORA', r: 4, lora_alpha: 4, target_modules: ['q_proj'] }));
  make('.zeta.partial-123', JSON.stringify({ peft_type: 'LORA', r: 8, lora_alpha: 8, target_modules: ['q_proj'] }));
  make('no-recipe', JSON.stringify({ peft_type: 'LORA', r: 8, lora_alpha: 8, target_modules: ['q_proj'] }), false);
  make('broken', '{"peft_type": "LORA", "r": ');
  const got = await scanMergedAdapters([root, join(ws, 'missing')]);
  assert.deepEqual(got.map((a) => [a.path, a.kind, a.r, a.lora_alpha, a.base_model]), [
    [join(root, 'alpha'), 'merged', 4, 4, null],
    [join(root, 'broken'), 'merged', null, null, null],
    [join(root, 'zeta'), 'merged', 8, 8, '/models/stories260K'],
  ]);
  assert.match(got[1].problem!, /adapter_config\.json is not valid JSON/);
  assert.equal(got[0].problem, null);
});

const ADAPTER: AdapterEntry = { kind: 'final', path: '/ws/.loralab/runs/r1/adapter', run: { id: 'r1', name: 'r1', run_dir: '/ws/.loralab/runs/r1', status: 'completed' }, step: 40, val_loss: null, val_step: null, base_model: '/models/tiny', r: 4, lora_alpha: 8, problem: null };

function intoBaseUi(out: string | undefined, opts: { cancelAfterFirst?: boolean } = {}) {
  const reports: [string, number][] = [];
  const infos: string[] = [];
  let stop: (() => void) | undefined;
  let asked: string | undefined;
  const ui: IntoBaseUi = {
    pickAdapter: async () => ADAPTER,
    resolveModel: async () => '/models/tiny',
    askFolder: async (suggested) => {
      asked = suggested;
      return out;
    },
    progress: (_title, task) =>
      task(
        (message, increment) => {
          reports.push([message, increment]);
          if (opts.cancelAfterFirst) stop?.();
        },
        (s) => (stop = s),
      ),
    info: async (m) => {
      infos.push(m);
      return undefined;
    },
    reveal: () => undefined,
  };
  return { ui, reports, infos, asked: () => asked };
}

test('Merge Into Base: runs merge-into-base --json, progress from its events (increments sum to 100 %), the result reported', async () => {
  const ws = tempDir('into-base-');
  const out = join(ws, 'merged-model');
  const fake = fakeRunner();
  const u = intoBaseUi(out);
  const running = mergeIntoBaseModel(ADAPTER, { ui: u.ui, runner: fake.runner, workspaceFolder: ws, log: () => undefined });
  await tick();
  const c = fake.children[0];
  assert.equal(u.asked(), join(ws, '.loralab', 'models', 'tiny+r1-final'));
  assert.deepEqual(c.args, ['merge-into-base', '--model', '/models/tiny', '--adapter', ADAPTER.path, '--out', out, '--json']);
  for (const d of [1, 5, 10]) c.emit({ event: 'progress', done: d, total: 10 });
  c.emit({ event: 'done', model_dir: out, shards: ['model.safetensors'], tensors: 10, merged: 7, copied: ['config.json'] });
  c.exit(0);
  const res = await running;
  assert.deepEqual(res, { out, tensors: 10, merged: 7, shards: ['model.safetensors'] });
  assert.deepEqual(u.reports.map((r) => r[0]), ['1/10 tensors', '5/10 tensors', '10/10 tensors']);
  assert.equal(u.reports.reduce((a, r) => a + r[1], 0), 100);
  assert.match(u.infos[0], /^Wrote .*merged-model: 10 tensors in 1 shard\(s\), 7 adapted weights folded/);
});

test('Merge Into Base: Cancel kills the child and removes its partial folder; a CLI error is thrown as its one line; a dismissed question does nothing', async () => {
  const ws = tempDir('into-base-');
  const out = join(ws, 'merged-model');
  const fake = fakeRunner();
  const u = intoBaseUi(out, { cancelAfterFirst: true });
  const running = mergeIntoBaseModel(ADAPTER, { ui: u.ui, runner: fake.runner, workspaceFolder: ws, log: () => undefined });
  await tick();
  const c = fake.children[0];
  const partial = partialFolderPath(out, c.pid);
  mkdirSync(partial, { recursive: true });
  writeFileSync(join(partial, 'model.safetensors'), 'half');
  c.emit({ event: 'progress', done: 1, total: 10 });
  assert.equal(await running, 'cancelled');
  assert.equal(c.killed, true);
  assert.equal(existsSync(partial), false);
  assert.equal(existsSync(out), false);
  assert.match(u.infos[0], /stopped; merged-model was not written/);

  const failing = mergeIntoBaseModel(ADAPTER, { ui: intoBaseUi(out).ui, runner: fake.runner, workspaceFolder: ws, log: () => undefined });
  await tick();
  fake.children[1].emit({ event: 'error', message: '/models/tiny: "model.layers.0.self_attn.q_proj.weight" is int8, not a float weight (a quantized model?); merge into an unquantized checkpoint', exit_code: 2 });
  fake.children[1].exit(2);
  await assert.rejects(failing, (e: Error) => /is int8, not a float weight/.test(e.message));

  assert.equal(await mergeIntoBaseModel(ADAPTER, { ui: intoBaseUi(undefined).ui, runner: fake.runner, workspaceFolder: ws, log: () => undefined }), undefined);
  assert.equal(fake.children.length, 2);
  await assert.rejects(mergeIntoBaseModel({ ...ADAPTER, problem: '/x/adapter_config.json does not exist' }, { ui: intoBaseUi(out).ui, runner: fake.runner, workspaceFolder: ws, log: () => undefined }), /does not exist/);
});

test('session: after a merge with the default name the host sends the next free name, so a second default merge is not "already exists"', async () => {
  const ws = tempDir('merge-session-');
  const folder = join(ws, '.loralab', 'merged');
  mkdirSync(join(folder, 'merged-1'), { recursive: true }); // an earlier merge
  const { s, posted, fake } = session(folder);
  await s.receive({ v: 1, type: 'ready' });
  const defaultName = () => {
    const last = posted.filter((m) => m.type === 'init' || m.type === 'name').at(-1) as { name: string };
    return last.name;
  };
  assert.equal(defaultName(), 'merged-2');
  const req = { adapters: [{ path: A, weight: 1 }], method: 'linear' };
  for (const expected of ['merged-2', 'merged-3']) {
    const name = defaultName();
    assert.equal(name, expected);
    const run = s.receive({ v: 1, type: 'merge', name, request: req });
    await tick();
    const child = fake.children.at(-1)!;
    mkdirSync(join(folder, name)); // what the CLI writes
    child.emit(done({ ...PLAN, method: 'linear' }));
    child.exit(0);
    await run;
    assert.equal(posted.filter((m) => m.type === 'error').length, 0, `merging with the default ${name} succeeds`);
  }
  assert.equal(defaultName(), 'merged-4');
  // Someone took the default meanwhile (the CLI, another window): refused, with a fresh default.
  mkdirSync(join(folder, 'merged-4'));
  mkdirSync(join(folder, 'merged-5'));
  await s.receive({ v: 1, type: 'merge', name: 'merged-4', request: req });
  assert.match((posted.at(-1) as { message: string }).message, /merged-4 already exists/);
  assert.equal(defaultName(), 'merged-6');
});

test('session: the page is idle again (busy: null) as soon as the merge is written, while the merged hook still waits (its notification waits for the user)', async () => {
  const ws = tempDir('merge-session-');
  const folder = join(ws, '.loralab', 'merged');
  const posted: HostToMerge[] = [];
  const fake = fakeRunner();
  const hook: string[] = [];
  const s = new MergeSession([], {
    post: (m) => posted.push(m),
    runner: fake.runner,
    pickAdapters: async () => undefined,
    folder,
    merged: (dir) => {
      hook.push(dir);
      return new Promise<void>(() => undefined); // the user never answers the notification
    },
    log: () => undefined,
  });
  const req = { adapters: [{ path: A, weight: 1 }, { path: B, weight: 1 }], method: 'linear' };
  void s.receive({ v: 1, type: 'merge', name: 'first', request: req });
  await tick();
  fake.children[0].emit(done({ ...PLAN, method: 'linear' }));
  fake.children[0].exit(0);
  for (let i = 0; i < 5; i++) await tick();
  assert.deepEqual(posted.slice(-3).map((m) => m.type === 'busy' ? `busy:${m.what}` : m.type), ['merged', 'name', 'busy:null']);
  assert.deepEqual(hook, [join(folder, 'first')], 'the hook ran after the page went idle');
  // A second merge is not refused as "already running".
  void s.receive({ v: 1, type: 'merge', name: 'second', request: req });
  await tick();
  assert.equal(fake.children.length, 2, 'the second merge started its CLI');
  assert.deepEqual(posted.at(-1), { v: 1, type: 'busy', what: 'merge' });
});
