/**
 * The inference worker protocol (extension host ⇄ `dist/worker.js`, over Node IPC), typed once
 * and imported by both ends. Every message carries `v`, the protocol version; a receiver
 * validates what arrives with the `is…` guards and ignores what it does not understand.
 *
 * Flow: the worker sends `ready` once it runs. Every request carries an `id` chosen by the
 * parent; the worker answers each request with exactly one final event carrying the same `id`
 * (`loaded`, `generated`, `scored`, `activated`, or `error`), and `generate` streams `token`
 * events before its `generated`: its variants decode as one batch, so the `token` events of
 * different variants interleave. Requests are handled one at a time, in arrival order.
 * `cancel` carries the `id` of the `generate` to end and gets no answer of its own: a running
 * generate stops before its next token, a queued one is answered at once without running; its
 * `generated` then has `finish_reason: "cancelled"` on the unfinished variants. `shutdown` makes
 * the worker release its sessions and exit 0. An uncaught failure is sent as `error` with `id`
 * null, then the worker exits 1.
 *
 * The worker keeps one compiled session per loaded model (the most recent `load`); adapters are
 * feeds of that session, kept in an LRU cache by bytes. A variant's `adapter` is a PEFT adapter
 * folder path, or null for the base model.
 */

export const WORKER_PROTOCOL_VERSION = 1;

export interface ChatMessageLike {
  role: string;
  content: string;
}

/** Decoding settings (Hugging Face `GenerationConfig` names); absent = generation_config.json, then HF defaults. */
export interface GenerationParams {
  /** Absent: the `max_new_tokens` of the model's `loaded` event. */
  max_new_tokens?: number;
  /** 0 = greedy. */
  temperature?: number;
  top_p?: number;
  top_k?: number;
  repetition_penalty?: number;
  /** Stop strings: generation ends before the first one (finish_reason "stop"). */
  stop?: string[];
  seed?: number;
}

export type FinishReason = 'eos' | 'length' | 'stop' | 'cancelled';

export interface GenerationResult {
  adapter: string | null;
  /** New token ids (the EOS included when generation stopped on it). */
  ids: number[];
  text: string;
  finish_reason: FinishReason;
}

/**
 * What a `score` request scores: a `text` (every token after BOS), or an eval case's `expected`
 * reply after its prompt, a text (`prompt`) or a chat (`messages`). For a case the worker
 * encodes prompt + expected exactly as `loralab eval` does (src/engine/eval/expected.ts), so the
 * editor and the CLI report the same NLL.
 */
export type ScoreInput =
  | { text: string; prompt?: undefined; messages?: undefined; expected?: undefined }
  | { text?: undefined; prompt: string; messages?: undefined; expected: string }
  | { text?: undefined; prompt?: undefined; messages: ChatMessageLike[]; expected: string };

export type WorkerRequest =
  | { v: 1; type: 'load'; id: number; model: string; device?: 'auto' | 'cpu' | 'cuda' | 'webgpu'; threads?: number }
  | { v: 1; type: 'activate'; id: number; adapter: string | null }
  | { v: 1; type: 'generate'; id: number; variants: (string | null)[]; prompt?: string; messages?: ChatMessageLike[]; params: GenerationParams }
  | ({ v: 1; type: 'score'; id: number; adapter: string | null } & ScoreInput)
  | { v: 1; type: 'cancel'; id: number }
  | { v: 1; type: 'shutdown' };

export interface AdapterInfoLike {
  path: string;
  /** Rank per module when they differ, else the single rank. */
  r: number | Record<string, number>;
  lora_alpha: number;
  target_modules: string[];
  base_model_name_or_path: string | null;
}

export type WorkerEvent =
  | { v: 1; type: 'ready'; pid: number }
  /**
   * `max_new_tokens`: the token budget of a `generate` whose params set none (the model's
   * generation_config.json `max_new_tokens`, else the engine's default, 128).
   */
  | { v: 1; type: 'loaded'; id: number; model: string; model_type: string; provider: string; max_positions: number; has_chat_template: boolean; max_new_tokens: number }
  | { v: 1; type: 'activated'; id: number; adapter: AdapterInfoLike | null }
  /** A streamed text delta of variant `variant` (index into the request's `variants`). */
  | { v: 1; type: 'token'; id: number; variant: number; text: string }
  | { v: 1; type: 'generated'; id: number; results: GenerationResult[] }
  /** Per predicted token (BOS first in token_ids, nll one shorter): natural-log NLL. */
  /**
   * `top` (optional; absent from older workers): per predicted position, aligned with nll, the 5
   * most probable next tokens (token string as `tokens`, softmax probability), most probable first.
   */
  /**
   * For a case (`expected` in the request): token_ids are prompt + expected, token_ids[expected_start..]
   * the expected tokens, `expected_nll` their mean NLL (nats per token; null when `expected`
   * adds no token); no `top`.
   */
  | { v: 1; type: 'scored'; id: number; token_ids: number[]; tokens: string[]; nll: number[]; mean_nll: number; top?: { token: string; p: number }[][]; expected_start?: number; expected_nll?: number | null }
  | { v: 1; type: 'log'; line: string }
  /** `id` null: not tied to a request (e.g. a failure while starting). */
  | { v: 1; type: 'error'; id: number | null; message: string };

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;
const isAdapterRef = (x: unknown) => x === null || typeof x === 'string';
/** A chat: an array of `{role, content}` with string values. */
const isMessages = (x: unknown) => Array.isArray(x) && x.every((m) => isObj(m) && typeof m.role === 'string' && typeof m.content === 'string');
/** Exactly one of `prompt` (a string) and `messages` (a chat). */
const isPromptOrChat = (x: Record<string, unknown>) => (x.prompt !== undefined ? typeof x.prompt === 'string' && x.messages === undefined : isMessages(x.messages));

/** A `score` request's body ({@link ScoreInput}): a text alone, or a prompt or chat with its expected reply. */
function isScoreInput(x: Record<string, unknown>): boolean {
  if (x.text !== undefined) return typeof x.text === 'string' && x.expected === undefined && x.prompt === undefined && x.messages === undefined;
  return typeof x.expected === 'string' && isPromptOrChat(x);
}

export function isWorkerRequest(x: unknown): x is WorkerRequest {
  if (!isObj(x) || x.v !== WORKER_PROTOCOL_VERSION || typeof x.type !== 'string') return false;
  if (x.type === 'shutdown') return true;
  if (typeof x.id !== 'number') return false;
  switch (x.type) {
    case 'load': return typeof x.model === 'string';
    case 'activate': return isAdapterRef(x.adapter);
    case 'generate':
      return Array.isArray(x.variants) && x.variants.length > 0 && x.variants.every(isAdapterRef) && isObj(x.params)
        && isPromptOrChat(x);
    case 'score': return isAdapterRef(x.adapter) && isScoreInput(x);
    case 'cancel': return true;
    default: return false;
  }
}

export function isWorkerEvent(x: unknown): x is WorkerEvent {
  if (!isObj(x) || x.v !== WORKER_PROTOCOL_VERSION || typeof x.type !== 'string') return false;
  switch (x.type) {
    case 'ready': return typeof x.pid === 'number';
    case 'loaded': return typeof x.id === 'number' && typeof x.model === 'string';
    case 'activated': return typeof x.id === 'number' && (x.adapter === null || isObj(x.adapter));
    case 'token': return typeof x.id === 'number' && typeof x.variant === 'number' && typeof x.text === 'string';
    case 'generated': return typeof x.id === 'number' && Array.isArray(x.results);
    case 'scored': return typeof x.id === 'number' && Array.isArray(x.nll) && Array.isArray(x.token_ids);
    case 'log': return typeof x.line === 'string';
    case 'error': return (x.id === null || typeof x.id === 'number') && typeof x.message === 'string';
    default: return false;
  }
}
