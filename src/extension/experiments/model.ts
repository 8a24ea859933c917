/**
 * The Experiments view as plain data: experiment files → their runs → checkpoints, with the
 * label, description, icon and `contextValue` of every node. `tree.ts` only turns these nodes
 * into `vscode.TreeItem`s; the `when` clauses of `package.json` `menus` match the
 * `contextValue`s listed in `CONTEXT_VALUES`. Plain; no `vscode` import.
 */
import * as nodePath from 'node:path';
import type { RunStatus } from '../../runs/index';
import { EXPERIMENT_FILE_SUFFIX } from '../../experiment/index';
import { runLabel, runTimeLabel } from '../../protocol/run-label';
import { describeProgress, formatLoss } from '../format';
import { samePath } from '../runs/location';
import type { RunEntry } from '../runs/watcher';
import type { ClusterState } from '../../launch/status';
import type { ClusterView } from './cluster';
import type { StartArgs } from '../../protocol/trainer';

/** What a node stands for; commands invoked on a node receive it (see `targets.ts`). */
export type Target =
  | { kind: 'experiment'; file: string }
  | { kind: 'run'; runDir: string }
  | { kind: 'checkpoint'; runDir: string; dir: string; step: number }
  | { kind: 'group' };

/** Statuses from which `loralab train --resume` continues (from the last checkpoint, else from step 0). */
export const RESUMABLE: readonly RunStatus[] = ['stopped', 'crashed', 'failed'];

const RUN_STATUSES: readonly RunStatus[] = ['running', 'completed', 'failed', 'stopped', 'crashed'];

/**
 * Whether Resume Run applies: a stopped, crashed or failed run that recorded its config. A start
 * that failed before training (`config_recorded` false) has nothing to resume: Start Run on its
 * experiment tries again.
 */
export function canResume(run: Pick<RunEntry, 'status' | 'config_recorded'>): boolean {
  return RESUMABLE.includes(run.status) && run.config_recorded !== false;
}

/** `run-<status>`, with `-resumable` when Resume Run applies (a resumable status, and `resumable` not false). */
export function runContextValue(status: RunStatus, resumable = true): string {
  return `run-${status}${resumable && RESUMABLE.includes(status) ? '-resumable' : ''}`;
}

/** Every `contextValue` the tree produces. */
export const CONTEXT_VALUES: readonly string[] = ['experiment', 'experiment-runs', ...RUN_STATUSES.map((s) => runContextValue(s)), runContextValue('failed', false), 'checkpoint', 'runs-group', 'sweep'];

/** A codicon id (`loading~spin` spins) and an optional theme color id. */
export interface NodeIcon {
  id: string;
  color?: string;
}

export interface TreeNode {
  /** Stable across refreshes (keeps selection and expansion). */
  id: string;
  label: string;
  description?: string;
  tooltip?: string;
  /** What a screen reader says (the status is otherwise only in the icon). */
  ariaLabel: string;
  icon: NodeIcon;
  contextValue: string;
  collapsible: 'none' | 'collapsed' | 'expanded';
  children: TreeNode[];
  target: Target;
  /** File or folder the node stands for. */
  path?: string;
}

export interface ExperimentFile {
  /** Absolute path of the `*.lora.json` file. */
  file: string;
  /** The workspace folder holding it (labels are relative to it), or null. */
  workspaceFolder: string | null;
}

export interface ExperimentsInput {
  experiments: readonly ExperimentFile[];
  /** Runs of every followed runs dir, in any order. */
  runs: readonly RunEntry[];
  /** Experiment files whose trainer is loading (no run folder yet). */
  starting?: readonly string[];
  /** For path comparison (case-insensitive on win32 / darwin). */
  platform?: NodeJS.Platform;
  /** Cluster state of a sweep folder (Slurm / Kubernetes sweeps; `ClusterPoller.view`), if known. */
  cluster?: (sweepDir: string) => ClusterView | undefined;
}

export const STATUS_ICONS: Record<RunStatus, NodeIcon> = {
  running: { id: 'loading~spin' },
  completed: { id: 'pass', color: 'testing.iconPassed' },
  failed: { id: 'error', color: 'testing.iconFailed' },
  stopped: { id: 'debug-pause' },
  crashed: { id: 'warning', color: 'list.warningForeground' },
};

const STATUS_WORDS: Record<RunStatus, string> = {
  running: 'running',
  completed: 'completed',
  failed: 'failed',
  stopped: 'stopped',
  crashed: 'crashed (its process is gone)',
};

/** Newest first, as `listRuns` orders them. */
const newestFirst = (a: RunEntry, b: RunEntry) => (a.created_at === b.created_at ? b.id.localeCompare(a.id) : a.created_at < b.created_at ? 1 : -1);

/** The top-level nodes: one per experiment file (sorted by path), then "Other runs" when some runs belong to none. */
export function buildTree(input: ExperimentsInput): TreeNode[] {
  const same = (a: string, b: string) => samePath(a, b, input.platform);
  const runs = [...input.runs].sort(newestFirst);
  const claimed = new Set<RunEntry>();
  const experiments = [...input.experiments].sort((a, b) => (a.workspaceFolder ?? '').localeCompare(b.workspaceFolder ?? '') || a.file.localeCompare(b.file));
  const nodes = experiments.map((exp) => {
    const mine = runs.filter((r) => r.experiment_file !== null && same(r.experiment_file, exp.file));
    mine.forEach((r) => claimed.add(r));
    const starting = (input.starting ?? []).some((f) => same(f, exp.file));
    return experimentNode(exp, mine, starting, input.cluster);
  });
  const others = runs.filter((r) => !claimed.has(r));
  if (others.length) {
    nodes.push({
      id: 'group:other-runs',
      label: 'Other runs',
      description: `${others.length} without an experiment file in this workspace`,
      ariaLabel: `Other runs, ${others.length} without an experiment file in this workspace`,
      tooltip: 'Runs whose experiment file is not in this workspace (moved, deleted, or outside the folders)',
      icon: { id: 'history' },
      contextValue: 'runs-group',
      collapsible: 'collapsed',
      children: others.map((r) => runNode(r, 'name')),
      target: { kind: 'group' },
    });
  }
  return nodes;
}

function experimentNode(exp: ExperimentFile, runs: RunEntry[], starting: boolean, cluster?: ExperimentsInput['cluster']): TreeNode {
  const base = nodePath.basename(exp.file);
  const running = runs.filter((r) => r.status === 'running').length;
  const description = [relativeFolder(exp), starting ? 'starting…' : running ? `${running} running` : '']
    .filter(Boolean)
    .join(' · ');
  return {
    // VS Code remembers a tree item's expansion by id; a leaf that gains runs would stay
    // collapsed, so an experiment with runs gets its own id (and starts expanded).
    id: runs.length ? `experiment-runs:${exp.file}` : `experiment:${exp.file}`,
    label: base,
    description: description || undefined,
    ariaLabel: [base, 'experiment', description].filter(Boolean).join(', '),
    tooltip: `${exp.file}\n${runs.length === 1 ? '1 run' : `${runs.length} runs`}${starting ? '; a trainer is loading the model and data' : ''}`,
    icon: { id: starting ? 'loading~spin' : 'beaker' },
    contextValue: runs.length ? 'experiment-runs' : 'experiment',
    collapsible: runs.length ? 'expanded' : 'none',
    children: withSweeps(runs, cluster),
    target: { kind: 'experiment', file: exp.file },
    path: exp.file,
  };
}

/** Sweep folders are named `<name>-sweep-<YYYYMMDD-HHMMSS>[-k]` (src/launch/local.ts). */
const SWEEP_DIR = /-sweep-\d{8}-\d{6}(-\d+)?$/;

/**
 * An experiment's runs, those of each sweep folder grouped under one sweep node (newest
 * first, like runs) whose best run — the lowest last val_loss (else train_loss) among completed
 * runs, as `bestPoint` in src/runs/sweep.ts — is marked "★ best". For a cluster sweep
 * (`cluster` knows it), each run's description starts with its cluster state (`pending`,
 * `running`, `done`, `failed`, `unfinished`), the sweep's description counts the points the
 * scheduler still holds, and a scheduler that could not be asked is a line of its tooltip.
 */
export function withSweeps(runs: RunEntry[], cluster?: ExperimentsInput['cluster']): TreeNode[] {
  const out: TreeNode[] = [];
  const sweeps = new Map<string, RunEntry[]>();
  for (const r of runs) {
    const parent = nodePath.dirname(r.run_dir);
    if (!SWEEP_DIR.test(nodePath.basename(parent))) {
      out.push(runNode(r, 'time'));
      continue;
    }
    if (!sweeps.has(parent)) out.push({ id: `sweep:${parent}` } as TreeNode); // placeholder keeps the order
    sweeps.set(parent, [...(sweeps.get(parent) ?? []), r]);
  }
  return out.map((n) => {
    if (!n.id.startsWith('sweep:')) return n;
    const dir = n.id.slice('sweep:'.length);
    const members = sweeps.get(dir)!;
    const loss = (r: RunEntry) => r.val_loss ?? r.train_loss;
    let best: RunEntry | undefined;
    for (const r of members) if (r.status === 'completed' && loss(r) !== null && Number.isFinite(loss(r)) && (!best || loss(r)! < loss(best)!)) best = r;
    const done = members.filter((r) => r.status === 'completed').length;
    const running = members.filter((r) => r.status === 'running').length;
    const onCluster = cluster?.(dir);
    const queued = onCluster?.backend ? clusterSummary(onCluster) : '';
    const description = [`${done}/${members.length} completed`, running ? `${running} running` : '', best ? `best ${formatLoss(loss(best)!)}` : '', queued].filter(Boolean).join(' · ');
    const children = members.map((r) => {
      const node = withClusterState(runNode(r), onCluster?.runs.get(nodePath.resolve(r.run_dir)));
      return r === best ? { ...node, description: `★ best · ${node.description ?? ''}`, ariaLabel: `${node.ariaLabel}, best of the sweep`, icon: { id: 'star-full', color: 'charts.yellow' } } : node;
    });
    return {
      id: `sweep:${dir}`,
      label: nodePath.basename(dir),
      description,
      ariaLabel: `sweep ${nodePath.basename(dir)}, ${description}`,
      tooltip: `${dir}\nsweep.json: the grid and each point's run; the best run has the lowest final validation loss${onCluster?.error ? `\ncluster state unknown: ${onCluster.error}` : ''}`,
      icon: { id: running ? 'loading~spin' : 'symbol-array' },
      contextValue: 'sweep',
      collapsible: 'collapsed' as const,
      children,
      target: { kind: 'group' as const },
      path: dir,
    };
  });
}

/** `slurm: 2 pending, 1 running` — the points the scheduler still holds ('' when none). */
function clusterSummary(v: ClusterView): string {
  const held = (['pending', 'running'] as const).filter((s) => v.counts[s]).map((s) => `${v.counts[s]} ${s}`);
  return held.length ? `${v.backend}: ${held.join(', ')}` : '';
}

/** A sweep run's node with its cluster state first in the description, tooltip and screen-reader label. */
function withClusterState(node: TreeNode, state: ClusterState | undefined): TreeNode {
  if (!state) return node;
  return {
    ...node,
    description: node.description ? `${state} · ${node.description}` : state,
    ariaLabel: `${node.ariaLabel}, cluster: ${state}`,
    tooltip: `${node.tooltip ?? ''}\ncluster: ${state}`,
  };
}

/** A run's label under its experiment (which already names it): its start time, so `step N/M · loss X` stays visible at the sidebar's default width. */
export { runTimeLabel } from '../../protocol/run-label';

/**
 * One run: `step 40/120 · loss 3.217`, a status icon, its checkpoints as children. Labelled by
 * its start time under an experiment (`label: 'time'`), by experiment name and time where the
 * parent does not name the experiment (`'name'`: Other runs), by its id in a sweep (whose run
 * names carry the point).
 */
export function runNode(run: RunEntry, label: 'time' | 'name' | 'id' = 'id'): TreeNode {
  const lines = [run.id, `${STATUS_WORDS[run.status]}`, describeProgress(run)];
  if (run.val_loss !== null) lines[2] += ` · val loss ${formatLoss(run.val_loss)}`;
  if (run.status === 'failed' && run.error) lines.push(`error: ${run.error}`);
  if (RESUMABLE.includes(run.status) && !canResume(run)) {
    lines.push('It failed before training started: fix the problem, then Start Run on its experiment tries again');
  } else if (RESUMABLE.includes(run.status)) {
    const last = run.checkpoints.at(-1);
    lines.push(last ? `Resume Run continues from the checkpoint at step ${last.step}` : 'Resume Run starts over (no checkpoint was written)');
  }
  lines.push(run.run_dir);
  return {
    id: `run:${run.run_dir}`,
    label: label === 'time' ? runTimeLabel(run.id) : label === 'name' ? runLabel(run) : run.id,
    // A start that failed before training has no steps to show ("step 0/0"): say what happened.
    description: run.config_recorded === false ? 'failed before training started' : describeProgress(run),
    ariaLabel: `${run.id}, ${STATUS_WORDS[run.status]}, ${run.config_recorded === false ? 'failed before training started' : describeProgress(run)}`,
    tooltip: lines.join('\n'),
    icon: STATUS_ICONS[run.status],
    contextValue: runContextValue(run.status, canResume(run)),
    collapsible: run.checkpoints.length ? 'collapsed' : 'none',
    children: run.checkpoints.map((c) => ({
      id: `checkpoint:${c.dir}`,
      label: `step-${c.step}`,
      tooltip: `checkpoint at step ${c.step}\n${c.dir}`,
      ariaLabel: `checkpoint at step ${c.step}`,
      icon: { id: 'save' },
      contextValue: 'checkpoint',
      collapsible: 'none' as const,
      children: [],
      target: { kind: 'checkpoint' as const, runDir: run.run_dir, dir: c.dir, step: c.step },
      path: c.dir,
    })),
    target: { kind: 'run', runDir: run.run_dir },
    path: run.run_dir,
  };
}

/**
 * The trainer's `StartArgs` for "Continue Training From Here" on a checkpoint: a new run of the
 * experiment file the run was started from, its LoRA weights starting from the checkpoint
 * (`initAdapter`, which overrides the file's `init_adapter`; the file is not changed), in
 * `runsDir`. Null when the run records no experiment file (a run started from elsewhere).
 */
export function continueFromCheckpointArgs(run: Pick<RunEntry, 'experiment_file'>, checkpoint: { dir: string }, runsDir: string): StartArgs | null {
  if (!run.experiment_file) return null;
  return { experimentFile: run.experiment_file, runsDir, initAdapter: checkpoint.dir };
}

/** A checkpoint's validation loss: the last evaluation at or before its step (`valLossAt`, adapters/catalog.ts). */
export interface CheckpointValidation {
  val_loss: number | null;
  val_step: number | null;
}

/**
 * A run's checkpoint nodes with their validation loss (`val loss 2.375`, `(at step 40)` when
 * the evaluation was before the checkpoint's step) and the best one — the lowest validation
 * loss, the earliest on a tie — marked `best` with a star. `vals` is keyed by checkpoint folder;
 * a checkpoint without a value keeps its node as it was.
 */
export function withCheckpointValidation(children: readonly TreeNode[], vals: ReadonlyMap<string, CheckpointValidation>): TreeNode[] {
  let best: { dir: string; loss: number } | null = null;
  for (const c of children) {
    const v = c.target.kind === 'checkpoint' ? vals.get(c.target.dir) : undefined;
    if (v?.val_loss != null && Number.isFinite(v.val_loss) && (!best || v.val_loss < best.loss)) best = { dir: (c.target as { dir: string }).dir, loss: v.val_loss };
  }
  return children.map((c) => {
    if (c.target.kind !== 'checkpoint') return c;
    const v = vals.get(c.target.dir);
    if (v?.val_loss == null) return c;
    const at = v.val_step !== null && v.val_step !== c.target.step ? ` (at step ${v.val_step})` : '';
    const text = `val loss ${formatLoss(v.val_loss)}${at}`;
    const isBest = best?.dir === c.target.dir;
    return {
      ...c,
      description: isBest ? `${text} · best` : text,
      tooltip: `${c.tooltip ?? ''}\nvalidation loss ${v.val_loss}${at}${isBest ? '\nthe lowest validation loss of the run' : ''}`,
      ariaLabel: `${c.ariaLabel}, validation loss ${formatLoss(v.val_loss)}${isBest ? ', best' : ''}`,
      icon: isBest ? { id: 'star-full', color: 'charts.yellow' } : c.icon,
    };
  });
}

/** The experiment file's folder relative to its workspace folder, with '/' ('' at the root; absolute outside a folder). */
export function relativeFolder(exp: ExperimentFile): string {
  const dir = nodePath.dirname(exp.file);
  const rel = exp.workspaceFolder ? nodePath.relative(exp.workspaceFolder, dir) : dir;
  return rel && rel !== '.' ? rel.split(nodePath.sep).join('/') : '';
}

/** Whether a path names an experiment file. */
export function isExperimentFile(path: string): boolean {
  return path.endsWith(EXPERIMENT_FILE_SUFFIX);
}
