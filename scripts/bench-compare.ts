/**
 * Compare view speed in headless Chromium (`npm run bench:compare`; `npm run bench` runs it
 * after the engine benchmark). Prints figures and the machine's load, never asserts a time:
 *
 *   open      100 runs × 10,000 logged steps: from posting `init` (structured clone of the
 *             Float64Array columns, as VS Code delivers them) to the first complete render
 *             (tables, scatter, both loss charts) and the frame after it
 *   smoothing a smoothing change: one render (re-smoothing 100 × 10,000 points, downsampling,
 *             drawing) — median and worst of 10
 *   zoom      a zoom into the middle fifth: one render — median and worst of 10
 *   host      reading the same 100 runs from run folders on disk (`loadCompareRun`, metrics
 *             as columns), the extension host's share of opening the view; and, for reference,
 *             the same files through `readMetrics` (one row object per line)
 *   transfer  the `init` message through `v8.serialize` + `v8.deserialize` (structured clone:
 *             the copy VS Code's IPC makes of the typed arrays; not the socket hop)
 *   total     host + transfer + open: the whole path from the click to the drawn view
 *
 * Options: --runs N (100), --steps N (10000), --eval-every N (50).
 */
import { execSync } from 'node:child_process';
import { deserialize, serialize } from 'node:v8';
import { mkdtempSync, rmSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import * as path from 'node:path';
import { CompareBrowser, HAVE_CHROMIUM, SKIP_REASON, SYNTHETIC_RUNS_SOURCE } from '../test/webview/compare-harness';
import { loadCompareRun } from '../src/extension/compare/load';
import { createRun, readMetrics } from '../src/runs/index';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const RUNS = arg('runs', 100);
const STEPS = arg('steps', 10_000);
const EVAL_EVERY = arg('eval-every', 50);

const load = (): string => {
  try {
    return execSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return 'uptime unavailable';
  }
};
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (v: number): string => `${v.toFixed(1)} ms`;

async function browserFigures(): Promise<number> {
  const cb = await CompareBrowser.launch();
  try {
    const h = await cb.open('vscode-dark', { viewport: { width: 1400, height: 1000 } });
    const open = await h.page.evaluate(
      async ({ src, runs, steps, every }) => {
        const make = (0, eval)(src) as (n: number, s: number, e: number) => unknown[];
        const data = make(runs, steps, every);
        const t0 = performance.now();
        window.postMessage({ v: 1, type: 'init', runs: data, problems: [] }, '*');
        const info = await new Promise<{ ms: number; points: number; tablesMs: number; ingestMs: number }>((resolve) =>
          window.addEventListener('message', () => resolve(window.__compare!.rendered()), { once: true }),
        );
        const rendered = performance.now() - t0;
        await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
        return { rendered, painted: performance.now() - t0, info };
      },
      { src: SYNTHETIC_RUNS_SOURCE, runs: RUNS, steps: STEPS, every: EVAL_EVERY },
    );
    const timings = await h.page.evaluate(async () => {
      const c = window.__compare!;
      const smoothing: number[] = [];
      const smoothingData: number[] = [];
      const smoothingLines: number[] = [];
      const zoom: number[] = [];
      for (let i = 0; i < 10; i++) {
        c.setSmoothing(i % 2 ? 0.6 : 0.8);
        const info = await c.rendered();
        smoothing.push(info.ms);
        smoothingData.push(info.downsampleMs);
        smoothingLines.push(info.linesMs);
      }
      const all = c.chartData('train');
      const xmax = Math.max(...all.map((d) => d.points.at(-1)?.[0] ?? 0));
      for (let i = 0; i < 10; i++) {
        c.zoom(xmax * (0.4 + i * 0.001), xmax * (0.6 + i * 0.001));
        zoom.push((await c.rendered()).ms);
      }
      return { smoothing, smoothingData, smoothingLines, zoom, points: c.lastRender().points };
    });
    if (h.errors.length) throw new Error(`page errors: ${h.errors.join('; ')}`);
    console.log(`compare view, headless Chromium, ${RUNS} runs × ${STEPS.toLocaleString('en-US')} logged steps (validation every ${EVAL_EVERY}):`);
    console.log(`  open       ${ms(open.rendered)} to the first complete render (ingest ${ms(open.info.ingestMs)}, tables + scatter ${ms(open.info.tablesMs)}); ${ms(open.painted)} to the next frame; ${open.info.points.toLocaleString('en-US')} points drawn`);
    console.log(`  smoothing  median ${ms(median(timings.smoothing))}, worst ${ms(Math.max(...timings.smoothing))} per re-render (medians: smoothing + downsampling ${ms(median(timings.smoothingData))}, stroking lines ${ms(median(timings.smoothingLines))})`);
    console.log(`  zoom       median ${ms(median(timings.zoom))}, worst ${ms(Math.max(...timings.zoom))} per re-render (${timings.points.toLocaleString('en-US')} points)`);
    await h.close();
    return open.painted;
  } finally {
    await cb.close();
  }
}

async function hostFigures(): Promise<number> {
  const dir = mkdtempSync(path.join(tmpdir(), 'loralab-bench-compare-'));
  try {
    const dirs: string[] = [];
    for (let k = 0; k < RUNS; k++) {
      const run = await createRun(dir, `bench-${k}`, {
        experiment_file: null,
        config: { lora: { r: 8 }, training: { learning_rate: 1e-4, per_device_train_batch_size: 4, gradient_accumulation_steps: 1 }, data: { packing: false } },
        model: { path: '/m', sha256: null },
        dataset: { train_sha256: null, validation_sha256: null },
        provider: 'cpu',
        engine_version: 'bench',
        max_steps: STEPS,
        pid: process.pid,
      });
      // Rows as the trainer writes them: full-precision losses, grad norms and learning rates.
      let text = '';
      let seed = 1 + k;
      const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
      for (let s = 1; s <= STEPS; s++) {
        const row: Record<string, number> = { step: s, time: Math.round(s * 0.25 * 1000) / 1000, train_loss: 2 + 1 / s + rnd() / 10, lr: 1e-4 * Math.min(1, s / 100) * (0.5 + 0.5 * Math.cos((Math.PI * s) / STEPS)), grad_norm: 0.5 + rnd(), tokens: s * 2048, tokens_per_s: Math.round(8000 + 400 * rnd()) };
        if (s % EVAL_EVERY === 0) row.val_loss = 2.1 + 1 / s + rnd() / 100;
        text += JSON.stringify(row) + '\n';
      }
      await appendFile(path.join(run.dir, 'metrics.jsonl'), text);
      dirs.push(run.dir);
    }
    // Each way twice, the second timed: the first warms the JIT and the page cache alike.
    let runs: Awaited<ReturnType<typeof loadCompareRun>>[] = [];
    let hostMs = 0;
    let rowsMs = 0;
    for (let round = 0; round < 2; round++) {
      const t0 = performance.now();
      runs = await Promise.all(dirs.map((d) => loadCompareRun(d)));
      hostMs = performance.now() - t0;
      const t1 = performance.now();
      await Promise.all(dirs.map((d) => readMetrics(d)));
      rowsMs = performance.now() - t1;
    }
    const t2 = performance.now();
    const bytes = serialize({ v: 1, type: 'init', runs, problems: [], preset: null });
    deserialize(bytes);
    const transferMs = performance.now() - t2;
    console.log(`  host       ${ms(hostMs)} to read the ${RUNS} run folders (run.json + metrics.jsonl as columns) in the extension host's Node (readMetrics, a row object per line: ${ms(rowsMs)})`);
    console.log(`  transfer   ${ms(transferMs)} to structured-clone the init message (${(bytes.length / 2 ** 20).toFixed(1)} MiB) out and back in`);
    return hostMs + transferMs;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (!HAVE_CHROMIUM) {
  console.log(`compare view benchmark skipped: ${SKIP_REASON}`);
} else {
  console.log(`load before: ${load()} (${cpus().length} CPUs)`);
  const openMs = await browserFigures();
  const hostMs = await hostFigures();
  console.log(`  total      ${ms(hostMs + openMs)} from reading the run folders to the drawn view (host + transfer + open; the target is under 2 s)`);
  console.log(`load after:  ${load()}`);
}
