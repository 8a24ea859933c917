/**
 * What a Hugging Face model folder holds, and whether a PEFT adapter fits it, from config.json
 * and the safetensors headers only (no tensor data is read): the engine side of
 * `loralab inspect`.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type AdapterHeader, type WeightsHeader, readWeightsHeader } from '../weights/inspect';
import { SAFE_WEIGHTS_INDEX_NAME } from '../weights/safetensors';
import { type JsonObject, Tokenizer, TokenizerError, readTokenizerFiles } from '../tokenizer/index';
import { type ModelConfigInfo, loadModelConfig } from './index';

/** A linear layer of the model: y = x·Wᵀ with W [out, in]. */
export interface LinearModule {
  /** Module path, e.g. "model.layers.0.self_attn.q_proj". */
  module: string;
  in: number;
  out: number;
}

/**
 * The model's linear layers that LoRA can wrap (the `…_proj` weights of its family's
 * `weightNames`, so every family, and every family added later, answers for itself; the output
 * head `lm_head` is excluded, as PEFT's "all-linear" excludes it), in checkpoint order.
 */
export function linearModules(info: Pick<ModelConfigInfo, 'family' | 'config'>): LinearModule[] {
  return info.family.weightNames(info.config)
    .filter((w) => /_proj\.weight$/.test(w.name) && w.shape.length === 2)
    .map((w) => ({ module: w.name.slice(0, -'.weight'.length), out: w.shape[0], in: w.shape[1] }));
}

/** A model folder, summarised. */
export interface ModelSummary {
  info: ModelConfigInfo;
  weights: WeightsHeader;
  /**
   * Σ numel of the stored tensors, counting a stored copy of tied embeddings (`lm_head.weight`
   * with tie_word_embeddings) once, as transformers' `num_parameters()` does.
   */
  parameters: number;
  /** Whether lm_head.weight is stored although tie_word_embeddings makes it the embedding matrix. */
  tiedCopyStored: boolean;
  /** Bytes of every file under the folder (hidden folders such as .cache and .git skipped). */
  folderBytes: number;
  /** The linear layers LoRA "all-linear" targets, their Σ out·in, and Σ (in + out) = adapter parameters per unit of rank. */
  lora: { modules: number; parameters: number; parametersPerRank: number };
  /** Checkpoint tensors the family's graph does not use (e.g. rotary_emb.inv_freq). */
  unusedTensors: string[];
  /** The tokenizer as LoRA Lab loads it, or null when it cannot (see `problems`). */
  tokenizer: Tokenizer | null;
  /** generation_config.json, if present. */
  generationConfig: JsonObject | null;
  /**
   * Why LoRA Lab could not train on or run this folder, one line each naming the file and tensor:
   * a tensor config.json needs that the checkpoint lacks, a shape that differs from what
   * config.json implies, a tokenizer that does not load.
   */
  problems: string[];
}

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

/**
 * Summarises a model folder: the resolved config (`loadModelConfig`: family by `model_type`),
 * the safetensors headers (dtypes, parameter count = Σ numel of stored tensors, bytes), every
 * tensor the family needs checked against the checkpoint (all mismatches listed in `problems`),
 * the tokenizer (chat template, EOS) and generation_config.json.
 *
 * @throws ModelError / WeightsError with one-line messages naming the folder or file: no folder,
 *   no or malformed config.json, unsupported model_type, no safetensors weights, malformed header.
 */
export async function inspectModel(dir: string): Promise<ModelSummary> {
  const info = await loadModelConfig(dir);
  const weights = await readWeightsHeader(dir);
  const where = weights.files.length === 1 ? weights.files[0].path : join(dir, SAFE_WEIGHTS_INDEX_NAME);
  const stored = new Map(weights.tensors.map((t) => [t.name, t]));
  const problems: string[] = [];
  const needed = info.family.weightNames(info.config);
  for (const { name, shape, optional } of needed) {
    const t = stored.get(name);
    if (!t) {
      if (!optional) problems.push(`${where}: tensor "${name}" is missing, but config.json (${info.config.model_type}, ${info.config.num_hidden_layers} layers) needs it`);
    } else if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      problems.push(`${where}: tensor "${name}" has shape ${fmt(t.shape)} but config.json implies ${fmt(shape)}`);
    }
  }
  const neededNames = new Set(needed.map((w) => w.name));
  const unusedTensors = weights.tensors.map((t) => t.name).filter((n) => !neededNames.has(n));

  const linears = linearModules(info);
  const lora = {
    modules: linears.length,
    parameters: linears.reduce((a, m) => a + m.in * m.out, 0),
    parametersPerRank: linears.reduce((a, m) => a + m.in + m.out, 0),
  };

  let tokenizer: Tokenizer | null = null;
  let generationConfig: JsonObject | null = null;
  try {
    const files = await readTokenizerFiles(dir);
    generationConfig = files.generationConfig ?? null;
    tokenizer = new Tokenizer(files, dir);
  } catch (e) {
    if (!(e instanceof TokenizerError)) throw e;
    problems.push(e.message.split('\n')[0]);
  }
  const tied = info.config.tie_word_embeddings ? stored.get('lm_head.weight') : undefined;
  const parameters = weights.parameters - (tied ? tied.shape.reduce((a, d) => a * d, 1) : 0);
  return { info, weights, parameters, tiedCopyStored: tied !== undefined, folderBytes: await folderBytes(dir), lora, unusedTensors, tokenizer, generationConfig, problems };
}

/** Σ size of the regular files under `dir`, skipping entries whose name starts with ".". */
async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) total += await folderBytes(p);
    else total += await stat(p).then((s) => (s.isFile() ? s.size : 0), () => 0);
  }
  return total;
}

/** One way an adapter tensor does not fit a model. */
export interface FitMismatch {
  /** The adapter's saved key, e.g. "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight". */
  tensor: string;
  module: string;
  /** The stored shape, and the shape the model needs (null when the model has no such module). */
  shape: number[];
  expected: number[] | null;
  /** One line: what is wrong. */
  message: string;
}

/**
 * Checks every tensor of an adapter against a model's linear layers: the module must be one of
 * `linearModules(model)`, lora_A must be [r, in] and lora_B [out, r] with the model's in / out
 * (PEFT `LoraLayer.update_layer`: A = Linear(in, r), B = Linear(r, out)) and r the module's
 * rank. Returns every mismatch (empty when the adapter fits), in module order.
 */
export function checkAdapterFit(adapter: AdapterHeader, model: Pick<ModelConfigInfo, 'family' | 'config'>): FitMismatch[] {
  const linears = new Map(linearModules(model).map((m) => [m.module, m]));
  const out: FitMismatch[] = [];
  for (const m of adapter.modules) {
    const lin = linears.get(m.module);
    for (const [which, t] of [['A', m.lora_A], ['B', m.lora_B]] as const) {
      if (!t) continue;
      if (!lin) {
        out.push({ tensor: t.name, module: m.module, shape: t.shape, expected: null, message: `${t.name}: the model has no linear module "${m.module}"` });
        continue;
      }
      const expected = which === 'A' ? [m.r, lin.in] : [lin.out, m.r];
      if (t.shape.length !== 2 || t.shape[0] !== expected[0] || t.shape[1] !== expected[1]) {
        out.push({
          tensor: t.name, module: m.module, shape: t.shape, expected,
          message: `${t.name}: shape ${fmt(t.shape)} but the model needs ${fmt(expected)} (${m.module} maps ${lin.in} → ${lin.out} features; lora_${which} is ${which === 'A' ? '[r, in]' : '[out, r]'})`,
        });
      }
    }
  }
  return out;
}
