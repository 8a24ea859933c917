// What a command acts on: its target, else the active dashboard / editor, else a quick-pick.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NoTargetError, type PickItem, type TargetContext, resolveExperiment, resolveRun } from '../../src/extension/targets';
import type { RunEntry } from '../../src/extension/runs/watcher';
import { entry } from './helpers';

const EXP = '/ws/exp.lora.json';
const OTHER = '/ws/sub/other.lora.json';

interface Fake extends TargetContext {
  picks: { items: PickItem<unknown>[]; placeHolder: string }[];
}

function ctx(o: { active?: string; dashboard?: string; runs?: RunEntry[]; experiments?: string[]; choose?: (items: PickItem<unknown>[]) => unknown } = {}): Fake {
  const picks: Fake['picks'] = [];
  return {
    picks,
    activeFile: () => o.active,
    activeDashboardRun: () => o.dashboard,
    experiments: () => (o.experiments ?? [EXP, OTHER]).map((file) => ({ file, workspaceFolder: '/ws' })),
    runs: () => o.runs ?? [],
    pick: async <T>(items: PickItem<T>[], placeHolder: string) => {
      picks.push({ items: items as PickItem<unknown>[], placeHolder });
      return (o.choose ? o.choose(items as PickItem<unknown>[]) : undefined) as T | undefined;
    },
  };
}

const running = entry({ id: 'exp-2', status: 'running', created_at: '2026-01-02T00:00:00Z' });
const stopped = entry({ id: 'exp-1', status: 'stopped', created_at: '2026-01-01T00:00:00Z' });
const otherRunning = entry({ id: 'other-1', status: 'running', experiment_file: OTHER, created_at: '2026-01-03T00:00:00Z' });
const RUNS = [otherRunning, running, stopped];
const isRunning = { accept: (r: RunEntry) => r.status === 'running', what: 'running run' };

test('experiment: the target, else the active editor, else a pick; none to pick is a NoTargetError', async () => {
  assert.equal(await resolveExperiment({ kind: 'experiment', file: OTHER }, ctx({ active: EXP })), OTHER);
  const c1 = ctx({ active: EXP });
  assert.equal(await resolveExperiment(undefined, c1), EXP);
  assert.equal(c1.picks.length, 0, 'no question asked');
  const c2 = ctx({ active: '/ws/readme.md', choose: (items) => items[1].value });
  assert.equal(await resolveExperiment(undefined, c2), OTHER);
  assert.deepEqual(c2.picks[0].items.map((i) => [i.label, i.description]), [['exp.lora.json', ''], ['other.lora.json', 'sub']]);
  assert.equal(await resolveExperiment(undefined, ctx()), undefined, 'pick dismissed');
  await assert.rejects(resolveExperiment(undefined, ctx({ experiments: [] })), NoTargetError);
  // from a run: its experiment file
  assert.equal(await resolveExperiment({ kind: 'run', runDir: running.run_dir }, ctx({ runs: RUNS })), EXP);
});

test('run: a run or checkpoint target is that run, whatever the editor shows', async () => {
  const c = ctx({ runs: RUNS, active: OTHER });
  assert.equal(await resolveRun({ kind: 'run', runDir: stopped.run_dir }, c, isRunning), stopped);
  assert.equal(await resolveRun({ kind: 'checkpoint', runDir: running.run_dir, dir: '/x', step: 2 }, c, isRunning), running);
  await assert.rejects(resolveRun({ kind: 'run', runDir: '/gone' }, c, isRunning), /no such run/);
});

test('run from the palette: the active dashboard, the run folder of the active file, the active experiment', async () => {
  const c1 = ctx({ runs: RUNS, dashboard: running.run_dir, active: OTHER });
  assert.equal(await resolveRun(undefined, c1, isRunning), running);
  const c2 = ctx({ runs: RUNS, active: `${running.run_dir}/log.txt` });
  assert.equal(await resolveRun(undefined, c2, isRunning), running);
  const c3 = ctx({ runs: RUNS, active: OTHER });
  assert.equal(await resolveRun(undefined, c3, isRunning), otherRunning);
  assert.equal([c1, c2, c3].reduce((n, c) => n + c.picks.length, 0), 0, 'no question asked');
  // the dashboard's run does not qualify (stopped): fall through to the editor
  const c4 = ctx({ runs: RUNS, dashboard: stopped.run_dir, active: EXP });
  assert.equal(await resolveRun(undefined, c4, isRunning), running);
});

test('run from the palette without an editor: a pick among the qualifying runs; none is a NoTargetError', async () => {
  const c = ctx({ runs: RUNS, choose: (items) => items[0].value });
  assert.equal(await resolveRun(undefined, c, isRunning), otherRunning);
  assert.deepEqual(c.picks[0].items.map((i) => i.label), ['other-1', 'exp-2']);
  assert.equal(c.picks[0].items[1].description, 'running · step 120/120 · loss 3.217');
  await assert.rejects(resolveRun(undefined, ctx({ runs: [stopped] }), isRunning), (e: Error) => e instanceof NoTargetError && /no running run/.test(e.message));
  assert.equal(await resolveRun(undefined, ctx({ runs: RUNS }), isRunning), undefined, 'pick dismissed');
});

test('run of an experiment: one qualifying run is taken, several are asked (or the newest), none is an error', async () => {
  const two = [entry({ id: 'b', status: 'stopped', created_at: '2026-01-02T00:00:00Z' }), entry({ id: 'a', status: 'crashed', created_at: '2026-01-01T00:00:00Z' })];
  const resumable = { accept: (r: RunEntry) => r.status === 'stopped' || r.status === 'crashed', what: 'resumable run' };
  const c = ctx({ runs: two, choose: (items) => items[1].value });
  assert.equal(await resolveRun({ kind: 'experiment', file: EXP }, c, resumable), two[1]);
  assert.match(c.picks[0].placeHolder, /exp\.lora\.json: which resumable run/);
  assert.equal(await resolveRun({ kind: 'experiment', file: EXP }, ctx({ runs: two }), { ...resumable, newest: true }), two[0]);
  await assert.rejects(resolveRun({ kind: 'experiment', file: OTHER }, ctx({ runs: two }), resumable), /other\.lora\.json has no resumable run/);
  // the active experiment without qualifying runs: a pick among all of them
  const c2 = ctx({ runs: RUNS, active: EXP, choose: (items) => items[0].value });
  assert.equal(await resolveRun(undefined, c2, { accept: (r) => r.status === 'stopped', what: 'stopped run' }), stopped);
  const c3 = ctx({ runs: [otherRunning], active: EXP, choose: (items) => items[0].value });
  assert.equal(await resolveRun(undefined, c3, isRunning), otherRunning);
  assert.equal(c3.picks.length, 1);
});

test('Stop Run from the palette with exactly one running run in the workspace takes it without asking (issue 14)', async () => {
  const stopQuery = { ...isRunning, single: true };
  const c = ctx({ runs: [stopped, running] });
  assert.equal(await resolveRun(undefined, c, stopQuery), running);
  assert.equal(c.picks.length, 0, 'no question asked');
  // Two running runs: still asked; without `single` (Resume, Delete) one run is still confirmed by a pick.
  const c2 = ctx({ runs: RUNS });
  assert.equal(await resolveRun(undefined, c2, stopQuery), undefined);
  assert.equal(c2.picks.length, 1);
  const c3 = ctx({ runs: [stopped, running] });
  await resolveRun(undefined, c3, isRunning);
  assert.equal(c3.picks.length, 1);
});
