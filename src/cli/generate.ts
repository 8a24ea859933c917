/**
 * `loralab generate`: continue a prompt (or answer a chat) with the base model and/or adapters,
 * one completion per variant, streamed to stdout as tokens come. Decoding uses the KV cache
 * (`KvCacheStep`), and every variant runs in ONE batch through one loaded multi-LoRA model: row i
 * is variant i with its own adapter (the base model as a zero adapter), so the adapters are feeds
 * and never rebuild the ONNX Runtime session. Each row samples with its own RNG seeded with
 * `--seed`, so a variant's completion is the same whether it runs alone or beside others.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parseTree } from 'jsonc-parser/lib/esm/main.js';
import { CausalLM } from '../engine/infer/causal-lm';
import { type GenerateResult, generateBatch } from '../engine/infer/generate';
import { KvCacheStep } from '../engine/infer/kv-cache';
import { DEFAULT_MAX_NEW_TOKENS, readGenerationDefaults, resolveSampling } from '../engine/infer/generation-config';
import { encodePrompt } from '../engine/infer/prompt';
import { validateSamplingParams } from '../engine/infer/sampling';
import { parseRecord } from '../engine/data/records';
import { resolveModel } from '../engine/models/hub';
import { loadModelConfig } from '../engine/models/index';
import type { Device } from '../engine/runtime/session';
import { type ChatMessage, loadTokenizer } from '../engine/tokenizer/index';
import { type PeftAdapter, readPeftAdapter } from '../engine/weights/peft';
import { assertFiniteWeights } from '../engine/weights/finite';
import { describeJsonError } from '../engine/weights/errors';
import { InputError, emitJson, info } from './output';

export interface GenerateArgs {
  model: string;
  /** Adapter folders, in order; each gives one completion. */
  adapter?: string[];
  /** Also generate with the base model (first). Implied when no adapter is given. */
  base?: boolean;
  prompt?: string;
  messages?: string;
  maxNewTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  repetitionPenalty?: number;
  stop?: string[];
  seed?: number;
  device?: Device;
  threads?: number;
  json?: boolean;
}

/** One line of `--json` output per variant: `adapter` is the folder given, null for the base model. */
export interface GenerateResultJson {
  adapter: string | null;
  ids: number[];
  text: string;
  finish_reason: GenerateResult['finishReason'];
}

export async function runGenerate(args: GenerateArgs): Promise<void> {
  if (args.prompt !== undefined && args.messages !== undefined) {
    throw new InputError('--prompt and --messages were both given; pass one: --prompt STR for a plain continuation, or --messages FILE for a chat');
  }
  if (args.prompt === undefined && args.messages === undefined) {
    throw new InputError('no prompt: pass --prompt STR (text to continue) or --messages FILE (a JSON list of {"role", "content"} rendered with the chat template)');
  }
  const messages = args.messages !== undefined ? await readMessages(args.messages) : undefined;
  const model = await resolveModel(args.model);
  // config.json first: a folder that is no model (or an adapter folder) is named as such before the tokenizer is looked for.
  await loadModelConfig(model);
  const tokenizer = await loadTokenizer(model);
  const defaults = await readGenerationDefaults(model);
  const sampling = resolveSampling(defaults, args);
  try {
    validateSamplingParams(sampling);
  } catch (e) {
    throw new InputError(`${(e as Error).message}; check the sampling options (or generation_config.json in ${args.model})`);
  }
  if (!sampling.doSample && !args.json && (args.topP !== undefined || args.topK !== undefined)) {
    info('note: --top-p / --top-k act only when sampling; decoding is greedy: add --temperature T (> 0) to sample');
  }
  const maxNewTokens = args.maxNewTokens ?? defaults.max_new_tokens ?? DEFAULT_MAX_NEW_TOKENS;

  if (messages && tokenizer.chatTemplate === undefined) {
    throw new InputError(`--messages needs a chat template, but ${args.model} has none (no chat_template in tokenizer_config.json nor chat_template.jinja; a base model?): pass the text with --prompt instead`);
  }
  const promptIds = encodePrompt(tokenizer, messages ? { messages } : { prompt: args.prompt! });
  if (promptIds.length === 0) throw new InputError('the prompt is empty and the model adds no BOS token: give a non-empty --prompt');

  const adapterDirs = args.adapter ?? [];
  const adapters: { dir: string; adapter: PeftAdapter }[] = [];
  for (const dir of adapterDirs) adapters.push({ dir, adapter: await readPeftAdapter(dir) });
  await assertFiniteWeights(model, adapters); // NaN weights would give id 0 forever, silently
  // One graph for every variant: LoRA on the union of the adapters' modules, one adapter per row.
  const modules = [...new Set(adapters.flatMap((a) => [...a.adapter.modules.keys()]))];
  const lm = await CausalLM.load(model, { device: args.device, threads: args.threads, targetModules: modules.length ? modules : null, kvCache: true, multiLora: true });
  try {
    if (promptIds.length >= lm.config.max_position_embeddings) {
      throw new InputError(`the prompt has ${promptIds.length} tokens but ${args.model} takes at most ${lm.config.max_position_embeddings} (max_position_embeddings): shorten the prompt`);
    }
    const variants: (typeof adapters[number] | null)[] = [...(args.base || adapters.length === 0 ? [null] : []), ...adapters];
    // Checks that every adapter fits before generating anything; row i = variant i.
    lm.setAdapters(variants.map((v) => (v ? { adapter: v.adapter, source: v.dir } : null)));
    const decode = (ids: readonly number[]) => tokenizer.decode(ids, { skipSpecialTokens: true });
    if (!args.json) {
      info(`model ${args.model} (${lm.provider}); ${sampling.doSample ? `sampling: temperature ${sampling.temperature}, top_k ${sampling.topK}, top_p ${sampling.topP}, seed ${args.seed ?? 0}` : 'greedy'}` +
        `${sampling.repetitionPenalty !== 1 ? `, repetition_penalty ${sampling.repetitionPenalty}` : ''}; at most ${maxNewTokens} new tokens` +
        `${variants.length > 1 ? `; ${variants.length} variants in one batch` : ''}`);
    }
    // The rows decode together; stdout shows them one after another: the first open variant
    // streams live, the others' text waits until their turn.
    const name = (i: number) => (variants[i] ? variants[i]!.dir : 'base');
    const pending = variants.map(() => '');
    const ended: (GenerateResult | null)[] = variants.map(() => null);
    let shown = 0;
    const header = (i: number) => {
      if (variants.length > 1) process.stdout.write(`${i ? '\n' : ''}=== ${variants[i] ? `adapter ${variants[i]!.dir}` : 'base model'} ===\n`);
      process.stdout.write(pending[i]);
    };
    const advance = () => {
      while (shown < variants.length && ended[shown]) {
        process.stdout.write('\n');
        info(`[${name(shown)}: ${ended[shown]!.ids.length} tokens, finish_reason ${ended[shown]!.finishReason}]`);
        if (++shown < variants.length) header(shown);
      }
    };
    if (!args.json) header(0);
    const out = await generateBatch(new KvCacheStep(lm), variants.map(() => promptIds), {
      maxNewTokens, sampling, eosTokenIds: tokenizer.eosTokenIds, stopStrings: args.stop, seed: args.seed, decode,
      onText: args.json ? undefined : (row, delta) => {
        if (row === shown) process.stdout.write(delta);
        else pending[row] += delta;
      },
      onFinish: args.json ? undefined : (row, res) => {
        ended[row] = res;
        advance();
      },
    });
    const results: GenerateResultJson[] = out.map((res, i) => ({ adapter: variants[i] ? variants[i]!.dir : null, ids: res.ids, text: res.text, finish_reason: res.finishReason }));
    if (args.json) emitJson({ results });
  } finally {
    await lm.release();
  }
}

/**
 * Reads a `--messages` file: a `.json` list of `{"role", "content"}` (or an object
 * `{"messages": [...]}`), or a `.jsonl` whose lines are the messages of one conversation (or
 * whose single line is a `{"messages": [...]}` record, the training-data shape).
 *
 * @throws InputError `FILE:LINE: what is wrong; what to do` (one line).
 */
export async function readMessages(file: string): Promise<ChatMessage[]> {
  const text = (await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    const why = e.code === 'ENOENT' ? 'file not found' : e.code === 'EISDIR' ? 'is a folder, not a file' : `cannot read (${e.code ?? e.message})`;
    throw new InputError(`${file}: ${why}; check the path given to --messages`);
  })).replace(/^\uFEFF/, '');
  const shape = 'write a JSON list like [{"role": "user", "content": "Hi"}], or a .jsonl with one {"role", "content"} per line';
  /** Validates with the training-data rules; `label` renames "messages[0]" when one message is checked alone. */
  const check = (value: unknown, line: number, label?: string): ChatMessage[] => {
    const rec = parseRecord(value, { file, line }, false);
    if ('what' in rec) throw new InputError(`${file}:${line}: ${label ? rec.what.replace(/^messages\[0\]/, label) : rec.what}; ${rec.remedy}`);
    if (rec.kind !== 'messages') throw new InputError(`${file}:${line}: expected chat messages, found a {"${rec.kind === 'text' ? 'text' : 'prompt'}"} record; ${shape} (or use --prompt for plain text)`);
    return rec.messages;
  };
  if (extname(file).toLowerCase() === '.jsonl') {
    const lines = text.split(/\r?\n/).map((l, i) => ({ l, line: i + 1 })).filter(({ l }) => l.trim() !== '');
    if (lines.length === 0) throw new InputError(`${file}: holds no messages; ${shape}`);
    const values = lines.map(({ l, line }) => {
      try {
        return { value: JSON.parse(l) as unknown, line };
      } catch (e) {
        throw new InputError(`${file}:${line}: not valid JSON (${describeJsonError(l, e).replace(/^line 1 /, '')}); ${shape}`);
      }
    });
    const isRecord = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v) && 'messages' in v;
    if (values.length === 1 && isRecord(values[0].value)) return check(values[0].value, values[0].line);
    const recordLine = values.find((v) => isRecord(v.value));
    if (recordLine) throw new InputError(`${file}:${recordLine.line}: a {"messages": [...]} record among other lines; --messages takes one conversation: one record, or one message per line`);
    return values.map(({ value, line }) => {
      const [m] = check({ messages: [value] }, line, 'the message');
      return m;
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const where = describeJsonError(text, e);
    const line = /^line (\d+)/.exec(where)?.[1];
    throw new InputError(`${file}${line ? `:${line}` : ''}: not valid JSON (${where.replace(/^line \d+ /, '')}); ${shape}`);
  }
  const list = Array.isArray(value) ? value : (value as { messages?: unknown } | null)?.messages;
  if (!Array.isArray(list)) throw new InputError(`${file}:1: expected a list of messages; ${shape}`);
  // Name the line of a bad message: validate one by one, locating each element in the text.
  const root = parseTree(text);
  const listNode = Array.isArray(value) ? root : root?.children?.find((p) => p.children?.[0]?.value === 'messages')?.children?.[1];
  const lineOf = (i: number) => {
    const offset = listNode?.children?.[i]?.offset;
    return offset === undefined ? 1 : text.slice(0, offset).split('\n').length;
  };
  if (list.length === 0) throw new InputError(`${file}:1: the list of messages is empty; ${shape}`);
  return list.map((m, i) => check({ messages: [m] }, lineOf(i), `messages[${i}]`)[0]);
}
