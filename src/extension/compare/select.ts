/**
 * Which runs "Compare Runs" compares: the runs selected in the Experiments tree (a run, a
 * checkpoint's run, every run of a selected experiment), or, from the palette or with fewer than
 * two runs, the user's multi-select quick pick. Plain; the quick pick is injected.
 */
import * as nodePath from 'node:path';
import type { ComparePreset } from '../../protocol/compare';
import { isSweepDir, sweepState } from '../../runs/sweep';
import type { Target } from '../experiments/model';
import { runLabel } from '../../protocol/run-label';
import { describeProgress } from '../format';
import { samePath } from '../runs/location';
import type { RunEntry } from '../runs/watcher';
import { NoTargetError, type PickItem } from '../targets';

export interface CompareSelectContext {
  /** Every known run, newest first. */
  runs(): readonly RunEntry[];
  /** Multi-select quick pick (items with `picked` start checked); undefined when dismissed. */
  pickMany<T>(items: (PickItem<T> & { picked?: boolean })[], placeHolder: string): Promise<T[] | undefined>;
  platform?: NodeJS.Platform;
}

/**
 * Run folders the targets stand for, in the order of `runs` (newest first), without duplicates.
 * A run folder the index does not know yet (just created) is kept, after the known ones.
 */
export function runsOfTargets(targets: readonly Target[], runs: readonly RunEntry[], platform?: NodeJS.Platform): string[] {
  const same = (a: string, b: string) => samePath(a, b, platform);
  const wanted: string[] = [];
  for (const t of targets) {
    if (t.kind === 'run' || t.kind === 'checkpoint') wanted.push(t.runDir);
    else if (t.kind === 'experiment') wanted.push(...runs.filter((r) => r.experiment_file !== null && same(r.experiment_file, t.file)).map((r) => r.run_dir));
  }
  const known = runs.filter((r) => wanted.some((w) => same(w, r.run_dir))).map((r) => r.run_dir);
  const unknown = wanted.filter((w, i) => !runs.some((r) => same(w, r.run_dir)) && wanted.findIndex((x) => same(x, w)) === i);
  return [...known, ...unknown];
}

/**
 * The run folders to compare. `target` is the node the command was invoked on, `selection` the
 * tree's selection (VS Code passes both to a context-menu command when several nodes are
 * selected). Two or more runs from them are compared at once; otherwise the quick pick opens
 * with them checked. Undefined when the pick was dismissed or left empty.
 * @throws NoTargetError when there is no run at all
 */
export async function resolveCompareRuns(target: Target | undefined, selection: readonly Target[] | undefined, ctx: CompareSelectContext): Promise<string[] | undefined> {
  const runs = ctx.runs();
  const targets = selection?.length ? selection : target ? [target] : [];
  const chosen = runsOfTargets(targets, runs, ctx.platform);
  if (chosen.length >= 2) return chosen;
  if (!runs.length) throw new NoTargetError('there are no runs to compare yet; start a run of an experiment first');
  const picked = await ctx.pickMany(
    runs.map((r) => ({
      label: runLabel(r),
      description: [r.status, describeProgress(r)].join(' · '),
      detail: r.experiment_file ?? r.run_dir,
      value: r.run_dir,
      picked: chosen.some((c) => samePath(c, r.run_dir, ctx.platform)),
    })),
    'Runs to compare (select two or more)',
  );
  return picked?.length ? picked : undefined;
}

/**
 * What "Compare Sweep" opens for a sweep node of the Experiments tree (its `path` is the sweep
 * folder): the runs `sweep.json` lists (points not started yet left out) and the preset that
 * puts the scatter of `training.learning_rate` against best validation loss, one series per
 * LoRA rank, in view — the plot "LoRA Without Regret" uses.
 * @throws NoTargetError when the node is not a sweep folder's, or no point has a run yet
 */
export async function sweepCompareRuns(node: unknown): Promise<{ runDirs: string[]; preset: ComparePreset }> {
  const dir = typeof node === 'object' && node !== null && typeof (node as { path?: unknown }).path === 'string' ? (node as { path: string }).path : undefined;
  if (!dir || !(await isSweepDir(dir))) throw new NoTargetError('Compare Sweep works on a sweep in the Experiments view (a folder with sweep.json)');
  const points = await sweepState(dir);
  const runDirs = points.map((p) => p.run_dir).filter((d): d is string => d !== null);
  if (!runDirs.length) throw new NoTargetError(`${nodePath.basename(dir)}: no point of the sweep has started a run yet`);
  return { runDirs, preset: { scatter_key: 'training.learning_rate', focus: 'scatter' } };
}
