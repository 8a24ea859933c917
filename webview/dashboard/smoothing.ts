/**
 * TensorBoard's de-biased exponential moving average — the "Smoothing" slider of its scalars
 * dashboard (`resmoothDataset` in TensorBoard's line chart), also what W&B calls
 * "Exponential Moving Average (de-biased)".
 *
 * With weight w ∈ [0, 1) and `last` starting at 0, for each finite value x (count = how many
 * finite values have been seen, 1-based):
 *
 *     last     = last · w + (1 − w) · x
 *     smoothed = last / (1 − w^count)
 *
 * Starting `last` at 0 biases the early values toward 0; dividing by 1 − w^count removes that
 * bias (Adam's moment correction), so the first smoothed value equals the first raw value and
 * the curve does not ramp up from 0. w = 0 returns the raw values. A non-finite x passes through
 * unchanged and does not enter the average (as in TensorBoard).
 */
export class DebiasedEma {
  private last = 0;
  /** w^count, kept as a running product. */
  private power = 1;

  constructor(readonly weight: number) {
    if (!(weight >= 0 && weight < 1)) throw new RangeError(`smoothing weight must be in [0, 1), got ${weight}`);
  }

  next(x: number): number {
    if (!Number.isFinite(x)) return x;
    const w = this.weight;
    this.last = this.last * w + (1 - w) * x;
    // Once w^count < 2^-54, 1 − w^count rounds to exactly 1: flush it to 0 then, before it
    // turns subnormal (after ~1,400 values at w = 0.6), where every multiply is ~50× slower.
    this.power = this.power < 2 ** -54 ? 0 : this.power * w;
    return this.last / (1 - this.power);
  }
}

/** Smooths a whole series (see {@link DebiasedEma}). */
export function debiasedEma(values: ArrayLike<number>, weight: number): number[] {
  const ema = new DebiasedEma(weight);
  return Array.from(values, (x) => ema.next(x));
}
