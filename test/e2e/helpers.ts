/**
 * Helpers of the real-VS-Code tests (code-server driven by playwright-core through Chromium):
 * setup, build, the palette, Quick Open, the LoRA Lab views, logs, and `launchVSCode` for a
 * session on a workspace of one's own. Used by vscode.e2e.test.ts and problems.e2e.test.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Frame, type Locator, type Page } from 'playwright-core';
import { ROOT, SHARED } from '../helpers/paths';

export const OUT_DIR = path.join(ROOT, 'test-output');
export const SETUP_TIMEOUT_MS = 10 * 60_000;
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export const t0 = Date.now();
export const log = (msg: string) => process.stderr.write(`[e2e ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);

/** Runs one phase, printing how long it took. */
export async function phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const start = Date.now();
  log(`${name}…`);
  try {
    return await fn();
  } finally {
    log(`${name}: ${((Date.now() - start) / 1000).toFixed(1)} s`);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An error `until` does not retry: the extension reported a failure, the run ended badly. */
export class Fatal extends Error {}

/** Polls `get` until it returns something truthy; the error names `what` and the last value seen. */
export async function until<T>(what: string, get: () => Promise<T | undefined | null | false>, timeoutMs: number, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await get();
      if (v) return v;
      last = v;
    } catch (e) {
      if (e instanceof Fatal) throw e;
      last = e instanceof Error ? e.message.split('\n')[0] : e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what} (last: ${JSON.stringify(last)})`);
    await sleep(everyMs);
  }
}

/** `bash setup.sh PREFIX`; its `KEY=VALUE` lines. Fails with the exit status and the log's tail. */
export async function setupCodeServer(prefix: string): Promise<{ node: string; codeServer: string; chromium: string }> {
  const script = path.join(SHARED, 'vscode', 'setup.sh');
  if (!existsSync(script)) throw new Error(`VS Code e2e setup script missing: ${script}`);
  // Under `npm test`, npm's own variables (npm_*, NODE) point nested npm runs at this Node 20;
  // code-server's install must run on the Node 24 that setup.sh puts first on PATH.
  const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'NODE' && k !== 'NODE_OPTIONS' && k !== 'INIT_CWD'));
  const child = spawn('bash', [script, prefix], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), SETUP_TIMEOUT_MS);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  const env = Object.fromEntries(
    out
      .split('\n')
      .map((l) => /^(VSCODE_E2E_\w+)=(.*)$/.exec(l.trim()))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1], m[2]]),
  );
  const missing = ['VSCODE_E2E_NODE', 'VSCODE_E2E_CODE_SERVER', 'VSCODE_E2E_CHROMIUM'].filter((k) => !env[k] || !existsSync(env[k]));
  if (code !== 0 || missing.length) {
    const logTail = tail(path.join(prefix, 'setup.log'), 30);
    const why = code !== 0 ? (signal === 'SIGKILL' ? `timed out after ${SETUP_TIMEOUT_MS / 60_000} min` : `exited with ${code ?? signal}`) : `did not give ${missing.join(', ')} (or the path does not exist)`;
    throw new Error(
      `code-server setup failed: bash ${script} ${prefix} ${why}. Set LORALAB_SKIP_E2E=1 to skip this test.\n` +
        `stdout: ${out.trim() || '(none)'}\nstderr: ${err.trim() || '(none)'}\n--- ${prefix}/setup.log (tail) ---\n${logTail}`,
    );
  }
  return { node: env.VSCODE_E2E_NODE, codeServer: env.VSCODE_E2E_CODE_SERVER, chromium: env.VSCODE_E2E_CHROMIUM };
}

export function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return `(no ${file})`;
  }
}

export function newestMtime(dir: string): number {
  let newest = 0;
  for (const f of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (f.isFile()) newest = Math.max(newest, statSync(path.join(f.parentPath, f.name)).mtimeMs);
  }
  return newest;
}

/** Runs `node esbuild.mjs` when a bundle the extension needs is missing or older than its sources. */
export async function ensureBuilt(): Promise<string> {
  const outputs = ['dist/extension.cjs', 'dist/trainer.js', 'dist/worker.js', 'dist/webview/dashboard.js', 'dist/webview/dashboard.css', 'dist/webview/playground.js', 'dist/webview/compare.js', 'dist/webview/merge.js', 'dist/cli.js'].map((f) => path.join(ROOT, f));
  const sources = Math.max(...['src', 'webview', 'media'].map((d) => newestMtime(path.join(ROOT, d))), statSync(path.join(ROOT, 'esbuild.mjs')).mtimeMs);
  const stale = outputs.filter((f) => !existsSync(f) || statSync(f).mtimeMs < sources);
  if (!stale.length) return 'dist is up to date';
  const child = spawn(process.execPath, ['esbuild.mjs'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`node esbuild.mjs failed (exit ${code}):\n${out}`);
  return `rebuilt (stale: ${stale.map((f) => path.relative(ROOT, f)).join(', ')})`;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Files of the user-data dir's logs worth reading after a failure: code-server, extension host, LoRA Lab's output channel. */
export function logFiles(logsDir: string): string[] {
  if (!existsSync(logsDir)) return [];
  return readdirSync(logsDir, { recursive: true, withFileTypes: true })
    .filter((f) => f.isFile() && /^(remoteagent|exthost)\.log$|LoRA Lab|loralab/i.test(f.name))
    .map((f) => path.join(f.parentPath, f.name));
}

/** The "LoRA Lab" output channel's log file (logs/<session>/exthost1/output_logging_<time>/1-LoRA Lab.log). */
export function outputChannelLog(logsDir: string): string | undefined {
  return logFiles(logsDir).find((f) => /LoRA Lab/.test(path.basename(f)));
}

/**
 * Fails at once when the "LoRA Lab" output channel reports a command error (`error: <command>: …`)
 * or a trainer that ended badly (`[name] trainer exited: failed (…)`): a run that fails before it
 * writes its folder never shows in the Experiments view.
 */
export function assertNoExtensionError(logsDir: string): void {
  const channel = outputChannelLog(logsDir);
  const errors = channel ? readFileSync(channel, 'utf8').split('\n').filter((l) => /^error: |^\[[^\]]+\] trainer exited: (failed|crashed)/.test(l)) : [];
  if (errors.length) throw new Fatal(`the extension reported (in the "LoRA Lab" output channel, ${channel}):\n${errors.join('\n')}`);
}

/**
 * The palette step of the recipe: Escape, F1, type `>Category: Title`, click the row. Retried
 * as a whole: the list does not refresh, and a palette opened before the extension host
 * registered the command never shows it.
 */
export async function runCommand(page: Page, title: string, timeoutMs = 60_000): Promise<void> {
  const input = page.locator('.quick-input-widget .quick-input-box input');
  await until(
    `"${title}" in the command palette`,
    async () => {
      await page.keyboard.press('Escape');
      await page.keyboard.press('F1');
      await input.waitFor({ state: 'visible', timeout: 5_000 });
      await input.fill(`>${title}`);
      const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
      await row.waitFor({ state: 'visible', timeout: 3_000 });
      await row.click();
      return true;
    },
    timeoutMs,
    1_000,
  );
}

/** Opens a workspace file with Quick Open (Ctrl+P), retried while the file search warms up. */
export async function quickOpen(page: Page, name: string): Promise<void> {
  const input = page.locator('.quick-input-widget .quick-input-box input');
  await until(
    `${name} in Quick Open`,
    async () => {
      await page.keyboard.press('Escape');
      await page.keyboard.press('Control+P');
      await input.waitFor({ state: 'visible', timeout: 5_000 });
      await input.fill(name);
      const row = page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first();
      await row.waitFor({ state: 'visible', timeout: 3_000 });
      await row.click();
      await page.locator('.tabs-container .tab', { hasText: name }).first().waitFor({ state: 'visible', timeout: 5_000 });
      return true;
    },
    60_000,
    1_000,
  );
}

/**
 * Opens `file` at line:column (1-based, Ctrl+G), opens the Quick Fix menu (Ctrl+.) until the
 * action titled `title` shows — the code actions come once the diagnostics are in — screenshots
 * the menu as `screenshot` (in OUT_DIR), applies the fix and saves (Ctrl+S).
 */
export async function applyQuickFix(page: Page, file: string, line: number, column: number, title: string, screenshot: string, timeoutMs: number): Promise<void> {
  await quickOpen(page, file);
  await page.keyboard.press('Control+G');
  await page.locator('.quick-input-widget .quick-input-box input').fill(`:${line}:${column}`);
  await page.keyboard.press('Enter');
  const fix = page.locator('.action-widget .monaco-list-row', { hasText: title }).first();
  await until(
    'the quick fix in the Quick Fix menu',
    async () => {
      if (await fix.isVisible()) return true;
      await page.keyboard.press('Escape');
      await page.keyboard.press('Control+.');
      await fix.waitFor({ state: 'visible', timeout: 3_000 });
      return true;
    },
    timeoutMs,
    1_000,
  );
  await page.screenshot({ path: path.join(OUT_DIR, screenshot) });
  await fix.click();
  await page.keyboard.press('Control+S');
}

/** The first webview frame (any depth) whose window has `hook` set. */
export async function hookFrame(p: Page, hook: string, timeoutMs = 60_000): Promise<Frame> {
  return until(
    `the webview frame with window.${hook}`,
    async () => {
      for (const f of p.frames()) if (await f.evaluate((h) => !!(window as unknown as Record<string, unknown>)[h], hook).catch(() => false)) return f;
      return undefined;
    },
    timeoutMs,
  );
}

/** A view's pane in the side bar, by its title ("Experiments", "Adapters"). */
export function pane(p: Page, title: string): Locator {
  return p.locator('.part.sidebar .pane', { has: p.locator('.pane-header', { hasText: title }) }).first();
}

/** Shows the LoRA Lab view container; clicks its activity-bar item only when it is not shown (a click on the active item hides the side bar). */
export async function showLoraLab(p: Page): Promise<void> {
  const header = p.locator('.part.sidebar .pane-header', { hasText: 'Experiments' }).first();
  if (await header.isVisible()) return;
  await p.locator('.part.activitybar [aria-label^="LoRA Lab"]').first().click();
  await header.waitFor({ state: 'visible', timeout: 30_000 });
}

/** Monaco renders spaces as U+00A0; innerText of an editor then differs from the file. */
export const plain = (s: string) => s.replace(/\u00a0/g, ' ');

/** The aria-labels of the rows of the Experiments view. */
export async function treeRows(page: Page): Promise<{ label: string; expanded: string | null }[]> {
  const rows = page.locator('.part.sidebar .pane-body .monaco-list-row');
  const out: { label: string; expanded: string | null }[] = [];
  for (const row of await rows.all()) out.push({ label: (await row.getAttribute('aria-label')) ?? (await row.innerText()), expanded: await row.getAttribute('aria-expanded') });
  return out;
}


/** A running code-server + Chromium session on a workspace of its own (see `launchVSCode`). */
export interface VSCodeSession {
  page: Page;
  /** The workspace folder (absolute). */
  ws: string;
  /** The user-data dir's logs (extension host, "LoRA Lab" output channel). */
  logsDir: string;
  /**
   * Closes Chromium and ends code-server's whole process group (extension host, trainers):
   * SIGTERM, then SIGKILL. Then, when `ok`, prints the tail of the "LoRA Lab" output channel and
   * removes the temp dir; otherwise saves test-output/e2e-failure.png (first), prints the logs
   * and the workbench page errors, and keeps the temp dir.
   */
  close(ok: boolean): Promise<void>;
}

export interface LaunchOptions {
  /** Settings added to (or overriding) the defaults of `launchVSCode`. */
  settings?: Record<string, unknown>;
}

/**
 * Starts code-server (installed by setup.sh into .cache/vscode-e2e) with this repository as its
 * only extension (or the folder LORALAB_E2E_EXTENSION names, e.g. an unpacked .vsix) and `files`
 * (relative path → contents) as the workspace, and opens the workbench in Chromium (1600×1000).
 * Settings: no telemetry, updates, tips, git, AI, plus `opts.settings`. code-server runs in a
 * process group of its own (detached: setsid), so `close()` ends it with its extension host and
 * trainers; a test process that dies first (Ctrl-C) SIGKILLs the group on exit.
 */
export async function launchVSCode(files: Record<string, string | Uint8Array>, opts: LaunchOptions = {}): Promise<VSCodeSession> {
  const tools = await phase('setup code-server (setup.sh)', () => setupCodeServer(path.join(ROOT, '.cache', 'vscode-e2e')));
  log(`code-server ${tools.codeServer}; node ${tools.node}; chromium ${tools.chromium}`);
  const extensionDir = process.env.LORALAB_E2E_EXTENSION ? path.resolve(process.env.LORALAB_E2E_EXTENSION) : ROOT;
  if (extensionDir === ROOT) log(await phase('build the extension (if stale)', ensureBuilt));
  else log(`installing ${extensionDir} (LORALAB_E2E_EXTENSION), not this repository`);
  const pkg = JSON.parse(readFileSync(path.join(extensionDir, 'package.json'), 'utf8')) as { name: string; publisher: string; version: string };
  const tmp = mkdtempSync(path.join(tmpdir(), 'loralab-e2e-'));
  const ws = path.join(tmp, 'workspace');
  const ud = path.join(tmp, 'user-data');
  const exts = path.join(tmp, 'extensions');
  const profile = path.join(tmp, 'chromium-profile');
  const xdg = { XDG_CONFIG_HOME: path.join(tmp, 'xdg-config'), XDG_DATA_HOME: path.join(tmp, 'xdg-data'), XDG_CACHE_HOME: path.join(tmp, 'xdg-cache') };
  const csLog = path.join(tmp, 'code-server.log');
  const logsDir = path.join(ud, 'logs');
  mkdirSync(OUT_DIR, { recursive: true });
  mkdirSync(ws);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(ws, rel)), { recursive: true });
    writeFileSync(path.join(ws, rel), text);
  }
  mkdirSync(path.join(ud, 'User'), { recursive: true });
  const settings = {
    'telemetry.telemetryLevel': 'off',
    'workbench.startupEditor': 'none',
    'update.mode': 'none',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': 'off',
    'chat.disableAIFeatures': true,
    'workbench.secondarySideBar.defaultVisibility': 'hidden',
    'git.enabled': false,
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    ...opts.settings,
  };
  writeFileSync(path.join(ud, 'User', 'settings.json'), JSON.stringify(settings, null, 2));
  mkdirSync(exts);
  symlinkSync(extensionDir, path.join(exts, `${pkg.publisher}.${pkg.name}-${pkg.version}`), 'dir');
  for (const d of Object.values(xdg)) mkdirSync(d);
  writeFileSync(path.join(tmp, 'config.yaml'), '');
  mkdirSync(profile);

  let server: ChildProcess | undefined;
  let context: BrowserContext | undefined;
  let page: Page | undefined;
  const pageErrors: string[] = [];
  /** Ends code-server's whole process group (extension host, trainer): SIGTERM, then SIGKILL. */
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      if (server?.pid) process.kill(-server.pid, signal);
    } catch {
      /* already gone */
    }
  };
  const groupAlive = () => {
    try {
      process.kill(-server!.pid!, 0);
      return true;
    } catch {
      return false;
    }
  };
  const onExit = () => killGroup('SIGKILL'); // the test process dies before `close` (Ctrl-C)
  process.on('exit', onExit);
  const close = async (ok: boolean) => {
    if (!ok && page) await page.screenshot({ path: path.join(OUT_DIR, 'e2e-failure.png') }).catch(() => undefined);
    await phase('shut down', async () => {
      await context?.close().catch(() => undefined);
      if (server?.pid) {
        killGroup('SIGTERM');
        const deadline = Date.now() + 5_000;
        while (groupAlive() && Date.now() < deadline) await sleep(100);
        if (groupAlive()) killGroup('SIGKILL');
        const hard = Date.now() + 3_000;
        while (groupAlive() && Date.now() < hard) await sleep(50);
        if (groupAlive()) log(`code-server's process group ${server.pid} still has (zombie?) members after SIGKILL`);
      }
      process.off('exit', onExit);
    });
    // Logs are read after the shutdown: the extension host writes the output channel's file lazily.
    if (ok) {
      const channel = outputChannelLog(logsDir);
      if (channel) log(`"LoRA Lab" output channel (${path.basename(channel)}):\n${tail(channel, 12)}`);
      rmSync(tmp, { recursive: true, force: true });
      return;
    }
    const out = [`--- code-server output (${csLog}) ---`, tail(csLog, 40)];
    for (const f of logFiles(logsDir)) out.push(`--- ${f} ---`, tail(f, 40));
    if (pageErrors.length) out.push('--- workbench page errors ---', ...pageErrors.slice(-20));
    out.push(`(kept ${tmp}${page ? '; screenshot test-output/e2e-failure.png' : ''})`);
    process.stderr.write(`\n[e2e FAILED] diagnostics:\n${out.join('\n')}\n\n`);
  };

  try {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    await phase(`start code-server on ${base}`, async () => {
      const fd = openSync(csLog, 'a');
      const args = [
        '--config', path.join(tmp, 'config.yaml'),
        '--bind-addr', `127.0.0.1:${port}`,
        '--auth', 'none',
        '--user-data-dir', ud,
        '--extensions-dir', exts,
        '--disable-telemetry',
        '--disable-update-check',
        '--disable-getting-started-override',
        '--disable-workspace-trust',
        '--reconnection-grace-time', '5',
        ws,
      ]; // prettier-ignore
      // detached: setsid(), so `kill -- -PID` ends code-server with its extension host and trainers.
      server = spawn(tools.codeServer, args, {
        detached: true,
        stdio: ['ignore', fd, fd],
        env: { ...process.env, ...xdg, PATH: `${path.dirname(tools.node)}${path.delimiter}${process.env.PATH ?? ''}`, ELECTRON_RUN_AS_NODE: undefined, NODE_OPTIONS: undefined },
      });
      closeSync(fd);
      let exited: string | undefined;
      server.on('exit', (c, sig) => (exited = `code-server exited (${c ?? sig})`));
      await until(
        `${base}/healthz`,
        async () => {
          if (exited) throw new Error(`${exited}:\n${tail(csLog, 30)}`);
          const res = await fetch(`${base}/healthz`);
          return res.ok;
        },
        60_000,
        250,
      ).catch((e: Error) => {
        throw exited ? new Error(`${exited}:\n${tail(csLog, 30)}`) : e;
      });
    });
    page = await phase('Chromium + workbench', async () => {
      context = await chromium.launchPersistentContext(profile, { executablePath: tools.chromium, args: CHROMIUM_ARGS, viewport: { width: 1600, height: 1000 } });
      const p = context.pages()[0] ?? (await context.newPage());
      p.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
      p.on('console', (m) => m.type() === 'error' && pageErrors.push(`console: ${m.text()}`));
      await p.goto(`${base}/?folder=${encodeURIComponent(ws)}`);
      await p.locator('.monaco-workbench .part.statusbar').waitFor({ state: 'visible', timeout: 60_000 });
      return p;
    });
    return { page, ws, logsDir, close };
  } catch (e) {
    await close(false);
    throw e;
  }
}

/** The rows of the Problems view: text and aria-label ("Error", "Warning" are in the latter). */
export async function problemRows(p: Page): Promise<string[]> {
  return p.locator('.part.panel .monaco-list-row').evaluateAll((rs) => rs.map((r) => (r as HTMLElement).innerText + ' | ' + (r.getAttribute('aria-label') ?? '')));
}

/** Reads a workspace file's text. */
export const readText = (file: string) => readFileSync(file, 'utf8');
/** Whether a path exists. */
export const exists = (file: string) => existsSync(file);
/** Entries of a folder ([] when it does not exist). */
export const list = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);
