/**
 * Tokenizer for a Hugging Face model folder: `@huggingface/tokenizers` over `tokenizer.json`,
 * transformers' special-token settings from `tokenizer_config.json` / `config.json` /
 * `generation_config.json`, and chat templates with `@huggingface/jinja`.
 *
 * ```ts
 * const tok = await loadTokenizer('models/stories260K');
 * tok.encode('Once upon a time'); // [1, 403, 407, 261, 378]: one BOS first
 * ```
 */
import { readTokenizerFiles } from './files';
import { Tokenizer } from './tokenizer';

export { TokenizerError } from './errors';
export { Tokenizer } from './tokenizer';
export type { ChatMessage, ChatTemplateOptions, DecodeOptions, EncodeOptions } from './tokenizer';
export { readTokenizerFiles } from './files';
export type { JsonObject, TokenizerFiles } from './files';

/**
 * Loads the tokenizer of a Hugging Face model folder.
 *
 * Reads `tokenizer.json` (required), and when present `tokenizer_config.json` (`add_bos_token`,
 * `add_eos_token`, `bos_token`/`eos_token`/`pad_token`/`unk_token` as strings or AddedToken
 * objects, `chat_template` as a string or a `[{name, template}]` list whose "default" is used,
 * `model_max_length`, `clean_up_tokenization_spaces`), `chat_template.jinja` (overrides the
 * config's template, as in transformers), and `generation_config.json` then `config.json` for
 * `bos_token_id` / `eos_token_id` (an id or a list) / `pad_token_id` when the tokenizer config
 * names no such token. See `Tokenizer` for how these combine.
 *
 * Semantics follow transformers' `AutoTokenizer.from_pretrained` with a fast tokenizer.
 *
 * @throws TokenizerError (one line, naming the folder or file and what to do) when the folder
 *   does not exist, `tokenizer.json` is missing, a file is not valid JSON, a field has the wrong
 *   type, or `@huggingface/tokenizers` cannot load `tokenizer.json`.
 */
export async function loadTokenizer(modelDir: string): Promise<Tokenizer> {
  const files = await readTokenizerFiles(modelDir);
  return new Tokenizer(files, modelDir);
}
