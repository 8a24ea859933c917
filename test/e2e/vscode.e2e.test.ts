/**
 * End to end in a real VS Code: code-server 4.139 (VS Code 1.139 served to a browser, its
 * extension host a real Node.js 24) driven by playwright-core through Debian's Chromium, as
 * ../shared/vscode/README.md describes. The built repository is installed as the extension
 * (a symlink in a fresh extensions dir); the workspace holds one tiny experiment on the test
 * model. The test opens the experiment, runs "LoRA Lab: Start Run" from the palette, waits for
 * the Experiments view to show the run completed, runs "LoRA Lab: Open Dashboard" and checks,
 * inside the webview, that the loss chart holds exactly the run's metrics.jsonl losses. Then
 * "LoRA Lab: Activate Adapter" picks the run's final adapter (the status bar shows it), "LoRA Lab:
 * Open Playground" generates greedily from the golden prompt: the base column must be the golden
 * PyTorch continuation and both columns must stream at the same time. Last, the color theme is
 * switched to Dark Modern from the palette for dark screenshots of the playground and the views.
 *
 * `LORALAB_E2E_EXTENSION=DIR` installs DIR (e.g. an unpacked .vsix) instead of this repository.
 * Installs code-server on first use (`setup.sh`, 2–3 minutes, needs apt for Chromium); a failed
 * setup fails the test. `LORALAB_SKIP_E2E=1` skips it. Screenshots go to test-output/e2e-*.png
 * (workbench, dashboard, playground, adapters = the side bar; `-dark` in the dark theme);
 * on failure the test prints the tails of the code-server, extension host and "LoRA Lab" logs.
 * Phase timings go to stderr.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type FrameLocator, type Page } from 'playwright-core';
import { ROOT, SHARED } from '../helpers/paths';

const SKIP = process.env.LORALAB_SKIP_E2E === '1';
const SKIP_REASON = 'LORALAB_SKIP_E2E=1: the VS Code end-to-end test is skipped';
if (SKIP) process.stderr.write(`\n[e2e SKIPPED] ${SKIP_REASON}\n\n`);

const OUT_DIR = path.join(ROOT, 'test-output');
const SETUP_TIMEOUT_MS = 10 * 60_000;
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const MAX_STEPS = 12;
const EVAL_STEPS = 4;

/** `window.__playground` of webview/playground/main.ts (the parts used here). */
type PlaygroundHook = { __playground?: { output(c: string): string; running(): boolean; shown(): string[] } };

/** `window.__dashboard` of webview/dashboard/main.ts (the parts used here). */
interface DashboardHook {
  chartData(name: string): { label: string; points: [number, number][] }[];
  rawCount(series: string): number;
  rendered(): Promise<unknown>;
}
type WithHook = { __dashboard?: DashboardHook };

interface MetricsRow {
  step: number;
  train_loss?: number;
  val_loss?: number;
}

const t0 = Date.now();
const log = (msg: string) => process.stderr.write(`[e2e ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);

/** Runs one phase, printing how long it took. */
async function phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const start = Date.now();
  log(`${name}…`);
  try {
    return await fn();
  } finally {
    log(`${name}: ${((Date.now() - start) / 1000).toFixed(1)} s`);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An error `until` does not retry: the extension reported a failure, the run ended badly. */
class Fatal extends Error {}

/** Polls `get` until it returns something truthy; the error names `what` and the last value seen. */
async function until<T>(what: string, get: () => Promise<T | undefined | null | false>, timeoutMs: number, everyMs = 500): Promise<T> {
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
async function setupCodeServer(prefix: string): Promise<{ node: string; codeServer: string; chromium: string }> {
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

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return `(no ${file})`;
  }
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const f of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (f.isFile()) newest = Math.max(newest, statSync(path.join(f.parentPath, f.name)).mtimeMs);
  }
  return newest;
}

/** Runs `node esbuild.mjs` when a bundle the extension needs is missing or older than its sources. */
async function ensureBuilt(): Promise<string> {
  const outputs = ['dist/extension.cjs', 'dist/trainer.js', 'dist/worker.js', 'dist/webview/dashboard.js', 'dist/webview/dashboard.css', 'dist/webview/playground.js'].map((f) => path.join(ROOT, f));
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

function freePort(): Promise<number> {
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
function logFiles(logsDir: string): string[] {
  if (!existsSync(logsDir)) return [];
  return readdirSync(logsDir, { recursive: true, withFileTypes: true })
    .filter((f) => f.isFile() && /^(remoteagent|exthost)\.log$|LoRA Lab|loralab/i.test(f.name))
    .map((f) => path.join(f.parentPath, f.name));
}

/** The "LoRA Lab" output channel's log file (logs/<session>/exthost1/output_logging_<time>/1-LoRA Lab.log). */
function outputChannelLog(logsDir: string): string | undefined {
  return logFiles(logsDir).find((f) => /LoRA Lab/.test(path.basename(f)));
}

/** Fails at once when the "LoRA Lab" output channel reports a command error (`error: <command>: …`). */
function assertNoExtensionError(logsDir: string): void {
  const channel = outputChannelLog(logsDir);
  const errors = channel ? readFileSync(channel, 'utf8').split('\n').filter((l) => /^error: /.test(l)) : [];
  if (errors.length) throw new Fatal(`the extension reported (in the "LoRA Lab" output channel, ${channel}):\n${errors.join('\n')}`);
}

/**
 * The palette step of the recipe: Escape, F1, type `>Category: Title`, click the row. Retried
 * as a whole: the list does not refresh, and a palette opened before the extension host
 * registered the command never shows it.
 */
async function runCommand(page: Page, title: string, timeoutMs = 60_000): Promise<void> {
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
async function quickOpen(page: Page, name: string): Promise<void> {
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

/** The aria-labels of the rows of the Experiments view. */
async function treeRows(page: Page): Promise<{ label: string; expanded: string | null }[]> {
  const rows = page.locator('.part.sidebar .pane-body .monaco-list-row');
  const out: { label: string; expanded: string | null }[] = [];
  for (const row of await rows.all()) out.push({ label: (await row.getAttribute('aria-label')) ?? (await row.innerText()), expanded: await row.getAttribute('aria-expanded') });
  return out;
}

test('VS Code (code-server): Start Run from the palette, the Experiments view shows it completed, the dashboard charts its losses; Activate Adapter, the playground streams base and adapter together', { skip: SKIP ? SKIP_REASON : false, timeout: 20 * 60_000 }, async () => {
  const tools = await phase('setup code-server (setup.sh)', () => setupCodeServer(path.join(ROOT, '.cache', 'vscode-e2e')));
  log(`code-server ${tools.codeServer}; node ${tools.node}; chromium ${tools.chromium}`);
  // LORALAB_E2E_EXTENSION: an extension folder to install instead of this repository (e.g. an unpacked .vsix).
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

  let server: ChildProcess | undefined;
  let context: BrowserContext | undefined;
  let page: Page | undefined;
  const pageErrors: string[] = [];
  let ok = false;

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
  const onExit = () => killGroup('SIGKILL'); // the test process dies before `finally` (Ctrl-C)
  process.on('exit', onExit);

  try {
    await phase('workspace + user data', async () => {
      mkdirSync(ws);
      const text = readFileSync(path.join(SHARED, 'data', 'tinyshakespeare.txt'));
      writeFileSync(path.join(ws, 'train.txt'), text.subarray(0, 20_000));
      writeFileSync(path.join(ws, 'val.txt'), text.subarray(text.length - 5_000));
      const experiment = {
        name: 'tiny',
        model: path.join(SHARED, 'models', 'stories260K'),
        data: { train: 'train.txt', validation: 'val.txt', max_seq_length: 64 },
        lora: { r: 4, lora_alpha: 16, target_modules: 'all-linear' },
        training: { learning_rate: 2e-3, max_steps: MAX_STEPS, per_device_train_batch_size: 4, eval_steps: EVAL_STEPS, save_steps: 6, logging_steps: 1, seed: 0 },
        device: 'cpu',
      };
      writeFileSync(path.join(ws, 'tiny.lora.json'), `// LoRA Lab end-to-end test\n${JSON.stringify(experiment, null, 2)}\n`);

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
      };
      writeFileSync(path.join(ud, 'User', 'settings.json'), JSON.stringify(settings, null, 2));
      mkdirSync(exts);
      symlinkSync(extensionDir, path.join(exts, `${pkg.publisher}.${pkg.name}-${pkg.version}`), 'dir');
      for (const d of Object.values(xdg)) mkdirSync(d);
      writeFileSync(path.join(tmp, 'config.yaml'), '');
      mkdirSync(profile);
    });

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
      server.on('exit', (c, s) => (exited = `code-server exited (${c ?? s})`));
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

    await phase('open tiny.lora.json (Quick Open)', () => quickOpen(page!, 'tiny.lora.json'));
    await phase('LoRA Lab: Start Run', () => runCommand(page!, 'LoRA Lab: Start Run'));

    const runId = await phase('wait for the run to complete in the Experiments view', async () => {
      const p = page!;
      await p.locator('.part.activitybar [aria-label^="LoRA Lab"]').first().click();
      // Two views in the container (Experiments, Adapters): each has a pane header.
      await p.locator('.part.sidebar .pane-header', { hasText: 'Experiments' }).first().waitFor({ state: 'visible', timeout: 30_000 });
      let lastRows: unknown;
      try {
        return await until(
          'a completed run in the Experiments view',
          async () => {
            // The experiment node should expand once it has runs; expand it if it stayed collapsed.
            const collapsed = p.locator('.part.sidebar .pane-body .monaco-list-row[aria-expanded="false"]', { hasText: 'tiny.lora.json' });
            if (await collapsed.count()) {
              log(`expanding the collapsed experiment row: ${JSON.stringify(await treeRows(p))}`);
              await collapsed.first().locator('.monaco-tl-twistie').click();
            }
            assertNoExtensionError(logsDir);
            const rows = await treeRows(p);
            lastRows = rows;
            const done = rows.find((r) => /^tiny-\d{8}-\d{6}\b/.test(r.label) && /\bcompleted\b/.test(r.label));
            if (rows.some((r) => /^tiny-.*\b(failed|crashed|stopped)\b/.test(r.label))) throw new Fatal(`the run did not complete: ${JSON.stringify(rows)}`);
            return done ? /^tiny-\d{8}-\d{6}/.exec(done.label)![0] : undefined;
          },
          180_000,
        );
      } finally {
        log(`Experiments view rows: ${JSON.stringify(lastRows)}`);
      }
    });
    const toast = page.locator('.notifications-toasts .notification-toast', { hasText: `${runId} completed` });
    log(`completion notification: ${(await toast.isVisible()) ? JSON.stringify(await toast.first().innerText()) : '(not shown)'}`);
    await page.screenshot({ path: path.join(OUT_DIR, 'e2e-workbench.png') });

    const runDir = path.join(ws, '.loralab', 'runs', runId);
    const rows = readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as MetricsRow);
    const train = rows.filter((r) => typeof r.train_loss === 'number').map((r) => [r.step, r.train_loss!] as [number, number]);
    const val = rows.filter((r) => typeof r.val_loss === 'number').map((r) => [r.step, r.val_loss!] as [number, number]);
    assert.equal(train.length, MAX_STEPS, `metrics.jsonl has ${MAX_STEPS} train_loss rows`);
    assert.deepEqual(
      val.map(([s]) => s),
      [0, 4, 8, 12],
      'metrics.jsonl has val_loss at steps 0, 4, 8, 12',
    );

    await phase('LoRA Lab: Open Dashboard', async () => {
      const p = page!;
      await runCommand(p, 'LoRA Lab: Open Dashboard');
      // A quick-pick of runs appears when the command cannot tell which run is meant.
      const pick = p.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: runId }).first();
      const tab = p.locator('.tabs-container .tab', { hasText: runId }).first();
      await until(
        `the dashboard tab of ${runId}`,
        async () => {
          assertNoExtensionError(logsDir);
          if (await tab.isVisible()) return true;
          if (await pick.isVisible()) await pick.click();
          return false;
        },
        30_000,
      );
    });

    const dash: FrameLocator = page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
    const drawn = await phase('dashboard webview renders the run', async () => {
      const body = dash.locator('body');
      return until(
        'window.__dashboard with every train_loss row',
        () => {
          assertNoExtensionError(logsDir);
          return body.evaluate(async (_el, expected) => {
            const d = (window as unknown as WithHook).__dashboard;
            if (!d || d.rawCount('train_loss') < expected) return null;
            await Promise.race([d.rendered(), new Promise((r) => setTimeout(r, 3_000))]);
            return { trainCount: d.rawCount('train_loss'), valCount: d.rawCount('val_loss'), loss: d.chartData('loss') };
          }, MAX_STEPS, { timeout: 5_000 });
        },
        60_000,
      );
    });
    await dash.locator('canvas').first().waitFor({ state: 'visible', timeout: 10_000 });
    await runCommand(page, 'Notifications: Clear All Notifications', 15_000).catch((e: Error) => log(`could not clear the notifications: ${e.message}`));
    await page.screenshot({ path: path.join(OUT_DIR, 'e2e-dashboard.png') });

    log(`loss chart: ${drawn.loss.map((d) => `${d.label} (${d.points.length} points)`).join(', ')}`);
    assert.equal(drawn.trainCount, MAX_STEPS, 'rawCount(train_loss)');
    assert.equal(drawn.valCount, val.length, 'rawCount(val_loss)');
    const byLabel = new Map(drawn.loss.map((d) => [d.label, d.points]));
    // Smoothing is on by default: the faint raw copy carries the logged values, the line the smoothed ones.
    const rawTrain = byLabel.get('train loss (raw)') ?? byLabel.get('train loss');
    assert.ok(rawTrain, `the loss chart draws the train loss (datasets: ${[...byLabel.keys()].join(', ')})`);
    assert.deepEqual(rawTrain, train, 'train loss drawn = train_loss of metrics.jsonl, step by step');
    assert.deepEqual(
      byLabel.get('train loss')?.map(([s]) => s),
      train.map(([s]) => s),
      'the (smoothed) train loss line has a point at every step',
    );
    assert.deepEqual(byLabel.get('validation loss'), val, 'validation loss drawn = val_loss of metrics.jsonl at steps 0, 4, 8, 12');

    await phase('LoRA Lab: Activate Adapter (the final adapter of the run)', async () => {
      const p = page!;
      await runCommand(p, 'LoRA Lab: Activate Adapter');
      const row = p.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: `${runId} (final)` }).first();
      await row.waitFor({ state: 'visible', timeout: 30_000 });
      await row.click();
      await until(
        'the status-bar item of the active adapter',
        async () => {
          assertNoExtensionError(logsDir);
          return (await p.locator('.part.statusbar', { hasText: `${runId} (final)` }).count()) > 0;
        },
        120_000,
      );
    });

    // The base column, decoded greedily from the golden prompt, must be the golden continuation
    // (independent reference: ../shared/golden/stories260K_logits.json); the adapter column streams too.
    const golden = JSON.parse(readFileSync(path.join(SHARED, 'golden', 'stories260K_logits.json'), 'utf8')) as { prompt: string; greedy: { num_new_tokens: number; continuation_text: string } };
    const answers = await phase('LoRA Lab: Open Playground, generate, read the streamed text', async () => {
      const p = page!;
      await runCommand(p, 'LoRA Lab: Open Playground');
      await p.locator('.tabs-container .tab', { hasText: 'LoRA Lab Playground' }).first().waitFor({ state: 'visible', timeout: 30_000 });
      const frame = await until(
        'the playground webview frame',
        async () => {
          for (const f of p.frames()) if (await f.evaluate(() => !!(window as unknown as PlaygroundHook).__playground).catch(() => false)) return f;
          return undefined;
        },
        60_000,
      );
      await frame.waitForFunction(() => document.getElementById('adapter-badge')?.textContent?.includes('(final)'), undefined, { timeout: 30_000 });
      // No named function inside an evaluated function: tsx (esbuild keepNames) would wrap it in
      // `__name(…)`, which does not exist in the page.
      await frame.evaluate(
        (values) => {
          for (const [id, v] of Object.entries(values)) (document.getElementById(id) as HTMLElement & { value: string }).value = v;
        },
        { prompt: golden.prompt, temperature: '0', 'max-new-tokens': String(golden.greedy.num_new_tokens) },
      );
      // Every change of the two answer columns, recorded in the page as it happens (polling from
      // here could miss a fast stream): [base length, adapter length].
      await frame.evaluate(() => {
        const w = window as unknown as PlaygroundHook & { __e2eSnapshots: [number, number][] };
        w.__e2eSnapshots = [];
        new MutationObserver(() => w.__e2eSnapshots.push([w.__playground!.output('base').length, w.__playground!.output('adapter').length])).observe(document.getElementById('columns')!, {
          subtree: true,
          characterData: true,
          childList: true,
        });
      });
      await frame.locator('#generate').click();
      const seen: string[] = [];
      const result = await until(
        'both columns to finish streaming',
        async () => {
          assertNoExtensionError(logsDir);
          const error = await frame.locator('#error').innerText().catch(() => '');
          if (error.trim()) throw new Fatal(`the playground reported: ${error}`);
          const r = await frame.evaluate(() => {
            const h = (window as unknown as PlaygroundHook).__playground!;
            return { running: h.running(), base: h.output('base'), adapter: h.output('adapter'), shown: h.shown() };
          });
          seen.push(r.adapter);
          return !r.running && r.base && r.adapter ? r : undefined;
        },
        180_000,
        200,
      );
      log(`streamed snapshots of the adapter column (polled): ${new Set(seen).size}`);
      const snapshots = await frame.evaluate(() => (window as unknown as { __e2eSnapshots: [number, number][] }).__e2eSnapshots);
      return { ...result, snapshots };
    });
    await page.screenshot({ path: path.join(OUT_DIR, 'e2e-playground.png') });
    await page.locator('.part.sidebar').screenshot({ path: path.join(OUT_DIR, 'e2e-adapters.png') });
    log(`playground: base ${JSON.stringify(answers.base)}; adapter ${JSON.stringify(answers.adapter)}`);
    assert.deepEqual(answers.shown, ['base', 'adapter']);
    assert.equal(answers.base.trim(), golden.greedy.continuation_text.trim(), 'greedy base column = the golden continuation');
    assert.ok(answers.adapter.trim().length > 0, 'the adapter column streamed text');
    // The two columns stream together (one batch in the worker): some moment shows both answers
    // begun and neither complete. Run one after the other, the base would be complete before the
    // adapter's first piece.
    const [baseLen, adapterLen] = [answers.base.length, answers.adapter.length];
    const together = answers.snapshots.filter(([b, a]) => b > 0 && b < baseLen && a > 0 && a < adapterLen).length;
    log(`column updates: ${answers.snapshots.length}, with both answers partial: ${together}`);
    assert.ok(together > 0, `both columns streamed at once (updates seen: ${JSON.stringify(answers.snapshots.slice(0, 60))})`);

    // The same views in a dark theme: the palette's color theme picker, as a user switches.
    await phase('dark theme (Preferences: Color Theme)', async () => {
      const p = page!;
      const dark = p.locator('.monaco-workbench.vs-dark');
      await until(
        'the workbench in a dark theme',
        async () => {
          if (await dark.count()) return true;
          await runCommand(p, 'Preferences: Color Theme', 15_000);
          await p.locator('.quick-input-widget .quick-input-box input').fill('Dark Modern');
          await p.locator('.quick-input-list .monaco-list-row', { hasText: 'Dark Modern' }).first().waitFor({ state: 'visible', timeout: 5_000 });
          await p.keyboard.press('Enter');
          await dark.first().waitFor({ state: 'attached', timeout: 5_000 });
          return true;
        },
        60_000,
        1_000,
      );
      const frame = await until('the playground frame in the dark theme', async () => {
        for (const f of p.frames()) if (await f.evaluate(() => !!(window as unknown as { __playground?: unknown }).__playground && document.body.classList.contains('vscode-dark')).catch(() => false)) return f;
        return undefined;
      }, 30_000);
      log(`playground body classes: ${await frame.evaluate(() => document.body.className)}`);
    });
    await page.screenshot({ path: path.join(OUT_DIR, 'e2e-playground-dark.png') });
    await page.locator('.part.sidebar').screenshot({ path: path.join(OUT_DIR, 'e2e-adapters-dark.png') });
    ok = true;
  } finally {
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
    } else {
      const out = [`--- code-server output (${csLog}) ---`, tail(csLog, 40)];
      for (const f of logFiles(logsDir)) out.push(`--- ${f} ---`, tail(f, 40));
      if (pageErrors.length) out.push('--- workbench page errors ---', ...pageErrors.slice(-20));
      out.push(`(kept ${tmp}; screenshot test-output/e2e-failure.png)`);
      process.stderr.write(`\n[e2e FAILED] diagnostics:\n${out.join('\n')}\n\n`);
    }
  }
});
