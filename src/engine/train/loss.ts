/**
 * The causal-LM loss: mean next-token cross-entropy over the counted positions, fused with the
 * output head (lm_head) and computed in chunks of rows, so the (B, T, V) logits never exist
 * at once and their gradient is never materialised (the approach of Liger Kernel's
 * `LigerFusedLinearCrossEntropy` and Unsloth's chunked loss).
 *
 * Shape legend: B batch, T sequence, N = B·T rows, D hidden_size, V vocab_size, C rows per chunk,
 * K = ⌈N / C⌉ chunks.
 *
 * `labels` (B, T) int64 are aligned with the positions: labels[b, t] is the token that position
 * t should predict (the caller shifts), −100 = ignored (Hugging Face's `ignore_index`).
 * loss = Σ nll over counted positions / number of counted positions (a token mean over the
 * whole batch, not a mean of per-row means), nll = logsumexp(h·W) − (h·W)[label].
 */
import { Graph, type Value } from '../graph/ir';
import {
  Add, Cast, Concat, Div, Equal, Exp, Gather, GatherElements, Gemm, Identity, If, LogSoftmax, Loop, Max, MatMul, Mul, Neg, NonZero, Not, Pad,
  ReduceSum, Reshape, ScatterElements, Slice, Squeeze, Sub, Unsqueeze, Where, branchGraph, constant, defineValueGrad, graphOf, int64s, shapeOf,
} from '../ops/index';
import { IGNORE_INDEX } from '../data/batch';

export { IGNORE_INDEX };

export interface CausalLMLoss {
  /** () mean NLL (natural log) over counted positions. */
  loss: Value;
  /** (B, T) NLL per position, 0 where ignored. */
  tokenNll: Value;
  /** () number of counted positions, in the hidden dtype. */
  count: Value;
}

export interface ChunkOptions {
  /** Rows per chunk C (default `defaultChunkRows(V)`). */
  chunkRows?: number;
  /**
   * Give the loss a gradient with respect to the hidden states. Each chunk then also computes
   * ∂loss/∂h_i = w_i·(softmax(h_i·W) − onehot(label_i))·Wᵀ while its logits exist (Liger
   * Kernel's order: the logits' gradient is scaled by w before the product with Wᵀ, as PyTorch's
   * log-softmax backward does; scaling the (C, D) product instead saves a pass over (C, V) but
   * moved the 5-step golden's grad norm at step 3 by 1.3e-4, outside its 1e-4), and the backward
   * only scales those rows by the incoming gradient. Without it the loss has no gradient
   * (autodiff throws at the Loop). Default false.
   */
  grad?: boolean;
  /**
   * With `grad`: a bool scalar (e.g. the training step's `train` input); each chunk computes its
   * rows of ∂loss/∂hidden only when it is true (an `If` in the chunk body), so a validation run on
   * the training session does not pay for the dLogits·headᵀ product (as much work as the forward
   * lm_head). When false the gradient is empty and must not be used. Default: always computed.
   */
  gradWhen?: Value;
  /**
   * Move the output head into the chunk Loop as the Loop body's own initializer, when it is an
   * initializer of the outer graph (or a Cast of one) that no other node reads. ONNX Runtime
   * prepacks a MatMul/Gemm weight only when it is an initializer of the kernel's own graph, never
   * one from an outer scope, so without this every chunk re-packs the whole (D, V) head twice,
   * for the product and for its backward (bench config, 8 chunks of 131 rows: ~40% of the
   * lm_head time). Only one Loop can own the head: the caller must not build a second loss on it.
   * Default false.
   */
  ownHead?: boolean;
}

/** C such that one chunk of logits, C × V float32, is about 16 MiB (between 16 and 4096 rows). */
export function defaultChunkRows(vocab: number): number {
  return Math.max(16, Math.min(4096, Math.floor(2 ** 22 / vocab)));
}

let loops = 0;

/**
 * Cross-entropy of the logits `hidden · head`, chunk by chunk (an ONNX Loop over K chunks of C
 * rows; the last chunk is zero-padded and the padding sliced off).
 *
 * @param hidden (N, D) float; @param head (D, V) the output projection (lm_head.weight transposed);
 * @param labels (N) int64, every entry in [0, V) (map ignored positions to 0 first);
 * @param weights (N) float, no gradient: the weight w_i of row i in `loss`.
 * @returns nll (N) per row, and loss = Σ_i w_i·nll_i (), same dtype as hidden. With `grad`,
 *   d loss / d hidden is exact (hand-written through `defineValueGrad`; checked against finite
 *   differences and the unfused loss in test/engine/train/loss.test.ts); nll has no gradient.
 */
export function chunkedCrossEntropy(hidden: Value, head: Value, labels: Value, weights: Value, opts: ChunkOptions = {}): { nll: Value; loss: Value } {
  const g = graphOf(hidden, head, labels, weights);
  const [D, V] = head.shape as number[];
  if (typeof D !== 'number' || typeof V !== 'number') throw new Error(`chunkedCrossEntropy: head ${head} needs static (D, V)`);
  const C = opts.chunkRows ?? defaultChunkRows(V);
  const N = shapeOf(hidden, 0, 1); // (1) int64
  const Cv = int64s(g, [C]);
  const K = Div(Add(N, C - 1), Cv); // (1) ⌈N / C⌉
  const padRows = Sub(Mul(K, Cv), N); // (1)
  const zero = int64s(g, [0]);
  const hK = Reshape(Pad(hidden, Concat([zero, zero, padRows, zero], 0)), [-1, C, D]); // (K, C, D)
  const labK = Reshape(Pad(labels, Concat([zero, padRows], 0)), [-1, C]); // (K, C)

  const id = ++loops;
  const body = new Graph(`cross_entropy_chunk_${id}`, g);
  const it = body.input(`cross_entropy_${id}_iteration`, 'int64', []);
  const condIn = body.input(`cross_entropy_${id}_cond`, 'bool', []);
  const h = Gather(hK, it, 0); // (C, D)
  const lab = Unsqueeze(Gather(labK, it, 0), [1]); // (C, 1)
  const W = opts.ownHead ? moveInto(body, head) : head; // (D, V)
  const logp = LogSoftmax(MatMul(h, W), -1); // (C, V)
  body.outputs.push(Identity(condIn), Neg(Squeeze(GatherElements(logp, lab, 1), [1]))); // (), (C)
  if (opts.grad) {
    const floats = hidden.dtype === 'float64' ? Float64Array : Float32Array;
    // ∂nll/∂logits = softmax − onehot: subtract 1 at each label, in place of a one-hot tensor.
    const minusOne = constant(body, { dtype: hidden.dtype, shape: [C, 1], data: new floats(C).fill(-1) }, 'minus_one');
    const gradRows = () => {
      const w = Unsqueeze(Gather(Reshape(Pad(weights, Concat([zero, padRows], 0)), [-1, C]), it, 0), [1]); // (C, 1)
      const dLogits = Mul(ScatterElements(Exp(logp), lab, minusOne, 1, 'add'), w); // (C, V)
      return [Gemm(dLogits, W, null, { transB: true })]; // (C, D) = dLogits · headᵀ
    };
    if (opts.gradWhen) {
      const none = constant(body, { dtype: hidden.dtype, shape: [0, D], data: new floats(0) }, 'no_gradient_rows');
      const [rows] = If(opts.gradWhen, branchGraph(body, `cross_entropy_${id}_grad`, gradRows), branchGraph(body, `cross_entropy_${id}_no_grad`, () => [none]), [{ dtype: hidden.dtype, shape: null }]);
      body.outputs.push(rows); // (C, D), or (0, D) when gradWhen is false
    } else body.outputs.push(gradRows()[0]);
  }
  const out = Loop(Reshape(K, []), body, [
    { dtype: hidden.dtype, shape: [g.unknownDim(), C] }, // (K, C)
    ...(opts.grad ? [{ dtype: hidden.dtype, shape: [g.unknownDim(), g.unknownDim(), D] }] : []), // (K, C, D); (K, 0, D) when gradWhen is false
  ]);
  const nll = Slice(Reshape(out[0], [-1]), zero, N, [0]); // (N)
  const loss = ReduceSum(Mul(nll, weights), null, false); // ()
  if (opts.grad) {
    const dHidden = Slice(Reshape(out[1], [-1, D]), zero, N, [0]); // (N, D) = ∂loss/∂hidden
    defineValueGrad(loss, [hidden], ({ dy }) => [Mul(dy[0]!, dHidden)]);
  }
  return { nll, loss };
}

/**
 * `head` as a value of `body` (a subgraph of head's graph): when head is an initializer of the
 * outer graph, or a Cast of one, that no node reads, it moves into `body` (see
 * `ChunkOptions.ownHead`); otherwise `head` itself (read from the outer scope).
 */
function moveInto(body: Graph, head: Value): Value {
  const g = head.graph;
  const readers = (v: Value) => g.nodes.filter((n) => n.inputs.includes(v)).length + (g.outputs.includes(v) ? 1 : 0);
  const own = (v: Value) => g.initializers.get(v.name)?.value === v && readers(v) === 0;
  const cast = head.producer?.opType === 'Cast' ? head.producer : null;
  if (own(head)) {
    const { tensor } = g.initializers.get(head.name)!;
    g.initializers.delete(head.name);
    return body.initializer(`${head.name}.chunk`, tensor);
  }
  const source = cast?.inputs[0];
  if (cast && source && readers(head) === 0 && g.initializers.get(source.name)?.value === source && readers(source) === 1) {
    const { tensor } = g.initializers.get(source.name)!;
    g.initializers.delete(source.name);
    g.nodes.splice(g.nodes.indexOf(cast), 1);
    return Cast(body.initializer(`${source.name}.chunk`, tensor), head.dtype);
  }
  return head;
}

/**
 * The causal-LM loss of the final hidden states `hidden` (B, T, D) under the output projection
 * `head` (D, V), see the file comment; chunked (`chunkedCrossEntropy`, weights 1/count on the
 * counted positions). Rows whose label is ignored (−100: prompt tokens under completion-only
 * loss, padding) are gathered out before the output projection, so they cost no lm_head work;
 * their `tokenNll` is 0 as before. The gradient reaches `hidden` through Gather's rule (zero on
 * the rows left out, which is their exact gradient: weight 0).
 */
export function causalLMLoss(hidden: Value, head: Value, labels: Value, opts: ChunkOptions = {}): CausalLMLoss {
  const D = head.shape![0] as number;
  const valid = Not(Equal(labels, IGNORE_INDEX)); // (B, T) bool
  const safe = Reshape(Where(valid, labels, 0), [-1]); // (N) int64
  const mask = Cast(valid, hidden.dtype); // (B, T)
  const count = ReduceSum(mask, null, false); // ()
  const weights = Reshape(Div(mask, Max(count, 1)), [-1]); // (N)
  // Only the counted rows reach lm_head (completion-only training skips every prompt row); with
  // none, M = 0 and the chunk Loop runs no iteration (loss 0, zero gradient).
  const keep = Squeeze(NonZero(Reshape(valid, [-1])), [0]); // (M) int64, ascending
  const picked = chunkedCrossEntropy(Gather(Reshape(hidden, [-1, D]), keep, 0), head, Gather(safe, keep, 0), Gather(weights, keep, 0), opts); // nll (M)
  const nll = ScatterElements(Mul(weights, 0), keep, picked.nll, 0); // (N), 0 on the rows left out
  const tokenNll = Mul(Reshape(nll, shapeOf(labels)), mask); // (B, T)
  return { loss: picked.loss, tokenNll, count };
}

/**
 * The same loss from materialised logits (B, T, V), LogSoftmax + GatherElements with autodiff's
 * rules: the unfused reference (tests; graphs that also output logits).
 */
export function causalLMLossFromLogits(logits: Value, labels: Value): CausalLMLoss {
  const valid = Not(Equal(labels, IGNORE_INDEX)); // (B, T) bool
  const safe = Where(valid, labels, 0); // (B, T) int64
  const logp = LogSoftmax(logits, -1); // (B, T, V)
  const picked = Squeeze(GatherElements(logp, Unsqueeze(safe, [-1]), 2), [-1]); // (B, T)
  const mask = Cast(valid, logits.dtype); // (B, T)
  const tokenNll = Mul(Neg(picked), mask); // (B, T)
  const count = ReduceSum(mask, null, false); // ()
  const loss = Div(ReduceSum(tokenNll, null, false), Max(count, 1)); // ()
  return { loss, tokenNll, count };
}

/**
 * The decoder's logits node is MatMul(hidden (B, T, D), head (D, V)) (models/decoder.ts): its
 * operands, for the fused loss. @throws when the logits come from another op.
 */
export function logitsOperands(logits: Value): { hidden: Value; head: Value } {
  const n = logits.producer;
  if (!n || n.opType !== 'MatMul' || !n.inputs[0] || !n.inputs[1] || n.inputs[1].shape?.length !== 2) {
    throw new Error(`causal-LM loss: logits ${logits.name} are not MatMul(hidden, lm_head); the fused loss needs the decoder's output projection`);
  }
  return { hidden: n.inputs[0], head: n.inputs[1] };
}
