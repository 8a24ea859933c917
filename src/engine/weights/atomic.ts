/**
 * Atomic file writes: write `<path>.tmp-<pid>-<random>` in the same folder, fsync it, rename it
 * over `path`, then fsync the folder (best effort). A crash or error at any point leaves either
 * the old file or the new one, never a torn file; the temp file is removed on failure.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';

/** Largest single write (fs writes are capped at 2 GiB - 1 per call). */
const MAX_IO = 1 << 30;

/** Writes all of `bytes` at the handle's current position, in ≤ 1 GiB pieces. */
export async function writeAll(fh: fsp.FileHandle, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.byteLength) {
    const len = Math.min(MAX_IO, bytes.byteLength - off);
    const { bytesWritten } = await fh.write(bytes, off, len);
    if (bytesWritten <= 0) throw new Error('write returned 0 bytes');
    off += bytesWritten;
  }
}

/**
 * Creates `path` atomically: `fill` writes the content through the given handle (sequential
 * writes from position 0), then the file is fsynced and renamed into place. Errors propagate
 * unchanged after the temp file is removed.
 */
export async function writeFileAtomic(path: string, fill: (fh: fsp.FileHandle) => Promise<void>): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(tmp, 'wx');
    await fill(fh);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await fsp.rename(tmp, path);
  } catch (err) {
    if (fh) await fh.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  await syncDir(nodePath.dirname(path));
}

/** Writes a string or bytes to `path` atomically (see `writeFileAtomic`). */
export async function writeBytesAtomic(path: string, content: string | Uint8Array): Promise<void> {
  const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  await writeFileAtomic(path, (fh) => writeAll(fh, bytes));
}

/** fsyncs a folder so a rename inside it survives a power loss; ignored where unsupported (Windows). */
export async function syncDir(dir: string): Promise<void> {
  let dh: fsp.FileHandle | undefined;
  try {
    dh = await fsp.open(dir, 'r');
    await dh.sync();
  } catch {
    // not supported on this platform / file system: the rename itself is still atomic
  } finally {
    await dh?.close().catch(() => undefined);
  }
}
