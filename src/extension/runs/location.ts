/** Where runs are written and read in the editor. Plain; no `vscode` import. */
import { homedir } from 'node:os';
import * as nodePath from 'node:path';
import { defaultRunsDir } from '../../runs/index';

/**
 * The runs dir of a workspace folder: `.loralab/runs` under it, or the `loralab.runsDir`
 * setting (absolute, `~/…`, or relative to the workspace folder) when that is not empty.
 */
export function runsDirFor(workspaceFolder: string, setting: string | undefined): string {
  const s = setting?.trim();
  if (!s) return defaultRunsDir(workspaceFolder);
  if (s === '~') return homedir();
  if (s.startsWith('~/') || s.startsWith('~\\')) return nodePath.resolve(homedir(), s.slice(2));
  return nodePath.resolve(workspaceFolder, s);
}

/** Whether `path` is `dir` itself or lies below it. */
export function isInside(path: string, dir: string): boolean {
  const rel = nodePath.relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !nodePath.isAbsolute(rel));
}

/** Paths compared as the file system does (case-insensitive on Windows and macOS by default). */
export function samePath(a: string, b: string, platform: NodeJS.Platform = process.platform): boolean {
  const norm = (p: string) => (platform === 'win32' || platform === 'darwin' ? nodePath.resolve(p).toLowerCase() : nodePath.resolve(p));
  return norm(a) === norm(b);
}
