/**
 * What the user hears about supervised trainers: their log in the "LoRA Lab" output channel
 * (one `[name]` prefix per line, so several runs can share it), and a notification when one
 * ends — completed, stopped by something else than us, failed, or died (with its last log
 * lines; the supervisor has marked the run failed by then).
 */
import * as vscode from 'vscode';
import type { LoraLab } from '../context';
import type { Target } from '../experiments/model';
import type { Job, JobOutcome } from './supervisor';
import { formatLoss, jobName } from '../format';
import { readMetrics } from '../../runs/index';

/**
 * The last `val_loss` logged in a run's metrics.jsonl and its step (on the history the run
 * descends from, as `readMetrics` reads it); null when none was logged or the folder cannot be read.
 */
export async function finalValidation(runDir: string): Promise<{ step: number; val_loss: number } | null> {
  const rows = (await readMetrics(runDir).catch(() => null)) ?? [];
  for (let i = rows.length - 1; i >= 0; i--) {
    const v = rows[i].val_loss;
    if (typeof v === 'number') return { step: rows[i].step, val_loss: v };
  }
  return null;
}

/**
 * The completion notification: `LoRA Lab: tiny completed (120 steps, validation loss 2.345 at
 * step 120).` It quotes the final validation loss, not the last (noisy, one logging window)
 * train loss, which is quoted, labelled as such, only for a run without validation.
 */
export function completedMessage(name: string, steps: number, validation: { step: number; val_loss: number } | null, trainLoss: number | null): string {
  const loss = validation
    ? `, validation loss ${formatLoss(validation.val_loss)}${validation.step !== steps ? ` at step ${validation.step}` : ''}`
    : trainLoss !== null
      ? `, train loss ${formatLoss(trainLoss)}; no validation set`
      : '';
  return `LoRA Lab: ${name} completed (${steps} steps${loss}).`;
}

/** Lines of the log quoted in the notification of a dead trainer. */
const QUOTED_LINES = 5;

const tag = (job: Job) => `[${job.runId ?? job.label}]`;

export function registerTrainingReports(lab: LoraLab): void {
  const out = lab.output;
  lab.own(
    lab.supervisor.onEvent((e) => {
      switch (e.type) {
        case 'started':
          out.appendLine(`${tag(e.job)} starting a trainer${e.job.pid ? ` (pid ${e.job.pid})` : ''} for ${e.job.args.experimentFile ?? e.job.args.resume}`);
          break;
        case 'run':
          out.appendLine(`${tag(e.job)} run folder ${e.job.runDir}`);
          break;
        case 'stopping':
          out.appendLine(`${tag(e.job)} stop requested: finishing the current step, then a checkpoint`);
          break;
        case 'output':
          out.appendLine(`${tag(e.job)} ${e.line}`);
          break;
        case 'exited':
          out.appendLine(`${tag(e.job)} trainer exited: ${e.outcome.status}${e.outcome.message ? ` (${e.outcome.message})` : ''}`);
          void notify(e.job, e.outcome, out);
          break;
      }
    }),
  );
}

async function notify(job: Job, outcome: JobOutcome, out: vscode.OutputChannel): Promise<void> {
  const name = jobName(job);
  const target: Target | undefined = job.runDir ? { kind: 'run', runDir: job.runDir } : undefined;
  const actions = target ? ['Open Dashboard', 'Show Log'] : ['Show Log'];
  let choice: string | undefined;
  if (outcome.status === 'completed') {
    const validation = job.runDir ? await finalValidation(job.runDir) : null;
    choice = await vscode.window.showInformationMessage(completedMessage(name, job.step, validation, job.trainLoss), ...actions.slice(0, 1));
  } else if (outcome.status === 'stopped') {
    if (job.stopRequested) {
      vscode.window.setStatusBarMessage(`LoRA Lab: ${name} stopped at step ${job.step}${job.runDir ? '; Resume Run continues it' : ''}`, 8000);
      return;
    }
    choice = await vscode.window.showInformationMessage(`LoRA Lab: ${name} was stopped at step ${job.step}; Resume Run continues it.`, ...actions);
  } else if (outcome.died) {
    const last = outcome.lastLines.slice(-QUOTED_LINES).join('\n');
    const marked = job.runId ? ' The run is marked failed; Resume Run continues from its last checkpoint.' : '';
    choice = await vscode.window.showErrorMessage(`LoRA Lab: the trainer of ${name} died: ${outcome.message}.${marked}${last ? `\nLast log lines:\n${last}` : ''}`, ...actions);
  } else {
    choice = await vscode.window.showErrorMessage(`LoRA Lab: ${name} failed: ${outcome.message}`, ...actions);
  }
  if (choice === 'Open Dashboard' && target) void vscode.commands.executeCommand('loralab.openDashboard', target);
  else if (choice === 'Show Log') out.show(true);
}
