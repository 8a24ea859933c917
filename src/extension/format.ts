/** Short texts shared by the tree, the status bar and notifications. Plain; no `vscode` import. */
import type { MetricsRowLike } from '../protocol/metrics';
import { runLabel } from '../protocol/run-label';

/** A loss as shown everywhere in the UI: three decimals (`3.217`). */
export function formatLoss(loss: number): string {
  return loss.toFixed(3);
}

/** `step 40/120 · loss 3.217` (the loss left out while none is logged). */
export function describeProgress(p: { step: number; max_steps: number; train_loss: number | null }): string {
  const parts = [`step ${p.step}/${p.max_steps}`];
  if (p.train_loss !== null) parts.push(`loss ${formatLoss(p.train_loss)}`);
  return parts.join(' · ');
}

/** `42s`, `3m 05s`, `1h 02m`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

/**
 * Seconds left until `maxSteps`, from the pace of the given rows (oldest first; pass the
 * recent ones): (time of the last − time of the first) / (steps between them) per step. Null
 * until two rows with different steps and times are known.
 */
export function etaSeconds(rows: readonly MetricsRowLike[], maxSteps: number): number | null {
  if (rows.length < 2) return null;
  const a = rows[0];
  const b = rows[rows.length - 1];
  const steps = b.step - a.step;
  const time = b.time - a.time;
  if (steps <= 0 || time <= 0) return null;
  return Math.max(0, maxSteps - b.step) * (time / steps);
}

/**
 * How notifications name a supervised run: `tiny · 2026-12-06 23:39:11` (`runLabel` of its id
 * and the experiment name the job was started under), or the name alone before its run folder exists.
 */
export function jobName(job: { runId: string | null; label: string }): string {
  return job.runId ? runLabel({ id: job.runId, name: job.label }) : job.label;
}
