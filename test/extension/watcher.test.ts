// Following runs dirs on disk: new runs, appended metrics (torn lines ignored), checkpoints,
// status changes (including a process that dies without touching a file), removals, polling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type RunsChange, RunsIndex, RunsWatcher } from '../../src/extension/runs/watcher';
import { deadPid, makeRun, sleep, tempDir } from './helpers';

const none = (runsDir: string): RunsChange => ({ runsDir, added: [], changed: [], removed: [], metrics: [] });

test('a missing runs dir has no runs; a new run appears with its summary and experiment file', async (t) => {
  const dir = await tempDir(t);
  const runsDir = join(dir, 'runs');
  const w = new RunsWatcher(runsDir);
  t.after(() => w.dispose());
  assert.deepEqual(await w.refresh(), none(runsDir));
  assert.equal(w.runs.length, 0);
  const run = await makeRun(runsDir, { name: 'exp', experimentFile: join(dir, 'exp.lora.json'), maxSteps: 120 });
  const change = await w.refresh();
  assert.deepEqual(change, { ...none(runsDir), added: [run.dir] });
  const [e] = w.runs;
  assert.equal(e.id, run.id);
  assert.equal(e.run_dir, run.dir);
  assert.equal(e.status, 'running');
  assert.equal(e.step, 0);
  assert.equal(e.max_steps, 120);
  assert.equal(e.train_loss, null);
  assert.equal(e.experiment_file, join(dir, 'exp.lora.json'));
  assert.deepEqual(e.checkpoints, []);
  assert.deepEqual(await w.refresh(), none(runsDir), 'nothing changed: no change reported');
});

test('metrics appended → change with the new step and loss; a torn last line is ignored until completed', async (t) => {
  const dir = await tempDir(t);
  const w = new RunsWatcher(dir);
  t.after(() => w.dispose());
  const run = await makeRun(dir);
  await w.refresh();
  await run.appendMetrics({ step: 1, time: 0.5, train_loss: 4.25 });
  assert.deepEqual(await w.refresh(), { ...none(dir), changed: [run.dir], metrics: [run.dir] });
  assert.equal(w.runs[0].step, 1);
  assert.equal(w.runs[0].train_loss, 4.25);
  // a writer killed mid-line
  await appendFile(join(run.dir, 'metrics.jsonl'), '{"step":2,"time":1.0,"train_lo');
  assert.deepEqual(await w.refresh(), none(dir));
  assert.equal(w.runs[0].step, 1);
  assert.equal(w.runs[0].train_loss, 4.25);
  // the line completes
  await appendFile(join(run.dir, 'metrics.jsonl'), 'ss":3.5}\n');
  assert.deepEqual(await w.refresh(), { ...none(dir), changed: [run.dir], metrics: [run.dir] });
  assert.equal(w.runs[0].train_loss, 3.5);
  // a corrupt complete line is skipped, the next row counts
  await appendFile(join(run.dir, 'metrics.jsonl'), 'garbage\n{"step":3,"time":1.5,"train_loss":3.25,"val_loss":3.75}\n');
  await w.refresh();
  assert.deepEqual([w.runs[0].step, w.runs[0].train_loss, w.runs[0].val_loss], [3, 3.25, 3.75]);
});

test('checkpoints and status changes in run.json are changes; finished runs are not re-read', async (t) => {
  const dir = await tempDir(t);
  const w = new RunsWatcher(dir);
  t.after(() => w.dispose());
  const run = await makeRun(dir);
  await w.refresh();
  await run.writeCheckpoint(2, async (tmp) => writeFile(join(tmp, 'adapter_model.safetensors'), 'x'));
  assert.deepEqual(await w.refresh(), { ...none(dir), changed: [run.dir] });
  assert.deepEqual(w.runs[0].checkpoints.map((c) => c.step), [2]);
  await run.update({ status: 'failed', error: 'loss is NaN at step 3', step: 2 });
  assert.deepEqual(await w.refresh(), { ...none(dir), changed: [run.dir] });
  assert.deepEqual([w.runs[0].status, w.runs[0].error, w.runs[0].step], ['failed', 'loss is NaN at step 3', 2]);
  assert.ok(w.runs[0].finished_at);
  const before = w.runs[0];
  await w.refresh();
  assert.equal(w.runs[0], before, 'unchanged files: the cached entry is kept, not read again');
});

test('a running run whose process dies reads crashed on the next scan, without any file change', async (t) => {
  const dir = await tempDir(t);
  const w = new RunsWatcher(dir);
  t.after(() => w.dispose());
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  t.after(() => void child.kill('SIGKILL'));
  const run = await makeRun(dir, { pid: child.pid });
  const dead = await makeRun(dir, { name: 'dead', pid: deadPid() });
  await w.refresh();
  assert.equal(w.runs.find((r) => r.run_dir === run.dir)!.status, 'running');
  assert.equal(w.runs.find((r) => r.run_dir === dead.dir)!.status, 'crashed');
  await new Promise((resolve) => child.on('exit', resolve).kill('SIGKILL'));
  assert.deepEqual(await w.refresh(), { ...none(dir), changed: [run.dir] });
  assert.equal(w.runs.find((r) => r.run_dir === run.dir)!.status, 'crashed');
});

test('removed run folders, damaged run.json and folders still being created', async (t) => {
  const dir = await tempDir(t);
  const w = new RunsWatcher(dir);
  t.after(() => w.dispose());
  const a = await makeRun(dir, { name: 'a' });
  const b = await makeRun(dir, { name: 'b' });
  await mkdir(join(dir, 'being-created'));
  await mkdir(join(dir, '.tmp-x'));
  await mkdir(join(dir, 'damaged'));
  await writeFile(join(dir, 'damaged', 'run.json'), '{"id": ');
  const first = await w.refresh();
  assert.deepEqual(first.added, [a.dir, b.dir].sort());
  assert.deepEqual(w.problems.map((p) => p.run_dir), [join(dir, 'damaged')]);
  await rm(a.dir, { recursive: true });
  assert.deepEqual(await w.refresh(), { ...none(dir), removed: [a.dir] });
  assert.deepEqual(w.runs.map((r) => r.run_dir), [b.dir]);
  await rm(join(dir, 'damaged'), { recursive: true });
  await w.refresh();
  assert.deepEqual(w.problems, []);
});

test('runs newest first; concurrent refresh calls share scans', async (t) => {
  const dir = await tempDir(t);
  const w = new RunsWatcher(dir);
  t.after(() => w.dispose());
  await makeRun(dir, { name: 'old', now: new Date('2026-01-01T00:00:00Z') });
  await makeRun(dir, { name: 'new', now: new Date('2026-02-01T00:00:00Z') });
  const changes = await Promise.all([w.refresh(), w.refresh(), w.refresh()]);
  assert.equal(changes[0].added.length, 2);
  assert.equal(changes[1], changes[2], 'calls made during a scan share one follow-up scan');
  assert.deepEqual(w.runs.map((r) => r.name), ['new', 'old']);
});

test('polling: start() reports a new run and appended metrics through onChange', async (t) => {
  const dir = await tempDir(t);
  const w = new RunsWatcher(dir, { activeIntervalMs: 30, idleIntervalMs: 30 });
  t.after(() => w.dispose());
  const seen: RunsChange[] = [];
  w.onChange((c) => seen.push(c));
  w.start();
  const run = await makeRun(dir);
  const until = async (pred: () => boolean) => {
    for (let i = 0; i < 200 && !pred(); i++) await sleep(10);
    assert.ok(pred(), JSON.stringify(seen));
  };
  await until(() => seen.some((c) => c.added.includes(run.dir)));
  await run.appendMetrics({ step: 1, time: 1, train_loss: 2 });
  await until(() => seen.some((c) => c.metrics.includes(run.dir)));
});

test('RunsIndex: runs of several dirs as one list; a dropped dir reports its runs removed', async (t) => {
  const dir = await tempDir(t);
  const [d1, d2] = [join(dir, 'a'), join(dir, 'b')];
  const r1 = await makeRun(d1, { name: 'one', now: new Date('2026-01-01T00:00:00Z') });
  const r2 = await makeRun(d2, { name: 'two', now: new Date('2026-01-02T00:00:00Z') });
  const index = new RunsIndex({ activeIntervalMs: 60_000, idleIntervalMs: 60_000 });
  t.after(() => index.dispose());
  const seen: RunsChange[] = [];
  index.onChange((c) => seen.push(c));
  index.setDirs([d1, d2]);
  await index.refresh();
  assert.deepEqual(index.runs().map((r) => r.name), ['two', 'one']);
  assert.equal(index.find(r1.dir)?.name, 'one');
  assert.equal(index.find(join(d2, 'nope')), undefined);
  index.setDirs([d1]);
  assert.deepEqual(index.dirs, [d1]);
  assert.deepEqual(index.runs().map((r) => r.name), ['one']);
  assert.ok(seen.some((c) => c.runsDir === d2 && c.removed.includes(r2.dir)));
  index.dispose();
  index.setDirs([d1, d2]); // e.g. a trainer's exit handled after deactivation
  assert.deepEqual(index.dirs, [], 'a disposed index starts no polling');
});
