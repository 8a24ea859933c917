/**
 * Training records: the three JSONL shapes (TRL's dataset types) and the plain-text document,
 * validated from parsed JSON. Reading files is `read.ts`; turning records into tokens is
 * `tokenize.ts`.
 *
 * | shape | TRL name |
 * | --- | --- |
 * | `{"text": string}` (and every `.txt` document) | language modeling |
 * | `{"prompt": string, "completion": string}` | prompt-completion |
 * | `{"messages": [{"role": string, "content": string}, ...]}` | conversational |
 *
 * Other keys on a record are ignored (datasets often carry ids or metadata columns).
 */
import type { ChatMessage } from '../tokenizer/index';
import { DataError } from './errors';

/** Where a record came from: its file and 1-based line (a `.txt` document's first line). */
export interface Source {
  file: string;
  line: number;
}

/** One validated record. */
export type DataRecord =
  | { kind: 'text'; text: string; source: Source }
  | { kind: 'prompt_completion'; prompt: string; completion: string; source: Source }
  | { kind: 'messages'; messages: ChatMessage[]; source: Source };

/** A record left out in `skip_bad_records` mode, and why (the "what is wrong" part of its error). */
export interface SkippedRecord {
  file: string;
  line: number;
  reason: string;
}

/** What is wrong with a record and what the user can do about it. */
export interface RecordProblem {
  what: string;
  remedy: string;
}

const SHAPES = 'write {"text": ...}, {"prompt": ..., "completion": ...} or {"messages": [{"role": ..., "content": ...}]}';

/**
 * Collects bad records: throws a `DataError` for the first one, or, in `skip_bad_records`
 * mode, records it in `skipped` and lets the caller go on.
 */
export class BadRecords {
  readonly skipped: SkippedRecord[] = [];

  constructor(readonly skip: boolean) {}

  /**
   * Reports a bad record.
   * @throws DataError `file:line: what; remedy, or set "skip_bad_records": true ...` unless skipping
   */
  report(source: Source, problem: RecordProblem, cause?: unknown): void {
    if (!this.skip) {
      throw new DataError(`${source.file}:${source.line}: ${problem.what}; ${problem.remedy}, or set "skip_bad_records": true to skip such records`,
        source, cause);
    }
    this.skipped.push({ file: source.file, line: source.line, reason: problem.what });
  }
}

/**
 * Validates one parsed JSONL value as a record.
 *
 * @param value the parsed JSON of one line
 * @param source its file and line
 * @param completionOnlyLoss when true, a `messages` record must hold an assistant turn
 * @returns the record, or the problem with it
 */
export function parseRecord(value: unknown, source: Source, completionOnlyLoss: boolean): DataRecord | RecordProblem {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const got = value === null ? 'null' : Array.isArray(value) ? 'a list' : `a ${typeof value}`;
    return { what: `the record is ${got}, not a JSON object`, remedy: SHAPES };
  }
  const obj = value as Record<string, unknown>;
  const present = ['text', 'prompt', 'messages'].filter((k) => k in obj);
  if (present.length === 0) {
    if ('completion' in obj) return { what: '"completion" without "prompt"', remedy: 'add a "prompt" (it may be "")' };
    const keys = Object.keys(obj);
    return { what: `unknown record shape (keys: ${keys.length ? keys.map((k) => JSON.stringify(k)).join(', ') : 'none'})`, remedy: SHAPES };
  }
  if (present.length > 1) {
    return { what: `the record mixes ${present.map((k) => `"${k}"`).join(' and ')}`, remedy: 'keep one shape per record' };
  }
  switch (present[0]) {
    case 'text': {
      if (typeof obj.text !== 'string') return wrongType('text', obj.text);
      if (obj.text.trim() === '') return { what: '"text" is empty', remedy: 'remove the line or give it text' };
      return { kind: 'text', text: obj.text, source };
    }
    case 'prompt': {
      if (!('completion' in obj)) return { what: '"prompt" without "completion"', remedy: 'add a "completion"' };
      if (typeof obj.prompt !== 'string') return wrongType('prompt', obj.prompt, 'for chat data use {"messages": [...]}');
      if (typeof obj.completion !== 'string') return wrongType('completion', obj.completion, 'for chat data use {"messages": [...]}');
      // An empty completion trains on the EOS alone, as in TRL.
      return { kind: 'prompt_completion', prompt: obj.prompt, completion: obj.completion, source };
    }
    default:
      return parseMessages(obj.messages, source, completionOnlyLoss);
  }
}

function parseMessages(value: unknown, source: Source, completionOnlyLoss: boolean): DataRecord | RecordProblem {
  const remedy = 'write "messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]';
  if (!Array.isArray(value)) return { what: `"messages" must be a list, got ${describe(value)}`, remedy };
  if (value.length === 0) return { what: '"messages" is empty', remedy };
  const messages: ChatMessage[] = [];
  for (const [i, m] of value.entries()) {
    if (m === null || typeof m !== 'object' || Array.isArray(m)) {
      return { what: `messages[${i}] must be an object, got ${describe(m)}`, remedy };
    }
    const { role, content } = m as { role?: unknown; content?: unknown };
    if (typeof role !== 'string' || role === '') return { what: `messages[${i}].role must be a non-empty string, got ${describe(role)}`, remedy };
    if (typeof content !== 'string') return { what: `messages[${i}].content must be a string, got ${describe(content)}`, remedy };
    messages.push({ ...(m as object), role, content });
  }
  if (completionOnlyLoss && !messages.some((m) => m.role === 'assistant')) {
    return {
      what: 'no assistant turn to train on (completion_only_loss is true)',
      remedy: 'add an {"role": "assistant"} message or set "completion_only_loss": false',
    };
  }
  return { kind: 'messages', messages, source };
}

function wrongType(field: string, value: unknown, hint?: string): RecordProblem {
  return { what: `"${field}" must be a string, got ${describe(value)}`, remedy: hint ? `make it a string (${hint})` : 'make it a string' };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
