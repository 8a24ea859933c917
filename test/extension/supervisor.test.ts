// Trainer supervision with a fake child process: ready → start handshake, event forwarding,
// stop, death without `done` (run marked failed, last lines kept), several runs, stopAll.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { StartArgs, TrainerEvent, TrainerRequest } from '../../src/protocol/trainer';
import { type SupervisorEvent, type TrainerChild, Supervisor, markRunFailed, recordFailedStart } from '../../src/extension/training/supervisor';
import { listRuns } from '../../src/runs/index';
import { makeRun, tempDir } from './helpers';

/** A child process that records what it is sent and emits what the test tells it to. */
class FakeChild extends EventEmitter implements TrainerChild {
  static nextPid = 5000;
  readonly pid = FakeChild.nextPid++;
  connected = true;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly sent: TrainerRequest[] = [];
  /** Called for every message sent to the child (to script its answers). */
  onSend: (m: TrainerRequest) => void = () => undefined;

  send(m: TrainerRequest): boolean {
    this.sent.push(m);
    this.onSend(m);
    return true;
  }
  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    this.exit(null, signal);
    return true;
  }
  event(e: TrainerEvent): void {
    this.emit('message', e);
  }
  exit(code: number | null, signal: NodeJS.Signals | null = null): void {
    this.connected = false;
    this.stdout.end();
    this.stderr.end();
    this.emit('exit', code, signal);
  }
}

function setup(opts: { markFailed?: (dir: string, pid: number | null, msg: string) => Promise<void> } = {}) {
  const children: FakeChild[] = [];
  const failed: [string, number | null, string][] = [];
  const recorded: [StartArgs, string, string][] = [];
  const sup = new Supervisor({
    fork: () => {
      const c = new FakeChild();
      children.push(c);
      return c;
    },
    markFailed: opts.markFailed ?? (async (dir, pid, msg) => void failed.push([dir, pid, msg])),
    recordFailedStart: async (args, name, msg) => {
      recorded.push([args, name, msg]);
      return null;
    },
  });
  const events: SupervisorEvent[] = [];
  sup.onEvent((e) => events.push(e));
  return { sup, children, failed, events, recorded };
}

const ARGS: StartArgs = { experimentFile: '/ws/exp.lora.json', runsDir: '/ws/.loralab/runs' };
const run = (dir: string, max = 10): TrainerEvent => ({ v: 1, type: 'run', run_dir: dir, id: dir.split('/').pop()!, resumed_from_step: null, max_steps: max, provider: 'cpu' });
const metrics = (step: number, loss: number, time = step): TrainerEvent => ({ v: 1, type: 'metrics', row: { step, time, train_loss: loss } });

test('ready → start handshake: nothing is sent before ready, then start with the args', () => {
  const { sup, children, events } = setup();
  const job = sup.start(ARGS, 'exp');
  const [c] = children;
  assert.equal(job.phase, 'starting');
  assert.deepEqual(c.sent, []);
  assert.deepEqual(events.map((e) => e.type), ['started']);
  c.event({ v: 1, type: 'ready', pid: c.pid });
  assert.deepEqual(c.sent, [{ v: 1, type: 'start', args: ARGS }]);
  assert.deepEqual(sup.jobs(), [job]);
  // messages that are not protocol events are ignored
  c.emit('message', { type: 'metrics', row: { step: 1 } });
  c.emit('message', 'hello');
  assert.deepEqual(events.map((e) => e.type), ['started']);
});

test('run, metrics and checkpoint events are forwarded; the job tracks step, loss and recent rows; done completes it', async () => {
  const { sup, children, events, failed } = setup();
  const job = sup.start(ARGS, 'exp');
  const [c] = children;
  c.event({ v: 1, type: 'ready', pid: c.pid });
  c.event(run('/ws/.loralab/runs/exp-1', 120));
  assert.equal(job.phase, 'running');
  assert.equal(job.runDir, '/ws/.loralab/runs/exp-1');
  assert.equal(job.maxSteps, 120);
  assert.equal(sup.jobForRun('/ws/.loralab/runs/exp-1'), job);
  c.event(metrics(1, 4.5));
  c.event({ v: 1, type: 'metrics', row: { step: 2, time: 2, val_loss: 4.9 } });
  c.event({ v: 1, type: 'checkpoint', step: 2, dir: '/ws/.loralab/runs/exp-1/checkpoints/step-2' });
  assert.equal(job.step, 2);
  assert.equal(job.trainLoss, 4.5, 'a row without train_loss keeps the last one');
  assert.deepEqual(job.recent.map((r) => r.step), [1, 2]);
  c.stderr.write('step 2 loss 4.5\npartial');
  c.event({ v: 1, type: 'done', status: 'completed', run_dir: '/ws/.loralab/runs/exp-1', adapter_dir: '/ws/.loralab/runs/exp-1/adapter', step: 2 });
  c.exit(0);
  const outcome = await job.exited;
  assert.deepEqual(outcome, { status: 'completed', message: null, died: false, exitCode: 0, signal: null, lastLines: ['step 2 loss 4.5', 'partial'] });
  assert.deepEqual(events.map((e) => e.type), ['started', 'run', 'metrics', 'metrics', 'checkpoint', 'output', 'output', 'exited']);
  assert.deepEqual(events.filter((e) => e.type === 'output').map((e) => (e as { line: string }).line), ['step 2 loss 4.5', 'partial']);
  assert.equal(job.phase, 'exited');
  assert.deepEqual(sup.jobs(), []);
  assert.deepEqual(failed, [], 'a run that reported done is not touched');
});

test('a resume that re-logs earlier steps restarts the pace window', () => {
  const { sup, children } = setup();
  const job = sup.start({ resume: '/r/exp-1' }, 'exp');
  const [c] = children;
  assert.equal(sup.jobForRun('/r/exp-1'), job, 'known by its run folder before the run event');
  assert.throws(() => sup.start({ resume: '/r/exp-1' }, 'exp'), /already training/);
  c.event({ v: 1, type: 'ready', pid: c.pid });
  for (let s = 1; s <= 30; s++) c.event(metrics(s, 3));
  assert.equal(job.recent.length, 20);
  c.event(metrics(5, 3));
  assert.deepEqual(job.recent.map((r) => r.step), [5]);
});

test('stop: the child is sent stop, finishes with done stopped and exit 130', async () => {
  const { sup, children, events, failed } = setup();
  const job = sup.start(ARGS, 'exp');
  const [c] = children;
  c.event({ v: 1, type: 'ready', pid: c.pid });
  c.event(run('/r/exp-1'));
  c.event(metrics(3, 4));
  assert.equal(sup.stop(job.key), true);
  assert.equal(job.phase, 'stopping');
  assert.deepEqual(c.sent.at(-1), { v: 1, type: 'stop' });
  sup.stop(job.key); // a second request sends stop again but reports once
  assert.equal(events.filter((e) => e.type === 'stopping').length, 1);
  c.event({ v: 1, type: 'checkpoint', step: 4, dir: '/r/exp-1/checkpoints/step-4' });
  c.event({ v: 1, type: 'done', status: 'stopped', run_dir: '/r/exp-1', adapter_dir: null, step: 4 });
  c.exit(130);
  const o = await job.exited;
  assert.equal(o.status, 'stopped');
  assert.equal(o.died, false);
  assert.equal(job.step, 4);
  assert.deepEqual(failed, []);
  assert.equal(sup.stop(job.key), false, 'an exited job cannot be stopped');
});

test('stop before ready: no start is sent, the child is told to stop; exit 130 reads stopped', async () => {
  const { sup, children } = setup();
  const job = sup.start(ARGS, 'exp');
  const [c] = children;
  sup.stop(job.key);
  c.event({ v: 1, type: 'ready', pid: c.pid });
  assert.ok(c.sent.every((m) => m.type === 'stop'), JSON.stringify(c.sent));
  c.exit(130);
  const o = await job.exited;
  assert.equal(o.status, 'stopped');
  assert.equal(o.died, false);
});

test('stop while loading: the error event with exit code 130 reads stopped, not failed', async () => {
  const { sup, children, failed } = setup();
  const job = sup.start(ARGS, 'exp');
  const [c] = children;
  c.event({ v: 1, type: 'ready', pid: c.pid });
  sup.stop(job.key);
  c.event({ v: 1, type: 'error', message: 'stopped before training started (nothing to checkpoint)', exit_code: 130 });
  c.exit(130);
  const o = await job.exited;
  assert.equal(o.status, 'stopped');
  assert.deepEqual(failed, []);
});

test('an invalid experiment: error event, exit 2 → failed with its message, not died', async () => {
  const { sup, children, failed } = setup();
  const job = sup.start(ARGS, 'exp');
  const [c] = children;
  c.event({ v: 1, type: 'ready', pid: c.pid });
  c.event({ v: 1, type: 'error', message: 'exp.lora.json:9: /training/learning_rate: must be > 0', exit_code: 2 });
  c.exit(2);
  const o = await job.exited;
  assert.equal(o.status, 'failed');
  assert.equal(o.died, false);
  assert.equal(o.message, 'exp.lora.json:9: /training/learning_rate: must be > 0');
  assert.deepEqual(failed, [], 'no run folder yet: nothing to mark');
});

test('a start that fails before its run folder exists is recorded as a failed run with its error (issue 14)', async (t) => {
  const { sup, children, recorded } = setup();
  const job = sup.start(ARGS, 'exp');
  const [c] = children;
  c.event({ v: 1, type: 'ready', pid: c.pid });
  c.event({ v: 1, type: 'error', message: 'train.jsonl:7: invalid JSON (column 42: Unexpected token)', exit_code: 2 });
  c.exit(2);
  await job.exited;
  assert.deepEqual(recorded, [[ARGS, 'exp', 'train.jsonl:7: invalid JSON (column 42: Unexpected token)']]);
  // Stopped while loading, or a resume: nothing is recorded.
  const stopped = sup.start(ARGS, 'exp');
  sup.stop(stopped.key);
  children[1].event({ v: 1, type: 'error', message: 'stopped', exit_code: 130 });
  children[1].exit(130);
  await stopped.exited;
  const resumed = sup.start({ resume: '/r/exp-1' }, 'exp');
  children[2].exit(1);
  await resumed.exited;
  assert.equal(recorded.length, 1);

  // The default recorder writes a run folder the runs list reads as failed, with the error.
  const dir = await tempDir(t);
  const runDir = await recordFailedStart({ experimentFile: join(dir, 'exp.lora.json'), runsDir: dir }, 'exp', 'model folder not found');
  const [r] = await listRuns(dir);
  assert.equal(r.run_dir, runDir);
  assert.equal(r.status, 'failed');
  const json = JSON.parse(await readFile(join(runDir!, 'run.json'), 'utf8'));
  assert.equal(json.error, 'model folder not found');
  assert.equal(json.experiment_file, join(dir, 'exp.lora.json'));
  assert.equal(await recordFailedStart({ resume: runDir! }, 'exp', 'x'), null);
});

test('death without done: outcome failed + died with the last log lines; the run is marked failed', async () => {
  const { sup, children, failed, events } = setup();
  const job = sup.start(ARGS, 'exp');
  const [c] = children;
  c.event({ v: 1, type: 'ready', pid: c.pid });
  c.event(run('/r/exp-1'));
  c.event(metrics(1, 4));
  for (let i = 0; i < 30; i++) c.stderr.write(`line ${i}\n`);
  c.stdout.write('FATAL: out of memory\n');
  c.exit(null, 'SIGABRT');
  const o = await job.exited;
  assert.equal(o.status, 'failed');
  assert.equal(o.died, true);
  assert.equal(o.signal, 'SIGABRT');
  assert.match(o.message!, /killed by signal SIGABRT/);
  assert.equal(o.lastLines.length, 20);
  assert.ok(o.lastLines.includes('FATAL: out of memory'));
  assert.ok(o.lastLines.includes('line 29'));
  assert.ok(!o.lastLines.includes('line 0'));
  assert.equal(failed.length, 1);
  assert.equal(failed[0][0], '/r/exp-1');
  assert.equal(failed[0][1], c.pid);
  assert.match(failed[0][2], /SIGABRT/);
  const exited = events.at(-1)!;
  assert.equal(exited.type, 'exited');
});

test('death before the run folder exists: died, nothing to mark; non-zero exit code is named', async () => {
  const { sup, children, failed } = setup();
  const job = sup.start(ARGS, 'exp');
  children[0].exit(1);
  const o = await job.exited;
  assert.equal(o.died, true);
  assert.match(o.message!, /exited with code 1/);
  assert.deepEqual(failed, []);
});

test('a process that cannot be spawned (error event, no pid, no exit) is reported as died', async () => {
  const children: EventEmitter[] = [];
  const sup = new Supervisor({
    fork: () => {
      const c = new FakeChild();
      Object.defineProperty(c, 'pid', { value: undefined });
      children.push(c);
      return c;
    },
  });
  const job = sup.start(ARGS, 'exp');
  children[0].emit('error', new Error('spawn ENOENT'));
  const o = await job.exited;
  assert.equal(o.died, true);
  assert.match(o.message!, /could not be started \(spawn ENOENT\)/);
});

test('several runs at once: events and outcomes stay with their own job', async () => {
  const { sup, children } = setup();
  const a = sup.start(ARGS, 'a');
  const b = sup.start({ experimentFile: '/ws/b.lora.json', runsDir: '/ws/.loralab/runs' }, 'b');
  const [ca, cb] = children;
  assert.notEqual(a.key, b.key);
  cb.event({ v: 1, type: 'ready', pid: cb.pid });
  ca.event({ v: 1, type: 'ready', pid: ca.pid });
  assert.equal((cb.sent[0] as { args: StartArgs }).args.experimentFile, '/ws/b.lora.json');
  ca.event(run('/r/a'));
  cb.event(run('/r/b'));
  ca.event(metrics(5, 2.5));
  cb.event(metrics(7, 3.5));
  assert.deepEqual([a.step, a.trainLoss, b.step, b.trainLoss], [5, 2.5, 7, 3.5]);
  cb.exit(1);
  await b.exited;
  assert.deepEqual(sup.jobs(), [a]);
  ca.event({ v: 1, type: 'done', status: 'completed', run_dir: '/r/a', adapter_dir: '/r/a/adapter', step: 10 });
  ca.exit(0);
  assert.equal((await a.exited).status, 'completed');
  assert.equal(b.outcome!.died, true);
});

test('stopAll stops every child and waits for their exit, at most the timeout', async () => {
  const { sup, children } = setup();
  const jobs = [sup.start(ARGS, 'a'), sup.start(ARGS, 'b'), sup.start(ARGS, 'c')];
  children.forEach((c, i) => {
    c.event({ v: 1, type: 'ready', pid: c.pid });
    c.event(run(`/r/${i}`));
    // a and b stop after a short while; c never answers
    if (i < 2) {
      c.onSend = (m) => {
        if (m.type !== 'stop') return;
        setTimeout(() => {
          c.event({ v: 1, type: 'done', status: 'stopped', run_dir: `/r/${i}`, adapter_dir: null, step: 3 });
          c.exit(130);
        }, 20);
      };
    }
  });
  const t0 = Date.now();
  const left = await sup.stopAll(300);
  assert.ok(Date.now() - t0 >= 290, 'waited for the timeout');
  assert.deepEqual(left, [jobs[2]]);
  assert.ok(children.every((c) => c.sent.some((m) => m.type === 'stop')));
  assert.equal(jobs[0].outcome!.status, 'stopped');
  assert.equal(jobs[1].outcome!.status, 'stopped');
  children[2].exit(130);
  await jobs[2].exited;
  // all exit in time: stopAll returns as soon as they are gone
  const s2 = setup();
  const j = s2.sup.start(ARGS, 'x');
  s2.children[0].onSend = (m) => m.type === 'stop' && setTimeout(() => s2.children[0].exit(130), 10);
  const t1 = Date.now();
  assert.deepEqual(await s2.sup.stopAll(5000), []);
  assert.ok(Date.now() - t1 < 2000);
  assert.equal(j.outcome!.status, 'stopped');
});

test('a child that never says ready is killed after the timeout', async () => {
  const sup = new Supervisor({ fork: () => new FakeChild(), readyTimeoutMs: 50 });
  const job = sup.start(ARGS, 'exp');
  const o = await job.exited;
  assert.equal(o.died, true);
  assert.equal(o.signal, 'SIGKILL');
  assert.match(o.lastLines.join('\n'), /no "ready"/);
});

test('markRunFailed marks a run failed only while it is running under that pid', async (t) => {
  const dir = await tempDir(t);
  const a = await makeRun(join(dir, 'runs'), { name: 'a', pid: 4321 });
  await markRunFailed(a.dir, 1234, 'died');
  assert.equal((await a.read()).status, 'running', 'another process owns it');
  await markRunFailed(a.dir, 4321, 'the trainer process exited with code 1');
  const json = JSON.parse(await readFile(join(a.dir, 'run.json'), 'utf8'));
  assert.equal(json.status, 'failed');
  assert.equal(json.error, 'the trainer process exited with code 1');
  assert.ok(json.finished_at);
  const b = await makeRun(join(dir, 'runs'), { name: 'b', pid: 4321 });
  await b.update({ status: 'stopped' });
  await markRunFailed(b.dir, 4321, 'died');
  assert.equal((await b.read()).status, 'stopped', 'a finished run is left alone');
});
