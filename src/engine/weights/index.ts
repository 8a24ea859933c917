/**
 * Weights I/O: safetensors files and Hugging Face checkpoint folders, float16 / bfloat16
 * conversion, PEFT LoRA adapter folders. Errors are `WeightsError` with one-line messages.
 */
export { WeightsError } from './errors';
export * from './dtype';
export * from './safetensors';
export * from './peft';
