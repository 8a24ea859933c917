/**
 * Paths in an experiment file are relative to the file's folder. `model` may also be a
 * Hugging Face Hub id; the rule that tells them apart lives here.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, resolve, win32 } from 'node:path';

/** `owner/name` as on the Hugging Face Hub (letters, digits, `.`, `_`, `-`). */
const HUB_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Whether a string is shaped like a Hub id (`owner/name`). Says nothing about a folder of that name. */
export function isHubId(value: string): boolean {
  return HUB_ID.test(value);
}

/** Whether a value is written as a path: `./`, `../`, `/`, `~`, or absolute (also `C:\` on Windows). */
export function looksLikePath(value: string): boolean {
  return (
    value === '.' ||
    value === '..' ||
    /^\.{1,2}[\\/]/.test(value) ||
    value.startsWith('~') ||
    isAbsolute(value) ||
    win32.isAbsolute(value)
  );
}

/** `~` and `~/x` expanded to the home folder, then resolved against `baseDir`. */
export function resolvePath(value: string, baseDir: string): string {
  if (value === '~') return homedir();
  if (value.startsWith('~/') || value.startsWith('~\\')) return resolve(homedir(), value.slice(2));
  return resolve(baseDir, value);
}

/**
 * Resolves a `model` value. It is a local path (returned absolute) if it starts with `./`,
 * `../`, `/` or `~`, or if it exists relative to `baseDir`; otherwise it is returned unchanged
 * when it matches `owner/name` (a Hub id, downloaded later); anything else is a local path.
 * So after parsing, `model` is absolute exactly when it names a local folder.
 */
export function resolveModel(value: string, baseDir: string): string {
  if (looksLikePath(value)) return resolvePath(value, baseDir);
  const local = resolve(baseDir, value);
  if (existsSync(local)) return local;
  return isHubId(value) ? value : local;
}
