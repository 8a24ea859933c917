/**
 * Turning a PEFT adapter into feeds for a LoRA graph, with the checks a user needs when the
 * adapter does not fit the model.
 */
import { join } from 'node:path';
import { ADAPTER_WEIGHTS_NAME, type PeftAdapter, peftKey, peftScaling } from '../weights/peft';
import { type HostTensor, castFloat } from '../tensor';
import { LoraError, type LoraGraph } from './index';

/**
 * Checks that every module of `adapter` exists in the model and that its A [r, in] and
 * B [out, r] fit, then returns the feeds: A, B per graph module (a zero rank-1 pair with
 * scaling 0 for graph modules the adapter leaves out) and `lora_scaling` [M].
 *
 * @param allLinears every linear module name of the model (to tell "not targeted" from "no
 *   such module").
 * @param source the adapter folder; messages name its adapter_model.safetensors.
 * @throws LoraError naming the adapter file, the tensor and both shapes, or the unknown module.
 */
export function adapterFeeds(lora: LoraGraph, adapter: PeftAdapter, allLinears: readonly string[], source: string, dtype: 'float32' | 'float64' = 'float32'): Record<string, HostTensor> {
  const file = join(source, ADAPTER_WEIGHTS_NAME);
  const base = adapter.config.base_model_name_or_path;
  const otherModel = base
    ? `the adapter was trained for a different model (adapter_config.json names "${base}") — use it with that base model`
    : 'the adapter was trained for a different model — use it with the model it was trained on';
  for (const module of adapter.modules.keys()) {
    if (!allLinears.includes(module)) {
      throw new LoraError(`${file}: has LoRA weights for module "${module}", which this model does not have (${describeModules(module, allLinears)}); ${otherModel}`);
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
        throw new LoraError(`${file}: tensor "${peftKey(module, which)}" has shape ${fmt(t.shape)} but the model needs ${fmt(want)} (${module} maps ${inF} → ${outF} features); ${otherModel}`);
      }
    };
    check('A', w.A, [r, inF]);
    check('B', w.B, [outF, r]);
    feeds[peftKey(module, 'A')] = castFloat(w.A, dtype);
    feeds[peftKey(module, 'B')] = castFloat(w.B, dtype);
    scaling[i] = peftScaling(adapter.config, module);
  });
  if (lora.modules.length) feeds.lora_scaling = { dtype, shape: [lora.modules.length], data: scaling };
  return feeds;
}

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

/**
 * What the model's linear modules are, for a message about `module`, which is not one of them:
 * the layer range when only the layer index is out of range, else the per-layer module names.
 */
export function describeModules(module: string, allLinears: readonly string[]): string {
  const split = (m: string) => /^(.*\.layers\.)(\d+)\.(.+)$/.exec(m);
  const parts = allLinears.map(split).filter((p) => p !== null);
  if (parts.length !== allLinears.length || parts.length === 0) {
    return `its linear modules look like ${allLinears.slice(0, 3).join(', ')}, …`;
  }
  const prefix = parts[0][1];
  const layers = Math.max(...parts.map((p) => Number(p[2]))) + 1;
  const kinds = [...new Set(parts.map((p) => p[3]))];
  const own = split(module);
  if (own && own[1] === prefix && kinds.includes(own[3])) {
    return `the model has ${layers} layers, ${prefix}0 to ${prefix}${layers - 1}`;
  }
  return `its linear modules are ${prefix}N.{${kinds.join(', ')}} for N = 0 to ${layers - 1}`;
}

function zeros(dtype: 'float32' | 'float64', shape: number[]): HostTensor {
  const n = shape[0] * shape[1];
  return { dtype, shape, data: dtype === 'float32' ? new Float32Array(n) : new Float64Array(n) };
}
