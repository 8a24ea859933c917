/**
 * Token-loss heatmap, the plain part: where each scored token lies in the document, and its
 * colour. No `vscode` import (`commands.ts` turns these into decorations).
 *
 * - Loss mode: background alpha grows linearly with the token's NLL, from 0 at 0 nats to
 *   {@link MAX_ALPHA} at {@link NLL_FULL} nats and above (red).
 * - Difference mode: d = NLL(adapter) − NLL(base); green where the adapter is better (d < 0),
 *   red where worse, alpha |d| / {@link DIFF_FULL} capped at {@link MAX_ALPHA} (a diverging scale
 *   centred on 0).
 */

/** NLL (nats) at which the loss colour is strongest; about a 1-in-400 guess. */
export const NLL_FULL = 6;
/** |ΔNLL| (nats) at which the difference colour is strongest. */
export const DIFF_FULL = 3;
export const MAX_ALPHA = 0.6;

const alpha = (x: number, full: number) => Math.round(Math.min(MAX_ALPHA, (MAX_ALPHA * Math.max(0, x)) / full) * 100) / 100;

/** CSS colour of a token with loss `nll` (natural log). */
export function lossColor(nll: number): string {
  return `rgba(255, 64, 64, ${alpha(nll, NLL_FULL)})`;
}

/** CSS colour of a token whose NLL changed by `delta` = adapter − base (negative: the adapter is better, green). */
export function diffColor(delta: number): string {
  return delta < 0 ? `rgba(64, 200, 64, ${alpha(-delta, DIFF_FULL)})` : `rgba(255, 64, 64, ${alpha(delta, DIFF_FULL)})`;
}

/** Colour buckets so one decoration type serves many tokens (VS Code decorations are per type). */
export const BUCKETS = 12;

/** The bucket 0..BUCKETS-1 of a colour value `x` on a scale whose strongest colour is at `full`. */
export function bucketOf(x: number, full: number): number {
  return Math.min(BUCKETS - 1, Math.max(0, Math.floor((Math.abs(x) / full) * BUCKETS)));
}

/**
 * Character ranges of tokens in `text`: each token's string (SentencePiece `▁` read as a space;
 * byte-level `Ġ`/`Ċ` as space/newline) is looked for from where the previous one ended, skipping
 * at most a few characters the tokenizer normalised away. A token not found (a byte-fallback
 * piece `<0xE2>`, a special token) gets an empty range at the current position.
 *
 * @returns [start, end) offsets into `text`, one per token.
 */
export function tokenOffsets(text: string, tokens: readonly string[]): [number, number][] {
  let at = 0;
  return tokens.map((tok) => {
    const piece = tok.replace(/▁/g, ' ').replace(/Ġ/g, ' ').replace(/Ċ/g, '\n');
    if (!piece || /^<.*>$/.test(tok)) return [at, at];
    for (const candidate of [piece, piece.trimStart()]) {
      if (!candidate) continue;
      const i = text.indexOf(candidate, at);
      if (i >= 0 && i - at <= 4) {
        at = i + candidate.length;
        return [i, at];
      }
    }
    return [at, at];
  });
}

/** Mean NLL and perplexity of a scored text, for the status bar. */
export function perplexityLine(label: string, meanNll: number): string {
  return `${label}: NLL ${meanNll.toFixed(3)}, ppl ${Math.exp(meanNll).toFixed(2)}`;
}
