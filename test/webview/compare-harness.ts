/**
 * Opens the Compare webview in headless Chromium (Debian's `chromium` via playwright-core)
 * exactly as the extension serves it — `dashboardHtml()` with its CSP and the compare bundle —
 * plus VS Code theme variables and a stub `acquireVsCodeApi` recording what the page posts.
 * Resources come from a fake `vscode-cdn.net` origin; any other request is refused and
 * recorded. Used by test/webview/compare.test.ts and scripts/bench-compare.ts.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { dashboardHtml, makeNonce } from '../../src/extension/dashboard/html';
import { webviewBuildOptions } from '../../webview/build.mjs';
import { THEME_CSS } from './themes';

export const CHROMIUM = process.env.LORALAB_CHROMIUM ?? '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
export const SKIP_REASON = `no Chromium at ${CHROMIUM} — install Debian's "chromium" package (CI does) or set LORALAB_CHROMIUM`;

const PAGE_URL = 'https://webview.loralab.test/index.html';
const RESOURCE_ORIGIN = 'https://file+.vscode-resource.vscode-cdn.net';
const CSP_SOURCE = 'https://*.vscode-cdn.net';

export type ThemeClass = 'vscode-light' | 'vscode-dark' | 'vscode-high-contrast';

const STUB = `
  globalThis.__name = (fn) => fn; // tsx's keepNames helper, for functions passed to evaluate()
  window.__posted = [];
  window.__state = undefined;
  window.__csp = [];
  window.acquireVsCodeApi = () => ({
    postMessage: (m) => { window.__posted.push(JSON.parse(JSON.stringify(m))); },
    getState: () => window.__state,
    setState: (s) => { window.__state = JSON.parse(JSON.stringify(s)); return s; },
  });
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__csp.push({ directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample });
  });
`;

export interface ComparePageHandle {
  page: Page;
  errors: string[];
  refused: string[];
  close(): Promise<void>;
}

export class CompareBrowser {
  private constructor(
    readonly browser: Browser,
    private readonly buildDir: string,
  ) {}

  static async launch(): Promise<CompareBrowser> {
    const buildDir = mkdtempSync(path.join(tmpdir(), 'loralab-compare-'));
    await esbuild.build(webviewBuildOptions(buildDir));
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    return new CompareBrowser(browser, buildDir);
  }

  async close(): Promise<void> {
    await this.browser.close();
    rmSync(this.buildDir, { recursive: true, force: true });
  }

  /** A fresh page showing the Compare view; resolves once it has posted `ready`. */
  async open(theme: ThemeClass, opts: { viewport?: { width: number; height: number }; state?: unknown } = {}): Promise<ComparePageHandle> {
    const viewport = opts.viewport ?? { width: 1400, height: 1000 };
    const nonce = makeNonce();
    const res = `${RESOURCE_ORIGIN}${this.buildDir}`;
    const html = dashboardHtml({ scriptUri: `${res}/compare.js`, styleUri: `${res}/compare.css`, cspSource: CSP_SOURCE, nonce, title: 'Compare', rootClass: 'compare' })
      .replace('</head>', `  <style nonce="${nonce}">${THEME_CSS}</style>\n</head>`)
      .replace('<body>', `<body class="${theme}">`);
    const context = await this.browser.newContext({ viewport, deviceScaleFactor: 1, serviceWorkers: 'block' });
    const page = await context.newPage();
    const errors: string[] = [];
    const refused: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/favicon/.test(m.text())) errors.push(m.text());
    });
    await page.route('**/*', async (route) => {
      const url = route.request().url();
      if (url === PAGE_URL) return route.fulfill({ status: 200, contentType: 'text/html', body: html });
      if (url.startsWith(`${res}/`)) {
        const file = path.join(this.buildDir, decodeURIComponent(url.slice(res.length + 1)));
        const type = file.endsWith('.js') ? 'text/javascript' : file.endsWith('.css') ? 'text/css' : 'application/json';
        if (existsSync(file)) return route.fulfill({ status: 200, contentType: type, body: readFileSync(file) });
      }
      if (!url.endsWith('/favicon.ico')) refused.push(url);
      return route.abort();
    });
    await page.addInitScript(STUB);
    if (opts.state !== undefined) await page.addInitScript(`window.__state = ${JSON.stringify(opts.state)};`);
    await page.goto(PAGE_URL);
    await page.waitForFunction(() => (window as unknown as { __posted: unknown[] }).__posted.length > 0);
    return { page, errors, refused, close: () => context.close() };
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
