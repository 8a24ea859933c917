/**
 * LoRA on linear layers (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language
 * Models"; PEFT `tuners/lora/layer.py`):
 *
 *   y = x·Wᵀ (+ b) + s · (x·Aᵀ)·Bᵀ,   A [r, in], B [out, r],
 *   s = lora_alpha / r, or lora_alpha / √r with use_rslora (Kalajdzievski 2023).
 *
 * The base layer is wrapped, not edited: W stays a frozen initializer, and A, B and the
 * per-module scalings are graph inputs, so swapping adapters (or training them) changes
 * feeds, never the compiled session. The rank is a symbolic dim, so one session serves
 * adapters of any rank.
 */
import type { Value } from '../graph/ir';
import { Add, Dropout, Gather, MatMul, Mul, Transpose, scalar } from '../ops/index';
import type { Graph } from '../graph/ir';
import type { HostTensor } from '../tensor';
import { peftKey } from '../weights/peft';

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

/** PEFT's scaling: alpha / r, or alpha / √r for rsLoRA. */
export function loraScaling(r: number, loraAlpha: number, useRslora: boolean): number {
  return useRslora ? loraAlpha / Math.sqrt(r) : loraAlpha / r;
}


/**
 * The LoRA side of a model graph: which modules carry LoRA and the inputs created for them.
 * Graph inputs: `<peftKey(module, 'A')>` [r, in], `<peftKey(module, 'B')>` [out, r] and one
 * `lora_scaling` vector [M] (M = number of LoRA modules, in `modules` order).
 */
export class LoraGraph {
  readonly modules: string[] = [];
  readonly shapes = new Map<string, { in: number; out: number }>();
  readonly inputs = new Map<string, { A: Value; B: Value }>();
  private scaling: Value | null = null;

  constructor(
    private readonly graph: Graph,
    /** Which modules get LoRA (see `isTargeted`). */
    readonly targets: (module: string) => boolean,
    /** LoRA dropout on the adapter's input (PEFT `lora_dropout`), training graphs only. */
    readonly dropout: { ratio: number; seed: number } | null = null,
  ) {}

  /**
   * y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ for a targeted module, else y = x·Wᵀ.
   * `wT` is the base weight already transposed to [in, out]; x is (…, in), y is (…, out).
   */
  linear(x: Value, module: string, wT: Value, inF: number, outF: number): Value {
    const base = MatMul(x, wT); // (…, out)
    if (!this.targets(module)) return base;
    const g = this.graph;
    const index = this.modules.length;
    this.modules.push(module);
    this.shapes.set(module, { in: inF, out: outF });
    const A = g.input(peftKey(module, 'A'), x.dtype, ['r', inF]);
    const B = g.input(peftKey(module, 'B'), x.dtype, [outF, 'r']);
    this.inputs.set(module, { A, B });
    this.scaling ??= g.input('lora_scaling', x.dtype, ['M']);
    const s = Gather(this.scaling, scalar(g, index, 'int64'), 0); // ()
    const xd = this.dropout && this.dropout.ratio > 0 ? Dropout(x, this.dropout.ratio, true, this.dropout.seed + index)[0] : x; // (…, in)
    const xa = MatMul(xd, Transpose(A, [1, 0])); // (…, r)
    const delta = MatMul(Mul(xa, s), Transpose(B, [1, 0])); // (…, out)
    return Add(base, delta);
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
