/**
 * The Compare webview on the shared headless page (harness.ts): `dashboardHtml()` with its CSP
 * and the compare bundle, VS Code theme variables, the recording `acquireVsCodeApi` stub.
 * Used by test/webview/compare.test.ts and scripts/bench-compare.ts.
 */
import { type ThemeClass, type WebviewPage, WebviewBrowser } from './harness';

export { CHROMIUM, HAVE_CHROMIUM, SKIP_REASON, type ThemeClass } from './harness';

export type ComparePageHandle = WebviewPage;

export class CompareBrowser {
  private constructor(private readonly wb: WebviewBrowser) {}

  static async launch(): Promise<CompareBrowser> {
    return new CompareBrowser(await WebviewBrowser.launch());
  }

  close(): Promise<void> {
    return this.wb.close();
  }

  /** A fresh page showing the Compare view; resolves once it has posted `ready`. */
  open(theme: ThemeClass, opts: { viewport?: { width: number; height: number }; state?: unknown } = {}): Promise<ComparePageHandle> {
    return this.wb.open('compare', { theme, title: 'Compare', rootClass: 'compare', viewport: opts.viewport ?? { width: 1400, height: 1000 }, state: opts.state });
  }
}

/**
 * Page-side source of a function that makes `n` synthetic runs of `steps` logged steps each (as
 * `CompareRun`s with Float64Array columns), evaluated every `evalEvery` steps: train loss
 * decaying with noise, one learning rate and rank per run. Deterministic. Evaluated in the page
 * so 100 × 10,000 rows never cross the DevTools protocol.
 */
export const SYNTHETIC_RUNS_SOURCE = `(n, steps, evalEvery) => {
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const ranks = [4, 8, 16, 32];
  const runs = [];
  for (let k = 0; k < n; k++) {
    const r = ranks[k % ranks.length];
    const lr = 1e-4 * Math.pow(10, (Math.floor(k / ranks.length) % 5) / 2);
    const tokensPerStep = 2048 * (1 + (k % 3));
    const nv = Math.floor(steps / evalEvery) + 1;
    const train = { step: new Float64Array(steps), time: new Float64Array(steps), tokens: new Float64Array(steps), value: new Float64Array(steps) };
    const val = { step: new Float64Array(nv), time: new Float64Array(nv), tokens: new Float64Array(nv), value: new Float64Array(nv) };
    const floor = 1.5 + 0.3 * Math.abs(Math.log10(lr / 1e-3)) + k * 0.001;
    for (let s = 1; s <= steps; s++) {
      train.step[s - 1] = s; train.time[s - 1] = s * 0.25; train.tokens[s - 1] = s * tokensPerStep;
      train.value[s - 1] = floor + 2 * Math.exp(-s / (steps / 5)) + 0.3 * rnd();
    }
    let best = Infinity, bestStep = 0, last = 0;
    for (let j = 0; j < nv; j++) {
      const s = j * evalEvery;
      val.step[j] = s; val.time[j] = s * 0.25; val.tokens[j] = s * tokensPerStep;
      const v = floor + 0.1 + 2 * Math.exp(-s / (steps / 5)) + 0.02 * rnd();
      val.value[j] = v; last = v;
      if (v < best) { best = v; bestStep = s; }
    }
    runs.push({
      id: 'sweep-r' + r + '-' + String(k).padStart(3, '0'), name: 'sweep', run_dir: '/ws/.loralab/runs/sweep-' + k,
      status: 'completed', created_at: '2026-11-29T10:00:00.000Z',
      summary: { steps, max_steps: steps, tokens: steps * tokensPerStep, wall_time_s: steps * 0.25, tokens_per_s: tokensPerStep / 0.25,
        best_val_loss: best, best_val_step: bestStep, last_val_loss: last, adapter_bytes: 1000 * r * 64 },
      hyperparameters: { 'lora.r': r, 'lora.lora_alpha': 32, 'lora.target_modules': 'all-linear', 'training.learning_rate': lr,
        'training.per_device_train_batch_size': 1 + (k % 3), 'training.max_steps': steps, 'training.seed': 0 },
      steps_per_epoch: 1000, epoch_note: null, model: '/models/stories260K', adapter_dir: '/ws/.loralab/runs/sweep-' + k + '/adapter', train, val, evals: {},
    });
  }
  return runs;
}`;
