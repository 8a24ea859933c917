/**
 * The runs the page compares, with what rendering needs per run: its colour, the x column of
 * each axis (steps, tokens seen, epochs, wall time) and its train loss smoothed with the
 * dashboard's de-biased EMA (recomputed only when the weight changes). Validation loss is drawn
 * raw, as on the dashboard.
 */
import type { CompareRun, CompareSeries } from '../../src/protocol/compare';
import { DebiasedEma } from '../dashboard/smoothing';

export type XAxis = 'step' | 'tokens' | 'epoch' | 'time';
export type LossSeries = 'train' | 'val';

export const X_AXES: readonly { axis: XAxis; label: string }[] = [
  { axis: 'step', label: 'Steps' },
  { axis: 'tokens', label: 'Tokens seen' },
  { axis: 'epoch', label: 'Epochs' },
  { axis: 'time', label: 'Wall time' },
];

export const AXIS_TITLE: Record<XAxis, string> = { step: 'step', tokens: 'tokens seen', epoch: 'epoch', time: 'wall time' };

export class RunCurves {
  color = '';
  private smoothed: Float64Array | null = null;
  private smoothedWeight = -1;
  private readonly epochs = new Map<LossSeries, Float64Array>();

  constructor(
    readonly run: CompareRun,
    /** Position in the selection (the colour's index). */
    readonly index: number,
  ) {}

  series(s: LossSeries): CompareSeries {
    return s === 'train' ? this.run.train : this.run.val;
  }

  /** The x column of a series on an axis; null when the run has no such axis (epochs unknown). */
  xs(s: LossSeries, axis: XAxis): Float64Array | null {
    const series = this.series(s);
    switch (axis) {
      case 'step':
        return series.step;
      case 'tokens':
        return series.tokens;
      case 'time':
        return series.time;
      case 'epoch': {
        const per = this.run.steps_per_epoch;
        if (per === null || !(per > 0)) return null;
        let e = this.epochs.get(s);
        if (!e) {
          e = series.step.map((step) => step / per);
          this.epochs.set(s, e);
        }
        return e;
      }
    }
  }

  /** The values drawn: train loss smoothed with weight w (raw at 0), validation loss raw. */
  ys(s: LossSeries, w: number): Float64Array {
    if (s === 'val' || w === 0) return this.series(s).value;
    if (this.smoothed === null || this.smoothedWeight !== w) {
      const v = this.run.train.value;
      const out = this.smoothed?.length === v.length ? this.smoothed : new Float64Array(v.length);
      const ema = new DebiasedEma(w);
      for (let i = 0; i < v.length; i++) out[i] = ema.next(v[i]);
      this.smoothed = out;
      this.smoothedWeight = w;
    }
    return this.smoothed;
  }
}
