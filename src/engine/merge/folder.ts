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
import { rmSync } from 'node:fs';
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
