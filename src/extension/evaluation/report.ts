/**
 * Words the Test Explorer shows for an eval case result. No `vscode` import.
 */
import type { CaseResult } from '../../engine/eval/run';
import { lowerIsBetter } from '../../engine/eval/metrics';

/** `score 0.2500 < threshold 0.5 (rouge_l), NLL of expected 2.3100` — why a case failed. */
export function failureText(r: CaseResult): string {
  const score = r.scores[r.metric];
  const cmp = lowerIsBetter(r.metric) ? '>' : '<';
  const nll = r.metric !== 'nll' && r.scores.nll !== undefined ? `, NLL of expected ${r.scores.nll.toFixed(4)}` : '';
  return `${r.metric}: score ${score === undefined ? '?' : score.toFixed(4)} ${cmp} threshold ${r.threshold}${nll}`;
}

/** The variant's name in messages: "base model" or the adapter folder's last two path parts. */
export function variantLabel(adapter: string | null): string {
  return adapter === null ? 'base model' : adapter.split(/[\\/]/).filter(Boolean).slice(-2).join('/');
}
