/**
 * Records → training examples: token ids plus a target mask saying which tokens the loss trains
 * on, chunked or truncated to `max_seq_length`.
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

/** The examples of one record; `truncated` when a prompt-completion or chat record was cut. */
export interface TokenizedRecord {
  examples: Example[];
  truncated: boolean;
}

/**
 * Tokenizes one record.
 *
 * - `text`: `encode(text)` (one BOS first when the tokenizer adds BOS; EOS last only when it adds
 *   EOS, i.e. `add_eos_token`). Every token after the first is a target. Longer than
 *   `maxSeqLength`: CHUNKED into consecutive pieces of `maxSeqLength` tokens, each its own example
 *   (no BOS added to later pieces; a piece's first token is not predicted), as HF's
 *   `run_clm` `group_texts` does per document.
 * - `prompt`/`completion`: `encode(prompt)` (with BOS; a trailing EOS the tokenizer adds is
 *   dropped) followed by `encode(completion, {addSpecialTokens: false})` and then the EOS id, as
 *   TRL appends `eos_token` to every completion (not twice if the completion already ends with it;
 *   not at all if the model has no EOS). The two parts are tokenized separately, so the boundary
 *   is exact. Targets: the completion tokens (EOS included) when `completionOnlyLoss`, else every
 *   token after the first.
 * - `messages`: the chat template's render of the whole conversation, encoded without special
 *   tokens (templates write BOS themselves); when the tokenizer adds BOS and the render does not
 *   start with it, one BOS is put first, so every example starts with exactly one BOS. Targets:
 *   every token after the first, or with `completionOnlyLoss` only the assistant turns, located as
 *   described at {@link assistantSpans}.
 *
 * Prompt-completion and chat examples longer than `maxSeqLength` are TRUNCATED (the start is
 * kept, as TRL's `truncation_mode="keep_start"`). Examples left with no target token are dropped,
 * so a record may yield no example.
 *
 * @returns the examples, or the problem with the record (a chat template that fails on it or that
 *   does not render incrementally), which the caller reports as a bad record
 * @throws DataError (not skippable) for a `messages` record when the tokenizer has no chat template
 */
export function tokenizeRecord(record: DataRecord, tok: Tokenizer, opts: TokenizeOptions): TokenizedRecord | RecordProblem {
  const L = opts.maxSeqLength;
  switch (record.kind) {
    case 'text': {
      const ids = tok.encode(record.text);
      const examples: Example[] = [];
      for (let start = 0; start < ids.length; start += L) {
        const piece = ids.slice(start, start + L);
        const target = new Uint8Array(piece.length).fill(1);
        target[0] = 0;
        push(examples, piece, target, record.source);
      }
      return { examples, truncated: false };
    }
    case 'prompt_completion': {
      const prompt = tok.encode(record.prompt);
      if (tok.addEos && prompt.length > 0 && prompt[prompt.length - 1] === tok.eosTokenId) prompt.pop();
      const completion = tok.encode(record.completion, { addSpecialTokens: false });
      if (tok.eosTokenId !== undefined && completion[completion.length - 1] !== tok.eosTokenId) completion.push(tok.eosTokenId);
      const ids = [...prompt, ...completion];
      const target = new Uint8Array(ids.length).fill(1);
      if (opts.completionOnlyLoss) target.fill(0, 0, prompt.length);
      target[0] = 0;
      return truncate(ids, target, record.source, L);
    }
    case 'messages': {
      if (tok.chatTemplate === undefined) {
        const { file, line } = record.source;
        throw new DataError(`${file}:${line}: a {"messages"} record, but the model's tokenizer has no chat template (a base model?); use {"text"} or {"prompt","completion"} records, or add a "chat_template" to the model's tokenizer_config.json`, record.source);
      }
      let rendered: { ids: number[]; spans: [number, number][] | undefined };
      try {
        rendered = renderChat(record.messages, tok, opts.completionOnlyLoss);
      } catch (e) {
        if (e instanceof TemplateNotIncremental) return e.problem;
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
      return truncate(ids, target, record.source, L);
    }
  }
}

function push(out: Example[], ids: number[], target: Uint8Array, source: Source): void {
  if (target.some((x) => x === 1)) out.push({ ids, target, source });
}

function truncate(ids: number[], target: Uint8Array, source: Source, L: number): TokenizedRecord {
  const truncated = ids.length > L;
  const examples: Example[] = [];
  push(examples, truncated ? ids.slice(0, L) : ids, truncated ? target.slice(0, L) : target, source);
  return { examples, truncated };
}

class TemplateNotIncremental extends Error {
  constructor(readonly problem: RecordProblem) {
    super(problem.what);
  }
}

/** Renders a conversation: its ids (one BOS first when the tokenizer adds BOS) and, when
 *  `withSpans`, the assistant token spans in those ids. */
function renderChat(messages: ChatMessage[], tok: Tokenizer, withSpans: boolean): { ids: number[]; spans: [number, number][] | undefined } {
  const full = tok.applyChatTemplate(messages);
  const ids = tok.encode(full, { addSpecialTokens: false });
  const spans = withSpans ? assistantSpans(messages, full, ids, tok) : undefined;
  if (tok.addBos && tok.bosTokenId !== undefined && ids[0] !== tok.bosTokenId) {
    ids.unshift(tok.bosTokenId);
    if (spans) for (const span of spans) { span[0] += 1; span[1] += 1; }
  }
  return { ids, spans };
}

/**
 * The token spans `[start, end)` of the assistant turns in a rendered conversation.
 *
 * Method (incremental renders, no template markers needed): for the assistant message k,
 * - `before` = render(messages[0..k), add_generation_prompt=true): everything up to the start of
 *   the assistant's content, the assistant header included;
 * - `through` = render(messages[0..k]): the same plus the content and the template's end of
 *   turn (EOS, `<|im_end|>`, ...).
 * Both must be prefixes of the full render; then each is encoded (no special tokens) and compared
 * with the full encoding. The span starts where `before`'s tokens stop matching the full
 * encoding and ends where `through`'s do; a token that straddles a boundary (the tokenizer merged
 * header and content, e.g. "▁Hello" taking the space after "[assistant]") is inside the span, as
 * with transformers' `return_assistant_tokens_mask`, which marks every token overlapping the
 * `{% generation %}` text. So the assistant header is never a target; the content and the end
 * of turn are.
 *
 * @throws TemplateNotIncremental when a prefix render is not a prefix of the full render (e.g. a
 *   template that drops earlier reasoning or moves the system prompt)
 */
function assistantSpans(messages: ChatMessage[], full: string, fullIds: number[], tok: Tokenizer): [number, number][] {
  const spans: [number, number][] = [];
  for (let k = 0; k < messages.length; k++) {
    if (messages[k].role !== 'assistant') continue;
    const before = tok.applyChatTemplate(messages.slice(0, k), { addGenerationPrompt: true });
    const through = k === messages.length - 1 ? full : tok.applyChatTemplate(messages.slice(0, k + 1));
    if (!full.startsWith(before) || !full.startsWith(through) || through.length < before.length) {
      throw new TemplateNotIncremental({
        what: `the chat template does not render this conversation incrementally (the text up to messages[${k}] is not a prefix of the whole), so the assistant tokens cannot be located`,
        remedy: 'set "completion_only_loss": false, or use a chat template whose render of the first messages is a prefix of the render of all of them',
      });
    }
    const start = commonPrefix(tok.encode(before, { addSpecialTokens: false }), fullIds);
    let end: number;
    if (through === full) {
      end = fullIds.length;
    } else {
      const throughIds = tok.encode(through, { addSpecialTokens: false });
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
