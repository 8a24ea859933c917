// The host side of a run dashboard: ready → init from the run folder, then appended rows and
// status changes; reloads and resumes send the whole history again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostToDashboard } from '../../src/protocol/dashboard';
import { isHostToDashboard } from '../../src/protocol/dashboard';
import { DashboardSession, dropRewoundRows } from '../../src/extension/dashboard/session';
import { flattenHyperparameters } from '../../src/extension/dashboard/facts';
import { deadPid, makeRun, tempDir } from './helpers';

async function setup(t: Parameters<typeof tempDir>[0]) {
  const dir = await tempDir(t);
  const run = await makeRun(join(dir, 'runs'), { name: 'dash', maxSteps: 10 });
  const sent: HostToDashboard[] = [];
  const calls: string[] = [];
  const session = new DashboardSession(run.dir, {
    post: (m) => {
      assert.ok(isHostToDashboard(m), JSON.stringify(m));
      sent.push(m);
      return Promise.resolve(true);
    },
    stopRun: () => calls.push('stop'),
    revealRunFolder: () => calls.push('reveal'),
  });
  return { run, sent, calls, session };
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

test('dropRewoundRows keeps the history the current state descends from; hyperparameters flatten', () => {
  assert.deepEqual(dropRewoundRows([1, 2, 3, 4, 3, 4, 5, 2, 3].map((step) => ({ step }))).map((r) => r.step), [1, 2, 3]);
  assert.deepEqual(flattenHyperparameters({ name: 'x', model: 'm', init_adapter: null, lora: { r: 4, target_modules: 'all-linear' }, data: { train: 't', validation: 'v', packing: true } }), {
    init_adapter: null,
    'lora.r': 4,
    'lora.target_modules': 'all-linear',
    'data.packing': true,
  });
  assert.deepEqual(flattenHyperparameters(null), {});
});
