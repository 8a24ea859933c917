/**
 * ExperimentError, and ajv's errors turned into one clear line each:
 * `path/to/x.lora.json:7: /training/learning_rate: must be > 0`.
 */
import type { ErrorObject } from 'ajv';
import type { JsonDocument } from './document';
import { objectSections, type SchemaNode } from './schema';
import { closestMatch } from '../engine/suggest';

/** One problem in an experiment file. */
export interface ExperimentProblem {
  /** The file as it was named to `parseExperiment` / `loadExperiment`. */
  file: string;
  /** 1-based line of the offending key (or of its object, for a missing key); 0 when the file could not be read. */
  line: number;
  /** JSON pointer of the value concerned (`/training/learning_rate`; `/` for the root; `` when the file could not be read). */
  pointer: string;
  /** What is wrong, in plain words. */
  message: string;
  /** For an unknown key: the key as written (its object is `pointer`). */
  key?: string;
  /** For an unknown key: the key it most likely meant, in the same object (an editor's quick fix). */
  suggestion?: string;
}

/** `file:line: /pointer: message`, or `file: message` when there is no line. */
export function formatProblem(p: ExperimentProblem): string {
  if (p.line <= 0) return `${p.file}: ${p.pointer ? `${p.pointer}: ` : ''}${p.message}`;
  return `${p.file}:${p.line}: ${p.pointer}: ${p.message}`;
}

/**
 * An experiment file that cannot be read, parsed or validated. `message` lists every problem,
 * one per line, each formatted as `file:line: /pointer: message`; `problems` has them as data,
 * sorted by line. It is bad input from the user (the CLI exits with code 2).
 */
export class ExperimentError extends Error {
  override name = 'ExperimentError';
  constructor(readonly problems: ExperimentProblem[]) {
    super(problems.map(formatProblem).join('\n'));
  }
}

// The "did you mean" suggester lives in the engine (eval sets use it too): one definition.
export { closestMatch, editDistance } from '../engine/suggest';

/** Names users bring from other tools → our key. */
const ALIASES: Record<string, string> = {
  lr: 'learning_rate',
  batch_size: 'per_device_train_batch_size',
  train_batch_size: 'per_device_train_batch_size',
  micro_batch_size: 'per_device_train_batch_size',
  rank: 'r',
  lora_r: 'r',
  alpha: 'lora_alpha',
  dropout: 'lora_dropout',
  max_length: 'max_seq_length',
  cutoff_len: 'max_seq_length',
  scheduler: 'lr_scheduler_type',
  lr_scheduler: 'lr_scheduler_type',
  warmup: 'warmup_steps',
  steps: 'max_steps',
  grad_accum: 'gradient_accumulation_steps',
  clip_grad_norm: 'max_grad_norm',
  mixed_precision: 'precision',
  torch_dtype: 'precision',
  train_file: 'train',
  validation_file: 'validation',
  eval_file: 'validation',
  val_set_size: 'validation',
  base_model: 'model',
  model_name_or_path: 'model',
  adapter: 'init_adapter',
  target: 'target_modules',
  rslora: 'use_rslora',
};

/** Where a section's keys live, in words: `"training"`, or `the top level`. */
function sectionName(pointer: string): string {
  return pointer === '/' ? 'the top level' : JSON.stringify(pointer.slice(1).split('/').join('.'));
}

/**
 * `unknown key "k" (did you mean "x"?)`, `(it belongs in "training")` or the list of allowed keys;
 * `suggestion` is the key meant in the same object, when there is one.
 */
function unknownKey(key: string, objectPointer: string, allowed: readonly string[], given?: unknown): { message: string; suggestion?: string } {
  const head = `unknown key ${JSON.stringify(key)}`;
  const sections = objectSections();
  const home = (k: string) => [...sections].find(([p, s]) => p !== objectPointer && s.properties && k in s.properties)?.[0];
  const elsewhere = home(key);
  if (elsewhere) return { message: `${head} (it belongs in ${sectionName(elsewhere)})` };
  if (/^(fp16|bf16|tf32)$/i.test(key)) {
    // HF TrainingArguments' `"fp16": false` asks for nothing: say it can go rather than suggest fp16.
    if (given === false) return { message: `${head} (false asks for nothing here, so remove it: fp32 is the default on CPU; "precision" in "training" sets the number format: auto, fp32, fp16, bf16)` };
    const value = key.toLowerCase() === 'tf32' ? 'fp32' : key.toLowerCase();
    return { message: `${head} (LoRA Lab sets the number format with "precision": "${value}" in "training"; values auto, fp32, fp16, bf16)` };
  }
  const alias = ALIASES[key.toLowerCase()];
  if (alias && allowed.includes(alias)) return { message: `${head} (did you mean ${JSON.stringify(alias)}?)`, suggestion: alias };
  if (alias && home(alias)) return { message: `${head} (did you mean ${JSON.stringify(alias)} in ${sectionName(home(alias)!)}?)` };
  const near = closestMatch(key, allowed);
  if (near) return { message: `${head} (did you mean ${JSON.stringify(near)}?)`, suggestion: near };
  if (key === 'num_train_epochs' || key === 'epochs') return { message: `${head} (training length is set with "max_steps" in "training")` };
  return { message: `${head} (allowed keys: ${allowed.map((k) => JSON.stringify(k)).join(', ')})` };
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  integer: 'an integer',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
  null: 'null',
};

/** A short rendering of an offending value: JSON, cut at 40 characters; objects and arrays by kind. */
export function describeValue(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (v !== null && typeof v === 'object') return 'an object';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** "a", "a or b", "a, b or c". */
function orList(words: string[]): string {
  return words.length <= 1 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} or ${words.at(-1)}`;
}

const ERROR_MESSAGE_KEYWORDS = new Set(['type', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum']);

/** The plain-words message for one ajv error (not additionalProperties / required, handled apart). */
function valueMessage(e: ErrorObject): string {
  const schema = (e.parentSchema ?? {}) as SchemaNode;
  const got = `(got ${describeValue(e.data)})`;
  // A node's errorMessage replaces what is said about the kind and range of its value.
  if (schema.errorMessage && ERROR_MESSAGE_KEYWORDS.has(e.keyword)) return `${schema.errorMessage} ${got}`;
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'type': {
      const types = String(p.type).split(',');
      return `must be ${orList(types.map((t) => TYPE_WORDS[t] ?? t))} ${got}`;
    }
    case 'enum': {
      const allowed = (p.allowedValues as unknown[]) ?? [];
      const near = typeof e.data === 'string' ? closestMatch(e.data, allowed.map(String)) : undefined;
      const hint = near ? `; did you mean ${JSON.stringify(near)}?` : '';
      return `must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')} (got ${describeValue(e.data)}${hint})`;
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `must be ${String(p.comparison)} ${String(p.limit)}`;
    case 'minLength':
      return p.limit === 1 ? 'must not be empty' : `must be at least ${String(p.limit)} characters long`;
    case 'maxLength':
      return `must be at most ${String(p.limit)} characters long`;
    case 'minItems':
      return p.limit === 1 ? 'must not be empty' : `must have at least ${String(p.limit)} items`;
    case 'uniqueItems':
      return `must not repeat an item (items ${String(p.j)} and ${String(p.i)} are the same)`;
    case 'pattern':
      return schema.patternErrorMessage ?? schema.errorMessage ?? `must match the pattern /${String(p.pattern)}/`;
    default:
      return e.message ?? `fails "${e.keyword}"`;
  }
}

/**
 * ajv errors → problems with the line of the key concerned. A missing required key is reported
 * at its object's line; an unknown key at its own line with the pointer of its object.
 */
export function schemaProblems(errors: readonly ErrorObject[], doc: JsonDocument, file: string): ExperimentProblem[] {
  const out: ExperimentProblem[] = [];
  const seen = new Set<string>();
  // A value outside an enum of strings fails both `type` and `enum`: the enum's message (which
  // lists the allowed values and shows the value given) says it all, so the type error is dropped.
  const enumFailed = new Set(errors.filter((e) => e.keyword === 'enum').map((e) => e.instancePath || '/'));
  for (const e of errors) {
    const pointer = e.instancePath || '/';
    if (e.keyword === 'type' && enumFailed.has(pointer)) continue;
    let problem: ExperimentProblem;
    if (e.keyword === 'additionalProperties') {
      const key = String((e.params as { additionalProperty: string }).additionalProperty);
      const allowed = Object.keys((e.parentSchema as SchemaNode).properties ?? {}).filter((k) => k !== '$schema');
      const value = e.data !== null && typeof e.data === 'object' ? (e.data as Record<string, unknown>)[key] : undefined;
      const { message, suggestion } = unknownKey(key, pointer, allowed, value);
      problem = { file, line: doc.lineOfKey(pointer, key), pointer, message, key, ...(suggestion ? { suggestion } : {}) };
    } else if (e.keyword === 'required') {
      const key = String((e.params as { missingProperty: string }).missingProperty);
      problem = { file, line: doc.lineOfPointer(pointer), pointer, message: `missing required key ${JSON.stringify(key)}` };
    } else {
      problem = { file, line: doc.lineOfPointer(pointer), pointer, message: valueMessage(e) };
    }
    // Several errors of one node can read the same (errorMessage): report it once.
    const id = `${problem.pointer}\n${problem.message}`;
    if (!seen.has(id)) out.push(problem);
    seen.add(id);
  }
  return out;
}
