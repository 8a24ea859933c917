import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HostTensor } from '../../../src/engine/tensor';
import { SafetensorsFile, WeightsError, openCheckpoint, writeSafetensors } from '../../../src/engine/weights/safetensors';
import { STORIES_DIR, bytesOf, makeTemp, rawSafetensors, rejectsWeights, rmTemp } from './helpers';

const tmp = makeTemp('st');
after(() => rmTemp(tmp));

/** Reads a file's header JSON and length straight from the bytes (independent of the reader). */
function rawHeader(p: string): { n: number; text: string; json: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }> } {
  const b = fs.readFileSync(p);
  const n = Number(b.readBigUInt64LE(0));
  const text = b.subarray(8, 8 + n).toString('utf8');
  return { n, text, json: JSON.parse(text) };
}

test('write → read round trip keeps dtype, shape and bits', async () => {
  const tensors: Record<string, HostTensor> = {
    'w.f32': { dtype: 'float32', shape: [2, 3], data: new Float32Array([1.5, -2, 3.25, 0, -0, 1e-30]) },
    'w.f16': { dtype: 'float16', shape: [3], data: new Uint16Array([0x3c00, 0xc100, 0x7bff]) },
    'w.bf16': { dtype: 'bfloat16', shape: [2, 1], data: new Uint16Array([0x3f80, 0x7fc0]) },
    'ids.i64': { dtype: 'int64', shape: [3], data: new BigInt64Array([0n, -1n, 9007199254740993n]) },
    'x.f64': { dtype: 'float64', shape: [1], data: new Float64Array([0.1]) },
    'x.i32': { dtype: 'int32', shape: [2], data: new Int32Array([-7, 2147483647]) },
    'x.i8': { dtype: 'int8', shape: [3], data: new Int8Array([-128, 0, 127]) },
    'x.u8': { dtype: 'uint8', shape: [1, 1, 1], data: new Uint8Array([255]) },
    'x.bool': { dtype: 'bool', shape: [2], data: new Uint8Array([1, 0]) },
    'scalar': { dtype: 'float32', shape: [], data: new Float32Array([42]) },
    'empty': { dtype: 'float32', shape: [0, 4], data: new Float32Array(0) },
  };
  const p = path.join(tmp, 'roundtrip.safetensors');
  await writeSafetensors(p, tensors, { format: 'pt', note: 'é ☕' });

  const f = await SafetensorsFile.open(p);
  try {
    assert.deepEqual(f.names(), Object.keys(tensors).sort());
    assert.deepEqual(f.metadata, { format: 'pt', note: 'é ☕' });
    for (const [name, t] of Object.entries(tensors)) {
      const r = await f.read(name);
      assert.equal(r.dtype, t.dtype, name);
      assert.deepEqual(r.shape, t.shape, name);
      assert.equal(r.data.constructor, t.data.constructor, name);
      assert.deepEqual(bytesOf(r.data), bytesOf(t.data), name);
      assert.equal(r.data.byteOffset % 8, 0, `${name} is aligned`);
      assert.deepEqual(bytesOf(f.readSync(name).data), bytesOf(t.data), `${name} (sync)`);
    }
    const i64 = await f.read('ids.i64');
    assert.equal((i64.data as BigInt64Array)[2], 9007199254740993n);
    assert.deepEqual([...await f.readFloat32('w.f16')], [1, -2.5, 65504]);
    assert.deepEqual([...await f.readFloat32('w.f32')], [...tensors['w.f32'].data]);
    assert.deepEqual([...await f.readFloat32('x.f64')], [Math.fround(0.1)]);
    await rejectsWeights(f.readFloat32('ids.i64'), 'roundtrip.safetensors', '"ids.i64"', 'not a float tensor');
  } finally {
    f.close();
  }

  // Layout: metadata first, names sorted, data packed in that order, header padded to 8 with spaces.
  const { n, text, json } = rawHeader(p);
  assert.equal(n % 8, 0);
  assert.match(text, /^\{"__metadata__":/);
  assert.match(text, /\}\s*$/);
  const names = Object.keys(json).filter((k) => k !== '__metadata__');
  assert.deepEqual(names, [...names].sort());
  let off = 0;
  for (const k of names) {
    assert.equal(json[k].data_offsets[0], off, k);
    off = json[k].data_offsets[1];
  }
  assert.equal(fs.statSync(p).size, 8 + n + off);
  assert.deepEqual(json['w.bf16'], { dtype: 'BF16', shape: [2, 1], data_offsets: json['w.bf16'].data_offsets });
  assert.equal(json['ids.i64'].dtype, 'I64');
  assert.equal(json['x.bool'].dtype, 'BOOL');
  // No temp file left behind.
  assert.deepEqual(fs.readdirSync(tmp).filter((e) => e.includes('.tmp-')), []);
});

test('writeSafetensors accepts a Map and replaces an existing file', async () => {
  const p = path.join(tmp, 'map.safetensors');
  await writeSafetensors(p, new Map([['a', { dtype: 'float32', shape: [1], data: new Float32Array([1]) } as HostTensor]]));
  await writeSafetensors(p, new Map([['b', { dtype: 'float32', shape: [2], data: new Float32Array([2, 3]) } as HostTensor]]));
  const f = SafetensorsFile.openSync(p);
  assert.deepEqual(f.names(), ['b']);
  assert.deepEqual(f.metadata, {});
  assert.deepEqual([...(await f.read('b')).data], [2, 3]);
  f.close();
});

test('writeSafetensors refuses bad tensors and leaves no temp file on failure', async () => {
  const p = path.join(tmp, 'bad.safetensors');
  await rejectsWeights(writeSafetensors(p, { x: { dtype: 'float32', shape: [2, 2], data: new Float32Array(3) } }), 'bad.safetensors', '"x"', '4 elements');
  await rejectsWeights(writeSafetensors(p, { x: { dtype: 'float16', shape: [1], data: new Float32Array(1) } }), 'bad.safetensors', 'Uint16Array');
  await rejectsWeights(writeSafetensors(p, { __metadata__: { dtype: 'uint8', shape: [1], data: new Uint8Array(1) } }), 'reserved');
  assert.equal(fs.existsSync(p), false);

  // The rename fails (the target is a folder): the temp file must be gone.
  const target = path.join(tmp, 'isdir.safetensors');
  fs.mkdirSync(target);
  await assert.rejects(writeSafetensors(target, { x: { dtype: 'uint8', shape: [1], data: new Uint8Array(1) } }));
  assert.deepEqual(fs.readdirSync(tmp).filter((e) => e.includes('.tmp-')), []);
});

test('reads the real stories260K checkpoint', async () => {
  const f = await SafetensorsFile.open(path.join(STORIES_DIR, 'model.safetensors'));
  try {
    const names = f.names();
    assert.equal(names.length, 48);
    assert.equal(f.metadata.format, 'pt');
    assert.ok(f.has('model.layers.4.mlp.down_proj.weight'));
    assert.equal(f.has('model.layers.5.mlp.down_proj.weight'), false);
    assert.deepEqual(f.info('model.embed_tokens.weight'), {
      dtype: 'float32', shape: [512, 64], byteOffset: 8 + 4944 + 131072, byteLength: 131072,
    });
    assert.deepEqual(f.info('model.layers.0.self_attn.k_proj.weight').shape, [32, 64]);
    assert.deepEqual(f.info('model.layers.2.mlp.gate_proj.weight').shape, [172, 64]);
    assert.deepEqual(f.info('model.norm.weight').shape, [64]);

    const emb = await f.read('model.embed_tokens.weight');
    assert.equal(emb.dtype, 'float32');
    assert.deepEqual(emb.shape, [512, 64]);
    const e = emb.data as Float32Array;
    assert.equal(e.length, 512 * 64);
    assert.deepEqual([...e.subarray(0, 4)], [-0.29474878311157227, 0.5618956089019775, 0.1754225343465805, 0.34057360887527466]);
    assert.equal(e[100 * 64 + 7], 0.02549084648489952);
    assert.equal(e[511 * 64 + 63], -0.424032598733902);

    // lm_head.weight is a byte-for-byte copy of the embeddings.
    const head = await f.readFloat32('lm_head.weight');
    assert.deepEqual(bytesOf(head), bytesOf(e));

    const down = await f.readFloat32('model.layers.4.mlp.down_proj.weight');
    assert.equal(down.length, 64 * 172);
    assert.equal(down[63 * 172 + 171], -0.0035068716388195753);
    assert.deepEqual([...(await f.read('model.norm.weight')).data.subarray(0, 3)], [2.4583089351654053, 1.3673226833343506, 1.7504382133483887]);

    await rejectsWeights(f.read('model.embed.weight'), 'model.safetensors', '"model.embed.weight"', '48 tensors');
  } finally {
    f.close();
  }
  await rejectsWeights(f.read('lm_head.weight'), 'model.safetensors', 'closed');
});

test('close waits for reads in flight', async () => {
  const f = await SafetensorsFile.open(path.join(STORIES_DIR, 'model.safetensors'));
  const pending = f.read('lm_head.weight');
  f.close();
  f.close();
  const t = await pending;
  assert.equal(t.data.length, 512 * 64);
});

/** Writes raw bytes to tmp/<name> and returns the path. */
function put(name: string, bytes: Uint8Array): string {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, bytes);
  return p;
}

/** Opens with both open() and openSync() and checks both fail the same way. */
async function openFails(p: string, ...fragments: string[]): Promise<void> {
  const base = path.basename(p);
  await rejectsWeights(SafetensorsFile.open(p), base, ...fragments);
  await rejectsWeights(() => SafetensorsFile.openSync(p), base, ...fragments);
}

const f32x4 = { dtype: 'F32', shape: [4], data_offsets: [0, 16] };

test('corrupt files give a one-line WeightsError naming the file', async () => {
  // A valid small file to corrupt.
  const good = path.join(tmp, 'good.safetensors');
  await writeSafetensors(good, { a: { dtype: 'float32', shape: [4], data: new Float32Array([1, 2, 3, 4]) } });
  const bytes = fs.readFileSync(good);

  await openFails(path.join(tmp, 'nothere.safetensors'), 'not found');
  fs.mkdirSync(path.join(tmp, 'folder.safetensors'));
  await openFails(path.join(tmp, 'folder.safetensors'), 'is a folder');
  await openFails(put('tiny.safetensors', bytes.subarray(0, 5)), '5 bytes', 'truncated');
  await openFails(put('truncated.safetensors', bytes.subarray(0, bytes.length - 4)), '"a"', 'beyond', 'truncated');
  await openFails(put('cut-header.safetensors', bytes.subarray(0, 20)), 'exceeds file size 20');
  await openFails(put('huge-len.safetensors', rawSafetensors(JSON.stringify({ a: f32x4 }), new Uint8Array(16), 9999999n)), 'header length 9999999 exceeds file size', 're-download');
  await openFails(put('garbage.safetensors', rawSafetensors('{"a": {"dtype": "F32",, }}   ')), 'not valid JSON', 'line 1 column');
  await openFails(put('binary.safetensors', rawSafetensors(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('latin1'))), 'not valid');
  await openFails(put('array.safetensors', rawSafetensors('[1, 2]')), 'not an object');
  await openFails(put('beyond.safetensors', rawSafetensors({ a: { dtype: 'F32', shape: [250], data_offsets: [0, 1000] } }, new Uint8Array(16))), '"a"', 'data_offsets [0, 1000] beyond the 16-byte data section');
  await openFails(put('mismatch.safetensors', rawSafetensors({ a: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 8] } }, new Uint8Array(16))), '"a"', 'F32 [2, 2] (16 bytes)', 'span 8 bytes');
  await openFails(put('f16-mismatch.safetensors', rawSafetensors({ a: { dtype: 'F16', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(16))), '"a"', 'span 16 bytes');
  await openFails(put('overlap.safetensors', rawSafetensors({
    a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
    b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
  }, new Uint8Array(16))), '"a"', '"b"', 'overlap');
  await openFails(put('dtype.safetensors', rawSafetensors({ a: { dtype: 'F8_E4M3', shape: [16], data_offsets: [0, 16] } }, new Uint8Array(16))), '"a"', '"F8_E4M3"', 'does not read');
  await openFails(put('no-dtype.safetensors', rawSafetensors({ a: { shape: [4], data_offsets: [0, 16] } }, new Uint8Array(16))), '"a"', 'no dtype');
  await openFails(put('neg-shape.safetensors', rawSafetensors({ a: { dtype: 'F32', shape: [-4], data_offsets: [0, 16] } }, new Uint8Array(16))), '"a"', 'shape [-4]');
  await openFails(put('frac-shape.safetensors', rawSafetensors({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 6] } }, new Uint8Array(16))), '"a"', 'shape [1.5]');
  await openFails(put('bad-offsets.safetensors', rawSafetensors({ a: { dtype: 'F32', shape: [4], data_offsets: [16] } }, new Uint8Array(16))), '"a"', 'data_offsets [16]');
  await openFails(put('reversed.safetensors', rawSafetensors({ a: { dtype: 'F32', shape: [0], data_offsets: [16, 0] } }, new Uint8Array(16))), '"a"', 'begin after end');
  await openFails(put('meta.safetensors', rawSafetensors({ __metadata__: { step: 3 }, a: f32x4 }, new Uint8Array(16))), '__metadata__', '"step"');

  // A name with a newline still gives a one-line message.
  await openFails(put('newline.safetensors', rawSafetensors({ 'a\nb': { dtype: 'F32', shape: [4], data_offsets: [0, 8] } }, new Uint8Array(16))), 'span 8 bytes');

  const err = await rejectsWeights(SafetensorsFile.open(path.join(tmp, 'huge-len.safetensors')));
  assert.ok(err instanceof Error);
  assert.equal(err.name, 'WeightsError');
  assert.equal(err.path, path.join(tmp, 'huge-len.safetensors'));
});

test('lenient where the format allows: zero-size tensors, padding, null metadata', async () => {
  const p = put('lenient.safetensors', rawSafetensors(JSON.stringify({
    __metadata__: null,
    e1: { dtype: 'F32', shape: [0], data_offsets: [0, 0] },
    a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
    e2: { dtype: 'I64', shape: [3, 0], data_offsets: [8, 8] },
    b: { dtype: 'U8', shape: [2], data_offsets: [8, 10] },
  }) + '     ', new Uint8Array([0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 7, 9])));
  const f = await SafetensorsFile.open(p);
  assert.deepEqual(f.names(), ['a', 'b', 'e1', 'e2']);
  assert.deepEqual([...(await f.read('a')).data], [1, 2]);
  assert.deepEqual([...(await f.read('b')).data], [7, 9]);
  assert.equal((await f.read('e2')).data.length, 0);
  assert.deepEqual((await f.read('e2')).shape, [3, 0]);
  f.close();
});

test('WeightsError is exported from safetensors and is an Error', () => {
  const e = new WeightsError('x.safetensors', 'x.safetensors: bad\nthing');
  assert.equal(e.message, 'x.safetensors: bad thing');
  assert.ok(e instanceof Error);
});

// The format's own rules (safetensors `tensor.rs`: `Metadata::validate`, `read_metadata`), on
// files written byte by byte here: header text as a string, data as raw bytes.
test('a name listed twice in the header is refused, naming it (JSON.parse would keep the last)', async () => {
  const entry = '{"dtype":"F32","shape":[4],"data_offsets":[0,16]}';
  const data = new Uint8Array(16);
  await openFails(put('dup.safetensors', rawSafetensors(`{"w":${entry},"w":${entry}}`, data)), '"w"', 'listed twice');
  // The same name spelt with an escape is the same key.
  await openFails(put('dup-escaped.safetensors', rawSafetensors(`{"w":${entry},"\\u0077":{"dtype":"F16","shape":[8],"data_offsets":[0,16]}}`, data)), '"w"', 'listed twice');
  await openFails(put('dup-meta.safetensors', rawSafetensors(`{"__metadata__":{"format":"pt"},"w":${entry},"__metadata__":{}}`, data)), '__metadata__', 'listed twice');
  await openFails(put('dup-field.safetensors', rawSafetensors('{"w":{"dtype":"F16","shape":[4],"dtype":"F32","data_offsets":[0,16]}}', data)), '"w"', 'key "dtype" twice');
  await openFails(put('dup-meta-key.safetensors', rawSafetensors(`{"__metadata__":{"format":"pt","format":"np"},"w":${entry}}`, data)), '__metadata__', 'key "format" twice');
});

test('tensor byte ranges must tile the data section: no hole, overlap or trailing bytes', async () => {
  const f32 = (begin: number, end: number, n = (end - begin) / 4) => ({ dtype: 'F32', shape: [n], data_offsets: [begin, end] });
  // A hole between two tensors, and one before the first.
  await openFails(put('hole.safetensors', rawSafetensors({ a: f32(0, 8), b: f32(12, 16) }, new Uint8Array(16))), 'bytes [8, 12)', '"a" [0, 8]', '"b" [12, 16]');
  await openFails(put('hole-start.safetensors', rawSafetensors({ b: f32(4, 16) }, new Uint8Array(16))), 'bytes [0, 4)', 'before "b"');
  // Bytes after the last tensor.
  await openFails(put('trailing.safetensors', rawSafetensors({ a: f32(0, 8) }, new Uint8Array(12))), 'data section is 12 bytes', 'end at byte 8', '"a" [0, 8]');
  await openFails(put('no-tensors.safetensors', rawSafetensors({ __metadata__: { format: 'pt' } }, new Uint8Array(4))), 'data section is 4 bytes', 'lists no tensor');
  // An empty tensor inside another's range is an overlap for the reference too.
  await openFails(put('empty-inside.safetensors', rawSafetensors({ a: f32(0, 8), e: f32(4, 4, 0) }, new Uint8Array(8))), '"a" [0, 8]', '"e" [4, 4]', 'overlap');
  // Two tensors on the same bytes.
  await openFails(put('same.safetensors', rawSafetensors({ a: f32(0, 8), b: f32(0, 8) }, new Uint8Array(8))), '"a" [0, 8]', '"b" [0, 8]', 'overlap');

  // Valid: tensors listed out of order still tile [0, 12); a header with no tensors and no data.
  const ok = await SafetensorsFile.open(put('unordered.safetensors', rawSafetensors({ c: f32(8, 12), a: f32(0, 4), b: f32(4, 8) }, new Uint8Array(12))));
  assert.deepEqual(ok.names(), ['a', 'b', 'c']);
  assert.equal(ok.info('c').byteOffset, 8 + rawHeader(ok.path).n + 8);
  ok.close();
  const empty = await SafetensorsFile.open(put('empty.safetensors', rawSafetensors('{}      ')));
  assert.deepEqual(empty.names(), []);
  empty.close();
});

test('offsets and lengths above 2^53 are read and reported exactly', async () => {
  const data = new Uint8Array(16);
  // 2^64 − 1: JSON.parse would make it 18446744073709552000.
  await openFails(put('u64max.safetensors', rawSafetensors('{"w":{"dtype":"U8","shape":[16],"data_offsets":[0,18446744073709551615]}}', data)), '"w"', 'data_offsets [0, 18446744073709551615] span 18446744073709551615 bytes');
  // 2^53 + 1 and 2^53 + 17 (odd, so not doubles): span exactly 16 as the shape says (in doubles
  // it would be 15 or 17), so the complaint is the one about the file's size.
  await openFails(put('above53.safetensors', rawSafetensors('{"w":{"dtype":"F32","shape":[4],"data_offsets":[9007199254740993,9007199254741009]}}', data)), 'data_offsets [9007199254740993, 9007199254741009] beyond the 16-byte data section');
  // 2^53 − 1 bytes from 2 to 2^53 + 1: consistent only in exact arithmetic.
  await openFails(put('span53.safetensors', rawSafetensors('{"w":{"dtype":"U8","shape":[9007199254740991],"data_offsets":[2,9007199254740993]}}', data)), '"w"', 'data_offsets [2, 9007199254740993] beyond');
  await openFails(put('span53-bad.safetensors', rawSafetensors('{"w":{"dtype":"U8","shape":[9007199254740991],"data_offsets":[0,9007199254740993]}}', data)), '"w"', '(9007199254740991 bytes)', 'span 9007199254740993 bytes');
  await openFails(put('huge-dim.safetensors', rawSafetensors('{"w":{"dtype":"F32","shape":[0,18446744073709551616],"data_offsets":[0,0]}}', data)), '"w"', 'shape [0, 18446744073709551616]', 'dimension of 18446744073709551616');
  // Integers only, as written (serde reads data_offsets as usize): 16.0 and 1.6e1 are not.
  await openFails(put('float-offset.safetensors', rawSafetensors('{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16.0]}}', data)), '"w"', 'data_offsets [0, 16.0]');
  await openFails(put('exp-dim.safetensors', rawSafetensors('{"w":{"dtype":"F32","shape":[4e0],"data_offsets":[0,16]}}', data)), '"w"', 'shape [4e0]');
});

test('a Git LFS pointer is named as such, with the fix', async () => {
  const pointer = 'version https://git-lfs.github.com/spec/v1\noid sha256:9e1f5e7bd7e0c3c3d2c0aa7b7d85d40c4b5e2ff1fd0b1a48e4e8bd8a3f3f0c1d\nsize 1102897\n';
  await openFails(put('lfs.safetensors', Buffer.from(pointer, 'ascii')), 'Git LFS pointer', `(${pointer.length} bytes)`, '1102897-byte file', 'git lfs pull');
  // In a model folder, both model.safetensors and the shard index.
  const dir = path.join(tmp, 'lfs-model');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'model.safetensors'), pointer);
  await rejectsWeights(openCheckpoint(dir), path.join(dir, 'model.safetensors'), 'Git LFS pointer', 'git lfs pull');
  fs.rmSync(path.join(dir, 'model.safetensors'));
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), pointer);
  await rejectsWeights(openCheckpoint(dir), 'model.safetensors.index.json', 'Git LFS pointer', 'git lfs pull');
});
