/**
 * Reading a data file into records: `.jsonl` (one JSON record per line, blank lines ignored)
 * or `.txt` (documents separated by one or more blank lines).
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { DataError, errorMessage, isNotFound } from './errors';
import { BadRecords, parseRecord, type DataRecord, type SkippedRecord } from './records';

/** Options of {@link readRecords}. */
export interface ReadOptions {
  /** A `messages` record must have an assistant turn (there would be nothing to train on). */
  completionOnlyLoss: boolean;
  /** Skip bad records (reported in `skipped`) instead of failing on the first one. */
  skipBadRecords: boolean;
}

/** File extensions `readRecords` understands. */
export const DATA_EXTENSIONS = ['.jsonl', '.txt'] as const;

/**
 * Reads every record of a data file, in file order.
 *
 * - `.jsonl`: each non-blank line is one JSON record (`{"text"}`, `{"prompt","completion"}` or
 *   `{"messages"}`, see `records.ts`); lines holding only whitespace are ignored. A UTF-8 BOM at
 *   the start is ignored.
 * - `.txt`: a document is a run of non-blank lines; one or more blank (empty or whitespace-only)
 *   lines separate documents. Each document becomes a `text` record whose lines are joined with
 *   "\n" and whose `line` is its first line. This is how HF `datasets`' "text" builder reads
 *   with `sample_by="paragraph"`.
 *
 * @returns the records and, in skip mode, the records left out
 * @throws DataError `file:line: what; what to do` for the first bad record (invalid JSON, unknown
 *   shape, wrong types, empty text or completion, messages without an assistant turn when
 *   `completionOnlyLoss`) unless `skipBadRecords`; DataError naming the file when it does not
 *   exist or cannot be read, has an extension other than `.jsonl` / `.txt`, or holds no usable record.
 */
export async function readRecords(file: string, opts: ReadOptions): Promise<{ records: DataRecord[]; skipped: SkippedRecord[] }> {
  const ext = extname(file).toLowerCase();
  if (!(DATA_EXTENSIONS as readonly string[]).includes(ext)) {
    throw new DataError(`${file}: unsupported file type "${ext || '(no extension)'}"; use a .jsonl file of {"text"}, {"prompt","completion"} or {"messages"} records, or a .txt file`, { file });
  }
  const text = await readText(file);
  const bad = new BadRecords(opts.skipBadRecords);
  const records = ext === '.txt' ? textDocuments(text, file) : jsonlRecords(text, file, opts.completionOnlyLoss, bad);
  if (records.length === 0) {
    const why = bad.skipped.length > 0 ? `all ${bad.skipped.length} records are bad (first: line ${bad.skipped[0].line}: ${bad.skipped[0].reason})` : 'it is empty';
    throw new DataError(`${file}: no usable record, ${why}; point the experiment at a file with training data`, { file });
  }
  return { records, skipped: bad.skipped };
}

async function readText(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if (isNotFound(e)) throw new DataError(`${file}: file not found; check the path in the experiment's "data" block (relative paths resolve against the experiment file)`, { file }, e);
    if ((e as { code?: unknown }).code === 'EISDIR') throw new DataError(`${file}: is a folder, not a data file; point at a .jsonl or .txt file`, { file }, e);
    throw new DataError(`${file}: cannot be read (${errorMessage(e)}); check the file's permissions`, { file }, e);
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function jsonlRecords(text: string, file: string, completionOnlyLoss: boolean, bad: BadRecords): DataRecord[] {
  const records: DataRecord[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') continue;
    const source = { file, line: i + 1 };
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      bad.report(source, { what: `invalid JSON (${errorMessage(e)})`, remedy: 'write one JSON object per line' }, e);
      continue;
    }
    const parsed = parseRecord(value, source, completionOnlyLoss);
    if ('kind' in parsed) records.push(parsed);
    else bad.report(source, parsed);
  }
  return records;
}

function textDocuments(text: string, file: string): DataRecord[] {
  const records: DataRecord[] = [];
  const lines = text.split('\n');
  let start = -1;
  const flush = (end: number) => {
    if (start < 0) return;
    const doc = lines.slice(start, end).map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)).join('\n');
    records.push({ kind: 'text', text: doc, source: { file, line: start + 1 } });
    start = -1;
  };
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === '') flush(i);
    else if (start < 0) start = i;
  }
  flush(lines.length);
  return records;
}
