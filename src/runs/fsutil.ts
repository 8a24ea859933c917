/**
 * File-system helpers of the run store: per-path serialisation inside one process, appends that
 * repair a torn last line, recursive fsync, and process liveness.
 */
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { writeAll } from '../engine/weights/atomic';
import { syncDir } from '../engine/weights/atomic';

const queues = new Map<string, Promise<unknown>>();

/**
 * Runs `fn` after every earlier call with the same `key` (an absolute path) has settled, so
 * read-modify-write sequences of one process never interleave. Other processes are not locked
 * out: a run has one writer (its trainer) by design.
 */
export function serialize<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = queues.get(key) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  const tail = next.then(
    () => undefined,
    () => undefined,
  );
  queues.set(key, tail);
  void tail.then(() => {
    if (queues.get(key) === tail) queues.delete(key);
  });
  return next;
}

/**
 * Appends `text` (which must end with '\n') to `path`, creating the file. If the file ends with a
 * torn line (no trailing newline, e.g. after a crash), that line is terminated first so `text`
 * starts on a line of its own. One `write` call in append mode, serialised per path in this
 * process.
 */
export function appendLines(path: string, text: string): Promise<void> {
  return serialize(nodePath.resolve(path), async () => {
    const fh = await fsp.open(path, 'a+');
    try {
      const { size } = await fh.stat();
      let prefix = '';
      if (size > 0) {
        const last = Buffer.alloc(1);
        await fh.read(last, 0, 1, size - 1);
        if (last[0] !== 0x0a) prefix = '\n';
      }
      await writeAll(fh, Buffer.from(prefix + text, 'utf8'));
    } finally {
      await fh.close();
    }
  });
}

export { syncDir };

/** fsyncs every file below `dir`, then every folder (deepest first), then `dir` itself. */
export async function syncTree(dir: string): Promise<void> {
  const entries = await fsp.readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    const p = nodePath.join(dir, e.name);
    if (e.isDirectory()) {
      await syncTree(p);
    } else if (e.isFile()) {
      const fh = await fsp.open(p, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
  }
  await syncDir(dir);
}

/**
 * Whether a process with this id exists on this host (`process.kill(pid, 0)`: ESRCH → gone,
 * EPERM → exists under another user). Ids ≤ 0 or non-integers are never alive. A recycled pid
 * reads as alive: this is a liveness hint, not a proof.
 */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `code` of a Node system error, if any. */
export function errnoCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}
