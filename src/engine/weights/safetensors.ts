/**
 * safetensors read/write, and Hugging Face checkpoint folders (single file or sharded).
 *
 * Format (https://huggingface.co/docs/safetensors, `safetensors/src/tensor.rs`):
 *
 *   [8 bytes]  N, header length, uint64 little-endian
 *   [N bytes]  JSON header, UTF-8, may be right-padded with spaces:
 *              { "__metadata__": { str: str }?,
 *                "<name>": { "dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end] }, ... }
 *   [rest]     data section; a tensor's bytes are data[begin:end], row-major, little-endian
 *
 * Readers here parse only the header on open (a few KB even for multi-GB shards) and read one
 * tensor at a time with positional reads, after checking the header by the format's own rules
 * (see `parseHeader`: no name twice, byte ranges tiling the data section, exact 64-bit
 * offsets). A Git LFS pointer left in place of the file is named as such. Errors are
 * `WeightsError` with a one-line message naming the file and the tensor.
 */
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { promisify } from 'node:util';
import { type DType, DTYPE_SIZE, type HostTensor, type TensorData, numel, typedArrayFor } from '../tensor';
import { toFloat32 } from './dtype';
import { WeightsError, describeJsonError, gitLfsPointerError } from './errors';
import { writeAll, writeFileAtomic } from './atomic';
// The ESM build (see src/experiment/document.ts: the UMD `main` breaks the esbuild bundle).
import { visit as visitJson } from 'jsonc-parser/lib/esm/main.js';

export { WeightsError } from './errors';

const readAsync = promisify(fs.read);
const openAsync = promisify(fs.open);
const fstatAsync = promisify(fs.fstat);
const closeAsync = promisify(fs.close);

/** safetensors dtype names this module reads and writes, mapped to our `DType` names. */
export const SAFETENSORS_DTYPES: Readonly<Record<string, DType>> = {
  F64: 'float64', F32: 'float32', F16: 'float16', BF16: 'bfloat16',
  I64: 'int64', I32: 'int32', I8: 'int8', U8: 'uint8', BOOL: 'bool',
};

/** Our `DType` → the safetensors dtype string. */
export const DTYPE_TO_SAFETENSORS: Readonly<Record<DType, string>> = {
  float64: 'F64', float32: 'F32', float16: 'F16', bfloat16: 'BF16',
  int64: 'I64', int32: 'I32', int8: 'I8', uint8: 'U8', bool: 'BOOL',
};

/** The safetensors library refuses headers over 100 MB; so do we, before allocating. */
const MAX_HEADER_LENGTH = 100_000_000;
/** Largest single read (fs reads are capped at 2 GiB - 1 per call). */
const MAX_IO = 1 << 30;
const LITTLE_ENDIAN_HOST = os.endianness() === 'LE';

/** Where one tensor lives in a safetensors file. */
export interface TensorInfo {
  dtype: DType;
  /** Row-major dimensions; [] for a scalar. */
  shape: number[];
  /** Absolute offset of the first byte in the file (8 + header length + data_offsets[0]). */
  byteOffset: number;
  /** data_offsets[1] - data_offsets[0] = numel(shape) · DTYPE_SIZE[dtype]. */
  byteLength: number;
}

/** Quotes a tensor name for a message. */
const q = (s: string): string => JSON.stringify(s);

/** A few names for a "did you mean" list. */
function sampleNames(names: string[], n = 5): string {
  const head = names.slice(0, n).map(q).join(', ');
  return names.length > n ? `${head}, …` : head;
}

interface ParsedHeader {
  entries: Map<string, TensorInfo>;
  metadata: Record<string, string>;
}

/** Validates the 8-byte header length against the file size; returns it as a number. */
function checkHeaderLength(path: string, prefix: Buffer, fileSize: number): number {
  const lfs = gitLfsPointerError(path, prefix, fileSize);
  if (lfs) throw lfs;
  const n = prefix.readBigUInt64LE(0);
  if (n > BigInt(fileSize - 8)) {
    throw new WeightsError(path, `${path}: header length ${n} exceeds file size ${fileSize}; the file is truncated or not safetensors — re-download it`);
  }
  if (n > BigInt(MAX_HEADER_LENGTH)) {
    throw new WeightsError(path, `${path}: header length ${n} is over the 100 MB safetensors limit; the file is corrupt or not safetensors — re-download it`);
  }
  if (n < 2n) {
    throw new WeightsError(path, `${path}: header length ${n} is too small to hold a JSON object; the file is corrupt or not safetensors — re-download it`);
  }
  return Number(n);
}

function isSafeNonNegInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** How many bytes `open` reads first: the 8-byte length, or enough of an LFS pointer to name its size. */
const HEAD_BYTES = 1024;

/** A JSON integer literal: digits only, no sign, fraction or exponent (serde's `usize`). */
const UINT_TEXT = /^(0|[1-9][0-9]*)$/;

/**
 * What `JSON.parse` loses: it keeps the last of two equal keys silently and rounds integers
 * above 2^53. This scan (jsonc-parser's visitor over the same text, which `JSON.parse` has
 * already accepted) refuses a key given twice in any object of the header, and returns the
 * exact source text of every number in a tensor's `shape` and `data_offsets`.
 */
function scanHeader(path: string, text: string, corrupt: string): Map<string, { shape: string[]; data_offsets: string[] }> {
  const raw = new Map<string, { shape: string[]; data_offsets: string[] }>();
  const keys: Set<string>[] = [];
  visitJson(text, {
    onObjectBegin: () => {
      keys.push(new Set());
    },
    onObjectEnd: () => {
      keys.pop();
    },
    onObjectProperty: (key, offset, _length, _line, _col, where) => {
      const seen = keys[keys.length - 1];
      if (!seen.has(key)) {
        seen.add(key);
        return;
      }
      const at = where();
      const msg = at.length === 0
        ? `${key === '__metadata__' ? '__metadata__' : `tensor ${q(key)}`} is listed twice in the header (again at header byte ${offset}), and a reader would silently keep one of the two`
        : `${at[0] === '__metadata__' ? '__metadata__' : `tensor ${q(String(at[0]))}`} has the key ${q(key)} twice (again at header byte ${offset})`;
      throw new WeightsError(path, `${path}: ${msg}; ${corrupt}`);
    },
    onLiteralValue: (value, offset, length, _line, _col, where) => {
      if (typeof value !== 'number') return;
      const at = where();
      if (at.length !== 3 || (at[1] !== 'shape' && at[1] !== 'data_offsets') || typeof at[2] !== 'number') return;
      const name = String(at[0]);
      const entry = raw.get(name) ?? { shape: [], data_offsets: [] };
      entry[at[1]][at[2]] = text.slice(offset, offset + length);
      raw.set(name, entry);
    },
  }, { disallowComments: true, allowTrailingComma: false });
  return raw;
}

/**
 * Parses and validates the JSON header. `dataSize` = file size − 8 − header length.
 *
 * Rules (safetensors `tensor.rs`, `Metadata::validate` and `SafeTensors::read_metadata`,
 * v0.4–0.5): a UTF-8 JSON object, possibly padded with spaces; no key twice; `__metadata__`
 * a string → string map; every other entry {dtype, shape, data_offsets} with a known dtype,
 * non-negative integer dims, data_offsets [begin, end] with begin ≤ end,
 * end − begin = numel · dtype size and end inside the data section; sorted by (begin, end),
 * each tensor starts where the previous ended, the first at 0 and the last ends at `dataSize`
 * — the byte ranges tile the data section exactly, without holes, overlaps or trailing
 * bytes. Offsets are compared as exact integers (BigInt), so a value above 2^53 is reported
 * as written.
 */
function parseHeader(path: string, bytes: Uint8Array, headerLength: number, dataSize: number): ParsedHeader {
  const corrupt = 'the file is corrupt or not safetensors — re-download it';
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new WeightsError(path, `${path}: the ${headerLength}-byte header is not valid UTF-8; ${corrupt}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new WeightsError(path, `${path}: the ${headerLength}-byte header is not valid JSON (${describeJsonError(text, err)}); ${corrupt}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new WeightsError(path, `${path}: the header is JSON but not an object; ${corrupt}`);
  }
  const rawNumbers = scanHeader(path, text, corrupt);

  const entries = new Map<string, TensorInfo>();
  const metadata: Record<string, string> = {};
  const spans: { name: string; begin: bigint; end: bigint }[] = [];
  const dataStart = 8 + headerLength;

  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null) continue;
      if (typeof raw !== 'object' || Array.isArray(raw)) {
        throw new WeightsError(path, `${path}: __metadata__ must be an object of strings; ${corrupt}`);
      }
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') {
          throw new WeightsError(path, `${path}: __metadata__ key ${q(k)} has a ${typeof v} value, safetensors allows only strings; ${corrupt}`);
        }
        metadata[k] = v;
      }
      continue;
    }
    const bad = (what: string): WeightsError =>
      new WeightsError(path, `${path}: tensor ${q(name)} ${what}; ${corrupt}`);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('has no {dtype, shape, data_offsets} entry');
    const e = raw as Record<string, unknown>;

    if (typeof e.dtype !== 'string') throw bad('has no dtype string');
    const dtype = Object.hasOwn(SAFETENSORS_DTYPES, e.dtype) ? SAFETENSORS_DTYPES[e.dtype] : undefined;
    if (!dtype) {
      throw new WeightsError(path, `${path}: tensor ${q(name)} has dtype ${q(e.dtype)}, which LoRA Lab does not read (supported: ${Object.keys(SAFETENSORS_DTYPES).join(', ')}); convert the checkpoint to float16, bfloat16 or float32`);
    }

    // Integers as written in the file (JSON.parse has rounded any above 2^53).
    const texts = rawNumbers.get(name);
    const exact = (key: 'shape' | 'data_offsets'): bigint[] | undefined => {
      const v = e[key];
      const t = texts?.[key] ?? [];
      if (!Array.isArray(v) || !v.every((x, i) => typeof x === 'number' && UINT_TEXT.test(t[i] ?? ''))) return undefined;
      return t.map((x) => BigInt(x));
    };
    const list = (key: 'shape' | 'data_offsets'): string => {
      const v = e[key];
      return Array.isArray(v) && texts ? `[${v.map((x, i) => (typeof x === 'number' ? texts[key][i] : JSON.stringify(x))).join(', ')}]` : JSON.stringify(v);
    };

    const dims = exact('shape');
    if (!dims) throw bad(`has shape ${list('shape')}, not a list of non-negative integers`);
    const big = dims.find((d) => d > BigInt(Number.MAX_SAFE_INTEGER));
    if (big !== undefined) throw bad(`has shape ${list('shape')} with a dimension of ${big}, far more than any file holds`);
    const shape = dims.map(Number);

    const off = exact('data_offsets');
    if (!off || off.length !== 2) throw bad(`has data_offsets ${list('data_offsets')}, not [begin, end] non-negative integers`);
    const [begin, end] = off;
    if (begin > end) throw bad(`has data_offsets [${begin}, ${end}] with begin after end`);
    const expected = dims.reduce((a, d) => a * d, 1n) * BigInt(DTYPE_SIZE[dtype]);
    if (end - begin !== expected) {
      throw bad(`is ${e.dtype} [${shape.join(', ')}] (${expected} bytes) but data_offsets [${begin}, ${end}] span ${end - begin} bytes`);
    }
    if (end > BigInt(dataSize)) {
      throw new WeightsError(path, `${path}: tensor ${q(name)} has data_offsets [${begin}, ${end}] beyond the ${dataSize}-byte data section; the file is truncated — re-download it`);
    }
    entries.set(name, { dtype, shape, byteOffset: dataStart + Number(begin), byteLength: Number(end - begin) });
    spans.push({ name, begin, end });
  }

  // The ranges, sorted by (begin, end), must tile [0, dataSize): each starts where the last ended.
  spans.sort((a, b) => (a.begin < b.begin ? -1 : a.begin > b.begin ? 1 : a.end < b.end ? -1 : a.end > b.end ? 1 : 0));
  let covered = 0n;
  let prev: { name: string; begin: bigint; end: bigint } | undefined;
  for (const s of spans) {
    if (s.begin < covered) {
      throw new WeightsError(path, `${path}: tensors ${q(prev!.name)} [${prev!.begin}, ${prev!.end}] and ${q(s.name)} [${s.begin}, ${s.end}] overlap in the data section; ${corrupt}`);
    }
    if (s.begin > covered) {
      const after = prev ? `between ${q(prev.name)} [${prev.begin}, ${prev.end}] and` : 'before';
      throw new WeightsError(path, `${path}: data section bytes [${covered}, ${s.begin}) belong to no tensor (a hole ${after} ${q(s.name)} [${s.begin}, ${s.end}]); ${corrupt}`);
    }
    covered = s.end;
    prev = s;
  }
  if (covered !== BigInt(dataSize)) {
    const where = prev ? `after the last tensor ${q(prev.name)} [${prev.begin}, ${prev.end}]` : 'and the header lists no tensor';
    throw new WeightsError(path, `${path}: the data section is ${dataSize} bytes but its tensors end at byte ${covered}, ${where}; ${corrupt}`);
  }
  return { entries, metadata };
}

/** A typed array of the right class over a whole, freshly allocated buffer. */
function viewAs(dtype: DType, buf: ArrayBuffer): TensorData {
  return new (typedArrayFor(dtype))(buf);
}

/** Reverses the bytes of each element in place (only used on big-endian hosts). */
function swapBytes(bytes: Uint8Array, size: number): void {
  if (size === 1) return;
  for (let i = 0; i + size <= bytes.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}

/**
 * One open safetensors file. Only the header is read on open; tensors are read on demand with
 * positional reads, so several reads may run at once. Call `close()` when done.
 */
export class SafetensorsFile {
  /** The path the file was opened with. */
  readonly path: string;
  /** The header's `__metadata__` (empty if absent), e.g. `{ format: "pt" }`. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Size of the file in bytes when opened. */
  readonly fileSize: number;
  private fd: number;
  private closed = false;
  private pending = 0;
  private readonly entries: Map<string, TensorInfo>;
  private readonly sortedNames: string[];

  private constructor(path: string, fd: number, fileSize: number, header: ParsedHeader) {
    this.path = path;
    this.fd = fd;
    this.fileSize = fileSize;
    this.entries = header.entries;
    this.metadata = header.metadata;
    this.sortedNames = [...header.entries.keys()].sort();
  }

  /**
   * Opens `path` and validates its header (see the module comment) without reading tensor data.
   * Throws `WeightsError` if the file is missing, unreadable, truncated or malformed.
   */
  static async open(path: string): Promise<SafetensorsFile> {
    let fd: number;
    try {
      fd = await openAsync(path, 'r');
    } catch (err) {
      throw openError(path, err);
    }
    try {
      const st = await fstatAsync(fd);
      if (st.isDirectory()) throw isFolder(path);
      const size = st.size;
      if (size < 8) throw tooShort(path, size);
      const prefix = Buffer.alloc(Math.min(size, HEAD_BYTES));
      await readFully(path, fd, prefix, 0);
      const n = checkHeaderLength(path, prefix, size);
      const headerBytes = Buffer.alloc(n);
      await readFully(path, fd, headerBytes, 8);
      return new SafetensorsFile(path, fd, size, parseHeader(path, headerBytes, n, size - 8 - n));
    } catch (err) {
      await closeAsync(fd).catch(() => undefined);
      throw err;
    }
  }

  /** Synchronous `open`, same checks and errors. */
  static openSync(path: string): SafetensorsFile {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (err) {
      throw openError(path, err);
    }
    try {
      const st = fs.fstatSync(fd);
      if (st.isDirectory()) throw isFolder(path);
      const size = st.size;
      if (size < 8) throw tooShort(path, size);
      const prefix = Buffer.alloc(Math.min(size, HEAD_BYTES));
      readFullySync(path, fd, prefix, 0);
      const n = checkHeaderLength(path, prefix, size);
      const headerBytes = Buffer.alloc(n);
      readFullySync(path, fd, headerBytes, 8);
      return new SafetensorsFile(path, fd, size, parseHeader(path, headerBytes, n, size - 8 - n));
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  /** Tensor names, sorted (code-unit order). `__metadata__` is not a tensor. */
  names(): string[] {
    return [...this.sortedNames];
  }

  /** Whether the file holds a tensor called `name`. */
  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** dtype, shape and byte range of a tensor. Throws `WeightsError` for an unknown name. */
  info(name: string): TensorInfo {
    const e = this.entries.get(name);
    if (!e) {
      throw new WeightsError(this.path, `${this.path}: no tensor named ${q(name)}; the file has ${this.sortedNames.length} tensors (${sampleNames(this.sortedNames)}) — check the name`);
    }
    return { dtype: e.dtype, shape: [...e.shape], byteOffset: e.byteOffset, byteLength: e.byteLength };
  }

  /**
   * Reads a tensor in its stored dtype: float32 → Float32Array, float64 → Float64Array,
   * float16/bfloat16 → Uint16Array of raw bits, int64 → BigInt64Array, int32 → Int32Array,
   * int8 → Int8Array, uint8/bool → Uint8Array. The data is a fresh, aligned copy owned by the
   * caller. Throws `WeightsError` for an unknown name, a closed file, or a short read.
   */
  async read(name: string): Promise<HostTensor> {
    const info = this.info(name);
    this.checkOpen();
    const buf = new ArrayBuffer(info.byteLength);
    this.pending++;
    try {
      await readFully(this.path, this.fd, new Uint8Array(buf), info.byteOffset);
    } finally {
      this.pending--;
      if (this.closed && this.pending === 0) this.closeFd();
    }
    return this.finish(info, buf);
  }

  /** Synchronous `read`, same result and errors. */
  readSync(name: string): HostTensor {
    const info = this.info(name);
    this.checkOpen();
    const buf = new ArrayBuffer(info.byteLength);
    readFullySync(this.path, this.fd, new Uint8Array(buf), info.byteOffset);
    return this.finish(info, buf);
  }

  /**
   * Reads a float tensor as float32 values (row-major, numel(shape) long): F16/BF16 widen
   * exactly, F64 rounds to nearest. Throws `WeightsError` for integer or bool tensors.
   */
  async readFloat32(name: string): Promise<Float32Array> {
    const info = this.info(name);
    if (!['float32', 'float16', 'bfloat16', 'float64'].includes(info.dtype)) {
      throw new WeightsError(this.path, `${this.path}: tensor ${q(name)} is ${DTYPE_TO_SAFETENSORS[info.dtype]}, not a float tensor; read it with read() instead of readFloat32()`);
    }
    return toFloat32(await this.read(name));
  }

  /**
   * Releases the file. Idempotent; reads already in flight finish first, later reads throw
   * `WeightsError`.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.pending === 0) this.closeFd();
  }

  private closeFd(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    fs.close(fd, () => undefined);
  }

  private checkOpen(): void {
    if (this.closed) {
      throw new WeightsError(this.path, `${this.path}: file is closed; open it again before reading`);
    }
  }

  private finish(info: TensorInfo, buf: ArrayBuffer): HostTensor {
    if (!LITTLE_ENDIAN_HOST) swapBytes(new Uint8Array(buf), DTYPE_SIZE[info.dtype]);
    return { dtype: info.dtype, shape: info.shape, data: viewAs(info.dtype, buf) };
  }
}

function openError(path: string, err: unknown): WeightsError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new WeightsError(path, `${path}: file not found; check the path`, { cause: err });
  if (code === 'EISDIR') return isFolder(path);
  return new WeightsError(path, `${path}: cannot open (${(err as Error).message}); check the path and its permissions`, { cause: err });
}

function isFolder(path: string): WeightsError {
  return new WeightsError(path, `${path}: is a folder, not a safetensors file; pass the .safetensors file (or open the folder with openCheckpoint)`);
}

function tooShort(path: string, size: number): WeightsError {
  return new WeightsError(path, `${path}: file is ${size} bytes, shorter than the 8-byte safetensors header length; the file is truncated or not safetensors — re-download it`);
}

async function readFully(path: string, fd: number, into: Uint8Array, position: number): Promise<void> {
  let off = 0;
  while (off < into.byteLength) {
    const len = Math.min(MAX_IO, into.byteLength - off);
    const { bytesRead } = await readAsync(fd, into, off, len, position + off);
    if (bytesRead === 0) throw shortRead(path, position + off);
    off += bytesRead;
  }
}

function readFullySync(path: string, fd: number, into: Uint8Array, position: number): void {
  let off = 0;
  while (off < into.byteLength) {
    const len = Math.min(MAX_IO, into.byteLength - off);
    const bytesRead = fs.readSync(fd, into, off, len, position + off);
    if (bytesRead === 0) throw shortRead(path, position + off);
    off += bytesRead;
  }
}

function shortRead(path: string, at: number): WeightsError {
  return new WeightsError(path, `${path}: unexpected end of file at byte ${at}; the file was truncated or changed while open — re-download it`);
}

const TYPED_ARRAY_OF: Record<DType, new (n: number) => TensorData> = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array, bfloat16: Uint16Array,
  int64: BigInt64Array, int32: Int32Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array,
};

/** The bytes of a tensor's data, little-endian (a view; a swapped copy on big-endian hosts). */
function leBytes(t: HostTensor): Uint8Array {
  const view = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  if (LITTLE_ENDIAN_HOST) return view;
  const copy = Uint8Array.from(view);
  swapBytes(copy, DTYPE_SIZE[t.dtype]);
  return copy;
}

/**
 * Writes `tensors` to a safetensors file at `path`, atomically (temp file `path.tmp-<pid>-<rand>`,
 * fsync, rename; the temp file is removed on failure).
 *
 * Layout: header keys sorted by name (code-unit order) with `__metadata__` first when given;
 * data in the same order, packed without gaps; the header is padded with spaces so the data
 * section starts at a multiple of 8. Tensors keep their dtype (float16/bfloat16 as raw bits).
 *
 * Throws `WeightsError` (naming `path`) for an empty or reserved name, a shape that is not a
 * list of non-negative integers, data whose length or typed-array class does not match the
 * dtype and shape, or a non-string metadata value; I/O errors propagate.
 */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, HostTensor> | Map<string, HostTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  const all = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  all.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const head = safetensorsHeader(path, all.map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })), metadata);
  for (const [name, t] of all) checkTensorData(path, name, t);
  await writeFileAtomic(path, async (fh) => {
    await writeAll(fh, head);
    for (const [, t] of all) await writeAll(fh, leBytes(t));
  });
}

/** A tensor's name, dtype and shape: what a safetensors header records of it. */
export interface TensorSpec {
  name: string;
  dtype: DType;
  shape: number[];
}

/**
 * The 8-byte length plus the JSON header of a safetensors file holding `specs` in the given
 * order (packed, no gaps), `__metadata__` first when given, padded with spaces to a multiple
 * of 8. Throws `WeightsError` for an empty or reserved name, a bad shape or dtype, or a
 * non-string metadata value.
 */
function safetensorsHeader(path: string, specs: readonly TensorSpec[], metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') {
        throw new WeightsError(path, `${path}: metadata key ${q(k)} has a ${typeof v} value; safetensors metadata values must be strings`);
      }
    }
    header.__metadata__ = { ...metadata };
  }
  let offset = 0;
  for (const { name, dtype, shape } of specs) {
    if (name === '' || name === '__metadata__') {
      throw new WeightsError(path, `${path}: cannot write a tensor named ${q(name)}; the name is empty or reserved — rename it`);
    }
    if (!Array.isArray(shape) || !shape.every(isSafeNonNegInt)) {
      throw new WeightsError(path, `${path}: tensor ${q(name)} has shape ${JSON.stringify(shape)}, not a list of non-negative integers`);
    }
    if (!Object.hasOwn(TYPED_ARRAY_OF, dtype)) {
      throw new WeightsError(path, `${path}: tensor ${q(name)} has unknown dtype ${q(String(dtype))}`);
    }
    if (Object.hasOwn(header, name)) throw new WeightsError(path, `${path}: tensor ${q(name)} is given twice; pass each tensor once`);
    const bytes = numel(shape) * DTYPE_SIZE[dtype];
    header[name] = { dtype: DTYPE_TO_SAFETENSORS[dtype], shape: [...shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad > 0) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length), 0);
  return Buffer.concat([prefix, json]);
}

/** Checks that a tensor's data has its dtype's typed-array class and numel(shape) elements. */
function checkTensorData(path: string, name: string, t: HostTensor): void {
  if (!Object.hasOwn(TYPED_ARRAY_OF, t.dtype) || !(t.data instanceof TYPED_ARRAY_OF[t.dtype])) {
    throw new WeightsError(path, `${path}: tensor ${q(name)} has dtype ${q(String(t.dtype))} but data of type ${t.data?.constructor?.name}; float16/bfloat16 data must be a Uint16Array of raw bits`);
  }
  const n = numel(t.shape);
  if (t.data.length !== n) {
    throw new WeightsError(path, `${path}: tensor ${q(name)} has shape [${t.shape.join(', ')}] (${n} elements) but ${t.data.length} data elements`);
  }
}

/**
 * Writes a safetensors file one tensor at a time, so memory stays near the largest tensor: the
 * header comes from `specs` (written in the given order, unlike `writeSafetensors`, so a copy
 * keeps its source's layout), then `produce(spec)` is awaited for each tensor in turn and its
 * bytes written before the next is asked for. Atomic like `writeSafetensors`.
 *
 * Throws `WeightsError` (naming `path`) for a bad spec (see `writeSafetensors`), or when a
 * produced tensor's dtype, shape or data does not match its spec; errors from `produce` and
 * I/O errors propagate (the temp file is removed).
 */
export async function writeSafetensorsStreaming(
  path: string,
  specs: readonly TensorSpec[],
  metadata: Record<string, string> | undefined,
  produce: (spec: TensorSpec) => Promise<HostTensor>,
): Promise<void> {
  const head = safetensorsHeader(path, specs, metadata);
  await writeFileAtomic(path, async (fh) => {
    await writeAll(fh, head);
    for (const spec of specs) {
      const t = await produce(spec);
      if (t.dtype !== spec.dtype || t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i])) {
        throw new WeightsError(path, `${path}: tensor ${q(spec.name)} was announced as ${spec.dtype} [${spec.shape.join(', ')}] but produced as ${t.dtype} [${t.shape.join(', ')}]`);
      }
      checkTensorData(path, spec.name, t);
      await writeAll(fh, leBytes(t));
    }
  });
}

/** `TensorInfo` plus the safetensors file that holds the tensor. */
export interface CheckpointTensorInfo extends TensorInfo {
  /** Path of the (shard) file; `byteOffset` is relative to its start. */
  path: string;
}

/** Names HF uses in a model folder (transformers `SAFE_WEIGHTS_NAME`, `SAFE_WEIGHTS_INDEX_NAME`). */
export const SAFE_WEIGHTS_NAME = 'model.safetensors';
export const SAFE_WEIGHTS_INDEX_NAME = 'model.safetensors.index.json';

/**
 * The weights of a Hugging Face model folder: `model.safetensors`, or shards listed by
 * `model.safetensors.index.json` (`{"metadata": {...}, "weight_map": {tensor name: shard file}}`).
 * As in transformers' `from_pretrained`, a single `model.safetensors` wins over an index.
 * Tensor names are the checkpoint's own (`model.layers.0.self_attn.q_proj.weight`).
 */
export class ModelWeights {
  /** The folder (or file) the checkpoint was opened from. */
  readonly dir: string;
  /** The open safetensors files, one per shard. */
  readonly files: readonly SafetensorsFile[];
  private readonly where: Map<string, SafetensorsFile>;
  private readonly sortedNames: string[];

  private constructor(dir: string, files: SafetensorsFile[], where: Map<string, SafetensorsFile>) {
    this.dir = dir;
    this.files = files;
    this.where = where;
    this.sortedNames = [...where.keys()].sort();
  }

  /** See `openCheckpoint`. */
  static async open(dir: string): Promise<ModelWeights> {
    let st: fs.Stats;
    try {
      st = await fsp.stat(dir);
    } catch {
      throw new WeightsError(dir, `${dir}: model folder not found; check the "model" path`);
    }
    if (st.isFile()) {
      const f = await SafetensorsFile.open(dir);
      return new ModelWeights(dir, [f], new Map(f.names().map((n) => [n, f])));
    }
    const single = nodePath.join(dir, SAFE_WEIGHTS_NAME);
    if (await exists(single)) {
      const f = await SafetensorsFile.open(single);
      return new ModelWeights(dir, [f], new Map(f.names().map((n) => [n, f])));
    }
    const indexPath = nodePath.join(dir, SAFE_WEIGHTS_INDEX_NAME);
    if (await exists(indexPath)) return ModelWeights.openSharded(dir, indexPath);
    throw await noWeightsError(dir);
  }

  private static async openSharded(dir: string, indexPath: string): Promise<ModelWeights> {
    const text = await fsp.readFile(indexPath, 'utf8');
    const lfs = gitLfsPointerError(indexPath, Buffer.from(text.slice(0, 1024), 'latin1'), Buffer.byteLength(text));
    if (lfs) throw lfs;
    let index: unknown;
    try {
      index = JSON.parse(text);
    } catch (err) {
      throw new WeightsError(indexPath, `${indexPath}: not valid JSON (${describeJsonError(text, err)}); re-download the checkpoint`);
    }
    const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
    if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
      throw new WeightsError(indexPath, `${indexPath}: has no "weight_map" object (tensor name → shard file); re-download the checkpoint`);
    }
    const byShard = new Map<string, string[]>();
    for (const [name, shard] of Object.entries(weightMap as Record<string, unknown>)) {
      if (typeof shard !== 'string' || shard === '') {
        throw new WeightsError(indexPath, `${indexPath}: weight_map entry ${q(name)} is ${JSON.stringify(shard)}, not a shard file name; re-download the checkpoint`);
      }
      const resolved = nodePath.resolve(dir, shard);
      const rel = nodePath.relative(nodePath.resolve(dir), resolved);
      if (rel === '' || rel.startsWith('..') || nodePath.isAbsolute(rel)) {
        throw new WeightsError(indexPath, `${indexPath}: weight_map entry ${q(name)} points outside the model folder (${q(shard)}); the index is corrupt — re-download the checkpoint`);
      }
      const list = byShard.get(shard);
      if (list) list.push(name);
      else byShard.set(shard, [name]);
    }
    if (byShard.size === 0) {
      throw new WeightsError(indexPath, `${indexPath}: weight_map is empty; re-download the checkpoint`);
    }
    for (const shard of byShard.keys()) {
      if (!(await exists(nodePath.join(dir, shard)))) {
        throw new WeightsError(indexPath, `${indexPath}: shard ${q(shard)} listed in weight_map is missing from ${dir}; the download is incomplete — re-download the missing shard`);
      }
    }
    const files: SafetensorsFile[] = [];
    const where = new Map<string, SafetensorsFile>();
    try {
      for (const [shard, names] of byShard) {
        const f = await SafetensorsFile.open(nodePath.join(dir, shard));
        files.push(f);
        const missing = names.filter((n) => !f.has(n));
        if (missing.length > 0) {
          throw new WeightsError(f.path, `${f.path}: ${missing.length} tensor(s) that ${SAFE_WEIGHTS_INDEX_NAME} assigns to this shard are not in it (${sampleNames(missing, 3)}); the checkpoint is inconsistent — re-download it`);
        }
        for (const n of names) where.set(n, f);
      }
    } catch (err) {
      for (const f of files) f.close();
      throw err;
    }
    return new ModelWeights(dir, files, where);
  }

  /** All tensor names of the checkpoint, sorted. */
  names(): string[] {
    return [...this.sortedNames];
  }

  /** Whether the checkpoint has a tensor called `name`. */
  has(name: string): boolean {
    return this.where.has(name);
  }

  /** dtype, shape, file and byte range of a tensor. Throws `WeightsError` for an unknown name. */
  info(name: string): CheckpointTensorInfo {
    const f = this.file(name);
    return { ...f.info(name), path: f.path };
  }

  /** Reads a tensor in its stored dtype (see `SafetensorsFile.read`). */
  async read(name: string): Promise<HostTensor> {
    return this.file(name).read(name);
  }

  /** Reads a float tensor as float32 (see `SafetensorsFile.readFloat32`). */
  async readFloat32(name: string): Promise<Float32Array> {
    return this.file(name).readFloat32(name);
  }

  /** Closes every shard. Idempotent. */
  close(): void {
    for (const f of this.files) f.close();
  }

  private file(name: string): SafetensorsFile {
    const f = this.where.get(name);
    if (!f) {
      throw new WeightsError(this.dir, `${this.dir}: the checkpoint has no tensor named ${q(name)} (${this.sortedNames.length} tensors, e.g. ${sampleNames(this.sortedNames, 3)}); check the name or the model family`);
    }
    return f;
  }
}

/**
 * Opens the weights of a Hugging Face model folder (or a single `.safetensors` file) without
 * reading tensor data. Validates every shard's header, that every shard named by the index
 * exists, and that it holds the tensors the index assigns to it.
 *
 * Throws `WeightsError` naming the folder when no safetensors weights are there (with a hint
 * for `pytorch_model.bin`, GGUF or an adapter folder), or naming the bad file otherwise.
 */
export function openCheckpoint(dir: string): Promise<ModelWeights> {
  return ModelWeights.open(dir);
}

async function exists(p: string): Promise<boolean> {
  try {
    await fsp.access(p);
    return true;
  } catch {
    return false;
  }
}

async function noWeightsError(dir: string): Promise<WeightsError> {
  let listing: string[] = [];
  try {
    listing = await fsp.readdir(dir);
  } catch {
    // unreadable folder: fall through to the generic message
  }
  const base = `no ${SAFE_WEIGHTS_NAME} or ${SAFE_WEIGHTS_INDEX_NAME} in ${dir}`;
  if (listing.includes('adapter_config.json')) {
    return new WeightsError(dir, `${base}; this looks like a PEFT adapter folder — pass the base model folder as the model (adapter_config.json names it in base_model_name_or_path) and this folder as the adapter`);
  }
  if (listing.some((f) => /^pytorch_model.*\.bin(\.index\.json)?$/.test(f))) {
    return new WeightsError(dir, `${base}, only pytorch_model*.bin, which LoRA Lab cannot read; convert it once with transformers: python -c "from transformers import AutoModelForCausalLM as M; M.from_pretrained('${dir}').save_pretrained('${dir}', safe_serialization=True)" — or download the safetensors files from the Hub`);
  }
  if (listing.some((f) => f.endsWith('.gguf'))) {
    return new WeightsError(dir, `${base}, only .gguf files, which LoRA Lab does not read; download the original Hugging Face checkpoint (config.json + *.safetensors)`);
  }
  const other = listing.filter((f) => f.endsWith('.safetensors'));
  if (other.length > 0) {
    return new WeightsError(dir, `${base}, but ${other.map(q).join(', ')}; rename the file to ${SAFE_WEIGHTS_NAME} if it holds the full model in Hugging Face naming, or pass the file path itself`);
  }
  return new WeightsError(dir, `${base}; LoRA Lab reads Hugging Face safetensors checkpoints (config.json + model.safetensors) — pass such a folder as the model, or convert a pytorch_model.bin with transformers' save_pretrained(safe_serialization=True)`);
}
