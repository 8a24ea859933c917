// The inference client (src/extension/worker/client.ts). With a scripted fake child: lazy fork
// and the ready handshake, load only when the model changes, requests in call order, a crash
// rejecting what is pending with its last output, a restart that loads the model again, idle
// shutdown, cancel before sending, dispose. With the real worker process: SIGKILL mid-request,
// then the next request restarts it and reproduces the golden greedy continuation; idle shutdown
// and restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, fork } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkerEvent, WorkerRequest } from '../../src/protocol/worker';
import { type WorkerChild, WorkerClient, lastOutput } from '../../src/extension/worker/client';
import type { WorkerState } from '../../src/extension/worker/api';
import { LOGITS_GOLDEN, MODEL, forkWorker } from '../worker/helpers';

/** A worker child that records what it is sent; `answer` scripts replies. */
class FakeChild extends EventEmitter implements WorkerChild {
  static nextPid = 7000;
  readonly pid = FakeChild.nextPid++;
  connected = true;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly sent: WorkerRequest[] = [];
  readonly killed: (NodeJS.Signals | undefined)[] = [];
  /** Reply to a request (default: a plausible answer); return null to stay silent. */
  answer: (m: WorkerRequest) => WorkerEvent | null = defaultAnswer;

  send(m: WorkerRequest): boolean {
    this.sent.push(m);
    if (m.type === 'shutdown') {
      setImmediate(() => this.exit(0));
      return true;
    }
    const reply = this.answer(m);
    if (reply) setImmediate(() => this.emit('message', reply));
    return true;
  }
  kill(signal?: NodeJS.Signals): boolean {
    this.killed.push(signal);
    setImmediate(() => this.exit(null, signal ?? 'SIGTERM'));
    return true;
  }
  event(e: WorkerEvent): void {
    this.emit('message', e);
  }
  ready(): void {
    this.event({ v: 1, type: 'ready', pid: this.pid });
  }
  exit(code: number | null, signal: NodeJS.Signals | null = null): void {
    if (!this.connected) return;
    this.connected = false;
    this.stdout.end();
    this.stderr.end();
    this.emit('exit', code, signal);
  }
  types(): string[] {
    return this.sent.map((m) => m.type);
  }
}

function defaultAnswer(m: WorkerRequest): WorkerEvent | null {
  switch (m.type) {
    case 'load': return { v: 1, type: 'loaded', id: m.id, model: m.model, model_type: 'llama', provider: 'cpu', max_positions: 512, has_chat_template: false, max_new_tokens: 64 };
    case 'activate': return { v: 1, type: 'activated', id: m.id, adapter: null };
    case 'score': return { v: 1, type: 'scored', id: m.id, token_ids: [1, 5], tokens: ['<s>', 'a'], nll: [0.5], mean_nll: 0.5 };
    case 'generate': return { v: 1, type: 'generated', id: m.id, results: m.variants.map((adapter) => ({ adapter, ids: [7], text: 'x', finish_reason: 'length' })) };
    default: return null;
  }
}

function setup(opts: { idleTimeoutMs?: number; autoReady?: boolean } = {}) {
  const children: FakeChild[] = [];
  const logs: string[] = [];
  const client = new WorkerClient({
    fork: () => {
      const c = new FakeChild();
      children.push(c);
      if (opts.autoReady !== false) setImmediate(() => c.ready());
      return c;
    },
    idleTimeoutMs: opts.idleTimeoutMs ?? 0,
    shutdownTimeoutMs: 50,
    onLog: (l) => logs.push(l),
  });
  const states: WorkerState[] = [];
  client.onDidChangeState((s) => states.push(s));
  return { client, children, states, logs };
}

test('forks lazily, waits for ready, loads the model once, then sends requests in call order', async () => {
  const { client, children, states } = setup({ autoReady: false });
  assert.equal(client.state, 'stopped');
  assert.equal(children.length, 0, 'nothing is forked before the first request');
  const a = client.score('/m', null, 'hello');
  const b = client.activate('/m', '/ad');
  const g = client.generate({ model: '/m', variants: [null, '/ad'], prompt: 'p', params: { max_new_tokens: 3 } }, () => undefined);
  await sleep(5);
  assert.equal(children.length, 1);
  assert.equal(client.state, 'starting');
  assert.deepEqual(children[0].sent, [], 'nothing is sent before ready');
  children[0].ready();
  assert.deepEqual((await a).mean_nll, 0.5);
  assert.equal(await b, null);
  assert.deepEqual((await g.done).map((r) => r.adapter), [null, '/ad']);
  assert.deepEqual(children[0].types(), ['load', 'score', 'activate', 'generate']);
  const gen = children[0].sent[3] as Extract<WorkerRequest, { type: 'generate' }>;
  assert.deepEqual({ ...gen, id: 0 }, { v: 1, type: 'generate', id: 0, variants: [null, '/ad'], prompt: 'p', params: { max_new_tokens: 3 } });
  assert.deepEqual(client.loadedModel, { model: '/m', model_type: 'llama', provider: 'cpu', max_positions: 512, has_chat_template: false, max_new_tokens: 64 });
  // another model: one more load, then the request
  await client.score('/other', null, 'x');
  assert.deepEqual(children[0].types().slice(4), ['load', 'score']);
  assert.deepEqual(states, ['starting', 'busy', 'idle', 'busy', 'idle']);
  client.dispose();
});

test('tokens stream to the callback per variant; an error event rejects with its one-line message', async () => {
  const { client, children } = setup();
  const got: [number, string][] = [];
  await client.load('/m');
  const c = children[0];
  // scripted streaming: a generate whose tokens arrive before its final event
  c.answer = () => null;
  const g2 = client.generate({ model: '/m', variants: [null, '/a'], prompt: 'p', params: {} }, (v, t) => got.push([v, t]));
  await sleep(5);
  const id = (c.sent.at(-1) as { id: number }).id;
  c.event({ v: 1, type: 'token', id, variant: 0, text: 'He' });
  c.event({ v: 1, type: 'token', id, variant: 0, text: 'llo' });
  c.event({ v: 1, type: 'token', id: id + 99, variant: 1, text: 'not ours' });
  c.event({ v: 1, type: 'token', id, variant: 1, text: 'Hi' });
  c.event({ v: 1, type: 'generated', id, results: [] });
  await g2.done;
  assert.deepEqual(got, [[0, 'He'], [0, 'llo'], [1, 'Hi']]);
  c.answer = (m) => (m.type === 'score' ? { v: 1, type: 'error', id: m.id, message: 'the text is empty: there is no token to score' } : defaultAnswer(m));
  await assert.rejects(client.score('/m', null, ''), { message: 'the text is empty: there is no token to score' });
  client.dispose();
});

test('a load that fails rejects the request with its message; the next request loads again', async () => {
  const { client, children } = setup();
  let fail = true;
  const failing = (m: WorkerRequest): WorkerEvent | null =>
    m.type === 'load' && fail ? { v: 1, type: 'error', id: m.id, message: '/m: model folder not found' } : defaultAnswer(m);
  await client.load('/warmup');
  children[0].answer = failing;
  await assert.rejects(client.score('/m', null, 'x'), { message: '/m: model folder not found' });
  fail = false;
  await client.score('/m', null, 'x');
  assert.deepEqual(children[0].types(), ['load', 'load', 'load', 'score']);
  client.dispose();
});

test('a crash rejects the pending and queued requests with one line and the last output; the next request restarts and reloads', async () => {
  const { client, children, states, logs } = setup();
  await client.load('/m');
  const c = children[0];
  c.answer = () => null; // the generate hangs
  const g = client.generate({ model: '/m', variants: [null], prompt: 'p', params: {} }, () => undefined);
  const queued = client.score('/m', null, 'x');
  await sleep(5);
  c.stderr.write('loading…\nFATAL: out of memory\n');
  await sleep(5);
  c.exit(null, 'SIGKILL');
  const msg = 'the inference worker stopped unexpectedly (signal SIGKILL); the next request restarts it (last output: loading… | FATAL: out of memory)';
  await assert.rejects(g.done, { message: msg });
  await assert.rejects(queued, { message: msg });
  assert.equal(client.state, 'crashed');
  assert.ok(logs.includes('FATAL: out of memory'), 'the output reaches the log');
  // next request: a new process, the model loaded again first
  assert.equal((await client.score('/m', null, 'x')).mean_nll, 0.5);
  assert.equal(children.length, 2);
  assert.deepEqual(children[1].types(), ['load', 'score']);
  assert.deepEqual(states, ['starting', 'busy', 'idle', 'busy', 'crashed', 'starting', 'busy', 'idle']);
  // an uncaught error reported by the worker (error with id null) is the detail of the message
  children[1].answer = () => null;
  const p = client.score('/m', null, 'y');
  await sleep(5);
  children[1].event({ v: 1, type: 'error', id: null, message: 'the inference worker failed: boom' });
  children[1].exit(1);
  await assert.rejects(p, { message: 'the inference worker stopped unexpectedly (exit code 1); the next request restarts it (last output: the inference worker failed: boom)' });
  client.dispose();
});

test('a worker that never says ready is killed; the request is rejected', async () => {
  const children: FakeChild[] = [];
  const client = new WorkerClient({ fork: () => (children.push(new FakeChild()), children.at(-1)!), readyTimeoutMs: 30, idleTimeoutMs: 0 });
  await assert.rejects(client.load('/m'), /stopped unexpectedly \(signal SIGKILL\).*no "ready" from the inference worker within 0 s/);
  assert.deepEqual(children[0].killed, ['SIGKILL']);
  assert.equal(client.state, 'crashed');
  client.dispose();
});

test('idle shutdown: after the idle time the worker gets shutdown (state stopped); the next request restarts it', async () => {
  const { client, children, states } = setup({ idleTimeoutMs: 30 });
  await client.load('/m');
  assert.equal(client.state, 'idle');
  await sleep(80);
  assert.equal(client.state, 'stopped');
  assert.equal(children[0].types().at(-1), 'shutdown');
  assert.equal(children[0].connected, false, 'it exited');
  // a request keeps it alive: the timer restarts after each request
  await client.score('/m', null, 'x');
  assert.equal(children.length, 2);
  assert.deepEqual(children[1].types(), ['load', 'score']);
  await sleep(10);
  await client.score('/m', null, 'x');
  await sleep(25);
  assert.equal(client.state, 'idle');
  assert.deepEqual(states, ['starting', 'busy', 'idle', 'stopped', 'starting', 'busy', 'idle', 'busy', 'idle']);
  client.dispose();
});

test('cancel: a queued generation is answered at once without being sent; a running one sends cancel', async () => {
  const { client, children } = setup();
  await client.load('/m');
  const c = children[0];
  c.answer = (m) => (m.type === 'score' ? null : defaultAnswer(m));
  const blocking = client.score('/m', null, 'x');
  const g = client.generate({ model: '/m', variants: [null, '/a'], prompt: 'p', params: {} }, () => undefined);
  await sleep(5);
  g.cancel();
  assert.deepEqual(await g.done, [
    { adapter: null, ids: [], text: '', finish_reason: 'cancelled' },
    { adapter: '/a', ids: [], text: '', finish_reason: 'cancelled' },
  ]);
  assert.ok(!c.types().includes('generate'));
  const scoreId = (c.sent.at(-1) as { id: number }).id;
  c.event({ v: 1, type: 'scored', id: scoreId, token_ids: [1, 2], tokens: ['a', 'b'], nll: [1], mean_nll: 1 });
  await blocking;
  c.answer = () => null;
  const running = client.generate({ model: '/m', variants: [null], prompt: 'p', params: {} }, () => undefined);
  await sleep(5);
  running.cancel();
  const gen = c.sent.at(-2) as { id: number; type: string };
  assert.equal(gen.type, 'generate');
  assert.deepEqual(c.sent.at(-1), { v: 1, type: 'cancel', id: gen.id });
  c.event({ v: 1, type: 'generated', id: gen.id, results: [{ adapter: null, ids: [3], text: 'a', finish_reason: 'cancelled' }] });
  assert.equal((await running.done)[0].finish_reason, 'cancelled');
  client.dispose();
});

test('dispose sends shutdown, kills a worker that does not exit, and rejects what is pending', async () => {
  const { client, children, states } = setup();
  await client.load('/m');
  const c = children[0];
  c.answer = () => null;
  c.send = function (m: WorkerRequest) {
    this.sent.push(m);
    return true; // ignores shutdown
  };
  const p = client.score('/m', null, 'x');
  await sleep(5);
  client.dispose();
  await assert.rejects(p, /the inference worker was shut down/);
  assert.equal(c.types().at(-1), 'shutdown');
  await sleep(80);
  assert.deepEqual(c.killed, ['SIGKILL']);
  assert.equal(states.at(-1), 'stopped');
  await assert.rejects(client.load('/m'), /shut down/);
  assert.equal(children.length, 1, 'no fork after dispose');
});

test('lastOutput quotes Node\'s error line without stack frames, else the last lines', () => {
  assert.equal(lastOutput(['node:internal/modules/cjs/loader:1228', '  throw err;', '', "Error: Cannot find module '/x/worker.js'", '    at Module._resolveFilename (node:internal/modules/cjs/loader:1225:15)', '  code: \'MODULE_NOT_FOUND\',', '}', '', 'Node.js v20.20.2']),
    "Error: Cannot find module '/x/worker.js'");
  assert.equal(lastOutput(['a', 'b', '', 'c', 'd']), 'b | c | d');
  assert.equal(lastOutput([]), '');
});

// --- the real worker ---------------------------------------------------------------------------

test('a worker file that does not exist: the request fails with Node\'s one error line, no stack', { timeout: 30_000 }, async () => {
  const client = new WorkerClient({ fork: () => fork(join(tmpdir(), 'no-such-worker.js'), [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], execArgv: [] }), idleTimeoutMs: 0 });
  try {
    await assert.rejects(client.load(MODEL), (e: Error) => {
      assert.match(e.message, /^the inference worker stopped unexpectedly \(exit code 1\); the next request restarts it \(last output: Error\b.*: Cannot find module '[^']*no-such-worker\.js'/);
      assert.doesNotMatch(e.message, /\n| at /);
      return true;
    });
    assert.equal(client.state, 'crashed');
  } finally {
    client.dispose();
  }
});

const greedy = { max_new_tokens: LOGITS_GOLDEN.greedy.new_token_ids.length, temperature: 0 };

test('the real worker killed mid-generation: rejected, crashed; the next request restarts it and generates the golden text', { timeout: 120_000 }, async () => {
  const children: ChildProcess[] = [];
  const client = new WorkerClient({ fork: () => (children.push(forkWorker()), children.at(-1)!), idleTimeoutMs: 0 });
  const states: WorkerState[] = [];
  client.onDidChangeState((s) => states.push(s));
  try {
    let killed = false;
    const g = client.generate({ model: MODEL, variants: [null], prompt: LOGITS_GOLDEN.prompt, params: { max_new_tokens: 490, temperature: 0 } }, () => {
      if (!killed) {
        killed = true;
        children[0].kill('SIGKILL');
      }
    });
    await assert.rejects(g.done, (e: Error) => {
      assert.match(e.message, /^the inference worker stopped unexpectedly \(signal SIGKILL\); the next request restarts it/);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    });
    assert.equal(client.state, 'crashed');
    let text = '';
    const again = client.generate({ model: MODEL, variants: [null], prompt: LOGITS_GOLDEN.prompt, params: greedy }, (_v, t) => (text += t));
    const [res] = await again.done;
    assert.deepEqual(res.ids, LOGITS_GOLDEN.greedy.new_token_ids);
    assert.equal(text, res.text);
    assert.equal(children.length, 2);
    assert.notEqual(children[1].pid, children[0].pid);
    assert.deepEqual(states, ['starting', 'busy', 'crashed', 'starting', 'busy', 'idle']);
  } finally {
    client.dispose();
  }
});

test('the real worker shuts down when idle (exit 0) and the next request restarts it', { timeout: 120_000 }, async () => {
  const children: ChildProcess[] = [];
  const client = new WorkerClient({ fork: () => (children.push(forkWorker()), children.at(-1)!), idleTimeoutMs: 150 });
  try {
    const loaded = await client.load(MODEL);
    assert.equal(loaded.model_type, 'llama');
    const exited = new Promise<number | null>((resolve) => children[0].on('exit', (code) => resolve(code)));
    assert.equal(await exited, 0);
    assert.equal(client.state, 'stopped');
    const score = await client.score(MODEL, null, LOGITS_GOLDEN.prompt);
    assert.deepEqual(score.token_ids, LOGITS_GOLDEN.token_ids);
    assert.equal(children.length, 2);
  } finally {
    client.dispose();
  }
});
