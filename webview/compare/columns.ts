/**
 * The runs table and the hyperparameter table as data: columns (label, value, text, CSV
 * value), sorting, "differences only" and the CSV export. Pure (no DOM), so the browser page
 * and Node tests run the same code.
 */
import type { CompareRun, HyperparameterValue } from '../../src/protocol/compare';
import { formatDuration, formatValue } from '../dashboard/format';
import { runLabel } from '../../src/protocol/run-label';

export type SortDir = 'asc' | 'desc';

export interface RunColumn {
  key: string;
  label: string;
  /** Header tooltip: what the number is. */
  title: string;
  numeric: boolean;
  /** The value sorted on and exported (null: not known; sorted last either way). */
  value(run: CompareRun): number | string | null;
  /** The cell's text. */
  text(run: CompareRun): string;
}

const DASH = '—';
const num = (v: number | null, f: (v: number) => string): string => (v === null ? DASH : f(v));
const int = (v: number): string => Math.round(v).toLocaleString('en-US');
/** Validation losses with four decimals, so neighbouring runs are told apart. */
export const formatLossCell = (v: number): string => v.toFixed(4);

/** "734 B", "12.5 KB", "3.40 MB" (powers of 1,000, as file managers show them). */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[u]}`;
}

export const RUN_COLUMNS: readonly RunColumn[] = [
  { key: 'id', label: 'Run', title: 'Experiment · start time (the run folder is in the row\'s tooltip)', numeric: false, value: (r) => r.id, text: (r) => runLabel(r) },
  { key: 'status', label: 'Status', title: 'Status (a running run whose process is gone reads crashed)', numeric: false, value: (r) => r.status, text: (r) => r.status },
  { key: 'best_val_loss', label: 'Best val loss', title: 'Lowest validation loss', numeric: true, value: (r) => r.summary.best_val_loss, text: (r) => num(r.summary.best_val_loss, formatLossCell) },
  { key: 'best_val_step', label: 'at step', title: 'Step of the lowest validation loss (its first occurrence)', numeric: true, value: (r) => r.summary.best_val_step, text: (r) => num(r.summary.best_val_step, int) },
  { key: 'last_val_loss', label: 'Last val loss', title: 'Validation loss of the last evaluation', numeric: true, value: (r) => r.summary.last_val_loss, text: (r) => num(r.summary.last_val_loss, formatLossCell) },
  { key: 'steps', label: 'Steps', title: 'Optimizer steps done', numeric: true, value: (r) => r.summary.steps, text: (r) => `${int(r.summary.steps)} / ${int(r.summary.max_steps)}` },
  { key: 'tokens', label: 'Tokens', title: 'Tokens trained on', numeric: true, value: (r) => r.summary.tokens, text: (r) => num(r.summary.tokens, int) },
  { key: 'wall_time_s', label: 'Wall time', title: 'Time of the last logged row (training and evaluation, across resumes)', numeric: true, value: (r) => r.summary.wall_time_s, text: (r) => num(r.summary.wall_time_s, formatDuration) },
  { key: 'tokens_per_s', label: 'Tokens/s', title: 'Tokens ÷ wall time', numeric: true, value: (r) => r.summary.tokens_per_s, text: (r) => num(r.summary.tokens_per_s, (v) => formatValue(Math.round(v))) },
  { key: 'adapter_bytes', label: 'Adapter size', title: 'Size of the final adapter folder (— : the run wrote none)', numeric: true, value: (r) => r.summary.adapter_bytes, text: (r) => num(r.summary.adapter_bytes, formatBytes) },
];

export const DEFAULT_SORT = { key: 'best_val_loss', dir: 'asc' as SortDir };

/**
 * Runs ordered by a column: numbers numerically, text by localeCompare; unknown values (null)
 * last in both directions; ties by run id, so the order is total and stable.
 */
export function sortRuns(runs: readonly CompareRun[], key: string, dir: SortDir): CompareRun[] {
  const col = RUN_COLUMNS.find((c) => c.key === key) ?? RUN_COLUMNS[0];
  const sign = dir === 'asc' ? 1 : -1;
  return [...runs].sort((a, b) => {
    const va = col.value(a);
    const vb = col.value(b);
    if (va === null || vb === null) return va === vb ? a.id.localeCompare(b.id) : va === null ? 1 : -1;
    const c = typeof va === 'number' && typeof vb === 'number' ? va - vb : String(va).localeCompare(String(vb));
    return c !== 0 ? sign * c : a.id.localeCompare(b.id);
  });
}

/** Every hyperparameter key of the runs, in first-seen order. */
export function hyperparameterKeys(runs: readonly CompareRun[]): string[] {
  const keys = new Set<string>();
  for (const r of runs) for (const k of Object.keys(r.hyperparameters)) keys.add(k);
  return [...keys];
}

/** Keys whose value is not the same in every run (a key some runs lack counts as different). */
export function differingKeys(runs: readonly CompareRun[]): string[] {
  return hyperparameterKeys(runs).filter((k) => {
    const first = JSON.stringify(runs[0]?.hyperparameters[k]);
    return runs.some((r) => !(k in r.hyperparameters) || JSON.stringify(r.hyperparameters[k]) !== first);
  });
}

/** A hyperparameter as a cell shows it. */
export function hyperText(v: HyperparameterValue | undefined): string {
  if (v === undefined) return DASH;
  if (v === null) return 'null';
  if (typeof v === 'number') return formatValue(v);
  return String(v);
}

/** One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF; quotes doubled. */
export function csvField(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Column names of the CSV export besides the hyperparameters (machine-readable units). */
export const CSV_COLUMNS = ['id', 'name', 'status', 'best_val_loss', 'best_val_step', 'last_val_loss', 'steps', 'max_steps', 'tokens', 'wall_time_s', 'tokens_per_s', 'adapter_bytes', 'run_dir'] as const;

/**
 * The runs table as CSV (RFC 4180, CRLF line ends), rows in the given order: the table's
 * numbers unformatted (seconds, bytes, full precision; empty when unknown), then every
 * hyperparameter of the runs (`lora.r`, `training.learning_rate`, …).
 */
export function runsCsv(runs: readonly CompareRun[]): string {
  const keys = hyperparameterKeys(runs);
  const lines = [[...CSV_COLUMNS, ...keys].map(csvField).join(',')];
  for (const r of runs) {
    const s = r.summary;
    const fixed = [r.id, r.name, r.status, s.best_val_loss, s.best_val_step, s.last_val_loss, s.steps, s.max_steps, s.tokens, s.wall_time_s, s.tokens_per_s, s.adapter_bytes, r.run_dir];
    lines.push([...fixed, ...keys.map((k) => r.hyperparameters[k])].map(csvField).join(','));
  }
  return lines.join('\r\n') + '\r\n';
}
