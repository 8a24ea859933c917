/**
 * ONNX Runtime sessions over our graphs: device (execution provider) selection, thread
 * settings, and conversion between HostTensor and ort.Tensor.
 *
 * Only the engine processes (trainer, worker, CLI) import this file; the VS Code extension host
 * never loads `onnxruntime-node` (DESIGN.md, Processes).
 */
import type * as ort from 'onnxruntime-node';
import { availableParallelism, totalmem } from 'node:os';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { fromBinary } from '@bufbuild/protobuf';
import { type GraphProto, ModelProtoSchema } from 'onnx-buf';
import { type HostTensor, type DType, numel } from '../tensor';
import type { Device } from '../device';
import { ortPackage } from './cuda-libs';

const ORT_LOG_FATAL = 4;
let ortModule: typeof ort | undefined;

/**
 * onnxruntime-node, loaded on first use (not on import), so commands that never run a model
 * (`loralab --help`, `runs`, `inspect`, `setup-gpu`) work — and start faster — where its native
 * binding cannot load. `import type` keeps `ort.X` usable in type positions; values go through
 * this function.
 *
 * @throws RuntimeError when the native binding cannot load, naming the cause.
 */
function ortLib(): typeof ort {
  if (ortModule) return ortModule;
  try {
    ortModule = createRequire(import.meta.url)('onnxruntime-node') as typeof ort;
  } catch (e) {
    const first = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    throw new RuntimeError(`could not load ONNX Runtime (onnxruntime-node): ${first}; reinstall it with npm ci (ONNXRUNTIME_NODE_INSTALL=skip for CPU only)`);
  }
  // ONNX Runtime's own logger prints provider-load failures and failed kernels in colour on
  // stderr; we report them ourselves, once, in words. 'fatal' (4) is the environment's logger;
  // sessions and runs get logSeverityLevel 4 too (at 3, ERROR, a failed kernel still prints).
  ortModule.env.logLevel = 'fatal';
  return ortModule;
}

export { type Device, DEVICES } from '../device';

/** An ONNX Runtime failure, in one line (newlines collapsed) that a user can read. */
export class RuntimeError extends Error {
  constructor(message: string) {
    super(message.replace(/\s*[\r\n]+\s*/g, ' '));
    this.name = 'RuntimeError';
  }
}

export interface SessionOptions {
  device?: Device;
  /** Intra-op threads; default: every core (unset was 3–5× slower on 2 cores). */
  threads?: number;
  /**
   * What the session runs, for messages: the model folder (and adapter), or e.g. "AdamW step".
   * Run errors start with it. Default "the model".
   */
  name?: string;
  /**
   * ONNX Runtime's memory pattern (`enableMemPattern`): from the second run with the same input
   * shapes, reserve the whole activation plan as one block. Default true. Training sessions
   * turn it off: the block holds far more than a step needs (bench config, batch 4 × 256, as
   * the trainer runs it: peak RSS 2696 → 2117 MiB) at the same speed once ONNX Runtime's arena
   * has grown (the first ~4 steps are 2–3× slower).
   */
  enableMemPattern?: boolean;
  /**
   * ONNX Runtime's weight prepacking (session config `session.disable_prepacking` when false):
   * MatMul/Gemm kernels copy each constant weight into a layout of their own, one copy per layout,
   * so a weight used as B by the forward and as Bᵀ by the backward is held twice. Default true.
   * Training sessions decide with `prepackTraining`.
   */
  prepacking?: boolean;
}

/** Extra memory of a prepacked training session, as a multiple of its float32 weight bytes (bench config: +286 MiB on 215 MiB, rounded up). */
export const PREPACK_OVERHEAD = 1.5;

/**
 * Whether a training session on `device` should prepack its weights (`SessionOptions.prepacking`).
 * Prepacking matters for the fused loss: ONNX Runtime prepacks the output head inside the
 * chunk Loop, where each chunk would otherwise re-pack the whole (D, V) head for its product and
 * again for the backward (bench config, 4 × 256, CPU: training step −12%, lm_head 335 → 247 ms
 * per step). It also packs every frozen linear weight in the forward's and in the backward's
 * layout, which costs `PREPACK_OVERHEAD` × the weights (bench config: 566 → 852 MiB after the
 * build, peak 1113 → 1330 MiB). So: only on CPU (other providers do not prepack), and only while
 * that copy stays under 1/8 of the machine's memory — small models, where the step time is what
 * matters; a model that needs the memory trains without it (the head then stays outside the Loop).
 *
 * @param weightBytes bytes of the model's weights as the graph holds them (initializers)
 * @param device as the session is asked for it; `auto` is the provider `autoOrder` tries first
 * @param totalMemory bytes of memory of the machine (default `os.totalmem()`)
 */
export function prepackTraining(weightBytes: number, device: Device, totalMemory = totalmem()): boolean {
  const provider = device === 'auto' ? autoOrder()[0] : device;
  return provider === 'cpu' && weightBytes * PREPACK_OVERHEAD <= totalMemory / 8;
}

/** Providers this build of onnxruntime-node lists (what it was compiled with). */
export function supportedBackends(): string[] {
  return ortLib().listSupportedBackends().map((b) => b.name);
}

/**
 * The providers `auto` tries, in order: CUDA when its provider library is installed beside the
 * binding, WebGPU when a GPU API loader is likely present (always on macOS/Windows; on Linux
 * when a Vulkan loader is found), then CPU. Probing a provider that cannot load costs little,
 * but its native libraries print warnings, so obviously absent ones are skipped.
 */
export function autoOrder(): ('cpu' | 'cuda' | 'webgpu')[] {
  const order: ('cpu' | 'cuda' | 'webgpu')[] = [];
  if (cudaLibraryPresent()) order.push('cuda');
  if (process.platform !== 'linux' || vulkanLoaderPresent()) order.push('webgpu');
  order.push('cpu');
  return order;
}

function cudaLibraryPresent(): boolean {
  const dir = ortPackage()?.binDir;
  return dir !== undefined && existsSync(join(dir, process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so'));
}

/** Whether a Vulkan loader (libvulkan.so.1) is in the usual library folders or LD_LIBRARY_PATH (Linux). */
export function vulkanLoaderPresent(): boolean {
  const dirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib', ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean)];
  return dirs.some((d) => existsSync(join(d, 'libvulkan.so.1')));
}

/**
 * A compiled model ready to run. `provider` is the execution provider actually used.
 */
export class Session {
  /** Node name → op type and input names, for naming a failed node. */
  private nodes: Map<string, NodeInfo> | undefined;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly provider: 'cpu' | 'cuda' | 'webgpu',
    /** What the session runs (`SessionOptions.name`), the start of every run error. */
    readonly name: string,
    /** A model file whose nodes are read on the first failure; null once read or for bytes. */
    private modelPath: string | null,
  ) {}

  /**
   * Creates a session from model bytes or a model file path (a path is required when the
   * model has external data).
   *
   * @throws RuntimeError naming the device when the requested provider cannot start; with
   *   `device: "auto"` tries CUDA, then WebGPU, then CPU and only throws if CPU fails.
   */
  static async create(model: Uint8Array | string, opts: SessionOptions = {}): Promise<Session> {
    const device = opts.device ?? 'cpu';
    const threads = opts.threads ?? availableParallelism();
    const order: ('cpu' | 'cuda' | 'webgpu')[] = device === 'auto' ? autoOrder() : [device];
    const errors: string[] = [];
    for (const ep of order) {
      if (ep !== 'cpu' && !supportedBackends().includes(ep)) {
        errors.push(`${ep}: not compiled into this onnxruntime-node build`);
        continue;
      }
      // Dawn prints "Couldn't load Vulkan" on native stderr (no ORT log level silences it):
      // without a Vulkan loader on Linux, do not let it try — the same check `auto` makes.
      if (ep === 'webgpu' && process.platform === 'linux' && !vulkanLoaderPresent()) {
        errors.push('webgpu: no Vulkan loader (libvulkan.so.1) found on this machine; install the GPU driver\'s Vulkan support (e.g. apt install libvulkan1 mesa-vulkan-drivers)');
        continue;
      }
      try {
        const options: ort.InferenceSession.SessionOptions = {
          executionProviders: [ep],
          intraOpNumThreads: threads,
          interOpNumThreads: 1,
          graphOptimizationLevel: 'all',
          enableMemPattern: opts.enableMemPattern ?? true,
          logSeverityLevel: ORT_LOG_FATAL,
          ...(opts.prepacking === false ? { extra: { session: { disable_prepacking: '1' } } } : {}),
        };
        const s = typeof model === 'string'
          ? await ortLib().InferenceSession.create(model, options)
          : await ortLib().InferenceSession.create(model, options);
        const session = new Session(s, ep, opts.name ?? 'the model', typeof model === 'string' ? model : null);
        // Keep only the node table (cheap: protobuf bytes fields are views), not the bytes.
        if (typeof model !== 'string') session.nodes = nodeTable(model);
        return session;
      } catch (e) {
        // ORT prefixes the cause with its source location; keep the sentence a user can act on.
        const raw = (e as Error).message.split('\n')[0];
        const cause = /(Failed to [^]*)$/.exec(raw)?.[1] ?? raw;
        errors.push(`${ep}: ${cause.trim()}`);
      }
    }
    const hint = device === 'cuda'
      ? ' CUDA needs ONNX Runtime\'s CUDA provider libraries plus the CUDA 12 and cuDNN 9 runtime: run loralab setup-gpu to install the provider and see which library is missing and where it was looked for; use --device auto or cpu meanwhile.'
      : device === 'webgpu' ? ' WebGPU needs a Vulkan/Metal/D3D12 driver; use --device cpu or auto meanwhile.' : '';
    throw new RuntimeError(`could not start ONNX Runtime on device "${device}": ${errors.join('; ')}.${hint}`);
  }

  get inputNames(): readonly string[] { return this.session.inputNames; }
  get outputNames(): readonly string[] { return this.session.outputNames; }

  /**
   * Runs the model. Feeds are checked first against the model's inputs — names, dtype, rank,
   * fixed dims, and one size per symbolic dim (B, T, …) across all feeds — so a bad feed is
   * reported by tensor name instead of as an ORT error.
   *
   * @param fetches output names to return (default: all).
   * @throws RuntimeError, one line starting with `name`: a missing/unknown feed, a feed of the
   *   wrong dtype or shape (naming the tensor), or a failure inside ONNX Runtime (naming the op
   *   type, the node and its input tensors, with ORT's reason). ORT logs nothing to stderr.
   */
  async run(feeds: Record<string, HostTensor>, fetches?: string[]): Promise<Record<string, HostTensor>> {
    const missing = this.session.inputNames.filter((n) => !(n in feeds));
    const unknown = Object.keys(feeds).filter((n) => !this.session.inputNames.includes(n));
    if (missing.length || unknown.length) {
      throw new RuntimeError(`${this.name}: feeds do not match the model's inputs: missing [${missing.join(', ')}], unknown [${unknown.join(', ')}]; ${BUG}`);
    }
    this.checkFeeds(feeds);
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [k, t] of Object.entries(feeds)) ortFeeds[k] = toOrt(t, k, this.name);
    const runOptions: ort.InferenceSession.RunOptions = { logSeverityLevel: ORT_LOG_FATAL };
    let out: ort.InferenceSession.ReturnType;
    try {
      out = fetches ? await this.session.run(ortFeeds, fetches, runOptions) : await this.session.run(ortFeeds, runOptions);
    } catch (e) {
      throw this.runError(e);
    }
    const res: Record<string, HostTensor> = {};
    for (const [k, t] of Object.entries(out)) res[k] = fromOrt(t);
    return res;
  }

  /** Checks dtype and shape of every feed against the model's input metadata. */
  private checkFeeds(feeds: Record<string, HostTensor>): void {
    const bound = new Map<string, { size: number; input: string }>();
    for (const meta of this.session.inputMetadata) {
      if (!meta.isTensor) continue;
      const t = feeds[meta.name];
      const bad = (why: string) => new RuntimeError(`${this.name}: input ${q(meta.name)} is ${t.dtype} [${t.shape.join(', ')}] but the model takes ${meta.type} [${meta.shape.join(', ')}] (${why}); ${fitHint(meta.name)}`);
      if (t.dtype !== meta.type) throw bad('dtype');
      // ORT gives [] both for a scalar and for an input of unknown shape: nothing to check.
      if (meta.shape.length === 0 && t.shape.length !== 0) continue;
      if (t.shape.length !== meta.shape.length) throw bad(`rank ${t.shape.length}, expected ${meta.shape.length}`);
      meta.shape.forEach((d, i) => {
        const n = t.shape[i];
        if (typeof d === 'number' && d >= 0 && n !== d) throw bad(`dim ${i} is ${n}, expected ${d}`);
        if (typeof d === 'string' && d !== '') {
          const b = bound.get(d);
          if (b && b.size !== n) throw bad(`dim ${i} is ${d} = ${n}, but input ${q(b.input)} has ${d} = ${b.size}`);
          if (!b) bound.set(d, { size: n, input: meta.name });
        }
      });
    }
  }

  /** One line for an error thrown by `InferenceSession.run`. */
  private runError(e: unknown): RuntimeError {
    const raw = oneLine(e instanceof Error ? e.message : String(e));
    const node = /running (\S+) node\. Name:'([^']*)' Status Message: (.*)$/.exec(raw);
    if (node) {
      const [, opType, nodeName, status] = node;
      const info = this.nodeInfo(nodeName);
      const inputs = info && info.inputs.length ? ` (inputs ${info.inputs.map(q).join(', ')})` : '';
      return new RuntimeError(`${this.name}: ONNX Runtime failed in ${opType} node ${q(nodeName)}${inputs}: ${ortReason(status)}; ${BUG}`);
    }
    const input = /for input: (\S+)/.exec(raw)?.[1];
    const which = input ? ` on input ${q(input)}` : '';
    return new RuntimeError(`${this.name}: ONNX Runtime failed${which}: ${ortReason(raw)}; ${input ? fitHint(input) : BUG}`);
  }

  private nodeInfo(name: string): NodeInfo | undefined {
    if (!this.nodes && this.modelPath !== null) {
      const path = this.modelPath;
      this.modelPath = null;
      try {
        // A model loaded by path keeps its weights in external data; the graph file is small.
        if (statSync(path).size < 256 * 2 ** 20) this.nodes = nodeTable(readFileSync(path));
      } catch {
        // no node details then
      }
    }
    return this.nodes?.get(name);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

interface NodeInfo {
  opType: string;
  inputs: string[];
}

/** Node name → op type and inputs, for the main graph and its subgraphs (If branches). */
function nodeTable(bytes: Uint8Array): Map<string, NodeInfo> | undefined {
  const table = new Map<string, NodeInfo>();
  const walk = (g: GraphProto | undefined): void => {
    for (const n of g?.node ?? []) {
      table.set(n.name, { opType: n.opType, inputs: n.input.filter((i) => i !== '') });
      for (const a of n.attribute) {
        walk(a.g);
        for (const sub of a.graphs) walk(sub);
      }
    }
  };
  try {
    walk(fromBinary(ModelProtoSchema, bytes).graph);
    return table;
  } catch {
    return undefined;
  }
}

/** What to do when a run fails for no reason the user can fix. */
const BUG = 'the inputs passed every check, so this is a LoRA Lab bug — please report this line';

/** What to do when a feed does not fit: an adapter tensor (PEFT key) or engine data. */
function fitHint(input: string): string {
  return input.startsWith('base_model.model.')
    ? 'this adapter tensor does not fit the model — use the adapter with the model it was trained for'
    : 'this is a LoRA Lab bug — please report this line';
}

const q = (s: string): string => JSON.stringify(s);
const oneLine = (s: string): string => s.replace(/\s*[\r\n]+\s*/g, ' ').trim();

/**
 * ORT's reason without its status code and source location, e.g. "[ONNXRuntimeError] : 2 :
 * INVALID_ARGUMENT : matmul_helper.h:59 Compute MatMul dimension mismatch" → "MatMul
 * dimension mismatch".
 */
function ortReason(msg: string): string {
  return oneLine(msg)
    .replace(/^\[ONNXRuntimeError\] : \d+ : \w+ : /, '')
    .replace(/(^|\s)[\w./\\-]+\.(?:h|hpp|cc|cpp|cu):\d+ \S+ /g, '$1')
    .replace(/ Please fix either the inputs\/outputs or the model\.?/, '');
}

function toOrt(t: HostTensor, name: string, model: string): ort.Tensor {
  if (t.dtype === 'bfloat16') throw new RuntimeError(`${model}: input ${q(name)} is bfloat16, which onnxruntime-node does not accept; convert it to float16 or float32`);
  if (t.data.length !== numel(t.shape)) {
    throw new RuntimeError(`${model}: input ${q(name)} has shape [${t.shape.join(', ')}] (${numel(t.shape)} elements) but ${t.data.length} data elements; ${fitHint(name)}`);
  }
  return new (ortLib().Tensor)(t.dtype as ort.Tensor.Type, t.data as ort.Tensor.DataType, t.shape);
}

function fromOrt(t: ort.Tensor): HostTensor {
  return { dtype: t.type as DType, shape: [...t.dims], data: t.data as HostTensor['data'] };
}
