/**
 * The one check for damaged weights: the first tensor holding NaN or ±Infinity in a model
 * folder's `*.safetensors` files or a PEFT adapter's lora_A / lora_B. Every command that loads
 * weights (score, generate, eval, train) reports it the same way, naming file and tensor.
 *
 * float16 / bfloat16 are checked on their bits (IEEE 754 binary16: exponent 0x7c00 all ones;
 * bfloat16: exponent 0x7f80 all ones), so a large half-precision checkpoint is not converted.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostTensor } from '../tensor';
import type { PeftAdapter } from './peft';
import { SafetensorsFile } from './safetensors';

/** Where a non-finite value was found, and the value (NaN, Infinity or -Infinity). */
export interface NonFiniteWeight {
  file: string;
  tensor: string;
  value: number;
}

/** Weights that hold NaN or ±Infinity (exit 1: the files are damaged, not the arguments). */
export class NonFiniteWeightsError extends Error {
  constructor(readonly found: NonFiniteWeight) {
    super(`${found.file}: tensor "${found.tensor}" holds ${found.value}; the weights are damaged — re-download the model or re-train the adapter`);
    this.name = 'NonFiniteWeightsError';
  }
}

/** Value of a half-precision bit pattern with an all-ones exponent (Inf or NaN). */
function halfSpecial(bits: number, expMask: number, signBit: number, mantMask: number): number {
  if (bits & mantMask) return NaN;
  return bits & signBit ? -Infinity : Infinity;
}

/** The first NaN/±Infinity of a float tensor (other dtypes: null), else null. */
export function firstNonFinite(t: HostTensor): number | null {
  if (t.dtype === 'float32' || t.dtype === 'float64') {
    const d = t.data as Float32Array | Float64Array;
    for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) return d[i];
    return null;
  }
  if (t.dtype === 'float16' || t.dtype === 'bfloat16') {
    const [exp, sign, mant] = t.dtype === 'float16' ? [0x7c00, 0x8000, 0x03ff] : [0x7f80, 0x8000, 0x007f];
    const d = t.data as Uint16Array;
    for (let i = 0; i < d.length; i++) if ((d[i] & exp) === exp) return halfSpecial(d[i], exp, sign, mant);
  }
  return null;
}

/** The first non-finite lora_A / lora_B of an adapter (module order), or null. */
export function nonFiniteAdapterWeight(adapter: PeftAdapter, dir: string): NonFiniteWeight | null {
  for (const [m, w] of adapter.modules) {
    for (const [which, t] of [['A', w.A], ['B', w.B]] as const) {
      const v = firstNonFinite(t);
      if (v !== null) return { file: join(dir, 'adapter_model.safetensors'), tensor: `${m}.lora_${which}`, value: v };
    }
  }
  return null;
}

/** The first non-finite tensor of the `*.safetensors` files of `modelDir` (sorted; one tensor read at a time), or null. */
export async function nonFiniteModelWeight(modelDir: string): Promise<NonFiniteWeight | null> {
  for (const f of (await readdir(modelDir)).filter((n) => n.endsWith('.safetensors')).sort()) {
    const file = join(modelDir, f);
    const st = await SafetensorsFile.open(file);
    try {
      for (const name of st.names()) {
        const v = firstNonFinite(await st.read(name));
        if (v !== null) return { file, tensor: name, value: v };
      }
    } finally {
      st.close();
    }
  }
  return null;
}

/**
 * Checks the adapters (in order), then the model folder, before they are used.
 * @throws NonFiniteWeightsError naming the first non-finite tensor
 */
export async function assertFiniteWeights(modelDir: string, adapters: readonly { adapter: PeftAdapter; dir: string }[] = []): Promise<void> {
  for (const a of adapters) {
    const bad = nonFiniteAdapterWeight(a.adapter, a.dir);
    if (bad) throw new NonFiniteWeightsError(bad);
  }
  const bad = await nonFiniteModelWeight(modelDir);
  if (bad) throw new NonFiniteWeightsError(bad);
}
