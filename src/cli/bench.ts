/**
 * `loralab bench`: forward and LoRA train-step (forward + backward) throughput, and decode
 * throughput with the KV cache against recomputing the whole prefix each token, on a documented
 * random-weight Llama config. Prints figures and ratios; not a test.
 */
import { availableParallelism, cpus } from 'node:os';
import { gradients } from '../engine/autodiff/index';
import { serializeModel } from '../engine/graph/onnx';
import { initLora, isTargeted } from '../engine/lora/index';
import { llamaFamily, resolveLlamaConfig } from '../engine/models/llama';
import { randomWeights } from '../engine/models/random';
import { createRng } from '../engine/data/random';
import { type DecoderConfig, presentNames } from '../engine/models/types';
import { KvCacheStep } from '../engine/infer/kv-cache';
import { type Device, Session } from '../engine/runtime/session';
import type { HostTensor } from '../engine/tensor';
import { causalLMLoss } from '../engine/train/loss';
import { peftKey } from '../engine/weights/peft';
import { AdamW, initAdamState } from '../engine/train/optimizer';
import { emitJson, info } from './output';

/** The bench model: a ~40M-parameter Llama (DESIGN: hidden 512, 8 layers, GQA 8/4, vocab 32000). */
export const BENCH_CONFIG: DecoderConfig = resolveLlamaConfig({
  model_type: 'llama', hidden_size: 512, intermediate_size: 1408, num_hidden_layers: 8, num_attention_heads: 8,
  num_key_value_heads: 4, head_dim: 64, vocab_size: 32000, max_position_embeddings: 2048, rms_norm_eps: 1e-5,
  rope_theta: 10000, tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2,
}, 'bench config');

export interface BenchArgs {
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
  const cfg = BENCH_CONFIG;
  const lm = llamaFamily.build(cfg, randomWeights(llamaFamily, cfg, 1), { loraTargets: (m) => isTargeted(m, 'all-linear') });
  const g = lm.graph;
  const labels = g.input('labels', 'int64', ['B', 'T']);
  const { loss } = causalLMLoss(lm.logits, labels);
  g.output(loss, 'loss');
  if (kind === 'train') {
    const wrt = lm.lora.modules.flatMap((m) => [lm.lora.inputs.get(m)!.A, lm.lora.inputs.get(m)!.B]);
    const grads = gradients(loss, wrt);
    for (const v of wrt) g.output(grads.get(v)!, `grad.${v.name}`);
  }
  const session = await Session.create(serializeModel(g), { device: args.device ?? 'cpu', threads: args.threads });
  const rand = createRng(2);
  const { batch: B, seq: T } = args;
  const ids = BigInt64Array.from({ length: B * T }, () => BigInt(Math.floor(rand() * cfg.vocab_size)));
  const feeds: Record<string, HostTensor> = {
    input_ids: { dtype: 'int64', shape: [B, T], data: ids },
    attention_mask: { dtype: 'int64', shape: [B, T], data: new BigInt64Array(B * T).fill(1n) },
    position_ids: { dtype: 'int64', shape: [B, T], data: BigInt64Array.from({ length: B * T }, (_, i) => BigInt(i % T)) },
    labels: { dtype: 'int64', shape: [B, T], data: BigInt64Array.from({ length: B * T }, (_, i) => ids[(i + 1) % (B * T)]) },
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

async function time(b: Built, iters: number): Promise<number[]> {
  await b.step(); // warm-up
  const ms: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    await b.step();
    ms.push(performance.now() - t0);
  }
  return ms;
}

/**
 * Decode throughput at batch 1: a prompt of `seq` random tokens, then `newTokens` tokens, with
 * the KV cache (one token per call) and recomputing the full prefix every token (what
 * `fullForwardStep` does), both on the same KV-cache session (P = 0 for the recompute).
 */
async function benchDecode(a: Required<Pick<BenchArgs, 'seq' | 'newTokens'>> & BenchArgs) {
  const cfg = BENCH_CONFIG;
  const lm = llamaFamily.build(cfg, randomWeights(llamaFamily, cfg, 1), { kvCache: true });
  const g = lm.graph;
  g.output(lm.logits, 'logits');
  lm.cache!.present.forEach((kv, i) => {
    g.output(kv.key, presentNames(i).key);
    g.output(kv.value, presentNames(i).value);
  });
  const session = await Session.create(serializeModel(g), { device: a.device ?? 'cpu', threads: a.threads, name: 'bench decode' });
  try {
    const step = new KvCacheStep({ config: cfg, dtype: 'float32', runFeeds: (feeds) => session.run(feeds) });
    const rand = createRng(3);
    const ids = Array.from({ length: a.seq + a.newTokens }, () => Math.floor(rand() * cfg.vocab_size));
    const prompt = ids.slice(0, a.seq);
    await step.prefill([prompt.slice(0, Math.min(8, a.seq))]); // warm-up
    let t0 = performance.now();
    let { cache } = await step.prefill([prompt]);
    const prefillMs = performance.now() - t0;
    t0 = performance.now();
    for (let i = 0; i < a.newTokens; i++) ({ cache } = await step.extend(cache, [ids[a.seq + i]]));
    const cacheMs = performance.now() - t0;
    t0 = performance.now();
    for (let i = 0; i < a.newTokens; i++) await step.prefill([ids.slice(0, a.seq + i + 1)]);
    const recomputeMs = performance.now() - t0;
    return { prefillMs, cacheTokensPerS: (a.newTokens / cacheMs) * 1000, recomputeTokensPerS: (a.newTokens / recomputeMs) * 1000 };
  } finally {
    await session.release();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function runBench(args: BenchArgs): Promise<void> {
  const a = { batch: 4, seq: 256, rank: 16, iters: 3, newTokens: 32, ...args };
  const tokens = a.batch * a.seq;
  const threads = a.threads ?? availableParallelism();
  info(`bench: Llama hidden 512, 8 layers, 8 heads / 4 KV heads, intermediate 1408, vocab 32000; batch ${a.batch} × seq ${a.seq}; LoRA r ${a.rank} on all linear layers`);
  info(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, ${threads} intra-op threads; device ${a.device ?? 'cpu'}`);
  let peakRss = process.memoryUsage().rss;
  const sample = () => (peakRss = Math.max(peakRss, process.memoryUsage().rss));
  const timer = setInterval(sample, 20);
  try {
    const fwd = await build('forward', a);
    const fwdMs = median(await time(fwd, a.iters));
    sample();
    await fwd.release();
    const train = await build('train', a);
    const trainMs = median(await time(train, a.iters));
    sample();
    await train.release();
    const decode = await benchDecode(a);
    sample();
    const result = {
      device: fwd.session.provider,
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
      graph_build_ms: { forward: round(fwd.buildMs), train: round(train.buildMs) },
      peak_rss_mib: round(peakRss / 2 ** 20),
    };
    info(`forward:     ${result.forward_ms} ms/step   ${result.forward_tokens_per_s} tokens/s   (build + compile ${result.graph_build_ms.forward} ms)`);
    info(`train step:  ${result.train_step_ms} ms/step   ${result.train_tokens_per_s} tokens/s   (forward + backward to LoRA A/B + clipped AdamW; build + compile ${result.graph_build_ms.train} ms)`);
    info(`decode:      batch 1, prompt ${a.seq} + ${a.newTokens} new tokens: KV cache ${result.decode_kv_cache_tokens_per_s} tokens/s, recomputing the prefix ${result.decode_recompute_tokens_per_s} tokens/s   (prefill ${result.decode_prefill_ms} ms)`);
    info(`ratio train/forward: ${result.train_over_forward}×   ratio decode KV cache/recompute: ${result.decode_kv_cache_over_recompute}×   peak RSS: ${result.peak_rss_mib} MiB`);
    if (a.json) emitJson(result);
  } finally {
    clearInterval(timer);
  }
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
