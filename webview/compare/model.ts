/**
 * The runs the page compares, with what rendering needs per run: its colour, the x column of
 * each axis (steps, tokens seen, epochs, wall time) and its train loss smoothed with the
 * dashboard's de-biased EMA (recomputed only when the weight changes). Validation loss and the
 * eval-set metric (`eval/<set>/<metric>`, the one picked on the page) are drawn raw, as on the
 * dashboard.
 */
import type { CompareRun, CompareSeries } from '../../src/protocol/compare';
import { DebiasedEma } from '../dashboard/smoothing';

export type XAxis = 'step' | 'tokens' | 'epoch' | 'time';
/** The curves the page charts: train loss, validation loss, and the picked eval-set metric. */
export type LossSeries = 'train' | 'val' | 'eval';

export const X_AXES: readonly { axis: XAxis; label: string }[] = [
  { axis: 'step', label: 'Steps' },
  { axis: 'tokens', label: 'Tokens seen' },
  { axis: 'epoch', label: 'Epochs' },
  { axis: 'time', label: 'Wall time' },
];

export const AXIS_TITLE: Record<XAxis, string> = { step: 'step', tokens: 'tokens seen', epoch: 'epoch', time: 'wall time' };

const EMPTY: CompareSeries = { step: new Float64Array(0), time: new Float64Array(0), tokens: new Float64Array(0), value: new Float64Array(0) };

export class RunCurves {
  color = '';
  /** The eval-set metric the 'eval' series stands for (`eval/<set>/<metric>`), null: none. */
  evalKey: string | null = null;
  private smoothed: Float64Array | null = null;
  private smoothedWeight = -1;
  private readonly epochs = new WeakMap<CompareSeries, Float64Array>();

  constructor(
    readonly run: CompareRun,
    /** Position in the selection (the colour's index). */
    readonly index: number,
  ) {}

  series(s: LossSeries): CompareSeries {
    if (s === 'eval') return (this.evalKey !== null && this.run.evals[this.evalKey]) || EMPTY;
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
        let e = this.epochs.get(series);
        if (!e) {
          e = series.step.map((step) => step / per);
          this.epochs.set(series, e);
        }
        return e;
      }
    }
  }

  /** The values drawn: train loss smoothed with weight w (raw at 0), validation loss and eval metrics raw. */
  ys(s: LossSeries, w: number): Float64Array {
    if (s !== 'train' || w === 0) return this.series(s).value;
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
