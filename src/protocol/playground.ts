/**
 * Playground webview protocol (extension host ⇄ `webview/playground`), typed once and imported
 * by both ends. Every message carries `v`; receivers validate with the guards and drop anything
 * else. The page sends `ready` once its script runs; the host answers with `init` (the active
 * adapter, its model, the workspace's prompt history), then `model` once the worker has loaded
 * the model (whether it has a chat template), and `adapter` whenever the active adapter changes.
 *
 * A generation is numbered by the page (`gen`, increasing): the page sends `generate`, the host
 * answers `started` with the columns it runs, streams `token` deltas per column and ends with
 * exactly one `done` (finish reasons, "cancelled" after `cancel`) or `error` for that `gen`.
 * Sampling settings use Hugging Face `GenerationConfig` names.
 */
import type { ChatMessageLike, FinishReason } from './worker';

export const PLAYGROUND_PROTOCOL_VERSION = 1;

/** A column of the page: the base model, or the base model with the active adapter. */
export type Column = 'base' | 'adapter';

/** Decoding settings shown on the page (HF `GenerationConfig` names); temperature 0 = greedy, seed null = random. */
export interface SamplingParams {
  max_new_tokens: number;
  temperature: number;
  top_p: number;
  top_k: number;
  seed: number | null;
}

export const DEFAULT_SAMPLING: SamplingParams = { max_new_tokens: 128, temperature: 0.7, top_p: 0.9, top_k: 50, seed: null };

/** The active adapter as the page shows it. */
export interface AdapterLabel {
  /** Adapter folder. */
  path: string;
  /** Short name: `step-40 · tiny-20260101-101500`, an imported folder's name. */
  label: string;
}

/** What the worker reported after loading the model. */
export interface ModelFacts {
  model: string;
  has_chat_template: boolean;
  max_positions: number;
}

/** One prompt the user sent (newest first in `history`). */
export interface HistoryEntry {
  prompt?: string;
  messages?: ChatMessageLike[];
  /** ISO 8601. */
  time: string;
}

export interface ColumnResult {
  column: Column;
  text: string;
  /** New tokens generated. */
  tokens: number;
  finish_reason: FinishReason;
}

export type HostToPlayground =
  | { v: 1; type: 'init'; adapter: AdapterLabel | null; model: string | null; history: HistoryEntry[] }
  /** `facts` null while loading or after a failure (`error`). */
  | { v: 1; type: 'model'; model: string | null; facts: ModelFacts | null; error: string | null }
  | { v: 1; type: 'adapter'; adapter: AdapterLabel | null; model: string | null }
  | { v: 1; type: 'history'; history: HistoryEntry[] }
  | { v: 1; type: 'started'; gen: number; columns: Column[] }
  | { v: 1; type: 'token'; gen: number; column: Column; text: string }
  | { v: 1; type: 'done'; gen: number; results: ColumnResult[] }
  /** `gen` null: not tied to a generation. One line, shown on the page. */
  | { v: 1; type: 'error'; gen: number | null; message: string };

export type PlaygroundToHost =
  | { v: 1; type: 'ready' }
  | { v: 1; type: 'generate'; gen: number; prompt?: string; messages?: ChatMessageLike[]; params: SamplingParams; columns: Column[] }
  | { v: 1; type: 'cancel'; gen: number }
  /** "Change…": the host shows the Activate Adapter quick pick. */
  | { v: 1; type: 'pickAdapter' };

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;
const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const isColumn = (x: unknown): x is Column => x === 'base' || x === 'adapter';

/** Whether `x` is a valid sampling block: integers ≥ 1 / ≥ 0 where HF requires them, top_p in (0, 1]. */
export function isSamplingParams(x: unknown): x is SamplingParams {
  return (
    isObj(x) &&
    Number.isInteger(x.max_new_tokens) && (x.max_new_tokens as number) >= 1 &&
    isNum(x.temperature) && x.temperature >= 0 &&
    isNum(x.top_p) && x.top_p > 0 && x.top_p <= 1 &&
    Number.isInteger(x.top_k) && (x.top_k as number) >= 0 &&
    (x.seed === null || (Number.isInteger(x.seed) && (x.seed as number) >= 0))
  ); // prettier-ignore
}

const isMessages = (x: unknown): boolean =>
  Array.isArray(x) && x.length > 0 && x.every((m) => isObj(m) && typeof m.role === 'string' && typeof m.content === 'string');

export function isPlaygroundToHost(x: unknown): x is PlaygroundToHost {
  if (!isObj(x) || x.v !== PLAYGROUND_PROTOCOL_VERSION) return false;
  switch (x.type) {
    case 'ready':
    case 'pickAdapter':
      return true;
    case 'cancel':
      return Number.isInteger(x.gen);
    case 'generate':
      return (
        Number.isInteger(x.gen) &&
        (typeof x.prompt === 'string') !== isMessages(x.messages) &&
        isSamplingParams(x.params) &&
        Array.isArray(x.columns) && x.columns.length > 0 && x.columns.length <= 2 && x.columns.every(isColumn) &&
        new Set(x.columns).size === x.columns.length
      ); // prettier-ignore
    default:
      return false;
  }
}

export function isHostToPlayground(x: unknown): x is HostToPlayground {
  if (!isObj(x) || x.v !== PLAYGROUND_PROTOCOL_VERSION) return false;
  switch (x.type) {
    case 'init': return Array.isArray(x.history) && (x.adapter === null || isObj(x.adapter));
    case 'model': return x.facts === null || isObj(x.facts);
    case 'adapter': return x.adapter === null || isObj(x.adapter);
    case 'history': return Array.isArray(x.history);
    case 'started': return isNum(x.gen) && Array.isArray(x.columns) && x.columns.every(isColumn);
    case 'token': return isNum(x.gen) && isColumn(x.column) && typeof x.text === 'string';
    case 'done': return isNum(x.gen) && Array.isArray(x.results);
    case 'error': return (x.gen === null || isNum(x.gen)) && typeof x.message === 'string';
    default: return false;
  }
}
