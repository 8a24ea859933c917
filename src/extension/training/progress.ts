/** What the status bar says about a supervised trainer. Plain; no `vscode` import. */
import { describeProgress, etaSeconds, formatDuration } from '../format';
import type { Job } from './supervisor';

export interface JobStatusText {
  /** Status-bar text (with a `$(…)` icon). */
  text: string;
  tooltip: string;
}

/** `$(loading~spin) shakespeare 40/120 · loss 3.217 · ETA 1m 05s`, or `… starting…` / `… stopping…`. */
export function jobStatusText(job: Job): JobStatusText {
  const name = job.label;
  const where = job.runDir ? `\n${job.runDir}` : '';
  if (job.phase === 'starting') return { text: `$(loading~spin) ${name}: starting…`, tooltip: `LoRA Lab: loading the model and data for ${name}${where}` };
  const progress = job.maxSteps !== null ? describeProgress({ step: job.step, max_steps: job.maxSteps, train_loss: job.trainLoss }) : `step ${job.step}`;
  if (job.phase === 'stopping') return { text: `$(loading~spin) ${name}: stopping…`, tooltip: `LoRA Lab: ${job.runId ?? name} stops after the current step, with a checkpoint (${progress})${where}` };
  const eta = job.maxSteps !== null ? etaSeconds(job.recent, job.maxSteps) : null;
  const short = progress.replace(/^step /, '');
  return {
    text: `$(loading~spin) ${name} ${short}${eta !== null ? ` · ETA ${formatDuration(eta)}` : ''}`,
    tooltip: `LoRA Lab: training ${job.runId ?? name}\n${progress}${eta !== null ? `\nabout ${formatDuration(eta)} left` : ''}${where}\nClick to open the dashboard`,
  };
}
