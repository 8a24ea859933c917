/**
 * The run's facts (model, data, provider, status, times, progress) and its hyperparameters,
 * as two `vscode-table`s, plus the header (name, status badge, stop button). Cells are built
 * once and their text updated in place; the duration ticks every second while the run runs.
 */
import type { RunFacts, RunStatusLike } from '../../src/protocol/dashboard';
import { dateTimeLabel } from '../../src/protocol/run-label';
import { formatDuration } from './format';

export interface FactsElements {
  name: HTMLElement;
  badge: HTMLElement;
  progress: HTMLElement;
  stop: HTMLElement;
  facts: HTMLElement;
  hyperparameters: HTMLElement;
}

type FactKey = 'model' | 'train' | 'validation' | 'provider' | 'status' | 'started' | 'duration' | 'step' | 'folder';

const FACT_LABELS: Record<FactKey, string> = {
  model: 'Model',
  train: 'Training data',
  validation: 'Validation data',
  provider: 'Provider',
  status: 'Status',
  started: 'Started',
  duration: 'Duration',
  step: 'Step',
  folder: 'Run folder',
};

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, className?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (className) e.className = className;
  return e;
}

/**
 * `text` with line-break opportunities after '/', '.', '_' and '-', so paths and dotted
 * hyperparameter names wrap at their separators instead of mid-word.
 */
function breakable(text: string): DocumentFragment {
  const f = document.createDocumentFragment();
  const parts = text.split(/(?<=[/._-])/);
  parts.forEach((part, i) => {
    f.append(part);
    if (i < parts.length - 1) f.append(el('wbr'));
  });
  return f;
}

function row(label: string, value: Node | string, title?: string): HTMLElement {
  const r = el('vscode-table-row');
  const key = el('vscode-table-cell', undefined, 'key');
  key.append(breakable(label));
  if (title) key.title = title;
  r.append(key);
  const cell = el('vscode-table-cell', undefined, 'value');
  cell.append(typeof value === 'string' ? breakable(value) : value);
  r.append(cell);
  return r;
}

export class FactsPanel {
  private run: RunFacts | null = null;
  /** `time` of the last metrics row: the best duration for a run that ended without finished_at. */
  private lastTime: number | null = null;
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly cells = new Map<FactKey, HTMLElement>();
  private readonly errorText = el('div', '', 'error-text');

  constructor(private readonly els: FactsElements) {
    for (const key of Object.keys(FACT_LABELS) as FactKey[]) {
      const span = el('span', '—');
      this.cells.set(key, span);
      const value = key === 'status' ? el('div') : span;
      if (key === 'status') value.append(span, this.errorText);
      els.facts.append(row(FACT_LABELS[key], value));
    }
    this.errorText.hidden = true;
  }

  get facts(): RunFacts | null {
    return this.run;
  }

  setRun(run: RunFacts): void {
    this.run = { ...run };
    this.lastTime = null;
    this.renderHyperparameters();
    this.render();
  }

  setStatus(status: RunStatusLike, step: number, error: string | null, finishedAt: string | null): void {
    if (!this.run) return;
    Object.assign(this.run, { status, step: Math.max(step, 0), error, finished_at: finishedAt });
    this.render();
  }

  /** Advances step and the known elapsed time from freshly appended metrics rows. */
  noteRows(lastStep: number, lastTime: number | null): void {
    if (lastTime !== null) this.lastTime = lastTime;
    if (!this.run) return;
    if (lastStep > this.run.step) this.run.step = lastStep;
    this.render();
  }

  private set(key: FactKey, text: string): void {
    const cell = this.cells.get(key)!;
    if (cell.textContent === text) return;
    cell.replaceChildren(breakable(text));
    cell.title = text;
  }

  private render(): void {
    const run = this.run;
    if (!run) return;
    const els = this.els;
    els.name.textContent = run.name;
    els.name.title = run.id;
    els.badge.textContent = run.status;
    els.badge.dataset.status = run.status;
    const pct = run.max_steps > 0 ? ` (${Math.floor((100 * run.step) / run.max_steps)}%)` : '';
    const stepText = `${run.step.toLocaleString('en-US')} / ${run.max_steps.toLocaleString('en-US')}${pct}`;
    els.progress.textContent = `step ${stepText}`;
    els.stop.hidden = run.status !== 'running';

    this.set('model', run.model);
    this.set('train', run.dataset.train ?? '—');
    const v = run.dataset.validation;
    this.set('validation', v === null ? 'none' : typeof v === 'number' ? `${+(v * 100).toFixed(2)}% of the training documents` : v);
    this.set('provider', run.provider ?? 'not known yet');
    this.set('status', run.status);
    this.cells.get('status')!.dataset.status = run.status;
    this.errorText.hidden = !run.error;
    this.errorText.textContent = run.error ?? '';
    this.set('started', dateTimeLabel(run.created_at));
    this.set('step', stepText);
    this.set('folder', run.run_dir);
    this.renderDuration();

    const live = run.status === 'running' && !run.finished_at;
    if (live && this.timer === undefined) this.timer = setInterval(() => this.renderDuration(), 1000);
    if (!live && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private renderDuration(): void {
    const run = this.run;
    if (!run) return;
    const start = Date.parse(run.created_at);
    let seconds: number;
    if (run.finished_at) seconds = (Date.parse(run.finished_at) - start) / 1000;
    else if (run.status === 'running') seconds = (Date.now() - start) / 1000;
    else seconds = this.lastTime ?? NaN;
    this.set('duration', formatDuration(seconds) + (run.status === 'running' && !run.finished_at ? ' (running)' : ''));
  }

  /**
   * One heading row per section (`lora`, `training`, `data`), then its keys without the prefix
   * (`per_device_train_batch_size`, not `training.per_device_train_batch_size`, which wrapped
   * into three lines in the side column); the full key is the cell's tooltip. Keys without a
   * section (`device`) come last.
   */
  private renderHyperparameters(): void {
    const body = this.els.hyperparameters;
    const sections = new Map<string, [string, string, string][]>();
    for (const [k, v] of Object.entries(this.run?.hyperparameters ?? {})) {
      const dot = k.indexOf('.');
      const section = dot > 0 ? k.slice(0, dot) : '';
      if (!sections.has(section)) sections.set(section, []);
      sections.get(section)!.push([dot > 0 ? k.slice(dot + 1) : k, v === null ? 'null' : String(v), k]);
    }
    const rows: HTMLElement[] = [];
    for (const [section, entries] of [...sections].sort(([a], [b]) => (a === '' ? 1 : 0) - (b === '' ? 1 : 0))) {
      if (section) {
        const head = row(section, '');
        head.classList.add('section');
        rows.push(head);
      }
      for (const [key, value, full] of entries) rows.push(row(key, value, full));
    }
    if (!rows.length) rows.push(row('—', 'none recorded'));
    body.replaceChildren(...rows);
  }
}
