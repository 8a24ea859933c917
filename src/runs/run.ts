/**
 * Run folders: creation, `run.json` reads and atomic updates, metrics and log appends.
 *
 * Layout (DESIGN.md, "Run directory"): `<runs dir>/<name>-<YYYYMMDD-HHMMSS>/` holding `run.json`,
 * `metrics.jsonl`, `log.txt`, `checkpoints/step-<n>/` and `adapter/`.
 */
import { promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import * as nodePath from 'node:path';
import { writeBytesAtomic } from '../engine/weights/atomic';
import { describeJsonError } from '../engine/weights/errors';
import { writeCheckpointAtomic, writeDirAtomic } from './checkpoints';
import { RunError, namedWrite } from './errors';
import { appendLines, errnoCode, isProcessAlive, serialize } from './fsutil';
import { METRICS_FILE, appendMetricsRow } from './metrics';
import { STORED_STATUSES, type MetricsRow, type RunInit, type RunJson, type RunPatch, type RunStatus } from './types';

export const RUN_FILE = 'run.json';
export const LOG_FILE = 'log.txt';
export const CHECKPOINTS_DIR = 'checkpoints';
export const ADAPTER_DIR = 'adapter';

/** A run folder opened for writing (by the trainer) or reading. */
export interface RunHandle {
  /** Absolute path of the run folder. */
  readonly dir: string;
  /** The folder name, `<name>-<YYYYMMDD-HHMMSS>[-k]` (also `run.json`'s `id`). */
  readonly id: string;
  /** `<dir>/checkpoints` (may not exist yet). */
  readonly checkpointsDir: string;
  /** `<dir>/adapter` (the final PEFT adapter; may not exist yet). */
  readonly adapterDir: string;
  /** Reads `run.json` from disk. Throws `RunError` when it is missing or invalid. */
  read(): Promise<RunJson>;
  /**
   * Applies `patch` to `run.json` (read from disk, merged, written atomically: temp file, fsync,
   * rename) and returns the new content. Sets `updated_at`; sets `finished_at` to now when the
   * status becomes `completed`/`failed`/`stopped` and to null when it becomes `running`, unless
   * the patch gives it. Updates from one process are applied in call order.
   */
  update(patch: RunPatch): Promise<RunJson>;
  /**
   * Appends one row to `metrics.jsonl` (one JSON line + '\n'), terminating a torn last line
   * first. Throws `RangeError` for a non-finite value or a bad step (nothing is written then).
   */
  appendMetrics(row: MetricsRow): Promise<void>;
  /** Appends `<ISO time> <line>` to `log.txt` (each line of a multi-line text gets the time). */
  log(line: string): Promise<void>;
  /** `writeCheckpointAtomic(dir, step, fill)`: an atomic `checkpoints/step-<step>/`. */
  writeCheckpoint(step: number, fill: (tmpDir: string) => Promise<void>): Promise<string>;
  /** `writeDirAtomic(adapterDir, fill)`: the final adapter folder, replaced atomically. */
  writeAdapter(fill: (tmpDir: string) => Promise<void>): Promise<string>;
}

/** `YYYYMMDD-HHMMSS` in local time. */
export function runTimestamp(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getFullYear(), 4)}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/**
 * The folder-name form of a run name: letters, digits, `.`, `_` and `-` kept, any other run of
 * characters becomes `-`, leading/trailing `-`/`.` dropped, at most 80 characters; `run` if empty.
 */
export function sanitizeRunName(name: string): string {
  const s = name
    .normalize('NFC')
    .replace(/[^\p{L}\p{N}._-]+/gu, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, 80)
    .replace(/[-.]+$/g, '');
  return s || 'run';
}

/**
 * The status a reader should show: a `running` run whose process is gone on this host is
 * `crashed`. A run owned by another host cannot be checked and reads as `running`.
 */
export function effectiveStatus(run: RunJson): RunStatus {
  if (run.status !== 'running') return run.status;
  if (run.hostname && run.hostname !== hostname()) return 'running';
  return isProcessAlive(run.pid) ? 'running' : 'crashed';
}

const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * Parses and checks the text of a `run.json`. Throws `RunError` (naming `file`, with line and
 * column for a JSON syntax error) when it is not JSON or lacks a required field.
 */
export function parseRunJson(text: string, file: string): RunJson {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new RunError(file, `${file}: ${describeJsonError(text, e)}; the file is damaged — fix or delete the run folder`, { cause: e });
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new RunError(file, `${file}: expected a JSON object`);
  const o = obj as Record<string, unknown>;
  const bad = (field: string, want: string) => new RunError(file, `${file}: "${field}" is ${JSON.stringify(o[field]) ?? 'missing'}, expected ${want}`);
  if (!isStr(o.id) || !o.id) throw bad('id', 'a non-empty string');
  if (!isStr(o.name)) throw bad('name', 'a string');
  if (!STORED_STATUSES.includes(o.status as never)) throw bad('status', STORED_STATUSES.join(' | '));
  if (!isNum(o.pid)) throw bad('pid', 'a number');
  if (!isNum(o.step)) throw bad('step', 'a number');
  if (!isNum(o.max_steps)) throw bad('max_steps', 'a number');
  if (!isStr(o.created_at)) throw bad('created_at', 'an ISO timestamp');
  if (!isStr(o.updated_at)) throw bad('updated_at', 'an ISO timestamp');
  if (o.hostname !== undefined && !isStr(o.hostname)) throw bad('hostname', 'a string');
  return obj as RunJson;
}

async function readRunJson(dir: string): Promise<RunJson> {
  const file = nodePath.join(dir, RUN_FILE);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT' || errnoCode(e) === 'ENOTDIR') {
      let isDir = false;
      try {
        isDir = (await fsp.stat(dir)).isDirectory();
      } catch {
        throw new RunError(dir, `${dir}: no such run folder`, { cause: e });
      }
      if (!isDir) throw new RunError(dir, `${dir}: not a folder; pass a run folder (under .loralab/runs)`, { cause: e });
      throw new RunError(dir, `${dir}: not a LoRA Lab run folder (no run.json); pass a folder created by a training run, under .loralab/runs`, { cause: e });
    }
    throw e;
  }
  return parseRunJson(text, file);
}

/**
 * Writes run.json atomically. On a full disk (ENOSPC, EDQUOT) the temporary copy cannot be made,
 * so the file is overwritten in place instead: truncating frees its blocks, which the new, about
 * equally long text then reuses, so a run can still be marked failed when nothing else fits.
 */
async function writeRunJson(dir: string, run: RunJson): Promise<void> {
  const file = nodePath.join(dir, RUN_FILE);
  const text = `${JSON.stringify(run, null, 2)}\n`;
  try {
    await writeBytesAtomic(file, text);
  } catch (e) {
    const code = errnoCode(e);
    if (code !== 'ENOSPC' && code !== 'EDQUOT') throw e;
    await fsp.writeFile(file, text);
  }
}

const TERMINAL = new Set(['completed', 'failed', 'stopped']);

function makeHandle(dir: string, id: string): RunHandle {
  const runFile = nodePath.join(dir, RUN_FILE);
  const adapterDir = nodePath.join(dir, ADAPTER_DIR);
  return {
    dir,
    id,
    checkpointsDir: nodePath.join(dir, CHECKPOINTS_DIR),
    adapterDir,
    read: () => readRunJson(dir),
    update: (patch) =>
      serialize(runFile, async () => {
        const cur = await readRunJson(dir);
        const now = new Date().toISOString();
        const p = { ...patch } as Partial<RunJson>;
        delete p.id;
        delete p.created_at;
        delete p.updated_at;
        if ((p.status as string | undefined) === 'crashed') throw new RangeError(`${runFile}: status "crashed" is never written`);
        if (p.status !== undefined && !('finished_at' in p)) p.finished_at = TERMINAL.has(p.status) ? (cur.status === p.status && cur.finished_at ? cur.finished_at : now) : null;
        const next: RunJson = { ...cur, ...p, updated_at: now };
        await namedWrite(runFile, 'the run state', () => writeRunJson(dir, next));
        return next;
      }),
    appendMetrics: (row) => namedWrite(nodePath.join(dir, METRICS_FILE), 'the metrics', () => appendMetricsRow(dir, row)),
    log: (line) => {
      const t = new Date().toISOString();
      const text = line
        .replace(/\r?\n$/, '')
        .split(/\r?\n/)
        .map((l) => `${t} ${l}\n`)
        .join('');
      return namedWrite(nodePath.join(dir, LOG_FILE), 'the log', () => appendLines(nodePath.join(dir, LOG_FILE), text));
    },
    writeCheckpoint: (step, fill) => namedWrite(nodePath.join(dir, CHECKPOINTS_DIR, `step-${step}`), `checkpoint step ${step}`, () => writeCheckpointAtomic(dir, step, fill)),
    writeAdapter: (fill) => namedWrite(adapterDir, 'the final adapter', () => writeDirAtomic(adapterDir, fill)),
  };
}

/**
 * Creates `<runsDir>/<name>-<YYYYMMDD-HHMMSS>/` (local time of `opts.now`, default now; name
 * sanitised by `sanitizeRunName`; `-2`, `-3`… appended when the folder exists — the folder is
 * claimed with an exclusive `mkdir`, so two concurrent creators never share one) and writes
 * `run.json` atomically. `runsDir` is created if needed. Throws the file-system error when
 * `runsDir` cannot be created or written.
 */
export async function createRun(runsDir: string, name: string, init: RunInit, opts: { now?: Date } = {}): Promise<RunHandle> {
  const root = nodePath.resolve(runsDir);
  await fsp.mkdir(root, { recursive: true });
  const created = opts.now ?? new Date();
  const base = `${sanitizeRunName(name)}-${runTimestamp(created)}`;
  let id = base;
  for (let k = 2; ; k++) {
    try {
      await fsp.mkdir(nodePath.join(root, id));
      break;
    } catch (e) {
      if (errnoCode(e) !== 'EEXIST' || k > 10_000) throw e;
      id = `${base}-${k}`;
    }
  }
  const dir = nodePath.join(root, id);
  const nowIso = new Date().toISOString();
  const run: RunJson = {
    id,
    name,
    ...init,
    status: init.status ?? 'running',
    pid: init.pid ?? process.pid,
    hostname: init.hostname ?? hostname(),
    created_at: created.toISOString(),
    updated_at: nowIso,
    finished_at: init.finished_at ?? null,
    step: init.step ?? 0,
    error: init.error ?? null,
  } as RunJson;
  try {
    await writeRunJson(dir, run);
  } catch (e) {
    await fsp.rm(dir, { recursive: true, force: true }).catch(() => undefined);
    throw e;
  }
  return makeHandle(dir, id);
}

/**
 * Opens an existing run folder (for resume or reading). Throws `RunError` naming the folder
 * when it does not exist, is not a folder, has no `run.json` (not a run folder) or a damaged one.
 */
export async function openRun(runDir: string): Promise<RunHandle> {
  const dir = nodePath.resolve(runDir);
  await readRunJson(dir);
  return makeHandle(dir, nodePath.basename(dir));
}
