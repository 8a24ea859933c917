// Training as processes: `loralab train` stopped by SIGINT, killed by SIGKILL (also in the middle
// of checkpoint writes), resumed; the forked trainer process over IPC; a bad experiment file.
// Real model (stories260K) and real data (tinyshakespeare), CPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { type FSWatcher, watch } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type TrainerEvent, type TrainerRequest, isTrainerEvent } from '../../src/protocol/trainer';
import { CHECKPOINT_MARKER, latestCheckpoint, listCheckpoints, readMetrics } from '../../src/runs/index';
import { readCheckpoint } from '../../src/trainer/checkpoint';
import { runCli } from '../helpers/cli';
import { ROOT, SHARED } from '../helpers/paths';

/** stories260K: 5 layers × 7 linear layers, each with lora_A and lora_B. */
const LORA_MODULES = 35;
/** Waits are generous: a loaded 2-core machine may run several test files at once. */
const WAIT_MS = 150_000; // generous: CI shares 2 cores
const TEST_TIMEOUT = 420_000;

// --- fixtures --------------------------------------------------------------------------------

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'loralab-proc-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

interface ExperimentOpts {
  max_steps?: number;
  save_steps?: number;
  eval_steps?: number;
}

/** A small experiment in `dir`: the first 40,000 bytes of tinyshakespeare, 64-token sequences, batch 4. */
async function writeExperiment(dir: string, o: ExperimentOpts = {}, name = 'proc'): Promise<string> {
  const text = await readFile(join(SHARED, 'data/tinyshakespeare.txt'));
  await writeFile(join(dir, 'train.txt'), text.subarray(0, 40_000));
  await writeFile(join(dir, 'val.txt'), text.subarray(40_000, 44_000));
  const file = join(dir, `${name}.lora.json`);
  const exp = {
    name,
    model: join(SHARED, 'models/stories260K'),
    data: { train: 'train.txt', validation: 'val.txt', max_seq_length: 64 },
    lora: { r: 8, lora_alpha: 32, target_modules: 'all-linear' },
    training: {
      learning_rate: 2e-3, lr_scheduler_type: 'constant_with_warmup', warmup_steps: 5, max_steps: o.max_steps ?? 2000,
      per_device_train_batch_size: 4, eval_steps: o.eval_steps ?? 1000, save_steps: o.save_steps ?? 1000, logging_steps: 1, seed: 0,
    },
    device: 'cpu',
  };
  await writeFile(file, `${JSON.stringify(exp, null, 2)}\n`);
  return file;
}

// --- a child process whose events we can wait for ----------------------------------------------

type Json = Record<string, unknown> & { event?: string; type?: string; step?: number };

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

class Proc<E extends Json> {
  readonly events: E[] = [];
  stderr = '';
  readonly exited: Promise<Exit>;
  private exit: Exit | null = null;
  private waiters: { pred: (e: E) => boolean; resolve: (e: E) => void; reject: (err: Error) => void; what: string }[] = [];

  constructor(readonly child: ChildProcess) {
    child.stderr!.on('data', (d) => (this.stderr += d));
    // Not the child's 'close' event: Node never emits it once the parent has called
    // disconnect() on the IPC channel. Exit, then the end of both output streams.
    const ended = (s: NodeJS.ReadableStream) => new Promise<void>((resolve) => s.on('end', resolve).on('close', resolve));
    const streams = Promise.all([ended(child.stdout!), ended(child.stderr!)]);
    this.exited = new Promise<Exit>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code, signal) => resolve({ code, signal }));
    }).then(async (exit) => {
      await streams;
      this.exit = exit;
      for (const w of this.waiters.splice(0)) w.reject(new Error(`process exited (${exit.code ?? exit.signal}) before ${w.what}\n${this.describe()}`));
      return exit;
    });
  }

  protected push(e: E): void {
    this.events.push(e);
    for (const w of [...this.waiters]) {
      if (w.pred(e)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(e);
      }
    }
  }

  describe(): string {
    return `events:\n${this.events.map((e) => JSON.stringify(e)).join('\n')}\nstderr:\n${this.stderr}`;
  }

  /** The first event (already received or still to come) matching `pred`. */
  waitFor(pred: (e: E) => boolean, what: string, timeoutMs = WAIT_MS): Promise<E> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    if (this.exit) return Promise.reject(new Error(`process exited (${this.exit.code ?? this.exit.signal}) before ${what}\n${this.describe()}`));
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        what,
        resolve: (e: E) => {
          clearTimeout(timer);
          resolve(e);
        },
        reject: (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.describe()}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** Waits for the exit (killing the process if it takes longer than `timeoutMs`). */
  async done(timeoutMs = WAIT_MS): Promise<Exit> {
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

type CliEvent = Json & { event: string };

/** `loralab train …` from source, `--json` events parsed from stdout line by line. */
class Cli extends Proc<CliEvent> {
  stdout = '';
  constructor(args: string[]) {
    super(spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
    let partial = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      this.stdout += d;
      partial += d;
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        if (line.trim()) this.push(JSON.parse(line) as CliEvent);
      }
    });
  }
}

/** The trainer process entry, forked as the extension does; every message checked with `isTrainerEvent`. */
class Trainer extends Proc<TrainerEvent & Json> {
  readonly invalid: unknown[] = [];
  constructor() {
    super(fork(join(ROOT, 'src/trainer/main.ts'), [], { cwd: ROOT, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] }));
    this.child.stdout!.on('data', () => undefined);
    this.child.on('message', (m) => {
      if (isTrainerEvent(m)) this.push(m as TrainerEvent & Json);
      else this.invalid.push(m);
    });
  }
  send(r: TrainerRequest): void {
    this.child.send(r);
  }
}

const isMetrics = (e: Json) => e.event === 'metrics' || e.type === 'metrics';
const cliTrain = (args: string[]) => new Cli(['train', ...args, '--json']);

const readRun = async (runDir: string) => JSON.parse(await readFile(join(runDir, 'run.json'), 'utf8')) as Record<string, unknown>;

/**
 * Every complete checkpoint of the run loads (adapter with all 35 modules, optimizer moments,
 * trainer state at its own step, every file at the size `checkpoint.json` lists), and no
 * `step-<n>` folder lacks the completion marker. Returns the complete steps.
 */
async function assertCheckpointsIntact(runDir: string): Promise<number[]> {
  const ckDir = join(runDir, 'checkpoints');
  let names: string[] = [];
  try {
    names = await readdir(ckDir);
  } catch {
    // no checkpoints yet
  }
  for (const n of names.filter((x) => /^step-\d+$/.test(x))) {
    await assert.doesNotReject(stat(join(ckDir, n, CHECKPOINT_MARKER)), `${n} has no ${CHECKPOINT_MARKER} (names: ${names.join(' ')})`);
  }
  const list = await listCheckpoints(runDir);
  assert.deepEqual(list.map((c) => `step-${c.step}`).sort(), names.filter((x) => /^step-\d+$/.test(x)).sort());
  for (const c of list) {
    const marker = JSON.parse(await readFile(join(c.dir, CHECKPOINT_MARKER), 'utf8')) as { step: number; files: Record<string, number> };
    assert.equal(marker.step, c.step);
    assert.deepEqual(Object.keys(marker.files).sort(), ['adapter_config.json', 'adapter_model.safetensors', 'optimizer.safetensors', 'trainer_state.json']);
    for (const [f, size] of Object.entries(marker.files)) assert.equal((await stat(join(c.dir, f))).size, size, `${c.dir}/${f}`);
    const ck = await readCheckpoint(c.dir);
    assert.equal(ck.params.size, 2 * LORA_MODULES, c.dir);
    assert.equal(ck.adam.m.size, 2 * LORA_MODULES);
    assert.equal(ck.adam.v.size, 2 * LORA_MODULES);
    assert.equal(ck.adam.t, c.step, `${c.dir}: adam_t`);
    assert.equal(ck.state.step, c.step, `${c.dir}: trainer_state step`);
    assert.ok(ck.state.tokens > 0 && ck.state.elapsed_s > 0, c.dir);
    for (const [k, p] of ck.params) {
      assert.equal(ck.adam.m.get(k)!.length, p.data.length, `${c.dir}: m/${k}`);
      assert.ok((p.data as Float32Array).every(Number.isFinite), `${c.dir}: ${k} finite`);
    }
  }
  return list.map((c) => c.step);
}

/** The train rows (step ≥ 1) of a process's events as [step, train_loss, lr, grad_norm, tokens]. */
const trainRows = (events: Json[]) =>
  events.filter((e) => isMetrics(e) && e.train_loss !== undefined).map((e) => [e.step, e.train_loss, e.lr, e.grad_norm, e.tokens] as number[]);

/** Asserts two sets of train rows agree on the steps they share (resume must be exact). */
function assertSameTraining(a: number[][], b: number[][], steps: number[]): void {
  for (const s of steps) {
    const x = a.find((r) => r[0] === s);
    const y = b.find((r) => r[0] === s);
    assert.ok(x && y, `step ${s} in both runs`);
    assert.equal(x[4], y[4], `tokens at step ${s}`);
    assert.equal(x[2], y[2], `lr at step ${s}`);
    for (const i of [1, 3]) assert.ok(Math.abs(x[i] - y[i]) <= 1e-5 * Math.max(1, Math.abs(x[i])), `step ${s}: ${x[i]} vs ${y[i]} (${i === 1 ? 'train_loss' : 'grad_norm'})`);
  }
}

// --- 1. SIGINT ----------------------------------------------------------------------------------

test('loralab train: SIGINT finishes the step, writes a checkpoint, exits 130; --resume continues exactly', { timeout: TEST_TIMEOUT }, async (t) => {
  const dir = await tempDir(t);
  const file = await writeExperiment(dir, { max_steps: 2000, save_steps: 1000 });
  const runsDir = join(dir, 'runs');

  const p = cliTrain([file, '--runs-dir', runsDir]);
  const run = await p.waitFor((e) => e.event === 'run', 'the run event');
  await p.waitFor((e) => isMetrics(e) && e.step! >= 3, 'metrics at step 3');
  p.child.kill('SIGINT');
  const exit = await p.done();
  assert.deepEqual(exit, { code: 130, signal: null }, p.describe());

  const last2 = p.events.slice(-2);
  assert.equal(last2[0].event, 'checkpoint', p.describe());
  assert.equal(last2[1].event, 'done', p.describe());
  const k = last2[1].step!;
  assert.ok(k >= 3 && k < 2000, `stopped at step ${k}`);
  assert.deepEqual(last2[1], { event: 'done', status: 'stopped', run_dir: run.run_dir, adapter_dir: null, step: k });
  assert.equal(last2[0].step, k);
  const runDir = String(run.run_dir);
  assert.equal(last2[0].dir, join(runDir, 'checkpoints', `step-${k}`));
  // Every step up to k was logged, and nothing after it.
  assert.deepEqual(p.events.filter(isMetrics).map((e) => e.step), Array.from({ length: k + 1 }, (_, i) => i));
  assert.match(p.stderr, /loralab: SIGINT: finishing this step and writing a checkpoint/);
  assert.ok(p.stderr.includes(`stopped at step ${k}; resume with: loralab train --resume ${runDir}`), p.stderr);

  const json = await readRun(runDir);
  assert.equal(json.status, 'stopped');
  assert.equal(json.step, k);
  assert.equal(typeof json.finished_at, 'string');
  assert.deepEqual(await assertCheckpointsIntact(runDir), [k]);
  const ck = await readCheckpoint(join(runDir, 'checkpoints', `step-${k}`));
  assert.equal(ck.state.step, k);
  assert.equal(ck.state.tokens, p.events.find((e) => isMetrics(e) && e.step === k)!.tokens);
  if (4 * k < 500) assert.deepEqual(ck.state.data, { epoch: 0, index: 4 * k }, 'data position: k batches of 4 (first epoch)');

  const r = cliTrain(['--resume', runDir, '--max-steps', String(k + 5)]);
  const rexit = await r.done();
  assert.deepEqual(rexit, { code: 0, signal: null }, r.describe());
  const rrun = r.events.find((e) => e.event === 'run')!;
  assert.equal(rrun.run_dir, runDir);
  assert.equal(rrun.resumed_from_step, k);
  assert.equal(rrun.max_steps, k + 5);
  const rsteps = r.events.filter(isMetrics).map((e) => e.step);
  assert.deepEqual(rsteps, [k + 1, k + 2, k + 3, k + 4, k + 5], r.describe());
  const rdone = r.events.at(-1)!;
  assert.deepEqual(rdone, { event: 'done', status: 'completed', run_dir: runDir, adapter_dir: join(runDir, 'adapter'), step: k + 5 });
  const rjson = await readRun(runDir);
  assert.equal(rjson.status, 'completed');
  assert.equal(rjson.step, k + 5);
  assert.equal(rjson.resumed_from_step, k);
  // Resumed metrics continue the stopped run's clock and token count.
  const firstResumed = r.events.find(isMetrics)!;
  const lastStopped = p.events.filter(isMetrics).at(-1)!;
  assert.ok((firstResumed.tokens as number) > (lastStopped.tokens as number));
  assert.ok((firstResumed.time as number) >= (lastStopped.time as number));
  // metrics.jsonl holds steps 0..k+5 once each.
  assert.deepEqual([...(await readMetrics(runDir))].map((m) => m.step), Array.from({ length: k + 6 }, (_, i) => i));

  // Exact resume: an uninterrupted run of the same experiment trains the same steps identically.
  const ref = cliTrain([file, '--runs-dir', join(dir, 'ref-runs'), '--max-steps', String(k + 5)]);
  assert.equal((await ref.done()).code, 0, ref.describe());
  assertSameTraining(trainRows(ref.events), trainRows([...p.events, ...r.events]), Array.from({ length: k + 5 }, (_, i) => i + 1));
});

// --- 2. SIGKILL ---------------------------------------------------------------------------------

test('loralab train: after SIGKILL the run reads crashed and --resume continues from the last complete checkpoint', { timeout: TEST_TIMEOUT }, async (t) => {
  const dir = await tempDir(t);
  const file = await writeExperiment(dir, { max_steps: 2000, save_steps: 5 });
  const runsDir = join(dir, 'runs');

  const p = cliTrain([file, '--runs-dir', runsDir]);
  const run = await p.waitFor((e) => e.event === 'run', 'the run event');
  const runDir = String(run.run_dir);
  await p.waitFor((e) => e.event === 'checkpoint' && e.step === 5, 'the step-5 checkpoint');
  await p.waitFor((e) => isMetrics(e) && e.step! >= 7, 'metrics at step 7');
  p.child.kill('SIGKILL');
  assert.deepEqual(await p.done(), { code: null, signal: 'SIGKILL' });

  const runs = await runCli(['runs', '--runs-dir', runsDir, '--json']);
  assert.equal(runs.code, 0, runs.stderr);
  const listed = JSON.parse(runs.stdout) as { runs: { id: string; status: string; step: number; run_dir: string }[] };
  assert.equal(listed.runs.length, 1);
  assert.equal(listed.runs[0].run_dir, runDir);
  assert.equal(listed.runs[0].status, 'crashed');
  assert.equal((await readRun(runDir)).status, 'running', 'run.json keeps "running"; "crashed" is only how readers see it');

  const steps = await assertCheckpointsIntact(runDir);
  const c = (await latestCheckpoint(runDir))!.step;
  assert.ok(c >= 5 && c % 5 === 0, `latest checkpoint ${c} (all: ${steps.join(', ')})`);
  const killedAt = Math.max(...p.events.filter(isMetrics).map((e) => e.step!));
  assert.ok(killedAt >= c, `metrics reached ${killedAt}, checkpoint ${c}`);

  const r = cliTrain(['--resume', runDir, '--max-steps', String(c + 4)]);
  assert.deepEqual(await r.done(), { code: 0, signal: null }, r.describe());
  assert.equal(r.events.find((e) => e.event === 'run')!.resumed_from_step, c);
  assert.deepEqual(r.events.filter(isMetrics).map((e) => e.step), [c + 1, c + 2, c + 3, c + 4], r.describe());
  assert.deepEqual(r.events.at(-1), { event: 'done', status: 'completed', run_dir: runDir, adapter_dir: join(runDir, 'adapter'), step: c + 4 });
  assert.equal((await readRun(runDir)).status, 'completed');
  const after = JSON.parse((await runCli(['runs', '--runs-dir', runsDir, '--json'])).stdout) as { runs: { status: string; step: number }[] };
  assert.deepEqual(after.runs.map((x) => [x.status, x.step]), [['completed', c + 4]]);
  // metrics.jsonl still holds the killed process's rows past step c (append-only); readers drop
  // them in favour of the resumed ones.
  const raw = (await readFile(join(runDir, 'metrics.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { step: number }).step);
  const upTo = raw.length - 5; // the killed process's last row (it may have logged one more than it printed)
  assert.ok(raw[upTo] >= killedAt, raw.join(' '));
  assert.deepEqual(raw, [...Array.from({ length: raw[upTo] + 1 }, (_, i) => i), c + 1, c + 2, c + 3, c + 4]);
  assert.deepEqual([...(await readMetrics(runDir))].map((m) => m.step), Array.from({ length: c + 5 }, (_, i) => i));
  // The steps the killed process trained past its checkpoint are retrained identically.
  const redone = Array.from({ length: Math.min(killedAt, c + 4) - c }, (_, i) => c + 1 + i);
  assertSameTraining(trainRows(p.events), trainRows(r.events), redone);
});

test('loralab train --resume refuses a run that is still running, and a --max-steps not above its checkpoint', { timeout: TEST_TIMEOUT }, async (t) => {
  const dir = await tempDir(t);
  const file = await writeExperiment(dir, { max_steps: 2000, save_steps: 2 });
  const p = cliTrain([file, '--runs-dir', join(dir, 'runs')]);
  t.after(() => p.child.kill('SIGKILL'));
  const run = await p.waitFor((e) => e.event === 'run', 'the run event');
  const runDir = String(run.run_dir);
  await p.waitFor((e) => e.event === 'checkpoint', 'a checkpoint');

  const twice = await runCli(['train', '--resume', runDir, '--json']);
  assert.equal(twice.code, 2, twice.stderr);
  assert.equal(twice.stderr, `loralab: error: ${runDir}: the run is still running (pid ${p.child.pid}); stop it first (Ctrl-C in its terminal, or kill -INT ${p.child.pid}), then resume\n`);
  assert.equal(JSON.parse(twice.stdout).exit_code, 2);

  p.child.kill('SIGINT');
  assert.equal((await p.done()).code, 130, p.describe());
  const k = p.events.at(-1)!.step!;
  assert.equal((await readRun(runDir)).status, 'stopped');
  for (const n of [k, k - 1]) {
    const r = await runCli(['train', '--resume', runDir, '--max-steps', String(n)]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, `loralab: error: ${runDir}: its last checkpoint is at step ${k}, so max steps ${n} leaves nothing to train; pass --max-steps N with N > ${k}\n`);
  }
  const json = await readRun(runDir);
  assert.equal(json.status, 'stopped', 'a refused resume leaves the run as it was');
  assert.equal(json.step, k);
  assert.equal(json.max_steps, 2000);
});

// --- 3. SIGKILL during checkpoint writes ---------------------------------------------------------

test('SIGKILL at 10 moments with a checkpoint every step: every listed checkpoint loads, no step folder lacks its marker', { timeout: TEST_TIMEOUT }, async (t) => {
  const started = performance.now();
  const dir = await tempDir(t);
  const file = await writeExperiment(dir, { max_steps: 2000, save_steps: 1 });
  const runsDir = join(dir, 'runs');
  let runDir: string | null = null;
  let latest: number | null = null;
  let killedInsideWrite = 0;
  const delaysMs = [0, 1, 2, 4, 7, 11, 16, 23, 31, 45];

  for (let i = 0; i < 10; i++) {
    const p = cliTrain(runDir ? ['--resume', runDir] : [file, '--runs-dir', runsDir]);
    const run = await p.waitFor((e) => e.event === 'run', `the run event (kill ${i + 1})`);
    runDir ??= String(run.run_dir);
    assert.equal(run.run_dir, runDir);
    assert.equal(run.resumed_from_step, latest, `kill ${i + 1}: resumes from the latest complete checkpoint`);
    const ckDir = join(runDir, 'checkpoints');
    // Each process first completes one checkpoint of its own, so the run advances between kills.
    const first = await p.waitFor((e) => e.event === 'checkpoint', `a checkpoint (kill ${i + 1})`);
    assert.ok(first.step! > (latest ?? 0));

    if (i % 2 === 0) {
      // Kill when a later checkpoint's temporary folder appears (its writer is filling or
      // fsyncing it), after a delay that grows with i.
      const w = watchTmp(ckDir);
      try {
        await Promise.race([w.seen, p.waitFor(() => false, `a checkpoint write (kill ${i + 1})`)]);
      } finally {
        w.close();
      }
      if (delaysMs[i]) await sleep(delaysMs[i]);
    } else {
      // Kill a while after a later train row (logged just before that step's checkpoint is written).
      await p.waitFor((e) => isMetrics(e) && e.step! > first.step!, `a train row after step ${first.step} (kill ${i + 1})`);
      await sleep(delaysMs[i] + Math.floor(Math.random() * 10));
    }
    p.child.kill('SIGKILL');
    const exit = await p.done();
    assert.equal(exit.signal, 'SIGKILL', `kill ${i + 1} landed before the process finished\n${p.describe()}`);

    const names = await readdir(ckDir).catch(() => [] as string[]);
    if (names.some((n) => n.startsWith('.tmp-step-'))) killedInsideWrite++;
    const steps = await assertCheckpointsIntact(runDir);
    assert.ok(steps.at(-1)! >= first.step!, `checkpoints ${steps.join(', ')} include step ${first.step}`);
    latest = steps.at(-1)!;
    assert.equal((await readRun(runDir)).status, 'running', 'a killed run keeps status running (read as crashed)');
  }
  // At least one kill must have landed inside a checkpoint write for this test to mean anything.
  assert.ok(killedInsideWrite >= 1, `kills inside a checkpoint write: ${killedInsideWrite}`);
  t.diagnostic(`${killedInsideWrite}/10 kills left a half-written checkpoint folder; latest checkpoint ${latest}`);

  // A final resume completes, and its first checkpoint write removes the dead writers' leftovers.
  const final = cliTrain(['--resume', runDir!, '--max-steps', String(latest! + 2)]);
  assert.deepEqual(await final.done(), { code: 0, signal: null }, final.describe());
  assert.deepEqual(final.events.filter(isMetrics).map((e) => e.step), [latest! + 1, latest! + 2]);
  assert.deepEqual((await readdir(join(runDir!, 'checkpoints'))).filter((n) => n.startsWith('.')), []);
  await assertCheckpointsIntact(runDir!);
  assert.equal((await readRun(runDir!)).status, 'completed');
  assert.deepEqual([...(await readMetrics(runDir!))].map((m) => m.step), Array.from({ length: latest! + 3 }, (_, i) => i));
  t.diagnostic(`took ${((performance.now() - started) / 1000).toFixed(1)} s`);
});

/**
 * Resolves `seen` once a `.tmp-step-*` entry appears in `ckDir` (the trainer creates `ckDir` at
 * its first checkpoint, so it is polled for until it exists).
 */
function watchTmp(ckDir: string): { seen: Promise<void>; close(): void } {
  let w: FSWatcher | null = null;
  let timer: NodeJS.Timeout | undefined;
  const close = () => {
    clearInterval(timer);
    w?.close();
  };
  const seen = new Promise<void>((resolve) => {
    timer = setInterval(() => {
      if (w) return;
      try {
        w = watch(ckDir, (_ev, name) => {
          if (name?.startsWith('.tmp-step-')) {
            close();
            resolve();
          }
        });
      } catch {
        // not created yet
      }
    }, 2);
  });
  return { seen, close };
}

// --- 4. the forked trainer process ----------------------------------------------------------------

test('trainer process: ready → start → run, metrics 0..6, checkpoint, done completed; exit 0', { timeout: TEST_TIMEOUT }, async (t) => {
  const dir = await tempDir(t);
  const file = await writeExperiment(dir, { max_steps: 2000, save_steps: 1000 });
  const runsDir = join(dir, 'runs');
  const tr = new Trainer();
  const ready = await tr.waitFor((e) => e.type === 'ready', 'ready');
  assert.deepEqual(ready, { v: 1, type: 'ready', pid: tr.child.pid });
  tr.send({ v: 1, type: 'start', args: { experimentFile: file, runsDir, maxSteps: 6 } });
  assert.deepEqual(await tr.done(), { code: 0, signal: null }, tr.describe());
  assert.deepEqual(tr.invalid, []);

  const ev = tr.events.filter((e) => e.type !== 'log');
  assert.deepEqual(ev.map((e) => e.type), ['ready', 'run', 'metrics', 'metrics', 'metrics', 'metrics', 'metrics', 'metrics', 'metrics', 'checkpoint', 'done'], tr.describe());
  const run = ev[1] as Extract<TrainerEvent, { type: 'run' }>;
  assert.equal(run.resumed_from_step, null);
  assert.equal(run.max_steps, 6);
  assert.equal(run.provider, 'cpu');
  assert.ok(run.run_dir.startsWith(join(runsDir, 'proc-')), run.run_dir);
  const rows = ev.filter((e) => e.type === 'metrics').map((e) => (e as Extract<TrainerEvent, { type: 'metrics' }>).row);
  assert.deepEqual(rows.map((r) => r.step), [0, 1, 2, 3, 4, 5, 6]);
  assert.equal(typeof rows[0].val_loss, 'number');
  assert.equal(rows[0].train_loss, undefined);
  assert.ok(rows.slice(1).every((r) => typeof r.train_loss === 'number' && Number.isFinite(r.train_loss)));
  assert.equal(typeof rows[6].val_loss, 'number', 'validation at the last step');
  // The IPC rows are exactly the metrics.jsonl rows.
  assert.deepEqual([...(await readMetrics(run.run_dir))], rows);
  assert.deepEqual(ev[9], { v: 1, type: 'checkpoint', step: 6, dir: join(run.run_dir, 'checkpoints', 'step-6') });
  assert.deepEqual(ev[10], { v: 1, type: 'done', status: 'completed', run_dir: run.run_dir, adapter_dir: join(run.run_dir, 'adapter'), step: 6 });
  assert.ok(tr.events.some((e) => e.type === 'log' && /^starting: model /.test(String(e.line))));
  assert.deepEqual(await assertCheckpointsIntact(run.run_dir), [6]);
  const json = await readRun(run.run_dir);
  assert.equal(json.status, 'completed');
  assert.equal(json.pid, tr.child.pid);
});

test('trainer process: stop after the first metrics row → checkpoint, done stopped, exit 130', { timeout: TEST_TIMEOUT }, async (t) => {
  const dir = await tempDir(t);
  const file = await writeExperiment(dir, { max_steps: 2000, save_steps: 1000 });
  const tr = new Trainer();
  await tr.waitFor((e) => e.type === 'ready', 'ready');
  tr.send({ v: 1, type: 'start', args: { experimentFile: file, runsDir: join(dir, 'runs') } });
  await tr.waitFor((e) => e.type === 'metrics', 'the first metrics row');
  tr.send({ v: 1, type: 'stop' });
  assert.deepEqual(await tr.done(), { code: 130, signal: null }, tr.describe());
  assert.deepEqual(tr.invalid, []);
  const ev = tr.events.filter((e) => e.type !== 'log');
  const done = ev.at(-1) as Extract<TrainerEvent, { type: 'done' }>;
  assert.equal(done.type, 'done', tr.describe());
  assert.equal(done.status, 'stopped');
  assert.equal(done.adapter_dir, null);
  assert.ok(done.step >= 1 && done.step < 2000, `stopped at ${done.step}`);
  assert.deepEqual(ev.at(-2), { v: 1, type: 'checkpoint', step: done.step, dir: join(done.run_dir, 'checkpoints', `step-${done.step}`) });
  assert.ok(!ev.some((e) => e.type === 'error'));
  assert.equal((await readRun(done.run_dir)).status, 'stopped');
  assert.deepEqual(await assertCheckpointsIntact(done.run_dir), [done.step]);
});

test('trainer process: the parent going away (IPC disconnect) stops the run with a checkpoint', { timeout: TEST_TIMEOUT }, async (t) => {
  const dir = await tempDir(t);
  const file = await writeExperiment(dir, { max_steps: 2000, save_steps: 1000 });
  const tr = new Trainer();
  await tr.waitFor((e) => e.type === 'ready', 'ready');
  tr.send({ v: 1, type: 'start', args: { experimentFile: file, runsDir: join(dir, 'runs') } });
  const run = (await tr.waitFor((e) => e.type === 'run', 'run')) as Extract<TrainerEvent, { type: 'run' }>;
  await tr.waitFor((e) => e.type === 'metrics' && (e.row as { step: number }).step >= 2, 'metrics at step 2');
  tr.child.disconnect();
  assert.deepEqual(await tr.done(), { code: 130, signal: null }, tr.describe());
  const json = await readRun(run.run_dir);
  assert.equal(json.status, 'stopped');
  assert.deepEqual(await assertCheckpointsIntact(run.run_dir), [json.step as number]);
});

test('trainer process: stop while the model is still loading → error with exit_code 130 at once, no run folder', { timeout: TEST_TIMEOUT }, async (t) => {
  const dir = await tempDir(t);
  const file = await writeExperiment(dir);
  const tr = new Trainer();
  await tr.waitFor((e) => e.type === 'ready', 'ready');
  tr.send({ v: 1, type: 'start', args: { experimentFile: file, runsDir: join(dir, 'runs') } });
  tr.send({ v: 1, type: 'stop' });
  assert.deepEqual(await tr.done(), { code: 130, signal: null }, tr.describe());
  assert.deepEqual(tr.events.filter((e) => e.type !== 'log'), [
    { v: 1, type: 'ready', pid: tr.child.pid },
    { v: 1, type: 'error', message: 'stopped before training started (nothing to checkpoint)', exit_code: 130 },
  ]);
  await assert.rejects(stat(join(dir, 'runs')), { code: 'ENOENT' });
});

test('trainer process: a missing experiment file → error with exit_code 2 naming the file; exit 2', { timeout: TEST_TIMEOUT }, async (t) => {
  const dir = await tempDir(t);
  const missing = join(dir, 'nope.lora.json');
  const tr = new Trainer();
  await tr.waitFor((e) => e.type === 'ready', 'ready');
  tr.send({ v: 1, type: 'start', args: { experimentFile: missing, runsDir: join(dir, 'runs') } });
  assert.deepEqual(await tr.done(), { code: 2, signal: null }, tr.describe());
  assert.deepEqual(tr.invalid, []);
  const ev = tr.events.filter((e) => e.type !== 'log');
  assert.deepEqual(ev.map((e) => e.type), ['ready', 'error']);
  const err = ev[1] as Extract<TrainerEvent, { type: 'error' }>;
  assert.equal(err.exit_code, 2);
  assert.ok(err.message.includes(missing), err.message);
  await assert.rejects(stat(join(dir, 'runs')), { code: 'ENOENT' }, 'no runs dir is created');
});

// --- 5. bad experiment file via the CLI -----------------------------------------------------------

test('loralab train: an experiment file with two mistakes → exit 2, both listed as file:line: /pointer: message, no run folder', { timeout: TEST_TIMEOUT }, async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'bad.lora.json');
  await writeFile(
    file,
    [
      '{',
      '  // two mistakes below',
      '  "name": "bad",',
      `  "model": ${JSON.stringify(join(SHARED, 'models/stories260K'))},`,
      '  "data": { "train": "train.txt", "max_seq_length": 64 },',
      '  "training": {',
      '    "learning_rate": -1,',
      '    "lerning_rate": 0.001,',
      '    "max_steps": 10',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  const runsDir = join(dir, 'runs');
  const r = await runCli(['train', file, '--runs-dir', runsDir]);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, '');
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 2, r.stderr);
  assert.match(lines[0], new RegExp(`^loralab: error: ${escape(file)}:7: /training/learning_rate: .*> 0`));
  assert.match(lines[1], new RegExp(`^loralab: error: ${escape(file)}:8: /training: unknown key "lerning_rate".*learning_rate`));
  await assert.rejects(stat(runsDir), { code: 'ENOENT' }, 'no run folder (nor runs dir) is created');

  const j = await runCli(['train', file, '--runs-dir', runsDir, '--json']);
  assert.equal(j.code, 2);
  const events = j.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; message: string; exit_code: number });
  assert.equal(events.length, 1);
  assert.equal(events[0].event, 'error');
  assert.equal(events[0].exit_code, 2);
  assert.deepEqual(events[0].message.split('\n'), lines.map((l) => l.replace(/^loralab: error: /, '')));
  await assert.rejects(stat(runsDir), { code: 'ENOENT' });
});

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
