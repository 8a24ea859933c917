/**
 * The pieces of the cluster contract that need no scheduler: the point index from the
 * scheduler's variables, the `--array` spec, squeue's output read back, sbatch option checks
 * and the cluster state of a point. Expected values are written out by hand from sbatch(1),
 * squeue(1) and the batch/v1 Job documentation.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { arraySpec, parseSqueue, renderSbatch } from '../../src/launch/slurm';
import { clusterState } from '../../src/launch/status';
import { taskIdentity, taskIndex, sweepDirOf } from '../../src/launch/task';
import { unfinished } from '../../src/launch/sweepdir';
import type { SweepPointState } from '../../src/runs/index';

test('the point index: --index, else SLURM_ARRAY_TASK_ID, else JOB_COMPLETION_INDEX; one-line errors', () => {
  assert.equal(taskIndex(2, { SLURM_ARRAY_TASK_ID: '5' }), 2);
  assert.equal(taskIndex(undefined, { SLURM_ARRAY_TASK_ID: '5', JOB_COMPLETION_INDEX: '7' }), 5);
  assert.equal(taskIndex(undefined, { JOB_COMPLETION_INDEX: '7' }), 7);
  assert.throws(() => taskIndex(undefined, {}), /^Error: no point index: pass --index I/);
  assert.throws(() => taskIndex(undefined, { SLURM_ARRAY_TASK_ID: '3-4' }), /SLURM_ARRAY_TASK_ID=3-4: not a point index/);
  assert.deepEqual(taskIdentity({ SLURM_ARRAY_JOB_ID: '41', SLURM_ARRAY_TASK_ID: '3' }), { backend: 'slurm', job_id: '41_3' });
  assert.deepEqual(taskIdentity({ JOB_COMPLETION_INDEX: '1', HOSTNAME: 'job-1-x', POD_NAMESPACE: 'ml' }), { backend: 'kubernetes', job_id: 'ml/job-1-x' });
  assert.deepEqual(taskIdentity({}, 99), { backend: 'local', job_id: '99' });
  assert.equal(sweepDirOf('/r/s-sweep-1/sweep.json'), '/r/s-sweep-1');
  assert.equal(sweepDirOf('/r/s-sweep-1'), '/r/s-sweep-1');
});

test('--array: ranges of consecutive indices, %K for the tasks at once', () => {
  assert.equal(arraySpec([0, 1, 2, 3], 2), '0-3%2');
  assert.equal(arraySpec([1, 2, 3]), '1-3');
  assert.equal(arraySpec([7, 0, 2, 1, 5, 9, 8]), '0-2,5,7-9');
  assert.throws(() => arraySpec([]), /no points/);
});

test('sbatch script: directives as sbatch(1) reads them; bad --time and --sbatch-arg refused in one line', () => {
  const s = renderSbatch({ dir: '/shared/runs/x-sweep-1', name: 'x y', indices: [1, 2, 3], command: ['/usr/bin/node', '/opt/loralab/dist/cli.js'], cwd: '/home/me', extraArgs: ['--max-steps', '10'], maxParallel: 2, gpusPerRun: 1, partition: 'gpu', time: '01:30:00', sbatchArgs: ['--account=proj'] });
  const directives = s.split('\n').filter((l) => l.startsWith('#SBATCH'));
  assert.deepEqual(directives, [
    '#SBATCH --job-name=loralab-x_y',
    '#SBATCH --array=1-3%2',
    '#SBATCH --output=/shared/runs/x-sweep-1/slurm-%A_%a.out',
    '#SBATCH --partition=gpu',
    '#SBATCH --gres=gpu:1',
    '#SBATCH --time=01:30:00',
    '#SBATCH --account=proj',
  ]);
  assert.match(s, /^exec \/usr\/bin\/node \/opt\/loralab\/dist\/cli.js train --sweep \/shared\/runs\/x-sweep-1 --max-steps 10 "\$\{threads\[@\]\}"$/m);
  for (const t of ['1-12:00', '30', '2:00:00']) assert.doesNotThrow(() => renderSbatch({ dir: '/d', name: 'n', indices: [0], command: ['loralab'], cwd: '/', time: t }));
  assert.throws(() => renderSbatch({ dir: '/d', name: 'n', indices: [0], command: ['loralab'], cwd: '/', time: '1h' }), /--time 1h: not a Slurm time/);
  assert.throws(() => renderSbatch({ dir: '/d', name: 'n', indices: [0], command: ['loralab'], cwd: '/', sbatchArgs: ['account=x'] }), /--sbatch-arg "account=x": must be one sbatch option/);
});

test('squeue -r lines → live points of our arrays only; a pending unsplit range counts for each index', () => {
  const out = ['12|0|RUNNING', '12|1|COMPLETING', '12|2-5%2|PENDING', '13|0|RUNNING', '12|6|CANCELLED', ''].join('\n');
  const q = parseSqueue(out, new Set(['12']));
  assert.deepEqual([...q.entries()].sort((a, b) => a[0] - b[0]), [[0, 'running'], [1, 'running'], [2, 'pending'], [3, 'pending'], [4, 'pending'], [5, 'pending']]);
});

test('cluster state: the run folder decides finished points; the scheduler the live ones; the rest is unfinished', () => {
  const p = (status: SweepPointState['status'], index = 0): SweepPointState => ({ index, name: 'n', values: {}, run_dir: null, status, step: 0, final_loss: null });
  assert.equal(clusterState(p('completed'), 'running'), 'done');
  assert.equal(clusterState(p('failed'), undefined), 'failed');
  assert.equal(clusterState(p('pending'), 'pending'), 'pending');
  assert.equal(clusterState(p('stopped'), 'running'), 'running');
  assert.equal(clusterState(p('stopped'), undefined), 'unfinished');
  assert.equal(clusterState(p('crashed'), undefined), 'unfinished');
  // Resubmit: unfinished points less those the scheduler still holds.
  assert.deepEqual(unfinished([p('completed', 0), p('stopped', 1), p('pending', 2), p('running', 3), p('failed', 4)], new Set([2])), [1, 3]);
});
