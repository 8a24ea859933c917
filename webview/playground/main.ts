/**
 * Playground webview (browser code). Protocol: src/protocol/playground.ts — the page posts
 * `ready` once it listens; the host sends `init` (active adapter, model, history), `model`
 * (chat template or not), `adapter` changes, and per generation `started`, `token` deltas per
 * column and one `done` or `error`. Anything that fails `isHostToPlayground` is dropped. The
 * layout choice, the sampling settings and the draft survive hiding and reloads (`setState`).
 */
import '../../media/playground.css';
import './elements';
import type { VscodeButton } from '@vscode-elements/elements/dist/vscode-button/vscode-button.js';
import type { VscodeCheckbox } from '@vscode-elements/elements/dist/vscode-checkbox/vscode-checkbox.js';
import type { VscodeSingleSelect } from '@vscode-elements/elements/dist/vscode-single-select/vscode-single-select.js';
import type { VscodeTextarea } from '@vscode-elements/elements/dist/vscode-textarea/vscode-textarea.js';
import type { VscodeTextfield } from '@vscode-elements/elements/dist/vscode-textfield/vscode-textfield.js';
import {
  type AdapterLabel,
  type Column,
  DEFAULT_SAMPLING,
  type HistoryEntry,
  type HostToPlayground,
  type SamplingParams,
  isHostToPlayground,
  isSamplingParams,
} from '../../src/protocol/playground';
import type { ChatMessageLike } from '../../src/protocol/worker';
import { LAYOUT } from './layout';
import { acquirePlaygroundApi } from './vscode-api';

interface SavedState {
  v: 1;
  twoColumns: boolean;
  chat: boolean;
  params: SamplingParams;
  prompt: string;
  system: string;
}

/** Read-only window into the page for the browser tests (test/webview/playground.test.ts). */
export interface PlaygroundTestHook {
  output(column: Column): string;
  /** Columns shown now, in order. */
  shown(): Column[];
  running(): boolean;
  gen(): number;
}

declare global {
  interface Window {
    __playground?: PlaygroundTestHook;
  }
}

const vscode = acquirePlaygroundApi<SavedState>();
const saved = vscode.getState();
let state: SavedState = saved?.v === 1 && isSamplingParams(saved.params) ? saved : { v: 1, twoColumns: true, chat: false, params: DEFAULT_SAMPLING, prompt: '', system: '' };
const save = (patch: Partial<SavedState>) => {
  state = { ...state, ...patch };
  vscode.setState(state);
};

const root = document.getElementById('root') ?? document.body;
root.innerHTML = LAYOUT;
const byId = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

const modelName = byId('model-name');
const adapterBadge = byId('adapter-badge');
const sideBySide = byId<VscodeCheckbox>('side-by-side');
const chatMode = byId<VscodeCheckbox>('chat-mode');
const history = byId<VscodeSingleSelect>('history');
const systemBox = byId<VscodeTextarea>('system');
const promptBox = byId<VscodeTextarea>('prompt');
const generateButton = byId<VscodeButton>('generate');
const stopButton = byId<VscodeButton>('stop');
const statusLine = byId('status');
const errorBox = byId('error');
const columnsBox = byId('columns');
const fields = {
  max_new_tokens: byId<VscodeTextfield>('max-new-tokens'),
  temperature: byId<VscodeTextfield>('temperature'),
  top_p: byId<VscodeTextfield>('top-p'),
  top_k: byId<VscodeTextfield>('top-k'),
  seed: byId<VscodeTextfield>('seed'),
};

let adapter: AdapterLabel | null = null;
let hasChatTemplate = false;
let entries: HistoryEntry[] = [];
let gen = 0;
let running = false;
const outputs: Record<Column, Text> = { base: document.createTextNode(''), adapter: document.createTextNode('') };
byId('base-output').append(outputs.base);
byId('adapter-output').append(outputs.adapter);

// Restore what we had before the webview was hidden or reloaded.
sideBySide.checked = state.twoColumns;
chatMode.checked = state.chat;
promptBox.value = state.prompt;
systemBox.value = state.system;
fields.max_new_tokens.value = String(state.params.max_new_tokens);
fields.temperature.value = String(state.params.temperature);
fields.top_p.value = String(state.params.top_p);
fields.top_k.value = String(state.params.top_k);
fields.seed.value = state.params.seed === null ? '' : String(state.params.seed);

/** The columns a generation shows: both when side by side and an adapter is active, else the adapter's (or the base model's). */
function wantedColumns(): Column[] {
  if (!adapter) return ['base'];
  return sideBySide.checked ? ['base', 'adapter'] : ['adapter'];
}

function showColumns(columns: Column[]): void {
  for (const el of columnsBox.querySelectorAll<HTMLElement>('.column')) el.hidden = !columns.includes(el.dataset.column as Column);
  columnsBox.classList.toggle('two', columns.length === 2);
}

function renderAdapter(): void {
  adapterBadge.textContent = adapter ? adapter.label : 'none (base model)';
  adapterBadge.title = adapter?.path ?? 'No adapter is active: generation uses the base model';
  byId('adapter-label').textContent = adapter?.label ?? '';
  sideBySide.disabled = !adapter;
  if (!running) showColumns(wantedColumns());
}

function renderChatMode(): void {
  chatMode.disabled = !hasChatTemplate;
  const chat = hasChatTemplate && chatMode.checked;
  systemBox.hidden = !chat;
  promptBox.placeholder = chat ? 'User message — Ctrl+Enter generates' : 'Prompt — Ctrl+Enter generates';
}

function renderHistory(): void {
  history.replaceChildren();
  const head = document.createElement('vscode-option');
  head.textContent = entries.length ? `${entries.length} recent prompt${entries.length === 1 ? '' : 's'}…` : 'No prompts yet';
  head.setAttribute('value', '');
  history.append(head);
  entries.forEach((e, i) => {
    const o = document.createElement('vscode-option');
    const text = e.messages ? e.messages.map((m) => `${m.role}: ${m.content}`).join(' · ') : (e.prompt ?? '');
    o.textContent = text.length > 80 ? `${text.slice(0, 79)}…` : text || '(empty)';
    o.setAttribute('value', String(i));
    history.append(o);
  });
  history.value = '';
}

function setRunning(on: boolean): void {
  running = on;
  generateButton.disabled = on;
  stopButton.disabled = !on;
}

function showError(message: string | null): void {
  errorBox.hidden = message === null;
  errorBox.textContent = message ?? '';
}

/** The sampling fields, or the name of the first invalid one. */
function readParams(): SamplingParams | string {
  const num = (f: VscodeTextfield) => (f.value.trim() === '' ? NaN : Number(f.value));
  const seedText = fields.seed.value.trim();
  const p: SamplingParams = {
    max_new_tokens: num(fields.max_new_tokens),
    temperature: num(fields.temperature),
    top_p: num(fields.top_p),
    top_k: num(fields.top_k),
    seed: seedText === '' ? null : Number(seedText),
  };
  if (!Number.isInteger(p.max_new_tokens) || p.max_new_tokens < 1) return 'Max new tokens must be a whole number ≥ 1';
  if (!(p.temperature >= 0)) return 'Temperature must be ≥ 0 (0 decodes greedily)';
  if (!(p.top_p > 0 && p.top_p <= 1)) return 'Top-p must be in (0, 1]';
  if (!Number.isInteger(p.top_k) || p.top_k < 0) return 'Top-k must be a whole number ≥ 0 (0 keeps every token)';
  if (p.seed !== null && (!Number.isInteger(p.seed) || p.seed < 0)) return 'Seed must be a whole number ≥ 0, or empty for a random one';
  return p;
}

function generate(): void {
  if (running) return;
  const params = readParams();
  if (typeof params === 'string') {
    showError(params);
    return;
  }
  const text = promptBox.value;
  if (!text.trim()) {
    showError('Write a prompt first.');
    promptBox.focus();
    return;
  }
  showError(null);
  save({ params, prompt: text, system: systemBox.value });
  const columns = wantedColumns();
  gen += 1;
  for (const c of ['base', 'adapter'] as const) {
    outputs[c].data = '';
    byId(`${c}-foot`).textContent = '';
  }
  showColumns(columns);
  setRunning(true);
  statusLine.textContent = 'Generating…';
  let messages: ChatMessageLike[] | undefined;
  if (hasChatTemplate && chatMode.checked) {
    messages = [...(systemBox.value.trim() ? [{ role: 'system', content: systemBox.value }] : []), { role: 'user', content: text }];
  }
  vscode.postMessage(messages ? { v: 1, type: 'generate', gen, messages, params, columns } : { v: 1, type: 'generate', gen, prompt: text, params, columns });
}

const FINISH: Record<string, string> = { eos: 'end of sequence', length: 'max new tokens reached', stop: 'stop string', cancelled: 'stopped' };

function handle(msg: HostToPlayground): void {
  switch (msg.type) {
    case 'init':
      adapter = msg.adapter;
      modelName.textContent = msg.model ?? 'no model yet';
      entries = msg.history;
      renderAdapter();
      renderHistory();
      return;
    case 'model':
      hasChatTemplate = msg.facts?.has_chat_template ?? false;
      modelName.textContent = msg.model === null ? 'no model yet' : msg.error ? `${msg.model} — ${msg.error}` : msg.facts ? msg.model : `${msg.model} (loading…)`;
      modelName.title = msg.facts ? `${msg.facts.model}\ncontext: ${msg.facts.max_positions} tokens${msg.facts.has_chat_template ? '\nhas a chat template' : ''}` : '';
      renderChatMode();
      return;
    case 'adapter':
      adapter = msg.adapter;
      if (msg.model) modelName.textContent = msg.model;
      renderAdapter();
      return;
    case 'history':
      entries = msg.history;
      renderHistory();
      return;
    case 'started':
      if (msg.gen === gen) showColumns(msg.columns);
      return;
    case 'token':
      if (msg.gen === gen) outputs[msg.column].appendData(msg.text);
      return;
    case 'done':
      if (msg.gen !== gen) return;
      for (const r of msg.results) byId(`${r.column}-foot`).textContent = `${r.tokens} token${r.tokens === 1 ? '' : 's'} · ${FINISH[r.finish_reason] ?? r.finish_reason}`;
      setRunning(false);
      statusLine.textContent = '';
      return;
    case 'error':
      if (msg.gen !== null && msg.gen !== gen) return;
      showError(msg.message);
      if (msg.gen !== null) {
        setRunning(false);
        statusLine.textContent = '';
      }
      return;
  }
}

generateButton.addEventListener('click', generate);
stopButton.addEventListener('click', () => {
  if (!running) return;
  vscode.postMessage({ v: 1, type: 'cancel', gen });
  statusLine.textContent = 'Stopping…';
});
promptBox.addEventListener('keydown', (e: KeyboardEvent) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    generate();
  }
});
promptBox.addEventListener('input', () => save({ prompt: promptBox.value }));
systemBox.addEventListener('input', () => save({ system: systemBox.value }));
sideBySide.addEventListener('change', () => {
  save({ twoColumns: sideBySide.checked });
  if (!running) showColumns(wantedColumns());
});
chatMode.addEventListener('change', () => {
  save({ chat: chatMode.checked });
  renderChatMode();
});
history.addEventListener('change', () => {
  const e = entries[Number(history.value)];
  if (history.value === '' || !e) return;
  if (e.messages) {
    chatMode.checked = hasChatTemplate;
    systemBox.value = e.messages.find((m) => m.role === 'system')?.content ?? '';
    promptBox.value = e.messages.filter((m) => m.role === 'user').at(-1)?.content ?? '';
  } else {
    promptBox.value = e.prompt ?? '';
  }
  renderChatMode();
  save({ prompt: promptBox.value, system: systemBox.value });
  promptBox.focus();
});
byId('change-adapter').addEventListener('click', () => vscode.postMessage({ v: 1, type: 'pickAdapter' }));

window.addEventListener('message', (event: MessageEvent<unknown>) => {
  if (isHostToPlayground(event.data)) handle(event.data);
});

renderAdapter();
renderChatMode();
renderHistory();

window.__playground = {
  output: (c) => outputs[c].data,
  shown: () => [...columnsBox.querySelectorAll<HTMLElement>('.column')].filter((el) => !el.hidden).map((el) => el.dataset.column as Column),
  running: () => running,
  gen: () => gen,
};

vscode.postMessage({ v: 1, type: 'ready' });
