/**
 * What every backend shares: creating a sweep folder for an experiment file, the points still
 * to run, and the `loralab` command line a task runs.
 */
import { mkdir, stat } from 'node:fs/promises';
import * as nodePath from 'node:path';
import { loadSweep, parseExperiment } from '../experiment/index';
import { type SweepJson, type SweepLaunch, type SweepPointState, readSweep, runTimestamp, sanitizeRunName, writeSweep } from '../runs/index';

/**
 * Creates `<runsDir>/<name>-sweep-<YYYYMMDD-HHMMSS>[-k]/sweep.json` for experiment `file` (its
 * problems thrown first, with their lines). `parallel` is the file's `sweep.parallel`.
 */
export async function createSweepDir(file: string, runsDir: string): Promise<{ dir: string; sweep: SweepJson; parallel: number }> {
  const abs = nodePath.resolve(file);
  const { text, name, spec, points } = await loadSweep(file);
  parseExperiment(text, file); // the file's problems, with their lines
  const now = new Date();
  const base = nodePath.join(nodePath.resolve(runsDir), `${sanitizeRunName(name)}-sweep-${runTimestamp(now)}`);
  let dir = base;
  for (let k = 2; await stat(dir).then(() => true, () => false); k++) dir = `${base}-${k}`;
  await mkdir(dir, { recursive: true });
  const sweep: SweepJson = {
    version: 1,
    name,
    experiment_file: abs,
    method: spec.method,
    parameters: Object.fromEntries(spec.parameters),
    seeds: spec.seeds,
    metric: 'val_loss',
    created_at: now.toISOString(),
    updated_at: now.toISOString(),
    status: 'running',
    pid: process.pid,
    points: points.map((p) => ({ index: p.index, name: p.name, values: p.values, run_dir: null })),
  };
  await writeSweep(dir, sweep);
  return { dir, sweep, parallel: spec.parallel };
}

/** A new sweep folder for `file`, or the existing one `resume` (a folder or its sweep.json). */
export async function openOrCreateSweep(req: { file?: string; resume?: string; runsDir: string }): Promise<{ dir: string; sweep: SweepJson; parallel: number | undefined }> {
  if (req.resume) {
    const dir = nodePath.resolve(req.resume).replace(/[/\\]sweep\.json$/, '');
    return { dir, sweep: await readSweep(dir), parallel: undefined };
  }
  if (!req.file) throw new Error('a sweep needs an experiment file or a sweep folder to resume');
  return createSweepDir(req.file, req.runsDir);
}

/**
 * Points still to run: those whose run is not finished (pending, stopped, crashed, or `running`
 * with no live task), less the points a scheduler still holds (`live`).
 */
export function unfinished(points: readonly SweepPointState[], live: ReadonlySet<number> = new Set()): number[] {
  return points.filter((p) => p.status !== 'completed' && p.status !== 'failed' && !live.has(p.index)).map((p) => p.index);
}

/** Records a submission in sweep.json (the submitter is its only writer). */
export async function recordLaunch(dir: string, launch: SweepLaunch): Promise<SweepJson> {
  const sweep = await readSweep(dir);
  sweep.launches = [...(sweep.launches ?? []), launch];
  sweep.status = 'running';
  await writeSweep(dir, sweep);
  return sweep;
}

/**
 * `loralab` as this process runs it, for a task on a node sharing this filesystem: this Node
 * binary, its options (e.g. `--import tsx` from a source checkout) and the CLI entry, all
 * absolute.
 */
export function selfCommand(): string[] {
  const args = [...process.execArgv];
  return [process.execPath, ...args, nodePath.resolve(process.argv[1])];
}

/** A word quoted for a POSIX shell. */
export function shQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/u.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
