/**
 * Reading the tokenizer-related files of a Hugging Face model folder.
 *
 * Only reading and JSON parsing happen here; what the fields mean is decided in `tokenizer.ts`.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describeJsonError } from '../weights/errors';
import { TokenizerError, errorMessage } from './errors';

/** A parsed JSON object (the top level of every file read here must be an object). */
export type JsonObject = Record<string, unknown>;

/**
 * The raw contents of a model folder's tokenizer files, as `loadTokenizer` reads them. Also the
 * input of `new Tokenizer(...)`, so a tokenizer can be built from memory in tests.
 */
export interface TokenizerFiles {
  /** `tokenizer.json` (the `tokenizers`-library serialisation): required. */
  tokenizerJson: JsonObject;
  /** `tokenizer_config.json` (transformers `PreTrainedTokenizer` settings), if present. */
  tokenizerConfig?: JsonObject;
  /** `config.json` (model config; `bos_token_id`/`eos_token_id`/`pad_token_id`), if present. */
  modelConfig?: JsonObject;
  /** `generation_config.json` (overrides `config.json`'s special-token ids), if present. */
  generationConfig?: JsonObject;
  /** `chat_template.jinja` (newer transformers save the template here), if present. */
  chatTemplateJinja?: string;
}

/** File names inside a model folder. */
export const FILES = {
  tokenizer: 'tokenizer.json',
  tokenizerConfig: 'tokenizer_config.json',
  config: 'config.json',
  generationConfig: 'generation_config.json',
  chatTemplate: 'chat_template.jinja',
} as const;

function isNotFound(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Reads a text file; undefined when it does not exist. Other I/O errors become TokenizerError. */
async function readOptionalText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw new TokenizerError(`${path}: cannot be read (${errorMessage(e)}); check the file's permissions`, path, e);
  }
}

/**
 * Parses the text of a JSON file whose top level must be an object.
 * Errors: TokenizerError naming the file when the text is not valid JSON or not an object.
 */
export function parseJsonObject(text: string, path: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(
      `${path}: not valid JSON (${errorMessage(describeJsonError(text, e))}); fix the file, re-download it or re-save it with transformers' save_pretrained`,
      path, e);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TokenizerError(`${path}: does not hold a JSON object; re-download it or re-save it with transformers' save_pretrained`, path);
  }
  return value as JsonObject;
}

async function readOptionalJson(path: string): Promise<JsonObject | undefined> {
  const text = await readOptionalText(path);
  return text === undefined ? undefined : parseJsonObject(text, path);
}

/**
 * Reads `tokenizer.json` (required), `tokenizer_config.json`, `config.json`,
 * `generation_config.json` and `chat_template.jinja` (all optional) from a model folder.
 *
 * Errors (TokenizerError, naming the folder or file): the folder does not exist or is not a
 * folder; `tokenizer.json` is missing (for example a model that ships only a SentencePiece
 * `tokenizer.model`); any of the JSON files present is not valid JSON or not an object.
 */
export async function readTokenizerFiles(modelDir: string): Promise<TokenizerFiles> {
  let isDir: boolean;
  try {
    isDir = (await stat(modelDir)).isDirectory();
  } catch (e) {
    if (!isNotFound(e)) throw new TokenizerError(`${modelDir}: model folder cannot be read (${errorMessage(e)}); check the path and its permissions`, modelDir, e);
    throw new TokenizerError(`${modelDir}: model folder does not exist; pass a local Hugging Face model folder (config.json, tokenizer.json, *.safetensors)`, modelDir);
  }
  if (!isDir) {
    throw new TokenizerError(`${modelDir}: is not a folder; pass the Hugging Face model folder that holds tokenizer.json, not a file in it`, modelDir);
  }
  const tokenizerPath = join(modelDir, FILES.tokenizer);
  const tokenizerText = await readOptionalText(tokenizerPath);
  if (tokenizerText === undefined) {
    if ((await readOptionalText(join(modelDir, 'adapter_config.json'))) !== undefined) {
      throw new TokenizerError(
        `${modelDir}: is a PEFT adapter folder (adapter_config.json), not a model folder; pass the base model folder as the model ` +
        `(adapter_config.json names it in base_model_name_or_path) and this folder as the adapter`,
        modelDir);
    }
    throw new TokenizerError(
      `${tokenizerPath}: not found; LoRA Lab needs the model's fast-tokenizer file tokenizer.json — download it with the model, or create it with ` +
      `AutoTokenizer.from_pretrained(...).save_pretrained(...) in transformers`,
      tokenizerPath);
  }
  const [tokenizerConfig, modelConfig, generationConfig, chatTemplateJinja] = await Promise.all([
    readOptionalJson(join(modelDir, FILES.tokenizerConfig)),
    readOptionalJson(join(modelDir, FILES.config)),
    readOptionalJson(join(modelDir, FILES.generationConfig)),
    readOptionalText(join(modelDir, FILES.chatTemplate)),
  ]);
  return {
    tokenizerJson: parseJsonObject(tokenizerText, tokenizerPath),
    tokenizerConfig, modelConfig, generationConfig, chatTemplateJinja,
  };
}
