/**
 * The in-process eval backend: one multi-LoRA KV-cache `CausalLM` (infer/causal-lm.ts) serves
 * every variant, row i = variant i, so the adapters are feeds and never rebuild the session.
 * Used by `loralab eval` and by the trainer at each checkpoint.
 */
import { CausalLM } from '../infer/causal-lm';
import { generateBatch } from '../infer/generate';
import { KvCacheStep } from '../infer/kv-cache';
import { DEFAULT_MAX_NEW_TOKENS, type GenerationDefaults, readGenerationDefaults, resolveSampling } from '../infer/generation-config';
import { tokenNllFromLogits } from '../infer/score';
import { IGNORE_INDEX } from '../train/loss';
import type { Device } from '../runtime/session';
import { type Tokenizer, loadTokenizer } from '../tokenizer/index';
import { type PeftAdapter, readPeftAdapter } from '../weights/peft';
import { assertFiniteWeights } from '../weights/finite';
import type { EvalGeneration } from './eval-set';
import { assertFitsContext, encodeEvalPrompt, encodeExpected, meanExpectedNll } from './expected';
import type { EvalBackend, EvalInput } from './run';

export interface LocalBackendOptions {
  device?: Device;
  threads?: number;
  /** LoRA target modules of the graph (default: the union of the adapters'). */
  targetModules?: string[];
}

export class LocalEvalBackend implements EvalBackend {
  private readonly adapters = new Map<string, PeftAdapter>();

  private constructor(readonly lm: CausalLM, readonly tokenizer: Tokenizer, private readonly defaults: GenerationDefaults, readonly modelName: string) {}

  /**
   * Loads `modelDir` (an HF model folder) and reads `adapterDirs` (PEFT folders) once.
   * @throws ModelError / WeightsError / LoraError / TokenizerError (one line, naming the file);
   *   NonFiniteWeightsError when a weight of the model or an adapter is NaN/±Infinity.
   */
  static async load(modelDir: string, adapterDirs: readonly string[], opts: LocalBackendOptions = {}): Promise<LocalEvalBackend> {
    const tokenizer = await loadTokenizer(modelDir);
    const defaults = await readGenerationDefaults(modelDir);
    const adapters = new Map<string, PeftAdapter>();
    for (const dir of adapterDirs) adapters.set(dir, await readPeftAdapter(dir));
    await assertFiniteWeights(modelDir, [...adapters].map(([dir, adapter]) => ({ dir, adapter })));
    const modules = opts.targetModules ?? [...new Set([...adapters.values()].flatMap((a) => [...a.modules.keys()]))];
    const lm = await CausalLM.load(modelDir, { device: opts.device, threads: opts.threads, targetModules: modules.length ? modules : null, kvCache: true, multiLora: true });
    const b = new LocalEvalBackend(lm, tokenizer, defaults, modelDir);
    for (const [k, v] of adapters) b.adapters.set(k, v);
    return b;
  }

  /** Makes an in-memory adapter a variant named `key` (e.g. the trainer's current LoRA weights), replacing one of that name. */
  putAdapter(key: string, adapter: PeftAdapter): void {
    this.adapters.set(key, adapter);
  }

  private async setVariants(variants: readonly (string | null)[]): Promise<void> {
    for (const v of variants) if (v !== null && !this.adapters.has(v)) this.adapters.set(v, await readPeftAdapter(v));
    this.lm.setAdapters(variants.map((v) => (v === null ? null : { adapter: this.adapters.get(v)!, source: v })));
  }

  /** The budget of a case without `max_new_tokens`: generation_config.json's `max_new_tokens`, else 128 (`DEFAULT_MAX_NEW_TOKENS`). */
  get defaultMaxNewTokens(): number {
    return this.defaults.max_new_tokens ?? DEFAULT_MAX_NEW_TOKENS;
  }

  async generate(input: EvalInput, variants: readonly (string | null)[], g: EvalGeneration): Promise<string[]> {
    const ids = encodeEvalPrompt(this.tokenizer, input, this.modelName);
    await this.setVariants(variants);
    const sampling = resolveSampling(this.defaults, { temperature: g.temperature ?? 0, topK: g.top_k, topP: g.top_p, repetitionPenalty: g.repetition_penalty });
    const out = await generateBatch(new KvCacheStep(this.lm), variants.map(() => ids), {
      maxNewTokens: g.max_new_tokens ?? this.defaultMaxNewTokens,
      sampling,
      eosTokenIds: this.tokenizer.eosTokenIds,
      stopStrings: g.stop,
      seed: g.seed,
      decode: (t) => this.tokenizer.decode(t, { skipSpecialTokens: true }),
    });
    return out.map((r) => r.text);
  }

  /**
   * Tokens of `expected` after `input` (expected.ts `encodeExpected`: ids.length − start), the
   * budget of an `exact` case (run.ts `caseGeneration`). Tokenizes only; runs no model.
   * @throws Error when a chat case meets a model without a chat template.
   */
  async expectedTokenCount(input: EvalInput, expected: string): Promise<number> {
    const { ids, start } = encodeExpected(this.tokenizer, input, expected, this.modelName);
    return ids.length - start;
  }

  /**
   * Mean NLL of the expected tokens (expected.ts `encodeExpected`, the definition the inference
   * worker shares) per variant: one prefill of the prompt + expected ids for all variants at
   * once, NLL from the logits in float64 (`tokenNllFromLogits`).
   * @throws Error when prompt + expected do not fit the model's context, or a chat case meets a
   *   model without a chat template.
   */
  async expectedNll(input: EvalInput, expected: string, variants: readonly (string | null)[]): Promise<number[]> {
    const e = encodeExpected(this.tokenizer, input, expected, this.modelName);
    const { ids, start } = e;
    if (start >= ids.length) return variants.map(() => NaN);
    assertFitsContext(e, this.lm.config.max_position_embeddings);
    await this.setVariants(variants);
    const { allLogits } = await new KvCacheStep(this.lm).prefill(variants.map(() => ids));
    const [, T, V] = allLogits.shape;
    const labels = ids.map((_, t) => (t + 1 >= start && t + 1 < ids.length ? ids[t + 1] : IGNORE_INDEX));
    return variants.map((_, b) => {
      const data = (allLogits.data as Float32Array | Float64Array).subarray(b * T * V, (b + 1) * T * V);
      return meanExpectedNll(tokenNllFromLogits({ dtype: allLogits.dtype, shape: [1, T, V], data }, labels), e);
    });
  }

  async release(): Promise<void> {
    await this.lm.release();
  }
}
