/**
 * Execution devices (ONNX Runtime execution providers) as users name them, in a module that does
 * not load ONNX Runtime, so experiment files and the editor side can use the type.
 * `auto` = CUDA where its provider libraries load, else WebGPU, else CPU (DESIGN.md).
 */
export type Device = 'auto' | 'cpu' | 'cuda' | 'webgpu';
export const DEVICES: readonly Device[] = ['auto', 'cpu', 'cuda', 'webgpu'];

/**
 * Training precision as users name it (experiment `training.precision`; the values of
 * Lightning's `Trainer(precision=…)` / Accelerate's `mixed_precision`, shortened): `auto` = fp16
 * on CUDA and WebGPU, fp32 on CPU. Only the frozen base weights change format; LoRA weights,
 * optimizer moments, norms, softmax and the loss stay float32 (see `PrecisionPlan`).
 */
export type Precision = 'auto' | 'fp32' | 'fp16' | 'bf16';
export const PRECISIONS: readonly Precision[] = ['auto', 'fp32', 'fp16', 'bf16'];

/** A precision resolved for one execution provider. */
export interface PrecisionPlan {
  /** The resolved precision (never `auto`). */
  precision: 'fp32' | 'fp16' | 'bf16';
  /** Storage dtype of the frozen base weights (graph initializers). */
  weightDtype: 'float32' | 'float16' | 'bfloat16';
  /**
   * Whether the frozen linear layers' MatMul runs in `weightDtype` (input cast down, output cast
   * back to float32: the provider has half kernels), or the weight is Cast to float32 where it is
   * used (the CPU provider: its MatMul, Mul, Softmax… kernels are float/double only; only Cast,
   * Gather and data movement take float16 / bfloat16 — ONNX Runtime docs/OperatorKernels.md).
   */
  halfMatMul: boolean;
  /**
   * Dynamic loss scaling (GradScaler): on when the backward runs through float16 MatMuls, where
   * small activation gradients underflow. Off for bf16 (float32's exponent range) and float32.
   */
  lossScaling: boolean;
}

/**
 * What `precision` means on `provider`:
 * - fp32: everything float32.
 * - fp16: base weights float16; CUDA / WebGPU run their MatMuls in float16 (so the backward
 *   does too, with loss scaling); CPU stores float16 and casts to float32 at each use (half the
 *   weight bytes in the model, float32 arithmetic, no loss scaling).
 * - bf16: base weights bfloat16; CUDA runs its MatMuls in bfloat16 (no loss scaling needed);
 *   CPU stores bfloat16 and casts; WebGPU has no bfloat16 kernels.
 * - auto: fp16 on CUDA and WebGPU, fp32 on CPU.
 *
 * @throws Error (one line, naming `training.precision`) for bf16 on WebGPU.
 */
export function resolvePrecision(precision: Precision, provider: 'cpu' | 'cuda' | 'webgpu'): PrecisionPlan {
  const p = precision === 'auto' ? (provider === 'cpu' ? 'fp32' : 'fp16') : precision;
  if (p === 'fp32') return { precision: p, weightDtype: 'float32', halfMatMul: false, lossScaling: false };
  if (p === 'bf16' && provider === 'webgpu') {
    throw new Error('training.precision "bf16" is not available on WebGPU (ONNX Runtime\'s WebGPU provider has no bfloat16 kernels); use "fp16" or "auto", or --device cuda / cpu');
  }
  const halfMatMul = provider !== 'cpu';
  return { precision: p, weightDtype: p === 'fp16' ? 'float16' : 'bfloat16', halfMatMul, lossScaling: halfMatMul && p === 'fp16' };
}
