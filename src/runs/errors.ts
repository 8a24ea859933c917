/**
 * The one error type of the run store. Messages are single lines that name the folder or file,
 * say what is wrong and what to do, so callers (CLI, trainer, extension) can show them as-is.
 */
export class RunError extends Error {
  /** The run folder or file the error is about. */
  readonly path: string;

  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super(message.replace(/\s*[\r\n]+\s*/g, ' '), options);
    this.name = 'RunError';
    this.path = path;
  }
}
