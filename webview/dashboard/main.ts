/**
 * Run dashboard webview (browser code). Protocol: src/protocol/dashboard.ts — the page posts
 * `ready` once it listens, then the host sends `init` (the whole run, read from disk),
 * `metrics` rows as they are appended and `status` changes. Anything that fails
 * `isHostToDashboard` is dropped.
 */
import '../../media/dashboard.css';
import './elements';
import type { VscodeButton } from '@vscode-elements/elements/dist/vscode-button/vscode-button.js';
import type { VscodeCheckbox } from '@vscode-elements/elements/dist/vscode-checkbox/vscode-checkbox.js';
import { isHostToDashboard } from '../../src/protocol/dashboard';
import type { ChartName, DrawnDataset, SeriesKey } from './charts';
import { Dashboard, DEFAULT_PREFS, type Prefs, type RenderInfo, type SavedState } from './dashboard';
import { FactsPanel } from './facts';
import { LAYOUT } from './layout';
import { SummaryBand } from './summary';
import { watchTheme } from './theme';
import './vscode-api';

/** Read-only window into the page for the browser tests (test/webview/dashboard.test.ts). */
export interface DashboardTestHook {
  /** The datasets a chart draws now (hidden ones left out), points as [step, value]. */
  chartData(name: ChartName): DrawnDataset[];
  /** Points held in memory for a series (every row, not downsampled). */
  rawCount(series: SeriesKey): number;
  /** The smoothed values of a series, one per held point. */
  smoothedValues(series: SeriesKey): number[];
  canvasWidth(name: ChartName): number;
  yScaleType(name: ChartName): string;
  /** The y axis's tick labels as drawn, bottom to top, and its title. */
  yTicks(name: ChartName): { labels: string[]; title: string };
  preferences(): Prefs;
  /** Resolves after the next render, with its timing. */
  rendered(): Promise<RenderInfo>;
  lastRender(): RenderInfo;
  zoom(min: number, max: number): void;
  /** The eval-set chart's datasets (one per eval/<set>/<metric> key), and whether it is shown. */
  evalData(): DrawnDataset[];
  evalShown(): boolean;
  /** Where `step` is on the chart's canvas (CSS px from its top-left; y mid-plot). */
  stepPixel(name: ChartName, step: number): { x: number; y: number } | null;
  /** The tooltip shown now: its title, then one line per dataset. */
  tooltipLines(name: ChartName): string[];
  /** Steps at which the last draw put a "resumed" marker. */
  resumeMarkers(name: ChartName): number[];
  /** Canvas pixel of a drawn dataset's point at `step`, and the plot area. */
  pointPixel(name: ChartName, label: string, step: number): { x: number; y: number; area: { left: number; right: number; top: number; bottom: number } } | null;
}

declare global {
  interface Window {
    __dashboard?: DashboardTestHook;
  }
}

const vscode = acquireVsCodeApi<SavedState>();
const saved = vscode.getState();
let state: SavedState = saved?.v === 1 ? saved : { v: 1, prefs: DEFAULT_PREFS, run: null };

const root = document.getElementById('root') ?? document.body;
root.innerHTML = LAYOUT;
const byId = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

const facts = new FactsPanel({
  name: byId('run-name'),
  badge: byId('status-badge'),
  progress: byId('step-progress'),
  stop: byId('stop-run'),
  facts: byId('facts-body'),
  hyperparameters: byId('hyperparameters-body'),
});

const smoothing = byId<HTMLInputElement>('smoothing');
const smoothingValue = byId<HTMLOutputElement>('smoothing-value');
const logScale = byId<VscodeCheckbox>('log-scale');
const resetZoom = byId<VscodeButton>('reset-zoom');

const save = (patch: Partial<SavedState>): void => {
  state = { ...state, ...patch };
  vscode.setState(state);
};

/** The controls show `prefs`. */
const showPrefs = (prefs: Prefs): void => {
  smoothing.value = String(prefs.smoothing);
  smoothingValue.value = prefs.smoothing.toFixed(2);
  logScale.checked = prefs.logY;
};

const dashboard = new Dashboard(
  root,
  facts,
  state.prefs,
  (prefs) => {
    save({ prefs });
    // The host remembers them for the workspace: the next dashboard opens with them.
    vscode.postMessage({ v: 1, type: 'prefs', prefs });
  },
  (zoomed) => {
    resetZoom.disabled = !zoomed;
  },
  (prefs) => {
    save({ prefs });
    showPrefs(prefs);
  },
);

// Restore what we had before the webview was hidden or reloaded; `init` follows and replaces it.
if (state.run) facts.setRun(state.run);
showPrefs(state.prefs);

smoothing.addEventListener('input', () => {
  const w = Number(smoothing.value);
  smoothingValue.value = w.toFixed(2);
  dashboard.setSmoothing(w);
});
logScale.addEventListener('change', () => dashboard.setLogY(logScale.checked));
resetZoom.addEventListener('click', () => dashboard.setZoom(null));
byId('stop-run').addEventListener('click', () => vscode.postMessage({ v: 1, type: 'stopRun' }));
byId('reveal-folder').addEventListener('click', () => vscode.postMessage({ v: 1, type: 'revealRunFolder' }));
watchTheme(() => dashboard.themeChanged());
const summary = new SummaryBand(byId('summary-band'), (type) => vscode.postMessage({ v: 1, type }));

window.addEventListener('message', (event: MessageEvent<unknown>) => {
  const msg = event.data;
  if (!isHostToDashboard(msg)) return;
  dashboard.handle(msg);
  summary.handle(msg, facts.facts);
  if (msg.type !== 'metrics') save({ run: facts.facts });
});

window.__dashboard = {
  chartData: (name) => dashboard.charts.get(name)?.chart.drawn() ?? [],
  rawCount: (series) => dashboard.stores.get(series)?.length ?? 0,
  smoothedValues: (series) => {
    const s = dashboard.stores.get(series);
    return s ? Array.from(s.smoothed.subarray(0, s.length)) : [];
  },
  canvasWidth: (name) => dashboard.charts.get(name)?.chart.canvasWidth ?? 0,
  yScaleType: (name) => dashboard.charts.get(name)?.chart.yScaleType ?? '',
  yTicks: (name) => {
    const c = dashboard.charts.get(name)?.chart;
    const title = (c?.chart.options.scales?.y as { title?: { display?: boolean; text?: string } } | undefined)?.title;
    return { labels: c?.yTickLabels() ?? [], title: title?.display ? String(title.text ?? '') : '' };
  },
  preferences: () => dashboard.preferences,
  rendered: () => dashboard.rendered(),
  lastRender: () => dashboard.lastRender,
  zoom: (min, max) => dashboard.setZoom({ min, max }),
  evalData: () => (dashboard.evalStores.size ? dashboard.evalChart.drawn() : []),
  evalShown: () => !root.querySelector<HTMLElement>('[data-chart="eval"]')!.hidden,
  stepPixel: (name, step) => dashboard.charts.get(name)?.chart.stepPixel(step) ?? null,
  tooltipLines: (name) => dashboard.charts.get(name)?.chart.tooltipLines() ?? [],
  resumeMarkers: (name) => dashboard.charts.get(name)?.chart.markersDrawn ?? [],
  pointPixel: (name, label, step) => dashboard.charts.get(name)?.chart.pointPixel(label, step) ?? null,
};

vscode.postMessage({ v: 1, type: 'ready' });
