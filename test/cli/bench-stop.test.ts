// `loralab bench --trainer` stopped by a signal: the forked trainer is stopped and the work
// folder (bench model, data, runs) removed, then exit 130 — checked on the real process tree
// (/proc) and with a fake child for the SIGKILL fallback. Also: bench's usage errors and its
// figures on stdout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopTrainerBench } from '../../src/cli/bench-trainer';
import { runCli, spawnCli } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';

/** Pids of trainers (command line naming trainer/main) whose parent is `ppid`, from /proc/<pid>/stat (field 4). */
function trainersOf(ppid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid && /trainer[/\\]main/.test(readFileSync(`/proc/${d}/cmdline`, 'utf8'))) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

/** A fake trainer child that records signals; it exits on them only when `obeys` says so. */
class FakeChild extends EventEmitter {
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  signals: string[] = [];
  constructor(private obeys: (sig: string) => boolean) {
    super();
  }
  kill(sig: NodeJS.Signals = 'SIGTERM'): boolean {
    this.signals.push(sig);
    if (this.obeys(sig)) setTimeout(() => {
      this.signalCode = sig;
      this.emit('exit');
    }, 10);
    return true;
  }
}

function workDir(): string {
  const work = mkdtempSync(join(tmpdir(), 'bench-stop-'));
  mkdirSync(join(work, 'runs', 'x'), { recursive: true });
  writeFileSync(join(work, 'model.safetensors'), 'x');
  return work;
}

test('stopTrainerBench: forwards the signal, the trainer exits, the work folder is removed', async () => {
  const child = new FakeChild(() => true);
  const work = workDir();
  await stopTrainerBench(child, work, 'SIGINT', 500);
  assert.deepEqual(child.signals, ['SIGINT']);
  assert.equal(existsSync(work), false);
});

test('stopTrainerBench: a trainer that ignores the signal is killed after the grace time', async () => {
  const child = new FakeChild((sig) => sig === 'SIGKILL');
  const work = workDir();
  const t0 = Date.now();
  await stopTrainerBench(child, work, 'SIGTERM', 200);
  assert.deepEqual(child.signals, ['SIGTERM', 'SIGKILL']);
  assert.ok(Date.now() - t0 >= 190);
  assert.equal(existsSync(work), false);
});

test('stopTrainerBench: no child yet (still writing the model): only the folder is removed', async () => {
  const work = workDir();
  await stopTrainerBench(null, work, 'SIGTERM');
  assert.equal(existsSync(work), false);
});

test('bench --trainer --quick, SIGTERM once the trainer runs: no trainer left, temp folder gone, exit 130', { skip: process.platform !== 'linux' }, async () => {
  const tmp = tempDir('bench-stop-tmp-');
  const cli = spawnCli(['bench', '--trainer', '--quick', '--layers', '1', '--rank', '2'], { TMPDIR: tmp });
  let stderr = '';
  cli.stderr.on('data', (d) => (stderr += d));
  cli.stdout.resume();
  const closed = new Promise<number | null>((resolve) => cli.on('close', (code) => resolve(code)));
  let trainers: number[] = [];
  const deadline = Date.now() + 60_000;
  while (!trainers.length && Date.now() < deadline && cli.exitCode === null) {
    await new Promise((r) => setTimeout(r, 100));
    trainers = trainersOf(cli.pid!);
  }
  assert.ok(trainers.length, `no trainer child appeared: ${stderr}`);
  assert.equal(readdirSync(tmp).filter((f) => f.startsWith('loralab-bench-trainer-')).length, 1);
  await new Promise((r) => setTimeout(r, 500)); // let the trainer start its run
  cli.kill('SIGTERM');
  const code = await closed;
  assert.equal(code, 130, stderr);
  assert.match(stderr, /loralab: stopped by SIGTERM/);
  assert.doesNotMatch(stderr, /error/);
  for (const pid of trainers) assert.equal(alive(pid), false, `trainer ${pid} still running`);
  assert.deepEqual(readdirSync(tmp).filter((f) => f.startsWith('loralab-bench-trainer-')), [], 'the work folder is removed');
});

test('bench: options of the other mode and --steps below 3 are usage errors (exit 2, one line)', async () => {
  for (const [args, re] of [
    [['bench', '--quick'], /--quick applies only with --trainer/],
    [['bench', '--steps', '4'], /--steps applies only with --trainer/],
    [['bench', '--trainer', '--seq', '64', '--new-tokens', '3'], /--seq, --new-tokens apply only to bench without --trainer/],
    [['bench', '--trainer', '--steps', '2'], /the minimum is --steps 3/],
  ] as const) {
    const r = await runCli([...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('bench: the figures are on stdout, the model and machine notes on stderr', async () => {
  const r = await runCli(['bench', '--layers', '1', '--batch', '1', '--seq', '8', '--iters', '1', '--new-tokens', '2', '--threads', '1']);
  assert.equal(r.code, 0, r.stderr);
  for (const row of ['forward:', 'train step:', 'decode:', 'multi-LoRA:', 'swap:']) assert.match(r.stdout, new RegExp(`^${row}`, 'm'));
  assert.match(r.stderr, /^bench: Llama hidden 512/m);
  assert.doesNotMatch(r.stderr, /ms\/step/);
});
