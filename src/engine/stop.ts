/**
 * Stop strings ("stop sequences"): where a completion ends. One definition for the decoding loop
 * (infer/generate.ts, so `loralab generate --stop`, the worker and eval generation) and for the
 * eval runner, which scores the output cut at the same place (eval/run.ts). No dependencies, so
 * the extension bundle may import it.
 *
 * Semantics: OpenAI's and transformers' `stop_strings` / lm-evaluation-harness's `until`: the
 * text ends before the earliest occurrence of any stop string; the stop string itself is not
 * part of it. Empty stop strings are ignored.
 */

/** Index of the earliest occurrence of a (non-empty) stop string in `text`, or −1 when none occurs. */
export function firstStop(text: string, stops: readonly string[]): number {
  let best = -1;
  for (const s of stops) {
    if (s.length === 0) continue;
    const i = text.indexOf(s);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

/** `text` up to (not including) the earliest stop string; `text` unchanged when none occurs. */
export function cutAtStop(text: string, stops: readonly string[]): string {
  const i = firstStop(text, stops);
  return i < 0 ? text : text.slice(0, i);
}
