/**
 * What a command acts on. From a tree item, a CodeLens or the explorer the target comes with
 * the call; from the palette there is none, so the command takes the active dashboard's run or
 * the active editor's experiment file (or the run folder it lies in), else asks with a
 * quick-pick. Plain; the editor state and the quick-pick are injected.
 */
import * as nodePath from 'node:path';
import { describeProgress } from './format';
import { type ExperimentFile, type Target, isExperimentFile, relativeFolder } from './experiments/model';
import { isInside, samePath } from './runs/location';
import type { RunEntry } from './runs/watcher';

export interface PickItem<T> {
  label: string;
  description?: string;
  detail?: string;
  value: T;
}

export interface TargetContext {
  /** Path of the active text editor's file. */
  activeFile(): string | undefined;
  /** Run folder of the active (focused) dashboard panel. */
  activeDashboardRun(): string | undefined;
  experiments(): readonly ExperimentFile[];
  /** Every known run, newest first. */
  runs(): readonly RunEntry[];
  /** Asks the user; undefined when dismissed. */
  pick<T>(items: PickItem<T>[], placeHolder: string): Promise<T | undefined>;
}

/** A problem the user can fix ("no experiment file…"): shown as a message, not as a failure. */
export class NoTargetError extends Error {
  override name = 'NoTargetError';
}

/**
 * The experiment file to act on: the target's (a run's own experiment file), else the active
 * editor's, else the user's pick. Undefined when the pick was dismissed.
 * @throws NoTargetError when the workspace has no experiment file to pick
 */
export async function resolveExperiment(target: Target | undefined, ctx: TargetContext): Promise<string | undefined> {
  if (target?.kind === 'experiment') return target.file;
  if (target?.kind === 'run' || target?.kind === 'checkpoint') {
    const run = ctx.runs().find((r) => samePath(r.run_dir, target.runDir));
    if (run?.experiment_file) return run.experiment_file;
  }
  const active = ctx.activeFile();
  if (active && isExperimentFile(active)) return active;
  const all = ctx.experiments();
  if (!all.length) throw new NoTargetError('there is no experiment file (*.lora.json) in this workspace; create one with "LoRA Lab: New Experiment"');
  return ctx.pick(
    all.map((e) => ({ label: nodePath.basename(e.file), description: relativeFolder(e), value: e.file })),
    'Experiment to start a run of',
  );
}

export interface RunQuery {
  /** Which runs qualify (e.g. running ones for Stop Run). */
  accept(run: RunEntry): boolean;
  /** Names the qualifying runs in messages: "running run", "resumable run". */
  what: string;
  /** Take a running, else the newest, qualifying run of an experiment without asking (Open Dashboard). */
  newest?: boolean;
  /** When exactly one run in the workspace qualifies, take it without asking (Stop Run). */
  single?: boolean;
}

/**
 * The run to act on: the target's run (a checkpoint's run); for an experiment target its
 * qualifying runs (the newest with `query.newest` or when there is one, else a pick among them);
 * without a target the active dashboard's run, the run folder the active editor's file lies in,
 * or the active experiment file's runs, when they qualify; else a pick among every qualifying
 * run. Undefined when the pick was dismissed.
 * @throws NoTargetError when no run qualifies
 */
export async function resolveRun(target: Target | undefined, ctx: TargetContext, query: RunQuery): Promise<RunEntry | undefined> {
  const runs = ctx.runs();
  const byDir = (dir: string) => runs.find((r) => samePath(r.run_dir, dir));
  if (target?.kind === 'run' || target?.kind === 'checkpoint') {
    const run = byDir(target.runDir);
    if (!run) throw new NoTargetError(`${target.runDir}: no such run (deleted, or not in a runs folder of this workspace)`);
    return run;
  }
  let experiment = target?.kind === 'experiment' ? target.file : undefined;
  if (!target) {
    const dash = ctx.activeDashboardRun();
    const fromDash = dash ? byDir(dash) : undefined;
    if (fromDash && query.accept(fromDash)) return fromDash;
    const active = ctx.activeFile();
    if (active) {
      const holder = runs.find((r) => isInside(active, r.run_dir));
      if (holder && query.accept(holder)) return holder;
      if (isExperimentFile(active)) experiment = active;
    }
  }
  const qualifying = runs.filter(query.accept);
  if (experiment) {
    const mine = qualifying.filter((r) => r.experiment_file !== null && samePath(r.experiment_file, experiment));
    // Open Dashboard: a run in progress first (the one the user is watching), else the newest.
    if (mine.length === 1 || (mine.length > 1 && query.newest)) return mine.find((r) => r.status === 'running') ?? mine[0];
    if (mine.length > 1) return ctx.pick(mine.map(runItem), `${nodePath.basename(experiment)}: which ${query.what}?`);
    if (target) throw new NoTargetError(`${nodePath.basename(experiment)} has no ${query.what}`);
  }
  if (!qualifying.length) throw new NoTargetError(`there is no ${query.what}`);
  if (qualifying.length === 1 && query.single) return qualifying[0];
  return ctx.pick(qualifying.map(runItem), `Which ${query.what}?`);
}

function runItem(run: RunEntry): PickItem<RunEntry> {
  return { label: run.id, description: `${run.status} · ${describeProgress(run)}`, detail: run.run_dir, value: run };
}

