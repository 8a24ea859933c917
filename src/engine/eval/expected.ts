/**
 * Which tokens of an eval case are "the expected text", one definition for every place that
 * computes its NLL: `loralab eval` and the trainer's checkpoint evaluation (local.ts) and the
 * inference worker's `score` of a case (what the editor's Test Explorer shows). No onnxruntime
 * import here; the prompt encoding is infer/prompt.ts's, the chat rendering the tokenizer's.
 */
import { encodePrompt } from '../infer/prompt';
import type { Tokenizer } from '../tokenizer/index';
import type { EvalInput } from './run';

/** A case's prompt and expected text as one id sequence; ids[start..] are the expected tokens. */
export interface ExpectedIds {
  ids: number[];
  /** Index into `ids` of the first expected token (≥ 1; `ids.length` when `expected` adds no token). */
  start: number;
}

/**
 * The prompt of a case as token ids (infer/prompt.ts `encodePrompt`: a text with the tokenizer's
 * special tokens, a chat rendered by the chat template with the assistant's turn opened).
 * @param modelName named in the error (a folder or Hub id).
 * @throws Error when the case is a chat and the model has no chat template.
 */
export function encodeEvalPrompt(tokenizer: Tokenizer, input: EvalInput, modelName: string): number[] {
  if (input.messages && tokenizer.chatTemplate === undefined) {
    throw new Error(`the case is a chat ("messages") but ${modelName} has no chat template; write it as {"prompt": ...}`);
  }
  return encodePrompt(tokenizer, input.messages ? { messages: input.messages } : { prompt: input.prompt! });
}

/**
 * The ids of prompt + expected and where the expected tokens start, by the training data's rule
 * for prompt-completion records (data/tokenize.ts): a text prompt and `expected` are encoded as
 * ONE text and the expected side starts where that encoding departs from the prompt's own
 * (never at 0: the first token has nothing to be predicted from). `expected` is glued to the
 * prompt as given: the eval runner passes eval-set.ts `scoredExpected`'s text (target delimiter
 * applied), so the worker and the CLI encode the same string. For a chat, the rendered
 * prompt's ids are followed by `expected` encoded without special tokens (user text as training
 * encodes it: "</s>" written in a case is characters, not EOS).
 *
 * @throws Error when the case is a chat and the model has no chat template (encodeEvalPrompt).
 */
export function encodeExpected(tokenizer: Tokenizer, input: EvalInput, expected: string, modelName: string): ExpectedIds {
  const promptIds = encodeEvalPrompt(tokenizer, input, modelName);
  const joint = input.messages
    ? [...promptIds, ...tokenizer.encode(expected, { addSpecialTokens: false, splitSpecialTokens: true })]
    : tokenizer.encode(input.prompt! + expected, { splitSpecialTokens: true });
  return expectedTokens(promptIds, joint);
}

/**
 * The token range of `jointIds` past the longest common prefix with `promptIds` (at least 1).
 * @returns the ids and the index of the first expected token (`start` = ids.length when the
 *   joint encoding adds no token).
 */
export function expectedTokens(promptIds: readonly number[], jointIds: readonly number[]): ExpectedIds {
  let start = 0;
  while (start < promptIds.length && start < jointIds.length && promptIds[start] === jointIds[start]) start++;
  return { ids: [...jointIds], start: Math.max(1, start) };
}

/**
 * Mean NLL (nats per token) of the expected tokens, from per-token NLL where `nll[t]` belongs
 * to `ids[t + 1]` (the layout of infer/score.ts `ScoreResult` and of the worker's `scored`).
 * @returns NaN when there is no expected token.
 */
export function meanExpectedNll(nll: ArrayLike<number>, e: ExpectedIds): number {
  let sum = 0;
  for (let t = e.start - 1; t < e.ids.length - 1; t++) sum += nll[t];
  const count = e.ids.length - e.start;
  return count > 0 ? sum / count : NaN;
}

/**
 * @throws Error when prompt + expected do not fit the model's context (no sliding window: an
 *   expected text is scored with its whole prompt in view).
 */
export function assertFitsContext(e: ExpectedIds, maxPositions: number): void {
  if (e.ids.length > maxPositions) throw new Error(`prompt + expected are ${e.ids.length} tokens but the model takes at most ${maxPositions} (max_position_embeddings); shorten the case`);
}
