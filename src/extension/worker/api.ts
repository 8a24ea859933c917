/**
 * What the editor features (Adapters view, playground, compare, evaluation) need from the
 * inference worker, as an interface: `client.ts` implements it over the forked worker process
 * (`src/protocol/worker.ts`); tests use fakes. No vscode or onnxruntime-node import here.
 */
import type { AdapterInfoLike, ChatMessageLike, GenerationParams, GenerationResult, WorkerEvent } from '../../protocol/worker';

export interface LoadedModel {
  model: string;
  model_type: string;
  provider: string;
  max_positions: number;
  has_chat_template: boolean;
  /** The token budget of a `generate` without `max_new_tokens` (the worker's `loaded` event). */
  max_new_tokens: number;
}

/** The worker's `scored` event without its envelope (defined once, in protocol/worker.ts). */
export type ScoreResult = Omit<Extract<WorkerEvent, { type: 'scored' }>, 'v' | 'type' | 'id'>;

/**
 * The worker's answer to an eval case's `score` (`expected` given): token_ids are prompt +
 * expected, `expected_nll` the mean NLL of the expected tokens (null: `expected` adds no token).
 */
export type CaseScore = Omit<ScoreResult, 'expected_start' | 'expected_nll'> & { expected_start: number; expected_nll: number | null };

export interface GenerateRequest {
  model: string;
  /** One completion per variant: an adapter folder, or null for the base model. */
  variants: (string | null)[];
  prompt?: string;
  messages?: ChatMessageLike[];
  params: GenerationParams;
}

/** A running generation: streamed deltas go to the callback; `cancel` ends it early (results then say "cancelled"). */
export interface Generation {
  readonly done: Promise<GenerationResult[]>;
  cancel(): void;
}

export type WorkerState = 'stopped' | 'starting' | 'idle' | 'busy' | 'crashed';

export interface InferenceClient {
  readonly state: WorkerState;
  /** Fires on every state change (a crash included: the next request restarts the worker). */
  onDidChangeState(listener: (state: WorkerState) => void): { dispose(): void };
  /** Loads `model` unless it is the loaded one. Rejects with a one-line Error. */
  load(model: string): Promise<LoadedModel>;
  /** Checks `adapter` against the model and keeps it ready (null = base). Rejects with a one-line Error naming the tensor and both shapes on a mismatch. */
  activate(model: string, adapter: string | null): Promise<AdapterInfoLike | null>;
  generate(req: GenerateRequest, onToken: (variant: number, text: string) => void): Generation;
  score(model: string, adapter: string | null, text: string): Promise<ScoreResult>;
  /**
   * Scores an eval case's `expected` reply after its prompt (a text) or chat (messages), encoded
   * as `loralab eval` encodes it (src/engine/eval/expected.ts). Rejects with a one-line Error
   * (e.g. a chat on a model without a chat template, a case longer than the context).
   */
  scoreCase(model: string, adapter: string | null, input: { prompt: string } | { messages: ChatMessageLike[] }, expected: string): Promise<CaseScore>;
  dispose(): void;
}
