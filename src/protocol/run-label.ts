/**
 * How a run is named to a person, one scheme everywhere: under its experiment (the Experiments
 * tree) by its start time alone, `2026-12-06 23:39:11`; anywhere else (Adapters view, Compare,
 * notifications, pickers) by experiment name and start time, `tiny · 2026-12-06 23:39:11`.
 * The run folder's name (its id, `tiny-20261206-233911`) stays in tooltips and paths. Imported by
 * the extension host and the webviews alike.
 */

/** A run id's `-YYYYMMDD-HHMMSS[-k]` suffix (`runTimestamp` in src/runs/run.ts: local time, `-k` for the k-th run of that second). */
const RUN_ID_TIME = /-(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})(?:-(\d+))?$/;

/**
 * The local date and time a run id carries, `2026-01-02 10:00:00` (` #k` added for the k-th run
 * started in the same second). An id without that suffix (a renamed folder) is returned as it is.
 */
export function runTimeLabel(id: string): string {
  const m = RUN_ID_TIME.exec(id);
  if (!m) return id;
  const [, y, mo, d, h, mi, sec, k] = m;
  return `${y}-${mo}-${d} ${h}:${mi}:${sec}${k ? ` #${k}` : ''}`;
}

/**
 * A moment as local date and time in the same scheme as {@link runTimeLabel}, `2026-11-29
 * 10:15:00` (e.g. a run's `created_at` on its dashboard). Not the locale's format: one scheme
 * everywhere. An input that does not parse as a date is returned as it is.
 * @param iso an ISO 8601 timestamp (or anything `Date` parses).
 */
export function dateTimeLabel(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/**
 * A run named outside its experiment: `tiny · 2026-12-06 23:39:11` (experiment name, then
 * `runTimeLabel`). An id without the time suffix is returned as it is (it already says what it is).
 */
export function runLabel(run: { id: string; name: string }): string {
  const time = runTimeLabel(run.id);
  return time === run.id ? run.id : `${run.name} · ${time}`;
}

/**
 * `runLabel` from a run id alone, where the experiment name is not at hand (an adapter's path):
 * the id without its time suffix is the experiment name (run folders are named `<name>-<runTimestamp>`, src/runs/run.ts), so
 * `tiny-20261206-233911` → `tiny · 2026-12-06 23:39:11`. An id without the suffix is returned as it is.
 */
export function runLabelOfId(id: string): string {
  return runLabel({ id, name: id.replace(RUN_ID_TIME, '') });
}
