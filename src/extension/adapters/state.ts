/**
 * What LoRA Lab remembers per workspace about adapters: the active adapter (with the model it
 * runs on), the imported PEFT adapter folders, and the playground's prompt history. Kept in
 * the workspace's Memento (`ExtensionContext.workspaceState`), so a reload finds them again.
 * Plain; the Memento is injected (structurally `vscode.Memento`).
 */
import type { ChatMessageLike } from '../../protocol/worker';
import type { HistoryEntry } from '../../protocol/playground';
import { Emitter, type Disposable } from '../emitter';
import type { AdapterKind } from './catalog';

export interface Memento {
  get<T>(key: string, defaultValue: T): T;
  update(key: string, value: unknown): Thenable<void>;
}

/** The adapter generation uses, and the model it applies to. `path` null: the base model alone. */
export interface ActiveAdapter {
  path: string | null;
  /** Base model folder. */
  model: string;
  /** Short name for the status bar and the playground. */
  label: string;
  kind: AdapterKind | 'base';
}

export const ACTIVE_KEY = 'loralab.activeAdapter';
export const IMPORTED_KEY = 'loralab.importedAdapters';
export const HISTORY_KEY = 'loralab.playground.history';
/** Prompts kept in the history (oldest dropped). */
export const HISTORY_LIMIT = 50;

const isActive = (x: unknown): x is ActiveAdapter => {
  const a = x as ActiveAdapter | null;
  return typeof a === 'object' && a !== null && (a.path === null || typeof a.path === 'string') && typeof a.model === 'string' && typeof a.label === 'string';
};

export class AdapterState implements Disposable {
  private readonly changes = new Emitter<'active' | 'imported' | 'history'>();
  /** Fires after the active adapter, the imported list or the history changed. */
  readonly onDidChange = this.changes.event;

  constructor(private readonly memento: Memento) {}

  get active(): ActiveAdapter | null {
    const a = this.memento.get<unknown>(ACTIVE_KEY, null);
    return isActive(a) ? a : null;
  }

  async setActive(a: ActiveAdapter | null): Promise<void> {
    await this.memento.update(ACTIVE_KEY, a ?? undefined);
    this.changes.fire('active');
  }

  /** Imported adapter folders, in the order they were imported. */
  get imported(): string[] {
    const list = this.memento.get<unknown>(IMPORTED_KEY, []);
    return Array.isArray(list) ? list.filter((p): p is string => typeof p === 'string') : [];
  }

  /** Adds a folder (once). */
  async addImported(path: string): Promise<void> {
    if (this.imported.includes(path)) return;
    await this.memento.update(IMPORTED_KEY, [...this.imported, path]);
    this.changes.fire('imported');
  }

  /** Forgets an imported folder (the folder itself stays); deactivates it when it was active. */
  async removeImported(path: string): Promise<void> {
    await this.memento.update(IMPORTED_KEY, this.imported.filter((p) => p !== path));
    this.changes.fire('imported');
    const a = this.active;
    if (a?.path === path) await this.setActive({ path: null, model: a.model, label: 'base model', kind: 'base' });
  }

  /** Prompts used in the playground, newest first. */
  get history(): HistoryEntry[] {
    const list = this.memento.get<unknown>(HISTORY_KEY, []);
    return Array.isArray(list) ? list.filter((h): h is HistoryEntry => typeof h === 'object' && h !== null && typeof (h as HistoryEntry).time === 'string') : [];
  }

  /** Puts a prompt (or chat) first in the history; an identical earlier one moves up; at most `HISTORY_LIMIT`. */
  async addHistory(input: { prompt?: string; messages?: ChatMessageLike[] }, now = new Date()): Promise<void> {
    const same = (h: HistoryEntry) => JSON.stringify([h.prompt ?? null, h.messages ?? null]) === JSON.stringify([input.prompt ?? null, input.messages ?? null]);
    const entry: HistoryEntry = { ...(input.messages ? { messages: input.messages } : { prompt: input.prompt ?? '' }), time: now.toISOString() };
    await this.memento.update(HISTORY_KEY, [entry, ...this.history.filter((h) => !same(h))].slice(0, HISTORY_LIMIT));
    this.changes.fire('history');
  }

  dispose(): void {
    this.changes.dispose();
  }
}
