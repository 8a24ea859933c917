/**
 * Header-only views of weight files for `loralab inspect`: what a checkpoint or a PEFT adapter
 * holds (names, dtypes, shapes, parameter counts, bytes on disk) without reading tensor data,
 * so a 7B checkpoint is described in milliseconds.
 *
 * Parameter count = Σ numel(shape) over the stored tensors (a tied `lm_head` that is not stored
 * is not counted, as in transformers' `num_parameters()`).
 */
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { type DType, isFloat, numel } from '../tensor';
import { WeightsError } from './errors';
import {
  ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME, type LoraConfigJson, PEFT_KEY_PREFIX, doubledPrefixProblem, parsePeftKey, peftAlpha, peftKey, peftPatternKey, peftRank,
  peftScaling, readAdapterConfig, unsupportedKeyReason,
} from './peft';
import { DTYPE_TO_SAFETENSORS, SafetensorsFile, openCheckpoint } from './safetensors';

/** One stored tensor: name, safetensors dtype name ("F32", "BF16", …) and shape. */
export interface TensorHeader {
  name: string;
  dtype: string;
  shape: number[];
}

/** A set of safetensors files, as their headers describe them. */
export interface WeightsHeader {
  /** Each safetensors file with its size in bytes. */
  files: { path: string; bytes: number }[];
  /** Every tensor, sorted by name. */
  tensors: TensorHeader[];
  /** Σ numel over `tensors`. */
  parameters: number;
  /** Parameters per safetensors dtype name, e.g. { BF16: 6738415616 }. */
  dtypes: Record<string, number>;
  /** Σ file bytes (header + data). */
  bytes: number;
  /** The header's `__metadata__` of each file, merged (e.g. { format: "pt" }). */
  metadata: Record<string, string>;
}

/** Tensors per dtype and their total, from (name, dtype, shape) triples. */
function countParameters(tensors: readonly TensorHeader[]): { parameters: number; dtypes: Record<string, number> } {
  const dtypes: Record<string, number> = {};
  let parameters = 0;
  for (const t of tensors) {
    const n = numel(t.shape);
    parameters += n;
    dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + n;
  }
  return { parameters, dtypes };
}

const st = (dtype: DType): string => DTYPE_TO_SAFETENSORS[dtype];

/**
 * Reads the headers of a Hugging Face checkpoint folder (`model.safetensors` or the shards of
 * `model.safetensors.index.json`) or of one `.safetensors` file, never the tensor data.
 *
 * @throws WeightsError naming the folder or file, as `openCheckpoint` does (no weights, bad
 *   index, malformed header).
 */
export async function readWeightsHeader(pathOrDir: string): Promise<WeightsHeader> {
  const ckpt = await openCheckpoint(pathOrDir);
  try {
    const tensors = ckpt.names().map((name) => {
      const i = ckpt.info(name);
      return { name, dtype: st(i.dtype), shape: i.shape };
    });
    const files = ckpt.files.map((f) => ({ path: f.path, bytes: f.fileSize }));
    const metadata = Object.assign({}, ...ckpt.files.map((f) => f.metadata)) as Record<string, string>;
    return { files, tensors, ...countParameters(tensors), bytes: files.reduce((a, f) => a + f.bytes, 0), metadata };
  } finally {
    ckpt.close();
  }
}

/** One adapted module of a PEFT adapter, from the header and adapter_config.json. */
export interface AdapterModuleHeader {
  /** The base model's module path, e.g. "model.layers.0.self_attn.q_proj". */
  module: string;
  /** lora_A [r, in] and lora_B [out, r] as stored (null when the file lacks one). */
  lora_A: TensorHeader | null;
  lora_B: TensorHeader | null;
  /** The rank: lora_A's first dimension (the configured rank when lora_A is missing). */
  r: number;
  /** `peftAlpha(config, module)`. */
  lora_alpha: number;
  /** `peftScaling(config, module)`: alpha / r, or alpha / √r with use_rslora. */
  scaling: number;
  /** The rank_pattern / alpha_pattern key that sets this module's r / alpha, or null. */
  rank_pattern_key: string | null;
  alpha_pattern_key: string | null;
}

/** A PEFT LoRA adapter folder, from its config and its safetensors header. */
export interface AdapterHeader {
  dir: string;
  configPath: string;
  weightsPath: string;
  config: LoraConfigJson;
  /** Sorted by module path. */
  modules: AdapterModuleHeader[];
  /** Σ numel of every lora_A and lora_B. */
  parameters: number;
  /** Parameters per safetensors dtype name. */
  dtypes: Record<string, number>;
  /** Size of adapter_model.safetensors in bytes. */
  bytes: number;
  /**
   * Every way the weights disagree with each other or with adapter_config.json (each a
   * one-line message naming the tensor): a lone lora_A or lora_B, a non-float or non-2-D
   * tensor, ranks of A and B that differ, a rank other than the config's for that module.
   */
  problems: string[];
}

const q = (s: string): string => JSON.stringify(s);
const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

/**
 * Reads a PEFT LoRA adapter folder's `adapter_config.json` (checked by `validateLoraConfig`)
 * and the header of `adapter_model.safetensors`, never the tensor data. Unlike
 * `readPeftAdapter`, disagreements inside the adapter are collected in `problems` (all of
 * them) instead of stopping at the first.
 *
 * Per module: r from lora_A's shape [r, in]; lora_alpha and scaling as PEFT's
 * `LoraLayer.update_layer` computes them (`peftAlpha`, `peftScaling`: rank_pattern /
 * alpha_pattern resolved by `get_pattern_key`).
 *
 * @throws WeightsError naming the file: a file missing (a lone adapter_model.bin gets a
 *   conversion hint), invalid JSON (with line and column), a config that is not LoRA, a key that
 *   is not a plain lora_A / lora_B weight (DoRA, embeddings, biases, modules_to_save), a
 *   malformed safetensors header.
 */
export async function readAdapterHeader(dir: string): Promise<AdapterHeader> {
  const weightsPath = nodePath.join(dir, ADAPTER_WEIGHTS_NAME);
  const { config, configPath } = await readAdapterConfig(dir);

  if (!(await fsp.access(weightsPath).then(() => true, () => false))) {
    const hasBin = await fsp.access(nodePath.join(dir, 'adapter_model.bin')).then(() => true, () => false);
    const why = hasBin
      ? 'not found, only adapter_model.bin (PyTorch pickle), which LoRA Lab does not read; convert it with safetensors.torch.save_file (metadata {"format": "pt"})'
      : 'not found; a PEFT adapter folder holds adapter_config.json and adapter_model.safetensors — check the path';
    throw new WeightsError(weightsPath, `${weightsPath}: ${why}`);
  }
  const file = await SafetensorsFile.open(weightsPath);
  const bytes = file.fileSize;
  const pairs = new Map<string, { A?: TensorHeader; B?: TensorHeader }>();
  const problems: string[] = [];
  try {
    for (const key of file.names()) {
      const parsed = parsePeftKey(key);
      if (!parsed) throw new WeightsError(weightsPath, `${weightsPath}: key ${q(key)} ${unsupportedKeyReason(key, config)}`);
      // A doubled base_model.model. prefix: one problem for the file (not one per key), and the
      // modules under their real path so a fit check against a model lists nothing else.
      const doubled = doubledPrefixProblem(key, parsed.module);
      if (doubled) {
        if (!problems.some((p) => p.includes(`prefix ${PEFT_KEY_PREFIX} twice`))) problems.push(doubled);
        parsed.module = parsed.module.slice(PEFT_KEY_PREFIX.length);
      }
      const info = file.info(key);
      const t: TensorHeader = { name: key, dtype: st(info.dtype), shape: info.shape };
      if (!isFloat(info.dtype)) problems.push(`${q(key)} is ${t.dtype}, not a float tensor`);
      const pair = pairs.get(parsed.module) ?? {};
      if (pair[parsed.which]) problems.push(`module ${q(parsed.module)} has two lora_${parsed.which} tensors (${q(pair[parsed.which]!.name)} and ${q(key)}); the file mixes adapter names`);
      else pair[parsed.which] = t;
      pairs.set(parsed.module, pair);
    }
  } finally {
    file.close();
  }
  if (pairs.size === 0) throw new WeightsError(weightsPath, `${weightsPath}: holds no lora_A / lora_B tensors; the adapter is empty — re-save it`);

  const modules: AdapterModuleHeader[] = [];
  const all: TensorHeader[] = [];
  for (const module of [...pairs.keys()].sort()) {
    const { A, B } = pairs.get(module)!;
    if (A) all.push(A);
    if (B) all.push(B);
    const configured = peftRank(config, module);
    if (!A || !B) problems.push(`module ${q(module)} has ${A ? 'lora_A' : 'lora_B'} but no ${A ? 'lora_B' : 'lora_A'}; the adapter is incomplete`);
    const twoD = (!A || A.shape.length === 2) && (!B || B.shape.length === 2);
    if (!twoD) problems.push(`module ${q(module)} has lora_A ${A ? fmt(A.shape) : '—'} and lora_B ${B ? fmt(B.shape) : '—'}; both must be 2-D (A [r, in], B [out, r])`);
    const r = A && A.shape.length === 2 ? A.shape[0] : B && B.shape.length === 2 ? B.shape[1] : configured;
    if (twoD && A && B && A.shape[0] !== B.shape[1]) {
      problems.push(`module ${q(module)} has lora_A ${fmt(A.shape)} and lora_B ${fmt(B.shape)}, whose ranks ${A.shape[0]} and ${B.shape[1]} differ (A is [r, in], B is [out, r])`);
    } else if (twoD && r !== configured) {
      const why = peftPatternKey(config.rank_pattern, module) !== undefined ? `rank_pattern ${q(peftPatternKey(config.rank_pattern, module)!)}` : '"r"';
      problems.push(`${q(peftKey(module, A ? 'A' : 'B'))} has rank ${r} but ${ADAPTER_CONFIG_NAME} gives ${module} rank ${configured} (${why}); the config and weights do not belong together`);
    }
    modules.push({
      module,
      lora_A: A ?? null,
      lora_B: B ?? null,
      r,
      lora_alpha: peftAlpha(config, module),
      scaling: peftScaling(config, module),
      rank_pattern_key: peftPatternKey(config.rank_pattern, module) ?? null,
      alpha_pattern_key: peftPatternKey(config.alpha_pattern, module) ?? null,
    });
  }
  return { dir, configPath, weightsPath, config, modules, ...countParameters(all), bytes, problems: problems.map((p) => `${weightsPath}: ${p}`) };
}
