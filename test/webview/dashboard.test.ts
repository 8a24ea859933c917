/**
 * The run dashboard webview in headless Chromium, on the shared page of harness.ts: exactly
 * what the extension shows (`dashboardHtml()` with its CSP), VS Code theme variables, and a
 * stub `acquireVsCodeApi` that records what the page posts; any request outside the page's
 * resources fails the test.
 *
 * Screenshots (light, dark, high contrast; 1200×900) go to test-output/.
 * Skips, saying so on stderr, when there is no Chromium (LORALAB_CHROMIUM overrides the path).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { HostToDashboard, RunFacts } from '../../src/protocol/dashboard';
import type { MetricsRowLike } from '../../src/protocol/metrics';
import { ROOT } from '../helpers/paths';
import { HAVE_CHROMIUM, OUT_DIR, SKIP_REASON, type ThemeClass as Theme, type WebviewPage, WebviewBrowser } from './harness';

// The page's local time zone (Chromium reads TZ): RUN.created_at 10:15:00Z is 10:15:00 local.
process.env.TZ = 'UTC';

if (!HAVE_CHROMIUM) process.stderr.write(`\n[webview tests SKIPPED] ${SKIP_REASON}\n\n`);

const RUN: RunFacts = {
  id: 'bedtime-stories-20261129-101500',
  name: 'bedtime-stories',
  run_dir: '/home/ada/stories/.loralab/runs/bedtime-stories-20261129-101500',
  status: 'running',
  step: 0,
  max_steps: 100,
  model: '/home/ada/models/SmolLM2-135M',
  provider: 'cpu',
  dataset: { train: 'data/stories.jsonl', validation: 0.05 },
  created_at: '2026-11-29T10:15:00.000Z',
  finished_at: null,
  error: null,
  hyperparameters: { 'lora.r': 16, 'lora.lora_alpha': 32, 'lora.target_modules': 'all-linear', 'lora.use_rslora': false, 'training.learning_rate': 0.0002 },
};

/** Small exact rows: values are simple functions of the step so the test can recompute them. */
function rows(from: number, to: number): MetricsRowLike[] {
  const out: MetricsRowLike[] = [];
  for (let s = from; s < to; s++) {
    const r: MetricsRowLike = { step: s, time: s * 0.5, train_loss: 3 - s * 0.025, lr: 1e-5 * (s + 1), grad_norm: 1 + s / 10, tokens: 512 * s, tokens_per_s: 1000 + s };
    if (s % 10 === 0) r.val_loss = 3.1 - s * 0.02;
    out.push(r);
  }
  return out;
}

interface Harness extends WebviewPage {
  post(msg: HostToDashboard | Record<string, unknown>): Promise<void>;
  render(): Promise<{ ms: number; points: number }>;
}

describe('run dashboard webview (headless Chromium)', { skip: HAVE_CHROMIUM ? false : SKIP_REASON }, () => {
  let wb: WebviewBrowser;

  before(async () => {
    wb = await WebviewBrowser.launch();
  });

  after(async () => {
    await wb?.close();
  });

  async function open(theme: Theme, opts: { viewport?: { width: number; height: number }; state?: unknown } = {}): Promise<Harness> {
    const p = await wb.open('dashboard', { theme, title: 'bedtime-stories', viewport: opts.viewport ?? { width: 1200, height: 900 }, state: opts.state });
    return { ...p, render: () => p.page.evaluate(() => window.__dashboard!.rendered()) };
  }

  const drawn = (h: Harness, chart: 'loss' | 'lr' | 'grad_norm' | 'tokens_per_s') => h.page.evaluate((c) => window.__dashboard!.chartData(c), chart);
  const resetDisabled = (h: Harness) => h.page.$eval('#reset-zoom', (el) => (el as HTMLElement & { disabled: boolean }).disabled);
  const setSmoothing = (h: Harness, w: number) =>
    h.page.$eval(
      '#smoothing',
      (el, value) => {
        (el as HTMLInputElement).value = String(value);
        el.dispatchEvent(new Event('input', { bubbles: true }));
      },
      w,
    );

  test('posts ready, charts init + metrics rows, follows status, drops invalid messages', async () => {
    const h = await open('vscode-light');
    assert.deepEqual(await h.page.evaluate(() => window.__posted), [{ v: 1, type: 'ready' }]);

    await h.post({ v: 1, type: 'init', run: RUN, rows: rows(0, 20) });
    await h.post({ v: 1, type: 'metrics', rows: rows(20, 40) });
    await h.render();
    const all = rows(0, 40);
    const pick = (k: keyof MetricsRowLike): [number, number][] => all.filter((r) => r[k] !== undefined).map((r) => [r.step, r[k]!]);

    const loss = await drawn(h, 'loss');
    const byLabel = (ds: { label: string; points: [number, number][] }[], label: string) => ds.find((d) => d.label === label)?.points;
    // Default smoothing 0.6: the raw series is drawn (faint) behind the smoothed one.
    assert.deepEqual(byLabel(loss, 'train loss (raw)'), pick('train_loss'));
    assert.equal(byLabel(loss, 'train loss')?.length, 40);
    assert.deepEqual(byLabel(loss, 'validation loss'), pick('val_loss'));
    assert.deepEqual(byLabel(await drawn(h, 'lr'), 'learning rate'), pick('lr'));
    assert.deepEqual(byLabel(await drawn(h, 'grad_norm'), 'grad norm (raw)'), pick('grad_norm'));
    assert.deepEqual(byLabel(await drawn(h, 'tokens_per_s'), 'tokens/s (raw)'), pick('tokens_per_s'));
    assert.equal(await h.page.evaluate(() => window.__dashboard!.rawCount('train_loss')), 40);

    // Facts table and header.
    const facts = await h.page.textContent('#facts-body');
    assert.match(facts!, /SmolLM2-135M/);
    assert.match(facts!, /data\/stories\.jsonl/);
    assert.match(facts!, /5% of the training documents/);
    assert.match(facts!, /39 \/ 100 \(39%\)/);
    // Started in the run-label scheme (src/protocol/run-label.ts), as the run's id reads, not the locale's.
    assert.match(facts!, /Started\s*2026-11-29 10:15:00/);
    assert.doesNotMatch(facts!, /11\/29\/2026|AM|PM/);
    assert.match((await h.page.textContent('#hyperparameters-body'))!, /lora\s*r\s*16/);
    assert.equal(await h.page.textContent('#status-badge'), 'running');
    assert.equal(await h.page.isVisible('#stop-run'), true);

    // Buttons post typed messages.
    await h.page.click('#reveal-folder');
    await h.page.click('#stop-run');
    assert.deepEqual((await h.page.evaluate(() => window.__posted)).slice(1), [
      { v: 1, type: 'revealRunFolder' },
      { v: 1, type: 'stopRun' },
    ]);

    // Anything that is not a valid v1 message is dropped.
    await h.post({ v: 2, type: 'metrics', rows: rows(40, 50) });
    await h.post({ v: 1, type: 'metrics', rows: 'nope' });
    await h.post({ v: 1, type: 'bogus' });
    assert.equal(await h.page.evaluate(() => window.__dashboard!.rawCount('train_loss')), 40);

    // A resumed run restarts from an earlier step: points from that step on are replaced.
    await h.post({ v: 1, type: 'metrics', rows: [{ step: 30, time: 99, train_loss: 0.5 }] });
    assert.equal(await h.page.evaluate(() => window.__dashboard!.rawCount('train_loss')), 31);

    await h.post({ v: 1, type: 'status', status: 'failed', step: 30, error: 'loss is NaN at step 31', finished_at: '2026-11-29T10:20:00.000Z' });
    await h.render();
    assert.equal(await h.page.textContent('#status-badge'), 'failed');
    assert.match((await h.page.textContent('#facts-body'))!, /failed\s*loss is NaN at step 31/);
    assert.match((await h.page.textContent('#facts-body'))!, /5m 00s/);
    assert.equal(await h.page.isVisible('#stop-run'), false);
    await h.assertClean();
    await h.page.context().close();
  });

  test("smoothing 0.6 is TensorBoard's de-biased EMA; 0 draws the raw series only", async () => {
    const h = await open('vscode-dark');
    const xs = [2, 4, 1, 3];
    await h.post({ v: 1, type: 'init', run: RUN, rows: xs.map((x, i) => ({ step: i + 1, time: i, train_loss: x })) });
    await setSmoothing(h, 0);
    await setSmoothing(h, 0.6);
    await h.render();
    // last = last·0.6 + 0.4·x; smoothed = last / (1 − 0.6^count):
    //   0.8/0.4 = 2;  (0.48 + 1.6)/0.64 = 3.25;  (1.248 + 0.4)/0.784;  (0.9888 + 1.2)/0.8704
    const expected = [0.8 / 0.4, 2.08 / 0.64, 1.648 / 0.784, 2.1888 / 0.8704];
    const smoothed = await h.page.evaluate(() => window.__dashboard!.smoothedValues('train_loss'));
    assert.equal(smoothed.length, 4);
    smoothed.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-12, `smoothed[${i}] = ${v}, expected ${expected[i]}`));
    let loss = await drawn(h, 'loss');
    const main = loss.find((d) => d.label === 'train loss')!.points;
    main.forEach(([x, y], i) => {
      assert.equal(x, i + 1);
      assert.ok(Math.abs(y - expected[i]) < 1e-12);
    });
    assert.deepEqual(loss.find((d) => d.label === 'train loss (raw)')!.points, xs.map((x, i) => [i + 1, x]));
    assert.equal(await h.page.textContent('#smoothing-value'), '0.60');

    await setSmoothing(h, 0);
    await h.render();
    loss = await drawn(h, 'loss');
    assert.deepEqual(loss.map((d) => d.label), ['train loss']);
    assert.deepEqual(loss[0].points, xs.map((x, i) => [i + 1, x]));
    assert.deepEqual(await h.page.evaluate(() => (window.__state as { prefs: unknown }).prefs), { smoothing: 0, logY: false });
    await h.assertClean();
    await h.page.context().close();
  });

  test('the log-scale toggle switches the loss y axis', async () => {
    const h = await open('vscode-light');
    await h.post({ v: 1, type: 'init', run: RUN, rows: rows(0, 30) });
    await h.render();
    assert.equal(await h.page.evaluate(() => window.__dashboard!.yScaleType('loss')), 'linear');
    await h.page.click('#log-scale');
    await h.render();
    assert.equal(await h.page.evaluate(() => window.__dashboard!.yScaleType('loss')), 'logarithmic');
    assert.equal(await h.page.evaluate(() => window.__dashboard!.yScaleType('lr')), 'linear', 'only the loss chart follows the toggle');
    assert.equal(await h.page.evaluate(() => (window.__state as { prefs: { logY: boolean } }).prefs.logY), true);
    await h.page.click('#log-scale');
    await h.render();
    assert.equal(await h.page.evaluate(() => window.__dashboard!.yScaleType('loss')), 'linear');
    await h.assertClean();
    await h.page.context().close();
  });

  test('log scale: the y tick labels cover the visible loss range (2.5–5.5), zoomed too, light and dark; the axis says "loss, nats/token"', async () => {
    // train_loss falls linearly from 5.5 (step 0) to 2.5 (step 300); no smoothing, no validation.
    const rs: MetricsRowLike[] = [];
    for (let s = 0; s <= 300; s++) rs.push({ step: s, time: s, train_loss: 5.5 - s / 100 });
    for (const theme of ['vscode-light', 'vscode-dark'] as const) {
      const h = await open(theme);
      await h.post({ v: 1, type: 'init', run: { ...RUN, step: 300, max_steps: 300 }, rows: rs });
      await setSmoothing(h, 0);
      await h.page.click('#log-scale');
      await h.render();
      const ticks = () => h.page.evaluate(() => window.__dashboard!.yTicks('loss'));
      /** The labels as numbers; each must be a plain number and together they must span [lo, hi] to within `slack`. */
      const covers = async (lo: number, hi: number, what: string) => {
        const { labels, title } = await ticks();
        assert.equal(title, 'loss, nats/token', `${theme} ${what}: axis title`);
        const values = labels.map(Number);
        assert.ok(values.every(Number.isFinite) && labels.every((l) => l !== ''), `${theme} ${what}: every tick labelled: ${labels.join(', ')}`);
        assert.ok(values.length >= 3, `${theme} ${what}: ${labels.join(', ')}`);
        // Within a decade the ticks are evenly spaced, as on a linear axis (chart.js's own log
        // ticks read 2.5, 2.7, 2.9, 3.5, 5 here).
        const gaps = values.slice(1).map((v, i) => v - values[i]);
        assert.ok(gaps.every((g) => Math.abs(g - gaps[0]) < 1e-9 && g > 0), `${theme} ${what}: evenly spaced: ${labels.join(', ')}`);
        const slack = (hi - lo) * 0.2;
        assert.ok(Math.min(...values) <= lo + slack && Math.min(...values) >= lo - slack, `${theme} ${what}: lowest label ${Math.min(...values)} near ${lo} (${labels.join(', ')})`);
        assert.ok(Math.max(...values) >= hi - slack && Math.max(...values) <= hi + slack, `${theme} ${what}: highest label ${Math.max(...values)} near ${hi} (${labels.join(', ')})`);
        return labels;
      };
      assert.equal(await h.page.evaluate(() => window.__dashboard!.yScaleType('loss')), 'logarithmic');
      const whole = await covers(2.5, 5.5, 'whole run');
      await h.page.screenshot({ path: path.join(OUT_DIR, `dashboard-log-${theme.replace('vscode-', '')}.png`) });
      // Zoomed to steps 100…200: the loss spans 3.5…4.5.
      await h.page.evaluate(() => window.__dashboard!.zoom(100, 200));
      await h.render();
      const zoomed = await covers(3.5, 4.5, 'zoomed');
      assert.notDeepEqual(zoomed, whole);
      // Linear again: the title stays.
      await h.page.click('#log-scale');
      await h.render();
      assert.equal((await ticks()).title, 'loss, nats/token');
      await h.assertClean();
      await h.page.context().close();
    }
  });

  test('a reloaded webview restores its run facts and view settings from getState before init', async () => {
    const h = await open('vscode-dark', { state: { v: 1, prefs: { smoothing: 0.3, logY: true }, run: { ...RUN, step: 42 } } });
    assert.equal(await h.page.textContent('#run-name'), 'bedtime-stories');
    assert.match((await h.page.textContent('#facts-body'))!, /42 \/ 100/);
    assert.equal(await h.page.textContent('#smoothing-value'), '0.30');
    assert.equal(await h.page.$eval('#log-scale', (el) => (el as HTMLElement & { checked: boolean }).checked), true);
    await h.post({ v: 1, type: 'init', run: { ...RUN, step: 45 }, rows: rows(1, 46) });
    await h.render();
    assert.equal(await h.page.evaluate(() => window.__dashboard!.yScaleType('loss')), 'logarithmic');
    assert.deepEqual(await h.page.evaluate(() => window.__dashboard!.preferences()), { smoothing: 0.3, logY: true });
    assert.match((await h.page.textContent('#facts-body'))!, /45 \/ 100/);
    await h.assertClean();
    await h.page.context().close();
  });

  test('100,000 rows per series: bounded drawn points, spikes survive, update time', async () => {
    const h = await open('vscode-dark');
    await h.post({ v: 1, type: 'init', run: { ...RUN, max_steps: 100_000 }, rows: [] });
    const N = 100_000;
    const SPIKE_STEP = 73_123;
    const GRAD_SPIKE_STEP = 41_017;
    const timing = await h.page.evaluate(
      async ({ n, spike, gradSpike }) => {
        let seed = 12345;
        const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
        const rows: Record<string, number>[] = [];
        for (let s = 1; s <= n; s++) {
          rows.push({
            step: s,
            time: s * 0.1,
            train_loss: s === spike ? 1e4 : 2 + Math.exp(-s / 20000) + 0.2 * rnd(),
            val_loss: 2.1 + Math.exp(-s / 20000) + 0.05 * rnd(),
            lr: 2e-4 * Math.min(1, s / 1000),
            grad_norm: s === gradSpike ? 500 : 0.5 + rnd(),
            tokens: s * 4096,
            tokens_per_s: 5000 + 500 * rnd(),
          });
        }
        const t0 = performance.now();
        await new Promise<void>((resolve) => {
          window.addEventListener('message', () => resolve(), { once: true });
          window.postMessage({ v: 1, type: 'metrics', rows }, '*');
        });
        const info = await window.__dashboard!.rendered();
        const bulkMs = performance.now() - t0;
        // Then the steady state: single rows arriving on top of 100k (median of 9).
        const appends: { total: number; render: number; downsample: number }[] = [];
        for (let k = 1; k <= 9; k++) {
          const t1 = performance.now();
          const row = { step: n + k, time: (n + k) * 0.1, train_loss: 2.5, val_loss: 2.6, lr: 2e-4, grad_norm: 0.7, tokens_per_s: 5100 };
          await new Promise<void>((resolve) => {
            window.addEventListener('message', () => resolve(), { once: true });
            window.postMessage({ v: 1, type: 'metrics', rows: [row] }, '*');
          });
          const r = await window.__dashboard!.rendered();
          appends.push({ total: performance.now() - t1, render: r.ms, downsample: r.downsampleMs });
        }
        appends.sort((a, b) => a.total - b.total);
        const med = appends[4];
        return { bulkMs, ingestMs: info.ingestMs, renderMs: info.ms, downsampleMs: info.downsampleMs, points: info.points, appendMs: med.total, appendRenderMs: med.render, appendDownsampleMs: med.downsample };
      },
      { n: N, spike: SPIKE_STEP, gradSpike: GRAD_SPIKE_STEP },
    );
    process.stderr.write(
      `[dashboard] 100,000 rows × 5 series in one message: posted → drawn in ${timing.bulkMs.toFixed(1)} ms ` +
        `(rows into the stores ${timing.ingestMs.toFixed(1)} ms, downsample ${timing.downsampleMs.toFixed(1)} ms, ` +
        `downsample + chart.js update/draw ${timing.renderMs.toFixed(1)} ms, ${timing.points} points drawn in all charts; the rest is postMessage's structured clone); ` +
        `then one row at a time (median of 9): ${timing.appendMs.toFixed(1)} ms (downsample ${timing.appendDownsampleMs.toFixed(1)} ms, render ${timing.appendRenderMs.toFixed(1)} ms)\n`,
    );

    for (const key of ['train_loss', 'val_loss', 'lr', 'grad_norm', 'tokens_per_s'] as const) {
      assert.equal(await h.page.evaluate((k) => window.__dashboard!.rawCount(k), key), N + 9, `${key} keeps every point`);
    }
    for (const chart of ['loss', 'lr', 'grad_norm', 'tokens_per_s'] as const) {
      const width = await h.page.evaluate((c) => window.__dashboard!.canvasWidth(c), chart);
      assert.ok(width > 100, `${chart} canvas width ${width}`);
      for (const ds of await drawn(h, chart)) {
        assert.ok(ds.points.length > width / 4, `${chart}/${ds.label}: ${ds.points.length} points drawn, too few for width ${width}`);
        assert.ok(ds.points.length <= 4 * width, `${chart}/${ds.label}: ${ds.points.length} points drawn > 4 × canvas width ${width}`);
        for (let i = 1; i < ds.points.length; i++) assert.ok(ds.points[i][0] >= ds.points[i - 1][0], 'points in step order');
      }
    }
    const hasPoint = (pts: [number, number][] | undefined, x: number, y: number) => !!pts?.some(([px, py]) => px === x && py === y);
    let loss = await drawn(h, 'loss');
    assert.ok(hasPoint(loss.find((d) => d.label === 'train loss (raw)')?.points, SPIKE_STEP, 1e4), 'loss spike among the drawn raw points');
    assert.ok(hasPoint((await drawn(h, 'grad_norm')).find((d) => d.label === 'grad norm (raw)')?.points, GRAD_SPIKE_STEP, 500), 'grad norm spike drawn');
    await setSmoothing(h, 0);
    await h.render();
    loss = await drawn(h, 'loss');
    assert.ok(hasPoint(loss.find((d) => d.label === 'train loss')?.points, SPIKE_STEP, 1e4), 'spike drawn without smoothing');

    // Zoomed in, the same budget covers fewer steps: still bounded, the spike still there.
    await h.page.evaluate(() => window.__dashboard!.zoom(40_000, 42_000));
    await h.render();
    const width = await h.page.evaluate(() => window.__dashboard!.canvasWidth('grad_norm'));
    const grad = (await drawn(h, 'grad_norm'))[0].points;
    assert.ok(grad.length <= 4 * width);
    assert.ok(hasPoint(grad, GRAD_SPIKE_STEP, 500));
    assert.ok(grad[1][0] >= 40_000 && grad[grad.length - 2][0] <= 42_000, 'inside the zoomed range (plus one point each side)');
    await h.assertClean();
    await h.page.context().close();
  });

  test('dragging across a chart zooms every chart to those steps; double-click resets', async () => {
    const h = await open('vscode-dark');
    await h.post({ v: 1, type: 'init', run: { ...RUN, max_steps: 1000 }, rows: rows(0, 1000) });
    await h.render();
    assert.equal(await resetDisabled(h), true);
    const box = (await h.page.locator('[data-chart="loss"] canvas').boundingBox())!;
    const y = box.y + box.height / 2;
    await h.page.mouse.move(box.x + box.width * 0.4, y);
    await h.page.mouse.down();
    await h.page.mouse.move(box.x + box.width * 0.5, y, { steps: 4 });
    assert.equal(await h.page.isVisible('[data-chart="loss"] .zoom-band'), true, 'band shown while dragging');
    await h.page.mouse.move(box.x + box.width * 0.6, y, { steps: 4 });
    await h.page.mouse.up();
    await h.render();
    assert.equal(await resetDisabled(h), false);
    const inner = (pts: [number, number][]) => pts.slice(1, -1).map(([x]) => x);
    const lr = (await drawn(h, 'lr'))[0].points;
    const xs = inner(lr);
    assert.ok(xs.length > 20 && xs.length < 500, `${xs.length} points inside the zoom`);
    assert.ok(Math.min(...xs) > 250 && Math.max(...xs) < 750, `zoomed to steps ${Math.min(...xs)}…${Math.max(...xs)}`);
    await h.page.mouse.move(box.x + box.width * 0.5, y);
    await h.page.screenshot({ path: path.join(OUT_DIR, 'dashboard-zoomed-tooltip-dark.png') });
    await h.page.mouse.dblclick(box.x + box.width * 0.5, y);
    await h.render();
    const whole = (await drawn(h, 'lr'))[0].points;
    assert.deepEqual([whole[0][0], whole[whole.length - 1][0]], [0, 999], 'all steps shown again');
    assert.equal(await resetDisabled(h), true);
    await h.assertClean();
    await h.page.context().close();
  });

  test('smoothing and log scale: changes are posted to the host; the workspace prefs in init are applied without echo', async () => {
    const h = await open('vscode-dark');
    await h.post({ v: 1, type: 'init', run: RUN, rows: rows(0, 30), prefs: { smoothing: 0.25, logY: true } });
    await h.render();
    assert.equal(await h.page.textContent('#smoothing-value'), '0.25');
    assert.equal(await h.page.$eval('#log-scale', (el) => (el as HTMLElement & { checked: boolean }).checked), true);
    assert.equal(await h.page.evaluate(() => window.__dashboard!.yScaleType('loss')), 'logarithmic');
    assert.deepEqual(await h.page.evaluate(() => window.__posted), [{ v: 1, type: 'ready' }], 'restored prefs are not posted back');
    await setSmoothing(h, 0.5);
    await h.page.click('#log-scale');
    const posted = (await h.page.evaluate(() => window.__posted)).slice(1);
    assert.deepEqual(posted, [
      { v: 1, type: 'prefs', prefs: { smoothing: 0.5, logY: true } },
      { v: 1, type: 'prefs', prefs: { smoothing: 0.5, logY: false } },
    ]);
    // init without saved prefs (null) keeps the page's own.
    await h.post({ v: 1, type: 'init', run: RUN, rows: rows(0, 30), prefs: null });
    assert.deepEqual(await h.page.evaluate(() => window.__dashboard!.preferences()), { smoothing: 0.5, logY: false });
    await h.assertClean();
    await h.page.context().close();
  });

  test('the step-0 validation point is drawn whole at the left edge; hovering between eval steps shows the nearest validation value', async () => {
    const h = await open('vscode-dark');
    await h.post({ v: 1, type: 'init', run: RUN, rows: rows(0, 40) });
    await setSmoothing(h, 0);
    await h.render();
    // The dot at step 0 sits on the plot's left edge: its left half must be drawn too. Look for
    // the orange of the validation loss (r > g > b) in the pixels just left of the edge.
    const p = (await h.page.evaluate(() => window.__dashboard!.pointPixel('loss', 'validation loss', 0)))!;
    assert.ok(Math.abs(p.x - p.area.left) < 0.5, `step 0 at the left edge (${p.x} vs ${p.area.left})`);
    const left = await h.page.evaluate(({ x, y }) => {
      const ctx = document.querySelector<HTMLCanvasElement>('[data-chart="loss"] canvas')!.getContext('2d')!;
      const out: number[][] = [];
      for (let dx = 1; dx <= 2; dx++) for (let dy = -1; dy <= 1; dy++) out.push(Array.from(ctx.getImageData(Math.floor(x) - dx, Math.round(y) + dy, 1, 1).data));
      return out;
    }, p);
    const orange = left.filter(([r, g, b]) => r > g && g > b && r - b > 60);
    assert.ok(orange.length > 0, `the dot's left half is drawn: pixels left of the edge ${JSON.stringify(left)}`);

    // Pointer at step 23: train loss at 23, validation loss at its nearest eval step, 20.
    const box = (await h.page.locator('[data-chart="loss"] canvas').boundingBox())!;
    const at = (await h.page.evaluate(() => window.__dashboard!.stepPixel('loss', 23)))!;
    await h.page.mouse.move(box.x + at.x, box.y + at.y);
    await h.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const lines = await h.page.evaluate(() => window.__dashboard!.tooltipLines('loss'));
    assert.equal(lines[0], 'step 23');
    assert.ok(lines.includes(`train loss: ${3 - 23 * 0.025}`), lines.join(' | '));
    assert.ok(lines.includes(`validation loss (step 20): ${3.1 - 20 * 0.02}`), lines.join(' | '));
    await h.page.mouse.move(box.x + (await h.page.evaluate(() => window.__dashboard!.stepPixel('loss', 27)))!.x, box.y + at.y);
    await h.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    assert.ok((await h.page.evaluate(() => window.__dashboard!.tooltipLines('loss'))).includes(`validation loss (step 30): ${3.1 - 30 * 0.02}`));
    await h.assertClean();
    await h.page.context().close();
  });

  test('resume markers at the steps the run was resumed from, on every chart, inside the visible range only', async () => {
    const h = await open('vscode-dark');
    await h.post({ v: 1, type: 'init', run: { ...RUN, resumes: [15] }, rows: rows(0, 40) });
    await h.render();
    const markers = (c: 'loss' | 'lr') => h.page.evaluate((name) => window.__dashboard!.resumeMarkers(name), c);
    assert.deepEqual(await markers('loss'), [15]);
    assert.deepEqual(await markers('lr'), [15]);
    await h.page.screenshot({ path: path.join(OUT_DIR, 'dashboard-resumed-dark.png') });
    await h.page.evaluate(() => window.__dashboard!.zoom(20, 30));
    await h.render();
    assert.deepEqual(await markers('loss'), []);
    await h.page.evaluate(() => window.__dashboard!.zoom(0, 39));
    // Resumed again (a status change carries the list).
    await h.post({ v: 1, type: 'status', status: 'running', step: 39, error: null, finished_at: null, resumes: [15, 30] });
    await h.render();
    assert.deepEqual(await markers('loss'), [15, 30]);
    await h.assertClean();
    await h.page.context().close();
  });

  test('hyperparameters: a heading per section, keys without the prefix, none wrapping onto three lines', async () => {
    const h = await open('vscode-light');
    const hyperparameters = {
      'lora.r': 16,
      'lora.target_modules': 'q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj',
      'training.per_device_train_batch_size': 8,
      'training.gradient_accumulation_steps': 1,
      'training.lr_scheduler_type': 'cosine',
      'data.completion_only_loss': true,
      device: 'cpu',
    };
    await h.post({ v: 1, type: 'init', run: { ...RUN, hyperparameters }, rows: rows(0, 5) });
    await h.render();
    const cells = () =>
      h.page.$$eval('#hyperparameters-body vscode-table-row', (rs) =>
        rs.map((r) => {
          const key = r.querySelector('.key') as HTMLElement;
          return { text: key.textContent ?? '', title: key.title, section: r.classList.contains('section'), height: key.getBoundingClientRect().height };
        }),
      );
    for (const width of [1200, 1010]) {
      await h.page.setViewportSize({ width, height: 900 });
      await h.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      const got = await cells();
      assert.deepEqual(
        got.map((c) => (c.section ? `[${c.text}]` : `${c.text}=${c.title}`)),
        ['[lora]', 'r=lora.r', 'target_modules=lora.target_modules', '[training]', 'per_device_train_batch_size=training.per_device_train_batch_size', 'gradient_accumulation_steps=training.gradient_accumulation_steps', 'lr_scheduler_type=training.lr_scheduler_type', '[data]', 'completion_only_loss=data.completion_only_loss', 'device=device'],
      );
      // One line is the height of the "r" key's cell; the long keys take at most two.
      const one = got.find((c) => c.text === 'r')!.height;
      for (const c of got) assert.ok(c.height < one * 2.5, `${width}px: "${c.text}" is ${c.height}px high, ${(c.height / one).toFixed(1)} lines`);
    }
    await h.page.setViewportSize({ width: 1200, height: 900 });
    await h.page.screenshot({ path: path.join(OUT_DIR, 'dashboard-hyperparameters-light.png') });
    await h.assertClean();
    await h.page.context().close();
  });

  test('chart captions fit on one line, so the small charts\' plots line up; an abbreviated one has the full title as tooltip', async () => {
    const h = await open('vscode-light');
    await h.post({ v: 1, type: 'init', run: RUN, rows: rows(0, 5) });
    await h.render();
    // Issue case: "Gradient norm (before clipping)" wrapped onto two lines in a ~1000 px panel,
    // so its plot sat lower than its neighbours'.
    for (const width of [1200, 1010, 900]) {
      await h.page.setViewportSize({ width, height: 900 });
      await h.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      const figs = await h.page.$$eval('figure.chart', (fs) =>
        fs.map((f) => {
          const cap = f.querySelector('figcaption') as HTMLElement;
          const box = f.querySelector('.canvas-box') as HTMLElement;
          return { name: (f as HTMLElement).dataset.chart!, text: cap.textContent ?? '', tip: cap.title, capHeight: cap.getBoundingClientRect().height, lineHeight: parseFloat(getComputedStyle(cap).lineHeight) || parseFloat(getComputedStyle(cap).fontSize) * 1.4, top: box.getBoundingClientRect().top, hidden: f.hasAttribute('hidden') || (f as HTMLElement).offsetParent === null };
        }),
      );
      for (const f of figs.filter((f) => !f.hidden)) assert.ok(f.capHeight < f.lineHeight * 1.5, `${width}px: "${f.text}" caption is ${f.capHeight}px high (line ${f.lineHeight}px)`);
      const small = figs.filter((f) => !f.hidden && ['lr', 'grad_norm', 'tokens_per_s'].includes(f.name));
      assert.equal(small.length, 3);
      // Charts side by side have their plots at one height (a chart that wrapped to the next row is fine).
      for (const f of small) for (const g of small) if (Math.abs(f.top - g.top) < 40) assert.ok(Math.abs(f.top - g.top) < 1, `${width}px: ${f.name} plot at ${f.top}, ${g.name} at ${g.top}`);
      assert.equal(figs.find((f) => f.name === 'grad_norm')!.tip, 'Gradient norm before clipping');
    }
    await h.page.setViewportSize({ width: 1200, height: 900 });
    await h.assertClean();
    await h.page.context().close();
  });

  test('screenshots in light, dark and high contrast; chart colours follow the theme', async () => {
    const h = await open('vscode-light');
    const steps = 1200;
    const rs: MetricsRowLike[] = [];
    let seed = 7;
    const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    for (let s = 0; s <= steps; s++) {
      const lr = s < 30 ? (2e-4 * s) / 30 : 2e-4 * 0.5 * (1 + Math.cos((Math.PI * (s - 30)) / (1500 - 30)));
      const base = 1.55 + 1.7 * Math.exp(-s / 220);
      const r: MetricsRowLike = { step: s, time: s * 1.03, tokens: s * 4096 };
      if (s > 0) Object.assign(r, { train_loss: base + 0.18 * (rnd() - 0.5) + (s === 640 ? 0.9 : 0), lr, grad_norm: 0.35 + 0.6 * Math.exp(-s / 150) + 0.15 * rnd() + (s === 640 ? 2.2 : 0), tokens_per_s: 3900 + 250 * rnd() - (s < 3 ? 1500 : 0) });
      if (s % 50 === 0) r.val_loss = base + 0.06;
      rs.push(r);
    }
    const run: RunFacts = {
      ...RUN,
      max_steps: 1500,
      step: steps,
      created_at: new Date(Date.now() - steps * 1030).toISOString(),
      hyperparameters: {
        'lora.r': 16,
        'lora.lora_alpha': 32,
        'lora.lora_dropout': 0,
        'lora.target_modules': 'all-linear',
        'lora.use_rslora': false,
        'training.learning_rate': 0.0002,
        'training.lr_scheduler_type': 'cosine',
        'training.warmup_steps': 30,
        'training.max_steps': 1500,
        'training.per_device_train_batch_size': 8,
        'training.gradient_accumulation_steps': 1,
        'training.max_grad_norm': 1,
        'training.weight_decay': 0,
        'training.eval_steps': 50,
        'training.seed': 0,
        'data.max_seq_length': 512,
        'data.packing': false,
        'data.completion_only_loss': true,
      },
    };
    await h.post({ v: 1, type: 'init', run, rows: rs });
    await h.render();

    const expectBlue: Record<Theme, string> = { 'vscode-light': '#1a85ff', 'vscode-dark': '#3794ff', 'vscode-high-contrast': '#3794ff' };
    const expectBg: Record<Theme, string> = { 'vscode-light': 'rgb(255, 255, 255)', 'vscode-dark': 'rgb(31, 31, 31)', 'vscode-high-contrast': 'rgb(0, 0, 0)' };
    for (const theme of ['vscode-light', 'vscode-dark', 'vscode-high-contrast'] as const) {
      await h.page.evaluate((t) => {
        document.body.className = t;
      }, theme);
      // The theme watcher reacts on the next frame; the render after that uses the new colours.
      await h.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      await h.render();
      const loss = await drawn(h, 'loss');
      assert.equal(loss.find((d) => d.label === 'train loss')?.color, expectBlue[theme], `${theme}: train loss colour`);
      assert.equal(await h.page.evaluate(() => getComputedStyle(document.body).backgroundColor), expectBg[theme]);
      const file = path.join(OUT_DIR, `dashboard-${theme.replace('vscode-', '')}.png`);
      await h.page.screenshot({ path: file });
      process.stderr.write(`[dashboard] screenshot ${path.relative(ROOT, file)}\n`);
    }
    // A narrow editor column: the tables go below the charts, the charts stack. Log scale on.
    await h.page.setViewportSize({ width: 640, height: 900 });
    await h.page.click('#log-scale');
    await h.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    await h.render();
    await h.page.screenshot({ path: path.join(OUT_DIR, 'dashboard-narrow-log-high-contrast.png') });
    await h.assertClean();
    await h.page.context().close();
  });

  test('eval-set curves: a chart beside the loss only once rows carry eval/<set>/<metric>; screenshots in three themes', async () => {
    const h = await open('vscode-light');
    await h.post({ v: 1, type: 'init', run: { ...RUN, status: 'completed', step: 60, max_steps: 60 }, rows: rows(0, 40) });
    await h.render();
    assert.equal(await h.page.evaluate(() => window.__dashboard!.evalShown()), false, 'no eval keys: no eval chart');
    assert.deepEqual(await h.page.evaluate(() => window.__dashboard!.evalData()), []);
    // Checkpoints at 20, 40 and 60 ran two eval sets; one metric is missing at step 40.
    const more = rows(40, 61);
    const at = (s: number) => more.find((r) => r.step === s)!;
    Object.assign(at(40), { 'eval/qa/exact': 0.25, 'eval/qa/pass_rate': 0.5, 'eval/stories/rouge_l': 0.31 });
    Object.assign(at(50), { 'eval/qa/exact': 0.5, 'eval/stories/rouge_l': 0.42 });
    Object.assign(at(60), { 'eval/qa/exact': 0.75, 'eval/qa/pass_rate': 1, 'eval/stories/rouge_l': 0.47 });
    (at(45) as unknown as Record<string, unknown>)['eval/not-a-key'] = 9; // not eval/<set>/<metric>: ignored
    await h.post({ v: 1, type: 'metrics', rows: more });
    await h.render();
    assert.equal(await h.page.evaluate(() => window.__dashboard!.evalShown()), true);
    const data = await h.page.evaluate(() => window.__dashboard!.evalData());
    assert.deepEqual(
      data.map((d) => [d.label, d.points]),
      [
        ['qa/exact', [[40, 0.25], [50, 0.5], [60, 0.75]]],
        ['qa/pass_rate', [[40, 0.5], [60, 1]]],
        ['stories/rouge_l', [[40, 0.31], [50, 0.42], [60, 0.47]]],
      ],
    );
    // The loss chart still has its series; the eval chart follows the zoom.
    assert.ok((await drawn(h, 'loss')).some((d) => d.label === 'validation loss'));
    // Zoomed to steps 41…49: the points just outside it (40 and 50) carry the line to the edges; 60 is left out.
    await h.page.evaluate(() => window.__dashboard!.zoom(41, 49));
    await h.render();
    assert.deepEqual((await h.page.evaluate(() => window.__dashboard!.evalData()))[0].points, [[40, 0.25], [50, 0.5]]);
    await h.page.evaluate(() => window.__dashboard!.zoom(0, 60));
    for (const theme of ['vscode-light', 'vscode-dark', 'vscode-high-contrast'] as const) {
      await h.page.evaluate((t) => {
        document.body.className = t;
      }, theme);
      await h.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      await h.render();
      const file = path.join(OUT_DIR, `dashboard-eval-${theme.replace('vscode-', '')}.png`);
      await h.page.screenshot({ path: file });
      process.stderr.write(`[dashboard] screenshot ${path.relative(ROOT, file)}\n`);
    }
    // A new init without eval keys hides the chart again.
    await h.post({ v: 1, type: 'init', run: RUN, rows: rows(0, 10) });
    await h.render();
    assert.equal(await h.page.evaluate(() => window.__dashboard!.evalShown()), false);
    await h.assertClean();
    await h.page.context().close();
  });
});
