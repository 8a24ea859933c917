// How the Test Explorer names a variant: as the Adapters view does (experiment · start time),
// derived from the adapter's path alone; expectations written out by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { variantLabel } from '../../src/extension/evaluation/report';

test('variantLabel: base model, a run\'s final adapter, a checkpoint, a k-th run of a second, other folders', () => {
  assert.equal(variantLabel(null), 'base model');
  assert.equal(variantLabel('/ws/.loralab/runs/bedtime-stories-20261207-025954/adapter'), 'bedtime-stories · 2026-12-07 02:59:54 (final)');
  assert.equal(variantLabel('/ws/.loralab/runs/tiny-20261206-235707/checkpoints/step-40'), 'step-40 · tiny · 2026-12-06 23:57:07');
  assert.equal(variantLabel('C:\\ws\\runs\\tiny-20261206-235707-2\\adapter'), 'tiny · 2026-12-06 23:57:07 #2 (final)');
  assert.equal(variantLabel('/ws/.loralab/runs/r1/adapter'), 'r1/adapter', 'a renamed run folder keeps its path parts');
  assert.equal(variantLabel('/home/ada/adapters/shakespeare-lora/'), 'adapters/shakespeare-lora');
});
