// Cluster state in the Experiments view: a Slurm sweep folder written by hand (sweep.json with
// one launch, run folders whose run.json says running/completed/failed), a fake `squeue` on
// PATH printing a fixed queue (what `squeue -h -r --me -o %F|%K|%T` prints), and the real
// `sweepStatus` → `ClusterPoller` → `buildTree` path: each run's description starts with the
// state derived by hand below; sweep.json becomes `completed` once every point is done or
// failed; a failing squeue is one tooltip line, never a notification; the timer runs only while
// the view is visible and the sweep unfinished. Then the same through the real
// `registerExperimentsView` under the vscode stub.
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { sweepStatus } from '../../src/launch/status';
import { ClusterPoller } from '../../src/extension/experiments/cluster';
import { buildTree } from '../../src/extension/experiments/model';
import { entry } from './helpers';
import { tempDir } from '../helpers/tmp';

const NOW = '2026-03-01T10:00:00.000Z';
let bin: string;
let savedPath: string | undefined;

beforeEach(() => {
  bin = tempDir('fake-squeue-');
  savedPath = process.env.PATH;
  process.env.PATH = `${bin}${delimiter}${process.env.PATH}`;
});
afterEach(() => {
  process.env.PATH = savedPath;
});

/** A `squeue` that prints `out` (or fails with `err` on stderr, exit 1). */
function fakeSqueue(out: string, err?: string): void {
  const file = join(bin, 'squeue');
  writeFileSync(file, err ? `#!/bin/sh\necho '${err}' >&2\nexit 1\n` : `#!/bin/sh\ncat <<'EOF'\n${out}\nEOF\n`);
  chmodSync(file, 0o755);
}

function runJson(dir: string, id: string, status: string): void {
  mkdirSync(dir, { recursive: true });
  // hostname of a cluster node: a "running" run there is trusted (no local pid check).
  writeFileSync(join(dir, 'run.json'), JSON.stringify({ id, name: 'exp', status, pid: 999999, step: 3, max_steps: 10, created_at: NOW, updated_at: NOW, hostname: 'gpu-node-7' }));
}

/**
 * A 4-point Slurm sweep (job 4242): point 0 completed, 1 running on a node, 2 failed, 3 not
 * started (no run folder yet).
 */
function slurmSweep(root: string): { dir: string; runDirs: string[] } {
  const dir = join(root, 'exp-sweep-20260301-100000');
  mkdirSync(dir, { recursive: true });
  const runDirs = [0, 1, 2, 3].map((i) => join(dir, `exp-0${i}`));
  runJson(runDirs[0], 'exp-00', 'completed');
  runJson(runDirs[1], 'exp-01', 'running');
  runJson(runDirs[2], 'exp-02', 'failed');
  writeFileSync(join(dir, 'sweep.json'), JSON.stringify({
    version: 1, name: 'exp', experiment_file: join(root, 'exp.lora.json'), method: 'grid', parameters: { 'training.learning_rate': [1e-4, 2e-4, 5e-4, 1e-3] }, seeds: [0],
    metric: 'val_loss', created_at: NOW, updated_at: NOW, status: 'running', pid: 1,
    points: [0, 1, 2, 3].map((i) => ({ index: i, name: `exp-0${i}`, values: {}, run_dir: i < 3 ? runDirs[i] : null })),
    launches: [{ backend: 'slurm', job_id: '4242', indices: [0, 1, 2, 3], submitted_at: NOW }],
  }, null, 2));
  return { dir, runDirs };
}

/** A manual timer: the test fires it. */
function manualTimer() {
  const t = { fn: null as null | (() => void), ms: 0, cleared: 0 };
  return {
    t,
    setInterval: (fn: () => void, ms: number) => ((t.fn = fn), (t.ms = ms), 'handle'),
    clearInterval: () => ((t.fn = null), t.cleared++),
  };
}

const settle = async (p: ClusterPoller) => {
  for (let i = 0; i < 3; i++) await p.pollAll();
};

test('poller + tree: each sweep run shows its cluster state from squeue and its run folder; the sweep counts what the scheduler holds', async () => {
  const root = tempDir('cluster-tree-');
  const { dir, runDirs } = slurmSweep(root);
  // Job 4242: task 1 RUNNING, task 3 PENDING; another user's job is ignored.
  fakeSqueue('4242|1|RUNNING\n4242|3|PENDING\n777|0|RUNNING');
  const timer = manualTimer();
  let changes = 0;
  const poller = new ClusterPoller({ status: sweepStatus, onChange: () => changes++, ...timer });
  poller.setSweeps([dir]);
  await settle(poller);
  assert.ok(changes >= 1);
  assert.equal(timer.t.ms, 10_000, 'polls every 10 s');
  assert.ok(poller.polling, 'unfinished: the timer runs');
  const runs = runDirs.slice(0, 3).map((d, i) => entry({ id: `exp-0${i}`, run_dir: d, created_at: `2026-03-01T10:00:0${i}Z`, status: (['completed', 'running', 'failed'] as const)[i], val_loss: 2, experiment_file: join(root, 'exp.lora.json') }));
  const [exp] = buildTree({ experiments: [{ file: join(root, 'exp.lora.json'), workspaceFolder: root }], runs, cluster: (d) => poller.view(d) });
  const sweepNode = exp.children.find((n) => n.contextValue === 'sweep')!;
  const byLabel = new Map(sweepNode.children.map((n) => [n.label, n]));
  // Derived by hand: completed → done; running + RUNNING in squeue → running; failed → failed.
  assert.match(byLabel.get('exp-00')!.description!, /^★ best · done · /); // the only completed run is the best
  assert.match(byLabel.get('exp-01')!.description!, /^running · /);
  assert.match(byLabel.get('exp-02')!.description!, /^failed · /);
  assert.match(byLabel.get('exp-01')!.tooltip!, /\ncluster: running$/);
  assert.match(byLabel.get('exp-01')!.ariaLabel, /cluster: running/);
  // Point 3 has no run folder yet: it is only in the sweep's count.
  assert.match(sweepNode.description!, /slurm: 1 pending, 1 running$/);
  assert.doesNotMatch(sweepNode.tooltip!, /cluster state unknown/);
  // Still running: sweep.json untouched.
  assert.equal(JSON.parse(readFileSync(join(dir, 'sweep.json'), 'utf8')).status, 'running');

  // Everything finishes: squeue is empty, point 1 completed, point 3 completed.
  runJson(runDirs[1], 'exp-01', 'completed');
  runJson(join(dir, 'exp-03'), 'exp-03', 'completed');
  writeFileSync(join(dir, 'task-3.json'), JSON.stringify({ index: 3, backend: 'slurm', job_id: '4242', run_dir: join(dir, 'exp-03'), host: 'gpu-node-7', started_at: NOW }));
  fakeSqueue('');
  const before = changes;
  timer.t.fn!();
  await settle(poller);
  assert.ok(changes > before);
  assert.equal(poller.view(dir)!.runs.get(runDirs[1]), 'done');
  assert.deepEqual(poller.view(dir)!.counts, { done: 3, failed: 1 });
  assert.equal(poller.polling, false, 'finished: no more polls');
  assert.ok(timer.t.cleared >= 1);
  // sweepStatus marked the cluster sweep completed, leaving the rest of sweep.json as written.
  const after = JSON.parse(readFileSync(join(dir, 'sweep.json'), 'utf8'));
  assert.equal(after.status, 'completed');
  assert.equal(after.points[3].run_dir, null, 'the task file is not merged into sweep.json');
  poller.dispose();
});

test('poller: squeue failing is one tooltip line and no exception; local sweeps are asked once; hidden view: no timer', async () => {
  const root = tempDir('cluster-err-');
  const { dir } = slurmSweep(root);
  fakeSqueue('', 'slurm_load_jobs error: Unable to contact slurm controller (connect failure)');
  const timer = manualTimer();
  const poller = new ClusterPoller({ status: sweepStatus, onChange: () => undefined, ...timer });
  poller.setSweeps([dir]);
  await settle(poller);
  const view = poller.view(dir)!;
  assert.equal(view.error, 'squeue: slurm_load_jobs error: Unable to contact slurm controller (connect failure)');
  // States still come from the run folders.
  assert.equal(view.runs.get(join(dir, 'exp-00')), 'done');
  const [exp] = buildTree({ experiments: [{ file: join(root, 'exp.lora.json'), workspaceFolder: root }], runs: [entry({ id: 'exp-00', run_dir: join(dir, 'exp-00'), status: 'completed', experiment_file: join(root, 'exp.lora.json') })], cluster: (d) => poller.view(d) });
  const tooltip = exp.children[0].tooltip!;
  assert.match(tooltip, /\ncluster state unknown: squeue: slurm_load_jobs error: Unable to contact slurm controller \(connect failure\)$/);
  assert.equal(JSON.parse(readFileSync(join(dir, 'sweep.json'), 'utf8')).status, 'running', 'not marked completed when the queue is unknown');
  assert.ok(poller.polling, 'keeps trying while unfinished');
  poller.setVisible(false);
  assert.equal(poller.polling, false, 'hidden view: no polling');
  poller.setVisible(true);
  assert.ok(poller.polling);
  poller.dispose();

  // A local sweep: asked once, never polled (no squeue run for it).
  const local = join(root, 'local-sweep-20260301-110000');
  mkdirSync(local);
  writeFileSync(join(local, 'sweep.json'), JSON.stringify({ version: 1, name: 'l', experiment_file: '/x.lora.json', method: 'grid', parameters: {}, seeds: [0], metric: 'val_loss', created_at: NOW, updated_at: NOW, status: 'running', pid: 1, points: [{ index: 0, name: 'l-00', values: {}, run_dir: null }] }));
  let asked = 0;
  const p2 = new ClusterPoller({ status: (d) => (asked++, sweepStatus(d)), onChange: () => undefined, ...manualTimer() });
  p2.setSweeps([local]);
  await settle(p2);
  assert.equal(asked, 1);
  assert.equal(p2.view(local), undefined);
  assert.equal(p2.polling, false);
  p2.dispose();
});

test('poller: a slow scheduler never overlaps itself, and a sweep gone from the tree is forgotten', async () => {
  let calls = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const poller = new ClusterPoller({
    status: async (dir) => {
      calls++;
      await gate;
      return { dir, sweep: {} as never, backend: 'slurm', jobs: ['1'], points: [{ index: 0, name: 'p', values: {}, run_dir: '/r/p', status: 'running', step: 1, final_loss: null, cluster: 'running' }], queueError: null };
    },
    onChange: () => undefined,
    ...manualTimer(),
  });
  poller.setSweeps(['/s/a-sweep-20260101-000000']);
  const more = [poller.pollAll(), poller.pollAll()];
  assert.equal(calls, 1, 'one squeue at a time per sweep (the calls wait for the one under way)');
  release();
  await Promise.all(more);
  await poller.pollAll();
  assert.equal(poller.view('/s/a-sweep-20260101-000000')!.runs.get('/r/p'), 'running');
  poller.setSweeps([]);
  assert.equal(poller.view('/s/a-sweep-20260101-000000'), undefined);
  assert.equal(poller.polling, false);
  poller.dispose();
});
