/**
 * Adapter algebra: merge several PEFT LoRA adapters of one base model into one adapter.
 *
 * For every module m, input i contributes ΔWᵢ = sᵢ·Bᵢ·Aᵢ (sᵢ = `peftScaling`, so rank_pattern,
 * alpha_pattern and rsLoRA of each input count) with weight wᵢ (any real, negative allowed); an
 * input without module m contributes 0.
 *
 * - `linear` (alias `cat`): ΔW = Σ wᵢ·ΔWᵢ, EXACT: A = [A₁; A₂; …] stacked, B = [c₁B₁, c₂B₂, …]
 *   side by side, rank Σ rᵢ. Where every contribution has the same |wᵢ·sᵢ| (one adapter with
 *   weight ±1, for instance) that value becomes the module's scaling and cᵢ = ±1, so A and B are
 *   copied bit for bit (negated for a negative weight); otherwise the scaling is 1 and
 *   cᵢ = wᵢ·sᵢ is folded into B (one float32 rounding per entry of B).
 * - `svd`: the best rank-k approximation (Eckart–Young) of that exact ΔW, from the QR of the
 *   stacked factors and the SVD of the small core (`svdOfProduct`; exact up to float64 rounding,
 *   never forms out×in); B = U·√Σ, A = √Σ·Vᵀ.
 * - `ties`, `dare_linear`, `dare_ties`, `magnitude_prune`: PEFT's element-wise semantics
 *   (`methods.ts`) on each module's dense ΔWᵢ (exact float64 arithmetic; DARE's masks are
 *   random), then factored to rank k by `truncatedSvd` (exact for small modules, converged
 *   randomized subspace iteration for large ones).
 *
 * Every module reports `kept_norm_fraction` = ‖ΔW_out‖_F / ‖ΔW‖_F, ΔW the module's exact merged
 * matrix before factoring (1 for linear).
 *
 * Output config (PEFT `LoraConfig` keys): per module r_m = its factor rank and lora_alpha_m
 * chosen so that PEFT's scaling (alpha/r, or alpha/√r with use_rslora) equals the scaling the
 * factors were built for — 1 except in the copied cases above; `use_rslora` only for `linear`
 * when every input uses it (then copied modules keep their own alpha); r / lora_alpha the most
 * common per-module values, the rest in `rank_pattern` / `alpha_pattern` under keys that match
 * exactly one module; `target_modules` the union of the adapted modules' names.
 */
import * as nodePath from 'node:path';
import { createRng } from '../data/random';
import type { HostTensor } from '../tensor';
import { writeBytesAtomic } from '../weights/atomic';
import {
  type LoraConfigJson, type LoraWeights, type PeftAdapter, completeLoraConfig, peftAlpha, peftRank, peftScaling, writePeftAdapter,
} from '../weights/peft';
import { type Mat, frobenius2, mat, matmulTN, svdOfProduct, transpose, truncatedSvd, type Svd } from './linalg';
import { type DenseMergeMethod, type MajoritySign, mergeDense } from './methods';

export { type MajoritySign } from './methods';

import { MergeError } from './errors';
import { writeFolderAtomically } from './folder';

export { MergeError } from './errors';

export const MERGE_METHODS = ['linear', 'cat', 'svd', 'ties', 'dare_linear', 'dare_ties', 'magnitude_prune'] as const;
export type MergeMethod = (typeof MERGE_METHODS)[number];
const DENSITY_METHODS: readonly string[] = ['ties', 'dare_linear', 'dare_ties', 'magnitude_prune'];
/** The recipe file written beside the merged adapter. */
export const MERGE_RECIPE_NAME = 'merge.json';

/** One input adapter and its weight. */
export interface MergeInput {
  adapter: PeftAdapter;
  /** The adapter folder, for messages and the recipe. */
  source: string;
  /** wᵢ; any finite number. */
  weight: number;
}

export interface MergeOptions {
  method: MergeMethod;
  /** Target rank k for every method but linear; default the largest input rank. */
  rank?: number;
  /** Fraction of entries kept by ties / dare / magnitude_prune, in (0, 1]; required by them. */
  density?: number;
  /** TIES sign election; default "total" (PEFT's default). */
  majoritySign?: MajoritySign;
  /** Seed of the DARE masks (and of the randomized SVD start); default 0. */
  seed?: number;
  /** base_model_name_or_path of the result (default: the first input's). */
  baseModel?: string;
  /**
   * Whether two base_model_name_or_path strings name one folder on this machine (the CLI passes
   * a realpath comparison; the engine itself reads nothing). Default: never.
   */
  sameFolder?: (a: string, b: string) => boolean;
}

/** What happened to one module. */
export interface ModuleReport {
  module: string;
  /** Rank of the written factors. */
  r: number;
  /** ‖ΔW_out‖_F / ‖ΔW‖_F (1 when ΔW = 0 or the method is exact). */
  kept_norm_fraction: number;
  /** ‖ΔW‖_F of the exact merged update before factoring. */
  delta_norm: number;
}

/** `merge.json`: how an adapter was made. */
export interface MergeRecipe {
  method: MergeMethod;
  inputs: { path: string; weight: number; r: number; lora_alpha: number; use_rslora: boolean }[];
  params: { rank?: number; density?: number; majority_sign?: MajoritySign; seed?: number };
  /** The inputs' distinct base_model_name_or_path values (several when they differed in name only). */
  base_models: string[];
  modules: ModuleReport[];
}

export interface MergeResult {
  config: LoraConfigJson;
  modules: Map<string, LoraWeights>;
  report: ModuleReport[];
  recipe: MergeRecipe;
  /** One-line warnings for the user (e.g. base models named differently, shapes equal). */
  warnings: string[];
}

/**
 * Whether two `base_model_name_or_path` values name the same model: equal (ignoring trailing
 * slashes), the same last path segment (a local folder "/models/stories260K" and a Hub id or
 * name "org/stories260K" / "stories260K"), or `sameFolder(a, b)`.
 */
export function sameBaseModelName(a: string, b: string, sameFolder?: (a: string, b: string) => boolean): boolean {
  const norm = (s: string): string => s.replace(/[\\/]+$/, '');
  const last = (s: string): string => norm(s).split(/[\\/]/).pop()!.toLowerCase();
  return norm(a) === norm(b) || last(a) === last(b) || (sameFolder?.(a, b) ?? false);
}

const q = (s: string): string => JSON.stringify(s);

/** Checks the inputs and options; throws `MergeError` with a one-line message. */
function validate(inputs: readonly MergeInput[], opts: MergeOptions): void {
  if (!(MERGE_METHODS as readonly string[]).includes(opts.method)) {
    throw new MergeError(`unknown merge method ${q(opts.method)}; use one of ${MERGE_METHODS.join(', ')}`);
  }
  if (inputs.length === 0) throw new MergeError('no adapters to merge; pass at least one adapter folder');
  for (const inp of inputs) {
    if (!Number.isFinite(inp.weight)) throw new MergeError(`weight ${inp.weight} of ${inp.source} is not a finite number`);
  }
  if (opts.rank !== undefined && (!Number.isSafeInteger(opts.rank) || opts.rank <= 0)) {
    throw new MergeError(`rank ${opts.rank} must be a positive integer`);
  }
  if (DENSITY_METHODS.includes(opts.method)) {
    if (opts.density === undefined) throw new MergeError(`method ${opts.method} needs a density: the fraction of each ΔW's entries kept, in (0, 1] (e.g. 0.5)`);
  }
  if (opts.density !== undefined && !(opts.density > 0 && opts.density <= 1)) {
    throw new MergeError(`density ${opts.density} is out of (0, 1]; it is the fraction of each ΔW's entries kept`);
  }
  // One base model: names are compared in mergeAdapters (a differing name only warns); the
  // module shapes below decide.
  const fifo = inputs.map((i) => i.adapter.config.fan_in_fan_out === true);
  if (fifo.some((f) => f !== fifo[0])) {
    throw new MergeError(`${inputs[fifo.indexOf(!fifo[0])].source} has fan_in_fan_out ${!fifo[0]} but ${inputs[0].source} has ${fifo[0]}; these adapters are for different layer types and cannot be merged`);
  }
  // Same module shapes.
  const shapes = new Map<string, { out: number; in: number; source: string }>();
  for (const inp of inputs) {
    for (const [m, w] of inp.adapter.modules) {
      const s = { out: w.B.shape[0], in: w.A.shape[1], source: inp.source };
      const seen = shapes.get(m);
      if (!seen) shapes.set(m, s);
      else if (seen.out !== s.out || seen.in !== s.in) {
        throw new MergeError(`module ${q(m)} is [out ${seen.out}, in ${seen.in}] in ${seen.source} but [out ${s.out}, in ${s.in}] in ${inp.source}; the adapters were trained on different models — merge adapters of one base model`);
      }
    }
  }
}

/** A LoRA factor (float32 tensor) as a float64 matrix, each entry times `c`. */
function toMat(t: HostTensor, c = 1): Mat {
  const m = mat(t.shape[0], t.shape[1]);
  const d = t.data as Float32Array;
  for (let i = 0; i < d.length; i++) m.data[i] = c * d[i];
  return m;
}

/** One module's contributions: input index, weight, the input's scaling, A, B. */
interface Contribution {
  input: number;
  w: number;
  s: number;
  lora: LoraWeights;
}

/**
 * The dense ΔW = s·B·A [out, in] of one LoRA module, float64, row-major — the one definition
 * used by the element-wise merges and by merge-into-base (PEFT `LoraLayer.get_delta_weight`;
 * with fan_in_fan_out PEFT transposes it to the base weight's [in, out] layout, which the
 * caller does).
 */
export function deltaWeight(lora: Pick<LoraWeights, 'A' | 'B'>, scaling: number): Float64Array {
  const [out, r] = lora.B.shape;
  const inF = lora.A.shape[1];
  const A = lora.A.data as Float32Array;
  const B = lora.B.data as Float32Array;
  const dw = new Float64Array(out * inF);
  for (let o = 0; o < out; o++) {
    const row = o * inF;
    for (let k = 0; k < r; k++) {
      const c = scaling * B[o * r + k];
      if (c === 0) continue;
      const ak = k * inF;
      for (let i = 0; i < inF; i++) dw[row + i] += c * A[ak + i];
    }
  }
  return dw;
}

/** Factors from an SVD: B = U·√S [out, k], A = √S·Vᵀ [k, in], as float32 tensors. */
function factorsFromSvd(module: string, svd: Svd, k: number): LoraWeights {
  const out = svd.U.rows;
  const inF = svd.V.rows;
  const B = new Float32Array(out * k);
  const A = new Float32Array(k * inF);
  for (let j = 0; j < k; j++) {
    const r = Math.sqrt(svd.S[j]);
    for (let o = 0; o < out; o++) B[o * k + j] = svd.U.data[o * svd.U.cols + j] * r;
    for (let i = 0; i < inF; i++) A[j * inF + i] = svd.V.data[i * svd.V.cols + j] * r;
  }
  return { module, A: { dtype: 'float32', shape: [k, inF], data: A }, B: { dtype: 'float32', shape: [out, k], data: B } };
}

/** Per-module factors plus the scaling they were built for. */
interface ModuleOut {
  lora: LoraWeights;
  /** The PEFT scaling the factors need. */
  scaling: number;
  /** lora_alpha to write when it must be copied bit for bit (single input, same rsLoRA). */
  alpha?: number;
  report: ModuleReport;
}

function mergeLinear(module: string, cs: Contribution[], inputs: readonly MergeInput[], rslora: boolean): ModuleOut {
  const g = cs.map((c) => c.w * c.s);
  const mag = Math.abs(g[0]);
  const same = mag > 0 && g.every((x) => Math.abs(x) === mag);
  const scaling = same ? mag : 1;
  const coef = same ? g.map((x) => Math.sign(x)) : g;
  const R = cs.reduce((a, c) => a + c.lora.A.shape[0], 0);
  const inF = cs[0].lora.A.shape[1];
  const out = cs[0].lora.B.shape[0];
  const A = new Float32Array(R * inF);
  const B = new Float32Array(out * R);
  let off = 0;
  cs.forEach((c, idx) => {
    const r = c.lora.A.shape[0];
    A.set(c.lora.A.data as Float32Array, off * inF);
    const b = c.lora.B.data as Float32Array;
    const k = coef[idx];
    for (let o = 0; o < out; o++) for (let j = 0; j < r; j++) B[o * R + off + j] = k * b[o * r + j];
    off += r;
  });
  // ‖ΔW‖_F² = s²·Σⱼₖ (BᵀB)ⱼₖ·(A·Aᵀ)ⱼₖ from two R×R Gram matrices, for the report.
  const Bm = toMat({ dtype: 'float32', shape: [out, R], data: B });
  const Am = toMat({ dtype: 'float32', shape: [R, inF], data: A });
  const gb = matmulTN(Bm, Bm);
  const ga = matmulTN(transpose(Am), transpose(Am));
  let n2 = 0;
  for (let i = 0; i < gb.data.length; i++) n2 += gb.data[i] * ga.data[i];
  const norm = scaling * Math.sqrt(Math.max(0, n2));
  let alpha: number | undefined;
  if (cs.length === 1 && Math.abs(cs[0].w) === 1) {
    const cfg = inputs[cs[0].input].adapter.config;
    if ((cfg.use_rslora === true) === rslora) alpha = peftAlpha(cfg, module);
  }
  return {
    lora: { module, A: { dtype: 'float32', shape: [R, inF], data: A }, B: { dtype: 'float32', shape: [out, R], data: B } },
    scaling,
    alpha,
    report: { module, r: R, kept_norm_fraction: 1, delta_norm: norm },
  };
}

function mergeSvd(module: string, cs: Contribution[], k: number): ModuleOut {
  const R = cs.reduce((a, c) => a + c.lora.A.shape[0], 0);
  const inF = cs[0].lora.A.shape[1];
  const out = cs[0].lora.B.shape[0];
  const Bs = mat(out, R);
  const As = mat(R, inF);
  let off = 0;
  for (const c of cs) {
    const r = c.lora.A.shape[0];
    const a = c.lora.A.data as Float32Array;
    const b = c.lora.B.data as Float32Array;
    const g = c.w * c.s;
    for (let i = 0; i < r * inF; i++) As.data[off * inF + i] = a[i];
    for (let o = 0; o < out; o++) for (let j = 0; j < r; j++) Bs.data[o * R + off + j] = g * b[o * r + j];
    off += r;
  }
  const svd = svdOfProduct(Bs, As);
  const kk = Math.min(k, svd.S.length);
  const total = frobenius2(svd.S);
  const kept = frobenius2(svd.S.subarray(0, kk));
  return {
    lora: factorsFromSvd(module, svd, kk),
    scaling: 1,
    report: { module, r: kk, kept_norm_fraction: total > 0 ? Math.sqrt(kept / total) : 1, delta_norm: Math.sqrt(total) },
  };
}

/** A small 32-bit hash of a module name (FNV-1a), to key its random stream. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function mergeElementwise(module: string, cs: Contribution[], k: number, opts: MergeOptions): ModuleOut {
  const out = cs[0].lora.B.shape[0];
  const inF = cs[0].lora.A.shape[1];
  const seed = opts.seed ?? 0;
  const merged = mergeDense(
    opts.method as DenseMergeMethod,
    cs.map((c) => deltaWeight(c.lora, c.s)),
    cs.map((c) => c.w),
    opts.density ?? 1,
    opts.majoritySign ?? 'total',
    createRng(seed, 1, hash32(module)),
  );
  const M: Mat = { rows: out, cols: inF, data: merged };
  const svd = truncatedSvd(M, k, { rand: createRng(seed, 2, hash32(module)) });
  const total = frobenius2(merged);
  const kept = frobenius2(svd.S);
  return {
    lora: factorsFromSvd(module, svd, svd.S.length),
    scaling: 1,
    report: { module, r: svd.S.length, kept_norm_fraction: total > 0 ? Math.min(1, Math.sqrt(kept / total)) : 1, delta_norm: Math.sqrt(total) },
  };
}

/** The most common value (ties: the first seen). */
function mode(values: readonly number[]): number {
  const counts = new Map<number, number>();
  let best = values[0];
  for (const v of values) {
    const c = (counts.get(v) ?? 0) + 1;
    counts.set(v, c);
    if (c > counts.get(best)!) best = v;
  }
  return best;
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The pattern key for one module: its path without the first component, dots escaped
 * ("layers\\.0\\.self_attn\\.q_proj"), which both PEFT ≥ 0.14 (`(.*\.)?(key)$`) and older PEFT
 * (`.*\.key$`) match against "model.layers.0.self_attn.q_proj"; or the whole escaped path when
 * `full` (only PEFT ≥ 0.14 matches that one at the start).
 */
function patternKey(module: string, full: boolean): string {
  const dot = module.indexOf('.');
  return escapeRe(full || dot < 0 ? module : module.slice(dot + 1));
}

/**
 * The adapter_config.json for per-module ranks and alphas: r / lora_alpha the most common
 * values, `rank_pattern` / `alpha_pattern` for the rest; checked with `peftRank` / `peftAlpha`
 * so every module gets exactly its values.
 */
function buildConfig(
  per: Map<string, { r: number; alpha: number }>,
  base: Partial<LoraConfigJson>,
  rslora: boolean,
): LoraConfigJson {
  const mods = [...per.keys()];
  const r = mode(mods.map((m) => per.get(m)!.r));
  const alpha = mode(mods.map((m) => per.get(m)!.alpha));
  for (const full of [false, true]) {
    const rank_pattern: Record<string, number> = {};
    const alpha_pattern: Record<string, number> = {};
    for (const m of mods) {
      const v = per.get(m)!;
      if (v.r !== r) rank_pattern[patternKey(m, full)] = v.r;
      if (v.alpha !== alpha) alpha_pattern[patternKey(m, full)] = v.alpha;
    }
    const cfg = completeLoraConfig({ ...base, r, lora_alpha: alpha, use_rslora: rslora, rank_pattern, alpha_pattern, target_modules: undefined }, mods);
    if (mods.every((m) => peftRank(cfg, m) === per.get(m)!.r && peftAlpha(cfg, m) === per.get(m)!.alpha)) return cfg;
  }
  throw new MergeError('could not express the merged per-module ranks as a rank_pattern (module names overlap); please report this');
}

/**
 * Merges `inputs` by `opts.method` (see the module comment). Pure: reads nothing, writes
 * nothing. Throws `MergeError` for an unknown method, no inputs, a non-finite weight, a bad rank
 * or density (out of (0, 1], or missing for ties / dare / magnitude_prune), or a module whose
 * [out, in] differs between inputs (different base models). Base model names that differ
 * (`sameBaseModelName` false) while every shape agrees only add a warning to `warnings`.
 */
export function mergeAdapters(inputs: readonly MergeInput[], opts: MergeOptions): MergeResult {
  validate(inputs, opts);
  const warnings: string[] = [];
  const named = inputs.filter((i) => typeof i.adapter.config.base_model_name_or_path === 'string' && i.adapter.config.base_model_name_or_path !== '');
  const baseModels = [...new Set(named.map((i) => i.adapter.config.base_model_name_or_path as string))];
  for (const other of named.slice(1)) {
    const a = named[0].adapter.config.base_model_name_or_path as string;
    const b = other.adapter.config.base_model_name_or_path as string;
    if (!sameBaseModelName(a, b, opts.sameFolder)) {
      warnings.push(`${named[0].source} names base model ${q(a)} but ${other.source} names ${q(b)}; every module's shape agrees, so merging anyway (both names are in merge.json; set the result's with --base-model)`);
    }
  }
  const method = opts.method;
  const linear = method === 'linear' || method === 'cat';
  const rslora = linear && inputs.every((i) => i.adapter.config.use_rslora === true);
  const k = opts.rank ?? Math.max(...inputs.flatMap((i) => [...i.adapter.modules.keys()].map((m) => peftRank(i.adapter.config, m))));

  const byModule = new Map<string, Contribution[]>();
  inputs.forEach((inp, idx) => {
    for (const [m, lora] of inp.adapter.modules) {
      const list = byModule.get(m) ?? [];
      list.push({ input: idx, w: inp.weight, s: peftScaling(inp.adapter.config, m), lora });
      byModule.set(m, list);
    }
  });
  const modules = new Map<string, LoraWeights>();
  const per = new Map<string, { r: number; alpha: number }>();
  const report: ModuleReport[] = [];
  for (const m of [...byModule.keys()].sort()) {
    const cs = byModule.get(m)!;
    const res = linear ? mergeLinear(m, cs, inputs, rslora) : method === 'svd' ? mergeSvd(m, cs, k) : mergeElementwise(m, cs, k, opts);
    if (res.report.r === 0) continue; // a zero ΔW of a module with no rank left: nothing to write
    modules.set(m, res.lora);
    const r = res.report.r;
    per.set(m, { r, alpha: res.alpha ?? (rslora ? res.scaling * Math.sqrt(r) : res.scaling * r) });
    report.push(res.report);
  }
  if (modules.size === 0) throw new MergeError('the merged adapter has no modules left; check the weights and inputs');

  const first = inputs[0].adapter.config;
  const baseModel = opts.baseModel ?? baseModels[0] ?? null;
  const taskTypes = new Set(inputs.map((i) => i.adapter.config.task_type ?? null));
  const base: Partial<LoraConfigJson> = {
    base_model_name_or_path: baseModel,
    task_type: taskTypes.size === 1 ? first.task_type ?? null : 'CAUSAL_LM',
    fan_in_fan_out: first.fan_in_fan_out === true,
  };
  const config = buildConfig(per, base, rslora);
  for (const m of modules.keys()) {
    // Self-check: PEFT's scaling of the written config is the one the factors were built for.
    const want = per.get(m)!;
    const got = peftScaling(config, m);
    const expect = rslora ? want.alpha / Math.sqrt(want.r) : want.alpha / want.r;
    if (got !== expect) throw new MergeError(`internal: module ${q(m)} scaling ${got} ≠ ${expect}; please report this`);
  }
  const recipe: MergeRecipe = {
    method,
    inputs: inputs.map((i) => ({
      path: i.source, weight: i.weight, r: i.adapter.config.r, lora_alpha: i.adapter.config.lora_alpha, use_rslora: i.adapter.config.use_rslora === true,
    })),
    params: linear ? {} : {
      rank: k,
      ...(DENSITY_METHODS.includes(method) ? { density: opts.density } : {}),
      ...(method === 'ties' || method === 'dare_ties' ? { majority_sign: opts.majoritySign ?? 'total' } : {}),
      ...(method.startsWith('dare') ? { seed: opts.seed ?? 0 } : {}),
    },
    base_models: baseModels,
    modules: report,
  };
  return { config, modules, report, recipe, warnings };
}

/**
 * Writes a merge result as a PEFT adapter folder (`writePeftAdapter`) plus `merge.json` (the
 * recipe, 2-space JSON) beside it, all at once (`writeFolderAtomically`: the folder appears
 * complete or not at all). Throws `MergeError` when `dir` exists and is not empty, `WeightsError`
 * for I/O problems.
 */
export async function writeMergedAdapter(dir: string, result: MergeResult): Promise<void> {
  await writeFolderAtomically(dir, async (tmp) => {
    await writePeftAdapter(tmp, result.config, result.modules);
    await writeBytesAtomic(nodePath.join(tmp, MERGE_RECIPE_NAME), `${JSON.stringify(result.recipe, null, 2)}\n`);
  });
}

/** Size in bytes of the written adapter weights (float32 A and B), for a summary line. */
export function mergedAdapterBytes(result: MergeResult): number {
  let n = 0;
  for (const w of result.modules.values()) n += 4 * (w.A.data.length + w.B.data.length);
  return n;
}

