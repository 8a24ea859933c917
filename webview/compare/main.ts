/**
 * Compare webview (browser code). Protocol: src/protocol/compare.ts — the page posts `ready`
 * once it listens, the host answers `init` (every selected run, read from disk) and `run` when
 * one changes; the page posts exports (`exportCsv`, `exportPng`) for the host to save, and
 * `openDashboard`. Anything that fails `isHostToCompare` is dropped.
 */
import '../../media/compare.css';
import '../dashboard/elements';
import type { VscodeButton } from '@vscode-elements/elements/dist/vscode-button/vscode-button.js';
import type { VscodeCheckbox } from '@vscode-elements/elements/dist/vscode-checkbox/vscode-checkbox.js';
import { type CompareChartName, type CompareToHost, isHostToCompare } from '../../src/protocol/compare';
import { watchTheme } from '../dashboard/theme';
import '../dashboard/vscode-api';
import type { DrawnDataset } from './charts';
import { ComparePage, DEFAULT_PREFS, type Prefs, type RenderInfo, type SavedState } from './compare';
import type { ReadoutEntry } from './hover';
import { type GenerationColumnState, Generations } from './generations';
import { LAYOUT } from './layout';
import type { LossSeries, XAxis } from './model';

/** Read-only window into the page for the browser tests and the benchmark. */
export interface CompareTestHook {
  chartData(name: LossSeries): DrawnDataset[];
  yScaleType(name: LossSeries): string;
  /** The y scale's range as chart.js laid it out (`chart.scales.y.min/max`). */
  yRange(name: LossSeries): { min: number; max: number } | null;
  scatterData(): { label: string; shape: string; points: [number, number, string, string][] }[];
  scatterXScaleType(): string;
  /** The scatter's x-axis labels as drawn. */
  scatterXTicks(): { value: number; label: string }[];
  runsTable(): string[][];
  hyperTable(): { keys: string[]; rows: string[][] };
  csv(): string;
  valuesAt(name: LossSeries, x: number): ReadoutEntry[];
  highlight(): string | null;
  preferences(): Prefs;
  rendered(): Promise<RenderInfo>;
  lastRender(): RenderInfo;
  zoom(min: number, max: number): void;
  setSmoothing(w: number): void;
  setAxis(axis: XAxis): void;
  /** Eval-set metrics offered by the picker, and the one charted. */
  evalKeys(): string[];
  evalKey(): string | null;
  setEvalKey(key: string): void;
  /** The generation columns as shown. */
  generations(): GenerationColumnState[];
  generating(): boolean;
}

declare global {
  interface Window {
    __compare?: CompareTestHook;
  }
}

interface CompareApi {
  postMessage(message: CompareToHost): void;
  getState(): SavedState | undefined;
  setState(state: SavedState): SavedState;
}

const vscode = acquireVsCodeApi<SavedState>() as unknown as CompareApi;
const saved = vscode.getState();
let state: SavedState = saved?.v === 1 ? { ...saved, prefs: { ...DEFAULT_PREFS, ...saved.prefs } } : { v: 1, prefs: DEFAULT_PREFS, runDirs: [] };

const root = document.getElementById('root') ?? document.body;
root.innerHTML = LAYOUT;
const byId = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

const smoothing = byId<HTMLInputElement>('smoothing');
const smoothingValue = byId<HTMLOutputElement>('smoothing-value');
const logScale = byId<VscodeCheckbox>('log-scale');
const diffOnly = byId<VscodeCheckbox>('diff-only');
const resetZoom = byId<VscodeButton>('reset-zoom');
const axisSelect = byId<HTMLSelectElement>('x-axis');

const save = (patch: Partial<SavedState>): void => {
  state = { ...state, ...patch };
  vscode.setState(state);
};

const page = new ComparePage(
  {
    root,
    title: byId('title'),
    subtitle: byId('subtitle'),
    problems: byId('problems'),
    axisSelect,
    axisNote: byId('axis-note'),
    runsTable: byId<HTMLTableElement>('runs-table'),
    hyperTable: byId<HTMLTableElement>('hyper-table'),
    hyperNote: byId('hyper-note'),
    scatterSelect: byId<HTMLSelectElement>('scatter-key'),
    scatterNote: byId('scatter-note'),
    evalSelect: byId<HTMLSelectElement>('eval-key'),
  },
  state.prefs,
  (prefs) => save({ prefs }),
  (zoomed) => {
    resetZoom.disabled = !zoomed;
  },
  (runDir) => vscode.postMessage({ v: 1, type: 'openDashboard', run_dir: runDir }),
);

const generations = new Generations(
  {
    prompt: byId<HTMLTextAreaElement>('gen-prompt'),
    maxTokens: byId<HTMLInputElement>('gen-max'),
    temperature: byId<HTMLInputElement>('gen-temp'),
    run: byId<VscodeButton>('gen-run'),
    stop: byId<VscodeButton>('gen-stop'),
    notes: byId('gen-notes'),
    error: byId('gen-error'),
    columns: byId('generations'),
  },
  (m) => vscode.postMessage(m),
  (dir) => page.curves.find((c) => c.run.run_dir === dir)?.color,
);

const showSmoothing = (w: number): void => {
  smoothing.value = String(w);
  smoothingValue.value = w.toFixed(2);
};
showSmoothing(state.prefs.smoothing);
logScale.checked = state.prefs.logY;
diffOnly.checked = state.prefs.diffOnly;
axisSelect.value = state.prefs.axis;

smoothing.addEventListener('input', () => {
  const w = Number(smoothing.value);
  smoothingValue.value = w.toFixed(2);
  page.setSmoothing(w);
});
logScale.addEventListener('change', () => page.setLogY(logScale.checked));
diffOnly.addEventListener('change', () => page.setDiffOnly(diffOnly.checked));
axisSelect.addEventListener('change', () => page.setAxis(axisSelect.value as XAxis));
resetZoom.addEventListener('click', () => page.setZoom(null));
byId('export-csv').addEventListener('click', () => vscode.postMessage({ v: 1, type: 'exportCsv', csv: page.csv() }));
for (const b of root.querySelectorAll<HTMLElement>('.export-png')) {
  b.addEventListener('click', () => {
    const chart = b.dataset.chart as CompareChartName;
    vscode.postMessage({ v: 1, type: 'exportPng', chart, data_url: page.pngDataUrl(chart) });
  });
}
watchTheme(() => {
  page.themeChanged();
  generations.recolor();
});

window.addEventListener('message', (event: MessageEvent<unknown>) => {
  const msg = event.data;
  if (!isHostToCompare(msg)) return;
  if (msg.type === 'generationStarted' || msg.type === 'generation' || msg.type === 'generationEnded' || msg.type === 'generationDone') {
    generations.handle(msg);
    return;
  }
  page.handle(msg);
  generations.recolor();
  if (msg.type === 'init') save({ runDirs: page.runDirs });
});

window.__compare = {
  chartData: (name) => page.loss.get(name)?.chart.drawn() ?? [],
  yScaleType: (name) => page.loss.get(name)?.chart.yScaleType ?? '',
  yRange: (name) => page.loss.get(name)?.chart.yRange ?? null,
  scatterData: () => page.scatter.drawn(),
  scatterXScaleType: () => page.scatter.xScaleType,
  scatterXTicks: () => page.scatter.xTickLabels,
  runsTable: () => page.runsTable.texts(),
  hyperTable: () => page.hyperTable.texts(),
  csv: () => page.csv(),
  valuesAt: (name, x) => page.valuesAt(name, x),
  highlight: () => page.highlight,
  preferences: () => page.preferences,
  rendered: () => page.rendered(),
  lastRender: () => page.lastRender,
  zoom: (min, max) => page.setZoom({ min, max }),
  setSmoothing: (w) => {
    showSmoothing(w);
    page.setSmoothing(w);
  },
  evalKeys: () => page.evalKeys,
  evalKey: () => page.curves[0]?.evalKey ?? null,
  setEvalKey: (key) => page.setEvalKey(key),
  generations: () => generations.columns,
  generating: () => generations.isRunning,
  setAxis: (axis) => {
    axisSelect.value = axis;
    page.setAxis(axis);
  },
};

vscode.postMessage({ v: 1, type: 'ready' });
