/**
 * The one error type of the tokenizer module.
 *
 * Messages are one line: the file (or folder) concerned, what is wrong with it, and what the
 * user can do about it, e.g.
 * `tokenizer.json not found in /models/x: ...; download the model's tokenizer.json ...`.
 */
export class TokenizerError extends Error {
  override readonly name = 'TokenizerError';
  /** The file or folder the error is about, when there is one. */
  readonly file?: string;

  /**
   * @param message one-line message naming the file, the problem and the remedy
   * @param file the file or folder concerned, if any (also kept as `error.file`)
   * @param cause the underlying error (JSON syntax error, jinja error, ...), if any
   */
  constructor(message: string, file?: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.file = file;
  }
}

/** The message of an unknown thrown value, on one line. */
export function errorMessage(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/\s*\n\s*/g, ' ').trim();
}
