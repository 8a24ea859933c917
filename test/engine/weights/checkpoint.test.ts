import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HostTensor } from '../../../src/engine/tensor';
import { ModelWeights, openCheckpoint, writeSafetensors } from '../../../src/engine/weights/safetensors';
import { STORIES_DIR, makeTemp, rejectsWeights, rmTemp } from './helpers';

const tmp = makeTemp('ckpt');
after(() => rmTemp(tmp));

const t32 = (shape: number[], values: number[]): HostTensor => ({ dtype: 'float32', shape, data: new Float32Array(values) });

/** A 2-shard checkpoint in a fresh folder; returns the folder. */
async function twoShards(name: string): Promise<string> {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  await writeSafetensors(path.join(dir, 'model-00001-of-00002.safetensors'), {
    'model.embed_tokens.weight': t32([2, 2], [1, 2, 3, 4]),
    'model.layers.0.self_attn.q_proj.weight': t32([1, 2], [5, 6]),
  }, { format: 'pt' });
  await writeSafetensors(path.join(dir, 'model-00002-of-00002.safetensors'), {
    'model.norm.weight': { dtype: 'bfloat16', shape: [2], data: new Uint16Array([0x3f80, 0xc020]) },
    'lm_head.weight': { dtype: 'float16', shape: [2, 2], data: new Uint16Array([0x3c00, 0x4000, 0x4200, 0x4400]) },
  }, { format: 'pt' });
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({
    metadata: { total_size: 36 },
    weight_map: {
      'lm_head.weight': 'model-00002-of-00002.safetensors',
      'model.embed_tokens.weight': 'model-00001-of-00002.safetensors',
      'model.layers.0.self_attn.q_proj.weight': 'model-00001-of-00002.safetensors',
      'model.norm.weight': 'model-00002-of-00002.safetensors',
    },
  }, null, 2));
  return dir;
}

test('opens a sharded checkpoint and reads from both shards', async () => {
  const dir = await twoShards('sharded');
  const w = await openCheckpoint(dir);
  try {
    assert.ok(w instanceof ModelWeights);
    assert.equal(w.files.length, 2);
    assert.deepEqual(w.names(), ['lm_head.weight', 'model.embed_tokens.weight', 'model.layers.0.self_attn.q_proj.weight', 'model.norm.weight']);
    assert.ok(w.has('model.norm.weight'));
    assert.equal(w.has('model.layers.1.self_attn.q_proj.weight'), false);

    assert.deepEqual([...(await w.read('model.embed_tokens.weight')).data], [1, 2, 3, 4]);
    assert.deepEqual([...await w.readFloat32('model.layers.0.self_attn.q_proj.weight')], [5, 6]);
    const norm = await w.read('model.norm.weight');
    assert.equal(norm.dtype, 'bfloat16');
    assert.deepEqual([...norm.data], [0x3f80, 0xc020]);
    assert.deepEqual([...await w.readFloat32('model.norm.weight')], [1, -2.5]);
    assert.deepEqual([...await w.readFloat32('lm_head.weight')], [1, 2, 3, 4]);

    const info = w.info('lm_head.weight');
    assert.equal(info.path, path.join(dir, 'model-00002-of-00002.safetensors'));
    assert.equal(info.dtype, 'float16');
    assert.deepEqual(info.shape, [2, 2]);
    assert.equal(w.info('model.embed_tokens.weight').path, path.join(dir, 'model-00001-of-00002.safetensors'));

    await rejectsWeights(w.read('model.layers.9.mlp.up_proj.weight'), 'sharded', '"model.layers.9.mlp.up_proj.weight"');
  } finally {
    w.close();
  }
});

test('a missing shard is an error naming it', async () => {
  const dir = await twoShards('missing');
  fs.rmSync(path.join(dir, 'model-00002-of-00002.safetensors'));
  await rejectsWeights(openCheckpoint(dir), 'model.safetensors.index.json', '"model-00002-of-00002.safetensors"', 'missing', 're-download');
});

test('a shard without the tensors the index assigns to it is an error', async () => {
  const dir = await twoShards('inconsistent');
  const indexPath = path.join(dir, 'model.safetensors.index.json');
  const index = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
  index.weight_map['model.norm.weight'] = 'model-00001-of-00002.safetensors';
  fs.writeFileSync(indexPath, JSON.stringify(index));
  await rejectsWeights(openCheckpoint(dir), 'model-00001-of-00002.safetensors', '"model.norm.weight"', 'not in it');
});

test('a bad index is an error naming it', async () => {
  const dir = await twoShards('badindex');
  const indexPath = path.join(dir, 'model.safetensors.index.json');
  fs.writeFileSync(indexPath, '{\n  "weight_map": {\n    "a": "x.safetensors",\n  }\n}');
  await rejectsWeights(openCheckpoint(dir), 'model.safetensors.index.json', 'not valid JSON', 'line 4');
  fs.writeFileSync(indexPath, '{"metadata": {}}');
  await rejectsWeights(openCheckpoint(dir), 'model.safetensors.index.json', 'weight_map');
  fs.writeFileSync(indexPath, '{"weight_map": {"a": "../outside.safetensors"}}');
  await rejectsWeights(openCheckpoint(dir), 'model.safetensors.index.json', 'outside the model folder');
});

test('a corrupt shard is reported with its own file name', async () => {
  const dir = await twoShards('corruptshard');
  const shard = path.join(dir, 'model-00002-of-00002.safetensors');
  fs.truncateSync(shard, fs.statSync(shard).size - 2);
  await rejectsWeights(openCheckpoint(dir), 'model-00002-of-00002.safetensors', 'truncated');
});

test('opens a single-file checkpoint (stories260K) and a bare .safetensors path', async () => {
  const w = await openCheckpoint(STORIES_DIR);
  assert.equal(w.names().length, 48);
  assert.equal(w.info('lm_head.weight').path, path.join(STORIES_DIR, 'model.safetensors'));
  assert.deepEqual(w.info('model.layers.3.self_attn.v_proj.weight').shape, [32, 64]);
  const emb = await w.readFloat32('model.embed_tokens.weight');
  assert.equal(emb[0], -0.29474878311157227);
  w.close();

  const f = await openCheckpoint(path.join(STORIES_DIR, 'model.safetensors'));
  assert.equal(f.names().length, 48);
  f.close();
});

test('a folder without safetensors weights gives an actionable error', async () => {
  const empty = path.join(tmp, 'empty-model');
  fs.mkdirSync(empty);
  fs.writeFileSync(path.join(empty, 'config.json'), '{}');
  await rejectsWeights(openCheckpoint(empty), `no model.safetensors or model.safetensors.index.json in ${empty}`, 'Hugging Face safetensors');

  const pt = path.join(tmp, 'pt-model');
  fs.mkdirSync(pt);
  fs.writeFileSync(path.join(pt, 'pytorch_model.bin'), 'x');
  await rejectsWeights(openCheckpoint(pt), 'pt-model', 'pytorch_model', 'safe_serialization=True');

  const adapter = path.join(tmp, 'an-adapter');
  fs.mkdirSync(adapter);
  fs.writeFileSync(path.join(adapter, 'adapter_config.json'), '{}');
  await rejectsWeights(openCheckpoint(adapter), 'an-adapter', 'PEFT adapter');

  await rejectsWeights(openCheckpoint(path.join(tmp, 'no-such-model')), 'no-such-model', 'not found');
});
