/** Shared test helpers for weights/: temp folders, shared data paths, raw safetensors bytes. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import assert from 'node:assert/strict';
import { WeightsError } from '../../../src/engine/weights/errors';
import { SHARED } from '../../helpers/paths';

export const STORIES_DIR = path.join(SHARED, 'models/stories260K');
export const GOLDEN_DIR = path.join(SHARED, 'golden');

/** A fresh folder under os.tmpdir(); the caller removes it with `rmTemp`. */
export function makeTemp(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `loralab-weights-${tag}-`));
}

export function rmTemp(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * Bytes of a safetensors file built by hand: `header` (object, or raw text), the 8-byte length
 * (overridable to lie), then `data`.
 */
export function rawSafetensors(header: unknown, data: Uint8Array = new Uint8Array(0), lengthOverride?: bigint): Buffer {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(lengthOverride ?? BigInt(json.length), 0);
  return Buffer.concat([prefix, json, Buffer.from(data)]);
}

/** The bytes of a typed array (for exact comparisons). */
export function bytesOf(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * Asserts that `p` rejects (or `fn` throws) a WeightsError whose one-line message contains
 * every fragment (and the file name, which the caller passes as a fragment).
 */
export async function rejectsWeights(p: Promise<unknown> | (() => unknown), ...fragments: string[]): Promise<WeightsError> {
  let caught: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof WeightsError, `expected a WeightsError, got ${String(caught)}`);
  assert.ok(!/[\r\n]/.test(caught.message), `message is not one line: ${caught.message}`);
  for (const f of fragments) assert.ok(caught.message.includes(f), `message lacks ${JSON.stringify(f)}: ${caught.message}`);
  return caught;
}
