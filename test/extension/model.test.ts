// The Experiments view as data: experiment files → runs → checkpoints, descriptions, icons and
// contextValues per status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONTEXT_VALUES, RESUMABLE, STATUS_ICONS, buildTree, canResume, runContextValue } from '../../src/extension/experiments/model';
import type { RunStatus } from '../../src/runs/index';
import { entry } from './helpers';

const EXP = { file: '/ws/exp.lora.json', workspaceFolder: '/ws' };
const NESTED = { file: '/ws/examples/bedtime/bedtime.lora.json', workspaceFolder: '/ws' };

test('files → runs (newest first) → checkpoints', () => {
  const older = entry({ id: 'exp-20260101-100000', created_at: '2026-01-01T10:00:00Z', checkpoints: [{ step: 50, dir: '/r/a/checkpoints/step-50' }, { step: 100, dir: '/r/a/checkpoints/step-100' }] });
  const newer = entry({ id: 'exp-20260102-100000', created_at: '2026-01-02T10:00:00Z', status: 'running', step: 40, train_loss: 3.2171 });
  const bedtime = entry({ id: 'bedtime-20260101-090000', experiment_file: NESTED.file });
  const tree = buildTree({ experiments: [NESTED, EXP], runs: [older, bedtime, newer] });
  assert.deepEqual(tree.map((n) => n.label), ['bedtime.lora.json', 'exp.lora.json']);
  const [b, e] = tree;
  assert.equal(b.description, 'examples/bedtime');
  assert.equal(e.description, '1 running');
  assert.deepEqual(e.target, { kind: 'experiment', file: EXP.file });
  assert.equal(e.contextValue, 'experiment-runs');
  assert.equal(e.collapsible, 'expanded');
  // Under its experiment a run is labelled by the local start time its id carries (issue 14).
  assert.deepEqual(e.children.map((n) => n.label), ['2026-01-02 10:00:00', '2026-01-01 10:00:00']);
  assert.match(e.children[0].tooltip!, /^exp-20260102-100000\n/);
  const [run, done] = e.children;
  assert.equal(run.description, 'step 40/120 · loss 3.217');
  assert.deepEqual(run.icon, { id: 'loading~spin' });
  assert.equal(run.contextValue, 'run-running');
  assert.equal(run.collapsible, 'none');
  assert.deepEqual(run.target, { kind: 'run', runDir: newer.run_dir });
  assert.equal(done.collapsible, 'collapsed');
  assert.deepEqual(done.children.map((c) => [c.label, c.contextValue, c.icon.id]), [['step-50', 'checkpoint', 'save'], ['step-100', 'checkpoint', 'save']]);
  assert.deepEqual(done.children[1].target, { kind: 'checkpoint', runDir: older.run_dir, dir: '/r/a/checkpoints/step-100', step: 100 });
  // ids are unique and stable
  const ids = tree.flatMap(function all(n): string[] { return [n.id, ...n.children.flatMap(all)]; });
  assert.equal(new Set(ids).size, ids.length);
  assert.deepEqual(buildTree({ experiments: [NESTED, EXP], runs: [older, bedtime, newer] }), tree);
});

test('an experiment without runs; an empty workspace has no nodes (the welcome shows)', () => {
  const [e] = buildTree({ experiments: [EXP], runs: [] });
  assert.equal(e.contextValue, 'experiment');
  assert.equal(e.collapsible, 'none');
  assert.equal(e.description, undefined);
  assert.equal(e.icon.id, 'beaker');
  assert.deepEqual(buildTree({ experiments: [], runs: [] }), []);
});

test('an experiment whose trainer is loading reads "starting…"', () => {
  const [e] = buildTree({ experiments: [EXP], runs: [], starting: [EXP.file] });
  assert.equal(e.description, 'starting…');
  assert.equal(e.icon.id, 'loading~spin');
});

test('status icons, descriptions and contextValues per status; crashed, stopped and failed are resumable', () => {
  const statuses: RunStatus[] = ['running', 'completed', 'failed', 'stopped', 'crashed'];
  const runs = statuses.map((status, i) => entry({ id: `exp-${i}`, status, step: 40, max_steps: 120, train_loss: 3.2171, created_at: `2026-01-0${i + 1}T00:00:00Z` }));
  const [e] = buildTree({ experiments: [EXP], runs });
  const byId = new Map(e.children.map((n) => [n.label, n]));
  const expect: Record<RunStatus, [string, string | undefined, string]> = {
    running: ['loading~spin', undefined, 'run-running'],
    completed: ['pass', 'testing.iconPassed', 'run-completed'],
    failed: ['error', 'testing.iconFailed', 'run-failed-resumable'],
    stopped: ['debug-pause', undefined, 'run-stopped-resumable'],
    crashed: ['warning', 'list.warningForeground', 'run-crashed-resumable'],
  };
  statuses.forEach((s, i) => {
    const n = byId.get(`exp-${i}`)!;
    assert.equal(n.icon.id, expect[s][0], s);
    assert.equal(n.icon.color, expect[s][1], s);
    assert.equal(n.contextValue, expect[s][2], s);
    assert.equal(n.description, 'step 40/120 · loss 3.217', s);
    assert.match(n.ariaLabel, new RegExp(`^exp-${i}, ${s}\\b.*, step 40/120 · loss 3\\.217$`), 'the status is said, not only shown');
    assert.equal(runContextValue(s), expect[s][2]);
    assert.ok(CONTEXT_VALUES.includes(n.contextValue));
  });
  assert.deepEqual([...RESUMABLE].sort(), ['crashed', 'failed', 'stopped']);
  assert.deepEqual(Object.keys(STATUS_ICONS).sort(), [...statuses].sort());
  assert.match(byId.get('exp-4')!.tooltip!, /crashed/);
  assert.match(byId.get('exp-4')!.tooltip!, /Resume Run starts over/);
});

test('description without a logged loss; tooltip has val loss, error and resume checkpoint', () => {
  const r = entry({ id: 'x', status: 'failed', step: 0, max_steps: 500, train_loss: null, val_loss: 5.0681, error: 'loss is NaN at step 3', checkpoints: [{ step: 2, dir: '/c/step-2' }] });
  const [e] = buildTree({ experiments: [EXP], runs: [r] });
  const n = e.children[0];
  assert.equal(n.description, 'step 0/500');
  assert.match(n.tooltip!, /val loss 5\.068/);
  assert.match(n.tooltip!, /error: loss is NaN at step 3/);
  assert.match(n.tooltip!, /from the checkpoint at step 2/);
});

test('runs of no experiment file in the workspace (CLI elsewhere, deleted file, none) go under "Other runs"', () => {
  const runs = [entry({ id: 'a', experiment_file: '/elsewhere/x.lora.json' }), entry({ id: 'b', experiment_file: null }), entry({ id: 'c' })];
  const tree = buildTree({ experiments: [EXP], runs });
  assert.deepEqual(tree.map((n) => n.label), ['exp.lora.json', 'Other runs']);
  assert.equal(tree[1].contextValue, 'runs-group');
  assert.deepEqual(tree[1].children.map((n) => n.label).sort(), ['a', 'b']);
  assert.deepEqual(tree[0].children.map((n) => n.label), ['c']);
});

test('experiment paths match case-insensitively on win32 and darwin only', () => {
  const run = entry({ id: 'a', experiment_file: '/WS/EXP.lora.json' });
  assert.equal(buildTree({ experiments: [EXP], runs: [run], platform: 'darwin' })[0].children.length, 1);
  assert.equal(buildTree({ experiments: [EXP], runs: [run], platform: 'linux' })[0].children.length, 0);
});

test('a start that failed before training (config not recorded) offers no Resume: its tooltip says Start Run tries again', () => {
  const failedStart = entry({ id: 'exp-20260101-100000', status: 'failed', step: 0, train_loss: null, error: 'data/train.jsonl: file not found', config_recorded: false });
  const failedLater = entry({ id: 'exp-20260101-090000', status: 'failed', step: 3, error: 'loss is NaN at step 3' });
  const [e] = buildTree({ experiments: [EXP], runs: [failedStart, failedLater] });
  const [start, later] = e.children;
  assert.equal(start.contextValue, 'run-failed');
  assert.equal(start.description, 'failed before training started', 'not "step 0/0"');
  assert.ok(CONTEXT_VALUES.includes('run-failed'));
  // The Resume menu items match /^run-.*-resumable$/: not this one, still the other failed run.
  assert.ok(!/^run-.*-resumable$/.test(start.contextValue));
  assert.equal(later.contextValue, 'run-failed-resumable');
  assert.match(start.tooltip!, /failed before training started.*Start Run on its experiment tries again/);
  assert.doesNotMatch(start.tooltip!, /Resume Run/);
  assert.equal(canResume(failedStart), false);
  assert.equal(canResume(failedLater), true);
});
