/**
 * `loralab bench`: forward and LoRA train-step (forward + backward) throughput; decode
 * throughput with the KV cache against recomputing the whole prefix each token, with and without
 * an adapter; 4 adapters in one multi-LoRA batch against 4 runs one after another; and adapter
 * swap latency (new feeds) against building a fresh session. On a documented random-weight Llama
 * config. Prints figures and ratios; not a test.
 */
import { availableParallelism, cpus } from 'node:os';
import { serializeModel } from '../engine/graph/onnx';
import { adapterFeeds, stackedAdapterFeeds } from '../engine/lora/feeds';
import { type LoraGraph, initLora, isTargeted } from '../engine/lora/index';
import { llamaFamily, resolveLlamaConfig } from '../engine/models/llama';
import { randomWeights } from '../engine/models/random';
import { createRng } from '../engine/data/random';
import { type DecoderConfig, presentNames } from '../engine/models/types';
import { KvCacheStep } from '../engine/infer/kv-cache';
import { type LoraWeights, type PeftAdapter, completeLoraConfig, peftKey } from '../engine/weights/peft';
import { type Device, Session, prepackTraining } from '../engine/runtime/session';
import type { HostTensor } from '../engine/tensor';
import { TRAIN_INPUT, addLossAndGradients } from '../engine/train/step';
import { AdamW, initAdamState } from '../engine/train/optimizer';
import { emitJson, info, print } from './output';
import { upperMedian } from './stats';

/** The bench model: a ~40M-parameter Llama (DESIGN: hidden 512, 8 layers, GQA 8/4, vocab 32000). */
export const BENCH_CONFIG: DecoderConfig = resolveLlamaConfig({
  model_type: 'llama', hidden_size: 512, intermediate_size: 1408, num_hidden_layers: 8, num_attention_heads: 8,
  num_key_value_heads: 4, head_dim: 64, vocab_size: 32000, max_position_embeddings: 2048, rms_norm_eps: 1e-5,
  rope_theta: 10000, tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2,
}, 'bench config');

/** The bench model with `layers` decoder layers (fewer for a quick check; the figures then are not comparable). */
export function benchConfig(layers = BENCH_CONFIG.num_hidden_layers): DecoderConfig {
  return { ...BENCH_CONFIG, num_hidden_layers: layers };
}

export interface BenchArgs {
  /** Decoder layers of the bench model (default 8; fewer only to check that the bench runs). */
  layers?: number;
  device?: Device;
  threads?: number;
  batch?: number;
  seq?: number;
  rank?: number;
  iters?: number;
  /** Tokens generated in the decode benchmark (batch 1, prompt of `seq` tokens). */
  newTokens?: number;
  json?: boolean;
}

interface Built { session: Session; feeds: Record<string, HostTensor>; buildMs: number; step: () => Promise<void>; release: () => Promise<void> }

async function build(kind: 'forward' | 'train', args: Required<Pick<BenchArgs, 'batch' | 'seq' | 'rank'>> & BenchArgs): Promise<Built> {
  const t0 = performance.now();
  const cfg = benchConfig(args.layers);
  const lm = llamaFamily.build(cfg, randomWeights(llamaFamily, cfg, 1), { loraTargets: (m) => isTargeted(m, 'all-linear') });
  const g = lm.graph;
  // The trainer's graph and session options (CausalLM.load with outputs loss + grads).
  const device = args.device ?? 'cpu';
  const prepacking = kind !== 'train' || prepackTraining(g.initializerBytes(), device);
  addLossAndGradients(lm, { grads: kind === 'train', prepacking });
  const session = await Session.create(serializeModel(g), { device, threads: args.threads, enableMemPattern: kind !== 'train', prepacking });
  g.dropInitializers(); // ONNX Runtime holds the weights now
  const rand = createRng(2);
  const { batch: B, seq: T } = args;
  const ids = BigInt64Array.from({ length: B * T }, () => BigInt(Math.floor(rand() * cfg.vocab_size)));
  const feeds: Record<string, HostTensor> = {
    input_ids: { dtype: 'int64', shape: [B, T], data: ids },
    attention_mask: { dtype: 'int64', shape: [B, T], data: new BigInt64Array(B * T).fill(1n) },
    position_ids: { dtype: 'int64', shape: [B, T], data: BigInt64Array.from({ length: B * T }, (_, i) => BigInt(i % T)) },
    labels: { dtype: 'int64', shape: [B, T], data: BigInt64Array.from({ length: B * T }, (_, i) => ids[(i + 1) % (B * T)]) },
    ...(kind === 'train' ? { [TRAIN_INPUT]: { dtype: 'bool' as const, shape: [], data: new Uint8Array([1]) } } : {}),
    lora_scaling: { dtype: 'float32', shape: [lm.lora.modules.length], data: new Float32Array(lm.lora.modules.length).fill(32 / args.rank) },
  };
  for (const m of lm.lora.modules) {
    const { in: inF, out: outF } = lm.lora.shapes.get(m)!;
    const { A, B: Bm } = initLora(args.rank, inF, outF, rand);
    (Bm.data as Float32Array).forEach((_, i, arr) => (arr[i] = (rand() - 0.5) * 0.01));
    feeds[peftKey(m, 'A')] = A;
    feeds[peftKey(m, 'B')] = Bm;
  }
  let step = async () => {
    await session.run(feeds);
  };
  let release = () => session.release();
  if (kind === 'train') {
    // A full optimizer step: forward + backward, then clipped AdamW on every LoRA tensor.
    const params = new Map(lm.lora.modules.flatMap((m) => [peftKey(m, 'A'), peftKey(m, 'B')]).map((k) => [k, feeds[k]]));
    const opt = await AdamW.create(new Map([...params].map(([k, v]) => [k, v.shape])), { adam_beta1: 0.9, adam_beta2: 0.999, adam_epsilon: 1e-8, weight_decay: 0, max_grad_norm: 1 }, { device: args.device ?? 'cpu', threads: args.threads });
    const adam = initAdamState(params);
    step = async () => {
      const out = await session.run(feeds);
      const grads = new Map([...params.keys()].map((k) => [k, out[`grad.${k}`]]));
      await opt.step(params, grads, adam, 1e-4);
      for (const [k, p] of params) feeds[k] = p;
    };
    release = async () => {
      await session.release();
      await opt.release();
    };
  }
  return { session, feeds, buildMs: performance.now() - t0, step, release };
}

async function time(b: Built, iters: number, warmup = 1): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await b.step();
  const ms: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    await b.step();
    ms.push(performance.now() - t0);
  }
  return ms;
}

/** A KV-cache session of the bench model (optionally with LoRA on every linear layer) and what `KvCacheStep` drives. */
async function decodeSession(cfg: DecoderConfig, a: BenchArgs, lora: 'none' | 'single' | 'multi', name: string) {
  const t0 = performance.now();
  const lm = llamaFamily.build(cfg, randomWeights(llamaFamily, cfg, 1), {
    kvCache: true, multiLora: lora === 'multi', loraTargets: lora === 'none' ? undefined : (m) => isTargeted(m, 'all-linear'),
  });
  const g = lm.graph;
  g.output(lm.logits, 'logits');
  lm.cache!.present.forEach((kv, i) => {
    g.output(kv.key, presentNames(i).key);
    g.output(kv.value, presentNames(i).value);
  });
  const session = await Session.create(serializeModel(g), { device: a.device ?? 'cpu', threads: a.threads, name });
  const buildMs = performance.now() - t0;
  let loraFeeds: Record<string, HostTensor> = {};
  const step = new KvCacheStep({ config: cfg, dtype: 'float32', runFeeds: (feeds) => session.run({ ...feeds, ...loraFeeds }) });
  return { lora: lm.lora, session, step, buildMs, setFeeds: (f: Record<string, HostTensor>) => (loraFeeds = f) };
}

/** A random rank-`r` PEFT adapter on every module of `lora` (lora_alpha 2r; B random, not zero, so it does work). */
function benchAdapter(lora: LoraGraph, r: number, seed: number): PeftAdapter {
  const rand = createRng(seed);
  const modules = new Map<string, LoraWeights>();
  for (const m of lora.modules) {
    const { in: inF, out: outF } = lora.shapes.get(m)!;
    const { A, B } = initLora(r, inF, outF, rand);
    (B.data as Float32Array).forEach((_, i, arr) => (arr[i] = (rand() - 0.5) * 0.01));
    modules.set(m, { module: m, A, B });
  }
  return { config: completeLoraConfig({ r, lora_alpha: 2 * r }, lora.modules), modules };
}

/** Wall time of a prefill of `rows` then `newTokens` decode calls (given next ids), in ms. */
async function decodeRun(step: KvCacheStep, rows: number[][], next: number[][]): Promise<number> {
  const t0 = performance.now();
  let { cache } = await step.prefill(rows);
  for (const ids of next) ({ cache } = await step.extend(cache, ids));
  return performance.now() - t0;
}

/**
 * Decode throughput: a prompt of `seq` random tokens, then `newTokens` tokens.
 * - batch 1 without LoRA: with the KV cache (one token per call) and recomputing the full prefix
 *   every token (what `fullForwardStep` does), both on the same KV-cache session (P = 0 for the
 *   recompute);
 * - batch 1 with a rank-`rank` adapter on every linear layer (the single-adapter graph);
 * - 4 adapters: one multi-LoRA batch of 4 rows (row i = adapter i) against 4 runs one after
 *   another on the single-adapter graph (swapping feeds between runs), prefill included in both;
 * - swap latency: `adapterFeeds` of one of two rank-`rank` adapters (what `setAdapter` does)
 *   against building and compiling a fresh session of the same graph.
 */
async function benchDecode(a: Required<Pick<BenchArgs, 'seq' | 'newTokens' | 'rank'>> & BenchArgs) {
  const cfg = benchConfig(a.layers);
  const rand = createRng(3);
  const ids = Array.from({ length: a.seq + a.newTokens }, () => Math.floor(rand() * cfg.vocab_size));
  const prompt = ids.slice(0, a.seq);
  const next = ids.slice(a.seq).map((id) => [id]);
  const plain = await decodeSession(cfg, a, 'none', 'bench decode');
  let base: { prefillMs: number; cacheTokensPerS: number; recomputeTokensPerS: number };
  try {
    const step = plain.step;
    await decodeRun(step, [prompt.slice(0, Math.min(8, a.seq))], next.slice(0, 2)); // warm-up
    let t0 = performance.now();
    let { cache } = await step.prefill([prompt]);
    const prefillMs = performance.now() - t0;
    t0 = performance.now();
    for (let i = 0; i < a.newTokens; i++) ({ cache } = await step.extend(cache, [ids[a.seq + i]]));
    const cacheMs = performance.now() - t0;
    t0 = performance.now();
    for (let i = 0; i < a.newTokens; i++) await step.prefill([ids.slice(0, a.seq + i + 1)]);
    const recomputeMs = performance.now() - t0;
    base = { prefillMs, cacheTokensPerS: (a.newTokens / cacheMs) * 1000, recomputeTokensPerS: (a.newTokens / recomputeMs) * 1000 };
  } finally {
    await plain.session.release();
  }

  const single = await decodeSession(cfg, a, 'single', 'bench decode lora');
  const adapters = [0, 1, 2, 3].map((i) => benchAdapter(single.lora, a.rank, 10 + i));
  let withAdapter: { tokensPerS: number; sequentialMs: number; swapMs: number; freshSessionMs: number };
  try {
    const feeds = (i: number) => adapterFeeds(single.lora, adapters[i], single.lora.modules, `adapter ${i}`);
    single.setFeeds(feeds(0));
    await decodeRun(single.step, [prompt.slice(0, Math.min(8, a.seq))], next.slice(0, 2)); // warm-up
    let { cache } = await single.step.prefill([prompt]);
    const t0 = performance.now();
    for (const n of next) ({ cache } = await single.step.extend(cache, n));
    const ms = performance.now() - t0;
    let sequentialMs = 0;
    for (let i = 0; i < 4; i++) {
      const t = performance.now();
      single.setFeeds(feeds(i));
      sequentialMs += performance.now() - t + await decodeRun(single.step, [prompt], next);
    }
    // Swap latency: alternate between two adapters; median of 21 swaps.
    const swaps: number[] = [];
    for (let i = 0; i < 21; i++) {
      const t = performance.now();
      single.setFeeds(feeds(i % 2));
      swaps.push(performance.now() - t);
    }
    withAdapter = { tokensPerS: (a.newTokens / ms) * 1000, sequentialMs, swapMs: upperMedian(swaps), freshSessionMs: single.buildMs };
  } finally {
    await single.session.release();
  }

  const multi = await decodeSession(cfg, a, 'multi', 'bench decode multi-lora');
  let batchedMs: number;
  try {
    multi.setFeeds(stackedAdapterFeeds(multi.lora, adapters.map((adapter, i) => ({ adapter, source: `adapter ${i}` })), multi.lora.modules));
    const rows = [0, 1, 2, 3].map(() => prompt);
    const next4 = next.map((n) => [n[0], n[0], n[0], n[0]]);
    await decodeRun(multi.step, rows.map((r) => r.slice(0, Math.min(8, a.seq))), next4.slice(0, 2)); // warm-up
    batchedMs = await decodeRun(multi.step, rows, next4);
  } finally {
    await multi.session.release();
  }
  return { ...base, withAdapter, batchedMs };
}

/** Train steps run before timing (see runBench). */
const TRAIN_WARMUP = 5;

/** One timed measurement of bench's "forward" or "train step" figure (`measureStep`). */
export interface StepMeasurement {
  /** Time of each timed step, in ms (warm-up steps left out). */
  ms: number[];
  /** Graph build + session compile, in ms. */
  buildMs: number;
  /** The execution provider that ran it (e.g. "cpu"). */
  provider: string;
}

/**
 * Bench's "forward" or "train step" figure, measured once: builds the bench model's session
 * (`kind` "forward": forward + loss; "train": forward + backward to every LoRA A/B + clipped
 * AdamW), runs the warm-up steps (train: TRAIN_WARMUP, as the arena grows over the first steps;
 * forward: 1), times `a.iters` steps, calls `beforeRelease` (to sample memory at the peak) and
 * releases the sessions. Shapes: batch `a.batch` × seq `a.seq`, LoRA r `a.rank`, `a.layers`
 * layers. @throws what ONNX Runtime throws when the session cannot be built or run.
 */
export async function measureStep(kind: 'forward' | 'train', a: Required<Pick<BenchArgs, 'batch' | 'seq' | 'rank' | 'iters'>> & BenchArgs, beforeRelease?: () => void): Promise<StepMeasurement> {
  const built = await build(kind, a);
  try {
    const ms = await time(built, a.iters, kind === 'train' ? TRAIN_WARMUP : 1);
    beforeRelease?.();
    return { ms, buildMs: built.buildMs, provider: built.session.provider };
  } finally {
    await built.release();
  }
}


export async function runBench(args: BenchArgs): Promise<void> {
  const a = { batch: 4, seq: 256, rank: 16, iters: 3, newTokens: 32, layers: BENCH_CONFIG.num_hidden_layers, ...args };
  const tokens = a.batch * a.seq;
  const threads = a.threads ?? availableParallelism();
  info(`bench: Llama hidden 512, ${a.layers} layers${a.layers !== BENCH_CONFIG.num_hidden_layers ? ' (reduced: figures not comparable with the default 8)' : ''}, 8 heads / 4 KV heads, intermediate 1408, vocab 32000; batch ${a.batch} × seq ${a.seq}; LoRA r ${a.rank} on all linear layers`);
  info(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, ${threads} intra-op threads; device ${a.device ?? 'cpu'}`);
  let peakRss = process.memoryUsage().rss;
  let phasePeak = 0;
  const sample = () => {
    const rss = process.memoryUsage().rss;
    peakRss = Math.max(peakRss, rss);
    phasePeak = Math.max(phasePeak, rss);
  };
  const timer = setInterval(sample, 20);
  try {
    const fwd = await measureStep('forward', a, sample);
    const fwdMs = upperMedian(fwd.ms);
    phasePeak = 0;
    // Training sessions run without ONNX Runtime's memory pattern: the first ~4 steps grow the
    // arena and are slow (2–3× a later step), so they are warm-up (measureStep).
    const train = await measureStep('train', a, sample);
    const trainMs = upperMedian(train.ms);
    const trainPeakRss = phasePeak;
    const decode = await benchDecode(a);
    sample();
    const result = {
      device: fwd.provider,
      threads,
      batch: a.batch,
      seq: a.seq,
      lora_r: a.rank,
      forward_ms: round(fwdMs),
      forward_tokens_per_s: round((tokens / fwdMs) * 1000),
      train_step_ms: round(trainMs),
      train_tokens_per_s: round((tokens / trainMs) * 1000),
      train_over_forward: round(trainMs / fwdMs, 2),
      decode_prompt_tokens: a.seq,
      decode_new_tokens: a.newTokens,
      decode_prefill_ms: round(decode.prefillMs),
      decode_kv_cache_tokens_per_s: round(decode.cacheTokensPerS),
      decode_recompute_tokens_per_s: round(decode.recomputeTokensPerS),
      decode_kv_cache_over_recompute: round(decode.cacheTokensPerS / decode.recomputeTokensPerS, 2),
      decode_adapter_tokens_per_s: round(decode.withAdapter.tokensPerS),
      decode_adapter_over_base: round(decode.withAdapter.tokensPerS / decode.cacheTokensPerS, 2),
      multi_lora_4_batched_ms: round(decode.batchedMs),
      multi_lora_4_sequential_ms: round(decode.withAdapter.sequentialMs),
      multi_lora_sequential_over_batched: round(decode.withAdapter.sequentialMs / decode.batchedMs, 2),
      swap_ms: round(decode.withAdapter.swapMs, 3),
      fresh_session_ms: round(decode.withAdapter.freshSessionMs),
      fresh_session_over_swap: round(decode.withAdapter.freshSessionMs / decode.withAdapter.swapMs),
      graph_build_ms: { forward: round(fwd.buildMs), train: round(train.buildMs) },
      peak_rss_mib: round(peakRss / 2 ** 20),
      train_peak_rss_mib: round(trainPeakRss / 2 ** 20),
    };
    // The figures are the command's result: stdout (stderr under --json, whose stdout is the JSON object).
    const show = a.json ? info : print;
    show(`forward:     ${result.forward_ms} ms/step   ${result.forward_tokens_per_s} tokens/s   (build + compile ${result.graph_build_ms.forward} ms)`);
    show(`train step:  ${result.train_step_ms} ms/step   ${result.train_tokens_per_s} tokens/s   (forward + backward to LoRA A/B + clipped AdamW; build + compile ${result.graph_build_ms.train} ms)`);
    show(`decode:      batch 1, prompt ${a.seq} + ${a.newTokens} new tokens: KV cache ${result.decode_kv_cache_tokens_per_s} tokens/s, recomputing the prefix ${result.decode_recompute_tokens_per_s} tokens/s   (prefill ${result.decode_prefill_ms} ms)`);
    show(`decode + LoRA: batch 1 with a rank-${a.rank} adapter on every linear layer: ${result.decode_adapter_tokens_per_s} tokens/s (${result.decode_adapter_over_base}× the base model's)`);
    show(`multi-LoRA:  4 adapters × (prompt ${a.seq} + ${a.newTokens} new tokens): one batch ${result.multi_lora_4_batched_ms} ms, 4 runs one after another ${result.multi_lora_4_sequential_ms} ms   ratio ${result.multi_lora_sequential_over_batched}×`);
    show(`swap:        between two rank-${a.rank} adapters ${result.swap_ms} ms (new feeds) vs a fresh session ${result.fresh_session_ms} ms (build + compile)   ratio ${result.fresh_session_over_swap}× (goal ≥ 100×)`);
    show(`ratio train/forward: ${result.train_over_forward}×   ratio decode KV cache/recompute: ${result.decode_kv_cache_over_recompute}×   peak RSS: ${result.peak_rss_mib} MiB (train step phase: ${result.train_peak_rss_mib} MiB)`);
    if (a.json) emitJson(result);
  } finally {
    clearInterval(timer);
  }
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
