/**
 * Exit codes and the input-error test shared by the trainer process (`main.ts`) and the CLI
 * (`cli/output.ts` re-exports them): 0 success, 1 failure, 2 invalid input, 130 stopped by a
 * signal (DESIGN.md, CLI conventions). Defined here, below the CLI, so the trainer never
 * imports from `cli/`.
 */
import { ModelError } from '../engine/models/types';
import { WeightsError } from '../engine/weights/errors';
import { LoraError } from '../engine/lora/index';
import { TokenizerError } from '../engine/tokenizer/index';
import { DataError } from '../engine/data/index';
import { EvalSetError } from '../engine/eval/eval-set';
import { ExperimentError } from '../experiment/index';
import { RunError } from '../runs/index';

export const EXIT = { ok: 0, failed: 1, invalidInput: 2, signal: 130 } as const;

/** Bad input from the user (arguments, files): exit code 2. */
export class InputError extends Error {}

/** Whether an error is about the user's input (files, arguments) rather than a failure. */
export function isInputError(e: unknown): boolean {
  return e instanceof InputError || e instanceof ModelError || e instanceof WeightsError || e instanceof LoraError ||
    e instanceof TokenizerError || e instanceof DataError || e instanceof ExperimentError || e instanceof RunError || e instanceof EvalSetError ||
    (e instanceof Error && e.name === 'TrainSetupError');
}
