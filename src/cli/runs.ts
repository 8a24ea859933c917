/**
 * `loralab runs`: the runs of a runs dir, newest first. Human table on stdout; with `--json`
 * one document `{"runs":[{"id","name","status","step","train_loss","val_loss","run_dir"}]}` on
 * stdout. Folders that cannot be read as runs are reported as warnings on stderr.
 */
import * as nodePath from 'node:path';
import { RunError, defaultRunsDir, listRuns, type RunSummary } from '../runs/index';
import { InputError, emitJson, info, print } from './output';

export interface RunsOptions {
  runsDir?: string;
  json?: boolean;
}

const fmtLoss = (x: number | null) => (x === null ? '-' : x.toFixed(4));

/** Formats the summaries as an aligned text table (header + one line per run). */
export function formatRunsTable(runs: RunSummary[]): string[] {
  const rows = [
    ['ID', 'STATUS', 'STEP', 'TRAIN LOSS', 'VAL LOSS'],
    ...runs.map((r) => [r.id, r.status, `${r.step}/${r.max_steps}`, fmtLoss(r.train_loss), fmtLoss(r.val_loss)]),
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const right = [false, false, true, true, true];
  return rows.map((row) =>
    row
      .map((cell, c) => (right[c] ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
      .join('  ')
      .trimEnd(),
  );
}

export async function runRuns(o: RunsOptions): Promise<void> {
  const runsDir = nodePath.resolve(o.runsDir ?? defaultRunsDir());
  let list;
  try {
    list = await listRuns(runsDir);
  } catch (e) {
    if (e instanceof RunError) throw new InputError(e.message);
    throw e;
  }
  for (const p of list.problems) info(`warning: skipped ${p.run_dir}: ${p.reason}`);
  if (o.json) {
    emitJson({
      runs: list.map((r) => ({ id: r.id, name: r.name, status: r.status, step: r.step, train_loss: r.train_loss, val_loss: r.val_loss, run_dir: r.run_dir })),
    });
    return;
  }
  if (list.length === 0) {
    info(`no runs in ${runsDir}`);
    return;
  }
  for (const line of formatRunsTable(list)) print(line);
  const resumable = list.filter((r) => r.status === 'crashed' || r.status === 'stopped');
  if (resumable.length) info(`resume a stopped or crashed run with: loralab train --resume ${resumable[0].run_dir}`);
}
