/**
 * CLI conventions: a command's result (tables, `--json` documents, --help, --version) on stdout;
 * progress, warnings and errors on stderr, so `loralab runs | head` gets the table; one-line
 * errors; exit codes 0 success, 1 failure, 2 invalid input, 130 stopped by a signal.
 */
import { firstInvalidUtf8 } from '../engine/data/read';
import { EvalSetError } from '../engine/eval/eval-set';
import { ExperimentError } from '../experiment/index';
import { EXIT, InputError, isInputError } from '../trainer/exit';

export { EXIT, InputError, isInputError };

/**
 * A file's bytes as text, strictly: the first byte that is not well-formed UTF-8 is an
 * InputError `FILE:LINE: invalid UTF-8 at byte N` (N from the start of the file), as the
 * training data reader reports it (`firstInvalidUtf8`, one definition) — never U+FFFD.
 * A UTF-8 byte order mark is dropped.
 */
export function decodeUtf8Strict(bytes: Uint8Array, file: string): string {
  const at = firstInvalidUtf8(bytes, 0, bytes.length);
  if (at >= 0) {
    let line = 1;
    for (let i = 0; i < at; i++) if (bytes[i] === 0x0a) line++;
    throw new InputError(`${file}:${line}: invalid UTF-8 at byte ${at}; re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)`);
  }
  return new TextDecoder('utf-8').decode(bytes);
}

/** A size in bytes with binary units, as every command prints sizes: "512 bytes", "1.50 KiB", "3.25 MiB". */
export function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} bytes` : `${v.toFixed(2)} ${units[i]}`;
}

/** A count with its noun, singular for exactly 1: plural(1, 'layer') = "1 layer", plural(8, 'layer') = "8 layers"; `many` for irregular plurals. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** A command's human-readable result (a table, a listing) to stdout. */
export function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Progress, warnings and hints to stderr. */
export function info(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** One JSON document per line to stdout. */
export function emitJson(obj: unknown): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/**
 * Prints an error and returns the exit code to use. Errors are one line (the first line of the
 * message), except an experiment file's or an eval set's problems, which are listed one per line
 * (`file:line: /pointer: message`, `file:line: message`).
 */
export function reportError(e: unknown, json: boolean): number {
  const text = e instanceof Error ? e.message : String(e);
  const lines = e instanceof ExperimentError || e instanceof EvalSetError ? text.split('\n').filter(Boolean) : [text.split('\n')[0]];
  const code = isInputError(e) ? EXIT.invalidInput : EXIT.failed;
  if (json) emitJson({ event: 'error', message: lines.join('\n'), exit_code: code });
  for (const line of lines) process.stderr.write(`loralab: error: ${line}\n`);
  return code;
}
