/**
 * The run dashboard's summary band in headless Chromium (same page, CSP and stubs as
 * dashboard.test.ts): it appears when a run ends, with numbers the test recomputes from the
 * rows it sends, adapter buttons that post the protocol's requests, and Resume only for runs
 * that can be resumed. Screenshots (light, dark) go to test-output/dashboard-summary-*.png.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import type { HostToDashboard, RunFacts } from '../../src/protocol/dashboard';
import { isDashboardToHost } from '../../src/protocol/dashboard';
import type { MetricsRowLike } from '../../src/protocol/metrics';
import { HAVE_CHROMIUM, OUT_DIR, SKIP_REASON, WebviewBrowser } from './harness';

const SKIP = HAVE_CHROMIUM ? false : SKIP_REASON;
if (SKIP) process.stderr.write(`\n[webview tests SKIPPED] ${SKIP}\n\n`);

const RUN_DIR = '/home/ada/stories/.loralab/runs/bedtime-stories-20261129-101500';
const RUN: RunFacts = {
  id: 'bedtime-stories-20261129-101500',
  name: 'bedtime-stories',
  run_dir: RUN_DIR,
  status: 'running',
  step: 0,
  max_steps: 60,
  model: '/home/ada/models/SmolLM2-135M',
  provider: 'cpu',
  dataset: { train: 'data/stories.jsonl', validation: 0.05 },
  created_at: '2026-11-29T10:15:00.000Z',
  finished_at: null,
  error: null,
  hyperparameters: { 'lora.r': 8 },
  adapter_dir: null,
};

/** Validation loss dips at step 30, then rises: best ≠ final. Tokens grow 700 a step. */
function rows(from: number, to: number): MetricsRowLike[] {
  const out: MetricsRowLike[] = [];
  for (let s = from; s < to; s++) {
    const r: MetricsRowLike = { step: s, time: s * 1.25, train_loss: 3 - s * 0.02, tokens: 700 * s };
    if (s % 10 === 0) r.val_loss = 2 + ((s - 30) / 10) ** 2 * 0.125;
    out.push(r);
  }
  return out;
}

describe('dashboard summary band (headless Chromium)', { skip: SKIP }, () => {
  let wb: WebviewBrowser;

  before(async () => {
    wb = await WebviewBrowser.launch('dashboard');
  });
  after(async () => {
    await wb?.close();
  });

  async function open(theme: 'vscode-light' | 'vscode-dark') {
    const h = await wb.open('dashboard', { theme, title: 'x', viewport: { width: 1200, height: 700 } });
    return { ...h, post: (m: HostToDashboard) => h.post(m) };
  }

  const text = (page: Page, key: string) => page.$eval(`[data-sum="${key}"]`, (e) => e.textContent);
  const shown = (page: Page, sel: string) => page.$eval(sel, (e) => (e as HTMLElement).checkVisibility());

  for (const theme of ['vscode-light', 'vscode-dark'] as const) {
    test(`a completed run: final and best validation loss from the rows, wall time, tokens, adapter buttons (${theme})`, async () => {
      const h = await open(theme);
      const { page, post } = h;
      await post({ v: 1, type: 'init', run: RUN, rows: rows(0, 35) });
      assert.equal(await shown(page, '#summary-band'), false, 'no band while the run runs');
      await post({ v: 1, type: 'metrics', rows: rows(35, 61) });
      const adapter = `${RUN_DIR}/adapter`;
      await post({ v: 1, type: 'status', status: 'completed', step: 60, error: null, finished_at: '2026-11-29T10:17:05.000Z', adapter_dir: adapter });
      assert.equal(await shown(page, '#summary-band'), true);

      // Expected values, computed here from the rows (not by the page's code).
      const all = rows(0, 61);
      const vals = all.filter((r) => r.val_loss !== undefined);
      const last = vals[vals.length - 1];
      const best = vals.reduce((a, b) => (b.val_loss! < a.val_loss! ? b : a));
      assert.equal(last.step, 60);
      assert.equal(best.step, 30);
      assert.equal(await text(page, 'final'), `${last.val_loss} (step 60)`); // 2 + 3² · 0.125 = 3.125
      assert.equal(await text(page, 'best'), `${best.val_loss} (step 30)`); // 2
      assert.equal(await text(page, 'wall'), '2m 05s'); // 10:15:00 → 10:17:05
      assert.equal(await text(page, 'tokens'), (700 * 60).toLocaleString('en-US'));
      assert.equal(await text(page, 'adapter'), adapter);
      assert.equal(await shown(page, '[data-action="resumeRun"]'), false, 'a completed run has nothing to resume');

      for (const action of ['activateAdapter', 'openAdapterInPlayground', 'revealAdapter']) await page.click(`[data-action="${action}"]`);
      const posted = (await page.evaluate(() => window.__posted)).slice(1);
      assert.deepEqual(posted, [
        { v: 1, type: 'activateAdapter' },
        { v: 1, type: 'openAdapterInPlayground' },
        { v: 1, type: 'revealAdapter' },
      ]);
      assert.ok(posted.every(isDashboardToHost));
      await page.screenshot({ path: path.join(OUT_DIR, `dashboard-summary-${theme.replace('vscode-', '')}.png`) });
      await h.assertClean();
      await h.close();
    });
  }

  test('a stopped run without validation or adapter: Resume, no adapter row, wall time from the last row', async () => {
    const h = await open('vscode-dark');
    const { page, post } = h;
    const rs = rows(0, 25).map(({ val_loss: _v, ...r }) => r);
    await post({ v: 1, type: 'init', run: { ...RUN, status: 'stopped', step: 24 }, rows: rs });
    assert.equal(await shown(page, '#summary-band'), true);
    assert.equal(await text(page, 'final'), 'not evaluated');
    assert.equal(await text(page, 'wall'), '30s'); // last row time 24 · 1.25
    assert.equal(await shown(page, '.summary-adapter'), false);
    assert.equal(await shown(page, '[data-action="resumeRun"]'), true);
    await page.click('[data-action="resumeRun"]');
    assert.deepEqual((await page.evaluate(() => window.__posted)).slice(1), [{ v: 1, type: 'resumeRun' }]);
    await page.screenshot({ path: path.join(OUT_DIR, 'dashboard-summary-stopped-dark.png') });
    await h.assertClean();
    await h.close();
  });
});
