/**
 * Words the Test Explorer shows for an eval case result. No `vscode` import.
 */
import type { CaseResult } from '../../engine/eval/run';
import { lowerIsBetter } from '../../engine/eval/metrics';
import { runLabelOfId } from '../../protocol/run-label';

/** `score 0.2500 < threshold 0.5 (rouge_l), NLL of expected 2.3100` — why a case failed. */
export function failureText(r: CaseResult): string {
  const score = r.scores[r.metric];
  const cmp = lowerIsBetter(r.metric) ? '>' : '<';
  const nll = r.metric !== 'nll' && r.scores.nll !== undefined ? `, NLL of expected ${r.scores.nll.toFixed(4)}` : '';
  return `${r.metric}: score ${score === undefined ? '?' : score.toFixed(4)} ${cmp} threshold ${r.threshold}${nll}`;
}

/**
 * The variant's name in messages, as the Adapters view names adapters (adapters/model.ts
 * `adapterLabel`, from the path alone): "base model"; a run's final adapter `<runs>/<id>/adapter`
 * as `tiny · 2026-12-06 23:57:07 (final)`; a checkpoint `<id>/checkpoints/step-40` as
 * `step-40 · tiny · 2026-12-06 23:57:07`; any other folder by its last two path parts.
 */
export function variantLabel(adapter: string | null): string {
  if (adapter === null) return 'base model';
  const parts = adapter.split(/[\\/]/).filter(Boolean);
  const run = (id: string | undefined) => {
    const label = id === undefined ? id : runLabelOfId(id);
    return label === id ? null : label; // null: not a run folder's id
  };
  const [last, prev, prev2] = [parts.at(-1), parts.at(-2), parts.at(-3)];
  const final = last === 'adapter' ? run(prev) : null;
  if (final) return `${final} (final)`;
  const checkpoint = prev === 'checkpoints' && /^step-\d+$/.test(last ?? '') ? run(prev2) : null;
  if (checkpoint) return `${last} · ${checkpoint}`;
  return parts.slice(-2).join('/');
}
