/**
 * `metrics.jsonl`: one JSON object per logged step, append-only. Readers ignore a torn last
 * line (no trailing newline: the writer was killed mid-write) and skip corrupt lines elsewhere;
 * the next append terminates a torn line so every later row stays parseable.
 */
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { RunError } from './errors';
import { appendLines, errnoCode } from './fsutil';
import { METRICS_FIELDS, type MetricsRead, type MetricsRow, type MetricsTail } from './types';
import { isEvalMetricKey } from '../protocol/metrics';

export const METRICS_FILE = 'metrics.jsonl';

/**
 * Serialises a row as one line (with '\n'), fields in the documented order, absent fields left out.
 * Throws a `RangeError` when `step` is not a non-negative integer or any present field is not a
 * finite number (JSON has no NaN/Infinity: the trainer's NaN guard must stop before logging).
 */
export function formatMetricsRow(row: MetricsRow): string {
  const out: Record<string, number> = {};
  for (const k of METRICS_FIELDS) {
    const v = row[k];
    if (v === undefined) {
      if (k === 'step' || k === 'time') throw new RangeError(`metrics row: ${k} is required`);
      continue;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new RangeError(`metrics row at step ${row.step}: ${k} is ${String(v)}, expected a finite number`);
    out[k] = v;
  }
  // Eval-set results (`eval/<set>/<metric>`) after the documented fields, in the row's order.
  for (const [k, v] of Object.entries(row)) {
    if (!isEvalMetricKey(k) || v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new RangeError(`metrics row at step ${row.step}: ${k} is ${String(v)}, expected a finite number`);
    out[k] = v;
  }
  if (!Number.isInteger(out.step) || out.step < 0) throw new RangeError(`metrics row: step ${out.step} is not a non-negative integer`);
  return `${JSON.stringify(out)}\n`;
}

/**
 * The row a parsed line stands for; undefined when it is not a valid row (not an object, or
 * `step` / `time` missing or not finite). Unknown fields are dropped; `eval/<set>/<metric>`
 * fields are kept.
 */
function rowOf(obj: unknown): MetricsRow | undefined {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return undefined;
  const o = obj as Record<string, unknown>;
  if (typeof o.step !== 'number' || !Number.isFinite(o.step) || typeof o.time !== 'number' || !Number.isFinite(o.time)) return undefined;
  const row: MetricsRow = { step: o.step, time: o.time };
  for (const k of METRICS_FIELDS) {
    const v = o[k];
    if (typeof v === 'number' && Number.isFinite(v)) row[k] = v;
  }
  for (const k of Object.keys(o)) if (isEvalMetricKey(k) && typeof o[k] === 'number' && Number.isFinite(o[k])) row[k] = o[k];
  return row;
}

/** Parses one line into a row; undefined when it is not a valid row (unknown fields are dropped; `eval/<set>/<metric>` fields kept). */
export function parseMetricsLine(line: string): MetricsRow | undefined {
  const text = line.trim();
  if (!text) return undefined;
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch {
    return undefined;
  }
  return rowOf(obj);
}

/**
 * Appends one row to `<runDir>/metrics.jsonl` (creating it), repairing a torn last line first.
 * Throws `RangeError` for an invalid row (see `formatMetricsRow`) before touching the file.
 */
export async function appendMetricsRow(runDir: string, row: MetricsRow): Promise<void> {
  const line = formatMetricsRow(row);
  await appendLines(nodePath.join(runDir, METRICS_FILE), line);
}

/** Splits a buffer into complete lines; `rest` is the bytes after the last '\n' (a torn or partial line). */
function splitComplete(buf: Buffer): { lines: string[]; consumed: number } {
  const end = buf.lastIndexOf(0x0a);
  if (end < 0) return { lines: [], consumed: 0 };
  const lines = buf.subarray(0, end).toString('utf8').split('\n');
  return { lines, consumed: end + 1 };
}

function parseLines(lines: string[]): { rows: MetricsRow[]; skipped: number } {
  const rows: MetricsRow[] = [];
  let skipped = 0;
  for (const line of lines) {
    if (!line.trim()) continue;
    const row = parseMetricsLine(line);
    if (row) rows.push(row);
    else skipped++;
  }
  return { rows, skipped };
}

async function missingRunDir(runDir: string): Promise<never | void> {
  try {
    const st = await fsp.stat(runDir);
    if (!st.isDirectory()) throw new RunError(runDir, `${runDir}: not a folder; pass a run folder (under .loralab/runs)`);
  } catch (e) {
    if (e instanceof RunError) throw e;
    throw new RunError(runDir, `${runDir}: no such run folder`, { cause: e });
  }
}

/**
 * Drops rows orphaned by a resume: a run resumed from checkpoint c appends rows from step c + 1
 * on (from 0 when it had no checkpoint), after whatever the killed or failed process logged past
 * c. A row whose step is not above the previous kept row's starts the series over from there:
 * every kept row with a step ≥ it is dropped. So the result has strictly increasing steps and
 * shows the history the run's current state descends from. The one definition of this rule:
 * `readMetrics` and the dashboard (src/extension/dashboard/session.ts) both use it. Returns a new
 * array (the same row objects, in order); `rows` is not changed. Steps are compared as numbers.
 */
export function dropOrphanedRows<T extends { step: number }>(rows: readonly T[]): T[] {
  const out: T[] = [];
  for (const row of rows) {
    while (out.length && out[out.length - 1].step >= row.step) out.pop();
    out.push(row);
  }
  return out;
}

/**
 * Every row of `<runDir>/metrics.jsonl`, in file order, less the rows a resume made obsolete:
 * when a row's step is not above the previous one (a resumed run re-logs the steps after its
 * checkpoint), the earlier rows from that step on are dropped, so steps strictly increase. A
 * torn last line (no trailing newline) is ignored (`torn: true`); complete lines that are not
 * valid rows are skipped and counted in `skipped`, never thrown. A run without `metrics.jsonl`
 * has no rows. Throws `RunError` when `runDir` itself does not exist. (`tailMetrics` returns
 * rows as written: a live reader applies the same rule when a step goes back.)
 */
export async function readMetrics(runDir: string): Promise<MetricsRead> {
  let buf: Buffer;
  try {
    buf = await fsp.readFile(nodePath.join(runDir, METRICS_FILE));
  } catch (e) {
    if (errnoCode(e) !== 'ENOENT') throw e;
    await missingRunDir(runDir);
    return Object.assign([] as MetricsRow[], { skipped: 0, torn: false });
  }
  const { lines, consumed } = splitComplete(buf);
  const { rows, skipped } = parseLines(lines);
  const torn = buf.subarray(consumed).toString('utf8').trim().length > 0;
  return Object.assign(dropOrphanedRows(rows), { skipped, torn });
}

/** The fields of a row besides `step` and `time`, as `MetricsColumns.values` holds them. */
export type MetricsValueField = Exclude<(typeof METRICS_FIELDS)[number], 'step' | 'time'>;

/**
 * `readMetrics`' rows as columns: row i is (`step[i]`, `time[i]`, each `values[f][i]`, each
 * `evals.get(key)[i]`), NaN where the row lacks a field. Same rows, same order, same
 * `skipped` and `torn` as `readMetrics` (test/runs/metrics.test.ts compares them).
 */
export interface MetricsColumns {
  length: number;
  step: Float64Array;
  time: Float64Array;
  values: Record<MetricsValueField, Float64Array>;
  /** One column per `eval/<set>/<metric>` key any row has, in order of first appearance. */
  evals: Map<`eval/${string}`, Float64Array>;
  skipped: number;
  torn: boolean;
}

const VALUE_FIELDS = METRICS_FIELDS.filter((f): f is MetricsValueField => f !== 'step' && f !== 'time');
/**
 * `readMetrics` as columns (see `MetricsColumns`), for views that chart whole runs: each line's
 * `JSON.parse` result is read straight into the columns, with no row object, no key listing
 * (unless the line's text can name an `eval/` key) and no second pass for a resume. Measured
 * (scripts/bench-compare.ts): `JSON.parse` itself is most of what is left; hand-written scanners
 * of the known fields (over the string, and over the bytes) were no faster in V8 (Node 20). Throws `RunError` when
 * `runDir` does not exist.
 */
export async function readMetricsColumns(runDir: string): Promise<MetricsColumns> {
  let buf: Buffer;
  try {
    buf = await fsp.readFile(nodePath.join(runDir, METRICS_FILE));
  } catch (e) {
    if (errnoCode(e) !== 'ENOENT') throw e;
    await missingRunDir(runDir);
    buf = Buffer.alloc(0);
  }
  const { lines, consumed } = splitComplete(buf);
  const torn = buf.subarray(consumed).toString('utf8').trim().length > 0;
  return Object.assign(metricsColumnsOfLines(lines), { torn });
}

/** The columns of complete lines (see `readMetricsColumns`; `torn` false). */
export function metricsColumnsOfLines(lines: readonly string[]): MetricsColumns {
  const cap = lines.length;
  const nan = () => new Float64Array(cap).fill(NaN);
  const step = new Float64Array(cap);
  const time = new Float64Array(cap);
  const values = Object.fromEntries(VALUE_FIELDS.map((f) => [f, nan()])) as Record<MetricsValueField, Float64Array>;
  const valueCols = VALUE_FIELDS.map((f) => values[f]);
  const evals = new Map<`eval/${string}`, Float64Array>();
  const evalPairs: [`eval/${string}`, number][] = [];
  let n = 0;
  let skipped = 0;
  for (const line of lines) {
    const t = line.trim();
    if (!t) continue;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(t) as Record<string, unknown>;
    } catch {
      skipped++;
      continue;
    }
    // The checks of rowOf (parseMetricsLine), field by field.
    if (typeof o !== 'object' || o === null || Array.isArray(o)) {
      skipped++;
      continue;
    }
    const s = o.step;
    const time_ = o.time;
    if (typeof s !== 'number' || !Number.isFinite(s) || typeof time_ !== 'number' || !Number.isFinite(time_)) {
      skipped++;
      continue;
    }
    // A resume re-logs from its checkpoint: drop the kept rows with step ≥ s (readMetrics' rule).
    if (n > 0 && step[n - 1] >= s) {
      let lo = 0;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (step[mid] < s) lo = mid + 1;
        else hi = mid;
      }
      n = lo;
    }
    step[n] = s;
    time[n] = time_;
    for (let j = 0; j < VALUE_FIELDS.length; j++) {
      const v = o[VALUE_FIELDS[j]];
      valueCols[j][n] = typeof v === 'number' && Number.isFinite(v) ? v : NaN;
    }
    for (const col of evals.values()) col[n] = NaN;
    evalPairs.length = 0;
    // Without "eval/" or an escape in its text, the object has no eval/<set>/<metric> key.
    if (t.includes('eval/') || t.includes('\\')) {
      for (const k of Object.keys(o)) {
        const v = o[k];
        if (isEvalMetricKey(k) && typeof v === 'number' && Number.isFinite(v)) evalPairs.push([k, v]);
      }
    }
    for (const [k, v] of evalPairs) {
      let col = evals.get(k);
      if (!col) evals.set(k, (col = nan()));
      col[n] = v;
    }
    n++;
  }
  const cut = (a: Float64Array) => a.subarray(0, n);
  return {
    length: n,
    step: cut(step),
    time: cut(time),
    values: Object.fromEntries(VALUE_FIELDS.map((f) => [f, cut(values[f])])) as Record<MetricsValueField, Float64Array>,
    // A key only on rows a resume dropped is not in any row left.
    evals: new Map([...evals].map(([k, c]) => [k, cut(c)] as const).filter(([, c]) => c.some((v) => !Number.isNaN(v)))),
    skipped,
    torn: false,
  };
}

/**
 * Rows of the complete lines of `<runDir>/metrics.jsonl` after byte `offset`, for live following:
 * call again with the returned `offset`. A partial last line is not consumed (it is read once its
 * newline arrives; if it was torn by a crash, the next append terminates it and it is counted in
 * `skipped` then). A missing file returns no rows and the same offset. If the file is shorter
 * than `offset` (replaced), it is read from the start and `reset` is true.
 */
export async function tailMetrics(runDir: string, offset: number): Promise<MetricsTail> {
  if (!Number.isInteger(offset) || offset < 0) throw new RangeError(`tailMetrics: offset ${offset} is not a non-negative integer`);
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(nodePath.join(runDir, METRICS_FILE), 'r');
  } catch (e) {
    if (errnoCode(e) !== 'ENOENT') throw e;
    return { rows: [], offset, skipped: 0, reset: false };
  }
  try {
    const { size } = await fh.stat();
    let start = offset;
    let reset = false;
    if (size < offset) {
      start = 0;
      reset = true;
    }
    const len = size - start;
    if (len === 0) return { rows: [], offset: start, skipped: 0, reset };
    const buf = Buffer.alloc(len);
    let got = 0;
    while (got < len) {
      const { bytesRead } = await fh.read(buf, got, len - got, start + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    const { lines, consumed } = splitComplete(buf.subarray(0, got));
    const { rows, skipped } = parseLines(lines);
    return { rows, offset: start + consumed, skipped, reset };
  } finally {
    await fh.close();
  }
}

/**
 * The last logged `train_loss` and `val_loss` (and the last row's step) of a run, reading
 * `metrics.jsonl` backwards in chunks so long runs cost little. A torn last line is ignored.
 */
export async function lastMetrics(runDir: string): Promise<{ step: number | null; train_loss: number | null; val_loss: number | null }> {
  const out = { step: null as number | null, train_loss: null as number | null, val_loss: null as number | null };
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(nodePath.join(runDir, METRICS_FILE), 'r');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return out;
    throw e;
  }
  try {
    const { size } = await fh.stat();
    const CHUNK = 64 * 1024;
    let pos = size;
    let carry = Buffer.alloc(0); // bytes after `pos` not yet split into lines (starts with a partial line)
    let first = true;
    while (pos > 0 && (out.train_loss === null || out.val_loss === null || out.step === null)) {
      const n = Math.min(CHUNK, pos);
      pos -= n;
      const chunk = Buffer.alloc(n);
      await fh.read(chunk, 0, n, pos);
      let buf = Buffer.concat([chunk, carry]);
      if (first) {
        // drop a torn tail (bytes after the last newline)
        const end = buf.lastIndexOf(0x0a);
        buf = end < 0 ? Buffer.alloc(0) : buf.subarray(0, end + 1);
        if (end < 0 && pos > 0) {
          carry = Buffer.alloc(0);
          continue; // the whole chunk is one torn line; keep looking before it
        }
        first = false;
      }
      // keep the first (possibly partial) line for the next round unless at the file start
      let startIdx = 0;
      if (pos > 0) {
        const nl = buf.indexOf(0x0a);
        if (nl < 0) {
          carry = buf;
          continue;
        }
        startIdx = nl + 1;
        carry = buf.subarray(0, startIdx);
      } else {
        carry = Buffer.alloc(0);
      }
      const lines = buf.subarray(startIdx).toString('utf8').split('\n');
      for (let i = lines.length - 1; i >= 0; i--) {
        const row = parseMetricsLine(lines[i]);
        if (!row) continue;
        if (out.step === null) out.step = row.step;
        if (out.train_loss === null && row.train_loss !== undefined) out.train_loss = row.train_loss;
        if (out.val_loss === null && row.val_loss !== undefined) out.val_loss = row.val_loss;
      }
    }
    return out;
  } finally {
    await fh.close();
  }
}
