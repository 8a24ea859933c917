// `loralab merge` and `loralab merge-into-base` end to end (CLI as a child process) on
// stories260K: results are compared with a dense float64 ΔW computed here and folded into the
// base weights by the test itself, and with scoring base + adapter.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli';
import { SHARED } from '../helpers/paths';
import { loadModelConfig } from '../../src/engine/models/index';
import { linearModules } from '../../src/engine/models/inspect';
import { type LoraWeights, peftScaling, readPeftAdapter, writePeftAdapter } from '../../src/engine/weights/peft';
import { SafetensorsFile, writeSafetensors } from '../../src/engine/weights/safetensors';
import type { HostTensor } from '../../src/engine/tensor';
import { createRng } from '../../src/engine/data/random';
import { tempDir } from '../helpers/tmp';

const MODEL = `${SHARED}/models/stories260K`;
const TEXT = 'Once upon a time, there was a little girl named Lily. She liked to play in the park with her ball.';
const tmp = tempDir('cli-merge-');
const X = join(tmp, 'X');
const Y = join(tmp, 'Y');
let modules: { module: string; in: number; out: number }[] = [];

/** Random LoRA pairs for the given modules; rank per module from `rankOf`. */
function randomModules(mods: typeof modules, rankOf: (m: string) => number, seed: number, scaleB: number): LoraWeights[] {
  const rand = createRng(seed);
  return mods.map(({ module, in: inF, out }) => {
    const r = rankOf(module);
    return {
      module,
      A: { dtype: 'float32', shape: [r, inF], data: Float32Array.from({ length: r * inF }, () => (rand() * 2 - 1) / Math.sqrt(inF)) },
      B: { dtype: 'float32', shape: [out, r], data: Float32Array.from({ length: out * r }, () => (rand() * 2 - 1) * scaleB) },
    };
  });
}

/** Dense float64 ΔW = s·B·A, s from the test's own numbers. */
function dense(l: LoraWeights, s: number): Float64Array {
  const [out, r] = l.B.shape;
  const inF = l.A.shape[1];
  const d = new Float64Array(out * inF);
  for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) {
    let acc = 0;
    for (let k = 0; k < r; k++) acc += (l.B.data[o * r + k] as number) * (l.A.data[k * inF + i] as number);
    d[o * inF + i] = s * acc;
  }
  return d;
}

/** Copies the model's non-weight files into `dir`. */
function copyModelFiles(dir: string): void {
  for (const f of readdirSync(MODEL)) if (!f.endsWith('.safetensors')) copyFileSync(join(MODEL, f), join(dir, f));
}

async function score(model: string, adapter?: string): Promise<number[]> {
  const r = await runCli(['score', '--model', model, ...(adapter ? ['--adapter', adapter] : []), '--text', TEXT, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).nll;
}

const maxDiff = (a: number[], b: number[]) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

// X: r 4, alpha 8 on every linear layer. Y: rsLoRA, r 2 (down_proj r 3), alpha 4, on q/v/down only.
const X_S = 8 / 4;
const yRank = (m: string) => (m.endsWith('down_proj') ? 3 : 2);
const yScale = (m: string) => 4 / Math.sqrt(yRank(m));

before(async () => {
  modules = linearModules(await loadModelConfig(MODEL));
  await writePeftAdapter(X, { r: 4, lora_alpha: 8, base_model_name_or_path: MODEL }, randomModules(modules, () => 4, 1, 0.4));
  const yMods = modules.filter((m) => /(q_proj|v_proj|down_proj)$/.test(m.module));
  await writePeftAdapter(Y, { r: 2, lora_alpha: 4, use_rslora: true, rank_pattern: { down_proj: 3 }, base_model_name_or_path: MODEL }, randomModules(yMods, yRank, 2, 0.4));
});

test('merge linear 0.6·X − 0.4·Y: ΔW per module to float32 precision, and scoring equals the dense ΔW folded into the base', async () => {
  const out = join(tmp, 'lin');
  const r = await runCli(['merge', '--method', 'linear', '--adapters', X, Y, '--weights', '0.6', '-0.4', '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const done = JSON.parse(r.stdout);
  assert.equal(done.event, 'done');
  const merged = await readPeftAdapter(out);
  const xs = await readPeftAdapter(X);
  const ys = await readPeftAdapter(Y);
  const src = await SafetensorsFile.open(join(MODEL, 'model.safetensors'));
  const folded = new Map<string, HostTensor>();
  for (const name of src.names()) folded.set(name, await src.read(name));
  for (const { module } of modules) {
    const want = dense(xs.modules.get(module)!, 0.6 * X_S);
    const y = ys.modules.get(module);
    if (y) dense(y, -0.4 * yScale(module)).forEach((v, i) => (want[i] += v));
    const got = dense(merged.modules.get(module)!, peftScaling(merged.config, module));
    let num = 0;
    let den = 0;
    want.forEach((w, i) => {
      num += (got[i] - w) ** 2;
      den += w * w;
    });
    assert.ok(Math.sqrt(num / den) < 1e-6, `${module}: relative error ${Math.sqrt(num / den)}`);
    const W = folded.get(`${module}.weight`)!;
    const d = W.data as Float32Array;
    folded.set(`${module}.weight`, { dtype: 'float32', shape: W.shape, data: Float32Array.from(d, (v, i) => v + want[i]) });
  }
  src.close();
  const denseDir = join(tmp, 'dense-model');
  (await import('node:fs')).mkdirSync(denseDir);
  copyModelFiles(denseDir);
  await writeSafetensors(join(denseDir, 'model.safetensors'), folded, { format: 'pt' });
  const [viaAdapter, viaDense, base] = [await score(MODEL, out), await score(denseDir), await score(MODEL)];
  assert.ok(maxDiff(viaAdapter, viaDense) < 1e-4, `merged adapter vs dense ΔW: ${maxDiff(viaAdapter, viaDense)}`);
  assert.ok(maxDiff(viaAdapter, base) > 1e-2, 'the adapters change the scores');
  assert.ok(existsSync(join(out, 'merge.json')));
});

test('merge-into-base on a sharded copy: same shards and index, files copied, and score equals base + adapter within 1e-4', async () => {
  // A 2-shard copy of stories260K.
  const sharded = join(tmp, 'sharded');
  (await import('node:fs')).mkdirSync(sharded);
  copyModelFiles(sharded);
  const src = await SafetensorsFile.open(join(MODEL, 'model.safetensors'));
  const names = src.names();
  const half = Math.ceil(names.length / 2);
  const shardName = (i: number) => `model-0000${i + 1}-of-00002.safetensors`;
  const weightMap: Record<string, string> = {};
  for (const [i, part] of [names.slice(0, half), names.slice(half)].entries()) {
    const m = new Map<string, HostTensor>();
    for (const n of part) {
      m.set(n, await src.read(n));
      weightMap[n] = shardName(i);
    }
    await writeSafetensors(join(sharded, shardName(i)), m, { format: 'pt' });
  }
  src.close();
  const index = JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap });
  writeFileSync(join(sharded, 'model.safetensors.index.json'), index);

  const out = join(tmp, 'merged-model');
  const r = await runCli(['merge-into-base', '--model', sharded, '--adapter', X, '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const done = events.at(-1);
  assert.equal(done.event, 'done');
  assert.deepEqual(events.at(-2), { event: 'progress', done: done.tensors, total: done.tensors }, 'the last progress line counts every tensor');
  assert.equal(done.merged, modules.length);
  assert.deepEqual(done.shards.sort(), [shardName(0), shardName(1)]);
  assert.equal(readFileSync(join(out, 'model.safetensors.index.json'), 'utf8'), index);
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
    assert.equal(readFileSync(join(out, f), 'utf8'), readFileSync(join(MODEL, f), 'utf8'), f);
  }
  // Every tensor keeps its shard, dtype and shape; tensors without LoRA are byte-identical.
  for (let i = 0; i < 2; i++) {
    const a = await SafetensorsFile.open(join(sharded, shardName(i)));
    const b = await SafetensorsFile.open(join(out, shardName(i)));
    assert.deepEqual(b.names(), a.names());
    for (const n of a.names()) {
      assert.deepEqual([b.info(n).dtype, b.info(n).shape], [a.info(n).dtype, a.info(n).shape], n);
      if (!modules.some((m) => `${m.module}.weight` === n)) assert.deepEqual((await b.read(n)).data, (await a.read(n)).data, n);
    }
    a.close();
    b.close();
  }
  const [folded, withAdapter] = [await score(out), await score(MODEL, X)];
  assert.ok(maxDiff(folded, withAdapter) < 1e-4, `merge-into-base vs base + adapter: ${maxDiff(folded, withAdapter)}`);
  assert.ok(maxDiff(folded, await score(MODEL)) > 1e-2, 'the adapter changes the scores');
});

test('merge --method svd --json reports the rank and kept-norm fraction per module', async () => {
  const out = join(tmp, 'svd');
  const r = await runCli(['merge', '--method', 'svd', '--adapters', X, Y, '--weights', '1', '1', '--rank', '2', '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const done = JSON.parse(r.stdout);
  assert.equal(done.r, 2);
  assert.equal(done.modules.length, modules.length);
  for (const m of done.modules) assert.ok(m.kept_norm_fraction > 0 && m.kept_norm_fraction < 1, `${m.module} ${m.kept_norm_fraction}`);
  const recipe = JSON.parse(readFileSync(join(out, 'merge.json'), 'utf8'));
  assert.deepEqual(recipe.params, { rank: 2 });
  assert.deepEqual(recipe.inputs.map((i: { path: string; weight: number }) => [i.path, i.weight]), [[X, 1], [Y, 1]]);
});

test('merge --dry-run --json: the same plan as the real merge (ranks, kept norm, bytes = 4·(r·in + out·r)), nothing written', async () => {
  const out = join(tmp, 'svd-for-plan');
  const args = ['merge', '--method', 'svd', '--adapters', X, Y, '--weights', '1', '-0.5', '--rank', '2', '--json'];
  const [plan, done] = await Promise.all([runCli([...args, '--dry-run']), runCli([...args, '--out', out])]);
  assert.equal(plan.code, 0, plan.stderr);
  const p = JSON.parse(plan.stdout);
  const d = JSON.parse(done.stdout);
  assert.equal(p.event, 'plan');
  assert.equal(p.adapter_dir, null);
  assert.deepEqual(p.modules, d.modules);
  for (const m of p.modules) {
    const shape = modules.find((x) => x.module === m.module)!;
    assert.equal(m.bytes, 4 * (m.r * shape.in + shape.out * m.r), m.module);
  }
  assert.equal(p.bytes, p.modules.reduce((a: number, m: { bytes: number }) => a + m.bytes, 0));
  assert.deepEqual(readdirSync(tmp).filter((f) => f.includes('svd-for-plan')), ['svd-for-plan'], 'the dry run wrote nothing, the real run no partial folder');
  const again = await runCli([...args, '--out', out]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /svd-for-plan already exists and is not empty; choose a new folder/);
});

test('bad inputs → one-line errors, exit 2', async () => {
  const other = join(tmp, 'other-base');
  await writePeftAdapter(other, { r: 4, lora_alpha: 8, base_model_name_or_path: 'org/another-model' }, randomModules(modules.slice(0, 1), () => 4, 3, 0.1));
  const wrongShape = join(tmp, 'wrong-shape');
  const q = modules[0];
  await writePeftAdapter(wrongShape, { r: 2, lora_alpha: 2 }, randomModules([{ ...q, in: q.in + 1 }], () => 2, 4, 0.1));
  const cases: [string[], RegExp][] = [
    [['merge', '--method', 'linear', '--adapters', X, Y, '--weights', '1', '--out', join(tmp, 'e2')], /--weights has 1 value\(s\) but --adapters has 2/],
    [['merge', '--method', 'ties', '--adapters', X, Y, '--density', '1.5', '--out', join(tmp, 'e3')], /--density must be a number in \(0, 1\]/],
    [['merge', '--method', 'ties', '--adapters', X, Y, '--density', '0', '--out', join(tmp, 'e3')], /--density must be a number in \(0, 1\]/],
    [['merge', '--method', 'svd', '--adapters', X, wrongShape, '--out', join(tmp, 'e4')], /module ".*q_proj" is \[out 64, in 64\] in .* but \[out 64, in 65\]/],
    [['merge', '--method', 'average', '--adapters', X, '--out', join(tmp, 'e5')], /not a merge method/],
    [['merge-into-base', '--model', MODEL, '--adapter', wrongShape, '--out', join(tmp, 'e6')], /needs "model\.layers\.0\.self_attn\.q_proj\.weight" of shape \[64, 65\]/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^loralab: error: /);
    assert.match(lines[0], re);
  }
});
