/** "LoRA Lab: Compare Runs" and "Compare Sweep": from the tree's selection (runs, an experiment, a sweep) or the palette's multi-select quick pick. */
import * as vscode from 'vscode';
import type { LoraLab } from '../context';
import type { Target } from '../experiments/model';
import { resolveCompareRuns, sweepCompareRuns } from './select';

export async function compareRuns(lab: LoraLab, target: Target | undefined, selection?: readonly Target[]): Promise<void> {
  const dirs = await resolveCompareRuns(target, selection, {
    runs: () => lab.runs.runs(),
    pickMany: async (items, placeHolder) => (await vscode.window.showQuickPick(items, { placeHolder, canPickMany: true, matchOnDescription: true, matchOnDetail: true }))?.map((i) => i.value),
  });
  if (dirs) lab.compare.show(dirs);
}

/** A sweep node's runs, with the scatter of learning rate against best validation loss (one series per rank) in view. */
export async function compareSweep(lab: LoraLab, node: unknown): Promise<void> {
  const { runDirs, preset } = await sweepCompareRuns(node);
  lab.compare.show(runDirs, preset);
}
