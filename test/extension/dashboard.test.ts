// The host side of a run dashboard: ready → init from the run folder, then appended rows and
// status changes; reloads and resumes send the whole history again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DashboardPrefs, HostToDashboard } from '../../src/protocol/dashboard';
import { isHostToDashboard } from '../../src/protocol/dashboard';
import { DashboardSession } from '../../src/extension/dashboard/session';
import { dropOrphanedRows } from '../../src/runs/index';
import { flattenHyperparameters, resumeSteps } from '../../src/extension/dashboard/facts';
import { deadPid, makeRun, tempDir } from './helpers';

async function setup(t: Parameters<typeof tempDir>[0]) {
  const dir = await tempDir(t);
  const run = await makeRun(join(dir, 'runs'), { name: 'dash', maxSteps: 10 });
  const sent: HostToDashboard[] = [];
  const calls: string[] = [];
  /** What the host keeps for the workspace (workspaceState in the panel). */
  const store: { prefs: DashboardPrefs | null } = { prefs: null };
  const session = new DashboardSession(run.dir, {
    post: (m) => {
      assert.ok(isHostToDashboard(m), JSON.stringify(m));
      sent.push(m);
      return Promise.resolve(true);
    },
    stopRun: () => calls.push('stop'),
    revealRunFolder: () => calls.push('reveal'),
    adapterAction: (action, dir) => calls.push(`${action} ${dir}`),
    resumeRun: () => calls.push('resume'),
    prefs: () => store.prefs,
    savePrefs: (p) => void (store.prefs = p),
  });
  return { run, sent, calls, session, store };
}

const READY = { v: 1, type: 'ready' };

test('nothing is sent before ready; ready → init with the facts and every row', async (t) => {
  const { run, sent, session } = await setup(t);
  await run.appendMetrics({ step: 0, time: 0, val_loss: 5.07 });
  await run.appendMetrics({ step: 1, time: 0.4, train_loss: 4.9, lr: 0.001 });
  await session.update();
  await session.receive({ type: 'ready' }); // no version: dropped
  await session.receive({ v: 2, type: 'ready' });
  assert.deepEqual(sent, []);
  await session.receive(READY);
  assert.equal(sent.length, 1);
  const init = sent[0] as Extract<HostToDashboard, { type: 'init' }>;
  assert.equal(init.type, 'init');
  assert.deepEqual(init.rows, [{ step: 0, time: 0, val_loss: 5.07 }, { step: 1, time: 0.4, train_loss: 4.9, lr: 0.001 }]);
  assert.equal(init.run.id, run.id);
  assert.equal(init.run.run_dir, run.dir);
  assert.equal(init.run.status, 'running');
  assert.equal(init.run.step, 1);
  assert.equal(init.run.max_steps, 10);
  assert.equal(init.run.model, '/models/tiny');
  assert.equal(init.run.provider, 'cpu');
  assert.deepEqual(init.run.dataset, { train: '/d/train.txt', validation: 0.05 });
  assert.equal(init.run.hyperparameters['lora.r'], 8);
  assert.equal(init.run.hyperparameters['lora.target_modules'], 'q_proj, v_proj');
  assert.equal(init.run.hyperparameters['training.learning_rate'], 0.002);
  assert.equal(init.run.hyperparameters['data.max_seq_length'], 64);
  assert.equal(init.run.hyperparameters.device, 'cpu');
  assert.ok(!('data.train' in init.run.hyperparameters) && !('name' in init.run.hyperparameters));
});

test('then only the appended rows; a torn line waits for its newline; status changes once', async (t) => {
  const { run, sent, session } = await setup(t);
  await run.appendMetrics({ step: 1, time: 1, train_loss: 4 });
  await session.receive(READY);
  await session.update();
  assert.equal(sent.length, 1, 'nothing new');
  await run.appendMetrics({ step: 2, time: 2, train_loss: 3.9 });
  await run.appendMetrics({ step: 3, time: 3, train_loss: 3.8 });
  await session.update();
  assert.deepEqual(sent.at(-1), { v: 1, type: 'metrics', rows: [{ step: 2, time: 2, train_loss: 3.9 }, { step: 3, time: 3, train_loss: 3.8 }] });
  await appendFile(join(run.dir, 'metrics.jsonl'), '{"step":4,"time":4,');
  await session.update();
  assert.equal(sent.length, 2);
  await appendFile(join(run.dir, 'metrics.jsonl'), '"train_loss":3.7}\n');
  await session.update();
  assert.deepEqual(sent.at(-1), { v: 1, type: 'metrics', rows: [{ step: 4, time: 4, train_loss: 3.7 }] });
  await run.update({ status: 'completed', step: 4 });
  await session.update();
  const status = sent.at(-1) as Extract<HostToDashboard, { type: 'status' }>;
  assert.equal(status.type, 'status');
  assert.equal(status.status, 'completed');
  assert.equal(status.step, 4);
  assert.equal(status.error, null);
  assert.ok(status.finished_at);
  const n = sent.length;
  await session.update();
  assert.equal(sent.length, n, 'no repeated status');
});

test('a run whose process died reads crashed in init and status', async (t) => {
  const { run, sent, session } = await setup(t);
  await session.receive(READY);
  await run.update({ pid: deadPid() });
  await session.update();
  assert.deepEqual(sent.map((m) => m.type), ['init', 'status']);
  assert.equal((sent[1] as Extract<HostToDashboard, { type: 'status' }>).status, 'crashed');
  await session.receive(READY);
  assert.equal((sent[2] as Extract<HostToDashboard, { type: 'init' }>).run.status, 'crashed');
});

test('a resume re-logging earlier steps, or a second ready (page reloaded), sends init again', async (t) => {
  const { run, sent, session } = await setup(t);
  for (let s = 1; s <= 4; s++) await run.appendMetrics({ step: s, time: s, train_loss: 5 - s / 10 });
  await session.receive(READY);
  // resumed from the checkpoint at step 2: steps 3.. are logged again
  await run.appendMetrics({ step: 3, time: 3.1, train_loss: 4.65 });
  await session.update();
  const again = sent.at(-1) as Extract<HostToDashboard, { type: 'init' }>;
  assert.equal(again.type, 'init');
  assert.deepEqual(again.rows.map((r) => [r.step, r.train_loss]), [[1, 4.9], [2, 4.8], [3, 4.65]]);
  await run.appendMetrics({ step: 4, time: 4.1, train_loss: 4.6 });
  await session.update();
  assert.deepEqual(sent.at(-1), { v: 1, type: 'metrics', rows: [{ step: 4, time: 4.1, train_loss: 4.6 }] });
  await session.receive(READY);
  assert.equal(sent.at(-1)!.type, 'init');
  assert.equal((sent.at(-1) as Extract<HostToDashboard, { type: 'init' }>).rows.length, 4);
});

test('stopRun and revealRunFolder from the page reach the host', async (t) => {
  const { calls, session, sent } = await setup(t);
  await session.receive({ v: 1, type: 'stopRun' });
  await session.receive({ v: 1, type: 'revealRunFolder' });
  await session.receive({ v: 1, type: 'deleteEverything' });
  assert.deepEqual(calls, ['stop', 'reveal']);
  assert.deepEqual(sent, []);
});

test('summary-band buttons: adapter actions only once <run>/adapter exists, with its path; resume; init and status carry adapter_dir', async (t) => {
  const { run, calls, session, sent } = await setup(t);
  await session.receive(READY);
  assert.equal((sent.at(-1) as Extract<HostToDashboard, { type: 'init' }>).run.adapter_dir, null);
  await session.receive({ v: 1, type: 'activateAdapter' });
  assert.deepEqual(calls, [], 'no adapter folder yet: nothing to activate');
  await run.writeAdapter(async (tmp) => appendFile(join(tmp, 'adapter_config.json'), '{}'));
  await run.update({ status: 'completed' });
  await session.update();
  const status = sent.at(-1) as Extract<HostToDashboard, { type: 'status' }>;
  assert.equal(status.type, 'status');
  assert.equal(status.adapter_dir, join(run.dir, 'adapter'));
  for (const type of ['activateAdapter', 'openAdapterInPlayground', 'revealAdapter', 'resumeRun']) await session.receive({ v: 1, type });
  const adapter = join(run.dir, 'adapter');
  assert.deepEqual(calls, [`activateAdapter ${adapter}`, `openAdapterInPlayground ${adapter}`, `revealAdapter ${adapter}`, 'resume']);
});

test('dropOrphanedRows (the rule the session applies) keeps the history the current state descends from; hyperparameters flatten', () => {
  assert.deepEqual(dropOrphanedRows([1, 2, 3, 4, 3, 4, 5, 2, 3].map((step) => ({ step }))).map((r) => r.step), [1, 2, 3]);
  assert.deepEqual(flattenHyperparameters({ name: 'x', model: 'm', init_adapter: null, lora: { r: 4, target_modules: 'all-linear' }, data: { train: 't', validation: 'v', packing: true } }), {
    init_adapter: null,
    'lora.r': 4,
    'lora.target_modules': 'all-linear',
    'data.packing': true,
  });
  assert.deepEqual(flattenHyperparameters(null), {});
});

test('smoothing and log scale: the page reports them, the host keeps them for the workspace and sends them with every init', async (t) => {
  const { sent, session, store } = await setup(t);
  await session.receive(READY);
  assert.equal((sent[0] as Extract<HostToDashboard, { type: 'init' }>).prefs, null, 'nothing saved yet');
  await session.receive({ v: 1, type: 'prefs', prefs: { smoothing: 0.3, logY: true } });
  await session.receive({ v: 1, type: 'prefs', prefs: { smoothing: 7, logY: true } }); // out of range: dropped
  await session.receive({ v: 1, type: 'prefs', prefs: { smoothing: 0.2 } }); // incomplete: dropped
  assert.deepEqual(store.prefs, { smoothing: 0.3, logY: true });
  // Another dashboard of the workspace (or this one reopened) starts with them.
  const other = await setup(t);
  other.store.prefs = store.prefs;
  await other.session.receive(READY);
  assert.deepEqual((other.sent[0] as Extract<HostToDashboard, { type: 'init' }>).prefs, { smoothing: 0.3, logY: true });
});

test('resume markers: the steps of the log\'s "resuming from step N" lines and run.json, on the current history only', async (t) => {
  const log = (lines: string[]) => lines.map((l, i) => `2026-12-06T23:${String(10 + i).padStart(2, '0')}:00.000Z ${l}`).join('\n') + '\n';
  assert.deepEqual(resumeSteps({ resumed_from_step: null }, log(['starting: model /m on cpu; 4 LoRA modules']), ), []);
  // Stopped at 40, resumed; stopped at 90, resumed: two markers.
  const two = log(['starting: model /m', 'resuming from step 40: model /m on cpu', 'resuming from step 90: model /m on cpu']);
  assert.deepEqual(resumeSteps({ resumed_from_step: 90 }, two), [40, 90]);
  // Then resumed again from step 60 (--checkpoint step-60): the resume at 90 lies on a history the run left.
  assert.deepEqual(resumeSteps({ resumed_from_step: 60 }, two + log(['resuming from step 60: model /m on cpu'])), [40, 60]);
  // run.json already says so before the log line is written; a start over (0) marks nothing.
  assert.deepEqual(resumeSteps({ resumed_from_step: 40 }, log(['starting: model /m'])), [40]);
  assert.deepEqual(resumeSteps({ resumed_from_step: 0 }, ''), []);

  // The session reads them from the run folder: init and the status change of a resume carry them.
  const { run, sent, session } = await setup(t);
  for (let s = 1; s <= 4; s++) await run.appendMetrics({ step: s, time: s, train_loss: 5 - s / 10 });
  await run.log('starting: model /models/tiny on cpu');
  await run.update({ status: 'stopped' });
  await session.receive(READY);
  assert.deepEqual((sent[0] as Extract<HostToDashboard, { type: 'init' }>).run.resumes, []);
  await run.update({ status: 'running', resumed_from_step: 4 });
  await run.log('resuming from step 4: model /models/tiny on cpu; 2 LoRA modules');
  await run.appendMetrics({ step: 5, time: 5, train_loss: 4.5 });
  await session.update();
  const status = sent.find((m) => m.type === 'status') as Extract<HostToDashboard, { type: 'status' }>;
  assert.deepEqual(status.resumes, [4]);
  await session.receive(READY);
  assert.deepEqual((sent.at(-1) as Extract<HostToDashboard, { type: 'init' }>).run.resumes, [4]);
});
