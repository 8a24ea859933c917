/**
 * The one error type of the `weights/` module.
 *
 * Every message is a single line that names the file or folder, says what is wrong and what
 * to do, e.g. `model.safetensors: header length 9999999 exceeds file size 1234; the file is
 * truncated or not safetensors — re-download it`. Callers (CLI, trainer, extension) can show
 * `message` as-is.
 */
export class WeightsError extends Error {
  /** The file or folder the error is about. */
  readonly path: string;

  constructor(path: string, message: string, options?: { cause?: unknown }) {
    // Collapse any newline (from a nested parser message or an odd tensor name) so the
    // message stays one line.
    super(message.replace(/\s*[\r\n]+\s*/g, ' '), options);
    this.name = 'WeightsError';
    this.path = path;
  }
}

/**
 * Turns a `JSON.parse` failure into "line L column C: <reason>" where the position can be
 * recovered from the message (V8 reports "at position N", newer versions also "(line L column C)").
 */
export function describeJsonError(text: string, err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const lc = /\(line (\d+) column (\d+)\)/.exec(msg);
  const reason = msg.replace(/\s*\(line \d+ column \d+\)/, '').replace(/ in JSON at position \d+/, '');
  if (lc) return `line ${lc[1]} column ${lc[2]}: ${reason}`;
  const pos = /at position (\d+)/.exec(msg);
  if (pos) {
    const p = Math.min(Number(pos[1]), text.length);
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < p; i++) {
      if (text.charCodeAt(i) === 10) {
        line++;
        lineStart = i + 1;
      }
    }
    return `line ${line} column ${p - lineStart + 1}: ${reason}`;
  }
  return reason;
}

/** What a Git LFS pointer file starts with (Git LFS spec, docs/spec.md: "version https://git-lfs.github.com/spec/v1"). */
const LFS_POINTER_START = Buffer.from('version https://git-lfs', 'latin1');

/**
 * The error for a file that is a Git LFS pointer — the ~130-byte text stub a `git clone` of a
 * Hub repository leaves when Git LFS is not installed — or undefined when `head` (the first
 * bytes of the file, up to 1 KB) does not start like one. The pointer's `size N` line gives
 * the real file's size in bytes.
 */
export function gitLfsPointerError(path: string, head: Uint8Array, fileSize: number): WeightsError | undefined {
  const start = Buffer.from(head.buffer, head.byteOffset, Math.min(head.byteLength, LFS_POINTER_START.length));
  if (!start.equals(LFS_POINTER_START)) return undefined;
  const real = /\nsize (\d+)/.exec(Buffer.from(head.buffer, head.byteOffset, head.byteLength).toString('latin1'))?.[1];
  const of = real ? ` for a ${real}-byte file` : '';
  return new WeightsError(path, `${path}: is a Git LFS pointer (${fileSize} bytes)${of}, not the file itself; run "git lfs install && git lfs pull" in the repository, or download the file from the Hub`);
}
