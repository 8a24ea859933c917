/**
 * Atomic folders: checkpoints (`checkpoints/step-<n>/`) and the final `adapter/`.
 *
 * A folder is filled under a temporary name in the same parent, every file and folder in it is
 * fsynced, and only then is it renamed to its final name, so a reader (or a process restarted
 * after a kill or a power loss) sees either no folder or a complete one. Checkpoints also carry
 * a completion marker, `checkpoint.json`, written last inside the temporary folder; readers list
 * only `step-<n>` folders that contain it. Leftover temporary folders (`.tmp-*`, `.old-*`) of
 * dead writers are ignored by readers and removed by the next write in the same parent.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { writeAll } from '../engine/weights/atomic';
import { RunError } from './errors';
import { errnoCode, isProcessAlive, serialize, syncDir, syncTree } from './fsutil';
import type { CheckpointInfo } from './types';

export const CHECKPOINT_MARKER = 'checkpoint.json';
const STEP_DIR = /^step-(\d+)$/;
/** `.tmp-step-<n>-<pid>`: a checkpoint being written. */
const TMP_STEP = /^\.tmp-(step-\d+)-(\d+)$/;
/** `.tmp-<name>-<pid>-r<hex>` / `.old-<name>-<pid>-r<hex>`: a folder being written / replaced. */
const TMP_OR_OLD = /^\.(?:tmp|old)-(.+)-(\d+)-r[0-9a-f]{8}$/;
const rand = () => `r${randomBytes(4).toString('hex')}`;

/** Removes leftover temporary folders in `parent` whose writer is gone (or is this process: its writes there are serialised, so none is in flight). */
async function cleanLeftovers(parent: string, owns: (name: string) => boolean): Promise<void> {
  let names: string[];
  try {
    names = await fsp.readdir(parent);
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return;
    throw e;
  }
  for (const n of names) {
    const m = TMP_STEP.exec(n) ?? TMP_OR_OLD.exec(n);
    if (!m || !owns(m[1])) continue;
    const pid = Number(m[2]);
    if (pid !== process.pid && isProcessAlive(pid)) continue;
    await fsp.rm(nodePath.join(parent, n), { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * Renames the complete, fsynced `tmp` to `finalDir`. An existing `finalDir` is first renamed
 * aside (`.old-<name>-<pid>-r<hex>`), then removed after the new folder is in place.
 */
async function publish(tmp: string, finalDir: string): Promise<void> {
  const parent = nodePath.dirname(finalDir);
  let aside: string | undefined;
  try {
    await fsp.rename(tmp, finalDir);
  } catch (e) {
    const code = errnoCode(e);
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'EPERM' && code !== 'EISDIR') throw e;
    aside = nodePath.join(parent, `.old-${nodePath.basename(finalDir)}-${process.pid}-${rand()}`);
    await fsp.rename(finalDir, aside);
    await fsp.rename(tmp, finalDir);
  }
  await syncDir(parent);
  if (aside) await fsp.rm(aside, { recursive: true, force: true });
}

async function fillAndPublish(tmp: string, finalDir: string, fill: (tmpDir: string) => Promise<void>, finish?: (tmpDir: string) => Promise<void>): Promise<string> {
  await fsp.rm(tmp, { recursive: true, force: true });
  await fsp.mkdir(tmp);
  try {
    await fill(tmp);
    await syncTree(tmp);
    if (finish) {
      await finish(tmp);
      await syncDir(tmp);
    }
    await publish(tmp, finalDir);
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw e;
  }
  return finalDir;
}

/**
 * Writes a whole folder atomically: `fill` writes files (and subfolders) into an empty temporary
 * folder beside `finalDir`; all of it is fsynced, then renamed to `finalDir`, replacing an
 * existing folder (renamed aside first, removed after). If `fill` throws, the temporary folder is
 * removed, `finalDir` is untouched and the error propagates. A kill at any moment leaves the old
 * folder or the new one in place (or, only between the two renames of a replacement, neither:
 * the old one then waits aside as `.old-*`). Returns `finalDir` (absolute).
 */
export async function writeDirAtomic(finalDir: string, fill: (tmpDir: string) => Promise<void>): Promise<string> {
  const dir = nodePath.resolve(finalDir);
  const parent = nodePath.dirname(dir);
  const name = nodePath.basename(dir);
  await fsp.mkdir(parent, { recursive: true });
  return serialize(`dir:${parent}`, async () => {
    await cleanLeftovers(parent, (n) => n === name);
    const tmp = nodePath.join(parent, `.tmp-${name}-${process.pid}-${rand()}`);
    return fillAndPublish(tmp, dir, fill);
  });
}

/**
 * Writes `<runDir>/checkpoints/step-<step>/` atomically. `fill` writes the checkpoint files
 * into `checkpoints/.tmp-step-<step>-<pid>/` (it must not write `checkpoint.json`); then every file
 * and folder is fsynced, the completion marker `checkpoint.json` ({ step, created_at, files:
 * { relative path: bytes } }) is written and fsynced last, and the folder is renamed to
 * `step-<step>` (an existing one is renamed aside first, then removed). So a `step-<n>` folder
 * never lacks files, and a killed writer leaves the previous checkpoints intact. If `fill`
 * throws, nothing is published and the error propagates. Stale temporary folders of dead
 * writers are removed first. Throws `RangeError` for a step that is not a non-negative integer
 * and `RunError` when `fill` wrote `checkpoint.json`. Returns the checkpoint folder.
 */
export async function writeCheckpointAtomic(runDir: string, step: number, fill: (tmpDir: string) => Promise<void>): Promise<string> {
  if (!Number.isInteger(step) || step < 0) throw new RangeError(`checkpoint step ${step} is not a non-negative integer`);
  const ckDir = nodePath.join(nodePath.resolve(runDir), 'checkpoints');
  await fsp.mkdir(ckDir, { recursive: true });
  return serialize(`dir:${ckDir}`, async () => {
    await cleanLeftovers(ckDir, (n) => STEP_DIR.test(n));
    const tmp = nodePath.join(ckDir, `.tmp-step-${step}-${process.pid}`);
    const finalDir = nodePath.join(ckDir, `step-${step}`);
    return fillAndPublish(tmp, finalDir, fill, async (t) => {
      const files = await listFiles(t);
      if (CHECKPOINT_MARKER in files) throw new RunError(finalDir, `${finalDir}: the checkpoint writer must not create ${CHECKPOINT_MARKER} (it is the completion marker)`);
      const marker = `${JSON.stringify({ step, created_at: new Date().toISOString(), files }, null, 2)}\n`;
      const fh = await fsp.open(nodePath.join(t, CHECKPOINT_MARKER), 'wx');
      try {
        await writeAll(fh, Buffer.from(marker, 'utf8'));
        await fh.sync();
      } finally {
        await fh.close();
      }
    });
  });
}

/** Relative paths (with '/') and sizes of the files below `dir`. */
async function listFiles(dir: string, rel = ''): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const e of await fsp.readdir(nodePath.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) Object.assign(out, await listFiles(dir, r));
    else if (e.isFile()) out[r] = (await fsp.stat(nodePath.join(dir, r))).size;
  }
  return out;
}

/**
 * The complete checkpoints of a run, sorted by step: `checkpoints/step-<n>` folders that contain
 * `checkpoint.json`. Temporary and incomplete folders are ignored; a run without checkpoints
 * gives []. Never modifies anything.
 */
export async function listCheckpoints(runDir: string): Promise<CheckpointInfo[]> {
  const ckDir = nodePath.join(nodePath.resolve(runDir), 'checkpoints');
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fsp.readdir(ckDir, { withFileTypes: true });
  } catch (e) {
    if (errnoCode(e) === 'ENOENT' || errnoCode(e) === 'ENOTDIR') return [];
    throw e;
  }
  const found: CheckpointInfo[] = [];
  for (const e of entries) {
    const m = STEP_DIR.exec(e.name);
    if (!m || !e.isDirectory()) continue;
    const dir = nodePath.join(ckDir, e.name);
    try {
      if ((await fsp.stat(nodePath.join(dir, CHECKPOINT_MARKER))).isFile()) found.push({ step: Number(m[1]), dir });
    } catch {
      // no marker: incomplete (not written by writeCheckpointAtomic)
    }
  }
  return found.sort((a, b) => a.step - b.step);
}

/** The complete checkpoint with the highest step, or null when there is none. */
export async function latestCheckpoint(runDir: string): Promise<CheckpointInfo | null> {
  const all = await listCheckpoints(runDir);
  return all.length ? all[all.length - 1] : null;
}
