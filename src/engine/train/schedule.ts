/**
 * Learning-rate schedules with Hugging Face's `lr_scheduler_type` names and semantics
 * (transformers `optimization.py`: get_constant_schedule, get_constant_schedule_with_warmup,
 * get_linear_schedule_with_warmup, get_cosine_schedule_with_warmup with num_cycles 0.5).
 *
 * The scheduler is stepped after the optimizer, so optimizer step k (0-based) uses
 * lr = learning_rate · multiplier(k); with warmup the first step runs at lr 0, exactly as
 * the HF Trainer does.
 */
export type LrSchedulerType = 'constant' | 'constant_with_warmup' | 'linear' | 'cosine';
export const LR_SCHEDULER_TYPES: readonly LrSchedulerType[] = ['constant', 'constant_with_warmup', 'linear', 'cosine'];

export interface ScheduleConfig {
  lr_scheduler_type: LrSchedulerType;
  learning_rate: number;
  warmup_steps: number;
  /** Used when warmup_steps is 0: ceil(warmup_ratio × max_steps), as HF `get_warmup_steps`. */
  warmup_ratio?: number;
  max_steps: number;
}

/** Warmup steps as HF TrainingArguments.get_warmup_steps resolves them. */
export function warmupSteps(cfg: ScheduleConfig): number {
  return cfg.warmup_steps > 0 ? cfg.warmup_steps : Math.ceil((cfg.warmup_ratio ?? 0) * cfg.max_steps);
}

/** Multiplier of the base learning rate at optimizer step k (0-based). */
export function lrMultiplier(cfg: ScheduleConfig, k: number): number {
  const w = warmupSteps(cfg);
  const total = cfg.max_steps;
  switch (cfg.lr_scheduler_type) {
    case 'constant':
      return 1;
    case 'constant_with_warmup':
      return k < w ? k / Math.max(1, w) : 1;
    case 'linear':
      if (k < w) return k / Math.max(1, w);
      return Math.max(0, (total - k) / Math.max(1, total - w));
    case 'cosine': {
      if (k < w) return k / Math.max(1, w);
      const progress = (k - w) / Math.max(1, total - w);
      return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 0.5 * 2 * progress)));
    }
  }
}

/** Learning rate at optimizer step k (0-based). */
export function learningRate(cfg: ScheduleConfig, k: number): number {
  return cfg.learning_rate * lrMultiplier(cfg, k);
}
