// Run folders: createRun / openRun / read / update / log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { RunError, createRun, openRun, runTimestamp, sanitizeRunName } from '../../src/runs/index';
import { sampleInit, tempDir } from './helpers';

test('createRun writes run.json with defaults; read and update round-trip', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const now = new Date(2026, 10, 29, 14, 3, 7); // local time
  const h = await createRun(join(dir, 'nested', 'runs'), 'shakespeare-r16', sampleInit(), { now });
  assert.equal(h.id, 'shakespeare-r16-20261129-140307');
  assert.equal(basename(h.dir), h.id);
  assert.equal(h.checkpointsDir, join(h.dir, 'checkpoints'));
  assert.equal(h.adapterDir, join(h.dir, 'adapter'));

  const onDisk = JSON.parse(await readFile(join(h.dir, 'run.json'), 'utf8'));
  assert.equal(onDisk.id, h.id);
  assert.equal(onDisk.name, 'shakespeare-r16');
  assert.equal(onDisk.status, 'running');
  assert.equal(onDisk.pid, process.pid);
  assert.equal(onDisk.hostname, hostname());
  assert.equal(onDisk.step, 0);
  assert.equal(onDisk.max_steps, 500);
  assert.equal(onDisk.error, null);
  assert.equal(onDisk.finished_at, null);
  assert.equal(onDisk.created_at, now.toISOString());
  assert.deepEqual(onDisk.config, { lora: { r: 16, lora_alpha: 32 }, training: { max_steps: 500, learning_rate: 2e-4 } });
  assert.deepEqual(onDisk.model, { path: '/models/stories260K', sha256: 'ab'.repeat(32) });
  assert.deepEqual(await h.read(), onDisk);

  const before = onDisk.updated_at;
  await new Promise((r) => setTimeout(r, 5));
  const upd = await h.update({ step: 120, provider: 'webgpu' });
  assert.equal(upd.step, 120);
  assert.equal(upd.provider, 'webgpu');
  assert.equal(upd.status, 'running');
  assert.equal(upd.finished_at, null);
  assert.ok(upd.updated_at > before, `${upd.updated_at} > ${before}`);
  assert.equal(upd.created_at, onDisk.created_at);
  assert.deepEqual(await h.read(), upd);

  const fail = await h.update({ status: 'failed', error: 'loss is NaN at step 121' });
  assert.equal(fail.status, 'failed');
  assert.equal(fail.error, 'loss is NaN at step 121');
  assert.ok(fail.finished_at && !Number.isNaN(Date.parse(fail.finished_at)));
  // no temp files left beside run.json
  assert.deepEqual((await readdir(h.dir)).sort(), ['run.json']);

  // resume: back to running clears finished_at; id/created_at cannot be patched
  const resumed = await h.update({ status: 'running', error: null, resumed_from_step: 100, ...({ id: 'x', created_at: 'y' } as object) });
  assert.equal(resumed.finished_at, null);
  assert.equal(resumed.resumed_from_step, 100);
  assert.equal(resumed.id, h.id);
  assert.equal(resumed.created_at, onDisk.created_at);
});

test('concurrent updates from one process are all applied, in order', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const h = await createRun(dir, 'c', sampleInit());
  await Promise.all(Array.from({ length: 20 }, (_, i) => h.update({ step: i + 1, ...(i === 7 ? { provider: 'cuda' } : {}) })));
  const r = await h.read();
  assert.equal(r.step, 20);
  assert.equal(r.provider, 'cuda');
});

test('name collision in the same second gets -2, -3; names are sanitised for the folder', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const now = new Date(2026, 0, 2, 3, 4, 5);
  const a = await createRun(dir, 'exp', sampleInit(), { now });
  const b = await createRun(dir, 'exp', sampleInit(), { now });
  const [c, d] = await Promise.all([createRun(dir, 'exp', sampleInit(), { now }), createRun(dir, 'exp', sampleInit(), { now })]);
  assert.equal(a.id, 'exp-20260102-030405');
  assert.equal(b.id, 'exp-20260102-030405-2');
  assert.deepEqual([c.id, d.id].sort(), ['exp-20260102-030405-3', 'exp-20260102-030405-4']);
  assert.equal((await b.read()).id, b.id);
  assert.equal((await b.read()).name, 'exp');

  const odd = await createRun(dir, ' my run/r=16: α ', sampleInit(), { now });
  assert.equal(odd.id, 'my-run-r-16-α-20260102-030405');
  assert.equal((await odd.read()).name, ' my run/r=16: α ');
  assert.equal(sanitizeRunName('../..'), 'run');
  assert.equal(runTimestamp(new Date(2026, 11, 31, 23, 59, 58)), '20261231-235958');
});

test('openRun reopens a run; non-run folders give a RunError naming the folder', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const h = await createRun(dir, 'resume-me', sampleInit());
  await h.update({ step: 42 });
  const again = await openRun(h.dir);
  assert.equal(again.id, h.id);
  assert.equal(again.dir, h.dir);
  assert.equal((await again.read()).step, 42);

  const empty = join(dir, 'not-a-run');
  await mkdir(empty);
  await assert.rejects(openRun(empty), (e: unknown) => e instanceof RunError && e.message.includes(empty) && /no run\.json/.test(e.message));
  await assert.rejects(openRun(join(dir, 'missing')), (e: unknown) => e instanceof RunError && e.message.includes(join(dir, 'missing')) && /no such run folder/.test(e.message));
  const broken = join(dir, 'broken');
  await mkdir(broken);
  await writeFile(join(broken, 'run.json'), '{\n  "id": "broken",\n  "status": "runn'); // torn by hand
  await assert.rejects(openRun(broken), (e: unknown) => e instanceof RunError && e.message.includes(join(broken, 'run.json')) && /line 3 column \d+: .*damaged/.test(e.message));
  const wrong = join(dir, 'wrong');
  await mkdir(wrong);
  await writeFile(join(wrong, 'run.json'), JSON.stringify({ ...(await h.read()), status: 'crashed' }));
  await assert.rejects(openRun(wrong), (e: unknown) => e instanceof RunError && /"status" is "crashed", expected running \| completed \| failed \| stopped/.test(e.message));
});

test('log appends timestamped lines to log.txt', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const h = await createRun(dir, 'log', sampleInit());
  await h.log('started on cpu');
  await h.log('two\nlines');
  const lines = (await readFile(join(h.dir, 'log.txt'), 'utf8')).split('\n');
  assert.equal(lines.length, 4);
  assert.equal(lines[3], '');
  assert.match(lines[0], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z started on cpu$/);
  assert.match(lines[1], /Z two$/);
  assert.match(lines[2], /Z lines$/);
});
