/**
 * Experiment files (`*.lora.json`): JSON with comments, validated by the one JSON Schema in
 * `schemas/lora-experiment.schema.json` (the same file VS Code's `jsonValidation` uses), with
 * every default taken from that schema. Plain Node; no `vscode` import.
 *
 * Key names are PEFT's `LoraConfig` names in `lora`, Hugging Face `TrainingArguments` names in
 * `training` and TRL's `SFTConfig` names in `data`.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { JsonDocument } from './document';
import { ExperimentError, schemaProblems, type ExperimentProblem } from './errors';
import { resolveModel, resolvePath } from './paths';
import { EXPERIMENT_SCHEMA, experimentValidator } from './schema';
import { peftPatternRegExp } from '../engine/weights/peft';
import { sweepProblems } from './sweep';

export { ExperimentError, formatProblem, type ExperimentProblem } from './errors';
export { isHubId, looksLikePath } from './paths';
export { EXPERIMENT_FILE_SUFFIX, EXPERIMENT_SCHEMA, EXPERIMENT_SCHEMA_FILE, createAjv } from './schema';
export { defaultExperiment } from './template';
export { type SweepPoint, type SweepSpec, expandSweep, loadSweep, readSweepSpec, sweepPointText } from './sweep';

/** Execution provider (engine/device.ts); `auto` = CUDA, else WebGPU, else CPU. */
export type ExperimentDevice = Device;
import type { Device, Precision } from '../engine/device';

/** Hugging Face `lr_scheduler_type` values we implement, with HF semantics (engine/train/schedule.ts). */
export type { LrSchedulerType } from '../engine/train/schedule';
import type { LrSchedulerType } from '../engine/train/schedule';

/** `data`: TRL `SFTConfig` names (the engine's data config); paths are absolute once parsed. */
export type { DataConfig } from '../engine/data/dataset';
import type { DataConfig } from '../engine/data/dataset';

/** `lora`: PEFT `LoraConfig` names. */
export interface LoraSettings {
  /** Rank (≥ 1). */
  r: number;
  /** Scaling numerator (> 0): scale = lora_alpha / r, or lora_alpha / √r with `use_rslora`. */
  lora_alpha: number;
  /** Dropout probability on the LoRA branch input, in [0, 1). */
  lora_dropout: number;
  /** `"all-linear"`, a list of module name suffixes, or a full-match regular expression. */
  target_modules: string | string[];
  /** Scale by lora_alpha / √r instead of lora_alpha / r. */
  use_rslora: boolean;
  /**
   * Per-module ranks overriding `r` (PEFT `LoraConfig.rank_pattern`): pattern → rank (≥ 1). A
   * pattern is a regular expression matched against a dot-separated suffix of the module name,
   * the first matching pattern wins (`peftPatternKey`). Optional in run.json files written
   * before it existed.
   */
  rank_pattern?: Record<string, number>;
  /** Per-module alphas overriding `lora_alpha` (PEFT `LoraConfig.alpha_pattern`): pattern → alpha (> 0), matched like `rank_pattern`. */
  alpha_pattern?: Record<string, number>;
}

/** `training`: Hugging Face `TrainingArguments` names. Steps are optimizer steps. */
export interface TrainingConfig {
  /** Peak AdamW learning rate (> 0). */
  learning_rate: number;
  lr_scheduler_type: LrSchedulerType;
  /** Linear warmup steps (≥ 0); wins over `warmup_ratio` when > 0. */
  warmup_steps: number;
  /** Warmup as a fraction of `max_steps`, in [0, 1]; used when `warmup_steps` is 0. */
  warmup_ratio: number;
  /** Optimizer steps to train for (≥ 1). */
  max_steps: number;
  /** Sequences per forward/backward pass (≥ 1). */
  per_device_train_batch_size: number;
  /** Passes per optimizer step (≥ 1). */
  gradient_accumulation_steps: number;
  /** AdamW decoupled weight decay (≥ 0). */
  weight_decay: number;
  /** Global gradient L2-norm clip (≥ 0); 0 disables clipping. */
  max_grad_norm: number;
  /** Recompute each decoder layer in the backward (HF `gradient_checkpointing`); absent in older run.json = false. */
  gradient_checkpointing?: boolean;
  /**
   * Number format of the frozen base weights (engine/device.ts `resolvePrecision`): auto = fp16 on
   * CUDA / WebGPU, fp32 on CPU. Absent in older run.json = "fp32" (what they trained with).
   */
  precision?: Precision;
  /** AdamW β1, in [0, 1). */
  adam_beta1: number;
  /** AdamW β2, in [0, 1). */
  adam_beta2: number;
  /** AdamW ε (> 0). */
  adam_epsilon: number;
  /** Validation loss every N optimizer steps (≥ 1), and at step 0. */
  eval_steps: number;
  /** Checkpoint every N optimizer steps (≥ 1). */
  save_steps: number;
  /** A `metrics.jsonl` line every N optimizer steps (≥ 1). */
  logging_steps: number;
  /** Random seed (0 … 2³²−1). */
  seed: number;
}

/** A fully resolved experiment: every default applied, every local path absolute. */
export interface ExperimentConfig {
  /** Experiment name; letters, digits, `.`, `_`, `-` (a folder name). */
  name: string;
  /** Absolute path of a local model folder, or a Hub id `owner/name` (see `parseExperiment`). */
  model: string;
  /** Absolute path of a PEFT adapter folder to continue from, or null. */
  init_adapter: string | null;
  data: DataConfig;
  lora: LoraSettings;
  training: TrainingConfig;
  device: ExperimentDevice;
  /** Eval sets run at every checkpoint (absolute paths); absent when the experiment names none. */
  eval?: { files: string[]; every: 'checkpoint' } | null;
  /**
   * The `advise` block (the advisor's settings; never changes training). Optional in run.json
   * files written before it existed.
   */
  advise?: { full_finetune_learning_rate: number | null; ignore: string[] };
}

/**
 * Parses and validates the text of an experiment file.
 *
 * - JSON with comments and trailing commas (jsonc-parser). On syntax errors only those are
 *   reported (a broken document would give misleading schema errors).
 * - Validated by the schema with ajv (all errors at once); missing keys take the schema's
 *   defaults. Duplicate keys and target_modules regular expressions that do not compile are
 *   errors too.
 * - Paths are resolved against the folder of `file`: `data.train`, `data.validation` when a
 *   string, `init_adapter` (always paths; `~` is the home folder). `model` is a local path if it
 *   starts with `./`, `../`, `/` or `~`, or if it exists relative to that folder; otherwise it is
 *   kept as a Hub id when it matches `owner/name` (and resolved as a path when it does not).
 *
 * @param text the file's content
 * @param file the file's path, as it should appear in messages; relative to the current folder
 * @returns the resolved config
 * @throws ExperimentError listing every problem as `file:line: /pointer: message`
 */
export function parseExperiment(text: string, file: string): ExperimentConfig {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const doc = new JsonDocument(text);
  const syntax = doc.syntaxProblems();
  if (syntax.length > 0) throw new ExperimentError(sortByLine(syntax.map((p) => ({ file, ...p }))));

  const problems: ExperimentProblem[] = doc.duplicateKeys().map((p) => ({ file, ...p }));
  const data = doc.value;
  const validate = experimentValidator();
  if (!validate(data)) problems.push(...schemaProblems(validate.errors ?? [], doc, file));
  problems.push(...semanticProblems(data, doc, file));
  problems.push(...sweepProblems(data, doc, file));
  if (problems.length > 0) throw new ExperimentError(sortByLine(problems));

  return resolveConfig(data as ExperimentConfig, dirname(resolve(file)));
}

/**
 * The validated value as plain objects (jsonc-parser makes prototype-less ones) in the schema's
 * key order, without `$schema`, with paths resolved against `baseDir`.
 */
function resolveConfig(v: ExperimentConfig, baseDir: string): ExperimentConfig {
  const { data, lora, training } = v;
  return {
    name: v.name,
    model: resolveModel(v.model, baseDir),
    init_adapter: v.init_adapter === null ? null : resolvePath(v.init_adapter, baseDir),
    data: {
      train: resolvePath(data.train, baseDir),
      validation: typeof data.validation === 'string' ? resolvePath(data.validation, baseDir) : data.validation,
      max_seq_length: data.max_seq_length,
      packing: data.packing,
      pad_to_multiple_of: data.pad_to_multiple_of,
      completion_only_loss: data.completion_only_loss,
      skip_bad_records: data.skip_bad_records,
    },
    lora: {
      r: lora.r,
      lora_alpha: lora.lora_alpha,
      lora_dropout: lora.lora_dropout,
      target_modules: Array.isArray(lora.target_modules) ? [...lora.target_modules] : lora.target_modules,
      use_rslora: lora.use_rslora,
      rank_pattern: { ...lora.rank_pattern },
      alpha_pattern: { ...lora.alpha_pattern },
    },
    training: {
      learning_rate: training.learning_rate,
      lr_scheduler_type: training.lr_scheduler_type,
      warmup_steps: training.warmup_steps,
      warmup_ratio: training.warmup_ratio,
      max_steps: training.max_steps,
      per_device_train_batch_size: training.per_device_train_batch_size,
      gradient_accumulation_steps: training.gradient_accumulation_steps,
      weight_decay: training.weight_decay,
      max_grad_norm: training.max_grad_norm,
      gradient_checkpointing: training.gradient_checkpointing,
      precision: training.precision,
      adam_beta1: training.adam_beta1,
      adam_beta2: training.adam_beta2,
      adam_epsilon: training.adam_epsilon,
      eval_steps: training.eval_steps,
      save_steps: training.save_steps,
      logging_steps: training.logging_steps,
      seed: training.seed,
    },
    device: v.device,
    ...(v.eval ? { eval: { files: v.eval.files.map((f) => resolvePath(f, baseDir)), every: v.eval.every ?? 'checkpoint' } } : {}),
    advise: { full_finetune_learning_rate: v.advise?.full_finetune_learning_rate ?? null, ignore: [...(v.advise?.ignore ?? [])] },
  };
}

/**
 * Reads and parses an experiment file (UTF-8).
 *
 * @param path the file; relative paths are taken from the current folder and kept as written in messages
 * @throws ExperimentError when the file cannot be read (`x.lora.json: file not found`) or is invalid
 */
export async function loadExperiment(path: string): Promise<ExperimentConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const message =
      code === 'ENOENT'
        ? 'file not found'
        : code === 'EISDIR'
          ? 'is a folder, not an experiment file'
          : code === 'EACCES' || code === 'EPERM'
            ? 'permission denied'
            : `cannot be read (${(e as Error).message})`;
    throw new ExperimentError([{ file: path, line: 0, pointer: '', message }]);
  }
  return parseExperiment(text, path);
}

/**
 * Why a string cannot be an experiment name (for an input box's validation), or undefined
 * when it can. Same rule as the schema's `name`.
 */
export function experimentNameProblem(name: string): string | undefined {
  const node = EXPERIMENT_SCHEMA.properties.name;
  if (name.length === 0) return 'must not be empty';
  if (name.length > node.maxLength) return `must be at most ${node.maxLength} characters long`;
  if (!new RegExp(node.pattern, 'u').test(name)) return node.patternErrorMessage;
  return undefined;
}

/**
 * Checks the schema cannot express: `target_modules` as a regular expression, and every key of
 * `rank_pattern` / `alpha_pattern` (PEFT compiles them as regular expressions), must compile.
 */
function semanticProblems(data: unknown, doc: JsonDocument, file: string): ExperimentProblem[] {
  const lora = (data as { lora?: { target_modules?: unknown; rank_pattern?: unknown; alpha_pattern?: unknown } } | undefined)?.lora;
  const problems: ExperimentProblem[] = [];
  const target = lora?.target_modules;
  if (typeof target === 'string' && target !== 'all-linear' && target !== '') {
    const reason = regexProblem(() => new RegExp(`^(?:${target})$`));
    const pointer = '/lora/target_modules';
    if (reason) problems.push({ file, line: doc.lineOfPointer(pointer), pointer, message: `is not a valid regular expression (${reason})` });
  }
  for (const field of ['rank_pattern', 'alpha_pattern'] as const) {
    const patterns = lora?.[field];
    if (typeof patterns !== 'object' || patterns === null || Array.isArray(patterns)) continue;
    for (const key of Object.keys(patterns)) {
      const reason = regexProblem(() => peftPatternRegExp(key));
      if (!reason) continue;
      const pointer = `/lora/${field}`;
      problems.push({ file, line: doc.lineOfKey(pointer, key), pointer, message: `key ${JSON.stringify(key)} is not a valid regular expression (${reason}); PEFT matches these keys as regular expressions against module names` });
    }
  }
  return problems;
}

/** Why `compile` throws (the engine's words after the last ": "), or undefined when it does not. */
function regexProblem(compile: () => RegExp): string | undefined {
  try {
    compile();
    return undefined;
  } catch (e) {
    return (e as Error).message.split(': ').at(-1);
  }
}

/** Problems in line order (stable: the same line keeps the order they were found in). */
function sortByLine(problems: ExperimentProblem[]): ExperimentProblem[] {
  return problems.map((p, i) => ({ p, i })).sort((a, b) => a.p.line - b.p.line || a.i - b.i).map(({ p }) => p);
}
