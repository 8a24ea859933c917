/**
 * CLI conventions: human output and progress on stderr, `--json` results on stdout, one-line
 * errors; exit codes 0 success, 1 failure, 2 invalid input, 130 stopped by a signal.
 */
import { ModelError } from '../engine/models/types';
import { WeightsError } from '../engine/weights/errors';
import { LoraError } from '../engine/lora/index';
import { TokenizerError } from '../engine/tokenizer/index';

export const EXIT = { ok: 0, failed: 1, invalidInput: 2, signal: 130 } as const;

/** Bad input from the user (arguments, files): exit code 2. */
export class InputError extends Error {}

/** Whether an error is about the user's input (files, arguments) rather than a failure. */
export function isInputError(e: unknown): boolean {
  return e instanceof InputError || e instanceof ModelError || e instanceof WeightsError || e instanceof LoraError || e instanceof TokenizerError;
}

/** Human text to stderr. */
export function info(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** One JSON document per line to stdout. */
export function emitJson(obj: unknown): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/** Prints a one-line error (first line of the message only) and returns the exit code to use. */
export function reportError(e: unknown, json: boolean): number {
  const message = (e instanceof Error ? e.message : String(e)).split('\n')[0];
  const code = isInputError(e) ? EXIT.invalidInput : EXIT.failed;
  if (json) emitJson({ event: 'error', message, exit_code: code });
  process.stderr.write(`loralab: error: ${message}\n`);
  return code;
}
