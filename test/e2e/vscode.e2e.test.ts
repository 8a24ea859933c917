/**
 * End to end in a real VS Code: code-server 4.139 (VS Code 1.139 served to a browser, its
 * extension host a real Node.js 24) driven by playwright-core through Debian's Chromium, as
 * ../shared/vscode/README.md describes. The built repository is installed as the extension
 * (a symlink in a fresh extensions dir); the workspace holds two tiny experiments on the test
 * model (tiny: r 4, wide: r 8), an advisor example and an eval set. One VS Code session walks
 * the features the way a user meets them:
 * - "LoRA Lab: Start Run" from the palette for both experiments; the Experiments view shows both
 *   completed; "LoRA Lab: Open Dashboard": the loss chart holds exactly tiny's metrics.jsonl losses.
 * - "LoRA Lab: Activate Adapter" (status bar), "LoRA Lab: Open Playground": greedy from the
 *   golden prompt, the base column is the golden PyTorch continuation, both columns stream at once.
 * - Compare: both runs selected in the Experiments view (click, Ctrl+click), "Compare Runs" from
 *   the context menu: the runs table has the two runs, the unsmoothed curves are their
 *   metrics.jsonl losses; a prompt in its generations streams base + both adapters together, the
 *   base column again the golden continuation.
 * - Merge: "LoRA Lab: Merge Adapters…" with the two final adapters (quick pick), Preview: one row
 *   per adapted module (5 layers × 7 projections), each of rank 4 + 8 = 12 keeping 100 % of ‖ΔW‖
 *   (linear merge is exact) and as large as its two float32 factors (shapes from config.json);
 *   Merge with a name: the page is idle again while the notification still waits, the Adapters
 *   view's "Merged" group lists it, and its adapter_config.json has r 12.
 * - Eval: the Test Explorer lists the eval set's two `exact` cases; "Test: Run All Tests" with
 *   the default "Base model" profile: the case expecting the golden continuation passes, the
 *   other fails with a diff (expected vs the golden text) in the peek view.
 * - Advisor: an experiment with learning_rate 0.1 and a full fine-tuning rate of 1e-4 gets the
 *   advisor's warning; its quick fix sets learning_rate to 15 × 1e-4 = 0.0015 (the rule for runs
 *   under 100 steps in the "LoRA Without Regret" advice), and the warning goes away.
 * - Token loss: "LoRA Lab: Show Token Loss" on a text file of the golden prompt decorates its
 *   tokens, a hover shows a token's NLL and top-5 next tokens; "Compare Token Loss" shows the base
 *   model's mean NLL = the golden logits' (see `tokenLossStep`).
 * Last, the color theme is switched to Dark Modern from the palette for dark screenshots.
 *
 * `LORALAB_E2E_EXTENSION=DIR` installs DIR (e.g. an unpacked .vsix) instead of this repository.
 * Installs code-server on first use (`setup.sh`, 2–3 minutes, needs apt for Chromium); a failed
 * setup fails the test. `LORALAB_SKIP_E2E=1` skips it. Screenshots go to test-output/e2e-*.png
 * (workbench, dashboard, playground, adapters = the side bar, compare, compare-generations,
 * merge-preview, merge, merged-adapters, eval, token-loss, token-loss-compare, advisor; `-dark` in the dark theme); a trainer
 * that fails or crashes fails the test at once. On failure the test prints the tails of the
 * code-server, extension host and "LoRA Lab" logs. Phase timings go to stderr.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { FrameLocator, Page } from 'playwright-core';
import { SHARED } from '../helpers/paths';
import { runLabel } from '../../src/protocol/run-label';

/** How the views name a run outside the Experiments tree: "experiment · start time". */
const shown = (id: string) => runLabel({ id, name: id.replace(/-\d{8}-\d{6}(-\d+)?$/, '') });
import {
  Fatal, OUT_DIR, applyQuickFix, assertNoExtensionError, hookFrame, launchVSCode, log, pane, phase, plain,
  quickOpen, runCommand, showLoraLab, sleep, treeRows, until,
} from './helpers';

const SKIP = process.env.LORALAB_SKIP_E2E === '1';
const SKIP_REASON = 'LORALAB_SKIP_E2E=1: the VS Code end-to-end test is skipped';
if (SKIP) process.stderr.write(`\n[e2e SKIPPED] ${SKIP_REASON}\n\n`);

const MAX_STEPS = 12;
const EVAL_STEPS = 4;
/** The second experiment ("wide", r 8): a shorter run, started right after the first. */
const WIDE_STEPS = 6;
const WIDE_EVAL_STEPS = 3;
const MERGED_NAME = 'e2e-merged';
/** stories260K: 5 decoder layers × 7 linear projections (all-linear). */
const ADAPTED_MODULES = 5 * 7;
/**
 * [in_features, out_features] of each projection of stories260K (its config.json: hidden 64,
 * intermediate 172, 8 heads and 4 KV heads of head_dim 8).
 */
const PROJECTION_SHAPES: Record<string, [number, number]> = {
  q_proj: [64, 64], k_proj: [64, 32], v_proj: [64, 32], o_proj: [64, 64], gate_proj: [64, 172], up_proj: [64, 172], down_proj: [172, 64],
}; // prettier-ignore
const EVAL_FILE = 'stories.eval.jsonl';
const FAILING_EXPECTED = 'They flew to the moon and never came back.';
/**
 * An experiment the advisor warns about: learning_rate 0.1 for a model outside its measured table,
 * with a full fine-tuning rate of 1e-4 given; a run under 100 steps should use 15× that.
 */
const ADVISOR_FILE = 'regret.lora.json';
const ADVISOR_LR = 0.1;
const ADVISOR_FULL_FT_LR = 1e-4;
const ADVISOR_FIXED_LR = 0.0015; // 15 × 1e-4, by hand
const ADVISOR_TEXT = `// LoRA Lab end-to-end test: the advisor
{
  "name": "regret",
  "model": ${JSON.stringify(path.join(SHARED, 'models', 'stories260K'))},
  "data": { "train": "train.txt", "max_seq_length": 64 },
  "lora": { "r": 4, "lora_alpha": 32, "target_modules": "all-linear" },
  "training": {
    "learning_rate": ${ADVISOR_LR},
    "lr_scheduler_type": "constant",
    "max_steps": 20,
    "per_device_train_batch_size": 4
  },
  "advise": { "full_finetune_learning_rate": ${ADVISOR_FULL_FT_LR} },
  "device": "cpu"
}
`;

/** `window.__playground` of webview/playground/main.ts (the parts used here). */
type PlaygroundHook = { __playground?: { output(c: string): string; running(): boolean; shown(): string[] } };

/** `window.__dashboard` of webview/dashboard/main.ts (the parts used here). */
interface DashboardHook {
  chartData(name: string): { label: string; points: [number, number][] }[];
  rawCount(series: string): number;
  rendered(): Promise<unknown>;
}
type WithHook = { __dashboard?: DashboardHook };

/** `window.__compare` of webview/compare/main.ts (the parts used here). */
interface CompareHook {
  runsTable(): string[][];
  chartData(name: 'train' | 'val'): { label: string; points: [number, number][] }[];
  setSmoothing(w: number): void;
  rendered(): Promise<unknown>;
  generations(): { label: string; run_dir: string | null; text: string; state: string; error: string | null }[];
  generating(): boolean;
}
type WithCompare = { __compare?: CompareHook; __e2eCompare?: number[][] };

/** `window.__merge` of webview/merge/main.ts (the parts used here). */
type WithMerge = { __merge?: { moduleRows(): string[][] } };

interface Golden {
  prompt: string;
  greedy: { num_new_tokens: number; continuation_text: string };
}

interface MetricsRow {
  step: number;
  train_loss?: number;
  val_loss?: number;
}

/** The metrics.jsonl rows of a run folder. */
function readMetrics(runDir: string): MetricsRow[] {
  return readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as MetricsRow);
}

const series = (rows: MetricsRow[], key: 'train_loss' | 'val_loss'): [number, number][] => rows.filter((r) => typeof r[key] === 'number').map((r) => [r.step, r[key]!]);

test('VS Code (code-server): Start Run from the palette, the Experiments view shows it completed, the dashboard charts its losses; Activate Adapter, the playground streams base and adapter together; Compare Runs, Merge Adapters, eval cases in the Test Explorer, the advisor quick fix', { skip: SKIP ? SKIP_REASON : false, timeout: 20 * 60_000 }, async () => {
  // Independent reference: greedy decoding of PyTorch/transformers (../shared/golden/stories260K_logits.json).
  const golden = JSON.parse(readFileSync(path.join(SHARED, 'golden', 'stories260K_logits.json'), 'utf8')) as Golden;
  // The workspace (launchVSCode writes it); LORALAB_E2E_EXTENSION installs another extension folder (e.g. an unpacked .vsix).
  const files: Record<string, string | Uint8Array> = {};
  {
    const text = readFileSync(path.join(SHARED, 'data', 'tinyshakespeare.txt'));
    files['train.txt'] = text.subarray(0, 20_000);
    files['val.txt'] = text.subarray(text.length - 5_000);
    const experiment = {
      name: 'tiny',
      model: path.join(SHARED, 'models', 'stories260K'),
      data: { train: 'train.txt', validation: 'val.txt', max_seq_length: 64 },
      lora: { r: 4, lora_alpha: 16, target_modules: 'all-linear' },
      training: { learning_rate: 2e-3, max_steps: MAX_STEPS, per_device_train_batch_size: 4, eval_steps: EVAL_STEPS, save_steps: 6, logging_steps: 1, seed: 0 },
      device: 'cpu',
    };
    files['tiny.lora.json'] = `// LoRA Lab end-to-end test\n${JSON.stringify(experiment, null, 2)}\n`;
    // A second experiment to compare with and to merge with: another rank, learning rate and length.
    const wide = {
      ...experiment,
      name: 'wide',
      lora: { r: 8, lora_alpha: 16, target_modules: 'all-linear' },
      training: { ...experiment.training, learning_rate: 4e-3, max_steps: WIDE_STEPS, eval_steps: WIDE_EVAL_STEPS, save_steps: WIDE_STEPS },
    };
    files['wide.lora.json'] = `// LoRA Lab end-to-end test: the run to compare and merge with\n${JSON.stringify(wide, null, 2)}\n`;
    files[ADVISOR_FILE] = ADVISOR_TEXT;
    // One case the base model passes (the golden greedy continuation), one it fails.
    const cases = [
      { name: 'golden continuation', prompt: golden.prompt, expected: golden.greedy.continuation_text, max_new_tokens: golden.greedy.num_new_tokens },
      { name: 'a different ending', prompt: golden.prompt, expected: FAILING_EXPECTED, max_new_tokens: golden.greedy.num_new_tokens },
    ];
    files[EVAL_FILE] = cases.map((c) => JSON.stringify(c)).join('\n') + '\n';
  }
  const vs = await launchVSCode(files, {
    // A failed eval case opens its diff in the peek view of the eval set's (open) editor.
    settings: { 'testing.automaticallyOpenPeekView': 'failureInVisibleDocument' },
  });
  const { ws, logsDir } = vs;
  const page = vs.page;
  let ok = false;

  try {
    await phase('open tiny.lora.json (Quick Open)', () => quickOpen(page!, 'tiny.lora.json'));
    await phase('LoRA Lab: Start Run', () => runCommand(page!, 'LoRA Lab: Start Run'));
    // The second experiment trains alongside (Start Run takes the active editor's experiment).
    await phase('open wide.lora.json, LoRA Lab: Start Run', async () => {
      await quickOpen(page!, 'wide.lora.json');
      await runCommand(page!, 'LoRA Lab: Start Run');
    });

    const [runId, wideId] = await phase('wait for both runs to complete in the Experiments view', async () => {
      const p = page!;
      await showLoraLab(p);
      let lastRows: unknown;
      const idOf = (rows: { label: string }[], name: string) => {
        const re = new RegExp(`^${name}-\\d{8}-\\d{6}`);
        const done = rows.find((r) => re.test(r.label) && /\bcompleted\b/.test(r.label));
        return done ? re.exec(done.label)![0] : undefined;
      };
      try {
        return await until(
          'a completed run of each experiment in the Experiments view',
          async () => {
            // The experiment node should expand once it has runs; expand it if it stayed collapsed.
            const collapsed = pane(p, 'Experiments').locator('.monaco-list-row[aria-expanded="false"]', { hasText: /^(tiny|wide)\.lora\.json/ });
            if (await collapsed.count()) {
              log(`expanding a collapsed experiment row: ${JSON.stringify(await treeRows(p))}`);
              await collapsed.first().locator('.monaco-tl-twistie').click();
            }
            assertNoExtensionError(logsDir);
            const rows = await treeRows(p);
            lastRows = rows;
            if (rows.some((r) => /^(tiny|wide)-\d.*\b(failed|crashed|stopped)\b/.test(r.label))) throw new Fatal(`a run did not complete: ${JSON.stringify(rows)}`);
            const ids = [idOf(rows, 'tiny'), idOf(rows, 'wide')];
            return ids.every(Boolean) ? (ids as [string, string]) : undefined;
          },
          240_000,
        );
      } finally {
        log(`Experiments view rows: ${JSON.stringify(lastRows)}`);
      }
    });
    const toast = page.locator('.notifications-toasts .notification-toast', { hasText: `${runId} completed` });
    log(`completion notification: ${(await toast.isVisible()) ? JSON.stringify(await toast.first().innerText()) : '(not shown)'}`);
    await page.screenshot({ path: path.join(OUT_DIR, 'e2e-workbench.png') });

    const runDir = path.join(ws, '.loralab', 'runs', runId);
    const wideDir = path.join(ws, '.loralab', 'runs', wideId);
    const rows = readMetrics(runDir);
    const train = series(rows, 'train_loss');
    const val = series(rows, 'val_loss');
    assert.equal(train.length, MAX_STEPS, `metrics.jsonl has ${MAX_STEPS} train_loss rows`);
    assert.deepEqual(
      val.map(([s]) => s),
      [0, 4, 8, 12],
      'metrics.jsonl has val_loss at steps 0, 4, 8, 12',
    );

    await phase('LoRA Lab: Open Dashboard', async () => {
      const p = page!;
      await quickOpen(p, 'tiny.lora.json'); // the palette's Open Dashboard takes the active experiment's newest run
      await runCommand(p, 'LoRA Lab: Open Dashboard');
      // A quick-pick of runs appears when the command cannot tell which run is meant.
      const pick = p.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: shown(runId) }).first();
      const tab = p.locator('.tabs-container .tab', { hasText: shown(runId) }).first();
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
      const row = p.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: `${shown(runId)} (final)` }).first();
      await row.waitFor({ state: 'visible', timeout: 30_000 });
      await row.click();
      await until(
        'the status-bar item of the active adapter',
        async () => {
          assertNoExtensionError(logsDir);
          return (await p.locator('.part.statusbar', { hasText: `${shown(runId)} (final)` }).count()) > 0;
        },
        120_000,
      );
    });

    // The base column, decoded greedily from the golden prompt, must be the golden continuation
    // (independent reference: ../shared/golden/stories260K_logits.json); the adapter column streams too.
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

    // ---- Compare: the two runs selected in the Experiments view, "Compare Runs" from the context menu.
    const wideRows = readMetrics(wideDir);
    assert.equal(series(wideRows, 'train_loss').length, WIDE_STEPS, `wide's metrics.jsonl has ${WIDE_STEPS} train_loss rows`);
    const expected = new Map([
      [runId, { train, val }],
      [wideId, { train: series(wideRows, 'train_loss'), val: series(wideRows, 'val_loss') }],
    ]);
    const compareFrame = await phase('Compare Runs: select both runs in the Experiments view, context menu', async () => {
      const p = page!;
      await showLoraLab(p);
      const experiments = pane(p, 'Experiments');
      const first = experiments.locator(`.monaco-list-row[aria-label^="${runId},"]`).first();
      const second = experiments.locator(`.monaco-list-row[aria-label^="${wideId},"]`).first();
      await first.click();
      await second.click({ modifiers: ['Control'] });
      await until('both run rows selected', async () => (await first.getAttribute('aria-selected')) === 'true' && (await second.getAttribute('aria-selected')) === 'true', 10_000, 200);
      await second.click({ button: 'right' });
      const item = p.locator('.monaco-menu .action-item', { hasText: 'Compare Runs' }).first();
      await item.waitFor({ state: 'visible', timeout: 10_000 });
      // A context menu ignores a click that comes right after it opened: wait, and click again
      // while the menu is still open and no Compare tab came.
      const tab = p.locator('.tabs-container .tab', { hasText: 'Compare' }).first();
      await until(
        'the Compare tab',
        async () => {
          assertNoExtensionError(logsDir);
          if (await tab.isVisible()) return true;
          if (await item.isVisible()) {
            await sleep(300);
            await item.click().catch(() => undefined);
          }
          return false;
        },
        30_000,
        1_000,
      );
      return hookFrame(p, '__compare');
    });
    const compared = await phase('compare webview: runs table and curves', () =>
      until(
        'the compare page with both runs drawn',
        () => {
          assertNoExtensionError(logsDir);
          return compareFrame.evaluate(async () => {
            const c = (window as unknown as WithCompare).__compare;
            if (!c || c.runsTable().length < 2) return null;
            c.setSmoothing(0); // the curves then are the logged values
            await Promise.race([c.rendered(), new Promise((r) => setTimeout(r, 3_000))]);
            return { table: c.runsTable(), train: c.chartData('train'), val: c.chartData('val') };
          });
        },
        60_000,
      ),
    );
    log(`compare runs table: ${JSON.stringify(compared.table)}`);
    assert.equal(compared.table.length, 2, 'the runs table has one row per selected run');
    for (const id of [runId, wideId]) {
      assert.ok(compared.table.some((row) => row.join(' ').includes(shown(id))), `the runs table lists ${shown(id)}`);
      assert.deepEqual(compared.train.find((d) => d.label === shown(id))?.points, expected.get(id)!.train, `train loss curve of ${id} (smoothing 0) = its metrics.jsonl train_loss`);
      assert.deepEqual(compared.val.find((d) => d.label === shown(id))?.points, expected.get(id)!.val, `validation loss curve of ${id} = its metrics.jsonl val_loss`);
    }
    assert.equal(compared.train.length, 2, 'two train loss curves');
    await page.screenshot({ path: path.join(OUT_DIR, 'e2e-compare.png') });

    const generated = await phase('compare webview: generations for a prompt (base + both adapters)', async () => {
      const f = compareFrame;
      await f.locator('#gen-prompt').fill(golden.prompt);
      await f.locator('#gen-max').fill(String(golden.greedy.num_new_tokens));
      await f.locator('#gen-temp').fill('0');
      // Every change of the columns, recorded in the page: the text length of each column.
      await f.evaluate(() => {
        const w = window as unknown as WithCompare;
        w.__e2eCompare = [];
        new MutationObserver(() => w.__e2eCompare!.push(w.__compare!.generations().map((c) => c.text.length))).observe(document.getElementById('generations')!, {
          subtree: true,
          characterData: true,
          childList: true,
        });
      });
      await f.locator('#gen-run').click();
      const cols = await until(
        'every generation column to finish',
        async () => {
          assertNoExtensionError(logsDir);
          const error = await f.locator('#gen-error').innerText().catch(() => '');
          if (error.trim()) throw new Fatal(`the compare page reported: ${error}`);
          const r = await f.evaluate(() => {
            const c = (window as unknown as WithCompare).__compare!;
            return { running: c.generating(), cols: c.generations() };
          });
          return !r.running && r.cols.length && r.cols.every((c) => c.state !== 'generating') ? r.cols : undefined;
        },
        180_000,
        300,
      );
      const snapshots = await f.evaluate(() => (window as unknown as WithCompare).__e2eCompare!);
      return { cols, snapshots };
    });
    await compareFrame.locator('#generations').scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(OUT_DIR, 'e2e-compare-generations.png') });
    log(`compare generations: ${JSON.stringify(generated.cols.map((c) => ({ label: c.label, state: c.state, text: c.text })))}`);
    assert.deepEqual(generated.cols.map((c) => c.label).sort(), ['base model', shown(runId), shown(wideId)].sort(), 'one column for the base model and one per run');
    for (const c of generated.cols) assert.equal(c.error, null, `column ${c.label} has no error`);
    assert.equal(generated.cols.find((c) => c.run_dir === null)!.text.trim(), golden.greedy.continuation_text.trim(), 'greedy base column = the golden continuation');
    for (const c of generated.cols) assert.ok(c.text.trim().length > 0, `column ${c.label} streamed text`);
    const finalLens = generated.cols.map((c) => c.text.length);
    const partial = generated.snapshots.filter((lens) => lens.filter((n, i) => n > 0 && n < finalLens[i]).length >= 2).length;
    log(`compare column updates: ${generated.snapshots.length}, with two or more columns partial: ${partial}`);
    assert.ok(partial > 0, `the columns streamed together (updates: ${JSON.stringify(generated.snapshots.slice(0, 40))})`);

    // ---- Merge: the palette command, both final adapters, Preview, Merge with a name.
    const mergeFrame = await phase('LoRA Lab: Merge Adapters… (pick both final adapters)', async () => {
      const p = page!;
      await runCommand(p, 'LoRA Lab: Merge Adapters…');
      for (const id of [runId, wideId]) {
        const row = p.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: `${shown(id)} (final)` }).first();
        await row.waitFor({ state: 'visible', timeout: 30_000 });
        await row.click();
        const checked = async () => (await row.getAttribute('aria-checked')) === 'true' || (await row.locator('input[type=checkbox]').isChecked().catch(() => false));
        if (!(await until(`${id} (final) checked`, checked, 2_000, 200).catch(() => false))) {
          log(`a click did not check ${id} (final); pressing Space on it`);
          await p.keyboard.press('Space');
          await until(`${id} (final) checked in the quick pick`, checked, 5_000, 200);
        }
      }
      const ok = p.locator('.quick-input-widget .monaco-button', { hasText: /^OK$/ }).first();
      if (await ok.isVisible()) await ok.click();
      else await p.keyboard.press('Enter');
      await p.locator('.tabs-container .tab', { hasText: 'Merge Adapters' }).first().waitFor({ state: 'visible', timeout: 30_000 });
      return hookFrame(p, '__merge');
    });
    const preview = await phase('merge webview: Preview', async () => {
      const f = mergeFrame;
      await until('both adapters listed on the merge page', async () => (await f.locator('#adapter-rows tr').count()) === 2, 30_000);
      await f.locator('#preview-button').click();
      return until(
        'the per-module preview table',
        async () => {
          assertNoExtensionError(logsDir);
          const error = await f.locator('#error').innerText().catch(() => '');
          if (error.trim()) throw new Fatal(`the merge page reported: ${error}`);
          const rows = await f.evaluate(() => (window as unknown as WithMerge).__merge!.moduleRows());
          return rows.length ? rows : undefined;
        },
        90_000,
      );
    });
    log(`merge preview: ${preview.length} modules, first ${JSON.stringify(preview[0])}`);
    await page.screenshot({ path: path.join(OUT_DIR, 'e2e-merge-preview.png') });
    // Independent: linear merge stacks the factors, rank 4 + 8 = 12, and is exact (100 % of ‖ΔW‖ kept).
    assert.equal(preview.length, ADAPTED_MODULES, 'one preview row per adapted module');
    const projections = new Set(preview.map(([m]) => m.split('.').pop()));
    assert.deepEqual([...projections].sort(), ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj'], 'the preview lists every linear projection');
    for (const [module, r, kept, size] of preview) {
      assert.equal(r, '12', `${module}: merged rank = 4 + 8`);
      assert.equal(kept, '100 %', `${module}: a linear merge keeps all of ΔW`);
      // float32 lora_A (r × in) + lora_B (out × r)
      const [inF, outF] = PROJECTION_SHAPES[module.split('.').pop()!];
      assert.equal(size, `${((4 * 12 * (inF + outF)) / 1e3).toFixed(1)} kB`, `${module}: size of its two float32 factors`);
    }

    await phase(`merge webview: Merge as ${MERGED_NAME}; the Adapters view lists it under "Merged"`, async () => {
      const p = page!;
      const f = mergeFrame;
      await f.locator('#name input').fill(MERGED_NAME);
      await until('the output path to show the name typed', async () => (await f.locator('#out-path').innerText()).includes(`${MERGED_NAME}/`), 10_000, 200);
      await f.locator('#merge-button').click();
      await until(
        'the merge to finish',
        async () => {
          assertNoExtensionError(logsDir);
          const error = await f.locator('#error').innerText().catch(() => '');
          if (error.trim()) throw new Fatal(`the merge page reported: ${error}`);
          return f.locator('#done').isVisible();
        },
        120_000,
      );
      log(`merge page: ${JSON.stringify(await f.locator('#done').innerText())}`);
      // The page is idle again while the notification below still waits for an answer.
      await until('the merge page to be idle again (no "Merging…", Merge enabled)', async () => (await f.locator('#status').innerText()).trim() === '' && !(await f.locator('#merge-button').evaluate((b) => (b as HTMLElement & { disabled: boolean }).disabled)), 10_000, 200);
      const toastText = await until('the "merged adapter … written" notification', async () => {
        const t = p.locator('.notifications-toasts .notification-toast', { hasText: `merged adapter ${MERGED_NAME} written` }).first();
        return (await t.isVisible()) ? t.innerText() : undefined;
      }, 30_000);
      log(`merge notification: ${JSON.stringify(toastText)}`);
      await p.screenshot({ path: path.join(OUT_DIR, 'e2e-merge.png') });
      await showLoraLab(p);
      const adapters = pane(p, 'Adapters');
      if ((await adapters.locator('.pane-header').getAttribute('aria-expanded')) === 'false') await adapters.locator('.pane-header').click();
      await until(
        `"${MERGED_NAME}" in the Merged group of the Adapters view`,
        async () => {
          const labels = await adapters.locator('.monaco-list-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('aria-label') ?? ''));
          return labels.some((l) => /^Merged, 1 adapter\b/.test(l)) && labels.some((l) => l.startsWith(`${MERGED_NAME}, merged`)) ? labels : undefined;
        },
        30_000,
      ).then((labels) => log(`Adapters view: ${JSON.stringify(labels)}`));
      await runCommand(p, 'Notifications: Clear All Notifications', 15_000).catch(() => undefined);
      await p.locator('.part.sidebar').screenshot({ path: path.join(OUT_DIR, 'e2e-merged-adapters.png') });
    });
    const mergedConfig = JSON.parse(readFileSync(path.join(ws, '.loralab', 'merged', MERGED_NAME, 'adapter_config.json'), 'utf8')) as { r: number; rank_pattern?: Record<string, number> };
    assert.equal(mergedConfig.r, 12, 'the merged adapter_config.json has r = 4 + 8');
    assert.ok(existsSync(path.join(ws, '.loralab', 'merged', MERGED_NAME, 'adapter_model.safetensors')), 'the merged adapter has its safetensors');

    // ---- Eval: the eval set in the Test Explorer, run with the "Base model" profile.
    const evalRows = await phase('Test Explorer: the eval set, Test: Run All Tests (Base model)', async () => {
      const p = page!;
      await quickOpen(p, EVAL_FILE); // the failure's peek opens in this editor
      await runCommand(p, 'Testing: Focus on Test Explorer View');
      const tree = p.locator('.part.sidebar .monaco-list-row');
      const labels = () => tree.evaluateAll((rows) => rows.map((r) => ({ label: r.getAttribute('aria-label') ?? '', expanded: r.getAttribute('aria-expanded') })));
      await until(
        'both eval cases in the Test Explorer',
        async () => {
          const file = p.locator('.part.sidebar .monaco-list-row[aria-expanded="false"]', { hasText: EVAL_FILE });
          if (await file.count()) await file.first().locator('.monaco-tl-twistie').click();
          const rows = await labels();
          return rows.filter((r) => /^[12]: /.test(r.label)).length === 2 ? rows : undefined;
        },
        60_000,
      ).then((rows) => log(`Test Explorer before the run: ${JSON.stringify(rows.map((r) => r.label))}`));
      await runCommand(p, 'Test: Run All Tests');
      return until(
        'the eval cases to pass and fail',
        async () => {
          assertNoExtensionError(logsDir);
          const rows = (await labels()).map((r) => r.label);
          const pass = rows.find((l) => l.startsWith('1: golden continuation'));
          const fail = rows.find((l) => l.startsWith('2: a different ending'));
          return pass && fail && !/\((Queued|Running|Not yet run)\)/.test(pass + fail) ? { pass, fail, rows } : undefined;
        },
        120_000,
      );
    });
    log(`Test Explorer after the run: ${JSON.stringify(evalRows.rows)}`);
    const peekText = await phase('the failed case: diff in the peek view', async () => {
      const p = page!;
      const peek = p.locator('.test-output-peek').first();
      await peek.waitFor({ state: 'visible', timeout: 30_000 });
      await p.locator('.test-output-peek .monaco-diff-editor').first().waitFor({ state: 'visible', timeout: 15_000 });
      await sleep(500);
      return plain(await peek.innerText());
    });
    await page.screenshot({ path: path.join(OUT_DIR, 'e2e-eval.png') });
    log(`peek view text: ${JSON.stringify(peekText.slice(0, 600))}`);
    assert.match(evalRows.pass, /\(Passed\)/, 'the case expecting the golden continuation passes on the base model');
    assert.match(evalRows.fail, /\(Failed\)/, 'the case expecting another ending fails');
    assert.ok(peekText.includes(FAILING_EXPECTED.slice(0, 20)), 'the diff shows the expected text');
    assert.ok(peekText.includes(golden.greedy.continuation_text.trim().slice(0, 20)), 'the diff shows the model output (the golden continuation)');
    await page.keyboard.press('Escape');

    // ---- Token loss: Show / Compare Token Loss on a plain text file (the tiny adapter is active).
    await tokenLossStep(page, ws, logsDir);

    // ---- Advisor: the learning-rate warning and its quick fix.
    const advisorPath = path.join(ws, ADVISOR_FILE);
    const lrLine = ADVISOR_TEXT.split('\n').findIndex((l) => l.includes('"learning_rate"'));
    const lrColumn = ADVISOR_TEXT.split('\n')[lrLine].indexOf(String(ADVISOR_LR)) + 2; // 1-based, inside the value
    const problem = await phase(`advisor: the learning-rate warning on ${ADVISOR_FILE}`, async () => {
      const p = page!;
      await quickOpen(p, ADVISOR_FILE);
      await runCommand(p, 'Problems: Focus on Problems View');
      return until(
        'the advisor warning in the Problems view',
        async () => {
          const rows = await p.locator('.part.panel .monaco-list-row').evaluateAll((rs) => rs.map((r) => (r as HTMLElement).innerText + ' | ' + (r.getAttribute('aria-label') ?? '')));
          return rows.find((r) => r.includes('training.learning_rate'));
        },
        60_000,
      );
    });
    log(`advisor problem: ${JSON.stringify(problem)}`);
    assert.match(problem, /Warning/i, 'the learning-rate finding is a warning');
    assert.match(problem, /LoRA Without Regret/, 'the finding names its source');
    await phase(`advisor: Quick Fix "Set learning_rate to ${ADVISOR_FIXED_LR}", save`, async () => {
      const p = page!;
      await applyQuickFix(p, ADVISOR_FILE, lrLine + 1, lrColumn, `Set learning_rate to ${ADVISOR_FIXED_LR}`, 'e2e-advisor.png', 30_000);
      await until('the fixed file on disk', async () => readFileSync(advisorPath, 'utf8') !== ADVISOR_TEXT, 15_000, 200);
    });
    const fixedText = readFileSync(advisorPath, 'utf8');
    const fixed = JSON.parse(fixedText.replace(/^\/\/.*$/m, '')) as { training: { learning_rate: number } };
    assert.equal(fixed.training.learning_rate, ADVISOR_FIXED_LR, 'the quick fix sets learning_rate to 15 × the full fine-tuning rate');
    assert.equal(fixedText.replace(/"learning_rate": [^,\n]+/, '').trim(), ADVISOR_TEXT.replace(/"learning_rate": [^,\n]+/, '').trim(), 'the quick fix changes nothing else (the comment stays)');
    await phase('advisor: the warning goes away', () =>
      until(
        'no learning-rate warning in the Problems view',
        async () => {
          const rows = await page!.locator('.part.panel .monaco-list-row').evaluateAll((rs) => rs.map((r) => (r as HTMLElement).innerText));
          // The view is live: the other experiments' advice (lora_alpha 16, not 32) is still listed.
          return rows.some((r) => r.includes('lora.lora_alpha')) && !rows.some((r) => r.includes('training.learning_rate'));
        },
        30_000,
      ),
    );

    // The same views in a dark theme: the palette's color theme picker, as a user switches.
    await phase('back to the playground and the LoRA Lab views, panel hidden', async () => {
      const p = page!;
      await runCommand(p, 'LoRA Lab: Open Playground');
      await showLoraLab(p);
      const hide = p.locator('.part.panel .action-label[aria-label^="Hide Panel"]').first();
      if (await hide.isVisible()) await hide.click().catch((e: Error) => log(`could not hide the panel: ${e.message.split('\n')[0]}`));
    });
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
    await vs.close(ok);
  }
});

/**
 * Token loss in the real editor, self-contained (needs only a session with an active adapter on
 * stories260K): `story.txt` holds the golden prompt; "LoRA Lab: Show Token Loss" decorates its
 * tokens (decoration boxes with a red background in the editor's `.view-overlays`, in more
 * than one shade), a hover over a token shows its NLL and the 5 most probable next tokens;
 * "LoRA Lab: Compare Token Loss (adapter vs base)" recolours on the diverging scale and the status
 * bar's base mean NLL equals the mean of a float64 log-softmax of the golden PyTorch logits
 * (../shared/golden/stories260K_logits.json), computed here. Screenshots: e2e-token-loss.png
 * (with the hover), e2e-token-loss-compare.png.
 */
async function tokenLossStep(page: Page, ws: string, logsDir: string): Promise<void> {
  const golden = JSON.parse(readFileSync(path.join(SHARED, 'golden', 'stories260K_logits.json'), 'utf8')) as { prompt: string; token_ids: number[]; logits: number[][] };
  const ref = golden.token_ids.slice(1).map((target, t) => {
    const row = golden.logits[t];
    const max = Math.max(...row);
    return max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0)) - row[target];
  });
  const baseMean = ref.reduce((a, b) => a + b, 0) / ref.length;
  const FILE = 'story.txt';
  writeFileSync(path.join(ws, FILE), golden.prompt); // no newline: the text is exactly the golden prompt
  /**
   * The token decorations of the editor showing `story.txt`: VS Code draws a decoration type's
   * backgroundColor through its `className`, i.e. as `.cdr` boxes in the editor's `.view-overlays`
   * (one per decorated range and line), left to right, with their colour and screen box.
   */
  const decorated = () =>
    page.evaluate((text) => {
      const editor = [...document.querySelectorAll('.monaco-editor')].find((e) => (e.querySelector('.view-lines')?.textContent ?? '').replace(/\u00a0/g, ' ') === text);
      if (!editor) return [];
      // `ced-…`: an extension's decoration type (word highlights and the like are `.cdr` too)
      return [...editor.querySelectorAll('.view-overlays .cdr')]
        .filter((el) => /\bced-/.test(el.className))
        .map((el) => ({ bg: getComputedStyle(el).backgroundColor, box: el.getBoundingClientRect() }))
        .filter((d) => d.box.width > 0 && d.bg && d.bg !== 'rgba(0, 0, 0, 0)' && d.bg !== 'transparent')
        .map((d) => ({ bg: d.bg, x: d.box.left + d.box.width / 2, y: d.box.top + d.box.height / 2 }))
        .sort((p, q) => p.x - q.x);
    }, golden.prompt);
  const statusText = () => page.locator('.part.statusbar .statusbar-item', { hasText: /\bppl\b/ }).first().innerText();

  const shown = await phase(`LoRA Lab: Show Token Loss on ${FILE}`, async () => {
    await quickOpen(page, FILE);
    await runCommand(page, 'LoRA Lab: Show Token Loss');
    return until(
      'token-loss decorations in the editor',
      async () => {
        assertNoExtensionError(logsDir);
        const spans = await decorated();
        return spans.length >= 10 ? spans : undefined;
      },
      120_000,
    );
  });
  log(`token loss: ${shown.length} decorated spans, e.g. ${JSON.stringify(shown.slice(0, 4))}; status bar ${JSON.stringify(await statusText())}`);
  assert.ok(shown.every((d) => /^rgba\(255, 64, 64, [\d.]+\)$/.test(d.bg)), `loss colours are red with an alpha: ${JSON.stringify(shown)}`);
  assert.ok(new Set(shown.map((d) => d.bg)).size > 1, 'tokens of different NLL get different shades');
  assert.match(await statusText(), /: NLL \d+\.\d{3}, ppl \d+\.\d{2}/);

  const hover = await phase('hover a token: its NLL and the 5 most probable next tokens', async () => {
    const second = shown[1]; // tokens: "▁Once", "▁upon", …
    return until(
      'the token-loss hover',
      async () => {
        await page.mouse.move(0, 0);
        await page.mouse.move(second.x, second.y, { steps: 3 });
        const h = page.locator('.monaco-hover').filter({ hasText: 'most probable' }).first();
        await h.waitFor({ state: 'visible', timeout: 4_000 });
        return plain(await h.innerText());
      },
      60_000,
      1_000,
    );
  });
  log(`token-loss hover: ${JSON.stringify(hover)}`);
  await page.screenshot({ path: path.join(OUT_DIR, 'e2e-token-loss.png') });
  assert.match(hover, /token .*upon.*: NLL \d+\.\d{3} \(p \d\.\d{4}\)/);
  const probs = (hover.split('most probable')[1] ?? '').match(/\b[01]\.\d{3}\b/g) ?? [];
  assert.equal(probs.length, 5, `five alternatives with probabilities: ${hover}`);
  assert.deepEqual([...probs].sort().reverse(), probs, 'most probable first');
  await page.mouse.move(0, 0);

  const compared = await phase('LoRA Lab: Compare Token Loss (adapter vs base)', async () => {
    await runCommand(page, 'LoRA Lab: Compare Token Loss (adapter vs base)');
    return until(
      'the base NLL in the status bar and diverging colours',
      async () => {
        assertNoExtensionError(logsDir);
        const text = await statusText();
        const spans = await decorated();
        return /\| base: NLL/.test(text) && spans.length >= 10 && spans.some((d) => d.bg.startsWith('rgba(64, 200, 64') || d.bg.startsWith('rgba(255, 64, 64')) ? { text, spans } : undefined;
      },
      120_000,
    );
  });
  await page.screenshot({ path: path.join(OUT_DIR, 'e2e-token-loss-compare.png') });
  log(`compare token loss: status ${JSON.stringify(compared.text)}; colours ${JSON.stringify([...new Set(compared.spans.map((d) => d.bg))])}`);
  const base = Number(/\| base: NLL (\d+\.\d+)/.exec(compared.text)![1]);
  assert.ok(Math.abs(base - baseMean) < 1.5e-3, `base mean NLL in the status bar ${base} = golden ${baseMean.toFixed(4)}`);
  assert.ok(compared.spans.every((d) => /^rgba\((64, 200, 64|255, 64, 64), [\d.]+\)$/.test(d.bg)), 'green (adapter better) or red (worse) only');
}
