// Damaged weights (NaN / ±Infinity) are named — file and tensor — by generate, eval, score and
// train before any computation, with the one check in src/engine/weights/finite.ts; the half
// precision bit tests follow IEEE 754 binary16 / bfloat16 (exponent all ones).
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli';
import { makeExperiment } from '../helpers/experiment';
import { SHARED } from '../helpers/paths';
import { SafetensorsFile, writeSafetensors } from '../../src/engine/weights/safetensors';
import { firstNonFinite } from '../../src/engine/weights/finite';
import type { HostTensor } from '../../src/engine/tensor';
import { TINY_QWEN3, writeTinyModel } from '../helpers/tiny-model';
import { tempDir } from '../helpers/tmp';

const MODEL = `${SHARED}/models/stories260K`;
const GOLDEN_ADAPTER = `${SHARED}/golden/adapters/stories260K_r4_a8`;
const tmp = tempDir('cli-nonfinite-');
const NAN_MODEL = join(tmp, 'nan-model');
const NAN_ADAPTER = join(tmp, 'nan-adapter');
const BAD = 'model.layers.1.mlp.up_proj.weight';
const BAD_LORA = 'base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight';

/** Copies a folder's files, replacing one element of tensor `name` of `file` with `value`. */
async function copyWith(src: string, dst: string, file: string, name: string, value: number): Promise<void> {
  mkdirSync(dst);
  for (const f of readdirSync(src)) if (f !== file) copyFileSync(join(src, f), join(dst, f));
  const st = await SafetensorsFile.open(join(src, file));
  const tensors = new Map<string, HostTensor>();
  for (const n of st.names()) tensors.set(n, await st.read(n));
  st.close();
  const t = tensors.get(name)!;
  const data = Float32Array.from(t.data as Float32Array);
  data[3] = value;
  tensors.set(name, { ...t, data });
  await writeSafetensors(join(dst, file), tensors);
}

before(async () => {
  await copyWith(MODEL, NAN_MODEL, 'model.safetensors', BAD, NaN);
  await copyWith(GOLDEN_ADAPTER, NAN_ADAPTER, 'adapter_model.safetensors', BAD_LORA, -Infinity);
});

test('generate with a NaN base weight: exit 1 naming file and tensor (was: 40 × token 0, exit 0)', async () => {
  const r = await runCli(['generate', '--model', NAN_MODEL, '--prompt', 'Once', '--max-new-tokens', '5']);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, new RegExp(`^loralab: error: ${NAN_MODEL}/model\\.safetensors: tensor "${BAD.replace(/\./g, '\\.')}" holds NaN; the weights are damaged`, 'm'));
});

test('generate / score with a -Infinity in an adapter: the adapter tensor is named', async () => {
  for (const cmd of [['generate', '--prompt', 'Once', '--max-new-tokens', '3'], ['score', '--text', 'Once upon a time']]) {
    const r = await runCli([cmd[0], '--model', MODEL, '--adapter', NAN_ADAPTER, ...cmd.slice(1)]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /adapter_model\.safetensors: tensor "model\.layers\.0\.self_attn\.v_proj\.lora_B" holds -Infinity/);
  }
});

test('eval with a NaN base weight: named before any case runs', async () => {
  const file = join(tmp, 'a.eval.jsonl');
  writeFileSync(file, '{"prompt": "Once upon a", "expected": "time", "metric": "contains"}\n');
  const r = await runCli(['eval', file, '--model', NAN_MODEL]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /tensor "model\.layers\.1\.mlp\.up_proj\.weight" holds NaN/);
});

test('train: a NaN in the base model or in init_adapter is named at load, before any step (no run folder)', async () => {
  for (const extra of [{ model: NAN_MODEL }, { init_adapter: NAN_ADAPTER }]) {
    const exp = makeExperiment({ training: { max_steps: 1 }, extra });
    const r = await runCli(['train', exp.file, '--runs-dir', exp.runsDir]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /tensor "[^"]+" holds (NaN|-Infinity); the weights are damaged/);
    assert.doesNotMatch(r.stderr, /learning_rate/);
    assert.equal(existsSync(exp.runsDir) && readdirSync(exp.runsDir).length > 0, false);
  }
});

test('firstNonFinite on half-precision bits (IEEE 754 binary16 and bfloat16 layouts)', () => {
  const f16 = (bits: number[]): HostTensor => ({ dtype: 'float16', shape: [bits.length], data: Uint16Array.from(bits) });
  const bf16 = (bits: number[]): HostTensor => ({ dtype: 'bfloat16', shape: [bits.length], data: Uint16Array.from(bits) });
  assert.equal(firstNonFinite(f16([0x3c00, 0x7bff, 0xfbff, 0x0001])), null); // 1, ±65504 (max), smallest subnormal
  assert.ok(Number.isNaN(firstNonFinite(f16([0x3c00, 0x7e00]))));
  assert.equal(firstNonFinite(f16([0xfc00])), -Infinity);
  assert.equal(firstNonFinite(bf16([0x3f80, 0x7f7f])), null); // 1, largest finite
  assert.equal(firstNonFinite(bf16([0x7f80])), Infinity);
  assert.ok(Number.isNaN(firstNonFinite(bf16([0xffc1]))));
});

test('tiny-model helper: a Qwen2 with q/k/v biases gets finite, non-zero biases (1-D shapes were written as NaN)', async () => {
  const dir = await writeTinyModel({ ...TINY_QWEN3, architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', head_dim: undefined, hidden_size: 16 }, 1);
  const st = await SafetensorsFile.open(join(dir, 'model.safetensors'));
  const biases = st.names().filter((n) => n.endsWith('.bias'));
  assert.ok(biases.length >= 6, `biases: ${biases}`);
  for (const n of st.names()) {
    const t = await st.read(n);
    assert.equal(firstNonFinite(t), null, n);
    if (n.endsWith('.bias')) assert.ok((t.data as Float32Array).some((x) => x !== 0), n);
  }
  st.close();
});
