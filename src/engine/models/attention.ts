/**
 * Causal self-attention computed in blocks of query rows, forward and backward, so that only one
 * block of the (T, T) scores exists at a time (the memory scheme of FlashAttention, Dao et al.
 * 2022, §3.1, with the softmax of each block taken over the whole key row instead of online:
 * each row's arithmetic is that of the unblocked softmax). The backward is written by hand
 * (`defineValueGrad`): it recomputes each block's probabilities from q, k and the mask, as
 * FlashAttention's backward does, instead of keeping (T, T) probabilities per layer.
 *
 * Shape legend: B batch, Hkv key/value heads, R query heads per KV head, T sequence, Dh head_dim,
 * Q query rows per block (min(T, blockRows)), K = ⌈T / Q⌉ blocks (the last one zero-padded; the
 * padding rows are sliced off and get a zero gradient).
 *
 *   S = q·kᵀ + mask,  P = softmax(S) (rows),  O = P·v                      (per block of Q rows)
 *   dP = dO·vᵀ,  dS = P ∘ (dP − rowsum(dP ∘ P)),  dq = dS·k,  dkᵀ += qᵀ·dS,  dv += Pᵀ·dO
 *
 * The mask is causal, so block j (rows j·Q … j·Q + Q − 1) only meets keys 0 … E − 1 with
 * E = min(T, (j + 1)·Q): every later key is masked for all of its rows, its probability is
 * exactly 0 and it adds nothing to O, dq, dkᵀ or dv. Each block therefore works on the first E
 * keys only (FlashAttention skips the blocks above the diagonal the same way): at T = 256 with
 * 128-row blocks that is 3/4 of the score work, at T = 1024 9/16.
 */
import { Graph, type Value } from '../graph/ir';
import {
  Add, Concat, Div, Gather, Identity, Loop, MatMul, Min, Mul, Pad, ReduceSum, Reshape, Slice, Softmax, Sub, Transpose,
  defineValueGrad, graphOf, int64s, shapeOf,
} from '../ops/index';

/** Query rows per block by default: one block of scores is B·H·128·T floats (16 MiB at 4 × 1024, 8 heads). */
export const ATTENTION_BLOCK_ROWS = 128;

let blocks = 0;

/**
 * softmax(q·kᵀ + maskBias)·v, block by block over the query rows (see the file comment).
 * maskBias must be causal (no query row attends a later key; a causal decoder's mask, with
 * padding or a sliding window on top): each block reads only the keys up to its last row.
 *
 * @param q (B, Hkv, R, T, Dh) queries, already scaled by 1/√Dh
 * @param kT (B, Hkv, 1, Dh, T) keys, transposed
 * @param v (B, Hkv, 1, T, Dh) values
 * @param maskBias (B, 1, 1, T, T) additive mask (0 attended, a large negative value elsewhere);
 *   no gradient flows to it
 * @param blockRows query rows per block (default `ATTENTION_BLOCK_ROWS`)
 * @returns (B, Hkv, R, T, Dh), same dtype as q; exact gradients to q, kT and v (checked against
 *   a float64 reference in test/engine/models/attention.test.ts)
 */
export function blockedAttention(q: Value, kT: Value, v: Value, maskBias: Value, blockRows = ATTENTION_BLOCK_ROWS): Value {
  const g = graphOf(q, kT, v, maskBias);
  const Dh = q.shape![4];
  const T = shapeOf(q, 3, 4); // (1)
  const Q = Min(T, int64s(g, [blockRows])); // (1)
  const K = Div(Add(T, Sub(Q, int64s(g, [1]))), Q); // (1) ⌈T / Q⌉
  const pad = Sub(Mul(K, Q), T); // (1)
  const zeros3 = int64s(g, [0, 0, 0]);
  const zero1 = int64s(g, [0]);
  // Pad axis 3 (the query rows) at its end to K·Q rows, then split it into (K, Q).
  const rowBlocks = (x: Value, last: Value | number[]) => Reshape(
    Pad(x, Concat([zeros3, zero1, zero1, zeros3, pad, zero1], 0)),
    Concat([zeros3, int64s(g, [-1]), Q, Array.isArray(last) ? int64s(g, last) : last], 0),
  ); // (…, K, Q, last)
  const qR = rowBlocks(q, [Dh as number]); // (B, Hkv, R, K, Q, Dh)
  const maskR = rowBlocks(maskBias, T); // (B, 1, 1, K, Q, T)
  const unblock = (stacked: Value) => Slice(
    Reshape(Transpose(stacked, [1, 2, 3, 0, 4, 5]), [0, 0, 0, -1, Dh as number]), zero1, T, [3],
  ); // (K, B, Hkv, R, Q, Dh) → (B, Hkv, R, T, Dh)
  const trip = Reshape(K, []);
  const id = ++blocks;
  // Keys block `iteration` can attend: E = min(T, (iteration + 1)·Q), (1) int64 (causal mask).
  const keysSeen = (iteration: Value) => Min(T, Mul(Add(Reshape(iteration, [1]), int64s(g, [1])), Q));

  const fwd = new Graph(`attention_blocks_${id}`, g);
  const it = fwd.input(`attention_${id}_iteration`, 'int64', []);
  const cond = fwd.input(`attention_${id}_cond`, 'bool', []);
  const E = keysSeen(it);
  const probs = Softmax(Add(MatMul(Gather(qR, it, 3), Slice(kT, zero1, E, [4])), Slice(Gather(maskR, it, 3), zero1, E, [4])), -1); // (B, Hkv, R, Q, E)
  fwd.outputs.push(Identity(cond), MatMul(probs, Slice(v, zero1, E, [3]))); // (B, Hkv, R, Q, Dh)
  const [stacked] = Loop(trip, fwd, [{ dtype: q.dtype, shape: [g.unknownDim(), ...q.shape!.slice(0, 3), g.unknownDim(), Dh] }]);
  const out = unblock(stacked);

  defineValueGrad(out, [q, kT, v], ({ dy }) => {
    const dOR = rowBlocks(dy[0]!, [Dh as number]); // (B, Hkv, R, K, Q, Dh)
    const vT = Transpose(v, [0, 1, 2, 4, 3]); // (B, Hkv, 1, Dh, T)
    const k = Transpose(kT, [0, 1, 2, 4, 3]); // (B, Hkv, 1, T, Dh)
    const bwd = new Graph(`attention_blocks_${id}_grad`, g);
    const j = bwd.input(`attention_${id}_grad_iteration`, 'int64', []);
    const c = bwd.input(`attention_${id}_grad_cond`, 'bool', []);
    const dKTacc = bwd.input(`attention_${id}_dkT`, q.dtype, kT.shape!.slice());
    const dVacc = bwd.input(`attention_${id}_dv`, q.dtype, v.shape!.slice());
    const qb = Gather(qR, j, 3); // (B, Hkv, R, Q, Dh)
    const dOb = Gather(dOR, j, 3); // (B, Hkv, R, Q, Dh)
    const E = keysSeen(j);
    const p = Softmax(Add(MatMul(qb, Slice(kT, zero1, E, [4])), Slice(Gather(maskR, j, 3), zero1, E, [4])), -1); // (B, Hkv, R, Q, E)
    const dP = MatMul(dOb, Slice(vT, zero1, E, [4])); // (B, Hkv, R, Q, E)
    const dS = Mul(p, Sub(dP, ReduceSum(Mul(dP, p), [-1], true))); // (B, Hkv, R, Q, E)
    // The block's key and value gradients cover keys 0 … E − 1: zero-padded to T to accumulate.
    const rest = Sub(T, E); // (1)
    const zeros4 = int64s(g, [0, 0, 0, 0]);
    bwd.outputs.push(
      Identity(c),
      Add(dKTacc, Pad(ReduceSum(MatMul(Transpose(qb, [0, 1, 2, 4, 3]), dS), [2], true), Concat([zeros4, zero1, zeros4, rest], 0))), // (B, Hkv, 1, Dh, T)
      Add(dVacc, Pad(ReduceSum(MatMul(Transpose(p, [0, 1, 2, 4, 3]), dOb), [2], true), Concat([zeros4, zero1, zeros3, rest, zero1], 0))), // (B, Hkv, 1, T, Dh)
      MatMul(dS, Slice(k, zero1, E, [3])), // (B, Hkv, R, Q, Dh)
    );
    const [dKT, dV, dQ] = Loop(trip, bwd, [
      { dtype: q.dtype, shape: kT.shape },
      { dtype: q.dtype, shape: v.shape },
      { dtype: q.dtype, shape: [g.unknownDim(), ...q.shape!.slice(0, 3), g.unknownDim(), Dh] },
    ], [Mul(kT, 0), Mul(v, 0)]);
    return [unblock(dQ), dKT, dV];
  });
  return out;
}
