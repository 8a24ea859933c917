/**
 * `Tokenizer`: text ⇄ token ids for one Hugging Face model folder.
 *
 * The tokenization itself (normalizer, pre-tokenizer, BPE/Unigram/WordPiece model, post-processor,
 * decoder) is `@huggingface/tokenizers` running the folder's `tokenizer.json`; this class adds the
 * settings that transformers keeps outside that file (`tokenizer_config.json`, `config.json`,
 * `generation_config.json`): which special tokens exist, whether BOS/EOS are added, the pad token
 * and the chat template (rendered with `@huggingface/jinja`).
 */
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { join } from 'node:path';
import { TokenizerError, errorMessage } from './errors';
import { FILES, type JsonObject, type TokenizerFiles } from './files';

/** Options of {@link Tokenizer.encode}. */
export interface EncodeOptions {
  /** Add the model's BOS/EOS (and whatever else its post-processor adds). Default true. */
  addSpecialTokens?: boolean;
  /**
   * Encode the strings of special tokens (`<s>`, `</s>`, `<|im_end|>`, ...) found in the text as
   * plain characters instead of as the special token: `true` for the whole text, or the
   * `[start, end)` ranges (UTF-16 indices) of the text where this applies, e.g. the user's data
   * inside a chat-template render (a special-token string that overlaps a range is plain). Only
   * special tokens are affected; other added tokens are still matched. Default false.
   * Semantics: HF `tokenizers` `encode_special_tokens` (transformers' `split_special_tokens`).
   */
  splitSpecialTokens?: boolean | readonly (readonly [number, number])[];
}

/** Options of {@link Tokenizer.decode}. */
export interface DecodeOptions {
  /** Leave out special tokens (`<s>`, `</s>`, `<|im_end|>`, ...). Default false. */
  skipSpecialTokens?: boolean;
}

/** One chat message, as in transformers' `apply_chat_template`. */
export interface ChatMessage {
  role: string;
  content: string;
}

/** Options of {@link Tokenizer.applyChatTemplate}. */
export interface ChatTemplateOptions {
  /** Append the header that starts the assistant's turn (`add_generation_prompt`). Default false. */
  addGenerationPrompt?: boolean;
}

/** transformers' `VERY_LARGE_INTEGER` (int(1e30)): the `model_max_length` of "no limit". */
const NO_MAX_LENGTH = 1e29;

/** Tokenizer classes whose transformers implementation adds BOS by default (`add_bos_token=True`). */
const LLAMA_CLASSES = /^(Llama|CodeLlama)Tokenizer(Fast)?$/;

/**
 * A loaded tokenizer. Create one with `loadTokenizer(modelDir)`, or with `new Tokenizer(files)`
 * from already-parsed file contents.
 *
 * Special-token ids resolve in this order (first one found wins):
 * - BOS / EOS: the token named by `bos_token` / `eos_token` in `tokenizer_config.json` (a string
 *   or an AddedToken object `{content}`), looked up in the vocabulary; else `bos_token_id` /
 *   `eos_token_id` of `generation_config.json`; else of `config.json` (eos may be a list there;
 *   its first entry is used).
 * - PAD: `pad_token` of `tokenizer_config.json`; else `pad_token_id` of `generation_config.json`,
 *   then `config.json`; else **the EOS id**; else **0**. Padding positions are masked out of
 *   loss and attention, so any valid id will do; EOS is what most fine-tuning recipes use for
 *   models without a pad token (Llama), and 0 keeps the value a valid id when there is no EOS.
 */
export class Tokenizer {
  /** Number of token ids: highest id in the vocabulary (added tokens included) + 1. May be less
   *  than `config.json`'s `vocab_size`, which is often padded. */
  readonly vocabSize: number;
  /** BOS id, if the model has one. */
  readonly bosTokenId: number | undefined;
  /** EOS id the tokenizer uses (the one `encode` appends when `addEos`). */
  readonly eosTokenId: number | undefined;
  /** Every id that ends generation: `eosTokenId` plus `generation_config.json`'s (else
   *  `config.json`'s) `eos_token_id`, which may be a list (Llama 3: `<|eot_id|>`, ...). No duplicates. */
  readonly eosTokenIds: number[];
  /** Pad id; see the class comment for its fallbacks (pad → EOS → 0). */
  readonly padTokenId: number;
  /** Whether `encode` puts one BOS first (with `addSpecialTokens`, the default). */
  readonly addBos: boolean;
  /** Whether `encode` puts one EOS last (with `addSpecialTokens`, the default). */
  readonly addEos: boolean;
  /** The chat template (jinja source), if the model has one (`default` of a named list). */
  readonly chatTemplate?: string;
  /** All templates of a named list (`[{name, template}]`) in `tokenizer_config.json`, by name. */
  readonly chatTemplates: Readonly<Record<string, string>>;
  /** `model_max_length` from `tokenizer_config.json`; undefined when absent or "unlimited". */
  readonly modelMaxLength?: number;
  /** BOS / EOS / PAD / UNK token strings, for templates and display. */
  readonly bosToken?: string;
  readonly eosToken?: string;
  readonly padToken?: string;
  readonly unkToken?: string;

  private readonly hf: HfTokenizer;
  /** Where the files came from (a folder), for error messages. */
  private readonly source: string | undefined;
  private readonly chatTemplateFile: string;
  private readonly specialIds: ReadonlySet<number>;
  /** Whether the tokenizer.json post-processor itself emits BOS first / EOS last. */
  private readonly postProcessorBos: boolean;
  private readonly postProcessorEos: boolean;
  /** The tokenizer.json, kept to build `plain` on first use. */
  private readonly tokenizerJsonForPlain: JsonObject;
  private readonly libConfig: JsonObject;
  /** The same tokenizer without its special added tokens (built on first use): encodes their strings as text. */
  private plain?: HfTokenizer;
  /** Special-token strings with their id and AddedToken lstrip/rstrip, and a regex finding them (longest first). */
  private readonly specials: ReadonlyMap<string, { id: number; lstrip: boolean; rstrip: boolean }>;
  private readonly specialPattern: RegExp | null;
  /** What the post-processor puts before / after a single sequence (found by encoding a probe once). */
  private postProcessorAround?: { before: number[]; after: number[] };
  private maxTokenCharsCache?: number;
  private compiledTemplate?: Template;
  private displayAnchor?: { ids: number[]; text: string } | null;

  /**
   * Builds a tokenizer from parsed file contents (what `loadTokenizer` reads).
   *
   * @param files the parsed `tokenizer.json` and the optional config files
   * @param source the folder the files came from, used in error messages
   * @throws TokenizerError naming the file when `tokenizer.json` is not something
   *   `@huggingface/tokenizers` can load, when a field of `tokenizer_config.json` / `config.json` /
   *   `generation_config.json` has the wrong type, or when `add_bos_token` / `add_eos_token` is
   *   true but the model defines no such token.
   */
  constructor(files: TokenizerFiles, source?: string) {
    this.source = source;
    const tcFile = this.file(FILES.tokenizerConfig);
    const tc = files.tokenizerConfig ?? {};

    this.bosToken = tokenContent(tc.bos_token, 'bos_token', tcFile);
    this.eosToken = tokenContent(tc.eos_token, 'eos_token', tcFile);
    this.padToken = tokenContent(tc.pad_token, 'pad_token', tcFile);
    this.unkToken = tokenContent(tc.unk_token, 'unk_token', tcFile);
    const additional = tc.additional_special_tokens;
    if (additional !== undefined && additional !== null && !Array.isArray(additional)) {
      throw new TokenizerError(`${tcFile}: additional_special_tokens must be a list; fix or remove the field`, tcFile);
    }
    const cleanUp = optBool(tc.clean_up_tokenization_spaces, 'clean_up_tokenization_spaces', tcFile);

    // @huggingface/tokenizers reads a few tokenizer_config fields itself (additional special
    // tokens, remove_space, lowercasing, clean-up). Give it plain strings for the token fields,
    // and clean_up_tokenization_spaces defaulting to false as in transformers >= 4.45 (the
    // library defaults to true, which turns " ." into "." and breaks round trips).
    const libConfig: JsonObject = {
      ...tc,
      bos_token: this.bosToken, eos_token: this.eosToken, pad_token: this.padToken, unk_token: this.unkToken,
      additional_special_tokens: (additional ?? []).map((t, i) => tokenContent(t, `additional_special_tokens[${i}]`, tcFile))
        .filter((t): t is string => t !== undefined),
      clean_up_tokenization_spaces: cleanUp ?? false,
    };
    const tjFile = this.file(FILES.tokenizer);
    this.hf = createHfTokenizer(files.tokenizerJson, libConfig, tjFile);

    const vocab = this.hf.get_vocab(true);
    let maxId = -1;
    for (const [token, id] of vocab) if (typeof token === 'string' && id > maxId) maxId = id;
    this.vocabSize = maxId + 1;
    const special = new Set<number>();
    for (const [id, t] of this.hf.get_added_tokens_decoder()) if (t.special) special.add(id);
    for (const t of libConfig.additional_special_tokens as string[]) {
      const id = this.hf.token_to_id(t);
      if (id !== undefined) special.add(id);
    }
    this.specialIds = special;
    this.tokenizerJsonForPlain = files.tokenizerJson;
    this.libConfig = libConfig;
    const specials = new Map<string, { id: number; lstrip: boolean; rstrip: boolean }>();
    const addedList = Array.isArray(files.tokenizerJson.added_tokens) ? files.tokenizerJson.added_tokens as JsonObject[] : [];
    for (const id of special) {
      const content = this.hf.id_to_token(id);
      if (content === undefined || content === '') continue;
      const entry = addedList.find((t) => t.id === id);
      specials.set(content, { id, lstrip: entry?.lstrip === true, rstrip: entry?.rstrip === true });
    }
    this.specials = specials;
    const alternatives = [...specials.keys()].sort((a, b) => b.length - a.length).map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    this.specialPattern = alternatives.length ? new RegExp(alternatives.join('|'), 'g') : null;

    // Special-token ids: tokenizer_config's token strings first, then generation_config, then config.
    const gcFile = this.file(FILES.generationConfig);
    const cFile = this.file(FILES.config);
    const gc = files.generationConfig ?? {};
    const mc = files.modelConfig ?? {};
    const fallbackId = (field: string): number[] | undefined =>
      idList(gc[field], field, gcFile) ?? idList(mc[field], field, cFile);
    const lookup = (token: string | undefined): number | undefined =>
      token === undefined ? undefined : this.hf.token_to_id(token);

    this.bosTokenId = lookup(this.bosToken) ?? fallbackId('bos_token_id')?.[0];
    const eosFallback = fallbackId('eos_token_id');
    this.eosTokenId = lookup(this.eosToken) ?? eosFallback?.[0];
    this.eosTokenIds = [...new Set([
      ...(this.eosTokenId === undefined ? [] : [this.eosTokenId]), ...(eosFallback ?? []),
    ])];
    this.padTokenId = lookup(this.padToken) ?? fallbackId('pad_token_id')?.[0] ?? this.eosTokenId ?? 0;
    if (this.bosToken === undefined && this.bosTokenId !== undefined) this.bosToken = this.hf.id_to_token(this.bosTokenId);
    if (this.eosToken === undefined && this.eosTokenId !== undefined) this.eosToken = this.hf.id_to_token(this.eosTokenId);
    if (this.padToken === undefined) this.padToken = this.hf.id_to_token(this.padTokenId);

    // What the tokenizer.json post-processor adds: encode "" with special tokens and look.
    const probe = this.hf.encode('', { add_special_tokens: true }).ids;
    this.postProcessorBos = this.bosTokenId !== undefined && probe[0] === this.bosTokenId;
    this.postProcessorEos = this.eosTokenId !== undefined && probe.length > (this.postProcessorBos ? 1 : 0)
      && probe[probe.length - 1] === this.eosTokenId;

    // add_bos_token / add_eos_token: explicit setting wins; otherwise the post-processor decides,
    // and transformers' Llama tokenizers default to add_bos_token=True.
    const explicitBos = optBool(tc.add_bos_token, 'add_bos_token', tcFile);
    const explicitEos = optBool(tc.add_eos_token, 'add_eos_token', tcFile);
    const tokenizerClass = typeof tc.tokenizer_class === 'string' ? tc.tokenizer_class : undefined;
    const llamaDefault = tokenizerClass !== undefined ? LLAMA_CLASSES.test(tokenizerClass) : mc.model_type === 'llama';
    if (explicitBos === true && this.bosTokenId === undefined) {
      throw new TokenizerError(`${tcFile}: add_bos_token is true but the model defines no BOS token; set "bos_token" there or "bos_token_id" in config.json`, tcFile);
    }
    if (explicitEos === true && this.eosTokenId === undefined) {
      throw new TokenizerError(`${tcFile}: add_eos_token is true but the model defines no EOS token; set "eos_token" there or "eos_token_id" in config.json`, tcFile);
    }
    this.addBos = this.bosTokenId !== undefined && (explicitBos ?? (this.postProcessorBos || llamaDefault));
    this.addEos = this.eosTokenId !== undefined && (explicitEos ?? this.postProcessorEos);

    const maxLen = tc.model_max_length;
    if (maxLen !== undefined && maxLen !== null && (typeof maxLen !== 'number' || !(maxLen > 0))) {
      throw new TokenizerError(`${tcFile}: model_max_length must be a positive number; fix or remove the field`, tcFile);
    }
    if (typeof maxLen === 'number' && maxLen < NO_MAX_LENGTH) this.modelMaxLength = maxLen;

    // Chat template: chat_template.jinja (newer transformers) overrides tokenizer_config's.
    const { template, named } = parseChatTemplate(tc.chat_template, tcFile);
    this.chatTemplates = named;
    this.chatTemplate = files.chatTemplateJinja ?? template;
    this.chatTemplateFile = files.chatTemplateJinja !== undefined ? this.file(FILES.chatTemplate) : tcFile;
  }

  /**
   * Text → token ids, as `tokenizer(text)["input_ids"]` in transformers.
   *
   * With `addSpecialTokens` (the default) the ids hold exactly one BOS first when `addBos`, and
   * exactly one EOS last when `addEos`: whatever the `tokenizer.json` post-processor already adds
   * is kept and the missing one is added, never both; an explicit `add_bos_token: false` /
   * `add_eos_token: false` in `tokenizer_config.json` removes the one the post-processor adds
   * (what transformers' Llama fast tokenizer does by rebuilding its post-processor). Other tokens
   * the post-processor adds (BERT's [CLS]/[SEP]) are kept. Without `addSpecialTokens`: no BOS, no
   * EOS, nothing from the post-processor.
   *
   * Text that literally contains a special token's string (`<s>`, `<|im_end|>`) is encoded as that
   * special token, as HF tokenizers do, unless `splitSpecialTokens` says to encode it as plain
   * characters (for data text, where `</s>` is just four characters).
   *
   * Semantics: HF `tokenizers` `Tokenizer.encode` (with `encode_special_tokens` for
   * `splitSpecialTokens`) + transformers `add_bos_token`/`add_eos_token`.
   */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new TokenizerError(`encode: expected a string, got ${typeof text}`);
    const addSpecial = opts.addSpecialTokens ?? true;
    const split = opts.splitSpecialTokens ?? false;
    let ids: number[];
    if (split === false) {
      ids = this.hf.encode(text, { add_special_tokens: addSpecial }).ids;
    } else {
      ids = this.encodeSplitting(text, split === true ? [[0, text.length]] : split);
      if (addSpecial) {
        const around = this.getPostProcessorAround();
        ids = [...around.before, ...ids, ...around.after];
      }
    }
    if (!addSpecial) return ids;
    if (this.postProcessorBos && !this.addBos) ids.shift();
    else if (!this.postProcessorBos && this.addBos) ids.unshift(this.bosTokenId!);
    if (this.postProcessorEos && !this.addEos) ids.pop();
    else if (!this.postProcessorEos && this.addEos) ids.push(this.eosTokenId!);
    return ids;
  }

  /**
   * The first special token's string (`</s>`, `<|im_end|>`, ...) that occurs in `text`, or
   * undefined when there is none: data text holding one is encoded as plain characters by
   * `encode(..., {splitSpecialTokens})`, which a user may want to know.
   */
  findSpecialTokenText(text: string): string | undefined {
    if (this.specialPattern === null) return undefined;
    this.specialPattern.lastIndex = 0;
    return this.specialPattern.exec(text)?.[0];
  }

  /** Ids of `text` (no post-processor) with special-token strings that overlap `plainRanges` left as text. */
  private encodeSplitting(text: string, plainRanges: readonly (readonly [number, number])[]): number[] {
    const kept: { start: number; end: number; content: string }[] = [];
    let overlapping = false;
    if (this.specialPattern !== null) {
      this.specialPattern.lastIndex = 0;
      for (let m = this.specialPattern.exec(text); m !== null; m = this.specialPattern.exec(text)) {
        const start = m.index;
        const end = start + m[0].length;
        if (plainRanges.some(([a, b]) => start < b && a < end)) overlapping = true;
        else kept.push({ start, end, content: m[0] });
      }
    }
    // No special-token string in the plain ranges: exactly the ordinary encoding.
    if (!overlapping) return this.hf.encode(text, { add_special_tokens: false }).ids;
    // Split at the special tokens that stay special, as the library does, and encode the text in
    // between with a tokenizer that does not know the special tokens (so it treats them as text).
    this.plain ??= createHfTokenizer({
      ...this.tokenizerJsonForPlain,
      added_tokens: ((this.tokenizerJsonForPlain.added_tokens ?? []) as JsonObject[]).filter((t) => !this.specialIds.has(t.id as number)),
    }, this.libConfig, this.file(FILES.tokenizer));
    const ids: number[] = [];
    let pos = 0;
    for (let k = 0; k <= kept.length; k++) {
      const token = kept[k];
      let chunk = text.slice(pos, token ? token.start : text.length);
      if (token && this.specials.get(token.content)!.lstrip) chunk = chunk.trimEnd();
      if (k > 0 && this.specials.get(kept[k - 1].content)!.rstrip) chunk = chunk.trimStart();
      if (chunk.length > 0) ids.push(...this.plain.encode(chunk, { add_special_tokens: false }).ids);
      if (token) {
        ids.push(this.specials.get(token.content)!.id);
        pos = token.end;
      }
    }
    return ids;
  }

  /** The ids the post-processor puts around one sequence: encode a probe with and without special tokens. */
  private getPostProcessorAround(): { before: number[]; after: number[] } {
    if (this.postProcessorAround) return this.postProcessorAround;
    const probe = 'a';
    const bare = this.hf.encode(probe, { add_special_tokens: false }).ids;
    const full = this.hf.encode(probe, { add_special_tokens: true }).ids;
    let at = -1;
    for (let i = 0; i + bare.length <= full.length && at < 0; i++) {
      if (bare.every((id, j) => full[i + j] === id)) at = i;
    }
    this.postProcessorAround = at < 0 ? { before: [], after: [] } : { before: full.slice(0, at), after: full.slice(at + bare.length) };
    return this.postProcessorAround;
  }

  /**
   * Token ids → text, as transformers' `tokenizer.decode(ids, skip_special_tokens=...)` with
   * `clean_up_tokenization_spaces` from `tokenizer_config.json` (default false).
   *
   * Ids that are integers but not in the vocabulary (a model's padded vocab rows) are skipped, as
   * HF tokenizers' decode does. An empty list decodes to "".
   *
   * @throws TokenizerError when an id is not a non-negative integer.
   */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const known: number[] = [];
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0) {
        throw new TokenizerError(`decode: ${id} is not a token id; pass non-negative integer ids`);
      }
      if (this.hf.id_to_token(id) !== undefined) known.push(id);
    }
    if (known.length === 0) return '';
    return this.hf.decode(known, { skip_special_tokens: opts.skipSpecialTokens ?? false });
  }

  /**
   * The vocabulary entry of an id, exactly as stored (`▁Once`, `<0x0A>`, `Ġthe`, `<s>`), or
   * undefined when no token has that id. HF tokenizers `id_to_token`.
   */
  idToToken(id: number): string | undefined {
    if (!Number.isInteger(id) || id < 0) return undefined;
    return this.hf.id_to_token(id);
  }

  /** The id of a vocabulary entry (exact string, as `idToToken` returns), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  /**
   * The most characters one token stands for: the length (UTF-16 code units) of the longest
   * vocabulary entry that is not a special token (`▁little` → 7). A byte-fallback token
   * (`<0xE2>`) stands for part of one character, so it counts as 1. Used to bound how much text
   * can become `n` tokens (see `data/tokenize.ts`).
   */
  get maxTokenChars(): number {
    if (this.maxTokenCharsCache === undefined) {
      let longest = 1;
      for (const [token, id] of this.hf.get_vocab(true)) {
        if (typeof token !== 'string' || this.specialIds.has(id) || /^<0x[0-9A-Fa-f]{2}>$/.test(token)) continue;
        if (token.length > longest) longest = token.length;
      }
      this.maxTokenCharsCache = longest;
    }
    return this.maxTokenCharsCache;
  }

  /** Whether an id is a special token (`special: true` in tokenizer.json, or listed in
   *  `additional_special_tokens`); `decode(..., {skipSpecialTokens})` drops these. */
  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  /**
   * The text one token stands for, for display (per-token tables): its decoded text *with* its
   * leading space (`▁Once` → " Once", `Ġthe` → " the"), `<0x0A>` → "\n". Special tokens show as
   * themselves (`<s>`). A byte-fallback token that is only part of a UTF-8 character shows its
   * raw form (`<0xE2>`). Newlines, tabs etc. are returned as is; escaping is the caller's job.
   * Never throws: an id outside the vocabulary shows as `<id N?>`.
   *
   * Computed with the model's own decoder: decode(anchor + token) minus decode(anchor), so the
   * decoder's "strip the first space" step does not eat the token's space.
   */
  tokenToString(id: number): string {
    const raw = this.idToToken(id);
    if (raw === undefined) return `<id ${id}?>`;
    if (this.specialIds.has(id)) return raw;
    const anchor = this.getDisplayAnchor();
    let text: string;
    if (anchor) {
      const both = this.hf.decode([...anchor.ids, id], { skip_special_tokens: false, clean_up_tokenization_spaces: false });
      text = both.startsWith(anchor.text)
        ? both.slice(anchor.text.length)
        : this.hf.decode([id], { skip_special_tokens: false, clean_up_tokenization_spaces: false });
    } else {
      text = this.hf.decode([id], { skip_special_tokens: false, clean_up_tokenization_spaces: false });
    }
    if (text.includes('\uFFFD') && !raw.includes('\uFFFD')) return raw;
    return text;
  }

  /**
   * Renders a conversation with the model's chat template (jinja, via `@huggingface/jinja`), as
   * transformers' `apply_chat_template(messages, tokenize=False, add_generation_prompt=...)`. The
   * template sees `messages`, `add_generation_prompt`, `bos_token`, `eos_token`, `pad_token` and
   * `unk_token` (those the model defines), plus jinja's `raise_exception` and `strftime_now`.
   *
   * Most templates write `bos_token` themselves: encode the result with
   * `{addSpecialTokens: false}` or the text starts with two BOS (transformers does the same).
   *
   * @throws TokenizerError when the model has no chat template (a base model), or when the
   *   template does not parse or raises while rendering (e.g. "roles must alternate").
   */
  applyChatTemplate(messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): string {
    if (this.chatTemplate === undefined) {
      const names = Object.keys(this.chatTemplates);
      const file = this.file(FILES.tokenizerConfig);
      throw new TokenizerError(names.length > 0
        ? `${file}: chat_template lists templates ${names.map((n) => `"${n}"`).join(', ')} but none named "default"; add a "default" one`
        : `${file} has no chat_template (a base model?), so chat messages cannot be rendered: give a plain-text prompt instead ({"prompt": …} in eval sets, --prompt for generate), use a chat model, or add a "chat_template" to tokenizer_config.json`,
      file);
    }
    if (!this.compiledTemplate) {
      try {
        this.compiledTemplate = new Template(this.chatTemplate);
      } catch (e) {
        throw new TokenizerError(`${this.chatTemplateFile}: the chat template does not parse (${errorMessage(e)}); fix the template or report it`,
          this.chatTemplateFile, e);
      }
    }
    const vars: Record<string, unknown> = {
      messages: messages.map((m) => ({ ...m })),
      add_generation_prompt: opts.addGenerationPrompt ?? false,
    };
    if (this.bosToken !== undefined) vars.bos_token = this.bosToken;
    if (this.eosToken !== undefined) vars.eos_token = this.eosToken;
    if (this.padToken !== undefined) vars.pad_token = this.padToken;
    if (this.unkToken !== undefined) vars.unk_token = this.unkToken;
    try {
      return this.compiledTemplate.render(vars);
    } catch (e) {
      throw new TokenizerError(`${this.chatTemplateFile}: the chat template failed on these messages (${errorMessage(e)}); check the roles and order of the messages`,
        this.chatTemplateFile, e);
    }
  }

  private file(name: string): string {
    return this.source === undefined ? name : join(this.source, name);
  }

  /** A plain token whose decoded text is non-empty and has no space, to decode a token after. */
  private getDisplayAnchor(): { ids: number[]; text: string } | null {
    if (this.displayAnchor !== undefined) return this.displayAnchor;
    this.displayAnchor = null;
    for (const candidate of ['a', 'x', '0', '.']) {
      const ids = this.hf.encode(candidate, { add_special_tokens: false }).ids;
      if (ids.length === 0 || ids.some((i) => this.specialIds.has(i))) continue;
      const text = this.hf.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
      if (text.length > 0 && !/\s|\uFFFD/.test(text)) {
        this.displayAnchor = { ids, text };
        break;
      }
    }
    return this.displayAnchor;
  }
}

/** Builds the @huggingface/tokenizers object, turning its errors into TokenizerError. */
function createHfTokenizer(tokenizerJson: JsonObject, config: JsonObject, file: string): HfTokenizer {
  if (tokenizerJson.model === null || typeof tokenizerJson.model !== 'object') {
    throw new TokenizerError(`${file} has no "model" object, so it is not a tokenizers-library file; re-save the tokenizer with transformers' save_pretrained`, file);
  }
  // The Rust library writes these keys (null when unused); hand-edited files may omit them.
  const json: JsonObject = {
    normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...tokenizerJson,
    added_tokens: tokenizerJson.added_tokens ?? [],
  };
  try {
    return new HfTokenizer(json, config);
  } catch (e) {
    throw new TokenizerError(`${file}: @huggingface/tokenizers cannot load it (${errorMessage(e)}); re-save it with a recent transformers, or report the model`, file, e);
  }
}

/** A special token field: a string, an AddedToken object `{content, ...}`, or null/absent. */
function tokenContent(v: unknown, field: string, file: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  throw new TokenizerError(`${file}: ${field} must be a string or an object with "content"; fix the field`, file);
}

function optBool(v: unknown, field: string, file: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'boolean') return v;
  throw new TokenizerError(`${file}: ${field} must be true or false, got ${JSON.stringify(v)}; fix the field`, file);
}

/** A `*_token_id` field: an id, a list of ids (eos_token_id), or null/absent. */
function idList(v: unknown, field: string, file: string): number[] | undefined {
  if (v === undefined || v === null) return undefined;
  const list = Array.isArray(v) ? v : [v];
  if (!list.every((x) => Number.isInteger(x) && (x as number) >= 0)) {
    throw new TokenizerError(`${file}: ${field} must be a token id or a list of ids, got ${JSON.stringify(v)}; fix the field`, file);
  }
  return list.length === 0 ? undefined : (list as number[]);
}

/** `chat_template`: a string, a list of `{name, template}`, or (tolerated) a `{name: template}` map. */
function parseChatTemplate(v: unknown, file: string): { template?: string; named: Record<string, string> } {
  if (v === undefined || v === null) return { named: {} };
  if (typeof v === 'string') return { template: v, named: {} };
  const named: Record<string, string> = {};
  const bad = () => new TokenizerError(`${file}: chat_template must be a string or a list of {"name", "template"}; fix the field`, file);
  if (Array.isArray(v)) {
    for (const entry of v) {
      const { name, template } = (entry ?? {}) as { name?: unknown; template?: unknown };
      if (typeof name !== 'string' || typeof template !== 'string') throw bad();
      named[name] = template;
    }
  } else if (typeof v === 'object') {
    for (const [name, template] of Object.entries(v)) {
      if (typeof template !== 'string') throw bad();
      named[name] = template;
    }
  } else {
    throw bad();
  }
  return { template: named.default, named };
}
