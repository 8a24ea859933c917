/**
 * The Compare webview in headless Chromium (see compare-harness.ts): the page the extension
 * serves, with its CSP. Two small runs whose numbers the test computes itself (best and last
 * validation loss, the step of the best, tokens/s, smoothing by a float64 de-biased EMA written
 * here) check the runs table, sorting, the differences-only toggle, the CSV, the curves, the
 * hover readout, the axes and the exports; then screenshots of 2 and 100 runs in light, dark
 * and high contrast go to test-output/ (compare-*.png). Speed is `npm run bench:compare`, not a test.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import type { CompareRun, CompareSeries } from '../../src/protocol/compare';
import { ROOT } from '../helpers/paths';
import { CompareBrowser, HAVE_CHROMIUM, SKIP_REASON, SYNTHETIC_RUNS_SOURCE, type ComparePageHandle, type ThemeClass } from './compare-harness';

if (!HAVE_CHROMIUM) process.stderr.write(`\n[compare webview tests SKIPPED] ${SKIP_REASON}\n\n`);
const OUT_DIR = path.join(ROOT, 'test-output');

/** Rows of a run: train loss every step, validation every 5 steps (from step 0). */
interface Row {
  step: number;
  time: number;
  tokens: number;
  train?: number;
  val?: number;
}

function rowsOf(train: (s: number) => number, val: (s: number) => number, steps: number, tokensPerStep: number, secondsPerStep: number): Row[] {
  const rows: Row[] = [];
  for (let s = 0; s <= steps; s++) {
    const r: Row = { step: s, time: s * secondsPerStep, tokens: s * tokensPerStep };
    if (s > 0) r.train = train(s);
    if (s % 5 === 0) r.val = val(s);
    rows.push(r);
  }
  return rows;
}

/** The protocol's columns from rows — plain arrays here; the page gets Float64Arrays. */
function series(rows: Row[], key: 'train' | 'val'): CompareSeries {
  const kept = rows.filter((r) => r[key] !== undefined);
  return {
    step: Float64Array.from(kept, (r) => r.step),
    time: Float64Array.from(kept, (r) => r.time),
    tokens: Float64Array.from(kept, (r) => r.tokens),
    value: Float64Array.from(kept, (r) => r[key]!),
  };
}

// Run A: val loss 3 − s/10 down to step 15, then rising: best 1.5 at step 15, last 2.0 at 20.
const ROWS_A = rowsOf((s) => 3 - s / 20 + (s % 2 ? 0.1 : -0.1), (s) => (s <= 15 ? 3 - s / 10 : 1.5 + (s - 15) / 10), 20, 1000, 2);
// Run B: val loss 2.5 − s/20 (best = last = 1.5 at step 20); twice the tokens per step.
const ROWS_B = rowsOf((s) => 2.8 - s / 25, (s) => 2.5 - s / 20, 20, 2000, 4);

function makeRun(id: string, rows: Row[], over: { hyper: Record<string, string | number | boolean | null>; status?: CompareRun['status']; adapter?: number | null; perEpoch?: number | null }): CompareRun {
  const vals = rows.filter((r) => r.val !== undefined);
  const last = rows.at(-1)!;
  let best = Infinity;
  let bestStep = -1;
  for (const r of vals) if (r.val! < best) [best, bestStep] = [r.val!, r.step];
  return {
    id,
    name: id.replace(/-\d+$/, ''),
    run_dir: `/ws/.loralab/runs/${id}`,
    status: over.status ?? 'completed',
    created_at: '2026-11-29T10:00:00.000Z',
    summary: {
      steps: last.step,
      max_steps: 20,
      tokens: last.tokens,
      wall_time_s: last.time,
      tokens_per_s: last.tokens / last.time,
      best_val_loss: best,
      best_val_step: bestStep,
      last_val_loss: vals.at(-1)!.val!,
      adapter_bytes: over.adapter ?? null,
    },
    hyperparameters: over.hyper,
    steps_per_epoch: over.perEpoch ?? null,
    epoch_note: over.perEpoch ? null : 'packing is on: run.json does not record the packed rows per epoch',
    model: '/models/stories260K',
    adapter_dir: over.adapter ? `/ws/.loralab/runs/${id}/adapter` : null,
    train: series(rows, 'train'),
    val: series(rows, 'val'),
    evals: {},
  };
}

const COMMON = { 'lora.lora_alpha': 32, 'lora.target_modules': 'all-linear', 'training.seed': 0 };
const RUN_A = makeRun('stories-r8-1', ROWS_A, { hyper: { 'lora.r': 8, ...COMMON, 'training.learning_rate': 2e-4 }, adapter: 1_234_567, perEpoch: 10 });
const RUN_B = makeRun('stories-r16-2', ROWS_B, { hyper: { 'lora.r': 16, ...COMMON, 'training.learning_rate': 1e-3 }, status: 'stopped' });

/** De-biased EMA in float64, written from TensorBoard's definition (not the page's code). */
function ema(values: number[], w: number): number[] {
  let last = 0;
  return values.map((x, i) => {
    last = last * w + (1 - w) * x;
    return last / (1 - w ** (i + 1));
  });
}

describe('compare webview (headless Chromium)', { skip: HAVE_CHROMIUM ? false : SKIP_REASON }, () => {
  let cb: CompareBrowser;

  before(async () => {
    cb = await CompareBrowser.launch();
    mkdirSync(OUT_DIR, { recursive: true });
  });

  after(async () => {
    await cb?.close();
  });

  const post = (h: ComparePageHandle, msg: unknown) => h.post(msg);
  const render = (h: ComparePageHandle) => h.page.evaluate(() => window.__compare!.rendered());
  /**
   * The whole page: the viewport grown to the page's height and the charts re-rendered first
   * (Playwright's fullPage capture resizes the page under chart.js mid-shot: blank charts).
   */
  const fullShot = async (h: ComparePageHandle, name: string) => {
    const size = h.page.viewportSize()!;
    // Twice: charts sized by the viewport's height make the page taller once it grows.
    for (let i = 0; i < 2; i++) {
      const height = await h.page.evaluate(() => document.documentElement.scrollHeight);
      await h.page.setViewportSize({ width: size.width, height });
      await h.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    }
    await render(h);
    await h.page.screenshot({ path: path.join(OUT_DIR, name) });
    await h.page.setViewportSize(size);
    await render(h);
  };
  const assertClean = (h: ComparePageHandle) => h.assertClean();
  /** Posts the two runs (typed arrays are rebuilt in the page: evaluate() carries JSON only). */
  const initTwo = (h: ComparePageHandle, problems: unknown[] = [], runs: CompareRun[] = [RUN_A, RUN_B], preset: unknown = null) =>
    h.page.evaluate(
      ({ runs, problems, preset }) =>
        new Promise<void>((resolve) => {
          const revive = (s: Record<string, number[]>) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, Float64Array.from(v)]));
          const data = runs.map((r) => ({
            ...r,
            train: revive(r.train as never),
            val: revive(r.val as never),
            evals: Object.fromEntries(Object.entries(r.evals as Record<string, never>).map(([k, v]) => [k, revive(v)])),
          }));
          window.addEventListener('message', () => resolve(), { once: true });
          window.postMessage({ v: 1, type: 'init', runs: data, problems, preset }, '*');
        }),
      { runs: runs.map(plain), problems, preset },
    );

  test('runs table, sorting, differences only, CSV, exports', async () => {
    const h = await cb.open('vscode-light');
    assert.deepEqual(await h.page.evaluate(() => window.__posted), [{ v: 1, type: 'ready' }]);
    await initTwo(h, [{ run_dir: '/ws/.loralab/runs/broken', reason: '/ws/.loralab/runs/broken/run.json: expected a JSON object' }]);
    await render(h);

    // Default order: best validation loss ascending; A (1.5 at 15) and B (1.5 at 20) tie → by id.
    const table = await h.page.evaluate(() => window.__compare!.runsTable());
    assert.deepEqual(table, [
      // id, status, best, at step, last, steps, tokens, wall time, tokens/s, adapter
      ['stories-r16-2', 'stopped', '1.5000', '20', '1.5000', '20 / 20', '40,000', '1m 20s', '500', '—'],
      ['stories-r8-1', 'completed', '1.5000', '15', '2.0000', '20 / 20', '20,000', '40s', '500', '1.23 MB'],
    ]);
    assert.match((await h.page.textContent('#problems'))!, /broken\/run\.json: expected a JSON object/);
    assert.equal(await h.page.textContent('#title'), 'Compare 2 runs');

    // Sort by last validation loss: click → ascending, again → descending.
    const order = () => h.page.evaluate(() => window.__compare!.runsTable().map((r) => r[0]));
    await h.page.click('th[data-key="last_val_loss"] button');
    await render(h);
    assert.deepEqual(await order(), ['stories-r16-2', 'stories-r8-1']);
    assert.equal(await h.page.getAttribute('th[data-key="last_val_loss"]', 'aria-sort'), 'ascending');
    await h.page.click('th[data-key="last_val_loss"] button');
    await render(h);
    assert.deepEqual(await order(), ['stories-r8-1', 'stories-r16-2']);
    assert.equal(await h.page.getAttribute('th[data-key="last_val_loss"]', 'aria-sort'), 'descending');
    // Adapter size: a run without one sorts last in both directions.
    await h.page.click('th[data-key="adapter_bytes"] button');
    await render(h);
    assert.deepEqual(await order(), ['stories-r8-1', 'stories-r16-2']);
    await h.page.click('th[data-key="adapter_bytes"] button');
    await render(h);
    assert.deepEqual(await order(), ['stories-r8-1', 'stories-r16-2']);

    // Hyperparameters: only lora.r and learning_rate differ.
    let hyper = await h.page.evaluate(() => window.__compare!.hyperTable());
    assert.deepEqual(hyper.keys, ['lora.r', 'training.learning_rate']);
    assert.deepEqual(hyper.rows, [
      ['stories-r8-1', '8', '2e-4'],
      ['stories-r16-2', '16', '0.001'],
    ]);
    await h.page.click('#diff-only');
    await render(h);
    hyper = await h.page.evaluate(() => window.__compare!.hyperTable());
    assert.deepEqual(hyper.keys, ['lora.r', 'lora.lora_alpha', 'lora.target_modules', 'training.seed', 'training.learning_rate']);
    assert.deepEqual(hyper.rows[0], ['stories-r8-1', '8', '32', 'all-linear', '0', '2e-4']);
    assert.equal((await h.page.evaluate(() => window.__state as { prefs: { diffOnly: boolean } })).prefs.diffOnly, false);

    // CSV: the table's order, unformatted numbers, every hyperparameter; RFC 4180 quoting.
    const csv = await h.page.evaluate(() => window.__compare!.csv());
    const lines = csv.split('\r\n');
    assert.equal(lines.at(-1), '');
    assert.equal(lines[0], 'id,name,status,best_val_loss,best_val_step,last_val_loss,steps,max_steps,tokens,wall_time_s,tokens_per_s,adapter_bytes,run_dir,lora.r,lora.lora_alpha,lora.target_modules,training.seed,training.learning_rate');
    assert.equal(lines[1], 'stories-r8-1,stories-r8,completed,1.5,15,2,20,20,20000,40,500,1234567,/ws/.loralab/runs/stories-r8-1,8,32,all-linear,0,0.0002');
    assert.equal(lines[2], 'stories-r16-2,stories-r16,stopped,1.5,20,1.5,20,20,40000,80,500,,/ws/.loralab/runs/stories-r16-2,16,32,all-linear,0,0.001');
    assert.equal(lines.length, 4);

    // Exports post typed messages; the host saves them.
    await h.page.click('#export-csv');
    await h.page.click('.export-png[data-chart="val"]');
    const posted = (await h.page.evaluate(() => window.__posted)) as { type: string; csv?: string; chart?: string; data_url?: string }[];
    assert.equal(posted[1].type, 'exportCsv');
    assert.equal(posted[1].csv, csv);
    assert.equal(posted[2].type, 'exportPng');
    assert.equal(posted[2].chart, 'val');
    assert.match(posted[2].data_url!, /^data:image\/png;base64,iVBORw0KGgo/); // the PNG signature

    // Double-click opens the run's dashboard.
    await h.page.dblclick('#runs-table tbody tr:first-child td:nth-child(3)');
    const last = ((await h.page.evaluate(() => window.__posted)) as { type: string; run_dir?: string }[]).at(-1)!;
    assert.deepEqual(last, { v: 1, type: 'openDashboard', run_dir: RUN_A.run_dir });
    await assertClean(h);
    await h.close();
  });

  test('curves: one colour per run, smoothing, log scale, axes, zoom, hover readout, highlight', async () => {
    const h = await cb.open('vscode-dark');
    await initTwo(h);
    await h.page.evaluate(() => window.__compare!.setSmoothing(0.6));
    await render(h);
    const trainA = ROWS_A.filter((r) => r.train !== undefined);
    let train = await h.page.evaluate(() => window.__compare!.chartData('train'));
    assert.deepEqual(train.map((d) => d.label), [RUN_A.id, RUN_B.id]);
    assert.notEqual(train[0].color, train[1].color);
    const expected = ema(trainA.map((r) => r.train!), 0.6);
    assert.equal(train[0].points.length, 20);
    train[0].points.forEach(([x, y], i) => {
      assert.equal(x, trainA[i].step);
      assert.ok(Math.abs(y - expected[i]) < 1e-12, `smoothed[${i}] ${y} vs ${expected[i]}`);
    });
    // Validation loss is drawn raw, smoothing or not.
    const val = await h.page.evaluate(() => window.__compare!.chartData('val'));
    assert.deepEqual(val[0].points, ROWS_A.filter((r) => r.val !== undefined).map((r) => [r.step, r.val]));

    // Hover at step 12: every run's value at its nearest logged point, lowest first.
    const at12 = await h.page.evaluate(() => window.__compare!.valuesAt('val', 12));
    assert.deepEqual(at12.map((e) => [e.id, e.x, e.value]), [
      [RUN_B.id, 10, 2.5 - 10 / 20],
      [RUN_A.id, 10, 3 - 10 / 10],
    ]);

    // Tokens axis: B saw twice the tokens per step, so its curve ends at 40,000.
    await h.page.selectOption('#x-axis', 'tokens');
    await render(h);
    train = await h.page.evaluate(() => window.__compare!.chartData('train'));
    assert.equal(train[1].points.at(-1)![0], 40_000);
    assert.equal(train[0].points.at(-1)![0], 20_000);
    // Epoch axis: only A knows its steps per epoch (10); B is left out, with the reason shown.
    await h.page.selectOption('#x-axis', 'epoch');
    await render(h);
    train = await h.page.evaluate(() => window.__compare!.chartData('train'));
    assert.equal(train[0].points.at(-1)![0], 2);
    assert.deepEqual(train[1].points, []);
    assert.match((await h.page.textContent('#axis-note'))!, /1 of 2 runs are left out \(packing is on.*\): stories-r16-2/);
    // Wall time.
    await h.page.selectOption('#x-axis', 'time');
    await render(h);
    train = await h.page.evaluate(() => window.__compare!.chartData('train'));
    assert.equal(train[1].points.at(-1)![0], 80);

    // Log scale and zoom.
    await h.page.selectOption('#x-axis', 'step');
    await h.page.click('#log-scale');
    await render(h);
    assert.equal(await h.page.evaluate(() => window.__compare!.yScaleType('train')), 'logarithmic');
    await h.page.evaluate(() => window.__compare!.zoom(5, 10));
    await render(h);
    const zoomed = await h.page.evaluate(() => window.__compare!.chartData('val'));
    assert.deepEqual(zoomed[0].points.map((p) => p[0]), [0, 5, 10, 15], 'the zoomed range plus one point either side');
    assert.equal(await h.page.$eval('#reset-zoom', (el) => (el as HTMLElement & { disabled: boolean }).disabled), false);

    // Row click highlights the run (its line on top, the others faded); a second click clears.
    await h.page.click(`#runs-table tbody tr[data-run-dir="${RUN_B.run_dir}"]`);
    await render(h);
    assert.equal(await h.page.evaluate(() => window.__compare!.highlight()), RUN_B.run_dir);
    const colors = (await h.page.evaluate(() => window.__compare!.chartData('train'))).map((d) => d.color);
    assert.match(colors[0], /rgba\(.*0\.2\)/);
    assert.doesNotMatch(colors[1], /rgba\(.*0\.2\)/);
    await h.page.click(`#runs-table tbody tr[data-run-dir="${RUN_B.run_dir}"]`);
    assert.equal(await h.page.evaluate(() => window.__compare!.highlight()), null);

    // Scatter: learning rate (log x) against best validation loss, one series per rank.
    assert.equal(await h.page.evaluate(() => window.__compare!.scatterXScaleType()), 'logarithmic');
    await render(h);
    const runColor = Object.fromEntries((await h.page.evaluate(() => window.__compare!.chartData('train'))).map((d) => [d.label, d.color]));
    assert.deepEqual(await h.page.evaluate(() => window.__compare!.scatterData()), [
      { label: 'r = 8', shape: 'circle', points: [[2e-4, 1.5, RUN_A.id, runColor[RUN_A.id]]] },
      { label: 'r = 16', shape: 'rect', points: [[1e-3, 1.5, RUN_B.id, runColor[RUN_B.id]]] },
    ]);
    // Issue case: points at 2e-4 and 1e-3 (axis 1e-4–2e-3) were labelled "5e-4, 0.001, 0.0015,
    // 0.002": two notations, nothing at 2e-4. Now 1, 2, 5 × 10^k, all in exponent form.
    assert.deepEqual(await h.page.evaluate(() => window.__compare!.scatterXTicks()), [
      { value: 1e-4, label: '1e-4' },
      { value: 2e-4, label: '2e-4' },
      { value: 5e-4, label: '5e-4' },
      { value: 1e-3, label: '1e-3' },
      { value: 2e-3, label: '2e-3' },
    ]);
    await h.page.selectOption('#scatter-key', 'lora.r');
    await render(h);
    assert.equal(await h.page.evaluate(() => window.__compare!.scatterXScaleType()), 'linear');

    // Invalid messages are dropped; prefs are saved for a reload.
    await post(h, { v: 2, type: 'init', runs: [], problems: [] });
    await post(h, { v: 1, type: 'init', runs: [{ id: 'x' }], problems: [] });
    assert.equal((await h.page.evaluate(() => window.__compare!.runsTable())).length, 2);
    const saved = (await h.page.evaluate(() => window.__state)) as { prefs: { smoothing: number; logY: boolean; axis: string; scatterKey: string }; runDirs: string[] };
    assert.deepEqual([saved.prefs.smoothing, saved.prefs.logY, saved.prefs.axis, saved.prefs.scatterKey], [0.6, true, 'step', 'lora.r']);
    assert.deepEqual(saved.runDirs, [RUN_A.run_dir, RUN_B.run_dir]);
    await assertClean(h);
    await h.close();
  });

  test('y axis fits the visible losses (linear and log, zoomed and not): issue case 1.2–1.5 and 2.5–5.5; runs named experiment · start time', async () => {
    // Two runs whose losses lie far from chart.js's empty-axis defaults (0–1 linear, 1–10 log).
    const low = rowsOf((s) => 1.5 - (0.3 * s) / 20, (s) => 1.5 - (0.3 * s) / 20, 20, 1000, 2); // 1.5 → 1.2
    const high = rowsOf((s) => 5.5 - (3 * s) / 20, (s) => 5.5 - (3 * s) / 20, 20, 1000, 2); // 5.5 → 2.5
    const hyper = { 'lora.r': 8, ...COMMON, 'training.learning_rate': 1e-3 };
    const h = await cb.open('vscode-light');
    // Run ids carry their start time: named "experiment · start time" in the table and legend.
    await initTwo(h, [], [{ ...makeRun('tiny-20261206-235707', low, { hyper }), name: 'tiny' }, { ...makeRun('tiny-hi-20261206-235724', high, { hyper }), name: 'tiny-hi' }]);
    await render(h);
    assert.deepEqual((await h.page.evaluate(() => window.__compare!.runsTable())).map((r) => r[0]), ['tiny · 2026-12-06 23:57:07', 'tiny-hi · 2026-12-06 23:57:24']);
    assert.deepEqual((await h.page.evaluate(() => window.__compare!.hyperTable())).rows.map((r) => r[0]), ['tiny · 2026-12-06 23:57:07', 'tiny-hi · 2026-12-06 23:57:24']);
    assert.deepEqual((await h.page.evaluate(() => window.__compare!.chartData('train'))).map((d) => d.label), ['tiny · 2026-12-06 23:57:07', 'tiny-hi · 2026-12-06 23:57:24']);
    assert.equal(await h.page.getAttribute('#hyper-table tbody th', 'title'), 'tiny-20261206-235707', 'the id stays in the tooltip');
    await h.page.evaluate(() => window.__compare!.setSmoothing(0));
    /** Every drawn point inside the visible x range lies inside the y scale; the scale is not 10× wider than the data. */
    const check = async (what: string, lo: number, hi: number, xmin = -Infinity, xmax = Infinity) => {
      await render(h);
      for (const name of ['train', 'val'] as const) {
        const range = await h.page.evaluate((n) => window.__compare!.yRange(n), name);
        assert.ok(range, `${what} ${name}: a y scale`);
        const ys = (await h.page.evaluate((n) => window.__compare!.chartData(n), name)).flatMap((d) => d.points.filter(([x]) => x >= xmin && x <= xmax).map(([, y]) => y));
        const dmin = Math.min(...ys);
        const dmax = Math.max(...ys);
        assert.ok(dmin >= lo - 1e-9 && dmax <= hi + 1e-9, `${what} ${name}: data ${dmin}–${dmax} within the expected ${lo}–${hi}`);
        assert.ok(range.min <= dmin && range.max >= dmax, `${what} ${name}: y scale ${range.min}–${range.max} must contain the data ${dmin}–${dmax}`);
        assert.ok(range.max - range.min <= 2 * (dmax - dmin) + 0.5, `${what} ${name}: y scale ${range.min}–${range.max} fits the data ${dmin}–${dmax}`);
      }
    };
    await check('linear', 1.2, 5.5);
    await h.page.click('#log-scale');
    await check('log', 1.2, 5.5);
    // Zoomed to steps 10–20: low 1.35–1.2, high 4–2.5 (one point either side may be drawn).
    await h.page.evaluate(() => window.__compare!.zoom(10, 20));
    await check('log zoomed', 1.2, 5.5, 10, 20);
    await h.page.click('#log-scale');
    await check('linear zoomed', 1.2, 5.5, 10, 20);
    await h.page.locator('figure[data-chart="train"]').screenshot({ path: path.join(OUT_DIR, 'compare-y-range-light.png') });
    await assertClean(h);
    await h.close();
  });

  test('scatter: each point in its run\'s colour (rank = marker shape), log-x labels cover the visible range; screenshots', async () => {
    // Issue case: the r = 8 run comes first (first run colour), the r = 4 runs after it; the
    // ranks sort r = 4 first, so colouring series by rank swapped the runs' colours.
    const hyper = (r: number, lr: number) => ({ 'lora.r': r, ...COMMON, 'training.learning_rate': lr });
    // Validation loss falling linearly to `best` at step 20.
    const rows = (best: number) => rowsOf((s) => 3 - s / 20, (s) => 3 - ((3 - best) * s) / 20, 20, 1000, 2);
    const runs = [
      makeRun('sweep-r8-lr4e-3', rows(1.3), { hyper: hyper(8, 0.004) }),
      makeRun('sweep-r4-lr2e-3', rows(1.6), { hyper: hyper(4, 0.002) }),
      makeRun('sweep-r4-lr4e-3', rows(1.4), { hyper: hyper(4, 0.004) }),
      makeRun('sweep-r8-lr2e-3', rows(1.5), { hyper: hyper(8, 0.002) }),
    ];
    for (const theme of ['vscode-light', 'vscode-dark'] as ThemeClass[]) {
      const h = await cb.open(theme, { viewport: { width: 1100, height: 900 } });
      await initTwo(h, [], runs);
      await render(h);
      const curves = await h.page.evaluate(() => window.__compare!.chartData('train'));
      const runColor = new Map(curves.map((d) => [d.label, d.color]));
      assert.equal(new Set(runColor.values()).size, 4, 'four runs, four colours');
      // The runs table's swatches carry the same colours as the curves.
      const swatches = await h.page.$$eval('#runs-table tbody tr', (rows) =>
        rows.map((tr) => [(tr as HTMLElement).dataset.runDir!.split('/').at(-1)!, (tr.querySelector('.swatch') as HTMLElement).style.getPropertyValue('--swatch')]),
      );
      assert.deepEqual(new Map(swatches as [string, string][]), runColor);
      const scatter = await h.page.evaluate(() => window.__compare!.scatterData());
      assert.deepEqual(
        scatter.map((s) => s.label),
        ['r = 4', 'r = 8'],
      );
      assert.notEqual(scatter[0].shape, scatter[1].shape, 'ranks differ by marker shape');
      for (const s of scatter) for (const [, , id, color] of s.points) assert.equal(color, runColor.get(id), `${id}: scatter colour = curve colour`);
      assert.deepEqual(
        scatter.map((s) => s.points.map((p) => [p[0], +p[1].toFixed(9), p[2]])),
        [
          [[0.002, 1.6, 'sweep-r4-lr2e-3'], [0.004, 1.4, 'sweep-r4-lr4e-3']],
          [[0.002, 1.5, 'sweep-r8-lr2e-3'], [0.004, 1.3, 'sweep-r8-lr4e-3']],
        ],
      );
      // Log x: the labelled ticks name the data's own range, not just "0.001" (chart.js's 1…9 × 10^k
      // with only 1, 2, 5 labelled gave one label in 0.002–0.004 at best).
      assert.equal(await h.page.evaluate(() => window.__compare!.scatterXScaleType()), 'logarithmic');
      const ticks = await h.page.evaluate(() => window.__compare!.scatterXTicks());
      const labelled = ticks.map((t) => t.value);
      const inData = labelled.filter((v) => v >= 0.002 * (1 - 1e-9) && v <= 0.004 * (1 + 1e-9));
      assert.ok(inData.length >= 2, `at least two labels within the points' range 0.002–0.004, got ${JSON.stringify(ticks)}`);
      for (const t of ticks) {
        // Each label is the number at its tick (1, 2, 5 × 10^k or an evenly spaced nice value).
        assert.equal(Number(t.label), Number(t.value.toPrecision(4)), `label ${t.label} at ${t.value}`);
      }
      await h.page.locator('figure[data-chart="scatter"]').screenshot({ path: path.join(OUT_DIR, `compare-scatter-${theme.replace('vscode-', '')}.png`) });
      await assertClean(h);
      await h.close();
    }
  });

  test('eval-set curves: a picker over every eval/<set>/<metric> the runs logged; hidden when none; the sweep preset', async () => {
    const h = await cb.open('vscode-dark');
    await initTwo(h);
    await render(h);
    assert.equal(await h.page.isHidden('figure[data-chart="eval"]'), true, 'no run logged an eval set');
    assert.deepEqual(await h.page.evaluate(() => window.__compare!.evalKeys()), []);
    const ev = (steps: number[], values: number[]): CompareSeries => ({
      step: Float64Array.from(steps),
      time: Float64Array.from(steps, (s) => s * 2),
      tokens: Float64Array.from(steps, (s) => s * 1000),
      value: Float64Array.from(values),
    });
    const a = { ...RUN_A, evals: { 'eval/qa/exact': ev([10, 20], [0.25, 0.5]) } };
    const b = { ...RUN_B, evals: { 'eval/qa/exact': ev([10, 20], [0.5, 0.75]), 'eval/qa/pass_rate': ev([10, 20], [0.4, 0.9]) } };
    await initTwo(h, [], [a, b], { scatter_key: 'lora.r', focus: 'scatter' });
    await render(h);
    assert.equal(await h.page.isHidden('figure[data-chart="eval"]'), false);
    assert.deepEqual(await h.page.evaluate(() => window.__compare!.evalKeys()), ['eval/qa/exact', 'eval/qa/pass_rate']);
    assert.equal(await h.page.evaluate(() => window.__compare!.evalKey()), 'eval/qa/exact');
    assert.deepEqual(
      (await h.page.evaluate(() => window.__compare!.chartData('eval'))).map((d) => [d.label, d.points]),
      [
        [RUN_A.id, [[10, 0.25], [20, 0.5]]],
        [RUN_B.id, [[10, 0.5], [20, 0.75]]],
      ],
    );
    await h.page.selectOption('#eval-key', 'eval/qa/pass_rate');
    await render(h);
    assert.deepEqual(
      (await h.page.evaluate(() => window.__compare!.chartData('eval'))).map((d) => [d.label, d.points]),
      [
        [RUN_A.id, []],
        [RUN_B.id, [[10, 0.4], [20, 0.9]]],
      ],
    );
    assert.match((await h.page.textContent('figure[data-chart="eval"] figcaption span'))!, /1 run without it/);
    // The hover readout lists the runs that have the metric.
    assert.deepEqual((await h.page.evaluate(() => window.__compare!.valuesAt('eval', 20))).map((e) => [e.id, e.value]), [[RUN_B.id, 0.9]]);
    await h.page.locator('section.charts').screenshot({ path: path.join(OUT_DIR, 'compare-eval-dark.png') });
    // The sweep preset: the scatter on its key, scrolled into view.
    assert.equal(await h.page.$eval('#scatter-key', (el) => (el as HTMLSelectElement).value), 'lora.r');
    assert.ok(await h.page.evaluate(() => window.scrollY > 0), 'scrolled to the scatter');
    await assertClean(h);
    await h.close();
  });

  test('side-by-side generations: posts the prompt, fills columns from streamed deltas, Stop, stale requests dropped; screenshots', async () => {
    for (const theme of ['vscode-light', 'vscode-dark', 'vscode-high-contrast'] as ThemeClass[]) {
      const h = await cb.open(theme, { viewport: { width: 1400, height: 1000 } });
      const a = { ...RUN_A, evals: {} };
      await initTwo(h, [], [a, RUN_B]);
      await render(h);
      const posted = () => h.page.evaluate(() => window.__posted.slice(1));
      // An empty prompt: a line, nothing posted.
      await h.page.click('#gen-run');
      assert.equal(await h.page.textContent('#gen-error'), 'Type a prompt first.');
      assert.deepEqual(await posted(), []);
      await h.page.fill('#gen-prompt', 'Once upon a time');
      await h.page.fill('#gen-max', '64');
      await h.page.click('#gen-run');
      assert.deepEqual(await posted(), [{ v: 1, type: 'generate', gen: 1, prompt: 'Once upon a time', params: { max_new_tokens: 64, temperature: 0 } }]);
      assert.equal(await h.page.isHidden('#gen-error'), true);
      const columns = [
        { run_dir: null, label: 'base model', model: '/models/stories260K' },
        { run_dir: RUN_A.run_dir, label: RUN_A.id, model: '/models/stories260K' },
      ];
      await post(h, { v: 1, type: 'generationStarted', gen: 1, columns, notes: [`${RUN_B.id} has no final adapter yet (stopped): left out.`] });
      await post(h, { v: 1, type: 'generation', gen: 1, column: 0, text: ' there was a little girl' });
      await post(h, { v: 1, type: 'generation', gen: 1, column: 1, text: ' in a quiet village by the sea, a girl named Lily' });
      await post(h, { v: 1, type: 'generation', gen: 0, column: 1, text: ' STALE' }); // an older request
      await post(h, { v: 1, type: 'generation', gen: 1, column: 0, text: ' named <b>Sue</b>.' });
      await post(h, { v: 1, type: 'generationEnded', gen: 1, column: 0, finish_reason: 'eos', tokens: 9, error: null });
      let cols = await h.page.evaluate(() => window.__compare!.generations());
      assert.deepEqual(cols.map((c) => [c.label, c.text, c.state]), [
        ['base model', ' there was a little girl named <b>Sue</b>.', 'eos'],
        [RUN_A.id, ' in a quiet village by the sea, a girl named Lily', 'generating'],
      ]);
      assert.equal(await h.page.locator('.gen-col b').count(), 0, 'model output is text, never HTML');
      assert.match((await h.page.textContent('#gen-notes'))!, /has no final adapter yet/);
      assert.equal(await h.page.evaluate(() => window.__compare!.generating()), true);
      const shot = async (name: string) => {
        const sec = h.page.locator('section.generations');
        await sec.scrollIntoViewIfNeeded();
        await sec.screenshot({ path: path.join(OUT_DIR, `${name}-${theme.replace('vscode-', '')}.png`) });
      };
      await shot('compare-generations-streaming');
      // Stop: the page asks; the host ends the columns and the request.
      await h.page.click('#gen-stop');
      assert.deepEqual((await posted()).at(-1), { v: 1, type: 'stopGeneration', gen: 1 });
      await post(h, { v: 1, type: 'generationEnded', gen: 1, column: 1, finish_reason: 'cancelled', tokens: 12, error: null });
      await post(h, { v: 1, type: 'generationDone', gen: 1, error: null });
      cols = await h.page.evaluate(() => window.__compare!.generations());
      assert.deepEqual(cols.map((c) => c.state), ['eos', 'cancelled']);
      assert.equal(await h.page.evaluate(() => window.__compare!.generating()), false);
      assert.equal(await h.page.$eval('#gen-stop', (el) => (el as HTMLElement & { disabled: boolean }).disabled), true);
      assert.match((await h.page.textContent('.gen-col:nth-child(2) .gen-status'))!, /stopped · 12 tokens/);
      await shot('compare-generations');
      // A request refused by the host: its line, no columns.
      await h.page.click('#gen-run');
      await post(h, { v: 1, type: 'generationDone', gen: 2, error: 'None of the selected runs has a final adapter yet.' });
      assert.equal(await h.page.textContent('#gen-error'), 'None of the selected runs has a final adapter yet.');
      assert.equal(await h.page.isHidden('#generations'), true);
      await assertClean(h);
      await h.close();
    }
  });

  for (const theme of ['vscode-light', 'vscode-dark', 'vscode-high-contrast'] as ThemeClass[]) {
    test(`screenshots: 2 runs and 100 runs, ${theme}`, async () => {
      const short = theme.replace('vscode-', '');
      const h = await cb.open(theme, { viewport: { width: 1400, height: 1000 } });
      await initTwo(h);
      await render(h);
      await fullShot(h, `compare-2-runs-${short}.png`);
      await h.page.evaluate(
        ({ src }) =>
          new Promise<void>((resolve) => {
            const make = (0, eval)(src) as (n: number, s: number, e: number) => unknown[];
            window.addEventListener('message', () => resolve(), { once: true });
            window.postMessage({ v: 1, type: 'init', runs: make(100, 2000, 50), problems: [] }, '*');
          }),
        { src: SYNTHETIC_RUNS_SOURCE },
      );
      await render(h);
      assert.equal((await h.page.evaluate(() => window.__compare!.runsTable())).length, 100);
      await fullShot(h, `compare-100-runs-${short}.png`);
      // The hover readout with 100 runs.
      const box = (await h.page.locator('figure[data-chart="train"] canvas').boundingBox())!;
      await h.page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
      await h.page.waitForSelector('figure[data-chart="train"] .readout:not([hidden])');
      await h.page.screenshot({ path: path.join(OUT_DIR, `compare-100-runs-hover-${short}.png`), clip: { x: 0, y: box.y - 40, width: 1400, height: box.height + 60 } });
      await assertClean(h);
      await h.close();
    });
  }
});

/** A run with plain arrays (JSON through page.evaluate), revived into Float64Arrays in the page. */
function plain(r: CompareRun): Record<string, unknown> {
  const cols = (s: CompareSeries) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, Array.from(v as Float64Array)]));
  return { ...r, train: cols(r.train), val: cols(r.val), evals: Object.fromEntries(Object.entries(r.evals).map(([k, v]) => [k, cols(v)])) };
}
