/**
 * A scripted `InferenceClient` for the extension tests: it records every call, answers `load`
 * and `activate` from tables, and lets the test stream deltas of a `generate` by hand and end it.
 */
import type { AdapterInfoLike, ChatMessageLike, GenerationResult } from '../../src/protocol/worker';
import type { CaseScore, GenerateRequest, Generation, InferenceClient, LoadedModel, ScoreResult, WorkerState } from '../../src/extension/worker/api';

export interface FakeGeneration {
  req: GenerateRequest;
  /** Sends a delta of variant `variant`, as the worker's `token` events do. */
  token(variant: number, text: string): void;
  /** Ends the generation with these results. */
  finish(results: GenerationResult[]): void;
  fail(e: Error): void;
  cancelled: boolean;
}

export class FakeInference implements InferenceClient {
  state: WorkerState = 'idle';
  readonly calls: { op: string; args: unknown[] }[] = [];
  readonly generations: FakeGeneration[] = [];
  /** `activate` rejects with this message for an adapter folder listed here. */
  readonly mismatch = new Map<string, string>();
  hasChatTemplate = true;
  /** `max_new_tokens` of every `load` (the worker's default budget). */
  maxNewTokens = 128;

  onDidChangeState(): { dispose(): void } {
    return { dispose: () => undefined };
  }
  async load(model: string): Promise<LoadedModel> {
    this.calls.push({ op: 'load', args: [model] });
    return { model, model_type: 'llama', provider: 'cpu', max_positions: 512, has_chat_template: this.hasChatTemplate, max_new_tokens: this.maxNewTokens };
  }
  async activate(model: string, adapter: string | null): Promise<AdapterInfoLike | null> {
    this.calls.push({ op: 'activate', args: [model, adapter] });
    if (adapter && this.mismatch.has(adapter)) throw new Error(this.mismatch.get(adapter));
    return adapter ? { path: adapter, r: 4, lora_alpha: 16, target_modules: ['q_proj'], base_model_name_or_path: model } : null;
  }
  generate(req: GenerateRequest, onToken: (variant: number, text: string) => void): Generation {
    this.calls.push({ op: 'generate', args: [req] });
    let resolve!: (r: GenerationResult[]) => void;
    let reject!: (e: Error) => void;
    const done = new Promise<GenerationResult[]>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const g: FakeGeneration = { req, token: onToken, finish: resolve, fail: reject, cancelled: false };
    this.generations.push(g);
    return {
      done,
      cancel: () => {
        g.cancelled = true;
        resolve(req.variants.map((adapter) => ({ adapter, ids: [], text: '', finish_reason: 'cancelled' })));
      },
    };
  }
  async score(_model: string, _adapter: string | null, _text: string): Promise<ScoreResult> {
    throw new Error('not used');
  }
  async scoreCase(_model: string, _adapter: string | null, _input: { prompt: string } | { messages: ChatMessageLike[] }, _expected: string): Promise<CaseScore> {
    throw new Error('not used');
  }
  dispose(): void {}
}

/** A Memento in memory (structurally `vscode.Memento`). */
export function memento(): { get<T>(k: string, d: T): T; update(k: string, v: unknown): Promise<void>; data: Map<string, unknown> } {
  const data = new Map<string, unknown>();
  return {
    data,
    get: <T>(k: string, d: T) => (data.has(k) ? (data.get(k) as T) : d),
    update: async (k: string, v: unknown) => void (v === undefined ? data.delete(k) : data.set(k, JSON.parse(JSON.stringify(v)))),
  };
}
