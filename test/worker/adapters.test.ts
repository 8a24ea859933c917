// The worker's adapter cache: least-recently-used eviction under a budget of bytes (sizes
// counted by hand from the tensor shapes), re-reading a folder whose weights file changed, the
// budget from the environment, and the adapter facts sent to the editor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADAPTER_CACHE_ENV, AdapterCache, DEFAULT_ADAPTER_CACHE_BYTES, adapterBytes, adapterCacheBytesFromEnv, adapterInfo } from '../../src/worker/adapters';
import type { PeftAdapter } from '../../src/engine/weights/peft';
import { readPeftAdapter } from '../../src/engine/weights/peft';
import { ADAPTER } from './helpers';

/** A fake adapter: one module per entry of `ranks`, A [r, 16], B [16, r] float32 → 2 · r · 16 · 4 bytes per module. */
function fake(ranks: Record<string, number>, target_modules: string[] | string = ['q_proj']): PeftAdapter {
  const modules = new Map(Object.entries(ranks).map(([m, r]) => [m, {
    module: m,
    A: { dtype: 'float32' as const, shape: [r, 16], data: new Float32Array(r * 16) },
    B: { dtype: 'float32' as const, shape: [16, r], data: new Float32Array(16 * r) },
  }]));
  return { config: { peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules, base_model_name_or_path: null }, modules } as unknown as PeftAdapter;
}

async function folders(t: { after(fn: () => Promise<void>): void }, names: string[]) {
  const root = await mkdtemp(join(tmpdir(), 'loralab-adcache-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  return Object.fromEntries(names.map((n) => {
    const dir = join(root, n);
    mkdirSync(dir);
    writeFileSync(join(dir, 'adapter_model.safetensors'), n);
    return [n, dir];
  }));
}

const M = 'model.layers.0.self_attn.q_proj';

test('adapterBytes counts every A and B', () => {
  assert.equal(adapterBytes(fake({ [M]: 4 })), 2 * 4 * 16 * 4);
  assert.equal(adapterBytes(fake({ [M]: 4, 'model.layers.1.self_attn.q_proj': 8 })), 2 * 4 * 16 * 4 + 2 * 8 * 16 * 4);
});

test('LRU by bytes: a hit is not read again; the least recently used go when the budget is passed', async (t) => {
  const dirs = await folders(t, ['a', 'b', 'c', 'd', 'big']);
  const reads: string[] = [];
  const size = 2 * 4 * 16 * 4; // 512 bytes each
  const cache = new AdapterCache(2.5 * size, async (dir) => {
    reads.push(dir.split('/').pop()!);
    return fake({ [M]: dir.endsWith('big') ? 16 : 4 });
  });
  const a = await cache.get(dirs.a);
  assert.equal(await cache.get(dirs.a), a, 'the same object from the cache');
  await cache.get(dirs.b);
  assert.equal(cache.bytes, 2 * size);
  await cache.get(dirs.c); // 3 · 512 > 1280: a (least recent) goes
  assert.deepEqual(cache.keys(), [dirs.b, dirs.c]);
  assert.equal(cache.bytes, 2 * size);
  await cache.get(dirs.b); // b becomes the most recent
  await cache.get(dirs.d); // so c goes
  assert.deepEqual(cache.keys(), [dirs.b, dirs.d]);
  await cache.get(dirs.a); // read again
  assert.deepEqual(reads, ['a', 'b', 'c', 'd', 'a']);
  // one adapter over the budget on its own is kept (it is in use), alone
  await cache.get(dirs.big);
  assert.deepEqual(cache.keys(), [dirs.big]);
  assert.equal(cache.bytes, 2 * 16 * 16 * 4);
});

test('a folder whose adapter_model.safetensors changed is read again', async (t) => {
  const dirs = await folders(t, ['a']);
  let reads = 0;
  const cache = new AdapterCache(DEFAULT_ADAPTER_CACHE_BYTES, async () => (reads++, fake({ [M]: 4 })));
  await cache.get(dirs.a);
  await cache.get(dirs.a);
  assert.equal(reads, 1);
  await writeFile(join(dirs.a, 'adapter_model.safetensors'), 'a new checkpoint');
  await utimes(join(dirs.a, 'adapter_model.safetensors'), new Date(), new Date(Date.now() + 5000));
  await cache.get(dirs.a);
  assert.equal(reads, 2);
  assert.equal(cache.keys().length, 1);
});

test('the budget: 512 MiB by default, LORALAB_ADAPTER_CACHE_MB in MiB, a bad value named', () => {
  assert.equal(DEFAULT_ADAPTER_CACHE_BYTES, 536_870_912);
  assert.equal(adapterCacheBytesFromEnv({}), DEFAULT_ADAPTER_CACHE_BYTES);
  assert.equal(adapterCacheBytesFromEnv({ [ADAPTER_CACHE_ENV]: '64' }), 67_108_864);
  assert.throws(() => adapterCacheBytesFromEnv({ [ADAPTER_CACHE_ENV]: 'lots' }), { message: 'LORALAB_ADAPTER_CACHE_MB=lots: must be a number of MiB > 0 (default 512)' });
  assert.throws(() => adapterCacheBytesFromEnv({ [ADAPTER_CACHE_ENV]: '0' }), /LORALAB_ADAPTER_CACHE_MB=0/);
});

test('adapterInfo: one rank, or the rank per module when they differ; target_modules from the config list, else from the weights', async () => {
  const golden = await readPeftAdapter(ADAPTER);
  assert.deepEqual(adapterInfo(ADAPTER, golden), {
    path: ADAPTER, r: 4, lora_alpha: 8, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], base_model_name_or_path: 'stories260K',
  });
  const mixed = fake({ [M]: 4, 'model.layers.0.mlp.down_proj': 8 }, 'all-linear');
  assert.deepEqual(adapterInfo('/x', mixed), {
    path: '/x', r: { [M]: 4, 'model.layers.0.mlp.down_proj': 8 }, lora_alpha: 16, target_modules: ['down_proj', 'q_proj'], base_model_name_or_path: null,
  });
});
