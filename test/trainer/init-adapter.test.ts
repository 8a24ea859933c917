// StartArgs.initAdapter / TrainRequest.initAdapter ("Continue Training From Here" on a checkpoint):
// a new run from the experiment file whose LoRA weights start from the given folder instead of
// the experiment's init_adapter (null here). Checked against the golden PEFT adapter's own files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runTraining } from '../../src/trainer/run';
import { readPeftAdapter } from '../../src/engine/weights/peft';
import { makeExperiment } from '../helpers/experiment';
import { SHARED } from '../helpers/paths';

const GOLDEN = `${SHARED}/golden/adapters/stories260K_r4_a8`;

test('initAdapter overrides the experiment: the run starts from that adapter (lr 0 at step 1 keeps it) and records it as init_adapter', async () => {
  const exp = makeExperiment({ lora: { r: 2, lora_alpha: 4 }, training: { max_steps: 1, warmup_steps: 5, eval_steps: 100, save_steps: 100 } });
  const out = await runTraining({ experimentFile: exp.file, runsDir: exp.runsDir, threads: 1, initAdapter: GOLDEN });
  assert.equal(out.status, 'completed', out.error);
  const saved = await readPeftAdapter(out.adapterDir!);
  const start = await readPeftAdapter(GOLDEN);
  assert.equal(saved.config.r, 4, "the init adapter's rank, not the experiment's r 2");
  for (const [m, w] of start.modules) {
    assert.deepEqual(Array.from(saved.modules.get(m)!.A.data as Float32Array), Array.from(w.A.data as Float32Array), m);
    assert.deepEqual(Array.from(saved.modules.get(m)!.B.data as Float32Array), Array.from(w.B.data as Float32Array), m);
  }
  const runJson = JSON.parse(readFileSync(join(out.runDir, 'run.json'), 'utf8')) as { config: { init_adapter: string | null } };
  assert.equal(runJson.config.init_adapter, resolve(GOLDEN));
  // The experiment file itself is untouched.
  assert.ok(!readFileSync(exp.file, 'utf8').includes('stories260K_r4_a8'));
});

test('initAdapter with resume is refused in one line naming both', async () => {
  await assert.rejects(runTraining({ resume: '/tmp/some-run', initAdapter: GOLDEN }), (e: Error) => {
    assert.match(e.message, /^\/tmp\/some-run: a resumed run continues from its own checkpoint; an init adapter \(.*stories260K_r4_a8\) starts a new run/);
    assert.ok(!e.message.includes('\n'));
    return true;
  });
});
