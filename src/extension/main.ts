/**
 * VS Code entry point. `activate()` reads as a table of contents: one context (`LoraLab`) owns
 * every disposable, grouped by lifetime (the extension's, a run's); commands come from one
 * table. Nothing here loads onnxruntime-node: training runs in forked trainer processes
 * (`dist/trainer.js`), so a native crash or a long graph build cannot freeze the editor.
 */
import * as vscode from 'vscode';
import { registerCommands } from './commands';
import { LoraLab } from './context';
import { registerCodeLens } from './experiments/codelens';
import { registerAdvice } from './experiments/advice';
import { registerExperimentProblems } from './experiments/diagnostics';
import { registerExperimentsView } from './experiments/tree';
import { registerAdaptersView } from './adapters/view';
import { registerMerge } from './merge/register';
import { registerEvaluation } from './evaluation/register';
import { registerTrainingReports } from './training/reports';
import { registerTrainingStatusBar } from './training/statusBar';

/** How long closing the window waits for trainers to checkpoint and exit. */
const STOP_TIMEOUT_MS = 10_000;

let lab: LoraLab | undefined;

export function activate(extension: vscode.ExtensionContext): void {
  lab = new LoraLab(extension); // output channel, trainer supervisor, runs index, experiment files, dashboards
  registerCommands(lab); // the command table
  registerExperimentsView(lab); // experiment files → runs → checkpoints
  registerAdaptersView(lab); // trained and imported adapters, the active one; its status-bar item
  registerMerge(lab); // merged adapters in the Adapters view (.loralab/merged/*/merge.json)
  registerCodeLens(lab); // "▶ Start run" / "Open dashboard" in experiment files
  registerExperimentProblems(lab); // the CLI's validation and the named files' problems as Error diagnostics
  registerAdvice(lab); // "LoRA Without Regret" findings as diagnostics with quick fixes
  registerEvaluation(lab); // eval sets in the Test Explorer, their bad lines in Problems
  registerTrainingStatusBar(lab); // step, loss and ETA of each training run
  registerTrainingReports(lab); // trainer logs to the output channel; notifications when a run ends
  followRuns(lab); // runs dirs of the workspace folders, `loralab.runsDir` and live trainers
  offerResumeAfterReload(lab); // runs this window stopped when it closed
  void lab.experiments.rescan();
}

/** workspaceState key: run folders whose trainers `deactivate()` stopped. */
const STOPPED_ON_CLOSE = 'loralab.stoppedOnClose';

/** After a reload: says which runs closing the window stopped, and offers to resume them. */
function offerResumeAfterReload(lab: LoraLab): void {
  const dirs = lab.extension.workspaceState.get<string[]>(STOPPED_ON_CLOSE, []);
  if (!dirs.length) return;
  void lab.extension.workspaceState.update(STOPPED_ON_CLOSE, undefined);
  const names = dirs.map((d) => d.split(/[\\/]/).pop()).join(', ');
  void vscode.window
    .showInformationMessage(`LoRA Lab: closing the window stopped ${dirs.length === 1 ? 'a run' : `${dirs.length} runs`} with a checkpoint (${names}).`, 'Resume')
    .then(async (choice) => {
      if (choice !== 'Resume') return;
      for (const dir of dirs) await vscode.commands.executeCommand('loralab.resumeRun', { kind: 'run', runDir: dir });
    });
}

/** Stops every trainer of this window (each finishes its step and writes a checkpoint), waiting at most 10 s. */
export async function deactivate(): Promise<void> {
  const running = lab?.supervisor.jobs().map((j) => j.runDir).filter((d): d is string => typeof d === 'string') ?? [];
  if (running.length) await lab?.extension.workspaceState.update(STOPPED_ON_CLOSE, running);
  await lab?.supervisor.stopAll(STOP_TIMEOUT_MS);
  lab = undefined;
}

/** Which runs dirs are followed, and rescans as soon as a trainer reports (polling covers the rest: CLI runs, other windows). */
function followRuns(lab: LoraLab): void {
  lab.followRunsDirs();
  lab.own(vscode.workspace.onDidChangeWorkspaceFolders(() => lab.followRunsDirs()));
  lab.own(vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration('loralab.runsDir') && lab.followRunsDirs()));
  lab.own(vscode.workspace.onDidGrantWorkspaceTrust(() => lab.followRunsDirs())); // restricted settings apply now
  lab.own(
    lab.supervisor.onEvent((e) => {
      if (e.type === 'started') lab.followRunsDirs();
      else if (e.type === 'exited') void lab.runs.refresh().then(() => lab.followRunsDirs());
      else if (e.job.runDir && (e.type === 'run' || e.type === 'metrics' || e.type === 'checkpoint')) lab.runs.refreshSoon(e.job.runDir);
    }),
  );
}
