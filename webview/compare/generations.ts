/**
 * The Compare page's side-by-side generations: the prompt form, and one column per variant
 * (the base model, then each run's final adapter) that fills as the host streams `generation`
 * deltas. Messages of an older request (`gen`) are dropped, so a Stop followed by a new prompt
 * never mixes texts. Text is set with textContent only (model output is untrusted).
 */
import type { CompareGenerationParams, CompareToHost, HostToCompare } from '../../src/protocol/compare';

export interface GenerationElements {
  prompt: HTMLTextAreaElement;
  maxTokens: HTMLInputElement;
  temperature: HTMLInputElement;
  run: HTMLElement & { disabled: boolean };
  stop: HTMLElement & { disabled: boolean };
  notes: HTMLElement;
  error: HTMLElement;
  columns: HTMLElement;
}

export interface GenerationColumnState {
  label: string;
  run_dir: string | null;
  text: string;
  /** 'generating', a finish reason ('eos', 'length', 'stop', 'cancelled'), or 'error'. */
  state: string;
  error: string | null;
}

type GenerationMessage = Extract<HostToCompare, { type: 'generationStarted' | 'generation' | 'generationEnded' | 'generationDone' }>;

const FINISH_WORDS: Record<string, string> = { eos: 'done', length: 'max tokens', stop: 'stop string', cancelled: 'stopped' };

export class Generations {
  private gen = 0;
  private running = false;
  /** The prompt of the request shown (drawn dim before each completion). */
  private prompt = '';
  private cols: { state: GenerationColumnState; text: Text; status: HTMLElement; box: HTMLElement }[] = [];

  constructor(
    private readonly els: GenerationElements,
    private readonly post: (m: CompareToHost) => void,
    /** The colour of a run's curves (its column's swatch); undefined for the base model. */
    private readonly colorOf: (runDir: string) => string | undefined,
  ) {
    els.run.addEventListener('click', () => this.start());
    els.stop.addEventListener('click', () => this.stop());
    els.prompt.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        this.start();
      }
    });
  }

  get columns(): GenerationColumnState[] {
    return this.cols.map((c) => ({ ...c.state }));
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Posts `generate` for the prompt in the form (a running request is replaced by the host). */
  start(): void {
    const prompt = this.els.prompt.value;
    if (!prompt.trim()) {
      this.showError('Type a prompt first.');
      this.els.prompt.focus();
      return;
    }
    const params: CompareGenerationParams = {
      max_new_tokens: clampInt(Number(this.els.maxTokens.value), 1, 4096, 128),
      temperature: clamp(Number(this.els.temperature.value), 0, 2, 0),
    };
    this.els.maxTokens.value = String(params.max_new_tokens);
    this.els.temperature.value = String(params.temperature);
    this.gen++;
    this.prompt = prompt;
    this.setRunning(true);
    this.showError(null);
    this.post({ v: 1, type: 'generate', gen: this.gen, prompt, params });
  }

  stop(): void {
    if (this.running) this.post({ v: 1, type: 'stopGeneration', gen: this.gen });
  }

  /** Recolours the columns' swatches (after a theme change or new runs). */
  recolor(): void {
    for (const c of this.cols) {
      const color = c.state.run_dir ? this.colorOf(c.state.run_dir) : undefined;
      c.box.style.setProperty('--swatch', color ?? 'var(--vscode-descriptionForeground)');
    }
  }

  handle(msg: GenerationMessage): void {
    if (msg.gen !== this.gen) return; // a request this page replaced
    switch (msg.type) {
      case 'generationStarted':
        this.els.notes.replaceChildren(
          ...msg.notes.map((n) => {
            const li = document.createElement('li');
            li.textContent = n;
            return li;
          }),
        );
        this.els.notes.hidden = msg.notes.length === 0;
        this.cols = msg.columns.map((c) => this.column(c.label, c.run_dir, c.model));
        this.els.columns.replaceChildren(...this.cols.map((c) => c.box));
        this.els.columns.style.setProperty('--columns', String(Math.min(this.cols.length, 4)));
        this.els.columns.hidden = false;
        this.recolor();
        break;
      case 'generation': {
        const c = this.cols[msg.column];
        if (!c) return;
        c.state.text += msg.text;
        c.text.data = c.state.text;
        break;
      }
      case 'generationEnded': {
        const c = this.cols[msg.column];
        if (!c) return;
        c.state.state = msg.error ? 'error' : (msg.finish_reason ?? 'cancelled');
        c.state.error = msg.error;
        c.box.dataset.state = c.state.state;
        c.status.textContent = msg.error ? 'failed' : `${FINISH_WORDS[c.state.state] ?? c.state.state} · ${msg.tokens} token${msg.tokens === 1 ? '' : 's'}`;
        if (msg.error) {
          const p = document.createElement('p');
          p.className = 'gen-error';
          p.textContent = msg.error;
          c.box.append(p);
        }
        break;
      }
      case 'generationDone':
        this.setRunning(false);
        this.showError(msg.error);
        if (msg.error) {
          this.cols = [];
          this.els.columns.replaceChildren();
          this.els.columns.hidden = true;
          this.els.notes.hidden = true;
        }
        break;
    }
  }

  private column(label: string, runDir: string | null, model: string): (typeof this.cols)[number] {
    const box = document.createElement('article');
    box.className = 'gen-col';
    box.dataset.state = 'generating';
    const head = document.createElement('header');
    const sw = document.createElement('span');
    sw.className = 'swatch';
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = label;
    name.title = runDir ?? model;
    const status = document.createElement('span');
    status.className = 'gen-status muted';
    status.textContent = 'generating…';
    head.append(sw, name, status);
    const pre = document.createElement('pre');
    pre.className = 'gen-text';
    const prompt = document.createElement('span');
    prompt.className = 'gen-prompt';
    prompt.textContent = this.prompt;
    prompt.title = 'The prompt';
    const text = document.createTextNode('');
    pre.append(prompt, text);
    box.append(head, pre);
    return { state: { label, run_dir: runDir, text: '', state: 'generating', error: null }, text, status, box };
  }

  private setRunning(on: boolean): void {
    this.running = on;
    this.els.stop.disabled = !on;
    this.els.run.textContent = on ? 'Generate again' : 'Generate';
  }

  private showError(msg: string | null): void {
    this.els.error.textContent = msg ?? '';
    this.els.error.hidden = !msg;
  }
}

const clamp = (v: number, lo: number, hi: number, def: number): number => (Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : def);
const clampInt = (v: number, lo: number, hi: number, def: number): number => Math.round(clamp(v, lo, hi, def));
