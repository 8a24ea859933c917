/**
 * Where each advisor finding comes from. Every finding carries one of these, so the CLI and the
 * editor's hover can cite it.
 */

/** A citation: a document, the part of it a finding rests on, and a link. */
export interface Source {
  /** Short human title, e.g. `"LoRA Without Regret", section "Optimal learning rate and rank"`. */
  title: string;
  url: string;
}

const POST = 'Schulman & Thinking Machines Lab, "LoRA Without Regret" (2025-09-29)';
const POST_URL = 'https://thinkingmachines.ai/blog/lora/';
const COOKBOOK_URL = 'https://github.com/thinking-machines-lab/tinker-cookbook/blob/main/tinker_cookbook/hyperparam_utils.py';

/** The post and the tinker-cookbook, by the part each rule cites. */
export const SOURCES = {
  /** All weight matrices, especially the MLP; attention-only underperforms even at matched parameter count. */
  allLayers: { title: `${POST}, "When LoRA is applied to all layers"`, url: POST_URL },
  /** Best LoRA LR ≈ 10× FullFT (fit 9.8×), ≈ 15× for runs under ~100 steps; 1/r makes it nearly rank-independent. */
  learningRate: { title: `${POST}, "Optimal learning rate and rank"`, url: POST_URL },
  /** LoRA pays more than FullFT as the batch grows, at every rank; small gap at batch 32. */
  batchSize: { title: `${POST}, "Batch size effects"`, url: POST_URL },
  /** α = 32, 1/r scaling, constant LR without warmup or decay; A uniform 1/√d_in, B = 0. */
  parametrization: { title: `${POST}, "Hyperparameters" / "Parametrization invariances"`, url: POST_URL },
  /** Adapter capacity against what the data holds. */
  capacity: { title: `${POST}, "Capacity" + tinker-cookbook rule of thumb (LoRA parameters ≥ trained completion tokens)`, url: POST_URL },
  /** Measured best LoRA learning rates per model (tulu3 SFT sweep, batch 128, 780 steps). */
  cookbookTable: { title: 'tinker-cookbook, tinker_cookbook/hyperparam_utils.py get_lr (measured best LoRA learning rates)', url: COOKBOOK_URL },
} as const satisfies Record<string, Source>;
