// One naming scheme for runs (issue 14, polish): under its experiment a run is its start time;
// elsewhere (Adapters view, Compare, notifications) "<experiment> · <start time>". Expected
// strings are written out by hand from the id's -YYYYMMDD-HHMMSS[-k] suffix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dateTimeLabel, runLabel, runTimeLabel } from '../../src/protocol/run-label';
import { buildAdapterTree } from '../../src/extension/adapters/model';
import { jobName as notificationName } from '../../src/extension/format';
import { buildTree } from '../../src/extension/experiments/model';
import { entry } from './helpers';

test('run labels: time under the experiment, "name · time" elsewhere, the id when it carries no time', () => {
  assert.equal(runTimeLabel('tiny-20261206-233911'), '2026-12-06 23:39:11');
  assert.equal(runTimeLabel('tiny-20261206-233911-2'), '2026-12-06 23:39:11 #2');
  assert.equal(runLabel({ id: 'tiny-20261206-233911', name: 'tiny' }), 'tiny · 2026-12-06 23:39:11');
  assert.equal(runLabel({ id: 'renamed-folder', name: 'tiny' }), 'renamed-folder');
  assert.equal(notificationName({ runId: 'tiny-20261206-233911', label: 'tiny' }), 'tiny · 2026-12-06 23:39:11');
  assert.equal(notificationName({ runId: null, label: 'tiny' }), 'tiny');
});

test('dateTimeLabel: a timestamp in the run-label scheme, local time (not the locale\'s 11/29/2026, 10:15:00 AM); unparsable text unchanged', () => {
  // Built from local fields, so the expectation holds in every time zone.
  assert.equal(dateTimeLabel(new Date(2026, 10, 29, 10, 15, 0).toISOString()), '2026-11-29 10:15:00');
  assert.equal(dateTimeLabel(new Date(2027, 0, 2, 3, 4, 5).toISOString()), '2027-01-02 03:04:05');
  // The same moment as a run id's suffix reads the same as runTimeLabel.
  assert.equal(dateTimeLabel(new Date(2026, 11, 6, 23, 39, 11).toISOString()), runTimeLabel('tiny-20261206-233911'));
  assert.equal(dateTimeLabel('not a date'), 'not a date');
});

test('the Adapters view and the "Other runs" group name a run "name · time"; under its experiment only the time', () => {
  const run = { id: 'tiny-20261206-233911', name: 'tiny', run_dir: '/ws/.loralab/runs/tiny-20261206-233911', status: 'completed' as const };
  const final = { kind: 'final' as const, path: `${run.run_dir}/adapter`, run, step: 10, val_loss: null, val_step: null, base_model: '/m', r: 8, lora_alpha: 16, problem: null };
  const tree = buildAdapterTree({ runAdapters: [final], imported: [], active: null });
  assert.deepEqual(tree.map((n) => n.label), ['Base model', 'tiny · 2026-12-06 23:39:11']);
  const mine = entry({ id: 'tiny-20261206-233911', name: 'tiny', experiment_file: '/ws/tiny.lora.json' });
  const other = entry({ id: 'gone-20261205-080000', name: 'gone', experiment_file: '/elsewhere/gone.lora.json' });
  const [exp, others] = buildTree({ experiments: [{ file: '/ws/tiny.lora.json', workspaceFolder: '/ws' }], runs: [mine, other] });
  assert.deepEqual(exp.children.map((n) => n.label), ['2026-12-06 23:39:11']);
  assert.deepEqual(others.children.map((n) => n.label), ['gone · 2026-12-05 08:00:00']);
});
