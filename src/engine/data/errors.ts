/**
 * The one error type of the data module.
 *
 * Messages are one line: where (`file:line` for a record, `file` for a whole file), what is
 * wrong, and what to do, e.g.
 * `data/train.jsonl:7: invalid JSON (Unexpected end of JSON input); fix the line or set "skip_bad_records": true`.
 */
export class DataError extends Error {
  override readonly name = 'DataError';
  /** The file the error is about, when there is one. */
  readonly file?: string;
  /** The 1-based line of the record, when the error is about one record. */
  readonly line?: number;

  /**
   * @param message one-line message: location, problem and remedy
   * @param where the file (and line) concerned, also kept as `error.file` / `error.line`
   * @param cause the underlying error, if any
   */
  constructor(message: string, where: { file?: string; line?: number } = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.file = where.file;
    this.line = where.line;
  }
}

/** The message of an unknown thrown value, on one line. */
export function errorMessage(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/\s*\n\s*/g, ' ').trim();
}

/** Whether a thrown value is Node's "no such file" error. */
export function isNotFound(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
