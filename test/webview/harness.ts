/**
 * The headless page shared by the webview tests (dashboard, compare, playground, merge; and
 * scripts/bench-compare.ts through compare-harness.ts): Debian's `chromium` driven by
 * playwright-core shows a webview exactly as the extension serves it — `dashboardHtml()` with
 * its CSP and the page's esbuild bundle (webview/build.mjs, built into a temporary folder) —
 * plus VS Code's theme variables (themes.ts) on a theme class of `<body>`, and a stub
 * `acquireVsCodeApi` that records what the page posts (`window.__posted`) and keeps its state
 * (`window.__state`). Resources come from a fake `vscode-cdn.net` origin by request
 * interception, like VS Code's own resource origin; any other request is refused and
 * recorded, as is every CSP violation (`window.__csp`).
 *
 * Tests skip, saying so on stderr, when there is no Chromium (LORALAB_CHROMIUM overrides the path).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { dashboardHtml, makeNonce } from '../../src/extension/dashboard/html';
import { webviewBuildOptions } from '../../webview/build.mjs';
import { ROOT } from '../helpers/paths';
import { THEME_CSS } from './themes';

export const CHROMIUM = process.env.LORALAB_CHROMIUM ?? '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
export const SKIP_REASON = `no Chromium at ${CHROMIUM} — install Debian's "chromium" package (CI does) or set LORALAB_CHROMIUM`;
/** Where the webview tests write their screenshots. */
export const OUT_DIR = path.join(ROOT, 'test-output');

const PAGE_URL = 'https://webview.loralab.test/index.html';
/** Where VS Code serves extension files from (webview.asWebviewUri) and the matching cspSource. */
const RESOURCE_ORIGIN = 'https://file+.vscode-resource.vscode-cdn.net';
const CSP_SOURCE = 'https://*.vscode-cdn.net';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** The class VS Code puts on a webview's `<body>` for the user's theme kind. */
export type ThemeClass = 'vscode-light' | 'vscode-dark' | 'vscode-high-contrast';
/** A webview bundle (an entry of webview/build.mjs): dist/webview/<name>.js and <name>.css. */
export type WebviewName = 'dashboard' | 'compare' | 'playground' | 'merge';

/** One `securitypolicyviolation` event, as the page recorded it. */
export interface CspViolation {
  directive: string;
  blocked: string;
  sample: string;
}

declare global {
  interface Window {
    __posted: unknown[];
    __state: unknown;
    __csp: CspViolation[];
  }
}

/** Runs in the page before its scripts: the VS Code API stub and the CSP violation recorder. */
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

export interface OpenOptions {
  theme: ThemeClass;
  /** The page's `<title>`. */
  title: string;
  /** The root element's class (`dashboardHtml`'s rootClass; default `dashboard`). */
  rootClass?: string;
  viewport: { width: number; height: number };
  /** What `vscode.getState()` returns: the state a hidden or reloaded webview had saved. */
  state?: unknown;
}

/** One open page; `close()` closes its browser context. */
export interface WebviewPage {
  page: Page;
  /** Uncaught page errors and console errors (favicon requests aside). */
  errors: string[];
  /** Requests outside the page and its local resources (each refused). */
  refused: string[];
  /** Posts `msg` to the page as the host would; resolves once the page's listener has run. */
  post(msg: unknown): Promise<void>;
  /** Every message the page has posted, each checked with the protocol's guard. */
  posted<T>(isValid: (m: unknown) => m is T): Promise<T[]>;
  /** Asserts: no CSP violation, no page error, no request outside the page and its resources. */
  assertClean(): Promise<void>;
  close(): Promise<void>;
}

export class WebviewBrowser {
  private constructor(
    readonly browser: Browser,
    private readonly buildDir: string,
  ) {}

  /** Builds the webview bundles (only `only` when given) into a temporary folder and starts Chromium. */
  static async launch(only?: WebviewName): Promise<WebviewBrowser> {
    const buildDir = mkdtempSync(path.join(tmpdir(), `loralab-${only ?? 'webview'}-`));
    const opts = webviewBuildOptions(buildDir);
    await esbuild.build(only ? { ...opts, entryPoints: { [only]: path.join(ROOT, 'webview', only, 'main.ts') } } : opts);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    mkdirSync(OUT_DIR, { recursive: true });
    return new WebviewBrowser(browser, buildDir);
  }

  async close(): Promise<void> {
    await this.browser.close();
    rmSync(this.buildDir, { recursive: true, force: true });
  }

  /** A fresh page (in its own browser context) showing webview `name`; resolves once it has posted its first message (`ready`). */
  async open(name: WebviewName, o: OpenOptions): Promise<WebviewPage> {
    const nonce = makeNonce();
    const res = `${RESOURCE_ORIGIN}${this.buildDir}`;
    const html = dashboardHtml({ scriptUri: `${res}/${name}.js`, styleUri: `${res}/${name}.css`, cspSource: CSP_SOURCE, nonce, title: o.title, rootClass: o.rootClass })
      .replace('</head>', `  <style nonce="${nonce}">${THEME_CSS}</style>\n</head>`)
      .replace('<body>', `<body class="${o.theme}">`);
    const context = await this.browser.newContext({ viewport: o.viewport, deviceScaleFactor: 1, serviceWorkers: 'block' });
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
    if (o.state !== undefined) await page.addInitScript(`window.__state = ${JSON.stringify(o.state)};`);
    await page.goto(PAGE_URL);
    await page.waitForFunction(() => window.__posted.length > 0);
    return {
      page,
      errors,
      refused,
      post: (msg) =>
        page.evaluate(
          (m) =>
            new Promise<void>((resolve) => {
              // Registered after the page's listener, so it runs once the page has handled m.
              window.addEventListener('message', () => resolve(), { once: true });
              window.postMessage(m, '*');
            }),
          msg,
        ),
      posted: async <T>(isValid: (m: unknown) => m is T) => {
        const all = await page.evaluate(() => window.__posted);
        for (const m of all) assert.ok(isValid(m), `the page posted an invalid message: ${JSON.stringify(m)}`);
        return all as T[];
      },
      assertClean: async () => {
        assert.deepEqual(await page.evaluate(() => window.__csp), [], 'CSP violations');
        assert.deepEqual(errors, [], 'page errors');
        assert.deepEqual(refused, [], 'requests outside the page and its local resources');
      },
      close: () => context.close(),
    };
  }
}
