/**
 * Eval results kept in a run folder: `<run>/evals/<set>.<adapter>.json`, where `<set>` is the
 * eval file's name without `.eval.jsonl` and `<adapter>` is `adapter` (the final adapter) or
 * `step-<n>` (a checkpoint). Written atomically (temp file + rename); a later evaluation of the
 * same set and adapter replaces the file.
 */
import { promises as fsp, existsSync } from 'node:fs';
import * as nodePath from 'node:path';
import { ADAPTER_DIR, CHECKPOINTS_DIR, RUN_FILE } from './run';

export const EVALS_DIR = 'evals';

/**
 * The run an adapter folder belongs to: `<run>/adapter` or `<run>/checkpoints/step-<n>` with a
 * `run.json` in `<run>`; null for any other folder (an imported adapter).
 */
export function runOfAdapter(adapterDir: string): { runDir: string; label: string } | null {
  const dir = nodePath.resolve(adapterDir);
  const name = nodePath.basename(dir);
  const parent = nodePath.dirname(dir);
  let runDir: string | null = null;
  if (name === ADAPTER_DIR) runDir = parent;
  else if (/^step-\d+$/.test(name) && nodePath.basename(parent) === CHECKPOINTS_DIR) runDir = nodePath.dirname(parent);
  return runDir && existsSync(nodePath.join(runDir, RUN_FILE)) ? { runDir, label: name } : null;
}

/** `<set>` of an eval file path: its base name without `.eval.jsonl` (or `.jsonl`). */
export function evalSetName(file: string): string {
  return nodePath.basename(file).replace(/(\.eval)?\.jsonl$/i, '');
}

/**
 * Writes `result` (any JSON value) as `<runDir>/evals/<set>.<label>.json`.
 * @returns the path written.
 */
export async function writeEvalResult(runDir: string, evalFile: string, label: string, result: unknown): Promise<string> {
  const dir = nodePath.join(runDir, EVALS_DIR);
  await fsp.mkdir(dir, { recursive: true });
  const path = nodePath.join(dir, `${evalSetName(evalFile)}.${label}.json`);
  const tmp = `${path}.tmp-${process.pid}`;
  await fsp.writeFile(tmp, `${JSON.stringify(result, null, 2)}\n`);
  await fsp.rename(tmp, path);
  return path;
}
