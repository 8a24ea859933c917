/**
 * Writing a whole output folder (a merged adapter, a merged model) so that it appears complete
 * or not at all: everything goes into a hidden sibling `.<name>.partial-<pid>` first, which is
 * renamed to `<name>` only when every file is written (a rename within one folder is atomic on
 * POSIX and NTFS). An error removes the partial folder; a process killed by a signal that the
 * CLI handles removes it too (`removePartialFoldersSync`); a process killed outright (SIGKILL,
 * Windows' TerminateProcess) leaves only the hidden partial folder, which the parent can remove
 * by its name (`partialFolderPath` with the child's pid) and the next write of the same folder
 * by the same pid replaces.
 */
import { realpathSync, rmSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { syncDir } from '../weights/atomic';
import { MergeError } from './errors';

/** Partial folders this process is writing now. */
const active = new Set<string>();

/** The hidden sibling a process with `pid` writes `out` into: `<parent>/.<name>.partial-<pid>`. */
export function partialFolderPath(out: string, pid: number = process.pid): string {
  const abs = nodePath.resolve(out);
  return nodePath.join(nodePath.dirname(abs), `.${nodePath.basename(abs)}.partial-${pid}`);
}

/**
 * Creates the folder `out` with what `fill(dir)` writes into `dir` (the partial folder; parents
 * of `out` are created). `out` may be missing or an empty folder.
 * @throws MergeError when `out` is a file or a folder that is not empty (nothing is written)
 * @throws whatever `fill` throws, after the partial folder is removed
 */
export async function writeFolderAtomically<T>(out: string, fill: (dir: string) => Promise<T>): Promise<T> {
  const target = nodePath.resolve(out);
  let emptyExisting = false;
  try {
    const entries = await fsp.readdir(target);
    if (entries.length) throw new MergeError(`${out} already exists and is not empty; choose a new folder (nothing was written)`);
    emptyExisting = true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw new MergeError(`${out} is a file; choose a new folder (nothing was written)`);
    if (code !== 'ENOENT') throw e;
  }
  const tmp = partialFolderPath(target);
  await fsp.rm(tmp, { recursive: true, force: true }); // left by an earlier process with this pid
  await fsp.mkdir(tmp, { recursive: true });
  active.add(tmp);
  try {
    const res = await fill(tmp);
    if (emptyExisting) await fsp.rmdir(target).catch(() => undefined);
    await fsp.rename(tmp, target);
    await syncDir(nodePath.dirname(target));
    return res;
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw e;
  } finally {
    active.delete(tmp);
  }
}

/** `p` made absolute, with symlinks of its longest existing prefix resolved (the rest kept as written). */
function realish(p: string): string {
  const abs = nodePath.resolve(p);
  try {
    return realpathSync(abs);
  } catch {
    const parent = nodePath.dirname(abs);
    return parent === abs ? abs : nodePath.join(realish(parent), nodePath.basename(abs));
  }
}

/**
 * Refuses an output folder that is one of the inputs or lies inside one (writing there would
 * replace or pollute what is being read), before any computation.
 * @param inputs each input folder with what it is ("input adapter", "model folder")
 * @throws MergeError `--out OUT is the input adapter DIR itself` / `… is inside the model folder DIR`
 */
export function assertOutsideInputs(out: string, inputs: readonly { dir: string; what: string }[]): void {
  const o = realish(out);
  for (const { dir, what } of inputs) {
    const d = realish(dir);
    if (o === d) throw new MergeError(`--out ${out} is the ${what} ${dir} itself; write the result to a new folder`);
    if (o.startsWith(d + nodePath.sep)) throw new MergeError(`--out ${out} is inside the ${what} ${dir}; write the result to a new folder outside it`);
  }
}

/** Whether two paths name one existing folder (symlinks resolved); false when either is missing. */
export function sameFolder(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

/** Removes every partial folder this process is writing (synchronous: for a SIGINT/SIGTERM handler that exits next). */
export function removePartialFoldersSync(): void {
  for (const dir of active) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort: the process is exiting
    }
  }
  active.clear();
}
