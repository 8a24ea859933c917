// Training end to end on the real stories260K model (in-process runTraining).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { runTraining } from '../../src/trainer/run';
import { readMetrics } from '../../src/runs/index';
import { CausalLM } from '../../src/engine/infer/causal-lm';
import { scoreTokens } from '../../src/engine/infer/score';
import { loadTokenizer } from '../../src/engine/tokenizer/index';
import { readPeftAdapter, writePeftAdapter } from '../../src/engine/weights/peft';
import { SafetensorsFile } from '../../src/engine/weights/safetensors';
import { MODEL, makeExperiment } from '../helpers/experiment';
import { SHARED } from '../helpers/paths';

test('tinyshakespeare: validation loss drops to ≤ 0.70 of its start; the adapter scores the validation text better than the base', async () => {
  // The reference setup: first 300,000 bytes / last 30,000, documents at blank lines,
  // max_seq_length 128, r 8, lora_alpha 32, all linear, lr 2e-3 constant after 5 warmup steps,
  // batch 8, 120 steps, CPU. A PyTorch reference went 5.16 → 3.17 (ratio 0.61).
  const exp = makeExperiment({
    trainBytes: [0, 300_000],
    validationBytes: [-30_000, 0],
    data: { max_seq_length: 128 },
    lora: { r: 8, lora_alpha: 32 },
    training: { learning_rate: 2e-3, lr_scheduler_type: 'constant_with_warmup', warmup_steps: 5, max_steps: 120, per_device_train_batch_size: 8, eval_steps: 40, save_steps: 120 },
  });
  const out = await runTraining({ experimentFile: exp.file, runsDir: exp.runsDir, threads: 2 });
  assert.equal(out.status, 'completed', out.error);
  assert.equal(out.step, 120);
  const rows = await readMetrics(out.runDir);
  const vals = rows.filter((r) => r.val_loss !== undefined);
  assert.deepEqual(vals.map((r) => r.step), [0, 40, 80, 120]);
  const ratio = vals.at(-1)!.val_loss! / vals[0].val_loss!;
  process.stderr.write(`tinyshakespeare: val_loss ${vals[0].val_loss!.toFixed(3)} → ${vals.at(-1)!.val_loss!.toFixed(3)} (ratio ${ratio.toFixed(3)})\n`);
  assert.ok(vals[0].val_loss! > 4.5 && vals[0].val_loss! < 5.5, `step-0 val_loss ${vals[0].val_loss}`);
  assert.ok(ratio <= 0.7, `ratio ${ratio}`);
  assert.equal(rows.filter((r) => r.train_loss !== undefined).length, 120);

  // The saved adapter (PEFT folder) scores the validation text better than the base model.
  const text = readFileSync(join(exp.dir, 'val.txt'), 'utf8').slice(0, 4000);
  const ids = (await loadTokenizer(MODEL)).encode(text);
  const base = await CausalLM.load(MODEL, { outputs: { loss: true } });
  const adapter = await readPeftAdapter(out.adapterDir!);
  assert.equal(adapter.config.r, 8);
  assert.equal(adapter.modules.size, 35);
  const tuned = await CausalLM.load(MODEL, { adapter: { adapter, source: out.adapterDir! }, outputs: { loss: true } });
  const b = await scoreTokens(base, ids, 128);
  const t = await scoreTokens(tuned, ids, 128);
  assert.ok(t.mean_nll < b.mean_nll - 0.5, `adapter ${t.mean_nll} vs base ${b.mean_nll}`);
});

test('a run stopped at step k and resumed matches an uninterrupted run at every later step', async () => {
  const spec = { training: { max_steps: 16, save_steps: 100, eval_steps: 100 } };
  const a = makeExperiment(spec);
  const full = await runTraining({ experimentFile: a.file, runsDir: a.runsDir, threads: 1 });
  assert.equal(full.status, 'completed');
  const b = makeExperiment(spec);
  const stop = { requested: false };
  const first = await runTraining({ experimentFile: b.file, runsDir: b.runsDir, threads: 1 }, { onStep: (s) => { if (s === 7) stop.requested = true; } }, stop);
  assert.equal(first.status, 'stopped');
  assert.equal(first.step, 7);
  const second = await runTraining({ resume: first.runDir, threads: 1 });
  assert.equal(second.status, 'completed');
  assert.equal(second.runDir, first.runDir);
  const want = (await readMetrics(full.runDir)).filter((r) => r.train_loss !== undefined);
  const got = (await readMetrics(first.runDir)).filter((r) => r.train_loss !== undefined);
  assert.deepEqual(got.map((r) => r.step), want.map((r) => r.step));
  for (let i = 0; i < want.length; i++) {
    const rel = Math.abs(got[i].train_loss! - want[i].train_loss!) / want[i].train_loss!;
    assert.ok(rel <= 1e-6, `step ${want[i].step}: ${got[i].train_loss} vs ${want[i].train_loss}`);
    assert.ok(Math.abs(got[i].grad_norm! - want[i].grad_norm!) / want[i].grad_norm! <= 1e-5, `grad_norm at step ${want[i].step}`);
  }
  // The final adapters are the same numbers.
  const fa = SafetensorsFile.openSync(join(full.adapterDir!, 'adapter_model.safetensors'));
  const fb = SafetensorsFile.openSync(join(second.adapterDir!, 'adapter_model.safetensors'));
  for (const name of fa.names()) {
    const x = fa.readSync(name).data as Float32Array;
    const y = fb.readSync(name).data as Float32Array;
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i] - y[i]) <= 1e-6 * Math.max(1, Math.abs(x[i])), name);
  }
});

test('gradient accumulation: batch 4 × 2 accumulation steps trains like batch 8', async () => {
  const one = makeExperiment({ training: { max_steps: 4, per_device_train_batch_size: 8, gradient_accumulation_steps: 1, eval_steps: 100, save_steps: 100 } });
  const two = makeExperiment({ training: { max_steps: 4, per_device_train_batch_size: 4, gradient_accumulation_steps: 2, eval_steps: 100, save_steps: 100 } });
  const r1 = await runTraining({ experimentFile: one.file, runsDir: one.runsDir, threads: 1 });
  const r2 = await runTraining({ experimentFile: two.file, runsDir: two.runsDir, threads: 1 });
  const m1 = (await readMetrics(r1.runDir)).filter((r) => r.train_loss !== undefined);
  const m2 = (await readMetrics(r2.runDir)).filter((r) => r.train_loss !== undefined);
  assert.equal(m1.length, 4);
  for (let i = 0; i < 4; i++) {
    assert.ok(Math.abs(m1[i].train_loss! - m2[i].train_loss!) <= 1e-4, `step ${i + 1}: ${m1[i].train_loss} vs ${m2[i].train_loss}`);
    assert.ok(Math.abs(m1[i].grad_norm! - m2[i].grad_norm!) / m1[i].grad_norm! <= 1e-3, `grad_norm step ${i + 1}`);
    assert.equal(m1[i].tokens, m2[i].tokens);
  }
});

test('init_adapter continues from an existing PEFT adapter (lr 0 leaves it unchanged)', async () => {
  const golden = `${SHARED}/golden/adapters/stories260K_r4_a8`;
  const exp = makeExperiment({ extra: { init_adapter: golden }, training: { max_steps: 1, warmup_steps: 5, eval_steps: 100, save_steps: 100 } });
  const out = await runTraining({ experimentFile: exp.file, runsDir: exp.runsDir, threads: 1 });
  assert.equal(out.status, 'completed', out.error);
  const saved = await readPeftAdapter(out.adapterDir!);
  const start = await readPeftAdapter(golden);
  assert.equal(saved.config.r, 4);
  assert.equal(saved.config.lora_alpha, 8);
  for (const [m, w] of start.modules) {
    assert.deepEqual(Array.from(saved.modules.get(m)!.A.data as Float32Array), Array.from(w.A.data as Float32Array), m);
    assert.deepEqual(Array.from(saved.modules.get(m)!.B.data as Float32Array), Array.from(w.B.data as Float32Array), m);
  }
});

test('a NaN init_adapter is refused at load naming the tensor; a finite one that overflows stops the run at step 1', async () => {
  const golden = `${SHARED}/golden/adapters/stories260K_r4_a8`;
  const ad = await readPeftAdapter(golden);
  const dir = makeExperiment().dir;

  // A NaN in init_adapter is named before a run folder exists, not blamed on training.
  const broken = join(dir, 'nan-adapter');
  mkdirSync(broken);
  const q = ad.modules.get('model.layers.0.self_attn.q_proj')!;
  const saved = (q.B.data as Float32Array)[0];
  (q.B.data as Float32Array)[0] = NaN;
  await writePeftAdapter(broken, ad.config, ad.modules);
  const nanExp = makeExperiment({ extra: { init_adapter: broken }, training: { max_steps: 3, eval_steps: 100, save_steps: 100 } });
  await assert.rejects(runTraining({ experimentFile: nanExp.file, runsDir: nanExp.runsDir, threads: 1 }),
    (e: Error) => e.name === 'NonFiniteWeightsError' && /nan-adapter\/adapter_model\.safetensors: tensor "model\.layers\.0\.self_attn\.q_proj\.lora_B" holds NaN/.test(e.message));
  assert.equal(existsSync(nanExp.runsDir) ? readdirSync(nanExp.runsDir).length : 0, 0, 'no run folder');

  // Finite but huge weights (1e30 · 1e30 overflows float32's 3.4e38): the forward pass gives
  // a non-finite loss at step 1, which fails the run with the step-1 message.
  (q.B.data as Float32Array)[0] = saved;
  (q.A.data as Float32Array).fill(1e30);
  (q.B.data as Float32Array).fill(1e30);
  const huge = join(dir, 'huge-adapter');
  mkdirSync(huge);
  await writePeftAdapter(huge, ad.config, ad.modules);
  const exp = makeExperiment({ extra: { init_adapter: huge }, training: { max_steps: 3, eval_steps: 100, save_steps: 100 } });
  const out = await runTraining({ experimentFile: exp.file, runsDir: exp.runsDir, threads: 1 });
  assert.equal(out.status, 'failed');
  assert.match(out.error!, /^train loss is NaN at step 1, before any update, so the learning rate is not the cause/);
  const run = JSON.parse(readFileSync(join(out.runDir, 'run.json'), 'utf8'));
  assert.equal(run.status, 'failed');
  assert.match(run.error, /NaN/);
});

test('packing and prompt/completion data train (completion-only loss)', async () => {
  const exp = makeExperiment({ data: { packing: true }, training: { max_steps: 3, eval_steps: 100, save_steps: 100 } });
  const packed = await runTraining({ experimentFile: exp.file, runsDir: exp.runsDir, threads: 1 });
  assert.equal(packed.status, 'completed', packed.error);
  const rows = (await readMetrics(packed.runDir)).filter((r) => r.train_loss !== undefined);
  // Packed rows are full: 4 rows × up to 64 tokens each, so far more tokens per step than unpacked short documents.
  assert.ok(rows[0].tokens! > 200, `tokens ${rows[0].tokens}`);

  const pc = makeExperiment({ training: { max_steps: 3, eval_steps: 100, save_steps: 100 } });
  const lines = Array.from({ length: 40 }, (_, i) => JSON.stringify({ prompt: `Tom had ${i} red balls.`, completion: ` He gave one to Lily and she was happy.` }));
  writeFileSync(join(pc.dir, 'pairs.jsonl'), `${lines.join('\n')}\n`);
  const cfg = JSON.parse(readFileSync(pc.file, 'utf8').replace(/^\/\/.*\n/, ''));
  cfg.data.train = 'pairs.jsonl';
  writeFileSync(pc.file, JSON.stringify(cfg));
  const res = await runTraining({ experimentFile: pc.file, runsDir: pc.runsDir, threads: 1 });
  assert.equal(res.status, 'completed', res.error);
  const r = (await readMetrics(res.runDir)).filter((x) => x.train_loss !== undefined);
  assert.ok(r.every((x) => Number.isFinite(x.train_loss)));
  assert.ok(r[2].train_loss! < r[0].train_loss!, 'loss falls on a repeated completion');
});

test('lora_dropout > 0 trains (dropout on the LoRA input) and changes the trajectory', async () => {
  const plain = makeExperiment({ training: { max_steps: 4, eval_steps: 100, save_steps: 100 } });
  const drop = makeExperiment({ lora: { lora_dropout: 0.3 }, training: { max_steps: 4, eval_steps: 100, save_steps: 100 } });
  const a = await runTraining({ experimentFile: plain.file, runsDir: plain.runsDir, threads: 1 });
  const b = await runTraining({ experimentFile: drop.file, runsDir: drop.runsDir, threads: 1 });
  assert.equal(b.status, 'completed', b.error);
  const ma = (await readMetrics(a.runDir)).filter((r) => r.train_loss !== undefined);
  const mb = (await readMetrics(b.runDir)).filter((r) => r.train_loss !== undefined);
  assert.ok(mb.every((r) => Number.isFinite(r.train_loss)));
  // Step 1 (B = 0, lr 0) is identical; later steps differ because of the masks.
  assert.ok(Math.abs(ma[0].train_loss! - mb[0].train_loss!) < 1e-6);
  assert.ok(Math.abs(ma[3].train_loss! - mb[3].train_loss!) > 1e-6);
  const cfg = JSON.parse(readFileSync(join(b.adapterDir!, 'adapter_config.json'), 'utf8'));
  assert.equal(cfg.lora_dropout, 0.3);
});

test('setup guards: rank above the layer width, context overflow, a file as runs dir', async () => {
  const big = makeExperiment({ lora: { r: 100 }, training: { max_steps: 1 } });
  await assert.rejects(runTraining({ experimentFile: big.file, runsDir: big.runsDir }), /lora\.r 100 is larger than the smallest targeted layer \(32 features\)/);
  const long = makeExperiment({ data: { max_seq_length: 4096 }, training: { max_steps: 1 } });
  await assert.rejects(runTraining({ experimentFile: long.file, runsDir: long.runsDir }), /max_seq_length 4096 is longer than the model's context \(max_position_embeddings 512\)/);
  const f = makeExperiment({ training: { max_steps: 1 } });
  writeFileSync(join(f.dir, 'afile'), 'x');
  await assert.rejects(runTraining({ experimentFile: f.file, runsDir: join(f.dir, 'afile') }), /afile: is a file, not a folder/);
});

test('resume refuses changed training data and a run folder locked by a live trainer', async () => {
  const exp = makeExperiment({ training: { max_steps: 6, save_steps: 2, eval_steps: 100 } });
  const stop = { requested: false };
  const first = await runTraining({ experimentFile: exp.file, runsDir: exp.runsDir, threads: 1 }, { onStep: (s) => { if (s === 2) stop.requested = true; } }, stop);
  assert.equal(first.status, 'stopped');
  // A live process holds the lock: refused.
  writeFileSync(join(first.runDir, '.lock'), `${process.ppid}\n`);
  await assert.rejects(runTraining({ resume: first.runDir }), /another trainer \(pid \d+\) is writing this run/);
  // A stale lock (dead pid) is taken over; but the data changed: refused.
  writeFileSync(join(first.runDir, '.lock'), '999999999\n');
  const train = join(exp.dir, 'train.txt');
  const original = readFileSync(train);
  writeFileSync(train, original.subarray(0, 20_000));
  await assert.rejects(runTraining({ resume: first.runDir }), /training data changed since the run started/);
  writeFileSync(train, original);
  const done = await runTraining({ resume: first.runDir, threads: 1 });
  assert.equal(done.status, 'completed');
});
