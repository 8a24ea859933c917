/**
 * PEFT LoRA adapter folders, as Hugging Face PEFT's `save_pretrained` writes them:
 *
 *   adapter_config.json        LoraConfig fields (`peft/tuners/lora/config.py`), sorted keys
 *   adapter_model.safetensors  per adapted Linear `<module>` (e.g. `model.layers.0.self_attn.q_proj`):
 *                                base_model.model.<module>.lora_A.weight  A [r, in]
 *                                base_model.model.<module>.lora_B.weight  B [out, r]
 *                              metadata {"format": "pt"}
 *
 * The adapted layer computes y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ with s = lora_alpha / r
 * (lora_alpha / √r with `use_rslora`), r and lora_alpha per module after `rank_pattern` /
 * `alpha_pattern`. Only plain LoRA on Linear layers is read: DoRA, LoRA on embeddings, LoRA
 * biases and `modules_to_save` weights are refused with a `WeightsError`, never ignored.
 */
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { HostTensor, isFloat } from '../tensor';
import { toFloat32 } from './dtype';
import { WeightsError, describeJsonError } from './errors';
import { writeBytesAtomic } from './atomic';
import { SafetensorsFile, writeSafetensors } from './safetensors';

export const ADAPTER_CONFIG_NAME = 'adapter_config.json';
export const ADAPTER_WEIGHTS_NAME = 'adapter_model.safetensors';
/** Prefix PEFT puts before the base model's module names in saved keys (PeftModel → LoraModel → model). */
export const PEFT_KEY_PREFIX = 'base_model.model.';

/**
 * `adapter_config.json` of a LoRA adapter, with PEFT's `LoraConfig` key names. Keys not listed
 * here (newer or older PEFT fields: `lora_bias`, `exclude_modules`, `loftq_config`, …) are kept
 * as read, so a read → write round trip preserves them.
 */
export interface LoraConfigJson {
  /** Must be "LORA". */
  peft_type: string;
  /** "CAUSAL_LM", "SEQ_2_SEQ_LM", … or null. */
  task_type?: string | null;
  /** Default rank. */
  r: number;
  /** Default alpha; scaling = lora_alpha / r. */
  lora_alpha: number;
  lora_dropout?: number;
  /** Module name suffixes, a regex (string, full match), "all-linear", or null. */
  target_modules?: string[] | string | null;
  /** "none" | "all" | "lora_only". */
  bias?: string;
  /** Scaling lora_alpha / √r instead of lora_alpha / r. */
  use_rslora?: boolean;
  /** The base layer stores W as [in, out] (GPT-2 Conv1D); A and B keep their usual shapes. */
  fan_in_fan_out?: boolean;
  /** DoRA; not supported when true. */
  use_dora?: boolean;
  /** Per-module rank overrides: pattern → r (see `peftPatternKey`). */
  rank_pattern?: Record<string, number>;
  /** Per-module alpha overrides: pattern → lora_alpha (see `peftPatternKey`). */
  alpha_pattern?: Record<string, number>;
  base_model_name_or_path?: string | null;
  modules_to_save?: string[] | null;
  init_lora_weights?: boolean | string;
  layers_to_transform?: number[] | number | null;
  revision?: string | null;
  inference_mode?: boolean;
  [key: string]: unknown;
}

/** What `writePeftAdapter` needs at least; every other key gets PEFT's default. */
export type LoraConfigInput = Partial<LoraConfigJson> & { r: number; lora_alpha: number };

/** The LoRA pair of one adapted Linear layer. */
export interface LoraWeights {
  /** The base model's module path, e.g. "model.layers.0.self_attn.q_proj" (no "base_model.model."). */
  module: string;
  /** float32 [r, in]. */
  A: HostTensor;
  /** float32 [out, r]. */
  B: HostTensor;
}

/** A PEFT adapter folder, read. */
export interface PeftAdapter {
  config: LoraConfigJson;
  /** Module path → its A and B, in sorted key order. */
  modules: Map<string, LoraWeights>;
}

/**
 * The defaults PEFT writes into adapter_config.json, for the keys every PEFT release since
 * 0.10 understands (newer keys such as `lora_bias` are left out so older PEFT can still load
 * the folder; PEFT < 0.14 rejects unknown keys).
 */
const PEFT_DEFAULTS: Readonly<Omit<LoraConfigJson, 'r' | 'lora_alpha'>> = {
  alpha_pattern: {},
  auto_mapping: null,
  base_model_name_or_path: null,
  bias: 'none',
  fan_in_fan_out: false,
  inference_mode: true,
  init_lora_weights: true,
  layer_replication: null,
  layers_pattern: null,
  layers_to_transform: null,
  loftq_config: {},
  lora_dropout: 0.0,
  megatron_config: null,
  megatron_core: 'megatron.core',
  modules_to_save: null,
  peft_type: 'LORA',
  rank_pattern: {},
  revision: null,
  task_type: 'CAUSAL_LM',
  use_dora: false,
  use_rslora: false,
};

const q = (s: string): string => JSON.stringify(s);

/**
 * Compiles a rank_pattern / alpha_pattern key the way PEFT's `get_pattern_key` uses it:
 * `(.*\.)?(key)$` matched from the start of the module name. Throws SyntaxError when `key` is
 * not a valid regular expression.
 */
export function peftPatternRegExp(key: string): RegExp {
  return new RegExp(`^(?:.*\\.)?(?:${key})$`);
}

/**
 * The `rank_pattern` / `alpha_pattern` key that applies to `module`, or undefined.
 *
 * Rule (PEFT `peft/utils/other.py` `get_pattern_key`, called from `tuners/lora/model.py`
 * `_create_and_replace`; checked against PEFT main, 0.20.1.dev0, August 2026): keys are tried
 * in insertion order and the first key `k` for which `re.match(rf"(.*\.)?({k})$", module)` succeeds wins. So `k` is a
 * regular expression that must match a dot-separated suffix of the module path:
 * "q_proj" matches "model.layers.0.self_attn.q_proj", "layers.0.self_attn.q_proj" matches only
 * layer 0, "layers\\.[0-3]\\..*" matches layers 0 to 3, and "proj" does not match "q_proj".
 * `module` is the base model's module path (no "base_model.model." prefix), as PEFT matches it.
 * Throws `WeightsError` if a key is not a valid (JavaScript) regular expression.
 */
export function peftPatternKey(patterns: Record<string, number> | null | undefined, module: string): string | undefined {
  if (!patterns) return undefined;
  for (const key of Object.keys(patterns)) {
    let re: RegExp;
    try {
      re = peftPatternRegExp(key);
    } catch (err) {
      throw new WeightsError(ADAPTER_CONFIG_NAME, `${ADAPTER_CONFIG_NAME}: pattern key ${q(key)} is not a valid regular expression (${(err as Error).message}); fix rank_pattern / alpha_pattern`);
    }
    if (re.test(module)) return key;
  }
  return undefined;
}

/** The rank of `module`: its `rank_pattern` override (see `peftPatternKey`) or `r`. */
export function peftRank(config: Pick<LoraConfigJson, 'r' | 'rank_pattern'>, module: string): number {
  const key = peftPatternKey(config.rank_pattern, module);
  return key === undefined ? config.r : config.rank_pattern![key];
}

/** The alpha of `module`: its `alpha_pattern` override (see `peftPatternKey`) or `lora_alpha`. */
export function peftAlpha(config: Pick<LoraConfigJson, 'lora_alpha' | 'alpha_pattern'>, module: string): number {
  const key = peftPatternKey(config.alpha_pattern, module);
  return key === undefined ? config.lora_alpha : config.alpha_pattern![key];
}

/**
 * The LoRA scaling s of `module` in y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ, as PEFT's `LoraLayer.update_layer`:
 * alpha / r, or alpha / √r with `use_rslora`, where r and alpha are the module's values after
 * `rank_pattern` / `alpha_pattern` (PEFT looks the two patterns up independently).
 */
export function peftScaling(config: Pick<LoraConfigJson, 'r' | 'lora_alpha' | 'rank_pattern' | 'alpha_pattern' | 'use_rslora'>, module: string): number {
  const r = peftRank(config, module);
  const alpha = peftAlpha(config, module);
  return config.use_rslora ? alpha / Math.sqrt(r) : alpha / r;
}

/** The saved key of a module's A or B: "base_model.model.<module>.lora_A.weight". */
export function peftKey(module: string, which: 'A' | 'B'): string {
  return `${PEFT_KEY_PREFIX}${module}.lora_${which}.weight`;
}

const isPosNumber = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x > 0;
const isPosInt = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x > 0;

/**
 * Checks a parsed adapter_config.json and returns it typed (the same object, unknown keys
 * kept). `path` names the file in messages. Requires peft_type "LORA", r a positive integer,
 * lora_alpha a positive number (either one missing is named as missing, with PEFT's default
 * 8), use_dora not true, rank_pattern values positive integers, alpha_pattern values
 * positive numbers, pattern keys valid regular expressions, and the documented types for
 * target_modules, use_rslora, modules_to_save.
 * Throws `WeightsError` naming `path` and the key.
 */
export function validateLoraConfig(json: unknown, path: string): LoraConfigJson {
  const fail = (what: string): never => {
    throw new WeightsError(path, `${path}: ${what}`);
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('is not a JSON object; a PEFT adapter_config.json holds {"peft_type": "LORA", "r": …, "lora_alpha": …}');
  const c = json as Record<string, unknown>;
  if (c.peft_type === undefined) fail('has no "peft_type"; a LoRA adapter has "peft_type": "LORA" — is this a PEFT adapter_config.json?');
  if (c.peft_type !== 'LORA') fail(`peft_type is ${JSON.stringify(c.peft_type)}; LoRA Lab reads only LoRA adapters ("peft_type": "LORA") — use an adapter trained with LoraConfig`);
  // PEFT fills a missing r or lora_alpha with LoraConfig's default (8 for both, PEFT 0.10–0.17);
  // PEFT itself always writes both, so say which is missing rather than guess.
  if (c.r === undefined) fail('"r" is missing; add the rank the adapter was trained with (the rows of lora_A; PEFT\'s default is 8)');
  if (!isPosInt(c.r)) fail(`"r" is ${JSON.stringify(c.r)}; it must be a positive integer (the LoRA rank)`);
  if (c.lora_alpha === undefined) fail('"lora_alpha" is missing; add the alpha the adapter was trained with (PEFT\'s default is 8; scaling = lora_alpha / r)');
  if (!isPosNumber(c.lora_alpha)) fail(`"lora_alpha" is ${JSON.stringify(c.lora_alpha)}; it must be a positive number`);
  if (c.use_dora === true) fail('"use_dora" is true; DoRA adapters are not supported — LoRA Lab applies plain LoRA only');
  for (const key of ['use_rslora', 'fan_in_fan_out', 'inference_mode'] as const) {
    if (c[key] !== undefined && c[key] !== null && typeof c[key] !== 'boolean') fail(`"${key}" is ${JSON.stringify(c[key])}; it must be true or false`);
  }
  const tm = c.target_modules;
  if (tm !== undefined && tm !== null && typeof tm !== 'string' && !(Array.isArray(tm) && tm.every((t) => typeof t === 'string'))) {
    fail(`"target_modules" is ${JSON.stringify(tm)}; it must be a list of module names, a regex string, or null`);
  }
  const mts = c.modules_to_save;
  if (mts !== undefined && mts !== null && !(Array.isArray(mts) && mts.every((t) => typeof t === 'string'))) {
    fail(`"modules_to_save" is ${JSON.stringify(mts)}; it must be a list of module names or null`);
  }
  for (const [key, check, what] of [
    ['rank_pattern', isPosInt, 'positive integers'],
    ['alpha_pattern', isPosNumber, 'positive numbers'],
  ] as const) {
    const p = c[key];
    if (p === undefined || p === null) continue;
    if (typeof p !== 'object' || Array.isArray(p)) fail(`"${key}" is ${JSON.stringify(p)}; it must be an object of pattern → value`);
    for (const [k, v] of Object.entries(p as Record<string, unknown>)) {
      if (!check(v)) fail(`"${key}" entry ${q(k)} is ${JSON.stringify(v)}; values must be ${what}`);
      try {
        peftPatternRegExp(k);
      } catch (err) {
        fail(`"${key}" key ${q(k)} is not a valid regular expression (${(err as Error).message}); fix the pattern`);
      }
    }
  }
  return c as LoraConfigJson;
}

/**
 * Splits a saved LoRA weight key `[base_model.model.]<module>.lora_{A,B}[.default].weight` into
 * the base model's module path and which matrix; null for any other key (see
 * `unsupportedKeyReason`). Key layout: PEFT `save_pretrained` (`get_peft_model_state_dict`).
 */
export function parsePeftKey(key: string): { module: string; which: 'A' | 'B' } | null {
  const m = /^(.+)\.lora_(A|B)(\.default)?\.weight$/.exec(key);
  if (!m) return null;
  return { module: m[1].startsWith(PEFT_KEY_PREFIX) ? m[1].slice(PEFT_KEY_PREFIX.length) : m[1], which: m[2] as 'A' | 'B' };
}

/**
 * The problem of a key whose module path (after `parsePeftKey` removed one prefix) still starts
 * with `base_model.model.`: the adapter was saved from a model PEFT had wrapped twice. Null
 * for a normal key. The one definition used by `readPeftAdapter` and `loralab inspect`.
 */
export function doubledPrefixProblem(key: string, module: string): string | null {
  if (!module.startsWith(PEFT_KEY_PREFIX)) return null;
  return `key ${q(key)} has the prefix ${PEFT_KEY_PREFIX} twice; it was saved from a model PEFT had wrapped twice (get_peft_model on a PeftModel) — re-save the adapter from a model wrapped once, or drop one ${PEFT_KEY_PREFIX} from every key`;
}

/** Why a key that is not a plain lora_A / lora_B weight cannot be loaded. */
export function unsupportedKeyReason(key: string, config: LoraConfigJson): string {
  if (/\.lora_embedding_[AB]\b/.test(key)) return 'is LoRA on an embedding layer (lora_embedding_A/B), which LoRA Lab does not support — train the adapter without embedding targets';
  if (key.includes('lora_magnitude_vector')) return 'is a DoRA magnitude vector (use_dora), which LoRA Lab does not support — use a plain LoRA adapter';
  if (/\.lora_[AB](\.[^.]+)?\.bias$/.test(key)) return 'is a LoRA bias (lora_bias), which LoRA Lab does not support — train the adapter with lora_bias false';
  if (key.includes('modules_to_save') || (config.modules_to_save && config.modules_to_save.length > 0)) {
    return 'is a fully trained module weight (modules_to_save), which LoRA Lab does not support — train the adapter without modules_to_save';
  }
  if (/\.bias$/.test(key)) return 'is a trained bias (bias "all" or "lora_only"), which LoRA Lab does not support — train the adapter with bias "none"';
  return 'is not a lora_A / lora_B weight of a Linear layer; LoRA Lab reads only plain LoRA adapters';
}

/**
 * Reads and checks `<dir>/adapter_config.json` (PEFT's `LoraConfig.save_pretrained` output),
 * the one reader of that file for `readPeftAdapter` and `readAdapterHeader`
 * (weights/inspect.ts). Returns the config as `validateLoraConfig` types it, and its path.
 *
 * Throws `WeightsError` with a one-line message: `<dir>: adapter folder not found` when the folder
 * does not exist; `<dir>/adapter_config.json: not found` (naming the two files an adapter folder
 * holds), `cannot read (…)`, `not valid JSON (line L, column C …)`; or `validateLoraConfig`'s
 * error when the JSON is not a LoRA config.
 */
export async function readAdapterConfig(dir: string): Promise<{ config: LoraConfigJson; configPath: string }> {
  const configPath = nodePath.join(dir, ADAPTER_CONFIG_NAME);
  let text: string;
  try {
    text = await fsp.readFile(configPath, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      const dirExists = await fsp.stat(dir).then((s) => s.isDirectory(), () => false);
      if (!dirExists) throw new WeightsError(dir, `${dir}: adapter folder not found; check the adapter path`, { cause: err });
      throw new WeightsError(configPath, `${configPath}: not found; a PEFT adapter folder holds ${ADAPTER_CONFIG_NAME} and ${ADAPTER_WEIGHTS_NAME} — check the path`, { cause: err });
    }
    throw new WeightsError(configPath, `${configPath}: cannot read (${(err as Error).message}); check its permissions`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new WeightsError(configPath, `${configPath}: not valid JSON (${describeJsonError(text, err)}); fix the file`, { cause: err });
  }
  return { config: validateLoraConfig(json, configPath), configPath };
}

/**
 * Reads a PEFT LoRA adapter folder: `adapter_config.json` (validated by `validateLoraConfig`)
 * and `adapter_model.safetensors`, whose keys must all be
 * `[base_model.model.]<module>.lora_{A,B}[.default].weight` with float tensors (F32/F16/BF16/F64,
 * converted to float32). For each module: both A and B present, A [r_m, in], B [out, r_m] with
 * the same r_m, and r_m = `peftRank(config, module)`.
 *
 * Throws `WeightsError` naming the file when the folder or a file is missing (a lone
 * `adapter_model.bin` gets a conversion hint), JSON is invalid (with line and column), the
 * config is not LoRA, a key is unsupported (DoRA, embeddings, biases, modules_to_save) or has
 * the `base_model.model.` prefix twice (saved from a model wrapped twice), or a shape or rank
 * does not fit.
 */
export async function readPeftAdapter(dir: string): Promise<PeftAdapter> {
  const wPath = nodePath.join(dir, ADAPTER_WEIGHTS_NAME);
  const { config } = await readAdapterConfig(dir);

  try {
    await fsp.access(wPath);
  } catch {
    const bin = nodePath.join(dir, 'adapter_model.bin');
    const hasBin = await fsp.access(bin).then(() => true, () => false);
    if (hasBin) {
      throw new WeightsError(wPath, `${wPath}: not found, only adapter_model.bin (PyTorch pickle), which LoRA Lab does not read; convert it with: python -c "import torch; from safetensors.torch import save_file; save_file(torch.load('${bin}', map_location='cpu'), '${wPath}', metadata={'format': 'pt'})"`);
    }
    throw new WeightsError(wPath, `${wPath}: not found; a PEFT adapter folder holds ${ADAPTER_CONFIG_NAME} and ${ADAPTER_WEIGHTS_NAME} — check the path`);
  }

  const file = await SafetensorsFile.open(wPath);
  try {
    const pairs = new Map<string, { A?: string; B?: string }>();
    for (const key of file.names()) {
      const parsed = parsePeftKey(key);
      if (!parsed) throw new WeightsError(wPath, `${wPath}: key ${q(key)} ${unsupportedKeyReason(key, config)}`);
      const { module, which } = parsed;
      const doubled = doubledPrefixProblem(key, module);
      if (doubled) throw new WeightsError(wPath, `${wPath}: ${doubled}`);
      const pair = pairs.get(module) ?? {};
      if (pair[which] !== undefined) {
        throw new WeightsError(wPath, `${wPath}: module ${q(module)} has two lora_${which} tensors (${q(pair[which])} and ${q(key)}); keep one — the file mixes adapter names`);
      }
      pair[which] = key;
      pairs.set(module, pair);
    }
    if (pairs.size === 0) {
      throw new WeightsError(wPath, `${wPath}: holds no lora_A / lora_B tensors; the adapter is empty — re-save it`);
    }
    const modules = new Map<string, LoraWeights>();
    for (const [module, pair] of pairs) {
      if (pair.A === undefined || pair.B === undefined) {
        const has = pair.A === undefined ? 'lora_B' : 'lora_A';
        const lacks = pair.A === undefined ? 'lora_A' : 'lora_B';
        throw new WeightsError(wPath, `${wPath}: module ${q(module)} has ${has} but no ${lacks}; the adapter is incomplete — re-save it`);
      }
      const A = await readFloat(file, pair.A, wPath);
      const B = await readFloat(file, pair.B, wPath);
      checkPair(wPath, module, A, B, config, ADAPTER_CONFIG_NAME);
      modules.set(module, { module, A, B });
    }
    return { config, modules };
  } finally {
    file.close();
  }
}

/** Reads a float tensor of an adapter file as float32. */
async function readFloat(file: SafetensorsFile, key: string, path: string): Promise<HostTensor> {
  const info = file.info(key);
  if (!isFloat(info.dtype)) {
    throw new WeightsError(path, `${path}: ${q(key)} is ${info.dtype}, not a float tensor; the adapter is corrupt — re-save it`);
  }
  const t = await file.read(key);
  return { dtype: 'float32', shape: t.shape, data: toFloat32(t) };
}

/** Checks A [r_m, in], B [out, r_m], r_m = the config's rank for the module. */
function checkPair(path: string, module: string, A: HostTensor, B: HostTensor, config: LoraConfigJson, cfgName: string): void {
  const fmt = (s: number[]): string => `[${s.join(', ')}]`;
  if (A.shape.length !== 2 || B.shape.length !== 2) {
    throw new WeightsError(path, `${path}: module ${q(module)} has lora_A ${fmt(A.shape)} and lora_B ${fmt(B.shape)}; both must be 2-D (A [r, in], B [out, r]) — only Linear layers are supported`);
  }
  if (A.shape[0] !== B.shape[1]) {
    throw new WeightsError(path, `${path}: module ${q(module)} has lora_A ${fmt(A.shape)} and lora_B ${fmt(B.shape)}, whose ranks ${A.shape[0]} and ${B.shape[1]} differ (A is [r, in], B is [out, r]); the adapter is corrupt — re-save it`);
  }
  const r = peftRank(config, module);
  if (A.shape[0] !== r) {
    const why = peftPatternKey(config.rank_pattern, module) !== undefined ? 'from rank_pattern' : 'r';
    throw new WeightsError(path, `${path}: module ${q(module)} has rank ${A.shape[0]} (lora_A ${fmt(A.shape)}) but ${cfgName} gives it rank ${r} (${why}); the config and weights do not belong together`);
  }
}

/** Recursively sorts object keys (Python's `json.dumps(sort_keys=True)`). */
function sortKeys(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(sortKeys);
  if (typeof x === 'object' && x !== null) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(x).sort()) out[k] = sortKeys((x as Record<string, unknown>)[k]);
    return out;
  }
  return x;
}

/**
 * A complete adapter_config.json: `config` over PEFT's defaults (peft_type "LORA", task_type
 * "CAUSAL_LM", bias "none", lora_dropout 0, fan_in_fan_out / use_dora / use_rslora false,
 * rank_pattern / alpha_pattern {}, inference_mode true, init_lora_weights true, nulls for the
 * rest). `target_modules`, when absent, becomes the sorted last components of `modules`.
 * Unknown keys in `config` are kept.
 */
export function completeLoraConfig(config: LoraConfigInput, modules: Iterable<string> = []): LoraConfigJson {
  const out: LoraConfigJson = { ...PEFT_DEFAULTS, ...config } as LoraConfigJson;
  if (config.target_modules === undefined) {
    out.target_modules = [...new Set([...modules].map((m) => m.slice(m.lastIndexOf('.') + 1)))].sort();
  }
  return out;
}

/**
 * Writes a PEFT adapter folder that PEFT's `PeftModel.from_pretrained` loads: creates `dir`,
 * then writes `adapter_model.safetensors` (keys `base_model.model.<module>.lora_{A,B}.weight`
 * sorted, float32, metadata {"format": "pt"}) and `adapter_config.json` (see
 * `completeLoraConfig`; keys sorted, 2-space indent as PEFT writes it), each atomically.
 *
 * `modules` are keyed by the base model's module path ("model.layers.0.self_attn.q_proj");
 * A [r_m, in] and B [out, r_m] may be any float dtype and are stored as float32; r_m must equal
 * the config's rank for the module (`peftRank`). Throws `WeightsError` naming the file for an
 * invalid config, a duplicate or prefixed module name, or a shape / rank mismatch; I/O errors
 * propagate.
 */
export async function writePeftAdapter(
  dir: string,
  config: LoraConfigInput,
  modules: Map<string, LoraWeights> | Iterable<LoraWeights>,
): Promise<void> {
  const cfgPath = nodePath.join(dir, ADAPTER_CONFIG_NAME);
  const wPath = nodePath.join(dir, ADAPTER_WEIGHTS_NAME);
  if (modules instanceof Map) {
    for (const [key, m] of modules) {
      if (key !== m.module) throw new WeightsError(wPath, `${wPath}: map key ${q(key)} differs from its module ${q(String(m.module))}; key the map by module path`);
    }
  }
  const list = modules instanceof Map ? [...modules.values()] : [...modules];
  const full = validateLoraConfig(completeLoraConfig(config, list.map((m) => m.module)), cfgPath);

  const tensors = new Map<string, HostTensor>();
  for (const { module, A, B } of list) {
    if (typeof module !== 'string' || module === '' || module.startsWith(PEFT_KEY_PREFIX)) {
      throw new WeightsError(wPath, `${wPath}: module name ${q(String(module))} must be the base model's module path without ${q(PEFT_KEY_PREFIX)}, e.g. "model.layers.0.self_attn.q_proj"`);
    }
    for (const [which, t] of [['A', A], ['B', B]] as const) {
      if (!isFloat(t.dtype)) throw new WeightsError(wPath, `${wPath}: module ${q(module)} lora_${which} is ${t.dtype}; LoRA weights must be float tensors`);
    }
    const a: HostTensor = { dtype: 'float32', shape: [...A.shape], data: toFloat32(A) };
    const b: HostTensor = { dtype: 'float32', shape: [...B.shape], data: toFloat32(B) };
    checkPair(wPath, module, a, b, full, 'the config');
    const ka = peftKey(module, 'A');
    if (tensors.has(ka)) throw new WeightsError(wPath, `${wPath}: module ${q(module)} is given twice; pass each module once`);
    tensors.set(ka, a);
    tensors.set(peftKey(module, 'B'), b);
  }

  await fsp.mkdir(dir, { recursive: true });
  await writeSafetensors(wPath, tensors, { format: 'pt' });
  await writeBytesAtomic(cfgPath, JSON.stringify(sortKeys(full), null, 2));
}
