/**
 * Reading a data file into records: `.jsonl` (one JSON record per line, blank lines ignored)
 * or `.txt` (documents separated by one or more blank lines).
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { describeJsonError } from '../weights/errors';
import { DataError, errorMessage, isNotFound } from './errors';
import { BadRecords, parseRecord, type DataRecord, type SkippedRecord } from './records';
import { YIELD_MS, yieldToEventLoop } from './yield';

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
  const bytes = await readBytes(file);
  const bad = new BadRecords(opts.skipBadRecords);
  const lines = decodeLines(bytes, file, bad);
  const records = ext === '.txt' ? textDocuments(lines, file) : await jsonlRecords(lines, file, opts.completionOnlyLoss, bad);
  if (records.length === 0) {
    const why = bad.skipped.length > 0 ? `all ${bad.skipped.length} records are bad (first: line ${bad.skipped[0].line}: ${bad.skipped[0].reason})` : 'it is empty';
    throw new DataError(`${file}: no usable record, ${why}; point the experiment at a file with training data`, { file });
  }
  return { records, skipped: bad.skipped };
}

async function readBytes(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (e) {
    if (isNotFound(e)) throw new DataError(`${file}: file not found; check the path in the experiment's "data" block (relative paths resolve against the experiment file)`, { file }, e);
    if ((e as { code?: unknown }).code === 'EISDIR') throw new DataError(`${file}: is a folder, not a data file; point at a .jsonl or .txt file`, { file }, e);
    throw new DataError(`${file}: cannot be read (${errorMessage(e)}); check the file's permissions`, { file }, e);
  }
}

/** Bad lines listed in one error when a file is not UTF-8. */
const MAX_LISTED = 10;

/**
 * The file's lines (split at "\n"), decoded as strict UTF-8 (a BOM at the start dropped). A line
 * with invalid bytes is `null` after it is reported: in `skip_bad_records` mode as a skipped
 * record `invalid UTF-8 at byte N`, else as one DataError `file:line: invalid UTF-8 at byte N`
 * listing up to 10 such lines. N is the 0-based offset in the file (as `xxd` / `hexdump` show).
 */
function decodeLines(bytes: Buffer, file: string, bad: BadRecords): (string | null)[] {
  const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
  try {
    return strict.decode(bytes).split('\n');
  } catch {
    // Not valid UTF-8 somewhere: find the lines. "\n" (0x0A) is never part of a multi-byte sequence.
  }
  const lines: (string | null)[] = [];
  const invalid: { line: number; offset: number }[] = [];
  let start = 0;
  for (let n = 1; start <= bytes.length; n++) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    const offset = firstInvalidUtf8(bytes, start, end);
    if (offset < 0) {
      lines.push(new TextDecoder('utf-8', { fatal: true, ignoreBOM: n !== 1 }).decode(bytes.subarray(start, end)));
    } else {
      lines.push(null);
      invalid.push({ line: n, offset });
    }
    start = end + 1;
  }
  const remedy = 're-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)';
  if (!bad.skip) {
    const [first, ...more] = invalid;
    const also = more.slice(0, MAX_LISTED - 1).map((b) => `${b.line} (byte ${b.offset})`);
    const rest = more.length > also.length ? `, and ${more.length - also.length} more` : '';
    const list = also.length ? ` (also lines ${also.join(', ')}${rest})` : '';
    bad.report({ file, line: first.line }, { what: `invalid UTF-8 at byte ${first.offset}${list}`, remedy });
  }
  for (const b of invalid) bad.report({ file, line: b.line }, { what: `invalid UTF-8 at byte ${b.offset}`, remedy });
  return lines;
}

/**
 * Offset of the first byte of `bytes[start, end)` that is not part of a well-formed UTF-8
 * sequence (Unicode 15, table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF),
 * or -1 when the range is valid.
 */
export function firstInvalidUtf8(bytes: Uint8Array, start: number, end: number): number {
  let i = start;
  while (i < end) {
    const b = bytes[i];
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b < 0x80) { i++; continue; }
    if (b >= 0xc2 && b <= 0xdf) n = 1;
    else if (b >= 0xe0 && b <= 0xef) { n = 2; if (b === 0xe0) lo = 0xa0; if (b === 0xed) hi = 0x9f; }
    else if (b >= 0xf0 && b <= 0xf4) { n = 3; if (b === 0xf0) lo = 0x90; if (b === 0xf4) hi = 0x8f; }
    else return i;
    for (let k = 1; k <= n; k++) {
      const c = i + k < end ? bytes[i + k] : -1;
      if (c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) return i;
    }
    i += n + 1;
  }
  return -1;
}

async function jsonlRecords(lines: (string | null)[], file: string, completionOnlyLoss: boolean, bad: BadRecords): Promise<DataRecord[]> {
  const records: DataRecord[] = [];
  let lastYield = performance.now();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === null || line.trim() === '') continue;
    if (performance.now() - lastYield > YIELD_MS) {
      await yieldToEventLoop(); // a file of big records: stay responsive to signals
      lastYield = performance.now();
    }
    const source = { file, line: i + 1 };
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      // The record's own column: the parser counts lines within the one line it was given.
      bad.report(source, { what: `invalid JSON (${errorMessage(describeJsonError(line, e).replace(/^line 1 /, ''))})`, remedy: 'write one JSON object per line' }, e);
      continue;
    }
    const parsed = parseRecord(value, source, completionOnlyLoss);
    if ('kind' in parsed) records.push(parsed);
    else bad.report(source, parsed);
  }
  return records;
}

/** `.txt` documents; a document with a line that is not UTF-8 (`null`, already reported) is left out. */
function textDocuments(lines: (string | null)[], file: string): DataRecord[] {
  const records: DataRecord[] = [];
  let start = -1;
  const flush = (end: number) => {
    if (start < 0) return;
    const doc = lines.slice(start, end);
    if (doc.every((l) => l !== null)) {
      const text = doc.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)).join('\n');
      records.push({ kind: 'text', text, source: { file, line: start + 1 } });
    }
    start = -1;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line !== null && line.trim() === '') flush(i);
    else if (start < 0) start = i;
  }
  flush(lines.length);
  return records;
}
