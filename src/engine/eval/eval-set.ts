/**
 * Eval sets: `*.eval.jsonl` files, one case per line.
 *
 * ```jsonl
 * {"$config": {"metric": "contains", "max_new_tokens": 32}}
 * {"prompt": "Once upon a time", "expected": "there was"}
 * {"messages": [{"role": "user", "content": "Hi"}], "expected": "Hello", "metric": "rouge_l", "threshold": 0.4}
 * ```
 *
 * - An optional FIRST line `{"$config": {...}}` sets file defaults: `metric`, `threshold` and the
 *   generation settings below.
 * - A case: `prompt` (text to continue) or `messages` (a chat, rendered with the model's chat
 *   template and the assistant's turn opened), and `expected` (string); optional `name`,
 *   `metric` (see metrics.ts; default `exact`), `threshold`, and generation settings with
 *   Hugging Face `GenerationConfig` names: `max_new_tokens`, `temperature` (default 0 = greedy,
 *   so an eval is repeatable), `top_p`, `top_k`, `repetition_penalty`, `stop` (a list of
 *   non-empty strings, or one string), `seed`. A case's own values win over `$config`.
 *   `expected` must hold a non-whitespace character (an empty text passes `contains` and `regex`
 *   on any output and has no token for `nll`).
 * - The output is scored up to its first `stop` string (generation ends there too; `loralab
 *   generate --stop` cuts the same way, src/engine/stop.ts). An `exact` case checks the model's
 *   answer as lm-evaluation-harness does (run.ts `caseGeneration`): unless the case or `$config`
 *   sets them, `stop` is `["\n"]` (none when `expected` spans lines) and `max_new_tokens` is the
 *   token count of `expected`, and the output passes when it starts with `expected` at a word
 *   boundary, so `{"prompt": "…a little", "expected": "girl"}` passes when the greedy next word
 *   is "girl" even though the model goes on ("girl named Lily…"), not on "girls". Set
 *   `max_new_tokens` to also require the model to end its answer there; `"stop": []` to keep
 *   line breaks.
 * - `target_delimiter` (string, default `" "`; in `$config` or a case): what goes between a text
 *   prompt and `expected` when the NLL of the expected text is measured, where the prompt does not
 *   end in whitespace and `expected` does not start with it (lm-evaluation-harness's
 *   `target_delimiter`; eval-set.ts `scoredExpected`). `""` glues them. Chat cases ignore it. The
 *   text metrics (`exact`, `contains`, …) do not depend on it: they ignore whitespace at the ends
 *   of `expected` and of the output (metrics.ts).
 * - Blank lines are skipped; line numbers are 1-based lines of the file.
 *
 * Parsing never throws on a bad line: every problem is collected with its line (the editor
 * shows them all in the Problems panel; the CLI and trainer list the first ten and count the rest).
 * An unknown key or metric gets a "did you mean" (src/engine/suggest.ts); a `threshold` outside
 * its metric's range (`metricRange`) is a problem on its line.
 */
import type { ChatMessage } from '../tokenizer/index';
import type { EvalInput } from './run';
import { parseRecord } from '../data/records';
import { closestMatch } from '../suggest';
import { describeJsonError } from '../weights/errors';
import { DEFAULT_THRESHOLD, METRICS, type MetricName, metricRange } from './metrics';

/**
 * What `target_delimiter` defaults to: one space, as lm-evaluation-harness (EleutherAI,
 * `lm_eval/api/task.py` `TaskConfig.target_delimiter = " "`, v0.4) puts between a context and
 * its continuation before scoring the continuation's log-likelihood.
 */
export const DEFAULT_TARGET_DELIMITER = ' ';

/**
 * The text whose NLL is measured after a case's prompt (what a backend's `expectedNll` is given).
 *
 * A text case: `targetDelimiter + expected` when the prompt does not end in whitespace and
 * `expected` does not start with whitespace (so `{"prompt": "Tom had a big red", "expected":
 * "ball"}` scores " ball", the word the model would write, not the glued "redball"); otherwise
 * `expected` unchanged, as also for an empty prompt or expected. lm-evaluation-harness inserts
 * its `target_delimiter` always; here it is skipped where the author already wrote the
 * whitespace, so `"expected": " ball"` keeps meaning what it did. `targetDelimiter: ""` glues.
 * A chat case: `expected` unchanged (it is the assistant's reply, after the template's own
 * separator).
 */
// Here, not in expected.ts: the extension runs cases (run.ts) and must not bundle engine/infer/.
export function scoredExpected(input: EvalInput, expected: string, targetDelimiter: string = DEFAULT_TARGET_DELIMITER): string {
  if (input.messages || input.prompt === '' || expected === '') return expected;
  if (/\s$/u.test(input.prompt) || /^\s/u.test(expected)) return expected;
  return targetDelimiter + expected;
}


/** Generation settings of a case (HF `GenerationConfig` names, as the worker protocol's `GenerationParams`). */
export interface EvalGeneration {
  max_new_tokens?: number;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  repetition_penalty?: number;
  stop?: string[];
  seed?: number;
}

export interface EvalCase {
  /** 1-based line in the file. */
  line: number;
  /** `name` when given, else the prompt (or last message) shortened to 60 characters. */
  name: string;
  prompt?: string;
  messages?: ChatMessage[];
  expected: string;
  metric: MetricName;
  threshold: number;
  /** Put between a text prompt and `expected` for the NLL (eval-set.ts `scoredExpected`); default " ". */
  target_delimiter: string;
  generation: EvalGeneration;
}

export interface EvalProblem {
  /** 1-based line. */
  line: number;
  /** What is wrong and what to do (one line, without the file and line). */
  message: string;
}

export interface EvalSet {
  file: string;
  cases: EvalCase[];
  problems: EvalProblem[];
}

/** The eval-set file suffix (editor discovery, trainer and CLI checks). */
export const EVAL_SET_SUFFIX = '.eval.jsonl';

const GENERATION_KEYS = ['max_new_tokens', 'temperature', 'top_p', 'top_k', 'repetition_penalty', 'stop', 'seed'] as const;
const CONFIG_KEYS = new Set<string>(['metric', 'threshold', 'target_delimiter', ...GENERATION_KEYS]);
const CASE_KEYS = new Set<string>(['prompt', 'messages', 'expected', 'name', ...CONFIG_KEYS]);

/**
 * A bad eval set (bad input: the CLI exits with code 2). `message` is one `FILE:LINE: what; what
 * to do` line per problem (at most {@link MAX_LISTED_PROBLEMS}, then `FILE: and N more problems`).
 */
export class EvalSetError extends Error {
  override name = 'EvalSetError';
}

/** Problems listed by {@link assertNoProblems} before it counts the rest. */
export const MAX_LISTED_PROBLEMS = 10;

/** ` (did you mean "x"?)` when `word` looks like a typo of one of `known`, else ''. */
function didYouMean(word: string, known: Iterable<string>): string {
  const near = closestMatch(word, [...known]);
  return near ? ` (did you mean ${JSON.stringify(near)}?)` : '';
}

/** The problem with `threshold` for `metric`, or undefined when it lies in the metric's range. */
function thresholdProblem(threshold: number, metric: MetricName, where: string): string | undefined {
  const [lo, hi] = metricRange(metric);
  if (threshold >= lo && threshold <= hi) return undefined;
  if (metric === 'nll') return `${where}"threshold" ${threshold} is below 0, but metric "nll" is a mean NLL in nats per token (≥ 0, lower passes); use the largest NLL that passes, e.g. 2.5`;
  return `${where}"threshold" ${threshold} is outside [0, 1], the range of metric "${metric}" scores; use a value between 0 and 1 (default ${DEFAULT_THRESHOLD[metric]})`;
}

type Settings = { metric?: MetricName; threshold?: number; target_delimiter?: string; generation: EvalGeneration };

/** Reads and checks the shared keys of `$config` and of a case; returns the problem text or the settings. */
function readSettings(obj: Record<string, unknown>, where: string): Settings | string {
  const out: Settings = { generation: {} };
  if (obj.metric !== undefined) {
    if (typeof obj.metric !== 'string' || !(METRICS as readonly string[]).includes(obj.metric)) {
      const hint = typeof obj.metric === 'string' ? didYouMean(obj.metric, METRICS) : '';
      return `${where}"metric" ${JSON.stringify(obj.metric)} is not a metric${hint}; use one of ${METRICS.join(', ')}`;
    }
    out.metric = obj.metric as MetricName;
  }
  if (obj.threshold !== undefined) {
    if (typeof obj.threshold !== 'number' || !Number.isFinite(obj.threshold)) return `${where}"threshold" must be a number, got ${JSON.stringify(obj.threshold)}`;
    out.threshold = obj.threshold;
  }
  if (obj.target_delimiter !== undefined) {
    if (typeof obj.target_delimiter !== 'string') return `${where}"target_delimiter" must be a string (" " by default, "" to glue the expected text to the prompt), got ${JSON.stringify(obj.target_delimiter)}`;
    out.target_delimiter = obj.target_delimiter;
  }
  const g = out.generation;
  const num = (key: Exclude<(typeof GENERATION_KEYS)[number], 'stop'>, ok: (v: number) => boolean, what: string): string | undefined => {
    const v = obj[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !ok(v)) return `${where}"${key}" must be ${what}, got ${JSON.stringify(v)}`;
    g[key] = v;
    return undefined;
  };
  const bad = num('max_new_tokens', (v) => Number.isInteger(v) && v >= 1, 'an integer ≥ 1')
    ?? num('temperature', (v) => v >= 0, 'a number ≥ 0')
    ?? num('top_p', (v) => v > 0 && v <= 1, 'a number in (0, 1]')
    ?? num('top_k', (v) => Number.isInteger(v) && v >= 0, 'an integer ≥ 0')
    ?? num('repetition_penalty', (v) => v > 0, 'a number > 0')
    ?? num('seed', Number.isSafeInteger, 'an integer');
  if (bad) return bad;
  if (obj.stop !== undefined) {
    // One string is a list of one, as HF `stop_strings` and lm-evaluation-harness `until` take it.
    const stop = typeof obj.stop === 'string' ? [obj.stop] : obj.stop;
    if (!Array.isArray(stop) || !stop.every((s) => typeof s === 'string')) return `${where}"stop" must be a string or a list of strings, got ${JSON.stringify(obj.stop)}`;
    if (stop.includes('')) return `${where}"stop" must not contain "": an empty text matches at once, so nothing would be generated; remove it ("stop": [] for no stop string)`;
    g.stop = stop as string[];
  }
  return out;
}

const shorten = (s: string) => {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > 60 ? `${one.slice(0, 59)}…` : one;
};

/**
 * Parses the text of an eval set.
 *
 * @param file the path, used in messages only.
 * @returns the valid cases and every problem, each with its 1-based line. A bad `$config` line
 *   is a problem and its defaults are not applied; a `$config` anywhere but the first non-blank
 *   line is a problem. A file with no case at all gets a problem on line 1.
 */
export function parseEvalSet(text: string, file: string): EvalSet {
  const cases: EvalCase[] = [];
  const problems: EvalProblem[] = [];
  let defaults: Settings = { generation: {} };
  let first = true;
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    const isFirst = first;
    first = false;
    const problem = (message: string) => problems.push({ line, message });
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      problem(`not valid JSON (${describeJsonError(raw, e).replace(/^line 1 /, '')}); write one JSON object per line`);
      return;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      problem('a case must be a JSON object like {"prompt": "...", "expected": "..."}');
      return;
    }
    const obj = value as Record<string, unknown>;
    if ('$config' in obj) {
      if (!isFirst) return problem('"$config" must be on the first line of the file; move it there');
      const cfg = obj.$config;
      if (cfg === null || typeof cfg !== 'object' || Array.isArray(cfg)) return problem('"$config" must be an object, e.g. {"$config": {"metric": "contains"}}');
      const unknown = Object.keys(cfg).filter((k) => !CONFIG_KEYS.has(k));
      if (unknown.length) return problem(`"$config" has unknown key ${JSON.stringify(unknown[0])}${didYouMean(unknown[0], CONFIG_KEYS)}; known keys: ${[...CONFIG_KEYS].join(', ')}`);
      const s = readSettings(cfg as Record<string, unknown>, '"$config": ');
      if (typeof s === 'string') return problem(s);
      // A $config threshold is for the $config metric (exact when it names none).
      const bad = s.threshold === undefined ? undefined : thresholdProblem(s.threshold, s.metric ?? 'exact', '"$config": ');
      if (bad) return problem(bad);
      defaults = s;
      return;
    }
    const unknown = Object.keys(obj).filter((k) => !CASE_KEYS.has(k));
    if (unknown.length) return problem(`unknown key ${JSON.stringify(unknown[0])}${didYouMean(unknown[0], CASE_KEYS)}; a case has ${[...CASE_KEYS].join(', ')}`);
    if ('prompt' in obj === 'messages' in obj) return problem('a case needs exactly one of "prompt" (text to continue) and "messages" (a chat)');
    if (!('expected' in obj)) return problem('missing "expected": add the text the model should produce');
    if (typeof obj.expected !== 'string') return problem(`"expected" must be a string, got ${JSON.stringify(obj.expected)}`);
    // Every metric needs a text: "" is contained in every output, matches every regex and has no token to score.
    if (obj.expected.trim() === '') return problem(`"expected" is empty${obj.expected === '' ? '' : ' (only whitespace)'}; write the text the model should produce`);
    if (obj.name !== undefined && typeof obj.name !== 'string') return problem('"name" must be a string');
    let prompt: string | undefined;
    let messages: ChatMessage[] | undefined;
    if ('prompt' in obj) {
      if (typeof obj.prompt !== 'string') return problem(`"prompt" must be a string, got ${JSON.stringify(obj.prompt)} (for a chat use "messages")`);
      prompt = obj.prompt;
    } else {
      const rec = parseRecord({ messages: obj.messages }, { file, line }, false);
      if ('what' in rec) return problem(`${rec.what}; ${rec.remedy}`);
      if (rec.kind !== 'messages') return problem('"messages" must be a list of {"role", "content"}');
      messages = rec.messages;
    }
    const s = readSettings(obj, '');
    if (typeof s === 'string') return problem(s);
    const metric = s.metric ?? defaults.metric ?? 'exact';
    // A threshold set in $config for another metric does not carry over to this case's metric.
    const threshold = s.threshold ?? (s.metric === undefined || s.metric === defaults.metric ? defaults.threshold : undefined)
      ?? (metric === 'nll' ? undefined : DEFAULT_THRESHOLD[metric]);
    if (threshold === undefined) return problem('metric "nll" needs a "threshold": the largest mean NLL (nats per token) that passes, e.g. "threshold": 2.5');
    const badThreshold = s.threshold === undefined ? undefined : thresholdProblem(s.threshold, metric, '');
    if (badThreshold) return problem(badThreshold);
    if (metric === 'regex') {
      try {
        new RegExp(obj.expected, 'u');
      } catch (e) {
        return problem(`"expected" is not a valid regular expression (${(e as Error).message.replace(/^Invalid regular expression: /, '')}); fix the pattern or use "metric": "contains"`);
      }
    }
    const name = typeof obj.name === 'string' ? obj.name : shorten(prompt ?? messages![messages!.length - 1].content);
    const target_delimiter = s.target_delimiter ?? defaults.target_delimiter ?? DEFAULT_TARGET_DELIMITER;
    cases.push({ line, name, prompt, messages, expected: obj.expected, metric, threshold, target_delimiter, generation: { ...defaults.generation, ...s.generation } });
  });
  if (cases.length === 0 && problems.length === 0) problems.push({ line: 1, message: 'the eval set has no case; add lines like {"prompt": "...", "expected": "..."}' });
  return { file, cases, problems };
}

/**
 * @throws EvalSetError listing the problems of `set`, one `FILE:LINE: problem` line each, in
 *   line order: the first {@link MAX_LISTED_PROBLEMS}, then `FILE: and N more problems`.
 */
export function assertNoProblems(set: EvalSet): void {
  const n = set.problems.length;
  if (n === 0) return;
  const listed = set.problems.slice(0, MAX_LISTED_PROBLEMS).map((p) => `${set.file}:${p.line}: ${p.message}`);
  const rest = n - listed.length;
  if (rest > 0) listed.push(`${set.file}: and ${rest} more problem${rest === 1 ? '' : 's'}; fix the lines above and run again`);
  throw new EvalSetError(listed.join('\n'));
}

/**
 * The part of `set` a model without a chat template can run: its text (`prompt`) cases, for the
 * evaluation during training, which should not refuse a whole run over some chat cases.
 *
 * @param model the model as the user named it (for the messages).
 * @param hasChatTemplate whether the model's tokenizer has a chat template.
 * @returns `set` itself with no warning when the model has a template or the set no chat case;
 *   else the set without its chat cases and one warning line,
 *   `warning: FILE:LINE: skipping N chat case(s) (lines …) …; what to do`.
 * @throws EvalSetError (one line, {@link assertChatTemplate}'s) when every case is a chat.
 */
export function withoutChatCases(set: EvalSet, model: string, hasChatTemplate: boolean): { set: EvalSet; warning: string | null } {
  if (hasChatTemplate) return { set, warning: null };
  const chats = set.cases.filter((c) => c.messages !== undefined);
  if (chats.length === 0) return { set, warning: null };
  if (chats.length === set.cases.length) assertChatTemplate(set, model, false);
  const lines = chats.length > 5 ? `${chats.slice(0, 5).map((c) => c.line).join(', ')}, …` : chats.map((c) => c.line).join(', ');
  const n = chats.length === 1 ? 'the chat case' : `${chats.length} chat cases`;
  return {
    set: { ...set, cases: set.cases.filter((c) => c.messages === undefined) },
    warning: `warning: ${set.file}:${chats[0].line}: skipping ${n} ("messages", line${chats.length === 1 ? '' : 's'} ${lines}) because ${model} has no chat template (a base model?), running the other ${set.cases.length - chats.length}; write ${chats.length === 1 ? 'it' : 'them'} as {"prompt": "..."} to evaluate ${chats.length === 1 ? 'it' : 'them'} too`,
  };
}

/**
 * Chat cases need the model's chat template (as `generate --messages` does). `loralab eval`
 * refuses such a set; training skips the chat cases ({@link withoutChatCases}).
 *
 * @param model the model as the user named it (for the message).
 * @param hasChatTemplate whether the model's tokenizer has a chat template.
 * @throws EvalSetError `FILE:LINE: …` (one line) naming the first case with `messages`, when
 *   the model has no chat template.
 */
export function assertChatTemplate(set: EvalSet, model: string, hasChatTemplate: boolean): void {
  if (hasChatTemplate) return;
  const chats = set.cases.filter((c) => c.messages !== undefined);
  if (chats.length === 0) return;
  const more = chats.length > 1 ? ` (${chats.length - 1} more chat case${chats.length > 2 ? 's' : ''} after it)` : '';
  throw new EvalSetError(
    `${set.file}:${chats[0].line}: this case is a chat ("messages"), but ${model} has no chat template (no chat_template in tokenizer_config.json nor chat_template.jinja; a base model?)${more}; write it as {"prompt": "..."} or evaluate a chat model`,
  );
}
