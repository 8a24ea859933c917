// Checkpoint rows of the Experiments tree: validation loss and the best one marked
// (`withCheckpointValidation` fed by the adapter catalog, as tree.ts does), and the start
// arguments of "Continue Training From Here".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { AdapterCatalog } from '../../src/extension/adapters/catalog';
import { continueFromCheckpointArgs, runNode, withCheckpointValidation } from '../../src/extension/experiments/model';
import { entry, makeRun, tempDir } from './helpers';

test('checkpoints show the validation loss logged at or before their step; the lowest is marked best', async (t) => {
  const dir = await tempDir(t);
  const run = await makeRun(join(dir, 'runs'), { maxSteps: 40 });
  // Evaluations at 10, 20, 30; checkpoints at 10, 20, 25, 40. Step 25's loss is step 20's (2.25),
  // step 40's is step 30's (2.5). The lowest, 2.25, is shared by 20 and 25: the earlier is best.
  for (const [step, val] of [[10, 3], [20, 2.25], [30, 2.5]] as const) await run.appendMetrics({ step, time: step, train_loss: 3, val_loss: val });
  await run.appendMetrics({ step: 40, time: 40, train_loss: 1 });
  const ck = (s: number) => ({ step: s, dir: join(run.dir, 'checkpoints', `step-${s}`) });
  const e = entry({ id: 'r', run_dir: run.dir, checkpoints: [ck(10), ck(20), ck(25), ck(40)] });
  const adapters = await new AdapterCatalog().runAdapters([e]);
  const nodes = withCheckpointValidation(runNode(e).children, new Map(adapters.filter((a) => a.kind === 'checkpoint').map((a) => [a.path, a])));
  assert.deepEqual(
    nodes.map((n) => [n.label, n.description, n.icon.id]),
    [
      ['step-10', 'val loss 3.000', 'save'],
      ['step-20', 'val loss 2.250 · best', 'star-full'],
      ['step-25', 'val loss 2.250 (at step 20)', 'save'],
      ['step-40', 'val loss 2.500 (at step 30)', 'save'],
    ],
  );
  assert.match(nodes[1].ariaLabel, /, best$/);
});

test('a run without validation keeps its checkpoint rows unchanged (no best)', () => {
  const e = entry({ id: 'r', checkpoints: [{ step: 5, dir: '/r/checkpoints/step-5' }] });
  const before = runNode(e).children;
  assert.deepEqual(withCheckpointValidation(before, new Map([['/r/checkpoints/step-5', { val_loss: null, val_step: null }]])), before);
});

test('Continue Training From Here: a new run of the experiment file with the checkpoint as initAdapter; none without a file', () => {
  const e = entry({ id: 'r', experiment_file: '/ws/exp.lora.json' });
  assert.deepEqual(continueFromCheckpointArgs(e, { dir: '/ws/.loralab/runs/r/checkpoints/step-20' }, '/ws/.loralab/runs'), {
    experimentFile: '/ws/exp.lora.json',
    runsDir: '/ws/.loralab/runs',
    initAdapter: '/ws/.loralab/runs/r/checkpoints/step-20',
  });
  assert.equal(continueFromCheckpointArgs(entry({ id: 'r', experiment_file: null }), { dir: '/x' }, '/ws'), null);
});
