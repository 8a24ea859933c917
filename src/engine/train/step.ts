/**
 * The training step's graph: the loss and the LoRA gradients added to a causal LM's forward
 * graph, in one ONNX Runtime session that also validates (one copy of the weights).
 *
 * `trainStep` runs one optimizer step on that session: gradient accumulation over micro-batches
 * and the clipped AdamW update (optimizer.ts).
 *
 * Graph inputs added: `labels` (B, T) int64 (−100 = ignored), and with gradients `train` (bool
 * scalar). Outputs: `loss` (), `token_nll` (B, T), and with gradients `grad.<PEFT key>` for every
 * LoRA A and B. The fused chunked cross-entropy (loss.ts) runs in the main graph with its
 * gradient with respect to the final hidden states (its Loop owns the output head, which ONNX
 * Runtime then prepacks); the rest of the backward sits in an ONNX `If` on `train`:
 *   train = true:  the backward of the whole model to every LoRA tensor; LoRA dropout active.
 *   train = false: nothing (no backward, no dropout); each `grad.*` output is an empty (0, 0)
 *                  tensor. This is validation on the training session.
 * In the backward, each decoder layer's LoRA gradients are data dependencies of the next layer
 * down (`orderWeightGradients`, `recomputeLayers`): ONNX Runtime's depth-first CPU execution order
 * would otherwise keep every layer's activations and output gradients alive until the end.
 */
import { gradients } from '../autodiff/index';
import { Graph, Node, Value } from '../graph/ir';
import { Add, Concat, If, Identity, Mul, ReduceSum, Reshape, Slice, branchGraph, constant } from '../ops/index';
import type { CausalLMGraph } from '../models/types';
import type { HostTensor } from '../tensor';
import type { Batch } from '../data/batch';
import { causalLMLoss, logitsOperands } from './loss';
import { type AdamState, type AdamW, type LossScaler, unscaleGradients } from './optimizer';

export interface StepGraphOptions {
  /** Keep the (B, T, V) `logits` output (default false: the fused loss never builds them). */
  logits?: boolean;
  /** Add `loss` and `token_nll` (default true). */
  loss?: boolean;
  /** Add the `train` input and the `grad.*` outputs (default false). */
  grads?: boolean;
  /** Rows per cross-entropy chunk (default: `defaultChunkRows(V)`, about 16 MiB of logits). */
  chunkRows?: number;
  /**
   * Gradient checkpointing (Hugging Face `gradient_checkpointing`): keep only each decoder
   * layer's input and recompute the layer's forward inside the backward (`recomputeLayers`), so
   * activation memory is that of one layer plus L residuals instead of L layers. Same gradients
   * (up to float rounding: the recomputation is the same ops on the same inputs). Default false.
   */
  gradientCheckpointing?: boolean;
  /**
   * Dynamic loss scaling (fp16 backward): a scalar `loss_scale` input multiplies the gradient
   * seed, so every `grad.*` output is scale × the gradient (the `loss` output is not scaled).
   * Default false.
   */
  lossScale?: boolean;
  /**
   * The session will prepack constant weights (`SessionOptions.prepacking`, decided by
   * `prepackTraining`): the loss Loop then owns the output head (`ChunkOptions.ownHead`) so that
   * ONNX Runtime packs it once instead of once per chunk. Default false.
   */
  prepacking?: boolean;
}

/** The graph input that selects training (gradients, dropout) or validation. */
export const TRAIN_INPUT = 'train';
/** The graph input of the loss scale (`StepGraphOptions.lossScale`). */
export const LOSS_SCALE_INPUT = 'loss_scale';

/**
 * Adds the loss (and gradients) to `lm.graph` as described in the file comment; the forward
 * graph must not have been serialized with other outputs yet.
 *
 * @throws Error when the logits are not MatMul(hidden, lm_head) or a LoRA tensor does not reach
 *   the loss (an engine bug, not a user error).
 */
export function addLossAndGradients(lm: CausalLMGraph, opts: StepGraphOptions = {}): void {
  const g = lm.graph;
  if (opts.logits) g.output(lm.logits, 'logits');
  if (!(opts.loss ?? true) && !opts.grads) return;
  const labels = g.input('labels', 'int64', ['B', 'T']);
  const { hidden, head } = logitsOperands(lm.logits);
  if (!opts.logits) dropUnused(g, lm.logits);
  if (!opts.grads) {
    const { loss, tokenNll } = causalLMLoss(hidden, head, labels, { chunkRows: opts.chunkRows });
    g.output(loss, 'loss');
    g.output(tokenNll, 'token_nll');
    return;
  }
  const train = g.input(TRAIN_INPUT, 'bool', []);
  const lossScale = opts.lossScale ? g.input(LOSS_SCALE_INPUT, hidden.dtype, []) : null;
  // LoRA dropout (lora/index.ts builds Dropout with a constant training_mode) follows `train`.
  for (const n of g.nodes) if (n.opType === 'Dropout') n.inputs[2] = train;
  const wrt = lm.lora.modules.flatMap((m) => [lm.lora.inputs.get(m)!.A, lm.lora.inputs.get(m)!.B]);

  // The loss and its gradient with respect to the final hidden states come before the If, for
  // both branches: with prepacking the chunk Loop owns the output head so that ONNX Runtime packs
  // it once (`ChunkOptions.ownHead`), and only one Loop can. Each chunk computes its gradient rows
  // only when `train` is true (`ChunkOptions.gradWhen`).
  const { loss, tokenNll } = causalLMLoss(hidden, head, labels, { chunkRows: opts.chunkRows, grad: true, gradWhen: train, ownHead: opts.prepacking });
  const backwardStart = g.nodes.length;
  const trainBranch = branchGraph(g, 'train_step', () => {
    const seed = lossScale ? Mul(loss, lossScale) : loss; // scale · loss: every gradient scaled
    let grads: Map<Value, Value | null>;
    if (opts.gradientCheckpointing) {
      if (!lm.residuals) throw new Error('gradient checkpointing: this model graph does not expose its residual stream');
      // The gradient of each layer output, to start that layer's recomputation only once the
      // backward has reached it (and to keep ONNX Runtime from merging it with the forward).
      const anchors = lm.residuals.slice(1).filter((v) => dependsOn(g, backwardStart, v, wrt));
      grads = gradients(seed, [...wrt, ...anchors]);
      recomputeLayers(g, lm.residuals, grads, backwardStart, wrt);
    } else {
      const anchors = (lm.residuals ?? []).slice(1, -1).filter((v) => dependsOn(g, backwardStart, v, wrt));
      grads = gradients(seed, [...wrt, ...anchors]);
      if (lm.residuals) orderWeightGradients(g, lm.residuals, grads, backwardStart, wrt);
    }
    return wrt.map((v) => {
      const d = grads.get(v);
      if (!d) throw new Error(`training graph: LoRA tensor ${v.name} does not reach the loss`);
      return d;
    });
  });
  const validateBranch = branchGraph(g, 'validate_step', () => {
    const none = constant(g, { dtype: hidden.dtype, shape: [0, 0], data: new (hidden.dtype === 'float64' ? Float64Array : Float32Array)(0) }, 'no_gradient');
    return wrt.map(() => Identity(none));
  });
  const grads = If(train, trainBranch, validateBranch, wrt.map(() => ({ dtype: hidden.dtype, shape: null })));
  g.output(loss, 'loss');
  g.output(tokenNll, 'token_nll');
  wrt.forEach((v, i) => g.output(grads[i], `grad.${v.name}`));
}

/** Removes the node computing `v` when nothing reads `v` (the unfused logits MatMul). */
function dropUnused(g: Graph, v: Value): void {
  if (g.outputs.includes(v) || g.nodes.some((n) => n.inputs.includes(v))) return;
  const i = g.nodes.indexOf(v.producer!);
  if (i >= 0) g.nodes.splice(i, 1);
}

/** What `trainStep` needs of a loaded model (infer/causal-lm.ts `CausalLM`). */
export interface StepModel {
  run(batch: Pick<Batch, 'inputIds' | 'attentionMask' | 'positionIds' | 'labels'>, opts?: { train?: boolean; lossScale?: number }): Promise<{ loss?: number; grads?: Map<string, HostTensor> }>;
}

export interface StepResult {
  /** Token-mean loss over every micro-batch (NaN when none had a counted token or it diverged). */
  loss: number;
  /** Global gradient norm before clipping; NaN when no update was made. */
  gradNorm: number;
  /** Counted (label ≠ −100) tokens over the micro-batches: the divisor of the loss. */
  targetTokens: number;
  /** Whether AdamW updated `params` (false when the loss is not finite or no token counted). */
  updated: boolean;
  /** With a loss scaler: the gradients held Inf/NaN, so the step was skipped and the scale lowered. */
  skipped?: boolean;
}

/**
 * One optimizer step: forward + backward on each micro-batch (`gradient_accumulation_steps` of
 * them), the token-mean loss and gradient over all of them (each micro-batch's mean weighted by
 * its counted tokens, as Hugging Face's Trainer does with `num_items_in_batch`), then one
 * clipped AdamW update of `params` and `adam` with learning rate `lr`. `model` must already
 * have `params` as its LoRA feeds. A non-finite loss makes no update (the caller reports it).
 * With `scaler` (fp16 backward), the backward runs on scale × loss and the gradients are unscaled
 * before clipping; Inf/NaN gradients skip the update and lower the scale (`LossScaler`).
 */
export async function trainStep(model: StepModel, optimizer: AdamW, params: Map<string, HostTensor>, adam: AdamState, batches: readonly Batch[], lr: number, scaler?: LossScaler | null): Promise<StepResult> {
  let lossSum = 0;
  let targetTokens = 0;
  let grads: Map<string, HostTensor> | null = null;
  for (const batch of batches) {
    if (batch.tokens === 0) continue;
    const res = await model.run(batch, scaler ? { lossScale: scaler.scale } : undefined);
    lossSum += res.loss! * batch.tokens;
    targetTokens += batch.tokens;
    grads = accumulate(grads, res.grads!, batch.tokens);
  }
  const loss = targetTokens ? lossSum / targetTokens : NaN;
  if (!Number.isFinite(loss) || !grads) return { loss, gradNorm: NaN, targetTokens, updated: false };
  // Unscale before clipping (GradScaler.unscale_): the token mean, and the loss scale if any.
  const foundInf = unscaleGradients(grads, targetTokens * (scaler?.scale ?? 1));
  if (scaler && foundInf) {
    scaler.update(true);
    return { loss, gradNorm: NaN, targetTokens, updated: false, skipped: true };
  }
  const gradNorm = await optimizer.step(params, grads, adam, lr);
  scaler?.update(false);
  return { loss, gradNorm, targetTokens, updated: true };
}

/**
 * Token-mean loss of `batches` on the training session with `train: false` (no backward, no
 * dropout): Σ loss_b·tokens_b / Σ tokens_b; null when no token counts.
 */
export async function validationLoss(model: StepModel, batches: Iterable<Batch>): Promise<number | null> {
  let sum = 0;
  let count = 0;
  for (const b of batches) {
    if (b.tokens === 0) continue;
    const res = await model.run(b, { train: false });
    sum += res.loss! * b.tokens;
    count += b.tokens;
  }
  return count ? sum / count : null;
}

/** acc += weight · g (allocating acc on first use). */
function accumulate(acc: Map<string, HostTensor> | null, g: Map<string, HostTensor>, weight: number): Map<string, HostTensor> {
  const out = acc ?? new Map<string, HostTensor>();
  for (const [k, t] of g) {
    const src = t.data as Float32Array;
    let dst = out.get(k);
    if (!dst) {
      dst = { dtype: 'float32', shape: t.shape, data: new Float32Array(src.length) };
      out.set(k, dst);
    }
    const d = dst.data as Float32Array;
    for (let i = 0; i < src.length; i++) d[i] += src[i] * weight;
  }
  return out;
}

/** Whether `v` (a forward value, produced before node `end`) depends on any of `inputs`. */
function dependsOn(g: Graph, end: number, v: Value, inputs: Value[]): boolean {
  const dep = new Set<Value>(inputs);
  for (let i = 0; i < end && !dep.has(v); i++) {
    const n = g.nodes[i];
    if (n.inputs.some((x) => x && dep.has(x))) for (const o of n.outputs) dep.add(o);
  }
  return dep.has(v);
}

/**
 * Gradient checkpointing on `g` whose nodes are the forward [0, backwardStart) then the loss
 * and backward. For each decoder layer i (the forward nodes between residuals[i] and
 * residuals[i + 1] that depend on residuals[i]), the backward's references to the layer's
 * intermediate values are redirected to a copy of the layer's nodes, computed from
 * residuals[i] + 0·dResidual[i + 1][0]: that data dependency places the copy after the backward
 * of layer i + 1 and keeps ONNX Runtime's common-subexpression elimination from merging it
 * with the forward. The forward's intermediates then die as soon as the forward has used them.
 * Dropout nodes are not copied (a copy would draw new masks): their outputs are kept.
 *
 * The copy of layer i also depends on the gradients of layer i + 1's `weights` (the LoRA tensors
 * its nodes read): ONNX Runtime's CPU execution order is a depth-first walk from the graph's
 * outputs, which otherwise runs the dX chain down to layer 0 first and every layer's weight
 * gradients last, keeping each recomputed layer's activations and output gradients alive until
 * the end of the backward. With the dependency one recomputed layer lives at a time.
 */
function recomputeLayers(g: Graph, residuals: Value[], dResidual: Map<Value, Value | null>, backwardStart: number, weights: Value[] = []): void {
  const forward = g.nodes.slice(0, backwardStart);
  const backward = g.nodes.slice(backwardStart);
  const layers = layerNodes(forward, residuals);
  const owner = new Map<Value, number>(); // intermediate value → its layer
  layers.forEach((nodes, i) => nodes.forEach((n) => n.outputs.forEach((o) => o !== residuals[i + 1] && owner.set(o, i))));
  const layerWeights = weightsByLayer(forward, layers, weights);
  const copies = new Map<number, Map<Value, Value>>();
  const order: Node[] = [...forward];
  const emitted = new Set<Node>(forward);
  const copyLayer = (i: number): Map<Value, Value> => {
    const anchor = dResidual.get(residuals[i + 1]);
    if (!anchor || !emitted.has(anchor.producer!)) throw new Error(`gradient checkpointing: layer ${i} is needed before its output's gradient exists`);
    const start = g.nodes.length;
    // (1) = 0, after dResidual[i + 1] and the gradients of layer i + 1's weights
    const after = [anchor, ...(layerWeights[i + 1] ?? []).map((w) => dResidual.get(w)).filter((d): d is Value => Boolean(d) && emitted.has(d!.producer!))];
    const zero = Mul(ReduceSum(Concat(after.map((d) => Slice(Reshape(d, [-1]), [0], [1], [0])), 0), null, true), 0);
    const map = new Map<Value, Value>([[residuals[i], Add(residuals[i], zero)]]);
    order.push(...g.nodes.splice(start));
    for (const n of layers[i]) {
      const outputs = n.outputs.map((o) => new Value(g, g.fresh(`${o.name}_recomputed`), o.dtype, o.shape, null));
      // A subgraph (the blocked attention's Loop body) reads the layer's values by name: copy it
      // with those reads redirected to the recomputed values.
      const attrs = Object.fromEntries(Object.entries(n.attrs).map(([k, a]) => [k, a instanceof Graph ? cloneSubgraph(a, map) : a]));
      const copy = new Node(n.opType, n.inputs.map((v) => (v && map.get(v)) ?? v), outputs, attrs, g.fresh(`${n.name}_recomputed`), n.domain);
      for (const o of outputs) o.producer = copy;
      n.outputs.forEach((o, k) => map.set(o, outputs[k]));
      order.push(copy);
    }
    return map;
  };
  const redirect = (n: Node) => {
    n.inputs.forEach((v, k) => {
      const i = v ? owner.get(v) : undefined;
      if (i === undefined) return;
      if (!copies.has(i)) copies.set(i, copyLayer(i));
      n.inputs[k] = copies.get(i)!.get(v!)!;
    });
    // The nodes of a backward subgraph (the blocked attention's backward Loop) read forward values too.
    for (const a of Object.values(n.attrs)) if (a instanceof Graph) a.nodes.forEach(redirect);
  };
  for (const n of backward) {
    redirect(n);
    order.push(n);
    emitted.add(n);
  }
  g.nodes.length = 0;
  g.nodes.push(...order);
}

/**
 * The forward nodes of each decoder layer i: those between residuals[i] and residuals[i + 1]
 * that depend on residuals[i], Dropout nodes left out.
 */
function layerNodes(forward: Node[], residuals: Value[]): Node[][] {
  const position = new Map(forward.map((n, i) => [n, i]));
  const layers: Node[][] = [];
  for (let i = 0; i + 1 < residuals.length; i++) {
    const from = residuals[i].producer ? position.get(residuals[i].producer!)! + 1 : 0;
    const to = position.get(residuals[i + 1].producer!)!;
    const dep = new Set<Value>([residuals[i]]);
    const nodes: Node[] = [];
    for (let k = from; k <= to; k++) {
      const n = forward[k];
      if (!n.inputs.some((v) => v && dep.has(v))) continue;
      for (const o of n.outputs) dep.add(o);
      if (n.opType !== 'Dropout') nodes.push(n);
    }
    layers.push(nodes);
  }
  return layers;
}

/** The `weights` read by each layer: through nodes outside the layers (a LoRA A's Transpose) to the first layer node. */
function weightsByLayer(forward: Node[], layers: Node[][], weights: Value[]): Value[][] {
  const layerOf = new Map<Node, number>();
  layers.forEach((nodes, i) => nodes.forEach((n) => layerOf.set(n, i)));
  const out: Value[][] = layers.map(() => []);
  for (const w of weights) {
    const dep = new Set<Value>([w]);
    for (const n of forward) {
      if (!n.inputs.some((v) => v && dep.has(v))) continue;
      const i = layerOf.get(n);
      if (i !== undefined) {
        out[i].push(w);
        break;
      }
      for (const o of n.outputs) dep.add(o);
    }
  }
  return out;
}

/**
 * Without gradient checkpointing: the backward of layer i − 1 reads dResidual[i] + 0·Σ(one entry of
 * each gradient of layer i's `weights`), so ONNX Runtime's depth-first execution order finishes a
 * layer's weight gradients (and frees its output gradients) before it goes on to the layer below,
 * instead of running the dX chain to layer 0 first. Same values (x + 0 = x).
 */
function orderWeightGradients(g: Graph, residuals: Value[], grads: Map<Value, Value | null>, backwardStart: number, weights: Value[]): void {
  const forward = g.nodes.slice(0, backwardStart);
  const layerWeights = weightsByLayer(forward, layerNodes(forward, residuals), weights);
  const reads = (n: Node, v: Value): boolean => n.inputs.includes(v) || Object.values(n.attrs).some((a) => a instanceof Graph && a.nodes.some((m) => reads(m, v)));
  const replace = (n: Node, v: Value, by: Value): void => {
    n.inputs.forEach((x, k) => { if (x === v) n.inputs[k] = by; });
    for (const a of Object.values(n.attrs)) if (a instanceof Graph) a.nodes.forEach((m) => replace(m, v, by));
  };
  for (let i = 1; i + 1 < residuals.length; i++) {
    const d = grads.get(residuals[i]);
    const wg = layerWeights[i].map((w) => grads.get(w)).filter((x): x is Value => Boolean(x));
    if (!d || !wg.length) continue;
    const first = g.nodes.findIndex((n, k) => k >= backwardStart && reads(n, d));
    if (first < 0 || wg.some((x) => !x.producer || g.nodes.indexOf(x.producer) >= first)) continue;
    const users = g.nodes.slice(first).filter((n) => reads(n, d));
    const start = g.nodes.length;
    const ordered = Add(d, Mul(ReduceSum(Concat(wg.map((x) => Slice(Reshape(x, [-1]), [0], [1], [0])), 0), null, true), 0));
    const added = g.nodes.splice(start);
    for (const n of users) replace(n, d, ordered);
    g.nodes.splice(first, 0, ...added);
  }
}

/**
 * A copy of subgraph `sub` (same parent) with fresh names; its reads of outer values in `outer`
 * are redirected to their images there (nested subgraphs are copied the same way).
 */
function cloneSubgraph(sub: Graph, outer: Map<Value, Value>): Graph {
  const parent = sub.parent!;
  const c = new Graph(parent.fresh(sub.name), parent);
  const map = new Map(outer);
  for (const v of sub.inputs) {
    const copy = new Value(c, c.fresh(`${v.name}_recomputed`), v.dtype, v.shape, null);
    c.inputs.push(copy);
    map.set(v, copy);
  }
  for (const [name, init] of sub.initializers) {
    const copy = c.initializer(`${name}_recomputed`, init.tensor);
    map.set(init.value, copy);
  }
  for (const n of sub.nodes) {
    const outputs = n.outputs.map((o) => new Value(c, c.fresh(`${o.name}_recomputed`), o.dtype, o.shape, null));
    const attrs = Object.fromEntries(Object.entries(n.attrs).map(([k, a]) => [k, a instanceof Graph ? cloneSubgraph(a, map) : a]));
    const copy = new Node(n.opType, n.inputs.map((v) => (v && map.get(v)) ?? v), outputs, attrs, c.fresh(`${n.name}_recomputed`), n.domain);
    for (const o of outputs) o.producer = copy;
    n.outputs.forEach((o, k) => map.set(o, outputs[k]));
    c.nodes.push(copy);
  }
  c.outputs.push(...sub.outputs.map((v) => map.get(v) ?? v));
  return c;
}
