/**
 * Execution devices (ONNX Runtime execution providers) as users name them, in a module that does
 * not load ONNX Runtime, so experiment files and the editor side can use the type.
 * `auto` = CUDA where its provider libraries load, else WebGPU, else CPU (DESIGN.md).
 */
export type Device = 'auto' | 'cpu' | 'cuda' | 'webgpu';
export const DEVICES: readonly Device[] = ['auto', 'cpu', 'cuda', 'webgpu'];
