/**
 * The summary band shown once a run has ended: final and best validation loss (with its step),
 * the final adapter folder with Activate / Open in Playground / Reveal, the run's wall time and
 * tokens, and Resume for a run that stopped, failed or crashed. Numbers come from the metrics
 * rows the page holds (the history the run descends from) and the run's facts.
 */
import type { HostToDashboard, RunFacts } from '../../src/protocol/dashboard';
import type { MetricsRowLike } from '../../src/protocol/metrics';
import { formatDuration, formatValue } from './format';

/** What the band says about a run's rows. */
export interface RowSummary {
  /** `val_loss` of the last row that has one, and that row's step; null without validation. */
  final: { step: number; val_loss: number } | null;
  /** The lowest `val_loss` logged (the earliest step on a tie). */
  best: { step: number; val_loss: number } | null;
  /** `tokens` of the last row that has it (cumulative, padding excluded). */
  tokens: number | null;
  /** `time` of the last row: seconds of training since the start, across resumes. */
  time: number | null;
}

/** Folds rows (in step order) into a `RowSummary`; `prev` is the summary of the rows before. */
export function summarizeRows(rows: readonly MetricsRowLike[], prev: RowSummary = { final: null, best: null, tokens: null, time: null }): RowSummary {
  const s = { ...prev };
  for (const r of rows) {
    if (typeof r.val_loss === 'number' && Number.isFinite(r.val_loss)) {
      s.final = { step: r.step, val_loss: r.val_loss };
      if (!s.best || r.val_loss < s.best.val_loss) s.best = { step: r.step, val_loss: r.val_loss };
    }
    if (typeof r.tokens === 'number') s.tokens = r.tokens;
    if (typeof r.time === 'number') s.time = r.time;
  }
  return s;
}

const ENDED_RESUMABLE = new Set(['stopped', 'failed', 'crashed']);

export type BandAction = 'activateAdapter' | 'openAdapterInPlayground' | 'revealAdapter' | 'resumeRun';

export class SummaryBand {
  private sum: RowSummary = summarizeRows([]);
  private adapterDir: string | null = null;
  private readonly finalEl: HTMLElement;
  private readonly bestEl: HTMLElement;
  private readonly wallEl: HTMLElement;
  private readonly tokensEl: HTMLElement;
  private readonly adapterEl: HTMLElement;
  private readonly adapterRow: HTMLElement;
  private readonly resume: HTMLElement;

  constructor(private readonly band: HTMLElement, post: (action: BandAction) => void) {
    const q = (sel: string) => band.querySelector<HTMLElement>(sel)!;
    this.finalEl = q('[data-sum="final"]');
    this.bestEl = q('[data-sum="best"]');
    this.wallEl = q('[data-sum="wall"]');
    this.tokensEl = q('[data-sum="tokens"]');
    this.adapterEl = q('[data-sum="adapter"]');
    this.adapterRow = q('.summary-adapter');
    this.resume = q('[data-action="resumeRun"]');
    for (const b of band.querySelectorAll<HTMLElement>('[data-action]')) b.addEventListener('click', () => post(b.dataset.action as BandAction));
  }

  /** Follows the same messages as the dashboard; `run` is the facts after they were applied. */
  handle(msg: HostToDashboard, run: RunFacts | null): void {
    if (msg.type === 'init') {
      this.sum = summarizeRows(msg.rows);
      this.adapterDir = msg.run.adapter_dir ?? null;
    } else if (msg.type === 'metrics') {
      this.sum = summarizeRows(msg.rows, this.sum);
    } else if (msg.adapter_dir !== undefined) {
      this.adapterDir = msg.adapter_dir;
    }
    this.render(run);
  }

  private render(run: RunFacts | null): void {
    const ended = !!run && run.status !== 'running';
    this.band.hidden = !ended;
    if (!run || !ended) return;
    const { final, best, tokens, time } = this.sum;
    this.finalEl.textContent = final ? `${formatValue(final.val_loss)} (step ${final.step.toLocaleString('en-US')})` : 'not evaluated';
    this.bestEl.textContent = best ? `${formatValue(best.val_loss)} (step ${best.step.toLocaleString('en-US')})` : '—';
    const wall = run.finished_at ? (Date.parse(run.finished_at) - Date.parse(run.created_at)) / 1000 : (time ?? NaN);
    this.wallEl.textContent = formatDuration(wall);
    this.tokensEl.textContent = tokens === null ? '—' : tokens.toLocaleString('en-US');
    this.adapterRow.hidden = this.adapterDir === null;
    this.adapterEl.textContent = this.adapterDir ?? '';
    this.adapterEl.title = this.adapterDir ?? '';
    this.resume.hidden = !ENDED_RESUMABLE.has(run.status);
    this.band.dataset.status = run.status;
  }
}
