// listRuns / effectiveStatus: crashed detection, problems, ordering.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RunError, createRun, effectiveStatus, isProcessAlive, listRuns } from '../../src/runs/index';
import { deadPid, sampleInit, tempDir } from './helpers';

test('a running run whose process has exited reads as crashed; a live or foreign-host one as running', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const pid = await deadPid();
  assert.equal(isProcessAlive(pid), false);
  assert.equal(isProcessAlive(process.pid), true);
  assert.equal(isProcessAlive(0), false);
  assert.equal(isProcessAlive(-1), false);

  const dead = await createRun(dir, 'dead', sampleInit({ pid }));
  const live = await createRun(dir, 'live', sampleInit());
  const foreign = await createRun(dir, 'foreign', sampleInit({ pid, hostname: 'some-other-host.invalid' }));
  const done = await createRun(dir, 'done', sampleInit({ pid }));
  await done.update({ status: 'completed', step: 500 });

  assert.equal((await dead.read()).status, 'running', 'crashed is never written');
  assert.equal(effectiveStatus(await dead.read()), 'crashed');
  assert.equal(effectiveStatus(await live.read()), 'running');
  assert.equal(effectiveStatus(await foreign.read()), 'running');
  assert.equal(effectiveStatus(await done.read()), 'completed');

  const list = await listRuns(dir);
  const byName = Object.fromEntries(list.map((r) => [r.name, r.status]));
  assert.deepEqual(byName, { dead: 'crashed', live: 'running', foreign: 'running', done: 'completed' });
  assert.deepEqual(list.problems, []);
});

test('listRuns: newest first, last losses from metrics, broken folders reported as problems', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const old = await createRun(dir, 'old', sampleInit(), { now: new Date(2026, 0, 1, 10, 0, 0) });
  const mid = await createRun(dir, 'mid', sampleInit(), { now: new Date(2026, 0, 1, 11, 0, 0) });
  const newest = await createRun(dir, 'new', sampleInit(), { now: new Date(2026, 0, 2, 9, 0, 0) });
  await old.appendMetrics({ step: 0, time: 0, val_loss: 5.5 });
  await old.appendMetrics({ step: 1, time: 1, train_loss: 5.25 });
  await old.appendMetrics({ step: 2, time: 2, train_loss: 5.0 });
  await old.update({ step: 1, status: 'stopped' });
  await mid.appendMetrics({ step: 0, time: 0, val_loss: 6 });
  await mid.appendMetrics({ step: 50, time: 9, train_loss: 4.5, val_loss: 4.625 });
  await mid.update({ status: 'failed', error: 'boom' });

  await mkdir(join(dir, 'empty-folder'));
  await mkdir(join(dir, 'broken'));
  await writeFile(join(dir, 'broken', 'run.json'), '{"id": "broken", "st');
  await mkdir(join(dir, '.hidden'));
  await writeFile(join(dir, 'stray.txt'), 'not a run');

  const list = await listRuns(dir);
  assert.deepEqual(
    list.map((r) => [r.id, r.status, r.step, r.train_loss, r.val_loss]),
    [
      [newest.id, 'running', 0, null, null],
      [mid.id, 'failed', 50, 4.5, 4.625],
      [old.id, 'stopped', 2, 5.0, 5.5],
    ],
  );
  assert.equal(list[0].run_dir, newest.dir);
  assert.equal(list[0].max_steps, 500);
  assert.equal(list[2].created_at, new Date(2026, 0, 1, 10, 0, 0).toISOString());
  assert.equal(list.problems.length, 2);
  assert.equal(list.problems[0].run_dir, join(dir, 'broken'));
  assert.match(list.problems[0].reason, /run\.json: line 1 column \d+: .*damaged/);
  assert.equal(list.problems[1].run_dir, join(dir, 'empty-folder'));
  assert.match(list.problems[1].reason, /no run\.json/);
  assert.ok(list.problems.every((p) => !p.reason.includes('\n')));
});

test('listRuns: a missing runs dir is an empty list; a file is a RunError', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const none = await listRuns(join(dir, 'does', 'not', 'exist'));
  assert.deepEqual([...none], []);
  assert.deepEqual(none.problems, []);
  await writeFile(join(dir, 'file'), 'x');
  await assert.rejects(listRuns(join(dir, 'file')), (e: unknown) => e instanceof RunError && /not a folder/.test(e.message));
});
