/**
 * float16 / bfloat16 <-> float32 conversion.
 *
 * float16 is IEEE 754 binary16 (1 sign, 5 exponent, 10 mantissa bits); bfloat16 is the top
 * half of a float32 (1 sign, 8 exponent, 7 mantissa bits). Both are carried as raw 16-bit
 * patterns in a Uint16Array (see `../tensor`). Narrowing rounds to nearest, ties to even (as
 * numpy's `astype(float16)` and torch's `.to(torch.bfloat16)` do); overflow gives ±Inf,
 * NaN stays NaN (quiet, sign and top payload bits kept), subnormals are exact both ways.
 */
import { HostTensor, DType, TensorData, numel } from '../tensor';

// Scratch views to move between a float32 value and its bits.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Bits of a float32 (the number is first rounded to float32). */
function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0];
}

/** float32 bit pattern (uint32) → float16 bit pattern, round to nearest even. */
function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) {
    // Inf stays Inf; NaN keeps its sign and top payload bits and is made quiet.
    return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  }
  const e = exp - 127 + 15; // float16 biased exponent
  if (e >= 0x1f) return sign | 0x7c00; // too large: ±Inf
  if (e <= 0) {
    // float16 subnormal (or zero): value = m · 2^-24, m = (1.mant · 2^23) >> (14 - e)
    if (e < -10) return sign; // below half the smallest subnormal: ±0
    const full = mant | 0x800000;
    const shift = 14 - e; // 14..24
    let h = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1) === 1)) h++; // may carry into the smallest normal: right
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++; // a carry into the exponent is right, up to Inf
  return sign | h;
}

/** float32 bit pattern (uint32) → bfloat16 bit pattern, round to nearest even. */
function f32BitsToBf16Bits(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) {
    return ((x >>> 16) | 0x0040) & 0xffff; // NaN: keep sign and payload top, force quiet
  }
  const lsb = (x >>> 16) & 1;
  return ((x + 0x7fff + lsb) >>> 16) & 0xffff; // no uint32 overflow: the largest non-NaN is 0xff7fffff
}

/** float16 bits → float32 value, for every 16-bit pattern (built once, 256 KiB). */
let f16Table: Float32Array | undefined;
function f16ToF32Table(): Float32Array {
  if (f16Table) return f16Table;
  const table = new Float32Array(65536);
  const bits = new Uint32Array(table.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) {
      table[h] = (sign ? -1 : 1) * m * 2 ** -24; // zero or subnormal, exact in float32
    } else if (e === 0x1f) {
      bits[h] = (sign | 0x7f800000 | (m << 13)) >>> 0; // Inf or NaN with its payload
    } else {
      bits[h] = (sign | ((e + 112) << 23) | (m << 13)) >>> 0;
    }
  }
  f16Table = table;
  return table;
}

/**
 * Rounds `x` to float32, then to the nearest float16 (ties to even) and returns its 16-bit
 * pattern. 65504 is the largest finite float16; anything that rounds above it gives Inf.
 */
export function float32ToFloat16Bits(x: number): number {
  return f32BitsToF16Bits(f32Bits(x));
}

/** The float32 value of a float16 bit pattern (exact: every float16 is a float32). */
export function float16BitsToFloat32(h: number): number {
  return f16ToF32Table()[h & 0xffff];
}

/** Rounds `x` to float32, then to the nearest bfloat16 (ties to even); returns its 16-bit pattern. */
export function float32ToBfloat16Bits(x: number): number {
  return f32BitsToBf16Bits(f32Bits(x));
}

/** The float32 value of a bfloat16 bit pattern (exact). */
export function bfloat16BitsToFloat32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0];
}

/** float16 bit patterns → float32 values (new array, same length). */
export function float16ToFloat32Array(bits: Uint16Array): Float32Array {
  const table = f16ToF32Table();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]];
  return out;
}

/** float32 values → float16 bit patterns, round to nearest even (new array, same length). */
export function float32ToFloat16Array(src: Float32Array): Uint16Array {
  const b = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToF16Bits(b[i]);
  return out;
}

/** bfloat16 bit patterns → float32 values (new array, same length). */
export function bfloat16ToFloat32Array(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const o = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) o[i] = bits[i] << 16;
  return out;
}

/** float32 values → bfloat16 bit patterns, round to nearest even (new array, same length). */
export function float32ToBfloat16Array(src: Float32Array): Uint16Array {
  const b = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToBf16Bits(b[i]);
  return out;
}

/**
 * The values of a float tensor as float32, row-major, `numel(t.shape)` long.
 *
 * float32 returns `t.data` itself (no copy: do not mutate it if the tensor is shared);
 * float16 / bfloat16 are widened exactly; float64 is rounded to nearest float32.
 * Throws `Error` for integer and bool tensors.
 */
export function toFloat32(t: HostTensor): Float32Array {
  switch (t.dtype) {
    case 'float32': return t.data as Float32Array;
    case 'float16': return float16ToFloat32Array(t.data as Uint16Array);
    case 'bfloat16': return bfloat16ToFloat32Array(t.data as Uint16Array);
    case 'float64': return Float32Array.from(t.data as Float64Array);
    default:
      throw new Error(`toFloat32: tensor of dtype ${t.dtype} is not a float tensor; only float32, float16, bfloat16 and float64 convert`);
  }
}

/**
 * A HostTensor of float dtype `dtype` holding `values` (float32, row-major) with `shape`.
 * float32 keeps `values` as the data (no copy); float16 / bfloat16 round to nearest even;
 * float64 widens exactly. Throws `Error` if the length does not match the shape or the dtype
 * is not a float type.
 */
export function fromFloat32(values: Float32Array, shape: number[], dtype: DType = 'float32'): HostTensor {
  const n = numel(shape);
  if (values.length !== n) throw new Error(`fromFloat32: shape [${shape}] needs ${n} values, got ${values.length}`);
  let data: TensorData;
  switch (dtype) {
    case 'float32': data = values; break;
    case 'float16': data = float32ToFloat16Array(values); break;
    case 'bfloat16': data = float32ToBfloat16Array(values); break;
    case 'float64': data = Float64Array.from(values); break;
    default:
      throw new Error(`fromFloat32: ${dtype} is not a float dtype; use float32, float16, bfloat16 or float64`);
  }
  return { dtype, shape: [...shape], data };
}
