/**
 * Host-side tensors: a typed array plus dtype and shape, row-major (C order).
 *
 * float16 and bfloat16 are kept as their raw 16-bit patterns in a Uint16Array; use
 * `weights/dtype.ts` to convert. Names follow ONNX `TensorProto.DataType` in lower case.
 */
export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';

export type TensorData = Float32Array | Float64Array | Uint16Array | BigInt64Array | Int32Array | Int8Array | Uint8Array;

export interface HostTensor {
  dtype: DType;
  /** Dimensions, row-major. A scalar has shape []. */
  shape: number[];
  data: TensorData;
}

/** Bytes per element of each dtype. */
export const DTYPE_SIZE: Record<DType, number> = {
  float32: 4, float64: 8, float16: 2, bfloat16: 2, int64: 8, int32: 4, int8: 1, uint8: 1, bool: 1,
};

/** Number of elements of a shape (1 for a scalar). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Whether a dtype is a floating-point type (the ones gradients flow through). */
export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64' || dtype === 'float16' || dtype === 'bfloat16';
}

/** The typed-array class that holds each dtype (float16/bfloat16 as raw 16-bit patterns). */
export function typedArrayFor(dtype: DType): { new (n: number): TensorData; new (buf: ArrayBuffer): TensorData } {
  switch (dtype) {
    case 'float32': return Float32Array;
    case 'float64': return Float64Array;
    case 'float16': case 'bfloat16': return Uint16Array;
    case 'int64': return BigInt64Array;
    case 'int32': return Int32Array;
    case 'int8': return Int8Array;
    case 'uint8': case 'bool': return Uint8Array;
  }
}

/** Allocates a zero-filled typed array of the right class for a dtype. */
export function allocData(dtype: DType, n: number): TensorData {
  return new (typedArrayFor(dtype))(n);
}

/** A float32 or float64 tensor converted to the other float width (the same tensor when it already matches). */
export function castFloat(t: HostTensor, dtype: 'float32' | 'float64'): HostTensor {
  if (t.dtype === dtype) return t;
  return { dtype, shape: t.shape, data: dtype === 'float32' ? Float32Array.from(t.data as Float64Array) : Float64Array.from(t.data as Float32Array) };
}

/** Builds a HostTensor and checks that the data length matches the shape. */
export function tensor(dtype: DType, shape: number[], data?: TensorData): HostTensor {
  const n = numel(shape);
  const d = data ?? allocData(dtype, n);
  if (d.length !== n) throw new Error(`tensor: shape [${shape}] needs ${n} elements, got ${d.length}`);
  return { dtype, shape, data: d };
}

/** ONNX TensorProto.DataType numbers of our dtypes (onnx.proto, `TensorProto.DataType`). */
export const ONNX_DTYPE: Record<DType, number> = {
  float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11, bfloat16: 16,
};
