/**
 * The sampling defaults a model ships in `generation_config.json` (transformers
 * `GenerationConfig`), resolved against HF's own defaults.
 *
 * EOS ids are not read here: `Tokenizer.eosTokenIds` already merges `generation_config.json`'s
 * `eos_token_id` (an id or a list), `config.json`'s and the tokenizer's EOS.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelError } from '../models/types';
import { parseJsonObject } from '../tokenizer/files';
import type { SamplingParams } from './sampling';

/** `max_new_tokens` when neither the request nor generation_config.json gives one (CLI and inference worker). */
export const DEFAULT_MAX_NEW_TOKENS = 128;

/** What `generation_config.json` says (only the fields generation uses), HF names. */
export interface GenerationDefaults {
  do_sample?: boolean;
  temperature?: number;
  top_k?: number;
  top_p?: number;
  repetition_penalty?: number;
  max_new_tokens?: number;
}

/**
 * HF `GenerationConfig()` defaults (transformers v4.x `generation/configuration_utils.py`):
 * do_sample False, temperature 1.0, top_k 50, top_p 1.0, repetition_penalty 1.0.
 */
export const HF_DEFAULTS: SamplingParams = { doSample: false, temperature: 1, topK: 50, topP: 1, repetitionPenalty: 1 };

/**
 * Reads `DIR/generation_config.json`; `{}` when the file does not exist. Unknown and `null`
 * fields are ignored.
 *
 * @throws TokenizerError naming the file when it is not a JSON object; ModelError naming the file
 *   and field when a used field has the wrong type (e.g. `"temperature": "hot"`).
 */
export async function readGenerationDefaults(dir: string): Promise<GenerationDefaults> {
  const file = join(dir, 'generation_config.json');
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw new ModelError(`${file}: cannot be read (${e.code ?? e.message}); check the file's permissions`);
  });
  if (text === null) return {};
  const json = parseJsonObject(text, file);
  const out: GenerationDefaults = {};
  const num = (key: keyof GenerationDefaults, ok: (v: number) => boolean, what: string) => {
    const v = json[key];
    if (v === undefined || v === null) return;
    if (typeof v !== 'number' || !ok(v)) throw new ModelError(`${file}: "${key}" must be ${what}, got ${JSON.stringify(v)}; fix or remove the field`);
    (out as Record<string, unknown>)[key] = v;
  };
  if (json.do_sample !== undefined && json.do_sample !== null) {
    if (typeof json.do_sample !== 'boolean') throw new ModelError(`${file}: "do_sample" must be true or false, got ${JSON.stringify(json.do_sample)}; fix or remove the field`);
    out.do_sample = json.do_sample;
  }
  num('temperature', (v) => v >= 0, 'a number ≥ 0');
  num('top_k', (v) => Number.isInteger(v) && v >= 0, 'an integer ≥ 0');
  num('top_p', (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  num('repetition_penalty', (v) => v > 0, 'a number > 0');
  num('max_new_tokens', (v) => Number.isInteger(v) && v >= 1, 'an integer ≥ 1');
  return out;
}

/** Sampling overrides from the user (CLI flags, a request); undefined = not given. */
export interface SamplingOverrides {
  temperature?: number;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
}

/**
 * The sampling parameters of one request: each value from `overrides`, else
 * `generation_config.json`, else HF's default. Sampling is on when a temperature > 0 is given;
 * `temperature 0` means greedy (HF would reject 0 with do_sample); with no temperature given,
 * `do_sample` of generation_config.json decides (default false), and a generation_config
 * temperature of 0 also means greedy.
 */
export function resolveSampling(defaults: GenerationDefaults, overrides: SamplingOverrides = {}): SamplingParams {
  const temperature = overrides.temperature ?? defaults.temperature ?? HF_DEFAULTS.temperature;
  const doSample = overrides.temperature !== undefined ? overrides.temperature > 0 : (defaults.do_sample ?? HF_DEFAULTS.doSample) && temperature > 0;
  return {
    doSample,
    temperature: doSample ? temperature : HF_DEFAULTS.temperature,
    topK: overrides.topK ?? defaults.top_k ?? HF_DEFAULTS.topK,
    topP: overrides.topP ?? defaults.top_p ?? HF_DEFAULTS.topP,
    repetitionPenalty: overrides.repetitionPenalty ?? defaults.repetition_penalty ?? HF_DEFAULTS.repetitionPenalty,
  };
}
