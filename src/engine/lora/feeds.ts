/**
 * Turning a PEFT adapter into feeds for a LoRA graph, with the checks a user needs when the
 * adapter does not fit the model.
 */
import { join } from 'node:path';
import { ADAPTER_WEIGHTS_NAME, type PeftAdapter, peftKey, peftScaling } from '../weights/peft';
import { type HostTensor, castFloat } from '../tensor';
import { LORA_INDEX, LoraError, type LoraGraph } from './index';

/** An adapter to stack, with the folder its messages name; null for the base model (a zero adapter). */
export type AdapterSource = { adapter: PeftAdapter; source: string } | null;

/** One graph module's part of a checked adapter: A [r, in], B [out, r] (float32, as read) and the scaling s. */
interface ModuleLora {
  A: HostTensor;
  B: HostTensor;
  scaling: number;
}

/**
 * The one definition of "does this adapter fit the graph": every module of `adapter` exists in
 * the model and is a LoRA target of `lora`, and its A [r, in] and B [out, r] fit. Returns, per
 * graph module in `lora.modules` order, its tensors and `peftScaling`, or null when the adapter
 * leaves the module out.
 * @throws LoraError naming the adapter file, the tensor and both shapes, or the unknown module.
 */
function checkAdapter(lora: LoraGraph, adapter: PeftAdapter, allLinears: readonly string[], source: string): (ModuleLora | null)[] {
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
  return lora.modules.map((module) => {
    const { in: inF, out: outF } = lora.shapes.get(module)!;
    const w = adapter.modules.get(module);
    if (!w) return null;
    const r = w.A.shape[0];
    const check = (which: 'A' | 'B', t: HostTensor, want: number[]) => {
      if (t.shape.length !== 2 || t.shape[0] !== want[0] || t.shape[1] !== want[1]) {
        throw new LoraError(`${file}: tensor "${peftKey(module, which)}" has shape ${fmt(t.shape)} but the model needs ${fmt(want)} (${module} maps ${inF} → ${outF} features); ${otherModel}`);
      }
    };
    check('A', w.A, [r, inF]);
    check('B', w.B, [outF, r]);
    return { A: w.A, B: w.B, scaling: peftScaling(adapter.config, module) };
  });
}

/**
 * Checks that every module of `adapter` exists in the model and that its A [r, in] and
 * B [out, r] fit, then returns the feeds: A, B per graph module (a zero rank-1 pair with
 * scaling 0 for graph modules the adapter leaves out) and `lora_scaling` [M].
 * On a multi-LoRA graph (`lora.multiLora`) it returns `stackedAdapterFeeds` of this one adapter,
 * which every row uses.
 *
 * @param allLinears every linear module name of the model (to tell "not targeted" from "no
 *   such module").
 * @param source the adapter folder; messages name its adapter_model.safetensors.
 * @throws LoraError naming the adapter file, the tensor and both shapes, or the unknown module.
 */
export function adapterFeeds(lora: LoraGraph, adapter: PeftAdapter, allLinears: readonly string[], source: string, dtype: 'float32' | 'float64' = 'float32'): Record<string, HostTensor> {
  if (lora.multiLora) return stackedAdapterFeeds(lora, [{ adapter, source }], allLinears, dtype, [0]);
  const checked = checkAdapter(lora, adapter, allLinears, source);
  const feeds: Record<string, HostTensor> = {};
  const scaling = new (dtype === 'float32' ? Float32Array : Float64Array)(lora.modules.length);
  lora.modules.forEach((module, i) => {
    const { in: inF, out: outF } = lora.shapes.get(module)!;
    const w = checked[i];
    feeds[peftKey(module, 'A')] = w ? castFloat(w.A, dtype) : zeros(dtype, [1, inF]);
    feeds[peftKey(module, 'B')] = w ? castFloat(w.B, dtype) : zeros(dtype, [outF, 1]);
    scaling[i] = w ? w.scaling : 0;
  });
  if (lora.modules.length) feeds.lora_scaling = { dtype, shape: [lora.modules.length], data: scaling };
  return feeds;
}

/**
 * Feeds of a multi-LoRA graph (`LoraGraph` with `multiLora`): N adapters stacked, `null` entries
 * being the base model (every module zero, scaling 0). Each adapter is checked as by
 * `adapterFeeds` (the same messages). Per graph module m with largest rank r_m over the N
 * adapters (1 when none has m): A (N, r_m, in) and B (N, out, r_m), adapter i's A [r, in] in
 * rows 0..r−1 of A[i] and its B [out, r] in columns 0..r−1 of B[i], zeros elsewhere (exact:
 * the padding adds 0 to x·Aᵀ·Bᵀ); `lora_scaling` (N, M) = `peftScaling` (0 where adapter i lacks
 * m); `lora_index` (B) int64 = `rows` (row b of every batch uses adapter rows[b]; default
 * 0..N−1, row i = adapter i; a single entry applies to every row). The layout of Punica /
 * S-LoRA and ONNX Runtime GenAI's multi-LoRA, with PEFT's A / B orientation.
 *
 * @throws LoraError when an adapter does not fit (as `adapterFeeds`), when `adapters` is empty,
 *   or when a row names no adapter; Error when `lora` was built without `multiLora`.
 */
export function stackedAdapterFeeds(lora: LoraGraph, adapters: readonly AdapterSource[], allLinears: readonly string[], dtype: 'float32' | 'float64' = 'float32', rows?: readonly number[]): Record<string, HostTensor> {
  if (!lora.multiLora) throw new Error('stackedAdapterFeeds: the graph was built without multiLora (BuildOptions.multiLora); use adapterFeeds');
  const N = adapters.length;
  if (N === 0) throw new LoraError('no adapters to stack: give at least one (null for the base model)');
  const index = rows ?? adapters.map((_, i) => i);
  index.forEach((i, b) => {
    if (!Number.isInteger(i) || i < 0 || i >= N) throw new LoraError(`row ${b} asks for adapter ${i}, but ${N} adapter${N === 1 ? ' is' : 's are'} stacked (0 to ${N - 1})`);
  });
  if (index.length === 0) throw new LoraError('lora_index is empty: give each batch row an adapter');
  const checked = adapters.map((a) => (a ? checkAdapter(lora, a.adapter, allLinears, a.source) : null));
  const M = lora.modules.length;
  if (M === 0) return {};
  const Float = dtype === 'float32' ? Float32Array : Float64Array;
  const feeds: Record<string, HostTensor> = {};
  const scaling = new Float(N * M);
  lora.modules.forEach((module, m) => {
    const { in: inF, out: outF } = lora.shapes.get(module)!;
    const rank = Math.max(1, ...checked.map((c) => c?.[m]?.A.shape[0] ?? 0));
    const A = new Float(N * rank * inF); // (N, r_m, in)
    const B = new Float(N * outF * rank); // (N, out, r_m)
    checked.forEach((c, i) => {
      const w = c?.[m];
      if (!w) return;
      const r = w.A.shape[0];
      A.set(w.A.data as Float32Array, i * rank * inF);
      const src = w.B.data as Float32Array; // [out, r]
      for (let o = 0; o < outF; o++) B.set(src.subarray(o * r, (o + 1) * r), (i * outF + o) * rank);
      scaling[i * M + m] = w.scaling;
    });
    feeds[peftKey(module, 'A')] = { dtype, shape: [N, rank, inF], data: A };
    feeds[peftKey(module, 'B')] = { dtype, shape: [N, outF, rank], data: B };
  });
  feeds.lora_scaling = { dtype, shape: [N, M], data: scaling };
  feeds[LORA_INDEX] = { dtype: 'int64', shape: [index.length], data: BigInt64Array.from(index, (i) => BigInt(i)) };
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
