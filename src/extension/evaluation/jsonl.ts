/**
 * Token loss of a JSONL training data file: what the model trains on per record, not the JSON
 * syntax, and where that text lies in the file. Plain; no `vscode` import.
 *
 * Per record (the record shapes of engine/data/records.ts):
 * - `{"text"}`: the text is scored; its tokens map straight onto the JSON string's characters.
 * - `{"prompt","completion"}`: prompt + completion is scored as one string (training tokenizes
 *   them apart and joins the ids, so a token spanning the join can differ: approximated); tokens
 *   map onto both strings.
 * - `{"messages"}`: the contents joined by blank lines are scored (not the chat template's
 *   rendering: approximated); nothing is decorated, the record counts in the mean NLL only.
 * Escapes (`\n`, `\"`, `\uXXXX`) are mapped so a decoded character lands on its escape sequence.
 */
import { type Node, parseTree } from 'jsonc-parser/lib/esm/main.js';

/** A JSON string value of the file and the characters of the scored text it holds. */
export interface JsonlSpan {
  /** [textStart, textEnd) in the record's scored text. */
  textStart: number;
  textEnd: number;
  /** File offset of the string literal's opening quote. */
  literalStart: number;
  /** The literal as written, quotes included. */
  literal: string;
}

export interface JsonlRecordText {
  /** 1-based line. */
  line: number;
  kind: 'text' | 'prompt_completion' | 'messages';
  /** What is scored. */
  text: string;
  /** Where the text lies in the file (empty for messages). */
  spans: JsonlSpan[];
}

/**
 * The scored text of every usable record of a JSONL document (blank lines skipped; lines that
 * are not one of the three record shapes listed in `skipped` with their 1-based line numbers).
 */
export function jsonlScoringTexts(doc: string): { records: JsonlRecordText[]; skipped: number[] } {
  const records: JsonlRecordText[] = [];
  const skipped: number[] = [];
  let offset = 0;
  doc.split('\n').forEach((raw, i) => {
    const lineStart = offset;
    offset += raw.length + 1;
    if (!raw.trim()) return;
    const tree = parseTree(raw);
    const prop = (name: string): Node | undefined => tree?.type === 'object' ? tree.children?.find((p) => p.children?.[0].value === name)?.children?.[1] : undefined;
    const str = (n: Node | undefined) => (n?.type === 'string' ? (n.value as string) : undefined);
    const span = (n: Node, textStart: number): JsonlSpan => ({ textStart, textEnd: textStart + (n.value as string).length, literalStart: lineStart + n.offset, literal: raw.slice(n.offset, n.offset + n.length) });
    const text = prop('text');
    const prompt = prop('prompt');
    const completion = prop('completion');
    const messages = prop('messages');
    if (str(text) !== undefined) {
      records.push({ line: i + 1, kind: 'text', text: str(text)!, spans: [span(text!, 0)] });
    } else if (str(prompt) !== undefined && str(completion) !== undefined) {
      const p = str(prompt)!;
      records.push({ line: i + 1, kind: 'prompt_completion', text: p + str(completion)!, spans: [span(prompt!, 0), span(completion!, p.length)] });
    } else if (messages?.type === 'array') {
      const contents = (messages.children ?? []).map((m) => m.children?.find((p) => p.children?.[0].value === 'content')?.children?.[1]?.value).filter((c): c is string => typeof c === 'string');
      if (contents.length) records.push({ line: i + 1, kind: 'messages', text: contents.join('\n\n'), spans: [] });
      else skipped.push(i + 1);
    } else skipped.push(i + 1);
  });
  return { records, skipped };
}

/**
 * File offset of decoded character `index` (0 ≤ index ≤ decoded length) of a JSON string
 * `literal` (quotes included) that starts at file offset `literalStart`: each escape sequence
 * (RFC 8259 §7: `\"` `\\` `\/` `\b` `\f` `\n` `\r` `\t`, `\uXXXX`; a surrogate pair is two
 * `\uXXXX`, one UTF-16 unit each) counts as one decoded character.
 */
export function literalOffset(literal: string, literalStart: number, index: number): number {
  let raw = 1; // past the opening quote
  for (let d = 0; d < index && raw < literal.length - 1; d++) raw += literal[raw] === '\\' ? (literal[raw + 1] === 'u' ? 6 : 2) : 1;
  return literalStart + raw;
}

/**
 * File ranges of the scored text's [start, end) characters: the part within each span, as
 * [fileStart, fileEnd) (a token across a prompt/completion join gives two ranges).
 */
export function textToFileRanges(spans: readonly JsonlSpan[], start: number, end: number): [number, number][] {
  const out: [number, number][] = [];
  for (const s of spans) {
    const a = Math.max(start, s.textStart);
    const b = Math.min(end, s.textEnd);
    if (a < b) out.push([literalOffset(s.literal, s.literalStart, a - s.textStart), literalOffset(s.literal, s.literalStart, b - s.textStart)]);
  }
  return out;
}
