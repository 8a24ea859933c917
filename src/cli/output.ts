/**
 * CLI conventions: a command's result (tables, `--json` documents, --help, --version) on stdout;
 * progress, warnings and errors on stderr, so `loralab runs | head` gets the table; one-line
 * errors; exit codes 0 success, 1 failure, 2 invalid input, 130 stopped by a signal.
 */
import { ModelError } from '../engine/models/types';
import { WeightsError } from '../engine/weights/errors';
import { LoraError } from '../engine/lora/index';
import { TokenizerError } from '../engine/tokenizer/index';
import { DataError } from '../engine/data/index';
import { ExperimentError } from '../experiment/index';
import { RunError } from '../runs/index';

export const EXIT = { ok: 0, failed: 1, invalidInput: 2, signal: 130 } as const;

/** Bad input from the user (arguments, files): exit code 2. */
export class InputError extends Error {}

/** Whether an error is about the user's input (files, arguments) rather than a failure. */
export function isInputError(e: unknown): boolean {
  return e instanceof InputError || e instanceof ModelError || e instanceof WeightsError || e instanceof LoraError ||
    e instanceof TokenizerError || e instanceof DataError || e instanceof ExperimentError || e instanceof RunError ||
    (e instanceof Error && e.name === 'TrainSetupError');
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
 * message), except an experiment file's problems, which are listed one per line
 * (`file:line: /pointer: message`).
 */
export function reportError(e: unknown, json: boolean): number {
  const text = e instanceof Error ? e.message : String(e);
  const lines = e instanceof ExperimentError ? text.split('\n').filter(Boolean) : [text.split('\n')[0]];
  const code = isInputError(e) ? EXIT.invalidInput : EXIT.failed;
  if (json) emitJson({ event: 'error', message: lines.join('\n'), exit_code: code });
  for (const line of lines) process.stderr.write(`loralab: error: ${line}\n`);
  return code;
}
