/**
 * The handlers of the command table (`manifest.ts`), registered in one loop. A handler gets
 * the target the command was invoked on (tree node, CodeLens / explorer / editor-title URI, a
 * dashboard's run) as a `Target`, or nothing from the palette; `targets.ts` then picks the
 * active editor's experiment or run, or asks.
 */
import * as vscode from 'vscode';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import * as nodePath from 'node:path';
import { type ExperimentConfig, ExperimentError, loadExperiment } from '../experiment/index';
import { startRunBlocker } from './experiments/problems';
import { type CommandId, COMMANDS } from './manifest';
import { compareRuns, compareSweep } from './compare/command';
import type { LoraLab } from './context';
import { RESUMABLE, type Target, canResume, continueFromCheckpointArgs, isExperimentFile } from './experiments/model';
import { newExperiment } from './experiments/newExperiment';
import { startSweep } from './experiments/sweep';
import { samePath } from './runs/location';
import type { RunEntry } from './runs/watcher';
import { evaluateSelection, runEvalCases, showTokenLoss } from './evaluation/register';
import { adapterCommands } from './adapters/commands';
import { mergeCommands } from './merge/register';
import { NoTargetError, resolveExperiment, resolveRun } from './targets';

/**
 * `selection`: every selected tree node when the tree has several selected (VS Code's second
 * argument), as targets; `selected`: the same nodes as VS Code passed them (Adapters-view nodes);
 * `args`: every argument as VS Code passed it (a CodeLens's `arguments`, in order).
 */
type Handler = (lab: LoraLab, target: Target | undefined, selection?: Target[], arg?: unknown, selected?: unknown[], args?: unknown[]) => Promise<void>;

const HANDLERS: { [K in CommandId]: Handler } = {
  'loralab.newExperiment': (lab) => newExperiment(lab),
  'loralab.startRun': startRun,
  'loralab.stopRun': stopRun,
  'loralab.resumeRun': resumeRun,
  'loralab.openDashboard': async (lab, target) => {
    if (target?.kind === 'run') return lab.dashboards.show(target.runDir); // may be too new for the runs index
    const run = await resolveRun(target, lab.targetContext(), { accept: () => true, what: 'run', newest: true });
    if (run) lab.dashboards.show(run.run_dir);
  },
  'loralab.refresh': async (lab) => {
    lab.followRunsDirs();
    await Promise.all([lab.experiments.rescan(), lab.runs.refresh()]);
  },
  'loralab.showLog': async (lab) => lab.output.show(),
  'loralab.revealRunFolder': revealRunFolder,
  'loralab.revealCheckpoint': revealRunFolder,
  'loralab.continueFromCheckpoint': continueFromCheckpoint,
  'loralab.deleteRun': deleteRun,
  'loralab.showTokenLoss': (lab) => showTokenLoss(lab, false),
  'loralab.compareTokenLoss': (lab) => showTokenLoss(lab, true),
  'loralab.evaluateSelection': (lab) => evaluateSelection(lab),
  // Called by the CodeLens as (uri, line | null, 'base' | 'active').
  'loralab.runEvalCases': (_lab, _target, _selection, _arg, _selected, args = []) => {
    const [uri, line, profile] = args;
    if (!(uri instanceof vscode.Uri) || (line !== null && typeof line !== 'number') || (profile !== 'base' && profile !== 'active')) {
      throw new Error('Run Eval Cases is run from the CodeLens above an eval file (*.eval.jsonl) or its cases; use the Test Explorer to run eval sets otherwise');
    }
    return runEvalCases(uri, line, profile);
  },
  'loralab.compareRuns': (lab, target, selection) => compareRuns(lab, target, selection),
  'loralab.compareSweep': (lab, _target, _selection, arg) => compareSweep(lab, arg),
  'loralab.startSweep': async (lab, target) => {
    if (!(await requireTrust('starting a sweep'))) return;
    const file = await resolveExperiment(target, lab.targetContext());
    if (!file) return;
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'file' && samePath(d.uri.fsPath, file));
    if (doc?.isDirty) await doc.save();
    await startSweep(lab, file, lab.extension.extensionPath);
  },
  ...adapterCommands,
  ...mergeCommands,
};

export function registerCommands(lab: LoraLab): void {
  for (const id of Object.keys(COMMANDS) as CommandId[]) {
    lab.own(
      vscode.commands.registerCommand(id, async (...args: unknown[]) => {
        const [arg, selected] = args;
        try {
          const selection = Array.isArray(selected) ? selected.map(toTarget).filter((t): t is Target => t !== undefined) : undefined;
          await HANDLERS[id](lab, toTarget(arg), selection, arg, Array.isArray(selected) ? selected : undefined, args);
        } catch (e) {
          const msg = e instanceof Error ? e.message : String(e);
          if (e instanceof NoTargetError) {
            void vscode.window.showInformationMessage(`LoRA Lab: ${msg}`);
            return;
          }
          lab.output.appendLine(`error: ${COMMANDS[id].title}: ${msg}`);
          void vscode.window.showErrorMessage(`LoRA Lab: ${msg}`);
        }
      }),
    );
  }
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;

/** The target of a call: a tree node's, a `Target` (CodeLens, dashboard), an experiment file's URI or path. */
export function toTarget(arg: unknown): Target | undefined {
  if (arg instanceof vscode.Uri) return arg.scheme === 'file' && isExperimentFile(arg.fsPath) ? { kind: 'experiment', file: arg.fsPath } : undefined;
  if (typeof arg === 'string') return isExperimentFile(arg) ? { kind: 'experiment', file: arg } : undefined;
  const t = isObj(arg) && isObj(arg.target) ? arg.target : arg; // a tree node carries its target
  if (!isObj(t)) return undefined;
  if (t.kind === 'experiment' && typeof t.file === 'string') return { kind: 'experiment', file: t.file };
  if (t.kind === 'run' && typeof t.runDir === 'string') return { kind: 'run', runDir: t.runDir };
  if (t.kind === 'checkpoint' && typeof t.runDir === 'string' && typeof t.dir === 'string' && typeof t.step === 'number') {
    return { kind: 'checkpoint', runDir: t.runDir, dir: t.dir, step: t.step };
  }
  return undefined;
}

/** Workspace Trust: training reads and runs what the workspace names, so untrusted workspaces only look. */
async function requireTrust(action: string): Promise<boolean> {
  if (vscode.workspace.isTrusted) return true;
  const choice = await vscode.window.showWarningMessage(
    `LoRA Lab: ${action} is disabled in Restricted Mode. A run loads the model's tokenizer and chat template and reads and writes the files this workspace's experiment names; trust the workspace to train in it.`,
    'Manage Workspace Trust',
  );
  if (choice) void vscode.commands.executeCommand('workbench.trust.manage');
  return false;
}

async function startRun(lab: LoraLab, target: Target | undefined): Promise<void> {
  if (!(await requireTrust('starting a run'))) return;
  const file = await resolveExperiment(target, lab.targetContext());
  if (!file) return;
  const doc = vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'file' && samePath(d.uri.fsPath, file));
  if (doc?.isDirty) await doc.save();
  let config: ExperimentConfig;
  try {
    config = await loadExperiment(file); // the trainer checks it again; this reports problems at once
  } catch (e) {
    if (!(e instanceof ExperimentError)) throw e;
    const choice = await vscode.window.showErrorMessage(`LoRA Lab: ${nodePath.basename(file)} is not a valid experiment:\n${e.message}`, 'Open File');
    if (choice) await vscode.window.showTextDocument(vscode.Uri.file(file));
    return;
  }
  // The files it names (data, model folder, rank vs layer width): refused here, not as a failed run.
  const blocker = await startRunBlocker(file, doc?.getText() ?? (await readFile(file, 'utf8')), config);
  if (blocker) {
    void vscode.commands.executeCommand('workbench.actions.view.problems');
    void vscode.window.showErrorMessage(`LoRA Lab: ${blocker}`);
    return;
  }
  const name = config.name;
  // The same experiment twice at once is usually a double click: same seed, same result.
  const busy = lab.supervisor.jobs().filter((j) => j.args.experimentFile && samePath(j.args.experimentFile, file)).length;
  if (busy) {
    const choice = await vscode.window.showWarningMessage(
      `${nodePath.basename(file)} is already training in this window.`,
      { modal: true, detail: 'A second run of the same experiment uses the same seed and data order, so it repeats the first one. Change training.seed for a different run.' },
      'Start Another Run',
    );
    if (choice !== 'Start Another Run') return;
  }
  lab.supervisor.start({ experimentFile: file, runsDir: lab.runsDirForFile(file) }, name);
}

async function stopRun(lab: LoraLab, target: Target | undefined): Promise<void> {
  if (target?.kind === 'experiment') {
    // a trainer of this experiment still loading the model (no run folder yet)
    const loading = lab.supervisor.jobs().find((j) => j.phase === 'starting' && j.args.experimentFile && samePath(j.args.experimentFile, target.file));
    if (loading) {
      lab.supervisor.stop(loading.key);
      return;
    }
  }
  const run = await resolveRun(target, lab.targetContext(), { accept: (r) => r.status === 'running', what: 'running run', single: true });
  if (!run) return;
  if (run.status !== 'running') throw new NoTargetError(`${run.id} is not running (${run.status})`);
  const job = lab.supervisor.jobForRun(run.run_dir);
  if (job) lab.supervisor.stop(job.key);
  else await stopOutsideRun(run);
}

/** A run trained by another process (`loralab train`, another window): SIGINT makes it stop after the step, with a checkpoint. */
async function stopOutsideRun(run: RunEntry): Promise<void> {
  if (run.hostname && run.hostname !== hostname()) throw new NoTargetError(`${run.id} is training on ${run.hostname}; stop it there`);
  if (process.platform === 'win32') throw new NoTargetError(`${run.id} was started outside this window (pid ${run.pid}); stop it with Ctrl-C in its terminal`);
  const choice = await vscode.window.showWarningMessage(
    `Stop ${run.id}?`,
    { modal: true, detail: `It was started outside this window (pid ${run.pid}, e.g. by loralab train). It receives SIGINT and stops after the current step, with a checkpoint.` },
    'Stop Run',
  );
  if (choice !== 'Stop Run') return;
  try {
    process.kill(run.pid, 'SIGINT');
  } catch (e) {
    throw new Error(`could not signal pid ${run.pid}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
}

async function resumeRun(lab: LoraLab, target: Target | undefined): Promise<void> {
  if (!(await requireTrust('resuming a run'))) return;
  const run = await resolveRun(target, lab.targetContext(), { accept: canResume, what: 'stopped, crashed or failed run' });
  if (!run) return;
  if (!RESUMABLE.includes(run.status)) throw new NoTargetError(`${run.id} is ${run.status}; only a stopped, crashed or failed run can be resumed`);
  if (!canResume(run)) throw new NoTargetError(`${run.id} failed before training started, so there is nothing to resume; fix the problem, then Start Run on its experiment starts it again`);
  lab.supervisor.start({ resume: run.run_dir }, run.name);
}

/** "Continue Training From Here" on a checkpoint row: a new run from the run's experiment file, starting from the checkpoint. */
async function continueFromCheckpoint(lab: LoraLab, target: Target | undefined): Promise<void> {
  if (!(await requireTrust('starting a run'))) return;
  if (target?.kind !== 'checkpoint') throw new NoTargetError("pick a checkpoint (a run's step-N row) in the Experiments view first");
  const run = lab.runs.find(target.runDir);
  const file = run?.experiment_file ?? null;
  const args = run && file ? continueFromCheckpointArgs(run, target, lab.runsDirForFile(file)) : null;
  if (!run || !args) throw new NoTargetError(`${target.runDir} records no experiment file to start a new run from; set "init_adapter": "${target.dir}" in an experiment file and start that instead`);
  lab.supervisor.start(args, run.name);
}

async function revealRunFolder(lab: LoraLab, target: Target | undefined): Promise<void> {
  const run = await resolveRun(target, lab.targetContext(), { accept: () => true, what: 'run' });
  if (!run) return;
  // A checkpoint row reveals the checkpoint itself (a PEFT adapter folder usable anywhere).
  const uri = vscode.Uri.file(target?.kind === 'checkpoint' ? target.dir : run.run_dir);
  // The Explorer works in remote windows too; the OS file manager for folders outside the workspace.
  await vscode.commands.executeCommand(vscode.workspace.getWorkspaceFolder(uri) ? 'revealInExplorer' : 'revealFileInOS', uri);
}

async function deleteRun(lab: LoraLab, target: Target | undefined): Promise<void> {
  const run = await resolveRun(target, lab.targetContext(), { accept: (r) => r.status !== 'running', what: 'run that is not running' });
  if (!run) return;
  if (run.status === 'running') throw new NoTargetError(`${run.id} is running; stop it first`);
  const choice = await vscode.window.showWarningMessage(
    `Delete run ${run.id}?`,
    { modal: true, detail: `Its folder ${run.run_dir} is deleted: metrics, log, ${run.checkpoints.length} checkpoint(s)${run.status === 'completed' ? ' and the trained adapter' : ''}.` },
    'Delete',
  );
  if (choice !== 'Delete') return;
  const uri = vscode.Uri.file(run.run_dir);
  try {
    await vscode.workspace.fs.delete(uri, { recursive: true, useTrash: true });
  } catch {
    await vscode.workspace.fs.delete(uri, { recursive: true, useTrash: false }); // no trash here (e.g. a remote host)
  }
  await lab.runs.refresh();
}
