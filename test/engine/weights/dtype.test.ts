import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bfloat16BitsToFloat32, bfloat16ToFloat32Array, float16BitsToFloat32, float16ToFloat32Array,
  float32ToBfloat16Array, float32ToBfloat16Bits, float32ToFloat16Array, float32ToFloat16Bits,
  fromFloat32, toFloat32,
} from '../../../src/engine/weights/dtype';

const isF16NaN = (h: number): boolean => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
const isBf16NaN = (h: number): boolean => (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;

test('float32 → float16 bit patterns', () => {
  const cases: [number, number][] = [
    [1.0, 0x3c00],
    [-2.5, 0xc100],
    [0, 0x0000],
    [-0, 0x8000],
    [65504, 0x7bff], // largest finite
    [65519, 0x7bff], // just below the halfway point to 65536
    [65520, 0x7c00], // halfway: ties to even → 65536 → Inf
    [1e6, 0x7c00],
    [-1e6, 0xfc00],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -24, 0x0001], // smallest subnormal
    [-(2 ** -24), 0x8001],
    [2 ** -25, 0x0000], // halfway between 0 and the smallest subnormal: to even (0)
    [2 ** -25 * 1.5, 0x0001], // above halfway
    [3 * 2 ** -25, 0x0002], // halfway between 1 and 2 ulps: to even (2)
    [1023 * 2 ** -24, 0x03ff], // largest subnormal
    [2 ** -14, 0x0400], // smallest normal
    [1 + 2 ** -11, 0x3c00], // halfway between 1 and 1+2^-10: to even (1.0)
    [1 + 3 * 2 ** -11, 0x3c02], // halfway between 0x3c01 and 0x3c02: to even (0x3c02)
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above halfway
    [0.1, 0x2e66],
  ];
  for (const [x, bits] of cases) {
    assert.equal(float32ToFloat16Bits(x), bits, `f16(${x}) = 0x${float32ToFloat16Bits(x).toString(16)}, want 0x${bits.toString(16)}`);
  }
  assert.ok(isF16NaN(float32ToFloat16Bits(NaN)));
  assert.ok(isF16NaN(float32ToFloat16Bits(-NaN)));
});

test('float16 bit patterns → float32', () => {
  assert.equal(float16BitsToFloat32(0x3c00), 1);
  assert.equal(float16BitsToFloat32(0xc100), -2.5);
  assert.equal(float16BitsToFloat32(0x7bff), 65504);
  assert.equal(float16BitsToFloat32(0x0001), 2 ** -24);
  assert.equal(float16BitsToFloat32(0x8001), -(2 ** -24));
  assert.equal(float16BitsToFloat32(0x03ff), 1023 * 2 ** -24);
  assert.equal(float16BitsToFloat32(0x0400), 2 ** -14);
  assert.equal(float16BitsToFloat32(0x7c00), Infinity);
  assert.equal(float16BitsToFloat32(0xfc00), -Infinity);
  assert.ok(Object.is(float16BitsToFloat32(0x8000), -0));
  assert.ok(Number.isNaN(float16BitsToFloat32(0x7e00)));
  assert.ok(Number.isNaN(float16BitsToFloat32(0x7c01)));
  assert.equal(float16BitsToFloat32(0x2e66), Math.fround(0.0999755859375));
});

test('float16 round trip is exact for every non-NaN pattern', () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const back = float32ToFloat16Array(float16ToFloat32Array(all));
  for (let h = 0; h < 65536; h++) {
    if (isF16NaN(h)) assert.ok(isF16NaN(back[h]), `NaN 0x${h.toString(16)} lost`);
    else assert.equal(back[h], h, `0x${h.toString(16)} came back as 0x${back[h].toString(16)}`);
  }
});

test('float32 → bfloat16 bit patterns', () => {
  const cases: [number, number][] = [
    [1.0, 0x3f80],
    [-2.5, 0xc020],
    [0, 0x0000],
    [-0, 0x8000],
    [65504, 0x4780], // 0x477fe000 rounds up to 65536
    [Infinity, 0x7f80],
    [-Infinity, 0xff80],
    [3.4028234663852886e38, 0x7f80], // float32 max rounds to Inf in bfloat16
    [2 ** -133, 0x0001], // smallest bfloat16 subnormal
    [1 + 2 ** -8, 0x3f80], // halfway between 1 and 1+2^-7: to even (1.0)
    [1 + 3 * 2 ** -8, 0x3f82], // halfway between 0x3f81 and 0x3f82: to even (0x3f82)
    [1 + 2 ** -8 + 2 ** -20, 0x3f81], // just above halfway
    [Math.PI, 0x4049],
  ];
  for (const [x, bits] of cases) {
    assert.equal(float32ToBfloat16Bits(x), bits, `bf16(${x}) = 0x${float32ToBfloat16Bits(x).toString(16)}, want 0x${bits.toString(16)}`);
  }
  assert.ok(isBf16NaN(float32ToBfloat16Bits(NaN)));
  // A NaN whose payload lives only in the low 16 bits must not become Inf.
  const f = new Float32Array(new Uint32Array([0x7f800001]).buffer);
  assert.ok(isBf16NaN(float32ToBfloat16Array(f)[0]));
});

test('bfloat16 bit patterns → float32', () => {
  assert.equal(bfloat16BitsToFloat32(0x3f80), 1);
  assert.equal(bfloat16BitsToFloat32(0xc020), -2.5);
  assert.equal(bfloat16BitsToFloat32(0x4780), 65536);
  assert.equal(bfloat16BitsToFloat32(0x0001), 2 ** -133);
  assert.equal(bfloat16BitsToFloat32(0x7f80), Infinity);
  assert.equal(bfloat16BitsToFloat32(0xff80), -Infinity);
  assert.ok(Number.isNaN(bfloat16BitsToFloat32(0x7fc0)));
  assert.deepEqual([...bfloat16ToFloat32Array(new Uint16Array([0x3f80, 0xc020, 0x4049]))], [1, -2.5, 3.140625]);
});

test('array conversions agree with the scalar ones', () => {
  const xs = new Float32Array([1, -2.5, 65504, 65520, 2 ** -24, 2 ** -25, 1 + 2 ** -11, 0.1, -1e-30, 1e30]);
  const h = float32ToFloat16Array(xs);
  const b = float32ToBfloat16Array(xs);
  for (let i = 0; i < xs.length; i++) {
    assert.equal(h[i], float32ToFloat16Bits(xs[i]));
    assert.equal(b[i], float32ToBfloat16Bits(xs[i]));
  }
});

test('toFloat32 widens each float dtype and refuses integers', () => {
  const f32 = new Float32Array([1, 2]);
  assert.equal(toFloat32({ dtype: 'float32', shape: [2], data: f32 }), f32); // no copy
  assert.deepEqual([...toFloat32({ dtype: 'float16', shape: [2], data: new Uint16Array([0x3c00, 0xc100]) })], [1, -2.5]);
  assert.deepEqual([...toFloat32({ dtype: 'bfloat16', shape: [2], data: new Uint16Array([0x3f80, 0xc020]) })], [1, -2.5]);
  assert.deepEqual([...toFloat32({ dtype: 'float64', shape: [2], data: new Float64Array([0.1, -3]) })], [Math.fround(0.1), -3]);
  assert.throws(() => toFloat32({ dtype: 'int32', shape: [1], data: new Int32Array([1]) }), /not a float tensor/);
});

test('fromFloat32 narrows to the requested dtype', () => {
  const v = new Float32Array([1, -2.5, 65504]);
  const h = fromFloat32(v, [3], 'float16');
  assert.equal(h.dtype, 'float16');
  assert.deepEqual([...h.data], [0x3c00, 0xc100, 0x7bff]);
  assert.deepEqual([...fromFloat32(v, [1, 3], 'bfloat16').data], [0x3f80, 0xc020, 0x4780]);
  assert.deepEqual(fromFloat32(v, [3], 'float64').data, new Float64Array([1, -2.5, 65504]));
  assert.throws(() => fromFloat32(v, [2], 'float32'), /needs 2 values, got 3/);
});
