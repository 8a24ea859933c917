/**
 * Model families by `model_type`, and loading a Hugging Face model folder into a graph.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SAFE_WEIGHTS_INDEX_NAME, openCheckpoint } from '../weights/index';
import { describeJsonError } from '../weights/errors';
import { toFloat32 } from '../weights/dtype';
import type { HostTensor } from '../tensor';
import { llamaFamily } from './llama';
import { mistralFamily } from './mistral';
import { phi3Family } from './phi3';
import { qwen2Family } from './qwen2';
import { qwen3Family } from './qwen3';
import { type BuildOptions, type CausalLMGraph, type DecoderConfig, ModelError, type ModelFamily, type WeightSource } from './types';

export { ModelError } from './types';
export type { CausalLMGraph, DecoderConfig, ModelFamily } from './types';

/** Every supported family; a new family is a new file added here. */
export const FAMILIES: readonly ModelFamily[] = [llamaFamily, mistralFamily, qwen2Family, qwen3Family, phi3Family];

export function supportedModelTypes(): string[] {
  return FAMILIES.flatMap((f) => f.modelTypes);
}

export interface ModelConfigInfo {
  dir: string;
  raw: Record<string, unknown>;
  config: DecoderConfig;
  family: ModelFamily;
}

/**
 * Reads and resolves `DIR/config.json`.
 *
 * @throws ModelError naming the folder or file: folder missing, no config.json, invalid JSON
 *   (with line), unsupported `model_type` (listing the supported ones), bad fields.
 */
export async function loadModelConfig(dir: string): Promise<ModelConfigInfo> {
  const st = await stat(dir).catch(() => null);
  if (!st) throw new ModelError(`${dir}: model folder not found; pass --model with a local Hugging Face model folder (config.json, tokenizer.json, *.safetensors)`);
  if (!st.isDirectory()) throw new ModelError(`${dir}: not a folder; --model takes a Hugging Face model folder (config.json, tokenizer.json, *.safetensors)`);
  const file = join(dir, 'config.json');
  const text = await readFile(file, 'utf8').catch(() => null);
  if (text === null) {
    if (await stat(join(dir, 'adapter_config.json')).then(() => true, () => false)) {
      throw new ModelError(`${dir}: is a PEFT adapter folder (adapter_config.json), not a model folder; pass the base model folder as the model (adapter_config.json names it in base_model_name_or_path) and this folder as the adapter`);
    }
    throw new ModelError(`${file}: missing; a Hugging Face model folder needs config.json (download the full model repository, not just the weights)`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ModelError(`${file}: not valid JSON (${describeJsonError(text, e).replace(/\s*\n\s*/g, ' ')}); fix the file or re-download it`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ModelError(`${file}: must hold a JSON object`);
  const obj = raw as Record<string, unknown>;
  const type = obj.model_type;
  const family = FAMILIES.find((f) => f.modelTypes.includes(String(type)));
  if (!family) {
    throw new ModelError(`${file}: model_type ${JSON.stringify(type ?? null)} is not supported; supported model types: ${supportedModelTypes().join(', ')}`);
  }
  return { dir, raw: obj, config: family.resolveConfig(obj, file), family };
}

/**
 * Reads the checkpoint tensors a family needs, as float32, checking each shape.
 *
 * @throws ModelError / WeightsError naming the folder and tensor: missing tensor, wrong shape.
 */
export async function loadWeights(info: ModelConfigInfo): Promise<WeightSource> {
  const ckpt = await openCheckpoint(info.dir);
  // The file to name when a tensor is missing: the single safetensors file, else the shard index.
  const where = ckpt.files.length === 1 ? ckpt.files[0].path : join(info.dir, SAFE_WEIGHTS_INDEX_NAME);
  const c = info.config;
  const mismatch = 'the weights do not match config.json — re-download the model, or fix config.json';
  const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;
  const tensors = new Map<string, HostTensor>();
  try {
    for (const { name, shape, optional } of info.family.weightNames(info.config)) {
      if (!ckpt.has(name)) {
        if (optional) continue;
        throw new ModelError(`${where}: tensor "${name}" is missing, but config.json (${c.model_type}, ${c.num_hidden_layers} layers) needs it; ${mismatch}`);
      }
      const meta = ckpt.info(name);
      if (meta.shape.length !== shape.length || meta.shape.some((d, i) => d !== shape[i])) {
        throw new ModelError(`${meta.path}: tensor "${name}" has shape ${fmt(meta.shape)} but config.json implies ${fmt(shape)}; ${mismatch}`);
      }
      const t = await ckpt.read(name);
      tensors.set(name, { dtype: 'float32', shape: meta.shape, data: toFloat32(t) });
    }
  } finally {
    ckpt.close();
  }
  return {
    has: (name) => tensors.has(name),
    get: (name) => {
      const t = tensors.get(name);
      if (!t) throw new ModelError(`${info.dir}: tensor "${name}" was not loaded`);
      return t;
    },
  };
}

/** Loads config and weights of a model folder and builds its forward graph. */
export async function loadCausalLM(dir: string, opts: BuildOptions = {}): Promise<CausalLMGraph> {
  const info = await loadModelConfig(dir);
  const weights = await loadWeights(info);
  return info.family.build(info.config, weights, opts);
}
