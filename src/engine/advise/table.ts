/**
 * Measured best LoRA learning rates per base model.
 *
 * Values: tinker-cookbook `tinker_cookbook/hyperparam_utils.py`, `get_lr` (thinking-machines-lab,
 * commit 02face34, 2026): the best LoRA rates its supervised sweep measured on tulu3 with
 * batch 128 and 780 steps (the cookbook's LoRA: α 32 with 1/r scaling; its default rank is 32).
 * Only the Llama 3.x and Qwen3 entries are kept here (the families LoRA Lab trains). Earlier cookbook versions computed a
 * rate from the hidden size instead; the table replaced that formula.
 */

/** Hub id → best LoRA learning rate. */
export const MEASURED_LORA_LR: Readonly<Record<string, number>> = {
  'meta-llama/Llama-3.1-8B': 3e-4,
  'meta-llama/Llama-3.1-8B-Instruct': 3e-4,
  'meta-llama/Llama-3.1-70B': 3e-4,
  'meta-llama/Llama-3.2-1B': 1e-3,
  'meta-llama/Llama-3.2-3B': 1e-3,
  'meta-llama/Llama-3.3-70B-Instruct': 3e-4,
  'Qwen/Qwen3-4B-Instruct-2507': 1e-3,
  'Qwen/Qwen3-8B': 1e-3,
  'Qwen/Qwen3-8B-Base': 1e-3,
  'Qwen/Qwen3-30B-A3B': 1e-3,
  'Qwen/Qwen3-30B-A3B-Base': 1e-3,
  'Qwen/Qwen3-30B-A3B-Instruct-2507': 1e-3,
  'Qwen/Qwen3-32B': 3e-4,
  'Qwen/Qwen3-235B-A22B-Instruct-2507': 3e-4,
};

/**
 * The table entry for a model: an exact Hub id (case-insensitive), or a local folder whose last
 * path segment is the name part of a Hub id (`/models/Llama-3.2-1B`), or an HF cache folder
 * (`models--meta-llama--Llama-3.2-1B/...`). Undefined when the model is not in the table.
 *
 * @param model the experiment's `model` (Hub id or path) or config.json's `_name_or_path`
 */
export function measuredLoraLr(model: string): { id: string; learningRate: number } | undefined {
  const m = model.replace(/\\/g, '/').replace(/\/+$/, '');
  const cache = /models--([^/]+)--([^/]+)/.exec(m);
  const candidates = cache ? [`${cache[1]}/${cache[2]}`] : [m, m.split('/').pop() ?? m];
  for (const [id, lr] of Object.entries(MEASURED_LORA_LR)) {
    const name = id.split('/')[1].toLowerCase();
    for (const c of candidates) {
      const lc = c.toLowerCase();
      if (lc === id.toLowerCase() || lc === name) return { id, learningRate: lr };
    }
  }
  return undefined;
}
