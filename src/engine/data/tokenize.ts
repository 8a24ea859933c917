/**
 * Records → training examples: token ids plus a target mask saying which tokens the loss trains
 * on, chunked or truncated to `max_seq_length`.
 *
 * Data text is encoded with special tokens split into plain characters (HF tokenizers'
 * `encode_special_tokens`): a completion holding the four characters `</s>` trains on those
 * characters, never on an EOS in the middle of the example. Only the ids the pipeline adds itself
 * are special: BOS, the EOS after a completion, and the markers a chat template renders.
 */
import { TokenizerError, type ChatMessage, type Tokenizer } from '../tokenizer/index';
import { DataError, errorMessage } from './errors';
import type { DataRecord, RecordProblem, Source } from './records';

/**
 * One training sequence.
 *
 * `target[t]` is 1 where `ids[t]` is a token the loss trains on, i.e. the prediction of `ids[t]`
 * from `ids[0..t-1]` counts. `target[0]` is always 0 (nothing in the example precedes it).
 * Every example has at least one target token.
 */
export interface Example {
  ids: number[];
  target: Uint8Array;
  /** The record it came from (a `.txt` document's first line). Chunks of one text share it. */
  source: Source;
}

/** Options of {@link tokenizeRecord}. */
export interface TokenizeOptions {
  /** Longest example, in tokens (≥ 2). */
  maxSeqLength: number;
  /** Train only on completions / assistant turns (TRL's `completion_only_loss` / `assistant_only_loss`). */
  completionOnlyLoss: boolean;
}

/** The examples of one record, and what happened to it on the way. */
export interface TokenizedRecord {
  examples: Example[];
  /** A prompt-completion or chat record was cut to `maxSeqLength` tokens (or by characters first). */
  truncated: boolean;
  /** Tokens of the whole record before truncation; when `cutChars` is set, only of the text kept, so a lower bound. */
  tokens: number;
  /** Set when the record was longer than {@link maxDataChars} and cut to it before tokenizing: its length in characters. */
  cutChars?: number;
  /** The first special token's string found in the record's data text (encoded as plain characters). */
  specialTokenText?: string;
}

/**
 * How many characters of data can matter for `maxSeqLength` tokens: text beyond this is cut
 * before tokenizing (prompt-completion and chat records; text records are chunked, so all of
 * their text is trained, and they are tokenized in pieces instead).
 *
 * Bound = 4 × (maxSeqLength + 16) × maxTokenChars, where `maxTokenChars` is the longest
 * vocabulary entry (`Tokenizer.maxTokenChars`, e.g. 7 for stories260K's `▁little`). Reasoning:
 * - a token stands for at most `maxTokenChars` characters of the normalized text (a SentencePiece
 *   entry `▁the` for " the"; a byte-level entry `Ġthe` for 4 bytes, so ≤ 4 characters; a
 *   byte-fallback token `<0xE2>` for part of one character);
 * - the normalizers of current models shrink text by at most a few times (NFKC / NFC composition:
 *   Hangul jamo L+V+T → one syllable is 3 → 1), so the factor 4 covers it;
 * - hence the first `bound` characters give at least maxSeqLength + 16 tokens: the first
 *   `maxSeqLength` tokens (all that truncation keeps) are all there, and the 16 spare tokens keep
 *   the cut away from them (a BPE merge that would have crossed the cut changes only the last
 *   tokens of the kept text). A normalizer that deletes most characters (whitespace collapsing
 *   of long runs) can still defeat it; the record is then reported as truncated all the same.
 */
export function maxDataChars(maxSeqLength: number, maxTokenChars: number): number {
  return 4 * (maxSeqLength + 16) * Math.max(1, maxTokenChars);
}

/**
 * Characters per encode call for a long text record: each call runs synchronously, so this keeps
 * the loader answering signals (about 0.1 s per piece on a slow CPU for a tokenizer without a
 * pre-tokenizer, whose BPE works on the whole piece at once).
 */
export const TEXT_PIECE_CHARS = 16_384;

/**
 * Tokenizes one record.
 *
 * - `text`: `encode(text)` (one BOS first when the tokenizer adds BOS; EOS last only when it adds
 *   EOS, i.e. `add_eos_token`). Every token after the first is a target. Longer than
 *   `maxSeqLength`: CHUNKED into consecutive pieces of `maxSeqLength` tokens, each its own example
 *   (no BOS added to later pieces; a piece's first token is not predicted), as HF's
 *   `run_clm` `group_texts` does per document. A text longer than {@link TEXT_PIECE_CHARS} is
 *   encoded piece by piece, cut before a single space between two words; when the tokenizer
 *   encodes "a b" as "a" then "b" (SentencePiece normalizers that prepend "▁"), the space at a cut
 *   is left to the normalizer, else it starts the next piece (byte-level BPE, whose pre-tokenizer
 *   splits there anyway), so the ids equal a one-pass encoding; only text with no such space in
 *   the last half of a piece (a 16K-character word) is cut mid-word.
 * - `prompt`/`completion`: the prompt and completion encoded as ONE text (`encode(prompt +
 *   completion)`, one BOS first when the tokenizer adds BOS), then the EOS id, as TRL tokenizes
 *   `prompt + completion` and appends `eos_token` (not at all if the model has no EOS). An empty
 *   completion trains on the EOS alone. The completion side starts at the first token where this
 *   encoding departs from the prompt's own encoding (TRL masks `len(prompt_ids)` tokens and warns
 *   when they differ); so a token that merges the prompt's last characters with the completion's
 *   first ("Once upon a ti" + "me" → `▁time`) is counted on the COMPLETION side and trained, as
 *   transformers' `return_assistant_tokens_mask` marks every token overlapping the assistant text.
 *   Targets: the completion-side tokens (EOS included) when `completionOnlyLoss`, else every token
 *   after the first.
 * - `messages`: the chat template's render of the whole conversation, encoded in one go without
 *   added special tokens (templates write BOS themselves); when the tokenizer adds BOS and the
 *   render does not start with it, one BOS is put first, so every example starts with exactly one
 *   BOS. Special-token strings inside message contents stay plain text; the template's own
 *   markers are special. Targets: every token after the first, or with `completionOnlyLoss` only
 *   the assistant turns, located as described at {@link assistantSpans}.
 *
 * Prompt-completion and chat examples longer than `maxSeqLength` are TRUNCATED (the start is
 * kept, as TRL's `truncation_mode="keep_start"`); when their data text is longer than
 * {@link maxDataChars}, it is cut to that many characters first, so only what can be trained is
 * tokenized (no EOS is appended to a cut completion). Examples left with no target token are
 * dropped, so a record may yield no example; the caller reports those.
 *
 * @returns the examples, or the problem with the record (a chat template that fails on it or that
 *   does not render incrementally), which the caller reports as a bad record
 * @throws DataError (not skippable) for a `messages` record when the tokenizer has no chat template
 */
export function tokenizeRecord(record: DataRecord, tok: Tokenizer, opts: TokenizeOptions): TokenizedRecord | RecordProblem {
  const steps = tokenizeRecordSteps(record, tok, opts);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * {@link tokenizeRecord} as a generator that yields between encode calls (the number of
 * characters of the record done so far), so an async caller can answer signals and show progress
 * while a long text record is tokenized. Returns what `tokenizeRecord` returns.
 */
export function* tokenizeRecordSteps(record: DataRecord, tok: Tokenizer, opts: TokenizeOptions): Generator<number, TokenizedRecord | RecordProblem, void> {
  const L = opts.maxSeqLength;
  const bound = maxDataChars(L, tok.maxTokenChars);
  switch (record.kind) {
    case 'text': {
      const ids = yield* encodeLongText(record.text, tok);
      const examples: Example[] = [];
      for (let start = 0; start < ids.length; start += L) {
        const piece = ids.slice(start, start + L);
        const target = new Uint8Array(piece.length).fill(1);
        target[0] = 0;
        push(examples, piece, target, record.source);
      }
      return withSpecial({ examples, truncated: false, tokens: ids.length }, tok.findSpecialTokenText(record.text));
    }
    case 'prompt_completion': {
      let { prompt, completion } = record;
      const chars = prompt.length + completion.length;
      const cut = chars > bound;
      if (cut) {
        prompt = cutAt(prompt, bound);
        completion = cutAt(completion, bound - prompt.length);
      }
      const encodeData = (text: string) => {
        const ids = tok.encode(text, { splitSpecialTokens: true });
        if (tok.addEos && ids.length > 0 && ids[ids.length - 1] === tok.eosTokenId) ids.pop();
        return ids;
      };
      const ids = encodeData(prompt + completion);
      const completionStart = commonPrefix(encodeData(prompt), ids);
      if (!cut && tok.eosTokenId !== undefined) ids.push(tok.eosTokenId);
      const target = new Uint8Array(ids.length).fill(1);
      if (opts.completionOnlyLoss) target.fill(0, 0, completionStart);
      target[0] = 0;
      const out = truncate(ids, target, record.source, L, cut ? chars : undefined);
      return withSpecial(out, tok.findSpecialTokenText(prompt) ?? tok.findSpecialTokenText(completion));
    }
    case 'messages': {
      if (tok.chatTemplate === undefined) {
        const { file, line } = record.source;
        throw new DataError(`${file}:${line}: a {"messages"} record, but the model's tokenizer has no chat template (a base model?); use {"text"} or {"prompt","completion"} records, or add a "chat_template" to the model's tokenizer_config.json`, record.source);
      }
      const chars = record.messages.reduce((n, m) => n + m.content.length, 0);
      const cut = chars > bound;
      const messages = cut ? cutMessages(record.messages, bound) : record.messages;
      let rendered: { ids: number[]; spans: [number, number][] | undefined; special: string | undefined };
      try {
        rendered = renderChat(messages, tok, opts.completionOnlyLoss);
      } catch (e) {
        if (e instanceof RecordTrouble) return e.problem;
        if (e instanceof TokenizerError) {
          return { what: `the chat template failed on this conversation (${errorMessage(e.cause ?? e)})`, remedy: 'check the roles and the order of the messages' };
        }
        throw e;
      }
      const { ids, spans } = rendered;
      const target = new Uint8Array(ids.length);
      if (spans === undefined) target.fill(1);
      else for (const [s, e] of spans) target.fill(1, s, e);
      target[0] = 0;
      return withSpecial(truncate(ids, target, record.source, L, cut ? chars : undefined), rendered.special);
    }
  }
}

function withSpecial(r: TokenizedRecord, special: string | undefined): TokenizedRecord {
  if (special !== undefined) r.specialTokenText = special;
  return r;
}

/** `text` cut to at most `n` UTF-16 units, never between the two halves of a surrogate pair. */
function cutAt(text: string, n: number): string {
  if (text.length <= n) return text;
  if (n <= 0) return '';
  const c = text.charCodeAt(n - 1);
  return text.slice(0, c >= 0xd800 && c <= 0xdbff ? n - 1 : n);
}

/** The first messages whose contents fit in `budget` characters; the one that crosses it is cut. */
function cutMessages(messages: ChatMessage[], budget: number): ChatMessage[] {
  const out: ChatMessage[] = [];
  let left = budget;
  for (const m of messages) {
    if (left <= 0) break;
    out.push(m.content.length <= left ? m : { ...m, content: cutAt(m.content, left) });
    left -= m.content.length;
  }
  return out;
}

/**
 * `encode(text, {splitSpecialTokens: true})` for a text of any length, one piece of at most
 * {@link TEXT_PIECE_CHARS} characters per call, yielding the characters done after each piece.
 * See {@link tokenizeRecord} for where pieces are cut.
 */
function* encodeLongText(text: string, tok: Tokenizer): Generator<number, number[], void> {
  if (text.length <= TEXT_PIECE_CHARS) return tok.encode(text, { splitSpecialTokens: true });
  const spaceToNormalizer = normalizerOwnsSpace(tok);
  const ids: number[] = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + TEXT_PIECE_CHARS);
    let next = end;
    if (end < text.length) {
      // The last single space between two non-spaces in the second half of the piece.
      let at = -1;
      for (let i = end - 1; i > start + TEXT_PIECE_CHARS / 2 && at < 0; i--) {
        if (text[i] === ' ' && !/\s/.test(text[i - 1]) && !/\s/.test(text[i + 1])) at = i;
      }
      if (at >= 0) {
        end = at;
        next = spaceToNormalizer ? at + 1 : at;
      } else {
        const c = text.charCodeAt(end - 1);
        if (c >= 0xd800 && c <= 0xdbff) end -= 1; // keep a surrogate pair together
        next = end;
      }
    }
    const first = start === 0;
    const piece = tok.encode(text.slice(start, end), { splitSpecialTokens: true, addSpecialTokens: first });
    if (first && tok.addEos && piece[piece.length - 1] === tok.eosTokenId) piece.pop();
    for (const id of piece) ids.push(id);
    start = next;
    yield start;
  }
  if (tok.addEos) ids.push(tok.eosTokenId!);
  return ids;
}

/** Whether the tokenizer encodes "a b" as "a" followed by "b" (a normalizer that prepends "▁" turns the space into the next word's "▁"). */
function normalizerOwnsSpace(tok: Tokenizer): boolean {
  const plain = (t: string) => tok.encode(t, { addSpecialTokens: false });
  const both = plain('the cat');
  const parts = [...plain('the'), ...plain('cat')];
  return both.length === parts.length && both.every((id, i) => id === parts[i]);
}

function push(out: Example[], ids: number[], target: Uint8Array, source: Source): void {
  if (target.some((x) => x === 1)) out.push({ ids, target, source });
}

function truncate(ids: number[], target: Uint8Array, source: Source, L: number, cutChars: number | undefined): TokenizedRecord {
  const truncated = ids.length > L || cutChars !== undefined;
  const examples: Example[] = [];
  push(examples, ids.length > L ? ids.slice(0, L) : ids, ids.length > L ? target.slice(0, L) : target, source);
  const out: TokenizedRecord = { examples, truncated, tokens: ids.length };
  if (cutChars !== undefined) out.cutChars = cutChars;
  return out;
}

/** A record the pipeline cannot tokenize as asked; becomes a bad record. */
class RecordTrouble extends Error {
  constructor(readonly problem: RecordProblem) {
    super(problem.what);
  }
}

type Ranges = readonly (readonly [number, number])[];

/**
 * Renders a conversation: its ids (one BOS first when the tokenizer adds BOS), when `withSpans`
 * the assistant token spans in those ids, and the first special-token string found in a
 * message's content (kept as plain text).
 */
function renderChat(messages: ChatMessage[], tok: Tokenizer, withSpans: boolean): { ids: number[]; spans: [number, number][] | undefined; special: string | undefined } {
  const full = tok.applyChatTemplate(messages);
  let special: string | undefined;
  for (const m of messages) if ((special = tok.findSpecialTokenText(m.content)) !== undefined) break;
  const ranges = special === undefined ? undefined : contentRanges(messages, full, tok);
  const encode = (text: string) => tok.encode(text, { addSpecialTokens: false, splitSpecialTokens: ranges ?? false });
  const ids = encode(full);
  const spans = withSpans ? assistantSpans(messages, full, ids, tok, encode) : undefined;
  if (tok.addBos && tok.bosTokenId !== undefined && ids[0] !== tok.bosTokenId) {
    ids.unshift(tok.bosTokenId);
    if (spans) for (const span of spans) { span[0] += 1; span[1] += 1; }
  }
  return { ids, spans, special };
}

/**
 * Where the message contents are in the render `full`: the conversation is rendered again with
 * each content replaced by a placeholder (private-use characters), and the placeholders are put
 * back one by one; the result must be `full` itself.
 *
 * @throws RecordTrouble when it is not (a template that edits the content, e.g. `| trim`), since
 *   the special-token text of the data could then not be told from the template's markers
 */
function contentRanges(messages: ChatMessage[], full: string, tok: Tokenizer): Ranges {
  const mark = (k: number) => `\uE000${k}\uE001`;
  const skeleton = tok.applyChatTemplate(messages.map((m, k) => ({ ...m, content: mark(k) })));
  const ranges: [number, number][] = [];
  let rebuilt = '';
  let pos = 0;
  for (const m of skeleton.matchAll(/\uE000(\d+)\uE001/g)) {
    rebuilt += skeleton.slice(pos, m.index);
    const content = messages[Number(m[1])]?.content ?? m[0];
    ranges.push([rebuilt.length, rebuilt.length + content.length]);
    rebuilt += content;
    pos = m.index + m[0].length;
  }
  rebuilt += skeleton.slice(pos);
  if (rebuilt !== full) {
    throw new RecordTrouble({
      what: `a message holds the text of the special token "${tok.findSpecialTokenText(messages.map((x) => x.content).join('\n'))}", and the chat template changes message text, so it cannot be kept apart from the template's own markers`,
      remedy: 'remove that text from the data',
    });
  }
  return ranges;
}

/**
 * The token spans `[start, end)` of the assistant turns in a rendered conversation.
 *
 * Method (incremental renders, no template markers needed): for the assistant message k,
 * - `before` = render(messages[0..k), add_generation_prompt=true): everything up to the start of
 *   the assistant's content, the assistant header included;
 * - `through` = render(messages[0..k]): the same plus the content and the template's end of
 *   turn (EOS, `<|im_end|>`, ...).
 * Both must be prefixes of the full render; then each is encoded (as the full render is) and
 * compared with the full encoding, so the turn's ids are always those of the whole conversation
 * encoded in one go. The span starts where `before`'s tokens stop matching the full encoding and
 * ends where `through`'s do; a token that straddles a boundary (the tokenizer merged header and
 * content, e.g. "▁Hello" taking the space after "[assistant]") is inside the span, as with
 * transformers' `return_assistant_tokens_mask`, which marks every token overlapping the
 * `{% generation %}` text. So the assistant header is never a target; the content and the end
 * of turn are.
 *
 * @throws RecordTrouble when a prefix render is not a prefix of the full render (e.g. a
 *   template that drops earlier reasoning or moves the system prompt)
 */
function assistantSpans(messages: ChatMessage[], full: string, fullIds: number[], tok: Tokenizer, encode: (text: string) => number[]): [number, number][] {
  const spans: [number, number][] = [];
  for (let k = 0; k < messages.length; k++) {
    if (messages[k].role !== 'assistant') continue;
    const before = tok.applyChatTemplate(messages.slice(0, k), { addGenerationPrompt: true });
    const through = k === messages.length - 1 ? full : tok.applyChatTemplate(messages.slice(0, k + 1));
    if (!full.startsWith(before) || !full.startsWith(through) || through.length < before.length) {
      throw new RecordTrouble({
        what: `the chat template does not render this conversation incrementally (the text up to messages[${k}] is not a prefix of the whole), so the assistant tokens cannot be located`,
        remedy: 'set "completion_only_loss": false, or use a chat template whose render of the first messages is a prefix of the render of all of them',
      });
    }
    const start = commonPrefix(encode(before), fullIds);
    let end: number;
    if (through === full) {
      end = fullIds.length;
    } else {
      const throughIds = encode(through);
      const common = commonPrefix(throughIds, fullIds);
      end = common === throughIds.length ? common : Math.min(common + 1, fullIds.length);
    }
    if (end > start) spans.push([start, end]);
  }
  return spans;
}

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}
