/**
 * LoRA on linear layers (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language
 * Models"; PEFT `tuners/lora/layer.py`):
 *
 *   y = x·Wᵀ (+ b) + s · (x·Aᵀ)·Bᵀ,   A [r, in], B [out, r],
 *   s = lora_alpha / r, or lora_alpha / √r with use_rslora (Kalajdzievski 2023),
 * with r and lora_alpha per module after PEFT's `rank_pattern` / `alpha_pattern`
 * (`peftRank`, `peftScaling` in weights/peft.ts hold the one formula for training, inference
 * and export; `adapterFeeds` in feeds.ts turns any adapter, trained or loaded, into feeds).
 *
 * The base layer is wrapped, not edited: W stays a frozen initializer, and A, B and the
 * per-module scalings are graph inputs, so swapping adapters (or training them) changes
 * feeds, never the compiled session. Each module's rank is its own symbolic dim
 * (`loraRankDim`), so one session serves adapters of any rank, including adapters whose modules
 * have different ranks (PEFT `rank_pattern`, merged adapters).
 *
 * Multi-LoRA (`LoraGraph` built with `multiLora`, inference): several adapters in one batch, each
 * row with its own, as multi-LoRA servers do (Punica, Chen et al. 2023; S-LoRA, Sheng et al.
 * 2023; ONNX Runtime GenAI's multi-LoRA). The N adapters' A and B are stacked, each padded with
 * zeros to the largest rank of its module (exact: a zero row of A and zero column of B add
 * nothing), and every row b gathers adapter lora_index[b]:
 *
 *   y[b] = x[b]·Wᵀ + s[i, m] · (x[b]·A[i]ᵀ)·B[i]ᵀ,   i = lora_index[b].
 */
import type { Value } from '../graph/ir';
import { Add, Dropout, Gather, MatMul, Mul, Transpose, Unsqueeze, scalar } from '../ops/index';
import type { Graph } from '../graph/ir';
import type { HostTensor } from '../tensor';
import { type LoraConfigJson, type LoraWeights, peftKey, peftPatternKey, peftRank } from '../weights/peft';

/** The linear layers of a decoder block, by their checkpoint names. */
export const ATTENTION_LINEARS = ['q_proj', 'k_proj', 'v_proj', 'o_proj'] as const;
export const MLP_LINEARS = ['gate_proj', 'up_proj', 'down_proj'] as const;

export class LoraError extends Error {}

/**
 * Whether module `name` (e.g. "model.layers.0.self_attn.q_proj") is targeted, with PEFT's
 * rules: "all-linear" = every linear layer except the output head; a list matches a module
 * whose name equals an entry or ends with "." + entry; any other string is a regular
 * expression that must match the whole name.
 */
export function isTargeted(name: string, targetModules: string | readonly string[]): boolean {
  if (targetModules === 'all-linear') return !name.endsWith('lm_head');
  if (typeof targetModules === 'string') return new RegExp(`^(?:${targetModules})$`).test(name);
  return targetModules.some((t) => name === t || name.endsWith(`.${t}`));
}

/**
 * The symbolic ONNX dim of `module`'s rank, e.g. "r[model.layers.0.self_attn.q_proj]". ONNX
 * Runtime treats equal dim_param strings as equal sizes (and plans buffer reuse on that), so
 * modules that may differ in rank must not share one.
 */
export function loraRankDim(module: string): string {
  return `r[${module}]`;
}

/** Graph input of the multi-LoRA graph: which stacked adapter each batch row uses, (B) int64. */
export const LORA_INDEX = 'lora_index';

/**
 * The LoRA side of a model graph: which modules carry LoRA and the inputs created for them.
 * Graph inputs: `<peftKey(module, 'A')>` [r_m, in], `<peftKey(module, 'B')>` [out, r_m] with
 * r_m = the symbolic dim `loraRankDim(module)`, and one `lora_scaling` vector [M] (M = number of
 * LoRA modules, in `modules` order).
 *
 * With `multiLora` (see the file comment): `<peftKey(module, 'A')>` (N, r_m, in),
 * `<peftKey(module, 'B')>` (N, out, r_m) over N stacked adapters, `lora_scaling` (N, M), and
 * `lora_index` (B) int64 with values in [0, N); a `lora_index` of length 1 applies its adapter to
 * every row. Feeds: `stackedAdapterFeeds` (feeds.ts). Inference only: no dropout.
 */
export class LoraGraph {
  readonly modules: string[] = [];
  readonly shapes = new Map<string, { in: number; out: number }>();
  readonly inputs = new Map<string, { A: Value; B: Value }>();
  private scaling: Value | null = null;
  /** Multi-LoRA: `lora_index` (B) and the scalings of each row's adapter, (B, M). */
  private rows: { index: Value; scaling: Value } | null = null;

  /**
   * @throws LoraError when `multiLora` is combined with dropout (multi-LoRA graphs are for inference).
   */
  constructor(
    private readonly graph: Graph,
    /** Which modules get LoRA (see `isTargeted`). */
    readonly targets: (module: string) => boolean,
    /** LoRA dropout on the adapter's input (PEFT `lora_dropout`), training graphs only. */
    readonly dropout: { ratio: number; seed: number } | null = null,
    /** Stacked adapters gathered per row (see the class comment); default false. */
    readonly multiLora = false,
  ) {
    if (multiLora && dropout && dropout.ratio > 0) throw new LoraError('a multi-LoRA graph is for inference: build it without lora_dropout');
  }

  /**
   * y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ for a targeted module, else y = x·Wᵀ.
   * `wT` is the base weight already transposed to [in, out]; x is (…, in), y is (…, out).
   * `base`: x·Wᵀ when the caller computed it (models/decoder.ts: in half precision); `wT` is then unused.
   */
  linear(x: Value, module: string, wT: Value, inF: number, outF: number, base: Value = MatMul(x, wT)): Value {
    if (!this.targets(module)) return base;
    const g = this.graph;
    const index = this.modules.length;
    this.modules.push(module);
    this.shapes.set(module, { in: inF, out: outF });
    // Each module has its own rank dim: with one shared "r", ORT's memory planner reuses
    // buffers between modules and fails when their ranks differ (rank_pattern, merged adapters).
    const r = loraRankDim(module);
    if (this.multiLora) return Add(base, this.multiDelta(x, module, index, r, inF, outF));
    const A = g.input(peftKey(module, 'A'), x.dtype, [r, inF]);
    const B = g.input(peftKey(module, 'B'), x.dtype, [outF, r]);
    this.inputs.set(module, { A, B });
    this.scaling ??= g.input('lora_scaling', x.dtype, ['M']);
    const s = Gather(this.scaling, scalar(g, index, 'int64'), 0); // ()
    const xd = this.dropout && this.dropout.ratio > 0 ? Dropout(x, this.dropout.ratio, true, this.dropout.seed + index)[0] : x; // (…, in)
    const xa = MatMul(xd, Transpose(A, [1, 0])); // (…, r)
    const delta = MatMul(Mul(xa, s), Transpose(B, [1, 0])); // (…, out)
    return Add(base, delta);
  }

  /** Multi-LoRA delta of module number `index`: x (B, T, in) → (B, T, out), each row with adapter lora_index[b]. */
  private multiDelta(x: Value, module: string, index: number, r: string, inF: number, outF: number): Value {
    const g = this.graph;
    if (x.rank !== 3) throw new LoraError(`multi-LoRA: the input of ${module} must be (B, T, in), got rank ${x.rank}`);
    const A = g.input(peftKey(module, 'A'), x.dtype, ['N', r, inF]);
    const B = g.input(peftKey(module, 'B'), x.dtype, ['N', outF, r]);
    this.inputs.set(module, { A, B });
    if (!this.rows) {
      // Its own dim name: a length-1 lora_index broadcasts over the B rows.
      const rowIndex = g.input(LORA_INDEX, 'int64', ['B_lora']);
      this.scaling = g.input('lora_scaling', x.dtype, ['N', 'M']);
      this.rows = { index: rowIndex, scaling: Gather(this.scaling, rowIndex, 0) }; // (B, M)
    }
    const s = Unsqueeze(Gather(this.rows.scaling, scalar(g, index, 'int64'), 1), [1, 2]); // (B, 1, 1)
    const Ab = Gather(A, this.rows.index, 0); // (B, r, in)
    const Bb = Gather(B, this.rows.index, 0); // (B, out, r)
    const xa = MatMul(x, Transpose(Ab, [0, 2, 1])); // (B, T, r)
    return MatMul(Mul(xa, s), Transpose(Bb, [0, 2, 1])); // (B, T, out)
  }
}

/** Float32 A and B of one module; A [r, in], B [out, r]. */
export interface LoraTensors {
  A: HostTensor;
  B: HostTensor;
}

/**
 * PEFT's default initialisation: A ~ Kaiming-uniform with a = √5 (torch's nn.Linear default:
 * bound = 1/√in), B = 0, so the adapter starts as the identity (ΔW = 0).
 *
 * @param rand uniform [0, 1) generator (seeded by the caller for reproducibility).
 */
export function initLora(r: number, inF: number, outF: number, rand: () => number): LoraTensors {
  // kaiming_uniform_(a=√5): gain = √(2/(1+a²)) = √(1/3); bound = gain·√(3/fan_in) = 1/√fan_in
  const bound = 1 / Math.sqrt(inF);
  const A = new Float32Array(r * inF);
  for (let i = 0; i < A.length; i++) A[i] = (rand() * 2 - 1) * bound;
  return {
    A: { dtype: 'float32', shape: [r, inF], data: A },
    B: { dtype: 'float32', shape: [outF, r], data: new Float32Array(outF * r) },
  };
}

/**
 * The LoraConfig fields (PEFT names) that fix each module's rank and scaling: module m has rank
 * `peftRank(config, m)` and scaling `peftScaling(config, m)` (r / lora_alpha unless a
 * `rank_pattern` / `alpha_pattern` key matches m, see `peftPatternKey`).
 */
export type LoraRankConfig = Pick<LoraConfigJson, 'r' | 'lora_alpha' | 'use_rslora' | 'rank_pattern' | 'alpha_pattern'>;

/**
 * PEFT's fresh adapter for every module of `lora`, in `lora.modules` order: module m gets
 * A [r_m, in] Kaiming-uniform and B [out, r_m] zero (`initLora`), r_m = `peftRank(config, m)`,
 * as PEFT's `LoraModel._create_and_replace` does with `rank_pattern` (PEFT 0.20, `lora/model.py`).
 * `rand` is consumed module after module, so the same seed gives the same adapter.
 */
export function initLoraModules(lora: LoraGraph, config: LoraRankConfig, rand: () => number): Map<string, LoraWeights> {
  const out = new Map<string, LoraWeights>();
  for (const module of lora.modules) {
    const { in: inF, out: outF } = lora.shapes.get(module)!;
    out.set(module, { module, ...initLora(peftRank(config, module), inF, outF, rand) });
  }
  return out;
}

/** A module whose rank is above min(in, out) features, found by `rankAboveWidth`. */
export interface RankTooLarge {
  module: string;
  r: number;
  /** min(in, out) of the module. */
  max: number;
  /** The `rank_pattern` key that gave r, or undefined when r is the default `r`. */
  patternKey: string | undefined;
}

/**
 * A module of `lora` whose rank r_m exceeds min(in, out) (such an update cannot have rank r_m,
 * so the extra parameters only slow training; PEFT allows it, LoRA Lab refuses it), the
 * narrowest such module when there are several; undefined when every rank fits. Needs only the
 * targeted modules and their [out, in] shapes (config.json suffices: `linearModules`).
 */
export function rankAboveWidth(lora: Pick<LoraGraph, 'modules' | 'shapes'>, config: LoraRankConfig): RankTooLarge | undefined {
  let worst: RankTooLarge | undefined;
  for (const module of lora.modules) {
    const { in: inF, out: outF } = lora.shapes.get(module)!;
    const r = peftRank(config, module);
    const max = Math.min(inF, outF);
    if (r > max && (!worst || max < worst.max)) worst = { module, r, max, patternKey: peftPatternKey(config.rank_pattern, module) };
  }
  return worst;
}

/**
 * The one message for `rankAboveWidth`'s finding (the trainer prefixes the experiment file, the
 * editor shows it on the `r` or `rank_pattern` key): what is too large, the bound, and the fix.
 */
export function rankTooLargeMessage(t: RankTooLarge): string {
  return t.patternKey === undefined
    ? `lora.r ${t.r} is larger than the smallest targeted layer (${t.max} features), so the update cannot have that rank; use r ≤ ${t.max}, or give the narrow modules (such as ${t.module.split('.').pop()}) a lower rank with lora.rank_pattern`
    : `lora.rank_pattern ${JSON.stringify(t.patternKey)}: ${t.r} is larger than ${t.module} (${t.max} features), so its update cannot have that rank; use at most ${t.max} for that pattern`;
}

/**
 * The keys of `patterns` (a `rank_pattern` or `alpha_pattern`) that decide no module of
 * `modules`: they match none, or every module they match is taken by an earlier key (PEFT's
 * first-match rule, `peftPatternKey`). PEFT ignores such keys silently; a trainer should say so.
 */
export function unusedPatternKeys(patterns: Record<string, number> | null | undefined, modules: readonly string[]): string[] {
  if (!patterns) return [];
  const used = new Set(modules.map((m) => peftPatternKey(patterns, m)));
  return Object.keys(patterns).filter((k) => !used.has(k));
}
