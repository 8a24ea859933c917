/** Listing the runs of a runs dir, for the CLI (`loralab runs`) and the Experiments view. */
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { RunError } from './errors';
import { errnoCode } from './fsutil';
import { lastMetrics } from './metrics';
import { RUN_FILE, effectiveStatus, parseRunJson } from './run';
import type { RunList, RunProblem, RunSummary } from './types';

/** The runs dir the CLI uses when none is given: `.loralab/runs` under `cwd`. */
export function defaultRunsDir(cwd: string = process.cwd()): string {
  return nodePath.join(cwd, '.loralab', 'runs');
}

/**
 * Reads one run folder into a summary: status through `effectiveStatus` (a `running` run whose
 * process is gone on this host reads `crashed`), `step` the larger of run.json's and the last
 * metrics row's, and the last logged train / validation losses. Throws `RunError` for a folder
 * without a valid `run.json`.
 */
export async function summarizeRun(runDir: string): Promise<RunSummary> {
  const dir = nodePath.resolve(runDir);
  const file = nodePath.join(dir, RUN_FILE);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') throw new RunError(dir, `${dir}: no run.json (not a run folder, or one still being created)`, { cause: e });
    throw new RunError(dir, `${file}: cannot be read (${errnoCode(e) ?? String(e)})`, { cause: e });
  }
  const run = parseRunJson(text, file);
  const last = await lastMetrics(dir);
  return {
    id: nodePath.basename(dir),
    name: run.name,
    status: effectiveStatus(run),
    step: Math.max(run.step, last.step ?? 0),
    max_steps: run.max_steps,
    train_loss: last.train_loss,
    val_loss: last.val_loss,
    run_dir: dir,
    created_at: run.created_at,
  };
}

/**
 * Every run in `runsDir`, newest first (by `created_at`, then id). Folders that cannot be read
 * as runs (no or damaged `run.json`) are not listed but reported in `problems` with a one-line
 * reason; hidden entries (`.…`) and plain files are ignored. A missing `runsDir` gives an empty
 * list. Throws `RunError` when `runsDir` exists but is not a folder.
 */
export async function listRuns(runsDir: string): Promise<RunList> {
  const root = nodePath.resolve(runsDir);
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fsp.readdir(root, { withFileTypes: true });
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return Object.assign([] as RunSummary[], { problems: [] });
    if (errnoCode(e) === 'ENOTDIR') throw new RunError(root, `${root}: not a folder; --runs-dir must name the folder that holds the run folders`, { cause: e });
    throw e;
  }
  const top = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => nodePath.join(root, e.name));
  // A sweep folder (sweep.json, src/runs/sweep.ts) holds ordinary run folders: list those.
  const dirs = (
    await Promise.all(
      top.map(async (dir) => {
        const isSweep = await fsp.stat(nodePath.join(dir, 'sweep.json')).then((st) => st.isFile(), () => false);
        if (!isSweep) return [dir];
        const inner = await fsp.readdir(dir, { withFileTypes: true }).catch(() => []);
        return inner.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => nodePath.join(dir, e.name));
      }),
    )
  ).flat();
  const results = await Promise.all(
    dirs.map(async (dir): Promise<RunSummary | RunProblem> => {
      try {
        return await summarizeRun(dir);
      } catch (e) {
        const reason = (e instanceof Error ? e.message : String(e)).split('\n')[0];
        return { run_dir: dir, reason };
      }
    }),
  );
  const runs = results.filter((r): r is RunSummary => 'id' in r);
  const problems = results.filter((r): r is RunProblem => !('id' in r)).sort((a, b) => a.run_dir.localeCompare(b.run_dir));
  runs.sort((a, b) => (a.created_at === b.created_at ? b.id.localeCompare(a.id) : a.created_at < b.created_at ? 1 : -1));
  return Object.assign(runs, { problems });
}
