// The completion notification's text (src/extension/training/reports.ts): it quotes the final
// validation loss read from the run's metrics.jsonl, not the last train loss. The module imports
// `vscode`, resolved to test/extension/vscode-stub.ts by a module hook.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { register } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeRun, tempDir } from './helpers';

const stubUrl = pathToFileURL(join(import.meta.dirname, 'vscode-stub.ts')).href;
register(`data:text/javascript,${encodeURIComponent(`export async function resolve(s, c, n) { return s === 'vscode' ? { url: ${JSON.stringify(stubUrl)}, shortCircuit: true } : n(s, c); }`)}`);
await import('./vscode-stub');
const { completedMessage, finalValidation } = await import('../../src/extension/training/reports');

test('finalValidation: the last val_loss on the current history (a resume drops the rewound rows), null without one', async (t) => {
  const dir = await tempDir(t);
  const run = await makeRun(join(dir, 'runs'), { maxSteps: 30 });
  assert.equal(await finalValidation(run.dir), null, 'no metrics yet');
  await run.appendMetrics({ step: 10, time: 1, train_loss: 2.9, val_loss: 2.5 });
  await run.appendMetrics({ step: 20, time: 2, train_loss: 2.4, val_loss: 2.25 });
  // Resumed from the checkpoint at step 10: step 20 is logged again with another val_loss.
  await run.appendMetrics({ step: 20, time: 3, train_loss: 2.45, val_loss: 2.375 });
  await run.appendMetrics({ step: 25, time: 4, train_loss: 1.5 });
  assert.deepEqual(await finalValidation(run.dir), { step: 20, val_loss: 2.375 });
  assert.equal(await finalValidation(join(dir, 'nowhere')), null);
});

test('completedMessage quotes the validation loss (with its step when not the last), else a labelled train loss', () => {
  assert.equal(completedMessage('tiny', 30, { step: 30, val_loss: 2.375 }, 1.5), 'LoRA Lab: tiny completed (30 steps, validation loss 2.375).');
  assert.equal(completedMessage('tiny', 30, { step: 20, val_loss: 2.375 }, 1.5), 'LoRA Lab: tiny completed (30 steps, validation loss 2.375 at step 20).');
  assert.equal(completedMessage('tiny', 30, null, 1.5), 'LoRA Lab: tiny completed (30 steps, train loss 1.500; no validation set).');
  assert.equal(completedMessage('tiny', 30, null, null), 'LoRA Lab: tiny completed (30 steps).');
});
