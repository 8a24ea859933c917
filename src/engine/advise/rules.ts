/**
 * The advisor: "LoRA Without Regret" rules over a resolved experiment and what is known of its
 * model and data. Each rule returns at most one finding with the number that triggered it, the
 * limit it was compared with, the key it is about and, where the fix is a value change, the
 * value to set. Pure functions; no file access (see `context.ts` for loading model and data).
 *
 * Sources (see `sources.ts`): the post (thinkingmachines.ai/blog/lora, 2025-09-29) and the
 * tinker-cookbook's `hyperparam_utils.get_lr` table (`table.ts`).
 */
import { isTargeted } from '../lora/index';
import type { LinearModule } from '../models/inspect';
import { type ScheduleConfig, warmupSteps } from '../train/schedule';
import { peftRank } from '../weights/peft';
import { SOURCES, type Source } from './sources';
import { MEASURED_LORA_LR, measuredLoraLr } from './table';

/** The parts of a resolved experiment the rules read (an `ExperimentConfig` fits). */
export interface AdviceConfig {
  /** Hub id or local model folder. */
  model: string;
  lora: {
    r: number;
    lora_alpha: number;
    target_modules: string | string[];
    use_rslora: boolean;
    rank_pattern?: Record<string, number>;
  };
  training: ScheduleConfig & {
    per_device_train_batch_size: number;
    gradient_accumulation_steps: number;
  };
  /** The experiment's `advise` block. */
  advise?: { full_finetune_learning_rate?: number | null; ignore?: string[] };
}

/** What is known beyond the experiment file; each rule needing a missing part is skipped. */
export interface AdviceContext {
  /** The model's linear layers (`linearModules`), when its config.json could be read. */
  modules?: readonly LinearModule[];
  /** config.json's `_name_or_path`, tried against the learning-rate table after `model`. */
  modelName?: string;
  /** Tokens the loss is computed on in one pass over the training data (completion tokens). */
  trainedTokens?: number;
}

export type RuleId = 'learning-rate' | 'effective-batch' | 'attention-only' | 'rslora' | 'lora-alpha' | 'schedule' | 'capacity';

/** Every rule id, in the order findings are reported. */
export const RULE_IDS: readonly RuleId[] = ['learning-rate', 'effective-batch', 'attention-only', 'rslora', 'lora-alpha', 'schedule', 'capacity'];

/** Editor severity names; never an error (the advice is advice). */
export type Severity = 'information' | 'warning';

export interface Finding {
  id: RuleId;
  severity: Severity;
  /** One line, naming the key, the value and what to do. */
  message: string;
  /** The number that triggered the rule (its unit is in the message). */
  value: number;
  /** The limit `value` was compared with. */
  threshold: number;
  /** JSON pointer of the key the finding is about, e.g. `/training/learning_rate`. */
  pointer: string;
  /** A value change that follows the advice (a quick fix). */
  fix?: { pointer: string; value: string | number | boolean; title: string };
  source: Source;
}

/** The post's α. */
export const POST_LORA_ALPHA = 32;
/** LoRA/FullFT best-LR ratio: about 10 (their fit 9.8). */
export const LORA_OVER_FULL_FT = 10;
/** The ratio for short runs. */
export const LORA_OVER_FULL_FT_SHORT = 15;
/** Runs with fewer optimizer steps than this are "short" (the post: under ~100 steps). */
export const SHORT_RUN_STEPS = 100;
/** A learning rate more than this factor away from the suggestion (either way) is "far". */
export const LR_FAR_FACTOR = 3;
/** Effective batch above which LoRA falls behind full fine-tuning noticeably (the post: small gap at 32). */
export const MAX_EFFECTIVE_BATCH = 32;

/** Projections of attention, by checkpoint name (Llama/Qwen/Mistral, Phi-3's fused qkv). */
const ATTENTION = new Set(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'qkv_proj']);

/** 3 significant digits; exponent form below 1e-3 (`3e-4`, `1.5e-3`). */
export const fmt = (x: number): string => (x >= 1e-3 && x < 1e6 ? String(Number(x.toPrecision(3))) : x.toExponential(2).replace(/\.?0+e/, 'e').replace('e+', 'e'));
const human = (n: number): string => (n >= 1e6 ? `${Number((n / 1e6).toPrecision(3))}M` : n >= 1e3 ? `${Number((n / 1e3).toPrecision(3))}k` : String(n));

/**
 * The suggested LoRA learning rate and why: the measured table when the model is in it (×1.5 for
 * runs under `SHORT_RUN_STEPS`, the post's 15× over 10×); else 10× (15× for short runs) the
 * full fine-tuning rate the user states in `advise.full_finetune_learning_rate`; else undefined.
 */
export function suggestedLearningRate(config: AdviceConfig, ctx: AdviceContext = {}): { learningRate: number; basis: string; source: Source } | undefined {
  const short = config.training.max_steps < SHORT_RUN_STEPS;
  const hit = measuredLoraLr(config.model) ?? (ctx.modelName ? measuredLoraLr(ctx.modelName) : undefined);
  if (hit) {
    const lr = short ? (hit.learningRate * LORA_OVER_FULL_FT_SHORT) / LORA_OVER_FULL_FT : hit.learningRate;
    return { learningRate: lr, basis: `the measured best for ${hit.id} is ${fmt(hit.learningRate)}${short ? ` (×1.5 for a run under ${SHORT_RUN_STEPS} steps: 15× instead of 10× full fine-tuning)` : ''}`, source: SOURCES.cookbookTable };
  }
  const full = config.advise?.full_finetune_learning_rate;
  if (typeof full === 'number' && full > 0) {
    const k = short ? LORA_OVER_FULL_FT_SHORT : LORA_OVER_FULL_FT;
    return { learningRate: full * k, basis: `${k}× the full fine-tuning rate ${fmt(full)}${short ? ` (15×, not 10×: a run under ${SHORT_RUN_STEPS} steps)` : ''}`, source: SOURCES.learningRate };
  }
  return undefined;
}

/** The highest measured best LoRA rate of the cookbook table (1e-3). */
const MEASURED_LR_MAX = Math.max(...Object.values(MEASURED_LORA_LR));
/** Absolute ceiling when no suggestion applies: 10× the highest measured best LoRA rate (1e-2). */
export const LORA_LR_CEILING = 10 * MEASURED_LR_MAX;

/**
 * Learning rate more than `LR_FAR_FACTOR`× away from `suggestedLearningRate` (value: the ratio,
 * ≥ 1); for a model with no suggestion, a rate above `LORA_LR_CEILING` (value: the rate).
 */
export function learningRateRule(config: AdviceConfig, ctx: AdviceContext = {}): Finding | undefined {
  const s = suggestedLearningRate(config, ctx);
  if (!s) return learningRateCeilingRule(config);
  const lr = config.training.learning_rate;
  const ratio = lr >= s.learningRate ? lr / s.learningRate : s.learningRate / lr;
  if (!(ratio > LR_FAR_FACTOR)) return undefined;
  const dir = lr > s.learningRate ? 'above' : 'below';
  return {
    id: 'learning-rate',
    severity: 'warning',
    message: `training.learning_rate ${fmt(lr)} is ${fmt(ratio)}× ${dir} the suggested ${fmt(s.learningRate)}: ${s.basis}; set it to ${fmt(s.learningRate)} or sweep around it`,
    value: ratio,
    threshold: LR_FAR_FACTOR,
    pointer: '/training/learning_rate',
    fix: { pointer: '/training/learning_rate', value: Number(s.learningRate.toPrecision(3)), title: `Set learning_rate to ${fmt(s.learningRate)}` },
    source: s.source,
  };
}

/** A model outside the table with no stated full fine-tuning rate: only an absurd rate is flagged. */
function learningRateCeilingRule(config: AdviceConfig): Finding | undefined {
  const lr = config.training.learning_rate;
  if (!(lr > LORA_LR_CEILING)) return undefined;
  const rates = Object.values(MEASURED_LORA_LR);
  return {
    id: 'learning-rate',
    severity: 'warning',
    message: `training.learning_rate ${fmt(lr)} is above ${fmt(LORA_LR_CEILING)}, 10× the highest measured best LoRA rate (${fmt(Math.min(...rates))} to ${fmt(MEASURED_LR_MAX)} across the models measured, lora_alpha 32 with 1/r scaling); such rates usually diverge: try ${fmt(MEASURED_LR_MAX)} or lower, or set advise.full_finetune_learning_rate for a model-specific suggestion`,
    value: lr,
    threshold: LORA_LR_CEILING,
    pointer: '/training/learning_rate',
    fix: { pointer: '/training/learning_rate', value: MEASURED_LR_MAX, title: `Set learning_rate to ${fmt(MEASURED_LR_MAX)}` },
    source: SOURCES.cookbookTable,
  };
}

/** per_device_train_batch_size × gradient_accumulation_steps above `MAX_EFFECTIVE_BATCH`. */
export function effectiveBatchRule(config: AdviceConfig): Finding | undefined {
  const { per_device_train_batch_size: bs, gradient_accumulation_steps: gas } = config.training;
  const batch = bs * gas;
  if (!(batch > MAX_EFFECTIVE_BATCH)) return undefined;
  const fixGas = gas > 1 && bs <= MAX_EFFECTIVE_BATCH;
  const fix = fixGas
    ? { pointer: '/training/gradient_accumulation_steps', value: Math.max(1, Math.floor(MAX_EFFECTIVE_BATCH / bs)), title: '' }
    : { pointer: '/training/per_device_train_batch_size', value: Math.max(1, Math.floor(MAX_EFFECTIVE_BATCH / gas)), title: '' };
  fix.title = `Set ${fix.pointer.split('/').pop()} to ${fix.value} (effective batch ${fixGas ? bs * fix.value : fix.value * gas})`;
  return {
    id: 'effective-batch',
    severity: 'warning',
    message: `effective batch ${batch} (per_device_train_batch_size ${bs} × gradient_accumulation_steps ${gas}) is above ${MAX_EFFECTIVE_BATCH}: LoRA loses more than full fine-tuning as the batch grows, at any rank; use ${MAX_EFFECTIVE_BATCH} or less`,
    value: batch,
    threshold: MAX_EFFECTIVE_BATCH,
    pointer: fix.pointer,
    fix,
    source: SOURCES.batchSize,
  };
}

/**
 * Targets with attention projections only (no MLP layer). With the model's modules the targeted
 * set is exact (`isTargeted`); without, only a list of names can be judged. Value: the number of
 * targeted MLP modules (0).
 */
export function attentionOnlyRule(config: AdviceConfig, ctx: AdviceContext = {}): Finding | undefined {
  const t = config.lora.target_modules;
  if (t === 'all-linear') return undefined;
  let names: string[];
  if (ctx.modules) names = ctx.modules.filter((m) => isTargeted(m.module, t)).map((m) => m.module.split('.').pop()!);
  else if (Array.isArray(t)) names = t.map((n) => n.split('.').pop()!);
  else return undefined;
  if (names.length === 0) return undefined;
  const mlp = names.filter((n) => !ATTENTION.has(n)).length;
  if (mlp > 0) return undefined;
  return {
    id: 'attention-only',
    severity: 'warning',
    message: `lora.target_modules ${JSON.stringify(t)} adapts attention only: LoRA on attention alone underperforms even at the same parameter count; adapt every linear layer, especially the MLP ("all-linear")`,
    value: mlp,
    threshold: 1,
    pointer: '/lora/target_modules',
    fix: { pointer: '/lora/target_modules', value: 'all-linear', title: 'Set target_modules to "all-linear"' },
    source: SOURCES.allLayers,
  };
}

/** use_rslora with r ≥ 2: the scale α/√r is √r× the α/r the learning-rate advice assumes. Value: √r. */
export function rsloraRule(config: AdviceConfig): Finding | undefined {
  const { use_rslora, r } = config.lora;
  if (!use_rslora || !(r >= 2)) return undefined;
  const k = Math.sqrt(r);
  return {
    id: 'rslora',
    severity: 'warning',
    message: `lora.use_rslora scales the update by lora_alpha/√r, ${fmt(k)}× the lora_alpha/r that learning rates are tuned for (1/r keeps the best rate nearly independent of rank); turn it off, or divide the learning rate by about ${fmt(k)}`,
    value: k,
    threshold: 1,
    pointer: '/lora/use_rslora',
    fix: { pointer: '/lora/use_rslora', value: false, title: 'Turn use_rslora off (1/r scaling)' },
    source: SOURCES.parametrization,
  };
}

/** lora_alpha other than the post's 32 (the learning rates quoted assume it). Value: lora_alpha. */
export function loraAlphaRule(config: AdviceConfig): Finding | undefined {
  const a = config.lora.lora_alpha;
  if (a === POST_LORA_ALPHA) return undefined;
  return {
    id: 'lora-alpha',
    severity: 'information',
    message: `lora.lora_alpha ${fmt(a)}: the post and the learning-rate table use ${POST_LORA_ALPHA} with 1/r scaling; with another alpha the best learning rate moves (about ∝ 1/lora_alpha)`,
    value: a,
    threshold: POST_LORA_ALPHA,
    pointer: '/lora/lora_alpha',
    fix: { pointer: '/lora/lora_alpha', value: POST_LORA_ALPHA, title: `Set lora_alpha to ${POST_LORA_ALPHA}` },
    source: SOURCES.parametrization,
  };
}

/** Warmup or decay, where the post trained with a constant rate. Value: warmup steps (0 for a decay without warmup). */
export function scheduleRule(config: AdviceConfig): Finding | undefined {
  const tc = config.training;
  // HF's "constant" ignores warmup_steps / warmup_ratio.
  const w = tc.lr_scheduler_type === 'constant' ? 0 : warmupSteps(tc);
  const decays = tc.lr_scheduler_type === 'linear' || tc.lr_scheduler_type === 'cosine';
  if (w === 0 && !decays) return undefined;
  const what = [w > 0 ? `${w} warmup steps` : '', decays ? `${tc.lr_scheduler_type} decay` : ''].filter(Boolean).join(' and ');
  return {
    id: 'schedule',
    severity: 'information',
    message: `lr_scheduler_type "${tc.lr_scheduler_type}" gives ${what}; the post's experiments (and its learning-rate figures) use a constant rate with no warmup or decay`,
    value: w,
    threshold: 0,
    pointer: '/training/lr_scheduler_type',
    fix: { pointer: '/training/lr_scheduler_type', value: 'constant', title: 'Use a constant learning rate' },
    source: SOURCES.parametrization,
  };
}

/** Adapter size: Σ over targeted modules of rank·(in + out), with rank_pattern. */
export function loraParameterCount(config: Pick<AdviceConfig, 'lora'>, modules: readonly LinearModule[]): number {
  let n = 0;
  for (const m of modules) {
    if (!isTargeted(m.module, config.lora.target_modules)) continue;
    n += peftRank({ r: config.lora.r, rank_pattern: config.lora.rank_pattern ?? {} }, m.module) * (m.in + m.out);
  }
  return n;
}

/** The capacity meter: adapter parameters against trained tokens, and the rank that would hold them. */
export interface Capacity {
  parameters: number;
  trainedTokens: number;
  /** parameters / trainedTokens. */
  parametersPerToken: number;
  /** Smallest power-of-two rank whose adapter has ≥ trainedTokens parameters, at most the narrowest targeted width. */
  suggestedRank: number;
}

/** `Capacity` from modules and tokens; undefined when no module is targeted. */
export function capacity(config: Pick<AdviceConfig, 'lora'>, modules: readonly LinearModule[], trainedTokens: number): Capacity | undefined {
  const targeted = modules.filter((m) => isTargeted(m.module, config.lora.target_modules));
  if (targeted.length === 0) return undefined;
  const parameters = loraParameterCount(config, modules);
  const perRank = targeted.reduce((a, m) => a + m.in + m.out, 0);
  const maxRank = Math.min(...targeted.map((m) => Math.min(m.in, m.out)));
  let r = 1;
  while (r * perRank < trainedTokens && r * 2 <= maxRank) r *= 2;
  return { parameters, trainedTokens, parametersPerToken: trainedTokens > 0 ? parameters / trainedTokens : Infinity, suggestedRank: r };
}

/** Trained tokens above adapter parameters (the rule of thumb: parameters ≥ tokens). Value: tokens / parameters. */
export function capacityRule(config: AdviceConfig, ctx: AdviceContext = {}): Finding | undefined {
  if (!ctx.modules || ctx.trainedTokens === undefined) return undefined;
  const c = capacity(config, ctx.modules, ctx.trainedTokens);
  if (!c || !(c.trainedTokens > c.parameters)) return undefined;
  const ratio = c.trainedTokens / c.parameters;
  const higher = c.suggestedRank > config.lora.r;
  return {
    id: 'capacity',
    severity: 'warning',
    message: `the data holds ${human(c.trainedTokens)} trained tokens, ${fmt(ratio)}× the adapter's ${human(c.parameters)} parameters (r ${config.lora.r}): past that LoRA learns less per step than full fine-tuning; ${higher ? `use lora.r ${c.suggestedRank} (${human(loraParameterCount({ lora: { ...config.lora, r: c.suggestedRank } }, ctx.modules))} parameters)` : 'the model is too narrow for a larger rank; use less data or accept the gap'}`,
    value: ratio,
    threshold: 1,
    pointer: '/lora/r',
    ...(higher ? { fix: { pointer: '/lora/r', value: c.suggestedRank, title: `Set r to ${c.suggestedRank}` } } : {}),
    source: SOURCES.capacity,
  };
}

/**
 * Every finding for an experiment, in `RULE_IDS` order, without the ids listed in
 * `advise.ignore`.
 */
export function advise(config: AdviceConfig, ctx: AdviceContext = {}): Finding[] {
  const ignore = new Set(config.advise?.ignore ?? []);
  const all = [
    learningRateRule(config, ctx),
    effectiveBatchRule(config),
    attentionOnlyRule(config, ctx),
    rsloraRule(config),
    loraAlphaRule(config),
    scheduleRule(config),
    capacityRule(config, ctx),
  ];
  return all.filter((f): f is Finding => f !== undefined && !ignore.has(f.id));
}
