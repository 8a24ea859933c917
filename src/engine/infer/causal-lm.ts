/**
 * A loaded causal LM on ONNX Runtime: the forward graph, optionally the loss and the LoRA
 * gradients, compiled once; adapters are feeds.
 */
import { serializeModel } from '../graph/onnx';
import { type AdapterSource, adapterFeeds, stackedAdapterFeeds } from '../lora/feeds';
import { LORA_INDEX, isTargeted } from '../lora/index';
import { type ModelConfigInfo, loadModelConfig, loadWeights } from '../models/index';
import { type CausalLMGraph, type DecoderConfig, presentNames } from '../models/types';
import { linearModules } from '../models/inspect';
import { type Device, Session, autoOrder, prepackTraining } from '../runtime/session';
import { collectGarbage } from '../runtime/gc';
import { type Precision, type PrecisionPlan, resolvePrecision } from '../device';
import type { HostTensor } from '../tensor';
import { IGNORE_INDEX } from '../train/loss';
import { LOSS_SCALE_INPUT, TRAIN_INPUT, addLossAndGradients } from '../train/step';
import type { PeftAdapter } from '../weights/peft';
import type { Batch } from '../data/batch';

export interface CausalLMOptions {
  device?: Device;
  threads?: number;
  dtype?: 'float32' | 'float64';
  /** LoRA targets (PEFT `target_modules`); defaults to the adapter's modules, else none. */
  targetModules?: string | string[] | null;
  /** Adapter to apply (its folder path is used in error messages). */
  adapter?: { adapter: PeftAdapter; source: string } | null;
  /** LoRA dropout in this graph (training only). */
  loraDropout?: { ratio: number; seed: number } | null;
  /**
   * Graph outputs: logits (B, T, V); loss + token_nll (needs labels; the fused chunked loss, see
   * train/loss.ts); gradients of the loss wrt every LoRA A and B (train/step.ts: `run` with
   * `{ train: false }` then validates on the same session, without the backward).
   */
  outputs?: { logits?: boolean; loss?: boolean; grads?: boolean };
  /** Rows per cross-entropy chunk (tests; default about 16 MiB of logits per chunk). */
  lossChunkRows?: number;
  /** With `outputs.grads`: recompute each layer in the backward (train/step.ts). Default false. */
  gradientCheckpointing?: boolean;
  /**
   * Number format of the frozen base weights (engine/device.ts `resolvePrecision`), resolved for
   * `device` (for `auto`, the first provider `auto` tries). Default "fp32". With loss scaling
   * (fp16 on a GPU) a gradient graph takes a `loss_scale` input (`run`'s `lossScale`).
   */
  precision?: Precision;
  /** Tests: force half MatMuls (the GPU graph) on any provider (ONNX Runtime's CPU provider runs float16 MatMul through float32 casts it inserts). */
  halfMatMul?: boolean;
  /**
   * Build the KV-cache graph (`BuildOptions.kvCache`) with outputs logits and `present.<i>.key|value`;
   * drive it with `KvCacheStep` (infer/kv-cache.ts) or `runFeeds`, not `run`. Default false.
   */
  kvCache?: boolean;
  /**
   * Build the multi-LoRA graph (`BuildOptions.multiLora`): several adapters in one batch, one per
   * row, set with `setAdapters`; `setAdapter` / `clearAdapter` then apply one adapter to every
   * row. Inference only (no dropout). Default false.
   */
  multiLora?: boolean;
}

/**
 * What `run` takes: the collated batch of data/batch.ts (`Batch`, rows of length T) of which only
 * the ids are required: attention mask default all ones, position ids 0..T−1, labels all −100
 * (labels are needed for the loss).
 */
export type ModelBatch = Pick<Batch, 'inputIds'> & Partial<Pick<Batch, 'attentionMask' | 'positionIds' | 'labels'>>;

export interface RunResult {
  logits?: HostTensor;
  /** Mean NLL over counted positions. */
  loss?: number;
  /** (B, T) per-position NLL, 0 where ignored. */
  tokenNll?: HostTensor;
  /** PEFT key → gradient (same shape as the tensor). */
  grads?: Map<string, HostTensor>;
}

export class CausalLM {
  private loraFeeds: Record<string, HostTensor> = {};

  private constructor(
    readonly info: ModelConfigInfo,
    readonly lm: CausalLMGraph,
    readonly session: Session,
    /** Every linear module of the model, e.g. "model.layers.0.self_attn.q_proj". */
    readonly linearModules: string[],
    /** Compute dtype of the graph (and of its float inputs: LoRA tensors, past keys / values). */
    readonly dtype: 'float32' | 'float64',
    /** Storage of the frozen weights and whether the gradient graph takes a loss scale. */
    readonly precision: PrecisionPlan,
  ) {}

  get config(): DecoderConfig { return this.info.config; }
  get provider(): string { return this.session.provider; }
  /** The modules that carry LoRA in this graph, in `lora_scaling` order. */
  get loraModules(): readonly string[] { return this.lm.lora.modules; }

  /**
   * Loads `dir` (config.json + safetensors), builds and compiles the graph.
   *
   * @throws ModelError / WeightsError / LoraError / RuntimeError with one-line messages naming
   *   the file and what to do.
   */
  static async load(dir: string, opts: CausalLMOptions = {}): Promise<CausalLM> {
    const dtype = opts.dtype ?? 'float32';
    const info = await loadModelConfig(dir);
    const linears = linearModules(info).map((l) => l.module);
    const adapterModules = opts.adapter ? new Set(opts.adapter.adapter.modules.keys()) : null;
    const targets = opts.targetModules ?? null;
    const loraTargets = (m: string) => (targets !== null && isTargeted(m, targets)) || (adapterModules?.has(m) ?? false);
    const device = opts.device ?? 'cpu';
    const provider = device === 'auto' ? autoOrder()[0] : device;
    const plan = resolvePrecision(opts.precision ?? 'fp32', provider);
    if (opts.halfMatMul !== undefined && plan.weightDtype !== 'float32') {
      plan.halfMatMul = opts.halfMatMul;
      plan.lossScaling = opts.halfMatMul && plan.weightDtype === 'float16';
    }
    // The checkpoint's tensors are referenced only by the graph's initializers (no local), so
    // they die with them below.
    const lm = info.family.build(info.config, await loadWeights(info), {
      dtype, loraTargets, loraDropout: opts.loraDropout, kvCache: opts.kvCache, multiLora: opts.multiLora,
      weightDtype: plan.weightDtype, halfMatMul: plan.halfMatMul,
    });
    const g = lm.graph;
    const outputs = opts.kvCache ? { logits: true } : opts.outputs ?? { logits: true };
    lm.cache?.present.forEach((kv, i) => {
      g.output(kv.key, presentNames(i).key);
      g.output(kv.value, presentNames(i).value);
    });
    const training = Boolean(outputs.loss || outputs.grads);
    const prepacking = !training || prepackTraining(g.initializerBytes(), provider);
    addLossAndGradients(lm, { logits: outputs.logits, loss: training, grads: outputs.grads, chunkRows: opts.lossChunkRows, gradientCheckpointing: opts.gradientCheckpointing, lossScale: plan.lossScaling, prepacking });
    let bytes: Uint8Array | null = serializeModel(g);
    // The serialized model holds every weight: drop the JavaScript ones (the graph's initializers:
    // the checkpoint tensors and their transposes) and collect them before ONNX Runtime makes its
    // own copy, then collect the serialized bytes once it has (runtime/gc.ts).
    g.dropInitializers();
    collectGarbage();
    const session = await Session.create(bytes, { device: opts.device, threads: opts.threads, name: dir, enableMemPattern: !training, prepacking });
    bytes = null;
    collectGarbage();
    const model = new CausalLM(info, lm, session, linears, dtype, plan);
    if (opts.adapter) model.setAdapter(opts.adapter.adapter, opts.adapter.source);
    else model.clearAdapter();
    return model;
  }

  /** Applies an adapter (a change of feeds). @throws LoraError when it does not fit. */
  setAdapter(adapter: PeftAdapter, source: string): void {
    this.loraFeeds = adapterFeeds(this.lm.lora, adapter, this.linearModules, source, this.dtype);
  }

  /**
   * Multi-LoRA graphs (`multiLora: true`): stacks `adapters` (null = the base model) so that row b
   * of every later batch runs with adapter `rows[b]` (default: row i = adapter i, so batches must
   * have `adapters.length` rows; one entry in `rows` applies to every row). A change of feeds,
   * never of the session. See `stackedAdapterFeeds` (lora/feeds.ts) for the layout.
   * @throws LoraError when an adapter does not fit (naming its file and tensor) or a row names no
   *   adapter; Error when the model was loaded without `multiLora`.
   */
  setAdapters(adapters: readonly AdapterSource[], rows?: readonly number[]): void {
    if (!this.lm.lora.multiLora) throw new Error('CausalLM.setAdapters: the model was loaded without multiLora; load it with CausalLM.load(dir, { multiLora: true })');
    this.loraFeeds = stackedAdapterFeeds(this.lm.lora, adapters, this.linearModules, this.dtype, rows);
  }

  /** Runs the base model (every LoRA module zero with scaling 0). */
  clearAdapter(): void {
    this.loraFeeds = adapterFeeds(this.lm.lora, { config: { r: 1, lora_alpha: 1 }, modules: new Map() } as PeftAdapter, this.linearModules, 'base', this.dtype);
  }

  /** Sets raw LoRA feeds (PEFT key → tensor, plus `lora_scaling`), e.g. from a trainer. */
  setLoraFeeds(feeds: Record<string, HostTensor>): void {
    this.loraFeeds = { ...this.loraFeeds, ...feeds };
  }

  /**
   * Runs the session on `feeds` plus the current adapter's LoRA feeds; returns every output by
   * name. For graphs whose inputs `run` does not build (the KV-cache graph).
   * @throws RuntimeError naming the input when a feed does not fit (see `Session.run`).
   */
  async runFeeds(feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
    this.checkRows(feeds.input_ids?.shape[0]);
    return this.session.run({ ...feeds, ...this.loraFeeds });
  }

  /** Multi-LoRA: the batch must have one row per `lora_index` entry (or `lora_index` one entry). */
  private checkRows(B: number | undefined): void {
    const index = this.loraFeeds[LORA_INDEX];
    if (!index || B === undefined || index.shape[0] === 1 || index.shape[0] === B) return;
    throw new Error(`CausalLM: the batch has ${B} rows but setAdapters gave adapters for ${index.shape[0]} rows; pass one adapter index per row (or one for every row)`);
  }

  /**
   * Runs one batch. Shapes: (B, T) in; see RunResult for what comes out. On a model loaded with
   * `outputs.grads`, `train` (default true) selects the training step (loss and gradients, LoRA
   * dropout on) or validation (loss only, dropout off, no `grads` in the result). `lossScale`
   * (default 1; graphs with loss scaling): the gradients come back multiplied by it, the loss not.
   */
  async run(batch: ModelBatch, opts: { train?: boolean; lossScale?: number } = {}): Promise<RunResult> {
    if (this.lm.cache) throw new Error('CausalLM.run: this model was loaded with kvCache; decode with KvCacheStep (infer/kv-cache.ts)');
    const B = batch.inputIds.length;
    const T = batch.inputIds[0]?.length ?? 0;
    if (B === 0 || T === 0) throw new Error('CausalLM.run: empty batch');
    this.checkRows(B);
    const i64 = (rows: number[][], what: string): HostTensor => {
      const data = new BigInt64Array(B * T);
      rows.forEach((row, b) => {
        if (row.length !== T) throw new Error(`CausalLM.run: ${what} row ${b} has length ${row.length}, expected ${T}`);
        row.forEach((v, t) => (data[b * T + t] = BigInt(v)));
      });
      return { dtype: 'int64', shape: [B, T], data };
    };
    const feeds: Record<string, HostTensor> = {
      input_ids: i64(batch.inputIds, 'input_ids'),
      attention_mask: i64(batch.attentionMask ?? batch.inputIds.map((r) => r.map(() => 1)), 'attention_mask'),
      position_ids: i64(batch.positionIds ?? batch.inputIds.map((r) => r.map((_, t) => t)), 'position_ids'),
      ...this.loraFeeds,
    };
    if (this.session.inputNames.includes('labels')) {
      feeds.labels = i64(batch.labels ?? batch.inputIds.map((r) => r.map(() => IGNORE_INDEX)), 'labels');
    }
    const train = this.session.inputNames.includes(TRAIN_INPUT);
    const training = opts.train ?? true;
    if (train) feeds[TRAIN_INPUT] = { dtype: 'bool', shape: [], data: new Uint8Array([training ? 1 : 0]) };
    if (this.session.inputNames.includes(LOSS_SCALE_INPUT)) feeds[LOSS_SCALE_INPUT] = { dtype: this.dtype, shape: [], data: new (this.dtype === 'float64' ? Float64Array : Float32Array)([opts.lossScale ?? 1]) };
    const out = await this.session.run(feeds, train && !training ? ['loss', 'token_nll'] : undefined);
    const res: RunResult = {};
    if (out.logits) res.logits = out.logits;
    if (out.loss) res.loss = Number(out.loss.data[0]);
    if (out.token_nll) res.tokenNll = out.token_nll;
    const grads = Object.keys(out).filter((k) => k.startsWith('grad.'));
    if (grads.length) res.grads = new Map(grads.map((k) => [k.slice(5), out[k]]));
    return res;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Labels for next-token prediction of one row: labels[t] = ids[t + 1], last = ignore. */
export function shiftLabels(ids: readonly number[]): number[] {
  return ids.map((_, t) => (t + 1 < ids.length ? ids[t + 1] : IGNORE_INDEX));
}

