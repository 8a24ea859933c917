/**
 * The Merge webview in headless Chromium, on the shared page of harness.ts: exactly what the
 * extension shows (the dashboard's page shell with its CSP and the merge bundle), VS Code theme
 * variables, and a stub `acquireVsCodeApi` that records what the page posts; any request
 * outside the page's resources fails the test. The "host" is the test: it plays the messages
 * of src/protocol/merge.ts.
 *
 * Screenshots (light, dark, high contrast; 1200×900) go to test-output/merge-*.png.
 * Skips, saying so on stderr, when there is no Chromium (LORALAB_CHROMIUM overrides the path).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { type HostToMerge, type MergePlan, type MergeToHost, isMergeToHost } from '../../src/protocol/merge';
import { ROOT } from '../helpers/paths';
import { HAVE_CHROMIUM, OUT_DIR, SKIP_REASON, type ThemeClass as Theme, WebviewBrowser } from './harness';

if (!HAVE_CHROMIUM) process.stderr.write(`\n[webview tests SKIPPED] ${SKIP_REASON}\n\n`);

const WS = '/home/ada/stories';
const STYLE = { path: `${WS}/.loralab/runs/bedtime-20261129-101500/adapter`, label: 'bedtime-20261129-101500 (final)', r: 8, lora_alpha: 16 };
const RHYME = { path: `${WS}/.loralab/runs/rhymes-20261130-091200/checkpoints/step-120`, label: 'step-120 · rhymes-20261130-091200', r: 4, lora_alpha: 8 };
const TOXIC = { path: '/home/ada/adapters/toxic-style', label: 'toxic-style', r: 16, lora_alpha: 32 };

/** A preview as `loralab merge --dry-run --json` reports it (svd, rank 8, 2 layers of a 64-wide model). */
function svdPlan(): MergePlan {
  const mods = ['k_proj', 'o_proj', 'q_proj', 'v_proj'].flatMap((p, i) => [0, 1].map((l) => ({ name: `model.layers.${l}.self_attn.${p}`, kept: [0.9987, 0.9412, 0.8571, 1, 0.9935, 0.7702, 0.9999, 0.9651][i * 2 + l] })));
  return {
    method: 'svd',
    r: 8,
    lora_alpha: 8,
    bytes: mods.length * 4 * (8 * 64 + 64 * 8),
    modules: mods.map((m) => ({ module: m.name, r: 8, kept_norm_fraction: m.kept, delta_norm: 1.5, bytes: 4 * (8 * 64 + 64 * 8) })),
  };
}

interface Harness {
  page: Page;
  post(msg: HostToMerge | Record<string, unknown>): Promise<void>;
  posted(): Promise<MergeToHost[]>;
  assertClean(): Promise<void>;
}

describe('merge webview (headless Chromium)', { skip: HAVE_CHROMIUM ? false : SKIP_REASON }, () => {
  let wb: WebviewBrowser;

  before(async () => {
    wb = await WebviewBrowser.launch('merge');
  });

  after(async () => {
    await wb?.close();
  });

  async function open(theme: Theme, viewport = { width: 1200, height: 900 }): Promise<Harness> {
    const p = await wb.open('merge', { theme, title: 'Merge Adapters', rootClass: 'merge', viewport });
    return { ...p, posted: () => p.posted(isMergeToHost) };
  }

  const lastPosted = async (h: Harness) => (await h.posted()).at(-1)!;
  /** Sets a vscode-textfield's value as typing would (the page listens to `input`). */
  const type = (h: Harness, selector: string, v: string) =>
    h.page.$eval(selector, (el, t) => {
      (el as HTMLElement & { value: string }).value = t;
      el.dispatchEvent(new Event('input', { bubbles: true }));
    }, v);
  const choose = (h: Harness, id: string, v: string) =>
    h.page.$eval(`#${id}`, (el, t) => {
      (el as HTMLElement & { value: string }).value = t;
      el.dispatchEvent(new Event('change', { bubbles: true }));
    }, v);
  const visible = (h: Harness) => h.page.evaluate(() => window.__merge!.visibleParams());
  const request = (h: Harness) => h.page.evaluate(() => window.__merge!.request());

  async function initialised(theme: Theme, viewport?: { width: number; height: number }): Promise<Harness> {
    const h = await open(theme, viewport);
    assert.deepEqual(await h.posted(), [{ v: 1, type: 'ready' }]);
    await h.post({ v: 1, type: 'init', adapters: [STYLE, RHYME], name: 'merged-3', folder: `${WS}/.loralab/merged` });
    return h;
  }

  test('weights (negative too) and the method make the request; Merge posts it with the name; Preview posts numbered previews', async () => {
    const h = await initialised('vscode-light');
    assert.deepEqual(await h.page.$$eval('#adapter-rows tr td.adapter-name', (tds) => tds.map((td) => td.textContent)), [STYLE.label, RHYME.label]);
    assert.equal(await h.page.textContent('#out-path'), `Writes ${WS}/.loralab/merged/merged-3/`);
    await type(h, `vscode-textfield[aria-label="Weight of ${RHYME.label}"]`, '-0.4');
    await type(h, `vscode-textfield[aria-label="Weight of ${STYLE.label}"]`, '0.6');
    await h.page.click('#merge-button');
    assert.deepEqual(await lastPosted(h), {
      v: 1,
      type: 'merge',
      name: 'merged-3',
      request: { adapters: [{ path: STYLE.path, weight: 0.6 }, { path: RHYME.path, weight: -0.4 }], method: 'linear' },
    });
    await choose(h, 'method', 'svd');
    await type(h, '#rank', '8');
    await type(h, '#name', 'style-minus-rhymes');
    assert.equal(await h.page.textContent('#out-path'), `Writes ${WS}/.loralab/merged/style-minus-rhymes/`);
    await h.page.click('#preview-button');
    await h.page.click('#preview-button');
    const posted = await h.posted();
    assert.deepEqual(posted.slice(-2).map((m) => (m as { id: number }).id), [1, 2]);
    assert.deepEqual((posted.at(-1) as Extract<MergeToHost, { type: 'preview' }>).request, {
      adapters: [{ path: STYLE.path, weight: 0.6 }, { path: RHYME.path, weight: -0.4 }],
      method: 'svd',
      rank: 8,
    });
    await h.page.click('#merge-button');
    assert.deepEqual(await lastPosted(h), { v: 1, type: 'merge', name: 'style-minus-rhymes', request: { adapters: [{ path: STYLE.path, weight: 0.6 }, { path: RHYME.path, weight: -0.4 }], method: 'svd', rank: 8 } });

    // Bad settings are refused on the page: nothing is posted.
    const before = (await h.posted()).length;
    await type(h, `vscode-textfield[aria-label="Weight of ${STYLE.label}"]`, '');
    await h.page.click('#preview-button');
    assert.match((await h.page.textContent('#error'))!, /weight of bedtime-20261129-101500 \(final\) must be a number/);
    await type(h, `vscode-textfield[aria-label="Weight of ${STYLE.label}"]`, '1');
    await type(h, '#name', '.hidden');
    await h.page.click('#merge-button');
    assert.match((await h.page.textContent('#error'))!, /The name may hold letters/);
    assert.equal((await h.posted()).length, before);

    // Remove and add: "Add adapters…" asks the host (without those listed); the host's rows are added once.
    await h.page.click(`vscode-button[aria-label="Remove ${RHYME.label}"]`);
    await h.page.click('#add');
    assert.deepEqual(await lastPosted(h), { v: 1, type: 'pickAdapters', exclude: [STYLE.path] });
    await h.post({ v: 1, type: 'adapters', adapters: [TOXIC, STYLE] });
    assert.deepEqual(((await request(h)) as { adapters: unknown[] }).adapters, [{ path: STYLE.path, weight: 1 }, { path: TOXIC.path, weight: 1 }]);
    await h.assertClean();
    await h.page.context().close();
  });

  test('switching the method shows exactly the parameters it uses, and the request carries only those', async () => {
    const h = await initialised('vscode-dark');
    const expect: Record<string, string[]> = {
      linear: ['method'],
      cat: ['method'],
      svd: ['method', 'rank'],
      ties: ['method', 'rank', 'density', 'majority_sign'],
      dare_linear: ['method', 'rank', 'density', 'seed'],
      dare_ties: ['method', 'rank', 'density', 'majority_sign', 'seed'],
      magnitude_prune: ['method', 'rank', 'density'],
    };
    await type(h, '#rank', '4');
    await type(h, '#seed', '7');
    await choose(h, 'majority-sign', 'frequency');
    await type(h, '#density', '0.3');
    for (const [m, params] of Object.entries(expect)) {
      await choose(h, 'method', m);
      assert.deepEqual(await visible(h), params, m);
      const req = (await request(h)) as unknown as Record<string, unknown>;
      const keys = Object.keys(req).filter((k) => k !== 'adapters').sort();
      const want = ['method', ...params.filter((p) => p !== 'method')].sort();
      assert.deepEqual(keys, want, `${m}: the request has exactly the shown parameters`);
      assert.equal(req.method, m);
      if ('density' in req) assert.equal(req.density, 0.3);
      if ('seed' in req) assert.equal(req.seed, 7);
      if ('majority_sign' in req) assert.equal(req.majority_sign, 'frequency');
    }
    assert.match((await h.page.textContent('#method-hint'))!, /Keep the largest density/);
    await choose(h, 'method', 'ties');
    await type(h, '#density', '1.5');
    assert.match(String(await request(h)), /Density must be in \(0, 1\]/);
    await h.assertClean();
    await h.page.context().close();
  });

  test('the preview table comes from a plan message (kept fraction, rank, size); stale answers are dropped; errors show one line', async () => {
    const h = await initialised('vscode-light');
    await choose(h, 'method', 'svd');
    await h.page.click('#preview-button');
    await h.post({ v: 1, type: 'busy', what: 'preview' });
    assert.equal(await h.page.textContent('#status'), 'Computing the preview…');
    assert.equal(await h.page.isVisible('#stop'), true);
    await h.post({ v: 1, type: 'plan', id: 1, plan: svdPlan() });
    await h.post({ v: 1, type: 'busy', what: null });
    const rows = await h.page.evaluate(() => window.__merge!.moduleRows());
    assert.equal(rows.length, 8);
    assert.deepEqual(rows[0], ['model.layers.0.self_attn.k_proj', '8', '99.87 %', '4.1 kB']);
    assert.deepEqual(rows[3], ['model.layers.1.self_attn.o_proj', '8', '100 %', '4.1 kB']);
    assert.deepEqual(await h.page.$$eval('td.low', (tds) => tds.map((td) => td.textContent)), ['85.71 %', '77.02 %'], 'modules that keep < 90 % stand out');
    assert.equal(await h.page.textContent('#summary'), 'svd · 8 modules · rank 8 · 32.8 kB on disk · lowest kept ‖ΔW‖ 77.02 %');
    // An answer to an older preview, and malformed plans, change nothing.
    await h.post({ v: 1, type: 'plan', id: 0, plan: { ...svdPlan(), modules: [] } });
    await h.post({ v: 1, type: 'plan', id: 1, plan: { ...svdPlan(), modules: [{ module: 'x', r: 1, kept_norm_fraction: 2, delta_norm: 1, bytes: 1 }] } });
    assert.equal((await h.page.evaluate(() => window.__merge!.moduleRows())).length, 8);
    // Changing a setting marks the preview stale.
    assert.equal(await h.page.isVisible('#stale'), false);
    await type(h, '#rank', '2');
    assert.equal(await h.page.isVisible('#stale'), true);
    await h.page.click('#preview-button');
    await h.post({ v: 1, type: 'error', id: 2, message: 'module "model.layers.0.self_attn.q_proj" is [out 64, in 64] in /a but [out 64, in 65] in /b; the adapters were trained on different models — merge adapters of one base model' });
    assert.match((await h.page.textContent('#error'))!, /^module "model\.layers\.0\.self_attn\.q_proj" is \[out 64, in 64\]/);
    // Merge: busy disables Merge; merged shows where it went; Stop posts cancel.
    await type(h, '#name', 'style-minus-rhymes');
    await h.post({ v: 1, type: 'busy', what: 'merge' });
    assert.equal(await h.page.$eval('#merge-button', (el) => (el as HTMLElement & { disabled: boolean }).disabled), true);
    await h.page.click('#stop');
    assert.deepEqual(await lastPosted(h), { v: 1, type: 'cancel' });
    await h.post({ v: 1, type: 'merged', name: 'style-minus-rhymes', dir: `${WS}/.loralab/merged/style-minus-rhymes`, plan: svdPlan() });
    await h.post({ v: 1, type: 'busy', what: null });
    assert.match((await h.page.textContent('#done'))!, /Merged into \/home\/ada\/stories\/\.loralab\/merged\/style-minus-rhymes/);
    // The name field is cleared for the next merge, and the output path says so (not the name typed before).
    assert.equal(await h.page.$eval('#name', (el) => (el as HTMLElement & { value: string }).value), '');
    assert.equal(await h.page.textContent('#out-path'), `Writes ${WS}/.loralab/merged/merged-3/`);
    assert.equal(await h.page.$eval('#merge-button', (el) => (el as HTMLElement & { disabled: boolean }).disabled), false);
    // The host's next free name becomes the default: the path says it, Merge posts it.
    await h.post({ v: 1, type: 'name', name: 'merged-4' });
    assert.equal(await h.page.$eval('#name', (el) => (el as HTMLElement & { placeholder: string }).placeholder), 'merged-4');
    assert.equal(await h.page.textContent('#out-path'), `Writes ${WS}/.loralab/merged/merged-4/`);
    await h.page.click('#merge-button');
    assert.equal(((await lastPosted(h)) as { name: string }).name, 'merged-4');
    await h.post({ v: 1, type: 'name', name: '../escape' }); // not a name: dropped
    assert.equal(await h.page.textContent('#out-path'), `Writes ${WS}/.loralab/merged/merged-4/`);
    await h.assertClean();
    await h.page.context().close();
  });

  test('screenshots in light, dark and high contrast (svd preview with negative weight; narrow with an error)', async () => {
    for (const theme of ['vscode-light', 'vscode-dark', 'vscode-high-contrast'] as const) {
      const h = await initialised(theme);
      await h.post({ v: 1, type: 'adapters', adapters: [TOXIC] });
      await type(h, `vscode-textfield[aria-label="Weight of ${TOXIC.label}"]`, '-0.5');
      await choose(h, 'method', 'svd');
      await type(h, '#rank', '8');
      await h.page.click('#preview-button');
      await h.post({ v: 1, type: 'plan', id: 1, plan: svdPlan() });
      await h.page.mouse.click(5, 5); // focus away from the fields
      const file = path.join(OUT_DIR, `merge-${theme.replace('vscode-', '')}.png`);
      await h.page.screenshot({ path: file, fullPage: true });
      process.stderr.write(`[merge] screenshot ${path.relative(ROOT, file)}\n`);
      await h.assertClean();
      await h.page.context().close();
    }
    const h = await initialised('vscode-dark', { width: 560, height: 800 });
    await choose(h, 'method', 'dare_ties');
    await h.post({ v: 1, type: 'busy', what: 'merge' });
    await h.post({ v: 1, type: 'error', id: null, message: '/home/ada/stories/.loralab/merged/merged-3 already exists; choose another name' });
    await h.page.screenshot({ path: path.join(OUT_DIR, 'merge-narrow-dark.png'), fullPage: true });
    await h.assertClean();
    await h.page.context().close();
  });
});
