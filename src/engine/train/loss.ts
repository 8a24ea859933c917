/**
 * Mean next-token cross-entropy, composed from LogSoftmax and GatherElements so its backward
 * is built by our autodiff (ONNX Runtime's inference build has no loss gradient).
 *
 * `labels` (B, T) int64 are aligned with the logits: labels[b, t] is the token that
 * logits[b, t] should predict (the caller shifts), −100 = ignored (Hugging Face's
 * `ignore_index`). loss = Σ nll over counted positions / number of counted positions (a token
 * mean over the whole batch, not a mean of per-row means).
 */
import type { Value } from '../graph/ir';
import { Cast, Div, Equal, GatherElements, LogSoftmax, Max, Mul, Neg, Not, ReduceSum, Squeeze, Unsqueeze, Where } from '../ops/index';

export const IGNORE_INDEX = -100;

export interface CausalLMLoss {
  /** () mean NLL (natural log) over counted positions. */
  loss: Value;
  /** (B, T) NLL per position, 0 where ignored. */
  tokenNll: Value;
  /** () number of counted positions, in the logits dtype. */
  count: Value;
}

export function causalLMLoss(logits: Value, labels: Value): CausalLMLoss {
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
