/**
 * Problems and failed starts in a real VS Code (code-server + Chromium, helpers.ts), issue 14:
 * - A misspelt key (`learnig_rate`) in an experiment file is an Error in the Problems view (the
 *   CLI's own validation, not a schema warning), and its quick fix `Change to "learning_rate"`
 *   rewrites the key; the error then goes away.
 * - Start Run on an experiment whose data file does not exist is refused before anything starts
 *   (the Problems panel already names the file): no run folder, a notification pointing there.
 * - A start that fails before training for a reason the editor's checks cannot see (a
 *   tokenizer.json that is not a tokenizer) leaves a failed run of it in the Experiments view
 *   (its folder with run.json status failed), not
 *   only a notification, and that run offers no Resume (nothing was trained).
 * Screenshots: test-output/e2e-problems.png, e2e-failed-start.png. `LORALAB_SKIP_E2E=1` skips it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import { SHARED } from '../helpers/paths';
import { OUT_DIR, applyQuickFix, launchVSCode, list, log, pane, phase, problemRows, quickOpen, readText, runCommand, showLoraLab, treeRows, until } from './helpers';
import { tempDir } from '../helpers/tmp';

const SKIP = process.env.LORALAB_SKIP_E2E === '1';
const MODEL = path.join(SHARED, 'models', 'stories260K');

const experiment = (name: string, train: string, training: string, model = MODEL) => `// LoRA Lab end-to-end test: problems
{
  "name": "${name}",
  "model": ${JSON.stringify(model)},
  "data": { "train": "${train}", "max_seq_length": 64 },
  "lora": { "r": 4, "lora_alpha": 16 },
  "training": { ${training}, "max_steps": 4 },
  "device": "cpu"
}
`;
const TYPO_TEXT = experiment('typo', 'train.txt', '"learnig_rate": 0.002');
const MISSING_TEXT = experiment('nodata', 'missing.jsonl', '"learning_rate": 0.002');
/** A copy of the model whose tokenizer.json is valid JSON but no tokenizer: only the trainer finds out. */
const BAD_MODEL = tempDir('loralab-e2e-badtok-');
cpSync(MODEL, BAD_MODEL, { recursive: true });
writeFileSync(path.join(BAD_MODEL, 'tokenizer.json'), '{}\n');
const BADTOK_TEXT = experiment('badtok', 'train.txt', '"learning_rate": 0.002', BAD_MODEL);

test('VS Code (code-server): a misspelt key is an Error with a quick fix that corrects it; Start Run refuses a file with problems; a start that fails before training leaves a failed run in the tree', { skip: SKIP ? 'LORALAB_SKIP_E2E=1' : false, timeout: 15 * 60_000 }, async () => {
  const train = readText(path.join(SHARED, 'data', 'tinyshakespeare.txt')).slice(0, 5_000);
  const vs = await launchVSCode({ 'typo.lora.json': TYPO_TEXT, 'nodata.lora.json': MISSING_TEXT, 'badtok.lora.json': BADTOK_TEXT, 'train.txt': train });
  let ok = false;
  try {
    const p = vs.page;
    const typoFile = path.join(vs.ws, 'typo.lora.json');
    const problem = await phase('the misspelt key in the Problems view', async () => {
      await quickOpen(p, 'typo.lora.json');
      await runCommand(p, 'Problems: Focus on Problems View');
      return until('the learnig_rate problem', async () => (await problemRows(p)).find((r) => r.includes('learnig_rate')), 90_000);
    });
    log(`problem: ${JSON.stringify(problem)}`);
    assert.match(problem, /\bError\b/, 'an Error, not a warning');
    assert.match(problem, /learning_rate/, 'it names the intended key');

    await phase('Quick Fix "Change to \\"learning_rate\\"", save', async () => {
      const lines = TYPO_TEXT.split('\n');
      const line = lines.findIndex((l) => l.includes('"learnig_rate"'));
      const column = lines[line].indexOf('learnig_rate') + 2;
      await applyQuickFix(p, 'typo.lora.json', line + 1, column, 'Change to "learning_rate"', 'e2e-problems.png', 45_000);
      await until('the fixed file on disk', async () => readText(typoFile) !== TYPO_TEXT, 15_000, 200);
    });
    assert.equal(readText(typoFile), TYPO_TEXT.replace('"learnig_rate"', '"learning_rate"'), 'the quick fix renames the key and changes nothing else');
    await phase('the error goes away', () => until('no learnig_rate problem', async () => !(await problemRows(p)).some((r) => r.includes('learnig_rate')), 30_000));

    const runsDir = path.join(vs.ws, '.loralab', 'runs');
    await phase('Start Run on the experiment without its data file → refused, pointing to the Problems panel', async () => {
      await quickOpen(p, 'nodata.lora.json');
      await runCommand(p, 'LoRA Lab: Start Run');
      const toast = await until('the refusal notification', async () => {
        const t = p.locator('.notifications-toasts .notification-toast', { hasText: 'before a run can start' }).first();
        return (await t.isVisible()) ? t.innerText() : undefined;
      }, 60_000);
      log(`refusal: ${JSON.stringify(toast)}`);
      assert.match(toast, /missing\.jsonl/, 'the refusal names the missing data file');
      await p.screenshot({ path: path.join(OUT_DIR, 'e2e-refused-start.png') });
    });
    assert.deepEqual(list(runsDir), [], 'a refused start writes no run folder');
    await runCommand(p, 'Notifications: Clear All Notifications', 15_000).catch((e: Error) => log(`could not clear the notifications: ${e.message}`));

    const failedId = await phase('Start Run on the experiment whose tokenizer.json is no tokenizer → a failed run in the tree', async () => {
      await quickOpen(p, 'badtok.lora.json');
      await runCommand(p, 'LoRA Lab: Start Run');
      await showLoraLab(p);
      return until(
        'a failed badtok run in the Experiments view',
        async () => {
          const collapsed = pane(p, 'Experiments').locator('.monaco-list-row[aria-expanded="false"]', { hasText: /^badtok\.lora\.json/ });
          if (await collapsed.count()) await collapsed.first().locator('.monaco-tl-twistie').click();
          const rows = await treeRows(p);
          const row = rows.find((r) => /^badtok-\d{8}-\d{6}(-\d+)?, failed\b/.test(r.label));
          return row ? /^badtok-\d{8}-\d{6}(-\d+)?/.exec(row.label)![0] : undefined;
        },
        120_000,
      );
    });
    await p.screenshot({ path: path.join(OUT_DIR, 'e2e-failed-start.png') });
    assert.deepEqual(list(runsDir), [failedId], 'one run folder: the failed start');
    const runJson = JSON.parse(readText(path.join(runsDir, failedId, 'run.json'))) as { status: string; error: string; config: unknown };
    assert.equal(runJson.status, 'failed');
    assert.match(runJson.error, /tokenizer\.json/, 'the error names the tokenizer file');
    assert.equal(runJson.config, null);
    // The failed start offers no Resume: its row's inline actions are Open Dashboard only.
    const row = pane(p, 'Experiments').locator('.monaco-list-row', { hasText: /\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}/ }).first();
    await row.hover();
    const actions = await row.locator('.actions .action-label').evaluateAll((as) => as.map((a) => a.getAttribute('aria-label') ?? ''));
    log(`inline actions of the failed run: ${JSON.stringify(actions)}`);
    assert.ok(!actions.some((a) => /Resume Run/.test(a)), `no Resume Run on a failed start: ${actions.join(', ')}`);
    ok = true;
  } finally {
    await vs.close(ok);
    rmSync(BAD_MODEL, { recursive: true, force: true });
  }
});
