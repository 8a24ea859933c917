// Crash edges of a run (issue 14, items 8–12): a kill after the final checkpoint, damaged and
// NaN checkpoints, a full disk, bitwise resume, and refused settings. The states a kill or a
// full disk leaves are built directly (run.json edited, files removed or damaged, a write that
// throws ENOSPC injected through runTraining's deps), then checked against the files on disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runTraining } from '../../src/trainer/run';
import { describeKeptCheckpoint, writeCheckpointFiles } from '../../src/trainer/checkpoint';
import { readMetrics } from '../../src/runs/index';
import { readPeftAdapter, writePeftAdapter } from '../../src/engine/weights/peft';
import { SafetensorsFile } from '../../src/engine/weights/safetensors';
import { makeExperiment } from '../helpers/experiment';
import { runCli } from '../helpers/cli';
import { deadPid } from '../runs/helpers';

const quiet = { eval_steps: 100, save_steps: 2 };

/** A run of `max` steps stopped (with a checkpoint) after step `at`; checkpoints every 2 steps. */
async function stoppedRun(at: number, max = 6) {
  const exp = makeExperiment({ training: { max_steps: max, ...quiet } });
  const stop = { requested: false };
  const out = await runTraining({ experimentFile: exp.file, runsDir: exp.runsDir, threads: 1 }, { onStep: (s) => { if (s === at) stop.requested = true; } }, stop);
  assert.equal(out.status, at < max ? 'stopped' : 'completed', out.error);
  return { exp, runDir: out.runDir };
}

/** Rewrites run.json as a killed trainer leaves it: status running, a pid that is gone. */
async function markKilled(runDir: string): Promise<void> {
  const file = join(runDir, 'run.json');
  const json = JSON.parse(readFileSync(file, 'utf8'));
  Object.assign(json, { status: 'running', pid: await deadPid(), finished_at: null });
  writeFileSync(file, JSON.stringify(json, null, 2));
}

const runJson = (runDir: string) => JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8'));
const bytes = (p: string) => readFileSync(p);

test('a kill after the final checkpoint, before adapter/ was written: resume writes the adapter and completes', async () => {
  const { runDir } = await stoppedRun(4, 4); // completed; checkpoints 2 and 4
  rmSync(join(runDir, 'adapter'), { recursive: true });
  await markKilled(runDir);
  const out = await runTraining({ resume: runDir, threads: 1 });
  assert.equal(out.status, 'completed', out.error);
  assert.equal(out.step, 4);
  assert.equal(runJson(runDir).status, 'completed');
  // The final adapter is the step-4 checkpoint's adapter, byte for byte.
  const ck = join(runDir, 'checkpoints', 'step-4');
  assert.deepEqual(bytes(join(runDir, 'adapter', 'adapter_model.safetensors')), bytes(join(ck, 'adapter_model.safetensors')));
  assert.deepEqual(JSON.parse(bytes(join(runDir, 'adapter', 'adapter_config.json')).toString()), JSON.parse(bytes(join(ck, 'adapter_config.json')).toString()));
});

test('damaged checkpoints: resume falls back to the newest good one and says so; --checkpoint picks one; garbage trainer_state.json is one line, exit 2', async () => {
  const { runDir } = await stoppedRun(4); // checkpoints 2 and 4 of 6
  const ck4 = join(runDir, 'checkpoints', 'step-4');
  // step-4's weights hold NaN (as a writer without the finiteness guard could have left them).
  const ad = await readPeftAdapter(ck4);
  const m = ad.modules.get('model.layers.1.mlp.up_proj')!;
  (m.A.data as Float32Array)[3] = NaN;
  await writePeftAdapter(ck4, ad.config, ad.modules);
  // A failure message never calls the NaN checkpoint good.
  const kept = await describeKeptCheckpoint(runDir);
  assert.equal(kept.step, 2);
  assert.match(kept.text, /last good checkpoint \(step 2\)/);

  const logs: string[] = [];
  const starts: (number | null)[] = [];
  const out = await runTraining({ resume: runDir, threads: 1 }, { onLog: (l) => logs.push(l), onRun: (r) => starts.push(r.resumedFromStep) });
  assert.equal(out.status, 'completed', out.error);
  assert.deepEqual(starts, [2]);
  const note = logs.find((l) => l.includes('step-4 cannot be resumed from'));
  assert.ok(note, logs.join('\n'));
  assert.match(note!, /^warning: checkpoint step-4 cannot be resumed from \(.*adapter_model\.safetensors: "base_model\.model\.model\.layers\.1\.mlp\.up_proj\.lora_A\.weight" holds NaN at index 3; .*\); using step-2 instead$/);
  assert.match(readFileSync(join(runDir, 'log.txt'), 'utf8'), /checkpoint step-4 cannot be resumed from/);

  // --checkpoint names one: a garbage trainer_state.json there is one whole line naming the file, exit 2.
  await markKilled(runDir);
  const stateFile = join(runDir, 'checkpoints', 'step-4', 'trainer_state.json');
  writeFileSync(stateFile, '{"step": 4,\n  "data": {"epoch": 0, garbage\n  more lines\n}');
  const r = await runCli(['train', '--resume', runDir, '--checkpoint', 'step-4', '--max-steps', '8', '--threads', '1']);
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^loralab: error: .*step-4\/trainer_state\.json: .*line 2.*; the checkpoint is damaged; resume from an earlier one with --checkpoint step-N$/);
  // An unknown checkpoint is refused with the list of real ones.
  await assert.rejects(runTraining({ resume: runDir, checkpoint: 'step-3' }), /--checkpoint step-3 is not a checkpoint of this run; its checkpoints are step-2, step-4, step-6/);
  // --checkpoint step-2 resumes from step 2 although newer checkpoints exist.
  const again: (number | null)[] = [];
  const o2 = await runTraining({ resume: runDir, checkpoint: 'step-2', maxSteps: 8, threads: 1 }, { onRun: (x) => again.push(x.resumedFromStep) });
  assert.equal(o2.status, 'completed', o2.error);
  assert.deepEqual(again, [2]);
});

test('disk full while writing a checkpoint: the error names the folder and what to do, the run ends failed and resumes', async () => {
  const exp = makeExperiment({ training: { max_steps: 6, ...quiet } });
  const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
  let calls = 0;
  const failing: typeof writeCheckpointFiles = async (dir, ...rest) => {
    calls++;
    if (calls === 1) {
      writeFileSync(join(dir, 'adapter_model.safetensors'), 'partial'); // a half-written file, then the disk is full
      throw enospc();
    }
    return writeCheckpointFiles(dir, ...rest);
  };
  const out = await runTraining({ experimentFile: exp.file, runsDir: exp.runsDir, threads: 1 }, {}, { requested: false }, { writeCheckpointFiles: failing });
  assert.equal(out.status, 'failed');
  assert.equal(out.step, 2);
  assert.equal(out.checkpointStep, null, 'no checkpoint was written');
  assert.match(out.error!, /checkpoints\/step-2: writing checkpoint step 2 failed: no space left on device; free disk space .*then resume with: loralab train --resume .* \(no checkpoint was written, so it starts over from step 0\)$/);
  assert.doesNotMatch(out.error!, /is kept/);
  const json = runJson(out.runDir);
  assert.equal(json.status, 'failed');
  assert.equal(json.error, out.error);
  // Nothing half-written is left where a reader would take it for a checkpoint.
  assert.deepEqual(readdirSync(join(out.runDir, 'checkpoints')), []);
  // The CLI's closing line does not claim a kept checkpoint either (see src/cli/train.ts); resume works.
  const done = await runTraining({ resume: out.runDir, threads: 1 });
  assert.equal(done.status, 'completed', done.error);
  assert.ok(existsSync(join(out.runDir, 'adapter', 'adapter_model.safetensors')));

  // A later failure (after step-2 exists) says the resume continues from it.
  const exp2 = makeExperiment({ training: { max_steps: 6, ...quiet } });
  let n = 0;
  const failSecond: typeof writeCheckpointFiles = async (dir, ...rest) => {
    if (++n === 2) throw enospc();
    return writeCheckpointFiles(dir, ...rest);
  };
  const out2 = await runTraining({ experimentFile: exp2.file, runsDir: exp2.runsDir, threads: 1 }, {}, { requested: false }, { writeCheckpointFiles: failSecond });
  assert.equal(out2.status, 'failed');
  assert.equal(out2.checkpointStep, 2);
  assert.match(out2.error!, /step-4: writing checkpoint step 4 failed: no space left on device.*\(it continues from checkpoint step 2\)$/);
});

test('resume is bitwise equal to an uninterrupted run at a fixed thread count (2 threads; clipping, decay, accumulation, cosine, epochs)', async () => {
  // Every state a step reads is restored exactly: LoRA weights and Adam moments as float32, the
  // update count, the data order and position (across epoch boundaries), and the parameter order
  // in which the optimizer sums the gradient norm (graph order, as in a fresh run). So train_loss,
  // grad_norm and the final adapter are equal bit for bit, not only within a tolerance.
  const spec = {
    trainBytes: [0, 3000] as [number, number],
    validationBytes: [-3000, 0] as [number, number],
    data: { max_seq_length: 32 },
    training: { max_steps: 12, save_steps: 100, eval_steps: 4, gradient_accumulation_steps: 2, weight_decay: 0.1, max_grad_norm: 0.05, lr_scheduler_type: 'cosine' },
  };
  const a = makeExperiment(spec);
  const full = await runTraining({ experimentFile: a.file, runsDir: a.runsDir, threads: 2 });
  assert.equal(full.status, 'completed', full.error);
  const b = makeExperiment(spec);
  const stop = { requested: false };
  const first = await runTraining({ experimentFile: b.file, runsDir: b.runsDir, threads: 2 }, { onStep: (s) => { if (s === 3) stop.requested = true; } }, stop);
  assert.equal(first.status, 'stopped');
  const second = await runTraining({ resume: first.runDir, threads: 2 });
  assert.equal(second.status, 'completed', second.error);
  const pick = (rows: Awaited<ReturnType<typeof readMetrics>>) => rows.filter((r) => r.train_loss !== undefined).map((r) => [r.step, r.train_loss, r.grad_norm, r.lr]);
  assert.deepEqual(pick(await readMetrics(first.runDir)), pick(await readMetrics(full.runDir)));
  const fa = SafetensorsFile.openSync(join(full.adapterDir!, 'adapter_model.safetensors'));
  const fb = SafetensorsFile.openSync(join(second.adapterDir!, 'adapter_model.safetensors'));
  assert.deepEqual(fb.names(), fa.names());
  for (const name of fa.names()) assert.deepEqual(fb.readSync(name).data, fa.readSync(name).data, name);
});

test('input bounds: max_steps 1e20 and learning_rate 1e6 are refused with a reason; --threads above the cores is a warning', async () => {
  const huge = makeExperiment({ training: { max_steps: 1e20 } });
  await assert.rejects(runTraining({ experimentFile: huge.file, runsDir: huge.runsDir }), /exp\.lora\.json: training\.max_steps 100000000000000000000 is more than 1e\+9; so many steps would take years/);
  const hot = makeExperiment({ training: { learning_rate: 1e6 } });
  await assert.rejects(runTraining({ experimentFile: hot.file, runsDir: hot.runsDir }), /exp\.lora\.json: training\.learning_rate 1000000 is above 1; AdamW moves every weight by about the learning rate per step/);
  const cli = await runCli(['train', hot.file, '--runs-dir', hot.runsDir]);
  assert.equal(cli.code, 2);
  assert.equal(cli.stderr.trim().split('\n').length, 1, cli.stderr);
  const ok = makeExperiment({ training: { max_steps: 1, eval_steps: 100, save_steps: 100 } });
  const logs: string[] = [];
  const out = await runTraining({ experimentFile: ok.file, runsDir: ok.runsDir, threads: 512 }, { onLog: (l) => logs.push(l) });
  assert.equal(out.status, 'completed', out.error);
  assert.ok(logs.some((l) => /^warning: --threads 512 is more than this machine's \d+ cores/.test(l)), logs.join('\n'));
});
