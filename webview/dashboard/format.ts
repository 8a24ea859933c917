/** Number and duration formatting for the dashboard's axes, tooltips and tables (dates: src/protocol/run-label.ts `dateTimeLabel`). */

/** Compact axis label: 0.0002 → "2e-4", 12345 → "12,345", 2.3456 → "2.346". */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) return v.toExponential(2).replace(/\.?0+e/, 'e').replace('e+', 'e');
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  return String(Number(v.toPrecision(4)));
}

/** Value in a tooltip or table: more digits than a tick. */
export function formatValue(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) return v.toExponential(4).replace(/\.?0+e/, 'e').replace('e+', 'e');
  if (a >= 1000) return v.toLocaleString('en-US', { maximumFractionDigits: 1 });
  return String(Number(v.toPrecision(6)));
}

/** "45s", "3m 07s", "2h 05m 09s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (h > 0) return `${h}h ${pad(m)}m ${pad(sec)}s`;
  if (m > 0) return `${m}m ${pad(sec)}s`;
  return `${sec}s`;
}
