// startIpcChild (src/child/ipc.ts), the bootstrap of the trainer and the inference worker, in a
// real forked process (test/child/fixture-child.ts) against Node's IPC semantics: the refusal
// from a terminal (exact line, exit code 2), requests filtered by the guard, every queued event
// delivered before exitAfterFlush exits, shutdown on channel close and on a listed signal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, fork, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../helpers/paths';

const FIXTURE = join(ROOT, 'test/child/fixture-child.ts');

interface Forked {
  child: ChildProcess;
  events: { type: string; [k: string]: unknown }[];
  stderr: () => string;
  exit: Promise<number | null>;
  next(type: string): Promise<void>;
}

function start(): Forked {
  const child = fork(FIXTURE, [], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], execArgv: ['--import', 'tsx'] });
  const events: Forked['events'] = [];
  let err = '';
  child.stderr!.on('data', (d) => (err += String(d)));
  const waiters: { type: string; resolve: () => void }[] = [];
  child.on('message', (m) => {
    events.push(m as Forked['events'][number]);
    for (const w of waiters.splice(0)) if (w.type === (m as { type: string }).type) w.resolve(); else waiters.push(w);
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child, events, exit, stderr: () => err,
    next: (type) => new Promise((resolve) => waiters.push({ type, resolve })),
  };
}

test('started without IPC: the one-line hint on stderr and exit code 2', () => {
  const res = spawnSync(process.execPath, ['--import', 'tsx', FIXTURE], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(res.status, 2);
  assert.equal(res.stderr, 'dist/fixture.js is started by the LoRA Lab extension over IPC; from a terminal use `loralab fixture`\n');
});

test('requests that fail the guard are dropped; valid ones reach the handler in order', async () => {
  const f = start();
  await f.next('ready');
  f.child.send({ type: 'nonsense' });
  f.child.send({ type: 'echo', text: 42 });
  f.child.send({ type: 'echo', text: 'a' });
  f.child.send({ type: 'echo', text: 'b' });
  while (f.events.filter((e) => e.type === 'echo').length < 2) await f.next('echo');
  assert.deepEqual(f.events.map((e) => (e.type === 'echo' ? e.text : e.type)), ['ready', 'a', 'b']);
  f.child.disconnect();
  assert.equal(await f.exit, 3);
});

test('exitAfterFlush: every event sent before it reaches the parent, then the exit code', async () => {
  const f = start();
  await f.next('ready');
  // 64 × 256 KiB: far more than a pipe buffer holds, so a plain process.exit would drop most.
  f.child.send({ type: 'burst', n: 64, bytes: 256 * 1024, code: 7 });
  assert.equal(await f.exit, 7);
  const chunks = f.events.filter((e) => e.type === 'chunk');
  assert.deepEqual(chunks.map((c) => c.i), Array.from({ length: 64 }, (_, i) => i));
  assert.ok(chunks.every((c) => (c.data as string).length === 256 * 1024));
});

test('shutdown: the parent closing the channel, or a listed signal, calls the shutdown handler', async () => {
  const a = start();
  await a.next('ready');
  a.child.disconnect();
  assert.equal(await a.exit, 3);
  assert.equal(a.stderr(), 'shutdown\n');

  const b = start();
  await b.next('ready');
  b.child.kill('SIGTERM');
  assert.equal(await b.exit, 3);
  assert.equal(b.stderr(), 'shutdown\n');
});
