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

/** What a file-system error code means for a writer, and what to do about it. */
const WRITE_PROBLEMS: Record<string, string> = {
  ENOSPC: 'no space left on device; free disk space (or move the runs folder to a larger disk with --runs-dir / loralab.runsDir)',
  EDQUOT: 'disk quota exceeded; free space within your quota or ask for a larger one',
  EROFS: 'the file system is read-only; use a writable runs folder (--runs-dir / loralab.runsDir)',
  EACCES: 'permission denied; make the run folder writable for this user',
  EPERM: 'operation not permitted; make the run folder writable for this user',
  EIO: 'input/output error from the disk; check the disk, then try again',
};

/**
 * A one-line `RunError` for a failed write of `path` (`what` names it, e.g. "checkpoint step 4"),
 * or null when `e` is not one of the file-system errors a user can fix (ENOSPC, EDQUOT, EROFS,
 * EACCES, EPERM, EIO; Node's `code` on system errors). Node's own message ("ENOSPC: no space
 * left on device, write") names no file, so the writer that knows the path wraps it.
 */
export function writeProblem(e: unknown, path: string, what: string): RunError | null {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (e instanceof RunError || !code || !(code in WRITE_PROBLEMS)) return null;
  const err = new RunError(path, `${path}: writing ${what} failed: ${WRITE_PROBLEMS[code]}`, { cause: e });
  (err as RunError & { code: string }).code = code;
  return err;
}

/** Runs `write`, turning a fixable file-system error into `writeProblem`'s RunError naming `path`. */
export async function namedWrite<T>(path: string, what: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (e) {
    throw writeProblem(e, path, what) ?? e;
  }
}
