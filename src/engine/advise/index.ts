/**
 * The "LoRA Without Regret" advisor (thinkingmachines.ai/blog/lora, 2025-09-29): rules over a
 * resolved experiment and its model and data, each finding with its number, key, fix and source.
 */
export * from './rules';
export { SOURCES, type Source } from './sources';
export { MEASURED_LORA_LR, measuredLoraLr } from './table';
export { loadAdviceContext, trainedTokens } from './context';
