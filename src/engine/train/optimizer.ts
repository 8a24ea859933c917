/**
 * Global-norm gradient clipping + AdamW as one compiled ONNX graph, so the update runs on the
 * same device as the model.
 *
 * Per step, with t = number of updates so far + 1, for every parameter p with gradient g:
 *   n = √(Σ_all g²)                         (reported as grad_norm, before clipping)
 *   c = min(1, max_grad_norm / (n + 1e-6))  (torch.nn.utils.clip_grad_norm_; skipped if max_grad_norm = 0)
 *   g ← c·g
 *   p ← p·(1 − lr·weight_decay)             (decoupled weight decay: Loshchilov & Hutter 2019)
 *   m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²
 *   p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)      (torch.optim.AdamW)
 * The bias corrections are computed in float64 on the host and fed as scalars.
 */
import { Graph, type Value } from '../graph/ir';
import { serializeModel } from '../graph/onnx';
import { Add, Div, Min, Mul, ReduceSum, Sqrt, Sub, scalar } from '../ops/index';
import { type Device, Session } from '../runtime/session';
import type { HostTensor } from '../tensor';

export interface AdamWConfig {
  adam_beta1: number;
  adam_beta2: number;
  adam_epsilon: number;
  weight_decay: number;
  /** 0 disables clipping. */
  max_grad_norm: number;
}

/** Adam moments of every parameter plus the update count (part of a checkpoint). */
export interface AdamState {
  /** Number of updates applied so far (torch's `step`). */
  t: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

export function initAdamState(params: Map<string, HostTensor>): AdamState {
  const zeros = () => new Map([...params].map(([k, p]) => [k, new Float32Array(p.data.length)]));
  return { t: 0, m: zeros(), v: zeros() };
}

export class AdamW {
  private constructor(
    private readonly session: Session,
    private readonly names: string[],
    private readonly cfg: AdamWConfig,
  ) {}

  /**
   * Compiles the update for parameters of the given names and shapes (float32).
   * Graph inputs: `p/<name>`, `g/<name>`, `m/<name>`, `v/<name>`, `step_size` = lr / (1 − β1ᵗ),
   * `decay` = 1 − lr·weight_decay, `bc2_sqrt` = √(1 − β2ᵗ) (scalars computed in float64 on the
   * host); outputs `p_new/…`, `m_new/…`, `v_new/…`, `grad_norm`.
   */
  static async create(shapes: Map<string, number[]>, cfg: AdamWConfig, opts: { device?: Device; threads?: number } = {}): Promise<AdamW> {
    const g = new Graph('adamw');
    const names = [...shapes.keys()];
    const stepSize = g.input('step_size', 'float32', []);
    const decay = g.input('decay', 'float32', []);
    const bc2Sqrt = g.input('bc2_sqrt', 'float32', []);
    const p: Value[] = [];
    const grads: Value[] = [];
    const m: Value[] = [];
    const v: Value[] = [];
    for (const n of names) {
      const shape = shapes.get(n)!;
      p.push(g.input(`p/${n}`, 'float32', shape));
      grads.push(g.input(`g/${n}`, 'float32', shape));
      m.push(g.input(`m/${n}`, 'float32', shape));
      v.push(g.input(`v/${n}`, 'float32', shape));
    }
    // n = √Σ g²
    let sumSq: Value = ReduceSum(Mul(grads[0], grads[0]), null, false);
    for (let i = 1; i < grads.length; i++) sumSq = Add(sumSq, ReduceSum(Mul(grads[i], grads[i]), null, false));
    const norm = Sqrt(sumSq); // ()
    g.output(norm, 'grad_norm');
    const clip = cfg.max_grad_norm > 0 ? Min(1, Div(scalar(g, cfg.max_grad_norm, 'float32'), Add(norm, 1e-6))) : null;
    names.forEach((n, i) => {
      const gi = clip ? Mul(grads[i], clip) : grads[i];
      const mNew = Add(Mul(m[i], cfg.adam_beta1), Mul(gi, 1 - cfg.adam_beta1));
      const vNew = Add(Mul(v[i], cfg.adam_beta2), Mul(Mul(gi, gi), 1 - cfg.adam_beta2));
      const denom = Add(Div(Sqrt(vNew), bc2Sqrt), cfg.adam_epsilon);
      const pNew = Sub(cfg.weight_decay ? Mul(p[i], decay) : p[i], Mul(stepSize, Div(mNew, denom)));
      g.output(pNew, `p_new/${n}`);
      g.output(mNew, `m_new/${n}`);
      g.output(vNew, `v_new/${n}`);
    });
    const session = await Session.create(serializeModel(g), { ...opts, name: 'the AdamW step' });
    return new AdamW(session, names, cfg);
  }

  /**
   * Clips `grads` and applies one AdamW update with learning rate `lr`: replaces the
   * tensors in `params` and the moments in `state` (state.t is incremented).
   *
   * @returns the global gradient norm before clipping.
   */
  async step(params: Map<string, HostTensor>, grads: Map<string, HostTensor>, state: AdamState, lr: number): Promise<number> {
    const t = state.t + 1;
    const f32 = (x: number): HostTensor => ({ dtype: 'float32', shape: [], data: new Float32Array([x]) });
    const feeds: Record<string, HostTensor> = {
      step_size: f32(lr / (1 - Math.pow(this.cfg.adam_beta1, t))),
      decay: f32(1 - lr * this.cfg.weight_decay),
      bc2_sqrt: f32(Math.sqrt(1 - Math.pow(this.cfg.adam_beta2, t))),
    };
    for (const n of this.names) {
      const p = params.get(n)!;
      const gr = grads.get(n);
      if (!gr) throw new Error(`AdamW: no gradient for ${n}`);
      feeds[`p/${n}`] = p;
      feeds[`g/${n}`] = gr;
      feeds[`m/${n}`] = { dtype: 'float32', shape: p.shape, data: state.m.get(n)! };
      feeds[`v/${n}`] = { dtype: 'float32', shape: p.shape, data: state.v.get(n)! };
    }
    const out = await this.session.run(feeds);
    for (const n of this.names) {
      const p = params.get(n)!;
      params.set(n, { dtype: 'float32', shape: p.shape, data: out[`p_new/${n}`].data as Float32Array });
      state.m.set(n, out[`m_new/${n}`].data as Float32Array);
      state.v.set(n, out[`v_new/${n}`].data as Float32Array);
    }
    state.t = t;
    return Number(out.grad_norm.data[0]);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** The state of a `LossScaler` that a checkpoint keeps (PyTorch `GradScaler.state_dict()` names). */
export interface LossScalerState {
  /** Current loss scale. */
  scale: number;
  /** Consecutive steps without Inf/NaN gradients since the last change of scale. */
  growth_tracker: number;
}

/** Settings of a `LossScaler` (PyTorch's defaults). */
export interface LossScalerConfig {
  init_scale: number;
  growth_factor: number;
  backoff_factor: number;
  growth_interval: number;
}

/** `torch.amp.GradScaler`'s defaults (PyTorch 2.3–2.6): 2^16, ×2, ×0.5, every 2000 steps. */
export const GRAD_SCALER_DEFAULTS: Readonly<LossScalerConfig> = { init_scale: 2 ** 16, growth_factor: 2, backoff_factor: 0.5, growth_interval: 2000 };

/**
 * Dynamic loss scaling with the semantics of PyTorch's `torch.amp.GradScaler` (2.3–2.6;
 * `update()` is the `_amp_update_scale_` kernel), for backward passes that run in float16:
 * the loss is multiplied by `scale` before the backward (`trainStep` feeds it as the graph's
 * `loss_scale`), the gradients are divided by it before clipping (`unscaleGradients`), and
 *   Inf/NaN in any gradient → the optimizer step is skipped, scale ← scale · backoff_factor,
 *                             growth_tracker ← 0;
 *   else growth_tracker + 1 = growth_interval → scale ← scale · growth_factor (if that is
 *                             finite), growth_tracker ← 0; else growth_tracker + 1.
 * The scale is a float32, as PyTorch keeps it.
 */
export class LossScaler {
  private current: number;
  private tracker: number;
  readonly cfg: LossScalerConfig;

  /** @throws RangeError for a non-positive scale or factor, or a growth interval that is not a positive integer */
  constructor(cfg: Partial<LossScalerConfig> = {}, state?: LossScalerState) {
    this.cfg = { ...GRAD_SCALER_DEFAULTS, ...cfg };
    const { init_scale, growth_factor, backoff_factor, growth_interval } = this.cfg;
    if (!(init_scale > 0) || !(growth_factor > 1) || !(backoff_factor > 0 && backoff_factor < 1) || !Number.isInteger(growth_interval) || growth_interval < 1) {
      throw new RangeError(`LossScaler: need init_scale > 0, growth_factor > 1, backoff_factor in (0, 1) and a positive integer growth_interval, got ${JSON.stringify(this.cfg)}`);
    }
    this.current = Math.fround(init_scale);
    this.tracker = 0;
    if (state) this.load(state);
  }

  /** The factor on the loss (and so on every gradient) for the next backward. */
  get scale(): number {
    return this.current;
  }

  /** After a step: `foundInf` = some gradient was Inf/NaN (that step was skipped). See the class comment. */
  update(foundInf: boolean): void {
    if (foundInf) {
      this.current = Math.fround(this.current * this.cfg.backoff_factor);
      this.tracker = 0;
      return;
    }
    const successful = this.tracker + 1;
    if (successful === this.cfg.growth_interval) {
      const grown = Math.fround(this.current * this.cfg.growth_factor);
      if (Number.isFinite(grown)) this.current = grown;
      this.tracker = 0;
    } else {
      this.tracker = successful;
    }
  }

  /** The state to checkpoint (a copy). */
  state(): LossScalerState {
    return { scale: this.current, growth_tracker: this.tracker };
  }

  /**
   * Restores a checkpointed state.
   * @throws RangeError when the scale is not a positive finite number or the tracker not a non-negative integer
   */
  load(state: LossScalerState): void {
    if (!(Number.isFinite(state.scale) && state.scale > 0) || !Number.isInteger(state.growth_tracker) || state.growth_tracker < 0) {
      throw new RangeError(`loss scaler state must have a positive finite "scale" and a non-negative integer "growth_tracker", got ${JSON.stringify(state)}`);
    }
    this.current = Math.fround(state.scale);
    this.tracker = state.growth_tracker;
  }
}

/**
 * Divides every gradient by `divisor` in place (the token count of the step times the loss
 * scale: `GradScaler.unscale_`, before clipping) and reports whether any value is Inf or NaN
 * (`found_inf`). float32 tensors only.
 */
export function unscaleGradients(grads: Map<string, HostTensor>, divisor: number): boolean {
  let foundInf = false;
  for (const g of grads.values()) {
    const d = g.data as Float32Array;
    for (let i = 0; i < d.length; i++) {
      const v = d[i] / divisor;
      d[i] = v;
      if (v - v !== 0) foundInf = true; // Inf − Inf and NaN − NaN are NaN
    }
  }
  return foundInf;
}
