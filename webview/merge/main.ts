/**
 * Merge webview (browser code). Protocol: src/protocol/merge.ts — the page posts `ready` once it
 * listens; the host sends `init` (adapters, a free name, the output folder), `adapters` to add,
 * `plan` / `error` per preview id, `busy`, `merged` or `error` per merge, and `name` (the next
 * merge's default name). Anything that fails `isHostToMerge` is dropped. The page checks the
 * settings before it posts (the host and the CLI check again) and shows only the parameters the
 * chosen method uses.
 */
import '../../media/merge.css';
import './elements';
import type { VscodeButton } from '@vscode-elements/elements/dist/vscode-button/vscode-button.js';
import type { VscodeSingleSelect } from '@vscode-elements/elements/dist/vscode-single-select/vscode-single-select.js';
import type { VscodeTextfield } from '@vscode-elements/elements/dist/vscode-textfield/vscode-textfield.js';
import {
  type HostToMerge,
  type MergeAdapterRow,
  type MergeMethodName,
  type MergePlan,
  type MergeRequest,
  METHOD_PARAMS,
  isHostToMerge,
  isMergeName,
} from '../../src/protocol/merge';
import { LAYOUT, METHOD_HINTS } from './layout';
import { acquireMergeApi } from './vscode-api';

/** Read-only window into the page for the browser tests (test/webview/merge.test.ts). */
export interface MergeTestHook {
  /** The request the settings make now, or the message that says what is wrong. */
  request(): MergeRequest | string;
  /** The parameters shown now (data-param of the visible fields). */
  visibleParams(): string[];
  /** The preview table's cells, row by row. */
  moduleRows(): string[][];
}

declare global {
  interface Window {
    __merge?: MergeTestHook;
  }
}

const vscode = acquireMergeApi();
const root = document.getElementById('root') ?? document.body;
root.innerHTML = LAYOUT;
const byId = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

const rowsBody = byId('adapter-rows');
const noAdapters = byId('no-adapters');
const method = byId<VscodeSingleSelect>('method');
const fields = { rank: byId<VscodeTextfield>('rank'), density: byId<VscodeTextfield>('density'), seed: byId<VscodeTextfield>('seed') };
const majoritySign = byId<VscodeSingleSelect>('majority-sign');
const nameField = byId<VscodeTextfield>('name');
const outPath = byId('out-path');
const previewButton = byId<VscodeButton>('preview-button');
const mergeButton = byId<VscodeButton>('merge-button');
const stopButton = byId<VscodeButton>('stop');
const statusLine = byId('status');
const errorBox = byId('error');
const doneBox = byId('done');
const previewBox = byId('preview');
const staleNote = byId('stale');

interface Row {
  adapter: MergeAdapterRow;
  weight: VscodeTextfield;
  tr: HTMLTableRowElement;
}
let rows: Row[] = [];
let folder: string | null = null;
let previewId = 0;
let busy: 'preview' | 'merge' | null = null;

const methodName = (): MergeMethodName => (method.value || 'linear') as MergeMethodName;

function cell(text: string, cls?: string): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function addRows(list: readonly MergeAdapterRow[]): void {
  for (const a of list) {
    if (rows.some((r) => r.adapter.path === a.path)) continue;
    const tr = document.createElement('tr');
    const name = cell(a.label, 'adapter-name');
    name.title = a.path;
    const weightCell = document.createElement('td');
    weightCell.className = 'num';
    const weight = document.createElement('vscode-textfield') as VscodeTextfield;
    // Text, not type=number: its step rule would mark weights such as 0.333 invalid; readRequest checks them.
    weight.setAttribute('aria-label', `Weight of ${a.label}`);
    weight.className = 'weight';
    weight.value = '1';
    weight.addEventListener('input', changed);
    weightCell.append(weight);
    const removeCell = document.createElement('td');
    removeCell.className = 'remove';
    const remove = document.createElement('vscode-button') as VscodeButton;
    remove.setAttribute('secondary', '');
    remove.setAttribute('aria-label', `Remove ${a.label}`);
    remove.textContent = 'Remove';
    const row: Row = { adapter: a, weight, tr };
    remove.addEventListener('click', () => {
      rows = rows.filter((r) => r !== row);
      tr.remove();
      renderRows();
      changed();
    });
    removeCell.append(remove);
    tr.append(name, cell(a.r === null ? '—' : `${a.r} · ${a.lora_alpha ?? '—'}`, 'num'), weightCell, removeCell);
    rowsBody.append(tr);
    rows.push(row);
  }
  renderRows();
}

function renderRows(): void {
  noAdapters.hidden = rows.length > 0;
}

function renderMethod(): void {
  const uses = METHOD_PARAMS[methodName()];
  for (const el of document.querySelectorAll<HTMLElement>('[data-param]')) {
    const key = el.dataset.param as keyof typeof uses | 'method';
    el.hidden = key !== 'method' && !uses[key];
  }
  byId('method-hint').textContent = METHOD_HINTS[methodName()];
}

function renderOutPath(): void {
  const name = nameField.value.trim() || nameField.placeholder;
  outPath.textContent = folder ? `Writes ${folder}/${name}/` : 'Open a folder first: merged adapters go to .loralab/merged in the workspace';
}

function renderBusy(): void {
  previewButton.disabled = busy === 'merge';
  mergeButton.disabled = busy !== null;
  stopButton.hidden = busy === null;
  statusLine.textContent = busy === 'preview' ? 'Computing the preview…' : busy === 'merge' ? 'Merging…' : '';
}

function showError(message: string | null): void {
  errorBox.hidden = message === null;
  errorBox.textContent = message ?? '';
}

/** Settings changed: an earlier preview no longer describes them. */
function changed(): void {
  if (!previewBox.hidden) staleNote.hidden = false;
  doneBox.hidden = true;
}

function readRequest(): MergeRequest | string {
  if (rows.length === 0) return 'Add at least one adapter.';
  const adapters: MergeRequest['adapters'] = [];
  for (const r of rows) {
    const text = r.weight.value.trim();
    const w = text === '' ? NaN : Number(text);
    if (!Number.isFinite(w)) return `The weight of ${r.adapter.label} must be a number (negative subtracts the adapter).`;
    adapters.push({ path: r.adapter.path, weight: w });
  }
  const m = methodName();
  const uses = METHOD_PARAMS[m];
  const req: MergeRequest = { adapters, method: m };
  const rank = fields.rank.value.trim();
  if (uses.rank && rank !== '') {
    const k = Number(rank);
    if (!Number.isSafeInteger(k) || k < 1) return 'Rank k must be a whole number ≥ 1 (empty: the largest input rank).';
    req.rank = k;
  }
  if (uses.density) {
    const d = Number(fields.density.value.trim() || NaN);
    if (!(d > 0 && d <= 1)) return 'Density must be in (0, 1]: the fraction of each ΔW’s entries kept.';
    req.density = d;
  }
  if (uses.majority_sign) req.majority_sign = majoritySign.value === 'frequency' ? 'frequency' : 'total';
  const seed = fields.seed.value.trim();
  if (uses.seed && seed !== '') {
    const s = Number(seed);
    if (!Number.isSafeInteger(s)) return 'Seed must be a whole number (empty: 0).';
    req.seed = s;
  }
  return req;
}

const pct = (x: number): string => `${(100 * x).toFixed(x >= 0.9995 ? 0 : 2)} %`;
const sizeText = (b: number): string => (b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : b >= 1e6 ? `${(b / 1e6).toFixed(1)} MB` : `${(b / 1e3).toFixed(1)} kB`);

function renderPlan(plan: MergePlan): void {
  previewBox.hidden = false;
  staleNote.hidden = true;
  const ranks = plan.modules.map((m) => m.r);
  const lo = Math.min(...ranks);
  const hi = Math.max(...ranks);
  const minKept = Math.min(...plan.modules.map((m) => m.kept_norm_fraction));
  byId('summary').textContent = `${plan.method} · ${plan.modules.length} module${plan.modules.length === 1 ? '' : 's'} · rank ${lo === hi ? lo : `${lo}–${hi}`} · ${sizeText(plan.bytes)} on disk · lowest kept ‖ΔW‖ ${pct(minKept)}`;
  const body = byId('module-rows');
  body.replaceChildren(
    ...plan.modules.map((m) => {
      const tr = document.createElement('tr');
      const kept = cell(pct(m.kept_norm_fraction), 'num');
      if (m.kept_norm_fraction < 0.9) kept.classList.add('low');
      tr.append(cell(m.module, 'module'), cell(String(m.r), 'num'), kept, cell(sizeText(m.bytes), 'num'));
      return tr;
    }),
  );
}

function post(kind: 'preview' | 'merge'): void {
  const req = readRequest();
  if (typeof req === 'string') {
    showError(req);
    return;
  }
  if (kind === 'preview') {
    showError(null);
    previewId += 1;
    vscode.postMessage({ v: 1, type: 'preview', id: previewId, request: req });
    return;
  }
  const name = nameField.value.trim() || nameField.placeholder;
  if (!isMergeName(name)) {
    showError('The name may hold letters, digits, “.”, “_” and “-” (not first “.”), at most 100 characters.');
    return;
  }
  showError(null);
  doneBox.hidden = true;
  vscode.postMessage({ v: 1, type: 'merge', name, request: req });
}

function handle(msg: HostToMerge): void {
  switch (msg.type) {
    case 'init':
      folder = msg.folder;
      nameField.placeholder = msg.name;
      rows.forEach((r) => r.tr.remove());
      rows = [];
      addRows(msg.adapters);
      renderOutPath();
      return;
    case 'adapters':
      addRows(msg.adapters);
      changed();
      return;
    case 'plan':
      if (msg.id !== previewId) return;
      showError(null);
      renderPlan(msg.plan);
      return;
    case 'busy':
      busy = msg.what;
      renderBusy();
      return;
    case 'merged':
      renderPlan(msg.plan);
      doneBox.hidden = false;
      doneBox.textContent = `Merged into ${msg.dir} — it is in the Adapters view under “Merged”.`;
      nameField.value = '';
      renderOutPath(); // the cleared field: the path no longer names the folder just written
      return;
    case 'name':
      nameField.placeholder = msg.name; // a free name for the next merge
      renderOutPath();
      return;
    case 'error':
      if (msg.id !== null && msg.id !== previewId) return;
      showError(msg.message);
      return;
  }
}

method.addEventListener('change', () => {
  renderMethod();
  changed();
});
for (const f of [fields.rank, fields.density, fields.seed]) f.addEventListener('input', changed);
majoritySign.addEventListener('change', changed);
nameField.addEventListener('input', renderOutPath);
byId('add').addEventListener('click', () => vscode.postMessage({ v: 1, type: 'pickAdapters', exclude: rows.map((r) => r.adapter.path) }));
previewButton.addEventListener('click', () => post('preview'));
mergeButton.addEventListener('click', () => post('merge'));
stopButton.addEventListener('click', () => vscode.postMessage({ v: 1, type: 'cancel' }));

window.addEventListener('message', (event: MessageEvent<unknown>) => {
  if (isHostToMerge(event.data)) handle(event.data);
});

method.value = 'linear';
renderRows();
renderMethod();
renderBusy();
renderOutPath();

window.__merge = {
  request: readRequest,
  visibleParams: () => [...document.querySelectorAll<HTMLElement>('[data-param]')].filter((el) => !el.hidden).map((el) => el.dataset.param!),
  moduleRows: () => [...byId('module-rows').querySelectorAll('tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')),
};

vscode.postMessage({ v: 1, type: 'ready' });
