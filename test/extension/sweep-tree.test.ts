// Sweeps in the Experiments view: the runs of a sweep folder grouped under one node, the best
// (lowest final validation loss among completed runs, picked by hand below) marked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONTEXT_VALUES, buildTree } from '../../src/extension/experiments/model';
import { entry } from './helpers';

const EXP = { file: '/ws/exp.lora.json', workspaceFolder: '/ws' };

test('a sweep folder groups its runs; the completed run with the lowest val_loss is marked best', () => {
  const sweep = '/ws/.loralab/runs/exp-sweep-20260101-100000';
  const mk = (i: number, o: Partial<Parameters<typeof entry>[0]>) => entry({ run_dir: `${sweep}/exp-0${i}`, created_at: `2026-01-01T10:00:0${i}Z`, status: 'completed', ...o, id: `exp-0${i}` });
  const runs = [
    mk(0, { val_loss: 2.5 }),
    mk(1, { val_loss: 2.1 }), // best
    mk(2, { val_loss: 1.9, status: 'failed' }), // lower, but failed: not best
    mk(3, { val_loss: null, train_loss: 2.3 }),
    entry({ id: 'exp-20260102-090000', created_at: '2026-01-02T09:00:00Z' }), // a plain run beside the sweep
  ];
  const [exp] = buildTree({ experiments: [EXP], runs });
  // A run under its experiment is labelled by its start time (issue 14, item 3).
  assert.deepEqual(exp.children.map((n) => n.label), ['2026-01-02 09:00:00', 'exp-sweep-20260101-100000']);
  const node = exp.children[1];
  assert.equal(node.contextValue, 'sweep');
  assert.ok(CONTEXT_VALUES.includes('sweep'));
  assert.equal(node.path, sweep);
  assert.equal(node.description, '3/4 completed · best 2.100');
  assert.deepEqual(node.children.map((n) => n.label), ['exp-03', 'exp-02', 'exp-01', 'exp-00']);
  const best = node.children.filter((n) => n.description?.startsWith('★ best'));
  assert.deepEqual(best.map((n) => n.label), ['exp-01']);
});
