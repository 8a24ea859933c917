/**
 * Merge a LoRA adapter into its base model: a new Hugging Face model folder whose adapted
 * weights are W + s·B·A (PEFT `LoraLayer.merge` / `merge_and_unload`, with ΔW from
 * `deltaWeight`), everything else byte-identical, in the base's dtype and shard layout.
 *
 * Streaming: each output shard is written one tensor at a time (read, fold, write), so memory
 * stays near the largest tensor plus the adapter, not the model.
 */
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import type { HostTensor } from '../tensor';
import { fromFloat32, toFloat32 } from '../weights/dtype';
import { ADAPTER_CONFIG_NAME, type LoraWeights, type PeftAdapter, peftScaling } from '../weights/peft';
import { SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME, openCheckpoint, writeSafetensorsStreaming } from '../weights/safetensors';
import { MergeError, deltaWeight } from './index';
import { writeFolderAtomically } from './folder';

/** Files of a model folder that hold weights in some format: never copied (they would be stale). */
const WEIGHT_FILE = /(\.safetensors|\.bin|\.pt|\.pth|\.ckpt|\.gguf|\.h5|\.msgpack|\.onnx|\.onnx_data|\.safetensors\.index\.json|\.bin\.index\.json)$/;

export interface MergeIntoBaseResult {
  /** Output shard files written (relative to the folder). */
  shards: string[];
  /** Tensors written in all. */
  tensors: number;
  /** Adapted weights folded. */
  merged: number;
  /** Other files copied (config.json, tokenizer files, generation_config.json, …). */
  copied: string[];
}

/**
 * Writes `outDir`, a complete model folder: every top-level non-weight file of `modelDir`
 * copied (config.json, tokenizer*, generation_config.json, …; other weight formats such as
 * pytorch_model.bin are left out), each safetensors shard rewritten under the same name with
 * the same tensors in the same order and dtypes, the index copied as is, and each weight
 * `<module>.weight` of an adapted module replaced by W + s·B·A, with s = `peftScaling` of the
 * module (ΔWᵀ when the adapter has fan_in_fan_out). The sum is computed in float32 (float64
 * for a float64 W) and rounded once to W's dtype (round to nearest even for float16/bfloat16).
 *
 * `onTensor(done, total, name)` reports progress after each tensor.
 *
 * The folder appears complete or not at all (`writeFolderAtomically`): it is written as a hidden
 * sibling `.<name>.partial-<pid>` and renamed when done; an error (or `onTensor` throwing)
 * removes the partial folder.
 *
 * Throws `MergeError` when `outDir` is `modelDir`, when `outDir` exists and is not empty, when
 * an adapter module has no weight in the model, or when its shape differs ([out, in] must equal B's rows by A's columns); throws
 * `WeightsError` for unreadable model or output files.
 */
export async function mergeIntoBase(
  modelDir: string,
  adapter: PeftAdapter,
  adapterDir: string,
  outDir: string,
  onTensor?: (done: number, total: number, name: string) => void,
): Promise<MergeIntoBaseResult> {
  if (nodePath.resolve(outDir) === nodePath.resolve(modelDir)) {
    throw new MergeError(`--out ${outDir} is the model folder itself; write the merged model to a new folder`);
  }
  const ckpt = await openCheckpoint(modelDir);
  try {
    const st = await fsp.stat(modelDir);
    if (!st.isDirectory()) throw new MergeError(`${modelDir}: is a file; pass the model folder (config.json, tokenizer, safetensors)`);
    const cfgPath = nodePath.join(adapterDir, ADAPTER_CONFIG_NAME);
    const fifo = adapter.config.fan_in_fan_out === true;
    const byWeight = new Map<string, LoraWeights>();
    for (const [m, lora] of adapter.modules) {
      const name = `${m}.weight`;
      if (!ckpt.has(name)) {
        throw new MergeError(`${cfgPath}: module ${JSON.stringify(m)} has no weight ${JSON.stringify(name)} in ${modelDir}; the adapter was trained on another model — pass its base model (base_model_name_or_path: ${JSON.stringify(adapter.config.base_model_name_or_path ?? null)})`);
      }
      const info = ckpt.info(name);
      const out = lora.B.shape[0];
      const inF = lora.A.shape[1];
      const want = fifo ? [inF, out] : [out, inF];
      if (info.shape.length !== 2 || info.shape[0] !== want[0] || info.shape[1] !== want[1]) {
        throw new MergeError(`${cfgPath}: module ${JSON.stringify(m)} needs ${JSON.stringify(name)} of shape [${want.join(', ')}] but ${modelDir} has [${info.shape.join(', ')}]; the adapter was trained on another model`);
      }
      if (!['float32', 'float16', 'bfloat16', 'float64'].includes(info.dtype)) {
        throw new MergeError(`${modelDir}: ${JSON.stringify(name)} is ${info.dtype}, not a float weight (a quantized model?); merge into an unquantized checkpoint`);
      }
      byWeight.set(name, lora);
    }

    // Into a hidden partial folder, renamed to outDir when complete: a failure or a kill leaves no half-written model.
    return await writeFolderAtomically(outDir, async (dir) => {
      const total = ckpt.files.reduce((a, f) => a + f.names().length, 0);
      let done = 0;
      let merged = 0;
      const shards: string[] = [];
      for (const file of ckpt.files) {
        const rel = nodePath.relative(nodePath.resolve(modelDir), nodePath.resolve(file.path));
        const target = nodePath.join(dir, rel);
        await fsp.mkdir(nodePath.dirname(target), { recursive: true });
        // Keep the source's byte order of tensors.
        const specs = file.names().map((name) => ({ name, ...file.info(name) }))
          .sort((a, b) => a.byteOffset - b.byteOffset)
          .map(({ name, dtype, shape }) => ({ name, dtype, shape }));
        await writeSafetensorsStreaming(target, specs, { ...file.metadata }, async (spec) => {
          const t = await file.read(spec.name);
          const lora = byWeight.get(spec.name);
          const res = lora ? fold(t, lora, peftScaling(adapter.config, spec.name.slice(0, -'.weight'.length)), fifo) : t;
          if (lora) merged++;
          onTensor?.(++done, total, spec.name);
          return res;
        });
        shards.push(rel);
      }

      const copied: string[] = [];
      for (const entry of await fsp.readdir(modelDir, { withFileTypes: true })) {
        if (!entry.isFile()) continue;
        // The index is copied only when it is what the checkpoint was read from (no model.safetensors).
        const isIndex = entry.name === SAFE_WEIGHTS_INDEX_NAME && !ckpt.files.some((f) => nodePath.basename(f.path) === SAFE_WEIGHTS_NAME);
        if (WEIGHT_FILE.test(entry.name) && !isIndex) continue;
        await fsp.copyFile(nodePath.join(modelDir, entry.name), nodePath.join(dir, entry.name));
        copied.push(entry.name);
      }
      return { shards, tensors: done, merged, copied };
    });
  } finally {
    ckpt.close();
  }
}

/** W + s·B·A (or + (s·B·A)ᵀ when fanInFanOut) in W's dtype. */
function fold(W: HostTensor, lora: LoraWeights, scaling: number, fanInFanOut: boolean): HostTensor {
  const dw = deltaWeight(lora, scaling); // [out, in]
  const out = lora.B.shape[0];
  const inF = lora.A.shape[1];
  const at = (i: number): number => {
    if (!fanInFanOut) return dw[i];
    const r = Math.floor(i / out); // W is [in, out]
    return dw[(i - r * out) * inF + r];
  };
  if (W.dtype === 'float64') {
    const w = W.data as Float64Array;
    const res = new Float64Array(w.length);
    for (let i = 0; i < w.length; i++) res[i] = w[i] + at(i);
    return { dtype: 'float64', shape: [...W.shape], data: res };
  }
  const w = toFloat32(W);
  const res = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) res[i] = w[i] + at(i);
  return fromFloat32(res, W.shape, W.dtype);
}
