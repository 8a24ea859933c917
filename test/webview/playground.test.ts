/**
 * The playground webview in headless Chromium, on the shared page of harness.ts: exactly what
 * the extension shows (the dashboard's page shell with its CSP and the playground bundle), VS
 * Code theme variables, and a stub `acquireVsCodeApi` that records what the page posts; any
 * request outside the page's resources fails the test. The "host" here is the test: it plays
 * the messages of src/protocol/playground.ts and checks the page's answers.
 *
 * Screenshots (light, dark, high contrast; 1200×800) go to test-output/playground-*.png.
 * Skips, saying so on stderr, when there is no Chromium (LORALAB_CHROMIUM overrides the path).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import type { HostToPlayground, PlaygroundToHost } from '../../src/protocol/playground';
import { isPlaygroundToHost } from '../../src/protocol/playground';
import { ROOT } from '../helpers/paths';
import { HAVE_CHROMIUM, OUT_DIR, SKIP_REASON, type ThemeClass as Theme, WebviewBrowser } from './harness';

if (!HAVE_CHROMIUM) process.stderr.write(`\n[webview tests SKIPPED] ${SKIP_REASON}\n\n`);

const ADAPTER = { path: '/home/ada/stories/.loralab/runs/bedtime-20261129-101500/checkpoints/step-40', label: 'step-40 · bedtime-20261129-101500' };
const MODEL = '/home/ada/models/SmolLM2-135M-Instruct';
const HISTORY = [
  { prompt: 'Once upon a time, a little fox', time: '2026-11-29T10:30:00.000Z' },
  { messages: [{ role: 'user', content: 'Tell me a story about a brave owl.' }], time: '2026-11-29T10:20:00.000Z' },
];
// A greedy story, delta by delta, as the worker streams it (one token's text per delta).
const BASE_DELTAS = [' lived', ' in', ' a', ' small', ' house', '.', ' She', ' liked', ' to', ' play', '.'];
const ADAPTER_DELTAS = [' found', ' a', ' shiny', ' red', ' ball', ' under', ' the', ' old', ' oak', ' tree', '.', ' "', 'Look', '!"', ' she', ' said', '.'];

interface Harness {
  page: Page;
  post(msg: HostToPlayground | Record<string, unknown>): Promise<void>;
  posted(): Promise<PlaygroundToHost[]>;
  assertClean(): Promise<void>;
}

describe('playground webview (headless Chromium)', { skip: HAVE_CHROMIUM ? false : SKIP_REASON }, () => {
  let wb: WebviewBrowser;

  before(async () => {
    wb = await WebviewBrowser.launch('playground');
  });

  after(async () => {
    await wb?.close();
  });

  async function open(theme: Theme, viewport = { width: 1200, height: 800 }): Promise<Harness> {
    const p = await wb.open('playground', { theme, title: 'LoRA Lab Playground', rootClass: 'playground', viewport });
    return { ...p, posted: () => p.posted(isPlaygroundToHost) };
  }

  const setPrompt = (h: Harness, text: string) => h.page.$eval('#prompt', (el, t) => void ((el as HTMLElement & { value: string }).value = t), text);
  const setField = (h: Harness, id: string, v: string) => h.page.$eval(`#${id}`, (el, t) => void ((el as HTMLElement & { value: string }).value = t), v);
  const output = (h: Harness, c: 'base' | 'adapter') => h.page.evaluate((col) => window.__playground!.output(col), c);
  const shown = (h: Harness) => h.page.evaluate(() => window.__playground!.shown());
  const lastPosted = async (h: Harness) => (await h.posted()).at(-1)!;

  /** ready → init → model, as the host sends them. */
  async function initialised(theme: Theme, viewport?: { width: number; height: number }): Promise<Harness> {
    const h = await open(theme, viewport);
    assert.deepEqual(await h.posted(), [{ v: 1, type: 'ready' }]);
    await h.post({ v: 1, type: 'init', adapter: ADAPTER, model: MODEL, history: HISTORY });
    await h.post({ v: 1, type: 'model', model: MODEL, facts: { model: MODEL, has_chat_template: true, max_positions: 2048 }, error: null });
    return h;
  }

  test('Generate posts the prompt, sampling settings and both columns; streamed tokens appear per column in order; Stop sends cancel', async () => {
    const h = await initialised('vscode-light');
    assert.equal(await h.page.textContent('#adapter-badge'), ADAPTER.label);
    assert.deepEqual(await shown(h), ['base', 'adapter']);

    await setPrompt(h, 'Once upon a time, a little fox');
    await setField(h, 'temperature', '0');
    await setField(h, 'seed', '7');
    await h.page.click('#generate');
    const gen = await lastPosted(h);
    assert.deepEqual(gen, {
      v: 1,
      type: 'generate',
      gen: 1,
      prompt: 'Once upon a time, a little fox',
      params: { max_new_tokens: 128, temperature: 0, top_p: 0.9, top_k: 50, seed: 7 },
      columns: ['base', 'adapter'],
    });
    assert.equal(await h.page.evaluate(() => window.__playground!.running()), true);
    assert.equal(await h.page.$eval('#stop', (el) => (el as HTMLElement & { disabled: boolean }).disabled), false);
    assert.equal(await h.page.$eval('#generate', (el) => (el as HTMLElement & { disabled: boolean }).disabled), true);

    await h.post({ v: 1, type: 'started', gen: 1, columns: ['base', 'adapter'] });
    // Interleaved deltas, as one batched generation streams them; each column gets exactly its own, in order.
    for (let i = 0; i < Math.max(BASE_DELTAS.length, ADAPTER_DELTAS.length); i++) {
      if (i < BASE_DELTAS.length) await h.post({ v: 1, type: 'token', gen: 1, column: 'base', text: BASE_DELTAS[i] });
      if (i < ADAPTER_DELTAS.length) await h.post({ v: 1, type: 'token', gen: 1, column: 'adapter', text: ADAPTER_DELTAS[i] });
      if (i === 3) {
        assert.equal(await output(h, 'base'), BASE_DELTAS.slice(0, 4).join(''), 'text shows up while it streams');
        assert.equal(await output(h, 'adapter'), ADAPTER_DELTAS.slice(0, 4).join(''));
      }
    }
    assert.equal(await output(h, 'base'), ' lived in a small house. She liked to play.');
    assert.equal(await output(h, 'adapter'), ' found a shiny red ball under the old oak tree. "Look!" she said.');
    // Deltas of another generation are not mixed in; invalid messages are dropped.
    await h.post({ v: 1, type: 'token', gen: 0, column: 'base', text: 'STALE' });
    await h.post({ v: 1, type: 'token', gen: 1, column: 'middle', text: 'BAD' });
    await h.post({ v: 2, type: 'token', gen: 1, column: 'base', text: 'BAD' });
    assert.equal(await output(h, 'base'), ' lived in a small house. She liked to play.');

    await h.page.click('#stop');
    assert.deepEqual(await lastPosted(h), { v: 1, type: 'cancel', gen: 1 });
    await h.post({
      v: 1,
      type: 'done',
      gen: 1,
      results: [
        { column: 'base', text: BASE_DELTAS.join(''), tokens: BASE_DELTAS.length, finish_reason: 'cancelled' },
        { column: 'adapter', text: ADAPTER_DELTAS.join(''), tokens: ADAPTER_DELTAS.length, finish_reason: 'cancelled' },
      ],
    });
    assert.equal(await h.page.evaluate(() => window.__playground!.running()), false);
    assert.equal(await h.page.textContent('#base-foot'), '11 tokens · stopped');
    assert.equal(await h.page.textContent('#adapter-foot'), '17 tokens · stopped');
    await h.assertClean();
    await h.page.context().close();
  });

  test('the one-column toggle: the next generation asks for the adapter column only; without an adapter only the base column', async () => {
    const h = await initialised('vscode-dark');
    await h.page.click('#side-by-side');
    assert.deepEqual(await shown(h), ['adapter']);
    await setPrompt(h, 'Hello');
    await h.page.keyboard.press('Tab'); // focus leaves the checkbox
    await h.page.click('#generate');
    const g = (await lastPosted(h)) as Extract<PlaygroundToHost, { type: 'generate' }>;
    assert.deepEqual(g.columns, ['adapter']);
    await h.post({ v: 1, type: 'started', gen: g.gen, columns: ['adapter'] });
    await h.post({ v: 1, type: 'token', gen: g.gen, column: 'adapter', text: ' world' });
    await h.post({ v: 1, type: 'done', gen: g.gen, results: [{ column: 'adapter', text: ' world', tokens: 1, finish_reason: 'eos' }] });
    assert.equal(await h.page.textContent('#adapter-foot'), '1 token · end of sequence');
    assert.equal((await h.page.evaluate(() => window.__state)) !== undefined, true);
    assert.equal((await h.page.evaluate(() => (window.__state as { twoColumns: boolean }).twoColumns)), false, 'the choice is saved');

    // "Use Base Model": no adapter → one base column, the toggle is disabled.
    await h.post({ v: 1, type: 'adapter', adapter: null, model: MODEL });
    assert.deepEqual(await shown(h), ['base']);
    assert.equal(await h.page.$eval('#side-by-side', (el) => (el as HTMLElement & { disabled: boolean }).disabled), true);
    await h.page.click('#generate');
    assert.deepEqual(((await lastPosted(h)) as Extract<PlaygroundToHost, { type: 'generate' }>).columns, ['base']);
    await h.assertClean();
    await h.page.context().close();
  });

  test('chat mode sends messages (system + user) only when the model has a chat template; bad settings are refused on the page', async () => {
    const h = await open('vscode-light');
    await h.post({ v: 1, type: 'init', adapter: ADAPTER, model: MODEL, history: [] });
    await h.post({ v: 1, type: 'model', model: MODEL, facts: { model: MODEL, has_chat_template: false, max_positions: 512 }, error: null });
    assert.equal(await h.page.$eval('#chat-mode', (el) => (el as HTMLElement & { disabled: boolean }).disabled), true);
    await h.post({ v: 1, type: 'model', model: MODEL, facts: { model: MODEL, has_chat_template: true, max_positions: 512 }, error: null });
    await h.page.click('#chat-mode');
    assert.equal(await h.page.isVisible('#system'), true);
    await h.page.$eval('#system', (el) => void ((el as HTMLElement & { value: string }).value = 'You are terse.'));
    await setPrompt(h, 'Name a colour.');
    await h.page.click('#generate');
    const g = (await lastPosted(h)) as Extract<PlaygroundToHost, { type: 'generate' }>;
    assert.deepEqual(g.messages, [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Name a colour.' },
    ]);
    assert.equal(g.prompt, undefined);
    await h.post({ v: 1, type: 'error', gen: g.gen, message: 'adapter_model.safetensors: lora_A of q_proj is [8, 64], the model needs [8, 128]' });
    assert.equal(await h.page.textContent('#error'), 'adapter_model.safetensors: lora_A of q_proj is [8, 64], the model needs [8, 128]');
    assert.equal(await h.page.evaluate(() => window.__playground!.running()), false);

    const before = (await h.posted()).length;
    await setField(h, 'top-p', '1.5');
    await h.page.click('#generate');
    assert.equal((await h.posted()).length, before, 'nothing is posted');
    assert.match((await h.page.textContent('#error'))!, /Top-p must be in \(0, 1\]/);
    await h.page.click('#change-adapter');
    assert.deepEqual(await lastPosted(h), { v: 1, type: 'pickAdapter' });
    await h.assertClean();
    await h.page.context().close();
  });

  test('screenshots in light, dark and high contrast (mid-stream, side by side; one column; narrow)', async () => {
    for (const theme of ['vscode-light', 'vscode-dark', 'vscode-high-contrast'] as const) {
      const h = await initialised(theme);
      await setPrompt(h, 'Once upon a time, a little fox');
      await h.page.click('#generate');
      await h.post({ v: 1, type: 'started', gen: 1, columns: ['base', 'adapter'] });
      for (const t of BASE_DELTAS) await h.post({ v: 1, type: 'token', gen: 1, column: 'base', text: t });
      for (const t of ADAPTER_DELTAS.slice(0, 12)) await h.post({ v: 1, type: 'token', gen: 1, column: 'adapter', text: t });
      const file = path.join(OUT_DIR, `playground-${theme.replace('vscode-', '')}.png`);
      await h.page.screenshot({ path: file });
      process.stderr.write(`[playground] screenshot ${path.relative(ROOT, file)}\n`);
      await h.assertClean();
      await h.page.context().close();
    }
    const h = await initialised('vscode-dark', { width: 600, height: 800 });
    await h.page.click('#side-by-side');
    await h.post({ v: 1, type: 'error', gen: null, message: 'the inference worker stopped (exit 1); the next request starts it again' });
    await h.page.screenshot({ path: path.join(OUT_DIR, 'playground-narrow-one-column-dark.png') });
    await h.assertClean();
    await h.page.context().close();
  });
});
