/**
 * A generation prompt as token ids: plain text to continue, or a chat rendered with the
 * model's chat template and the assistant's turn opened (transformers
 * `apply_chat_template(messages, add_generation_prompt=True)` then `tokenizer(text,
 * add_special_tokens=False)`, since templates write their own BOS).
 */
import type { ChatMessage, Tokenizer } from '../tokenizer/index';

/** What to continue: exactly one of `prompt` (plain text) and `messages` (a chat). */
export type PromptInput = { prompt: string; messages?: undefined } | { prompt?: undefined; messages: readonly ChatMessage[] };

/**
 * Token ids of the prompt: `prompt` encoded with the tokenizer's special tokens (BOS when the
 * model adds one); `messages` rendered with the chat template (`addGenerationPrompt`) and
 * encoded without special tokens.
 *
 * @throws TokenizerError when `messages` is given and the model has no chat template, or the
 *   template fails (see `Tokenizer.applyChatTemplate`).
 */
export function encodePrompt(tokenizer: Tokenizer, input: PromptInput): number[] {
  if (input.messages !== undefined) {
    return tokenizer.encode(tokenizer.applyChatTemplate(input.messages, { addGenerationPrompt: true }), { addSpecialTokens: false });
  }
  return tokenizer.encode(input.prompt);
}
