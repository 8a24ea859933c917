// mergeIntoBase on a hand-made bfloat16 checkpoint: values by hand, dtype, order and metadata kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mergeIntoBase } from '../../../src/engine/merge/into-base';
import { MergeError } from '../../../src/engine/merge/index';
import { bfloat16ToFloat32Array, float32ToBfloat16Array } from '../../../src/engine/weights/dtype';
import { type PeftAdapter, completeLoraConfig } from '../../../src/engine/weights/peft';
import { SafetensorsFile, writeSafetensors, writeSafetensorsStreaming } from '../../../src/engine/weights/safetensors';
import { WeightsError } from '../../../src/engine/weights/errors';
import { tempDir } from '../../helpers/tmp';

const Q = 'model.layers.0.self_attn.q_proj';
const bf16 = (xs: number[], shape: number[]) => ({ dtype: 'bfloat16' as const, shape, data: float32ToBfloat16Array(Float32Array.from(xs)) });

/** A model folder: W_q = [[1, 1], [1, 1]] (bf16), an untouched norm weight, config and tokenizer files. */
async function model(): Promise<string> {
  const dir = tempDir('into-base-');
  await writeSafetensors(join(dir, 'model.safetensors'), { [`${Q}.weight`]: bf16([1, 1, 1, 1], [2, 2]), 'model.norm.weight': bf16([0.5, 0.25], [2]) }, { format: 'pt' });
  writeFileSync(join(dir, 'config.json'), '{"model_type": "llama"}');
  writeFileSync(join(dir, 'tokenizer.json'), '{}');
  writeFileSync(join(dir, 'pytorch_model.bin'), 'stale');
  return dir;
}

/** A = [[1, 2]], B = [[1], [0.5]], r 1, lora_alpha 2 → s = 2, ΔW = [[2, 4], [1, 2]]. */
function adapter(fanInFanOut = false): PeftAdapter {
  return {
    config: completeLoraConfig({ r: 1, lora_alpha: 2, fan_in_fan_out: fanInFanOut }, [Q]),
    modules: new Map([[Q, { module: Q, A: { dtype: 'float32', shape: [1, 2], data: Float32Array.from([1, 2]) }, B: { dtype: 'float32', shape: [2, 1], data: Float32Array.from([1, 0.5]) } }]]),
  };
}

test('W + s·B·A by hand ([[3, 5], [2, 3]]), bf16 kept, other tensors and metadata untouched, non-weight files copied', async () => {
  const dir = await model();
  const out = join(dir, 'merged');
  const res = await mergeIntoBase(dir, adapter(), 'adapter', out);
  assert.equal(res.merged, 1);
  assert.deepEqual(res.copied.sort(), ['config.json', 'tokenizer.json']);
  const f = await SafetensorsFile.open(join(out, 'model.safetensors'));
  assert.deepEqual(f.metadata, { format: 'pt' });
  const w = await f.read(`${Q}.weight`);
  assert.equal(w.dtype, 'bfloat16');
  assert.deepEqual([...bfloat16ToFloat32Array(w.data as Uint16Array)], [3, 5, 2, 3]);
  assert.deepEqual([...bfloat16ToFloat32Array((await f.read('model.norm.weight')).data as Uint16Array)], [0.5, 0.25]);
  f.close();
  assert.equal(readFileSync(join(out, 'config.json'), 'utf8'), '{"model_type": "llama"}');
});

test('fan_in_fan_out: W stored [in, out] gets ΔWᵀ ([[3, 2], [5, 3]])', async () => {
  const dir = await model();
  const out = join(dir, 'merged');
  await mergeIntoBase(dir, adapter(true), 'adapter', out);
  const f = await SafetensorsFile.open(join(out, 'model.safetensors'));
  assert.deepEqual([...bfloat16ToFloat32Array((await f.read(`${Q}.weight`)).data as Uint16Array)], [3, 2, 5, 3]);
  f.close();
});

test('refuses writing over the model folder and an adapter module the model lacks', async () => {
  const dir = await model();
  await assert.rejects(mergeIntoBase(dir, adapter(), 'adapter', dir), (e: Error) => e instanceof MergeError && /model folder itself/.test(e.message));
  const a = adapter();
  const lora = a.modules.get(Q)!;
  a.modules = new Map([['model.layers.9.self_attn.q_proj', { ...lora, module: 'model.layers.9.self_attn.q_proj' }]]);
  await assert.rejects(mergeIntoBase(dir, a, 'adapter', join(dir, 'x')), (e: Error) => e instanceof MergeError && /no weight "model\.layers\.9\.self_attn\.q_proj\.weight"/.test(e.message));
});

test('writeSafetensorsStreaming: keeps the given order; a produced tensor that differs from its spec is refused', async () => {
  const dir = tempDir('stream-');
  const specs = [{ name: 'b', dtype: 'float32' as const, shape: [2] }, { name: 'a', dtype: 'float32' as const, shape: [1] }];
  await writeSafetensorsStreaming(join(dir, 'x.safetensors'), specs, undefined, async (s) => ({ dtype: 'float32', shape: s.shape, data: new Float32Array(s.shape[0]).fill(s.name === 'a' ? 7 : 3) }));
  const f = await SafetensorsFile.open(join(dir, 'x.safetensors'));
  assert.equal(f.info('a').byteOffset - f.info('b').byteOffset, 8); // b's 8 bytes come first
  assert.deepEqual([...(await f.read('a')).data], [7]);
  f.close();
  await assert.rejects(
    writeSafetensorsStreaming(join(dir, 'y.safetensors'), specs, undefined, async () => ({ dtype: 'float32', shape: [3], data: new Float32Array(3) })),
    (e: Error) => e instanceof WeightsError && /announced as float32 \[2\] but produced as float32 \[3\]/.test(e.message),
  );
});

test('the output folder appears complete or not at all: a failure mid-way leaves neither it nor a partial folder; a non-empty folder is refused', async () => {
  const dir = await model();
  const out = join(dir, 'merged');
  await assert.rejects(
    mergeIntoBase(dir, adapter(), 'adapter', out, (done) => {
      if (done === 1) throw new Error('stopped after the first tensor');
    }),
    /stopped after the first tensor/,
  );
  assert.equal(existsSync(out), false);
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('merged')), [], 'no partial folder left');
  mkdirSync(out);
  writeFileSync(join(out, 'keep.txt'), 'mine');
  await assert.rejects(mergeIntoBase(dir, adapter(), 'adapter', out), (e: Error) => e instanceof MergeError && /already exists and is not empty/.test(e.message));
  assert.deepEqual(readdirSync(out), ['keep.txt']);
  const empty = join(dir, 'empty');
  mkdirSync(empty);
  await mergeIntoBase(dir, adapter(), 'adapter', empty); // an empty folder is fine
  assert.ok(existsSync(join(empty, 'model.safetensors')));
});
