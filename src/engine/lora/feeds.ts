/**
 * Turning a PEFT adapter into feeds for a LoRA graph, with the checks a user needs when the
 * adapter does not fit the model.
 */
import { type PeftAdapter, peftKey, peftScaling } from '../weights/peft';
import type { HostTensor } from '../tensor';
import { LoraError, type LoraGraph } from './index';

/**
 * Checks that every module of `adapter` exists in the model and that its A [r, in] and
 * B [out, r] fit, then returns the feeds: A, B per graph module (a zero rank-1 pair with
 * scaling 0 for graph modules the adapter leaves out) and `lora_scaling` [M].
 *
 * @param allLinears every linear module name of the model (to tell "not targeted" from "no
 *   such module").
 * @throws LoraError naming `source`, the tensor and both shapes, or the unknown module.
 */
export function adapterFeeds(lora: LoraGraph, adapter: PeftAdapter, allLinears: readonly string[], source: string, dtype: 'float32' | 'float64' = 'float32'): Record<string, HostTensor> {
  for (const module of adapter.modules.keys()) {
    if (!allLinears.includes(module)) {
      const example = allLinears.slice(0, 3).join(', ');
      throw new LoraError(`${source}: adapter has LoRA weights for module "${module}", which this model does not have (its linear modules look like ${example}, …); the adapter was trained for a different model`);
    }
    if (!lora.shapes.has(module)) {
      throw new LoraError(`${source}: module "${module}" is not a LoRA target of the loaded graph; rebuild the graph with the adapter's target modules`);
    }
  }
  const feeds: Record<string, HostTensor> = {};
  const scaling = new (dtype === 'float32' ? Float32Array : Float64Array)(lora.modules.length);
  lora.modules.forEach((module, i) => {
    const { in: inF, out: outF } = lora.shapes.get(module)!;
    const w = adapter.modules.get(module);
    if (!w) {
      feeds[peftKey(module, 'A')] = zeros(dtype, [1, inF]);
      feeds[peftKey(module, 'B')] = zeros(dtype, [outF, 1]);
      scaling[i] = 0;
      return;
    }
    const r = w.A.shape[0];
    const check = (which: 'A' | 'B', t: HostTensor, want: number[]) => {
      if (t.shape.length !== 2 || t.shape[0] !== want[0] || t.shape[1] !== want[1]) {
        throw new LoraError(`${source}: tensor ${peftKey(module, which)} has shape [${t.shape}] but the model needs [${want}] (${module} is ${inF} → ${outF}); the adapter was trained for a different model`);
      }
    };
    check('A', w.A, [r, inF]);
    check('B', w.B, [outF, r]);
    feeds[peftKey(module, 'A')] = cast(w.A, dtype);
    feeds[peftKey(module, 'B')] = cast(w.B, dtype);
    scaling[i] = peftScaling(adapter.config, module);
  });
  if (lora.modules.length) feeds.lora_scaling = { dtype, shape: [lora.modules.length], data: scaling };
  return feeds;
}

function zeros(dtype: 'float32' | 'float64', shape: number[]): HostTensor {
  const n = shape[0] * shape[1];
  return { dtype, shape, data: dtype === 'float32' ? new Float32Array(n) : new Float64Array(n) };
}

function cast(t: HostTensor, dtype: 'float32' | 'float64'): HostTensor {
  if (t.dtype === dtype) return t;
  return { dtype, shape: t.shape, data: dtype === 'float32' ? Float32Array.from(t.data as Float64Array) : Float64Array.from(t.data as Float32Array) };
}
