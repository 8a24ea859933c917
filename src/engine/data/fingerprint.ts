/**
 * Dataset fingerprints for `run.json`: sha256 of the file bytes.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { DataError, errorMessage, isNotFound } from './errors';

/**
 * The sha256 of a file's bytes, as 64 lowercase hex digits (what `sha256sum` prints). The file is
 * streamed, so its size does not matter.
 *
 * @throws DataError naming the file when it does not exist or cannot be read
 */
export async function fingerprint(path: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch (e) {
    if (isNotFound(e)) throw new DataError(`${path}: file not found; check the path`, { file: path }, e);
    throw new DataError(`${path}: cannot be read (${errorMessage(e)}); check the file's permissions`, { file: path }, e);
  }
  return hash.digest('hex');
}
