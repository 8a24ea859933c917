/**
 * Sweeps on a real Slurm (slurmctld + slurmd; `.ci/slurm.sh start` runs a single-node one): a
 * 4-point sweep of tiny stories260K runs as ONE job array `--array=0-3%2`, every run folder
 * completed with its own point's values and listed by `loralab runs`; then a second sweep
 * cancelled midway with `loralab sweep stop` (scancel) and resubmitted: only the unfinished
 * points are in the new array, the finished run is untouched and the cancelled one resumes from
 * its checkpoint. What is checked comes from Slurm (`squeue`, the array spec sbatch was given)
 * and from the run folders' own run.json / metrics.jsonl, never from the runner's summary.
 * Skipped, with the reason, where `sbatch` or a running controller is missing.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../helpers/cli';
import { tinySweep } from './fixture';

function slurmMissing(): string | false {
  try {
    execFileSync('sbatch', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'sbatch not found: start a single-node Slurm with `sudo .ci/slurm.sh start` (CI does) to run the Slurm tests';
  }
  try {
    const state = execFileSync('sinfo', ['-h', '-N', '-o', '%t'], { encoding: 'utf8', timeout: 10_000 });
    if (!/idle|mix|alloc/.test(state)) return `no idle Slurm node (sinfo: ${state.trim() || 'none'}); see .ci/slurm.sh`;
  } catch {
    return 'slurmctld is not answering (sinfo failed); start it with `sudo .ci/slurm.sh start`';
  }
  return false;
}
const skip = slurmMissing();

/** The grid of both sweeps in expansion order (grid: last key fastest), written independently of the expander. */
const GRID = [[1e-3, 1], [1e-3, 4], [1e-2, 1], [1e-2, 4]];

function setup(maxSteps: number, saveSteps = maxSteps > 10 ? 5 : 1): { dir: string; file: string; runs: string } {
  return tinySweep('loralab-slurm-', { max_steps: maxSteps, eval_steps: maxSteps, save_steps: saveSteps });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const json = (file: string) => JSON.parse(readFileSync(file, 'utf8'));

/** Array tasks of `job` still in squeue (asked of Slurm directly). */
function queued(job: string): string[] {
  const out = execFileSync('squeue', ['-h', '-r', '-o', '%F|%K|%T'], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.startsWith(`${job}|`));
}

async function waitFor(what: string, ok: () => boolean, timeoutMs: number, pollMs = 500): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(pollMs);
  }
}

async function submit(args: string[]): Promise<{ sweep_dir: string; job_id: string; indices: number[]; file: string }> {
  const r = await runCli(['sweep', ...args, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const ev = r.stdout.trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.event === 'submitted');
  assert.ok(ev, r.stdout);
  assert.equal(ev.backend, 'slurm');
  return ev;
}

const taskRecord = (sweepDir: string, i: number) => json(join(sweepDir, `task-${i}.json`));

test('slurm: a 4-point sweep runs as one array --array=0-3%2; every run completes and loralab runs lists them', { skip, timeout: 150_000 }, async () => {
  const { file, runs } = setup(2);
  const sub = await submit([file, '--backend', 'slurm', '--max-parallel', '2', '--runs-dir', runs, '--sbatch-arg=--cpus-per-task=1']);
  assert.deepEqual(sub.indices, [0, 1, 2, 3]);
  assert.match(readFileSync(sub.file, 'utf8'), /^#SBATCH --array=0-3%2$/m);
  await waitFor('the array to leave squeue', () => queued(sub.job_id).length === 0, 120_000);

  const sweepDir = sub.sweep_dir;
  for (const [i, [lr, r]] of GRID.entries()) {
    const rec = taskRecord(sweepDir, i);
    assert.equal(rec.backend, 'slurm');
    assert.equal(rec.job_id, `${sub.job_id}_${i}`);
    const run = json(join(rec.run_dir, 'run.json'));
    assert.equal(run.status, 'completed', `point ${i}: ${run.error}`);
    assert.equal(run.step, 2);
    assert.equal(run.config.training.learning_rate, lr);
    assert.equal(run.config.lora.r, r);
    // The task's Slurm output file, linked into its run folder.
    assert.ok(statSync(join(rec.run_dir, `slurm-${sub.job_id}_${i}.out`)).isFile());
  }
  const listed = await runCli(['runs', '--runs-dir', runs, '--json']);
  assert.equal(listed.code, 0, listed.stderr);
  const rows = JSON.parse(listed.stdout).runs as { status: string; run_dir: string }[];
  assert.equal(rows.length, 4);
  assert.ok(rows.every((x) => x.status === 'completed' && x.run_dir.startsWith(sweepDir)));
  const status = await runCli(['sweep', 'status', sweepDir, '--json']);
  assert.deepEqual(JSON.parse(status.stdout).points.map((p: { cluster: string }) => p.cluster), ['done', 'done', 'done', 'done']);
});

test('slurm: a sweep cancelled midway (scancel) and resubmitted runs only its unfinished points', { skip, timeout: 150_000 }, async () => {
  // A checkpoint every step, and point 1's trainer is paused (SIGSTOP; Slurm sends SIGCONT
  // before SIGTERM on cancel) the moment its first checkpoint appears, so however fast training
  // gets, point 1 cannot finish its 60 steps before the cancel takes effect.
  const { file, runs } = setup(60, 1);
  const sub = await submit([file, '--backend', 'slurm', '--max-parallel', '1', '--runs-dir', runs, '--sbatch-arg=--cpus-per-task=1']);
  const sweepDir = sub.sweep_dir;
  const runOf = (i: number) => {
    try {
      return taskRecord(sweepDir, i).run_dir as string | null;
    } catch {
      return null;
    }
  };
  const checkpoints = (runDir: string | null) => (runDir ? readdirSync(join(runDir, 'checkpoints')).filter((d) => d.startsWith('step-')).length : 0);
  // Point 0 finished, point 1 past its first checkpoint: pause it there, then cancel.
  await waitFor('point 0 completed and point 1 checkpointed', () => {
    const r0 = runOf(0);
    if (!r0 || json(join(r0, 'run.json')).status !== 'completed') return false;
    try {
      return checkpoints(runOf(1)) > 0;
    } catch {
      return false;
    }
  }, 120_000, 20);
  process.kill(json(join(runOf(1)!, 'run.json')).pid, 'SIGSTOP');
  const stop = await runCli(['sweep', 'stop', sweepDir]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.match(stop.stderr, new RegExp(`scancel ${sub.job_id}`));
  await waitFor('the cancelled array to leave squeue', () => queued(sub.job_id).length === 0, 60_000);

  const run0 = runOf(0)!;
  const run1 = runOf(1)!;
  const metrics0 = readFileSync(join(run0, 'metrics.jsonl'), 'utf8');
  const stopped1 = json(join(run1, 'run.json'));
  assert.notEqual(stopped1.status, 'completed');
  assert.ok(stopped1.step < 60, `point 1 ran to step ${stopped1.step} before the cancel`);
  assert.equal(runOf(2), null, 'point 2 never started');

  // Resubmit: the backend comes from sweep.json; only points 1, 2, 3 go into the new array.
  const again = await submit(['--resume', sweepDir, '--max-parallel', '2', '--sbatch-arg=--cpus-per-task=1']);
  assert.notEqual(again.job_id, sub.job_id);
  assert.deepEqual(again.indices, [1, 2, 3]);
  assert.match(readFileSync(again.file, 'utf8'), /^#SBATCH --array=1-3%2$/m);
  await waitFor('the resubmitted array to leave squeue', () => queued(again.job_id).length === 0, 120_000);

  for (let i = 0; i < 4; i++) assert.equal(json(join(runOf(i)!, 'run.json')).status, 'completed', `point ${i}`);
  assert.equal(readFileSync(join(run0, 'metrics.jsonl'), 'utf8'), metrics0, 'the finished point was not run again');
  assert.equal(taskRecord(sweepDir, 0).job_id, `${sub.job_id}_0`);
  assert.equal(runOf(1), run1, 'point 1 resumed in its own run folder');
  const resumed1 = json(join(run1, 'run.json'));
  assert.ok(resumed1.resumed_from_step > 0 && resumed1.resumed_from_step <= stopped1.step, `resumed from step ${resumed1.resumed_from_step}`);
  assert.equal(taskRecord(sweepDir, 1).job_id, `${again.job_id}_1`);
  const sweep = json(join(sweepDir, 'sweep.json'));
  assert.deepEqual(sweep.launches.map((l: { job_id: string; indices: number[] }) => [l.job_id, l.indices]), [[sub.job_id, [0, 1, 2, 3]], [again.job_id, [1, 2, 3]]]);
});
