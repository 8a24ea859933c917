import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HostTensor } from '../../../src/engine/tensor';
import {
  LoraWeights, peftKey, peftPatternKey, peftRank, peftScaling, readAdapterConfig, readPeftAdapter, writePeftAdapter,
} from '../../../src/engine/weights/peft';
import { readAdapterHeader } from '../../../src/engine/weights/inspect';
import { SafetensorsFile, writeSafetensors } from '../../../src/engine/weights/safetensors';
import { GOLDEN_DIR, bytesOf, makeTemp, rejectsWeights, rmTemp } from './helpers';

const ADAPTER = path.join(GOLDEN_DIR, 'adapters/stories260K_r4_a8');
const tmp = makeTemp('peft');
after(() => rmTemp(tmp));

const PROJS = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'];

function f32(shape: number[], fill: (i: number) => number): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', shape, data: Float32Array.from({ length: n }, (_, i) => fill(i)) };
}

/** Copies the golden adapter into a temp folder so a test can change one file. */
function copyAdapter(name: string): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  for (const f of fs.readdirSync(ADAPTER)) fs.copyFileSync(path.join(ADAPTER, f), path.join(dir, f));
  for (const f of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, f), 0o644);
  return dir;
}

function editConfig(dir: string, edit: (c: Record<string, unknown>) => void): void {
  const p = path.join(dir, 'adapter_config.json');
  const c = JSON.parse(fs.readFileSync(p, 'utf8'));
  edit(c);
  fs.writeFileSync(p, JSON.stringify(c, null, 2));
}

test('reads the golden stories260K r=4 alpha=8 adapter', async () => {
  const { config, modules } = await readPeftAdapter(ADAPTER);
  assert.equal(config.peft_type, 'LORA');
  assert.equal(config.task_type, 'CAUSAL_LM');
  assert.equal(config.r, 4);
  assert.equal(config.lora_alpha, 8);
  assert.equal(config.use_rslora, false);
  assert.deepEqual(config.target_modules, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
  assert.equal(config.megatron_core, 'megatron.core'); // a key outside the typed ones is kept

  assert.equal(modules.size, 35);
  const expected = [];
  for (let l = 0; l < 5; l++) for (const p of PROJS) expected.push(`model.layers.${l}.${p}`);
  assert.deepEqual([...modules.keys()].sort(), expected.sort());

  const q = modules.get('model.layers.0.self_attn.q_proj')!;
  assert.equal(q.module, 'model.layers.0.self_attn.q_proj');
  assert.equal(q.A.dtype, 'float32');
  assert.deepEqual(q.A.shape, [4, 64]);
  assert.deepEqual(q.B.shape, [64, 4]);
  assert.deepEqual([...q.A.data.subarray(0, 3)], [-0.11775518953800201, -0.024525359272956848, -0.06003895401954651]);
  assert.deepEqual(modules.get('model.layers.0.self_attn.k_proj')!.B.shape, [32, 4]);
  assert.deepEqual(modules.get('model.layers.2.mlp.gate_proj')!.B.shape, [172, 4]);
  const down = modules.get('model.layers.4.mlp.down_proj')!;
  assert.deepEqual(down.A.shape, [4, 172]);
  assert.deepEqual(down.B.shape, [64, 4]);
  assert.deepEqual([...down.B.data.subarray(63 * 4)], [0.01405854057520628, -0.00014324749645311385, 0.0019395319977775216, 0.008286324329674244]);

  for (const m of modules.keys()) assert.equal(peftScaling(config, m), 2, m);
});

test('adapter A/B bytes equal the lora_A/lora_B inputs of the golden gradient file', async () => {
  const { modules } = await readPeftAdapter(ADAPTER);
  const grads = await SafetensorsFile.open(path.join(GOLDEN_DIR, 'stories260K_lora_grads.safetensors'));
  try {
    let compared = 0;
    for (const { module, A, B } of modules.values()) {
      assert.deepEqual(bytesOf(A.data), bytesOf((await grads.read(peftKey(module, 'A'))).data), `${module} A`);
      assert.deepEqual(bytesOf(B.data), bytesOf((await grads.read(peftKey(module, 'B'))).data), `${module} B`);
      compared += 2;
    }
    assert.equal(compared, 70);
  } finally {
    grads.close();
  }
});

test('write → read round trip', async () => {
  const { config, modules } = await readPeftAdapter(ADAPTER);
  const dir = path.join(tmp, 'roundtrip', 'nested'); // created by writePeftAdapter
  await writePeftAdapter(dir, config, modules);

  const back = await readPeftAdapter(dir);
  assert.deepEqual(back.config, config);
  assert.equal(back.modules.size, 35);
  for (const [m, w] of modules) {
    const b = back.modules.get(m)!;
    assert.deepEqual(b.A.shape, w.A.shape);
    assert.deepEqual(b.B.shape, w.B.shape);
    assert.deepEqual(bytesOf(b.A.data), bytesOf(w.A.data), m);
    assert.deepEqual(bytesOf(b.B.data), bytesOf(w.B.data), m);
  }
  // The weights file is the golden one, byte for byte (same keys, order, layout, metadata).
  assert.deepEqual(fs.readFileSync(path.join(dir, 'adapter_model.safetensors')), fs.readFileSync(path.join(ADAPTER, 'adapter_model.safetensors')));
  // The config is written with sorted keys.
  const text = fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8');
  const keys = Object.keys(JSON.parse(text));
  assert.deepEqual(keys, [...keys].sort());
  assert.deepEqual(fs.readdirSync(dir).sort(), ['adapter_config.json', 'adapter_model.safetensors']);
});

test('writePeftAdapter fills PEFT defaults and converts to float32', async () => {
  const dir = path.join(tmp, 'minimal');
  const modules: LoraWeights[] = [
    { module: 'model.layers.0.self_attn.q_proj', A: f32([2, 3], (i) => i + 1), B: { dtype: 'float16', shape: [4, 2], data: new Uint16Array(8).fill(0x3c00) } },
    { module: 'model.layers.0.mlp.down_proj', A: f32([2, 5], (i) => -i), B: f32([3, 2], () => 0) },
  ];
  await writePeftAdapter(dir, { r: 2, lora_alpha: 16, my_extra: 'kept' }, modules);
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
  assert.equal(cfg.peft_type, 'LORA');
  assert.equal(cfg.task_type, 'CAUSAL_LM');
  assert.equal(cfg.bias, 'none');
  assert.equal(cfg.fan_in_fan_out, false);
  assert.equal(cfg.use_dora, false);
  assert.equal(cfg.use_rslora, false);
  assert.equal(cfg.inference_mode, true);
  assert.equal(cfg.lora_dropout, 0);
  assert.deepEqual(cfg.rank_pattern, {});
  assert.deepEqual(cfg.alpha_pattern, {});
  assert.equal(cfg.modules_to_save, null);
  assert.equal(cfg.my_extra, 'kept');
  assert.deepEqual(cfg.target_modules, ['down_proj', 'q_proj']);

  const f = await SafetensorsFile.open(path.join(dir, 'adapter_model.safetensors'));
  assert.deepEqual(f.metadata, { format: 'pt' });
  assert.deepEqual(f.names(), [
    'base_model.model.model.layers.0.mlp.down_proj.lora_A.weight',
    'base_model.model.model.layers.0.mlp.down_proj.lora_B.weight',
    'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight',
    'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight',
  ]);
  const b = await f.read('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight');
  assert.equal(b.dtype, 'float32');
  assert.deepEqual([...b.data], [1, 1, 1, 1, 1, 1, 1, 1]);
  f.close();

  const back = await readPeftAdapter(dir);
  assert.equal(peftScaling(back.config, 'model.layers.0.self_attn.q_proj'), 8);
});

test('accepts ".default" in keys, as older PEFT and some tools write them', async () => {
  const dir = path.join(tmp, 'default-keys');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 2, lora_alpha: 4 }));
  await writeSafetensors(path.join(dir, 'adapter_model.safetensors'), {
    'base_model.model.model.layers.1.self_attn.v_proj.lora_A.default.weight': f32([2, 4], (i) => i),
    'base_model.model.model.layers.1.self_attn.v_proj.lora_B.default.weight': { dtype: 'bfloat16', shape: [3, 2], data: new Uint16Array(6).fill(0xc020) },
  });
  const { modules } = await readPeftAdapter(dir);
  const v = modules.get('model.layers.1.self_attn.v_proj')!;
  assert.deepEqual([...v.A.data], [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(v.B.dtype, 'float32');
  assert.deepEqual([...v.B.data], [-2.5, -2.5, -2.5, -2.5, -2.5, -2.5]);
});

test('rank_pattern / alpha_pattern / rsLoRA follow PEFT', () => {
  const config = {
    r: 8, lora_alpha: 16,
    rank_pattern: { 'layers.0.self_attn.q_proj': 4, 'down_proj': 2, 'layers\\.[12]\\..*k_proj': 6 },
    alpha_pattern: { 'q_proj': 32 },
  };
  // Exact suffix match on a dot boundary, first key in order wins.
  assert.equal(peftPatternKey(config.rank_pattern, 'model.layers.0.self_attn.q_proj'), 'layers.0.self_attn.q_proj');
  assert.equal(peftPatternKey(config.rank_pattern, 'model.layers.10.self_attn.q_proj'), undefined);
  assert.equal(peftPatternKey(config.rank_pattern, 'model.layers.3.mlp.down_proj'), 'down_proj');
  assert.equal(peftPatternKey(config.rank_pattern, 'model.layers.3.mlp.xdown_proj'), undefined); // not on a dot boundary
  assert.equal(peftPatternKey(config.rank_pattern, 'model.layers.2.self_attn.k_proj'), 'layers\\.[12]\\..*k_proj');
  assert.equal(peftPatternKey(config.rank_pattern, 'model.layers.3.self_attn.k_proj'), undefined);
  assert.equal(peftPatternKey({ 'model.layers.0.mlp.up_proj': 3 }, 'model.layers.0.mlp.up_proj'), 'model.layers.0.mlp.up_proj'); // the full name

  assert.equal(peftRank(config, 'model.layers.0.self_attn.q_proj'), 4);
  assert.equal(peftRank(config, 'model.layers.1.self_attn.q_proj'), 8);
  // rank and alpha patterns are looked up independently.
  assert.equal(peftScaling(config, 'model.layers.0.self_attn.q_proj'), 32 / 4);
  assert.equal(peftScaling(config, 'model.layers.1.self_attn.q_proj'), 32 / 8);
  assert.equal(peftScaling(config, 'model.layers.1.mlp.down_proj'), 16 / 2);
  assert.equal(peftScaling(config, 'model.layers.1.self_attn.k_proj'), 16 / 6);
  assert.equal(peftScaling(config, 'model.layers.4.mlp.up_proj'), 2);
  assert.equal(peftScaling({ ...config, use_rslora: true }, 'model.layers.4.mlp.up_proj'), 16 / Math.sqrt(8));
  assert.equal(peftScaling({ r: 16, lora_alpha: 16, use_rslora: true }, 'x'), 4);
});

test('rank_pattern is honoured when reading, and a wrong rank is reported', async () => {
  const dir = path.join(tmp, 'pattern');
  const modules: LoraWeights[] = [
    { module: 'model.layers.0.self_attn.q_proj', A: f32([2, 3], (i) => i), B: f32([3, 2], (i) => i) },
    { module: 'model.layers.0.mlp.up_proj', A: f32([4, 3], (i) => i), B: f32([5, 4], (i) => i) },
  ];
  await writePeftAdapter(dir, { r: 4, lora_alpha: 8, rank_pattern: { q_proj: 2 } }, modules);
  const { config, modules: back } = await readPeftAdapter(dir);
  assert.deepEqual(back.get('model.layers.0.self_attn.q_proj')!.A.shape, [2, 3]);
  assert.equal(peftScaling(config, 'model.layers.0.self_attn.q_proj'), 4);
  assert.equal(peftScaling(config, 'model.layers.0.mlp.up_proj'), 2);

  editConfig(dir, (c) => { c.rank_pattern = {}; });
  await rejectsWeights(readPeftAdapter(dir), 'adapter_model.safetensors', '"model.layers.0.self_attn.q_proj"', 'rank 2', 'rank 4');
  await rejectsWeights(writePeftAdapter(path.join(tmp, 'pattern2'), { r: 4, lora_alpha: 8 }, modules), '"model.layers.0.self_attn.q_proj"', 'rank 4');
});

test('a non-LoRA adapter config fails clearly', async () => {
  const dir = copyAdapter('prefix');
  editConfig(dir, (c) => { c.peft_type = 'PREFIX_TUNING'; });
  await rejectsWeights(readPeftAdapter(dir), 'adapter_config.json', '"PREFIX_TUNING"', 'only LoRA adapters');

  editConfig(dir, (c) => { c.peft_type = 'LORA'; c.r = 0; });
  await rejectsWeights(readPeftAdapter(dir), 'adapter_config.json', '"r" is 0', 'positive integer');
  editConfig(dir, (c) => { c.r = 4; c.lora_alpha = '8'; });
  await rejectsWeights(readPeftAdapter(dir), 'adapter_config.json', '"lora_alpha" is "8"');
  editConfig(dir, (c) => { c.lora_alpha = 8; c.use_dora = true; });
  await rejectsWeights(readPeftAdapter(dir), 'adapter_config.json', 'DoRA');
  editConfig(dir, (c) => { c.use_dora = false; c.rank_pattern = { '(': 2 }; });
  await rejectsWeights(readPeftAdapter(dir), 'adapter_config.json', 'rank_pattern', 'regular expression');
  editConfig(dir, (c) => { delete c.peft_type; c.rank_pattern = {}; });
  await rejectsWeights(readPeftAdapter(dir), 'adapter_config.json', 'peft_type');
});

test('invalid adapter_config.json JSON reports the line', async () => {
  const dir = copyAdapter('badjson');
  fs.writeFileSync(path.join(dir, 'adapter_config.json'), '{\n  "peft_type": "LORA",\n  "r": 4\n  "lora_alpha": 8\n}\n');
  await rejectsWeights(readPeftAdapter(dir), 'adapter_config.json', 'not valid JSON', 'line 4');
});

test('mismatched A/B rank fails naming the module', async () => {
  const dir = copyAdapter('mismatch');
  const w = path.join(dir, 'adapter_model.safetensors');
  const f = await SafetensorsFile.open(w);
  const tensors = new Map<string, HostTensor>();
  for (const n of f.names()) tensors.set(n, await f.read(n));
  f.close();
  tensors.set(peftKey('model.layers.3.mlp.up_proj', 'B'), f32([172, 3], () => 0));
  await writeSafetensors(w, tensors, { format: 'pt' });
  await rejectsWeights(readPeftAdapter(dir), 'adapter_model.safetensors', '"model.layers.3.mlp.up_proj"', 'ranks 4 and 3 differ');
});

test('unsupported and incomplete keys fail naming the key and the file', async () => {
  const base = {
    'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight': f32([2, 4], () => 1),
    'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight': f32([4, 2], () => 1),
  };
  const cases: [string, HostTensor, string][] = [
    ['base_model.model.model.embed_tokens.lora_embedding_A', f32([2, 10], () => 0), 'embedding'],
    ['base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector', f32([4], () => 1), 'DoRA'],
    ['base_model.model.lm_head.modules_to_save.default.weight', f32([10, 4], () => 0), 'modules_to_save'],
    ['base_model.model.model.layers.0.self_attn.q_proj.lora_B.bias', f32([4], () => 0), 'lora_bias'],
    ['base_model.model.model.layers.0.self_attn.q_proj.bias', f32([4], () => 0), 'bias "none"'],
  ];
  let i = 0;
  for (const [key, t, fragment] of cases) {
    const dir = path.join(tmp, `unsupported-${i++}`);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 2, lora_alpha: 2 }));
    await writeSafetensors(path.join(dir, 'adapter_model.safetensors'), { ...base, [key]: t });
    await rejectsWeights(readPeftAdapter(dir), 'adapter_model.safetensors', JSON.stringify(key), fragment);
  }

  const empty = path.join(tmp, 'empty-adapter');
  fs.mkdirSync(empty);
  fs.writeFileSync(path.join(empty, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 2, lora_alpha: 2 }));
  await writeSafetensors(path.join(empty, 'adapter_model.safetensors'), {});
  await rejectsWeights(readPeftAdapter(empty), 'adapter_model.safetensors', 'no lora_A / lora_B');

  const dir = path.join(tmp, 'only-a');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 2, lora_alpha: 2 }));
  await writeSafetensors(path.join(dir, 'adapter_model.safetensors'), { 'base_model.model.model.layers.0.mlp.up_proj.lora_A.weight': f32([2, 4], () => 1) });
  await rejectsWeights(readPeftAdapter(dir), 'adapter_model.safetensors', '"model.layers.0.mlp.up_proj"', 'no lora_B');
});

test('missing files give actionable errors', async () => {
  await rejectsWeights(readPeftAdapter(path.join(tmp, 'no-such-adapter')), 'no-such-adapter', 'not found');

  const noCfg = path.join(tmp, 'no-config');
  fs.mkdirSync(noCfg);
  await rejectsWeights(readPeftAdapter(noCfg), 'adapter_config.json', 'not found');

  const bin = path.join(tmp, 'bin-only');
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 2, lora_alpha: 2 }));
  fs.writeFileSync(path.join(bin, 'adapter_model.bin'), 'pickle');
  await rejectsWeights(readPeftAdapter(bin), 'adapter_model.safetensors', 'adapter_model.bin', 'save_file');

  const noW = path.join(tmp, 'no-weights');
  fs.mkdirSync(noW);
  fs.writeFileSync(path.join(noW, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 2, lora_alpha: 2 }));
  await rejectsWeights(readPeftAdapter(noW), 'adapter_model.safetensors', 'not found');
});

test('writePeftAdapter refuses bad modules', async () => {
  const good: LoraWeights = { module: 'model.layers.0.self_attn.q_proj', A: f32([2, 3], () => 1), B: f32([3, 2], () => 1) };
  const dir = path.join(tmp, 'refused');
  await rejectsWeights(writePeftAdapter(dir, { r: 2, lora_alpha: 2 }, [{ ...good, module: 'base_model.model.model.layers.0.self_attn.q_proj' }]), 'without "base_model.model."');
  await rejectsWeights(writePeftAdapter(dir, { r: 2, lora_alpha: 2 }, [good, good]), 'given twice');
  await rejectsWeights(writePeftAdapter(dir, { r: 2, lora_alpha: 2 }, [{ ...good, B: f32([3, 1], () => 1) }]), '"model.layers.0.self_attn.q_proj"', 'differ');
  await rejectsWeights(writePeftAdapter(dir, { r: 2, lora_alpha: 2, peft_type: 'IA3' }, [good]), 'adapter_config.json', '"IA3"');
  await rejectsWeights(writePeftAdapter(dir, { r: 2, lora_alpha: 2 }, new Map([['other', good]])), '"other"');
  assert.equal(fs.existsSync(dir), false);
});

test('a key with base_model.model. twice is named as such, not blamed on another model', async () => {
  // adapter_model.safetensors written byte by byte: two F32 [1, 2] / [2, 1] tensors whose keys
  // carry the PEFT prefix twice, as when get_peft_model is applied to a PeftModel.
  const dir = path.join(tmp, 'doubled');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 1, lora_alpha: 2 }));
  const key = (w: string) => `base_model.model.base_model.model.model.layers.0.self_attn.q_proj.lora_${w}.weight`;
  const header = JSON.stringify({
    [key('A')]: { dtype: 'F32', shape: [1, 2], data_offsets: [0, 8] },
    [key('B')]: { dtype: 'F32', shape: [2, 1], data_offsets: [8, 16] },
  });
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(header)));
  fs.writeFileSync(path.join(dir, 'adapter_model.safetensors'), Buffer.concat([len, Buffer.from(header), Buffer.alloc(16)]));
  const err = await rejectsWeights(readPeftAdapter(dir), path.join(dir, 'adapter_model.safetensors'), `"${key('A')}"`, 'has the prefix base_model.model. twice', 'wrapped twice');
  assert.doesNotMatch(err.message, /different model/);
});

test('a missing r or lora_alpha is called missing, with PEFT\'s default', async () => {
  const dir = copyAdapter('missing-alpha');
  editConfig(dir, (c) => { delete c.lora_alpha; });
  const err = await rejectsWeights(readPeftAdapter(dir), path.join(dir, 'adapter_config.json'), '"lora_alpha" is missing', "PEFT's default is 8");
  assert.doesNotMatch(err.message, /undefined/);
  editConfig(dir, (c) => { c.lora_alpha = 8; delete c.r; });
  await rejectsWeights(readPeftAdapter(dir), path.join(dir, 'adapter_config.json'), '"r" is missing', "PEFT's default is 8");
});

test('adapter_config.json: readPeftAdapter and readAdapterHeader (loralab inspect) fail with the same one-line message', async () => {
  const cases: [string, (dir: string) => void, string][] = [
    ['cfg-no-folder', () => undefined, 'adapter folder not found; check the adapter path'],
    ['cfg-missing', (d) => fs.mkdirSync(d), 'adapter_config.json: not found; a PEFT adapter folder holds adapter_config.json and adapter_model.safetensors — check the path'],
    ['cfg-bad-json', (d) => (fs.mkdirSync(d), fs.writeFileSync(path.join(d, 'adapter_config.json'), '{\n  "r": 8,,\n}')), 'adapter_config.json: not valid JSON (line 2'],
    ['cfg-not-lora', (d) => (fs.mkdirSync(d), fs.writeFileSync(path.join(d, 'adapter_config.json'), JSON.stringify({ peft_type: 'IA3' }))), 'adapter_config.json: '],
  ];
  for (const [name, make, expected] of cases) {
    const dir = path.join(tmp, name);
    make(dir);
    const fromPeft = await rejectsWeights(readPeftAdapter(dir), dir, expected);
    const fromInspect = await rejectsWeights(readAdapterHeader(dir), dir, expected);
    assert.equal(fromInspect.message, fromPeft.message, name);
    assert.equal(fromInspect.path, fromPeft.path, name);
  }
  const ok = path.join(tmp, 'cfg-ok');
  fs.mkdirSync(ok);
  fs.writeFileSync(path.join(ok, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['q_proj'] }));
  const { config, configPath } = await readAdapterConfig(ok);
  assert.equal(configPath, path.join(ok, 'adapter_config.json'));
  assert.deepEqual([config.r, config.lora_alpha, config.target_modules], [4, 8, ['q_proj']]);
});
