/**
 * What the inference worker does with each request (`src/protocol/worker.ts`), independent of
 * how messages travel (main.ts wires it to Node IPC).
 *
 * One model at a time: `load` releases the previous session, then builds one multi-LoRA
 * KV-cache session with LoRA on every linear module ("all-linear"), so any adapter of that model
 * is a change of feeds (modules an adapter leaves out get zero feeds), never a rebuild. The
 * variants of a `generate` run as ONE batch: row i is variant i with its own adapter (the base
 * model as a zero adapter; `CausalLM.setAdapters`), and each row streams its `token` events as
 * its text comes, so the variants stream together. Adapters come from an `AdapterCache` (LRU by
 * bytes). Requests run one at a time in arrival order; `cancel` acts at once: a running
 * `generate` ends every row before its next token, a queued one is answered without running.
 */
import { assertFitsContext, encodeExpected, meanExpectedNll } from '../engine/eval/expected';
import { CausalLM } from '../engine/infer/causal-lm';
import type { AdapterSource } from '../engine/lora/feeds';
import { generateBatch } from '../engine/infer/generate';
import { DEFAULT_MAX_NEW_TOKENS, type GenerationDefaults, readGenerationDefaults, resolveSampling } from '../engine/infer/generation-config';
import { KvCacheStep } from '../engine/infer/kv-cache';
import { encodePrompt } from '../engine/infer/prompt';
import { validateSamplingParams } from '../engine/infer/sampling';
import { normalizeText, scoreTokens } from '../engine/infer/score';
import { resolveModel } from '../engine/models/hub';
import { loadModelConfig } from '../engine/models/index';
import { type Tokenizer, loadTokenizer } from '../engine/tokenizer/index';
import type { GenerationResult, WorkerEvent, WorkerRequest } from '../protocol/worker';
import { AdapterCache, adapterInfo } from './adapters';

/** How many most probable next tokens `scored` lists per position (the heatmap hover). */
export const SCORE_TOP_K = 5;

type Request<T extends WorkerRequest['type']> = Extract<WorkerRequest, { type: T }>;
/** The final event of a request. */
type Answer = Exclude<WorkerEvent, { type: 'ready' | 'log' | 'token' }>;

interface Loaded {
  /** The `model` of the load request (folder or Hub id) and its settings. */
  key: string;
  lm: CausalLM;
  step: KvCacheStep;
  tokenizer: Tokenizer;
  defaults: GenerationDefaults;
  event: Omit<Extract<WorkerEvent, { type: 'loaded' }>, 'id'>;
}

/** The first line of an error's message: what a user reads (never a stack). */
export function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split(/\r?\n/).find((l) => l.trim() !== '')?.trim() ?? 'unknown error';
}

export class InferenceService {
  private model: Loaded | null = null;
  private readonly queue: Exclude<WorkerRequest, { type: 'cancel' | 'shutdown' }>[] = [];
  private current: { id: number; abort: AbortController } | null = null;
  /** The request loop while it runs (close waits for it before releasing the session). */
  private pumping: Promise<void> | null = null;
  private closed = false;

  constructor(
    private readonly send: (e: WorkerEvent) => void,
    readonly adapters: AdapterCache = new AdapterCache(),
  ) {}

  /** Takes one request: `cancel` at once, the others in order after the running one. */
  handle(req: Exclude<WorkerRequest, { type: 'shutdown' }>): void {
    if (this.closed) return;
    if (req.type === 'cancel') {
      if (this.current?.id === req.id) {
        this.current.abort.abort();
        return;
      }
      const i = this.queue.findIndex((q) => q.id === req.id && q.type === 'generate');
      if (i >= 0) {
        const [q] = this.queue.splice(i, 1) as Request<'generate'>[];
        this.send({ v: 1, type: 'generated', id: q.id, results: q.variants.map((adapter) => ({ adapter, ids: [], text: '', finish_reason: 'cancelled' })) });
      }
      return;
    }
    this.queue.push(req);
    if (!this.pumping) this.pumping = this.pump();
  }

  /** Stops taking requests, cancels the running generation, waits for the running request to end and releases the session. */
  async close(): Promise<void> {
    this.closed = true;
    this.queue.length = 0;
    this.current?.abort.abort();
    await this.pumping;
    const m = this.model;
    this.model = null;
    this.adapters.clear();
    if (m) await m.lm.release();
  }

  private async pump(): Promise<void> {
    // `run` always awaits, so `pumping` is assigned before this loop can end and reset it.
    while (this.queue.length && !this.closed) {
      const req = this.queue.shift()!;
      this.current = { id: req.id, abort: new AbortController() };
      let answer: Answer;
      try {
        answer = await this.run(req, this.current.abort.signal);
      } catch (e) {
        answer = { v: 1, type: 'error', id: req.id, message: oneLine(e) };
      }
      this.current = null;
      if (!this.closed) this.send(answer);
    }
    this.pumping = null;
  }

  private run(req: Exclude<WorkerRequest, { type: 'cancel' | 'shutdown' }>, signal: AbortSignal): Promise<Answer> {
    switch (req.type) {
      case 'load': return this.load(req);
      case 'activate': return this.activate(req);
      case 'generate': return this.generate(req, signal);
      case 'score': return this.score(req);
    }
  }

  private need(): Loaded {
    if (!this.model) throw new Error('no model is loaded in the inference worker: load one first');
    return this.model;
  }

  private async load(req: Request<'load'>): Promise<Answer> {
    const key = JSON.stringify([req.model, req.device ?? null, req.threads ?? null]);
    if (this.model?.key === key) return { ...this.model.event, id: req.id };
    const prev = this.model;
    this.model = null;
    if (prev) await prev.lm.release();
    const dir = await resolveModel(req.model);
    await loadModelConfig(dir); // a folder without config.json is named as such before the tokenizer is looked for
    const tokenizer = await loadTokenizer(dir);
    const defaults = await readGenerationDefaults(dir);
    const started = Date.now();
    const lm = await CausalLM.load(dir, { device: req.device, threads: req.threads, targetModules: 'all-linear', kvCache: true, multiLora: true });
    this.send({ v: 1, type: 'log', line: `loaded ${req.model} (${lm.provider}) in ${Date.now() - started} ms` });
    const event = {
      v: 1 as const, type: 'loaded' as const, model: req.model, model_type: lm.config.model_type, provider: lm.provider,
      max_positions: lm.config.max_position_embeddings, has_chat_template: tokenizer.chatTemplate !== undefined,
      max_new_tokens: defaults.max_new_tokens ?? DEFAULT_MAX_NEW_TOKENS,
    };
    this.model = { key, lm, step: new KvCacheStep(lm), tokenizer, defaults, event };
    return { id: req.id, ...event };
  }

  /** Reads `dir` (cached) and checks it fits the loaded model; the model then runs with it. */
  private async useAdapter(m: Loaded, dir: string | null): Promise<void> {
    if (dir === null) m.lm.clearAdapter();
    else m.lm.setAdapter(await this.adapters.get(dir), dir);
  }

  private async activate(req: Request<'activate'>): Promise<Answer> {
    const m = this.need();
    await this.useAdapter(m, req.adapter);
    const info = req.adapter === null ? null : adapterInfo(req.adapter, await this.adapters.get(req.adapter));
    return { v: 1, type: 'activated', id: req.id, adapter: info };
  }

  private async generate(req: Request<'generate'>, signal: AbortSignal): Promise<Answer> {
    const m = this.need();
    const promptIds = encodePrompt(m.tokenizer, req.messages !== undefined ? { messages: req.messages } : { prompt: req.prompt ?? '' });
    if (promptIds.length === 0) throw new Error('the prompt is empty and the model adds no BOS token: write a prompt');
    const p = req.params;
    const sampling = resolveSampling(m.defaults, { temperature: p.temperature, topK: p.top_k, topP: p.top_p, repetitionPenalty: p.repetition_penalty });
    validateSamplingParams(sampling);
    const maxNewTokens = p.max_new_tokens ?? m.event.max_new_tokens;
    // Row i = variant i. Each distinct adapter is stacked once; every adapter must fit before
    // anything is generated (setAdapters checks them all).
    const distinct = [...new Set(req.variants)];
    const sources: AdapterSource[] = [];
    for (const dir of distinct) sources.push(dir === null ? null : { adapter: await this.adapters.get(dir), source: dir });
    m.lm.setAdapters(sources, req.variants.map((v) => distinct.indexOf(v)));
    const decode = (ids: readonly number[]) => m.tokenizer.decode(ids, { skipSpecialTokens: true });
    const out = await generateBatch(m.step, req.variants.map(() => promptIds), {
      maxNewTokens, sampling, eosTokenIds: m.tokenizer.eosTokenIds, stopStrings: p.stop, seed: p.seed, decode, signal,
      onText: (variant, text) => this.send({ v: 1, type: 'token', id: req.id, variant, text }),
    });
    const results: GenerationResult[] = out.map((res, i) => ({ adapter: req.variants[i], ids: res.ids, text: res.text, finish_reason: res.finishReason }));
    return { v: 1, type: 'generated', id: req.id, results };
  }

  /**
   * `score` of a text: every token after BOS, with the top-5 next tokens per position (the
   * heatmap). `score` of an eval case (`expected` given): prompt + expected encoded by
   * engine/eval/expected.ts, the definition `loralab eval` uses, and `expected_nll` the mean NLL
   * of the expected tokens (nats per token), as the CLI computes it.
   */
  private async score(req: Request<'score'>): Promise<Answer> {
    const m = this.need();
    await this.useAdapter(m, req.adapter);
    const str = (id: number) => m.tokenizer.tokenToString(id);
    if (req.expected !== undefined) {
      const input = req.messages !== undefined ? { messages: req.messages } : { prompt: req.prompt };
      const e = encodeExpected(m.tokenizer, input, req.expected, m.event.model);
      if (e.ids.length < 2) throw new Error('the prompt and the expected text are empty: there is no token to score');
      assertFitsContext(e, m.lm.config.max_position_embeddings);
      const res = await scoreTokens(m.lm, e.ids);
      const nll = meanExpectedNll(res.nll, e);
      return {
        v: 1, type: 'scored', id: req.id, token_ids: res.token_ids, tokens: res.token_ids.map(str), nll: res.nll, mean_nll: res.mean_nll,
        expected_start: e.start, expected_nll: Number.isFinite(nll) ? nll : null,
      };
    }
    const ids = m.tokenizer.encode(normalizeText(req.text), { splitSpecialTokens: true }); // as training encodes text
    if (ids.length < 2) throw new Error('the text is empty: there is no token to score');
    const res = await scoreTokens(m.lm, ids, undefined, undefined, { topK: SCORE_TOP_K });
    return {
      v: 1, type: 'scored', id: req.id, token_ids: res.token_ids, tokens: res.token_ids.map(str),
      nll: res.nll, mean_nll: res.mean_nll, top: res.top!.map((row) => row.map((c) => ({ token: str(c.id), p: c.p }))),
    };
  }
}
