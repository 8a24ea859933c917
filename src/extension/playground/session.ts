/**
 * The host side of the playground page (protocol: src/protocol/playground.ts): answers `ready`
 * with `init`, tells the page whether the model has a chat template once the worker loaded it,
 * runs `generate` as one worker generation with one variant per column (the base model as
 * adapter null, the active adapter) and streams the deltas to the page, ends it on `cancel`.
 * One generation at a time: a new one cancels the running one. Plain; the webview, the worker
 * client and the adapter state are injected.
 */
import type { HostToPlayground, PlaygroundToHost } from '../../protocol/playground';
import { isPlaygroundToHost } from '../../protocol/playground';
import type { GenerationParams } from '../../protocol/worker';
import type { ActiveAdapter, AdapterState } from '../adapters/state';
import type { Generation, InferenceClient } from '../worker/api';

export interface PlaygroundDeps {
  post(m: HostToPlayground): PromiseLike<boolean>;
  client: InferenceClient;
  state: AdapterState;
  /** When nothing is active yet: picks the base model (the setting, else asks) and makes it active; undefined when dismissed. */
  ensureModel(): Promise<ActiveAdapter | undefined>;
  /** Shows the Activate Adapter quick pick. */
  pickAdapter(): void;
  log(line: string): void;
}

const oneLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0];

export class PlaygroundSession {
  private ready = false;
  private running: { gen: number; generation: Generation } | null = null;
  /** The model whose facts were last sent (or are being loaded). */
  private described: string | null = null;

  constructor(private readonly d: PlaygroundDeps) {}

  /** A message from the page; anything failing `isPlaygroundToHost` is dropped. */
  async receive(msg: unknown): Promise<void> {
    if (!isPlaygroundToHost(msg)) return;
    switch (msg.type) {
      case 'ready': {
        this.ready = true;
        this.described = null;
        const a = this.d.state.active;
        await this.d.post({ v: 1, type: 'init', adapter: a?.path ? { path: a.path, label: a.label } : null, model: a?.model ?? null, history: this.d.state.history });
        await this.describeModel();
        return;
      }
      case 'pickAdapter':
        this.d.pickAdapter();
        return;
      case 'cancel':
        if (this.running?.gen === msg.gen) this.running.generation.cancel();
        return;
      case 'generate':
        if (this.ready) await this.generate(msg);
        return;
    }
  }

  /** The active adapter changed: tell the page, and describe the model when it is another one. */
  async adapterChanged(): Promise<void> {
    if (!this.ready) return;
    const a = this.d.state.active;
    await this.d.post({ v: 1, type: 'adapter', adapter: a?.path ? { path: a.path, label: a.label } : null, model: a?.model ?? null });
    await this.describeModel();
  }

  async historyChanged(): Promise<void> {
    if (this.ready) await this.d.post({ v: 1, type: 'history', history: this.d.state.history });
  }

  /** Ends a running generation (the panel closed). */
  dispose(): void {
    this.running?.generation.cancel();
    this.running = null;
    this.ready = false;
  }

  /** Loads the active model in the worker (unless already described) and sends its facts: the page offers chat mode when it has a chat template. */
  private async describeModel(): Promise<void> {
    const model = this.d.state.active?.model;
    if (!model || model === this.described) return;
    this.described = model;
    await this.d.post({ v: 1, type: 'model', model, facts: null, error: null });
    try {
      const m = await this.d.client.load(model);
      if (this.described !== model) return; // another model meanwhile
      await this.d.post({ v: 1, type: 'model', model, facts: { model, has_chat_template: m.has_chat_template, max_positions: m.max_positions }, error: null });
    } catch (e) {
      if (this.described !== model) return;
      this.described = null; // try again next time
      await this.d.post({ v: 1, type: 'model', model, facts: null, error: oneLine(e) });
    }
  }

  private async generate(msg: Extract<PlaygroundToHost, { type: 'generate' }>): Promise<void> {
    const { gen } = msg;
    this.running?.generation.cancel();
    this.running = null;
    const active = this.d.state.active ?? (await this.d.ensureModel());
    if (!active) {
      await this.d.post({ v: 1, type: 'error', gen, message: 'No model: activate an adapter ("LoRA Lab: Activate Adapter") or set loralab.modelPath to a Hugging Face model folder.' });
      return;
    }
    // Without an active adapter there is only the base model to show.
    let columns = msg.columns.filter((c) => c === 'base' || active.path !== null);
    if (!columns.length) columns = ['base'];
    const variants = columns.map((c) => (c === 'adapter' ? active.path : null));
    const p = msg.params;
    const params: GenerationParams = { max_new_tokens: p.max_new_tokens, temperature: p.temperature, top_p: p.top_p, top_k: p.top_k, ...(p.seed !== null ? { seed: p.seed } : {}) };
    const input = msg.messages ? { messages: msg.messages } : { prompt: msg.prompt ?? '' };
    await this.d.state.addHistory(input);
    await this.d.post({ v: 1, type: 'started', gen, columns });
    let generation: Generation;
    try {
      generation = this.d.client.generate({ model: active.model, variants, ...input, params }, (variant, text) => {
        const column = columns[variant];
        if (column) void this.d.post({ v: 1, type: 'token', gen, column, text });
      });
    } catch (e) {
      await this.d.post({ v: 1, type: 'error', gen, message: oneLine(e) });
      return;
    }
    this.running = { gen, generation };
    try {
      const results = await generation.done;
      await this.d.post({
        v: 1,
        type: 'done',
        gen,
        results: columns.map((column, i) => ({ column, text: results[i]?.text ?? '', tokens: results[i]?.ids.length ?? 0, finish_reason: results[i]?.finish_reason ?? 'cancelled' })),
      });
    } catch (e) {
      this.d.log(`playground: ${oneLine(e)}`);
      await this.d.post({ v: 1, type: 'error', gen, message: oneLine(e) });
    } finally {
      if (this.running?.gen === gen) this.running = null;
    }
  }
}
