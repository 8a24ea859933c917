/**
 * ONNX Runtime sessions over our graphs: device (execution provider) selection, thread
 * settings, and conversion between HostTensor and ort.Tensor.
 *
 * Only the engine processes (trainer, worker, CLI) import this file; the VS Code extension host
 * never loads `onnxruntime-node` (DESIGN.md, Processes).
 */
import * as ort from 'onnxruntime-node';
import { availableParallelism } from 'node:os';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';

// ONNX Runtime's own logger prints provider-load failures in colour on stderr; we report them
// ourselves, once, in words.
ort.env.logLevel = 'fatal';
import type { HostTensor, DType } from '../tensor';

export type Device = 'auto' | 'cpu' | 'cuda' | 'webgpu';
export const DEVICES: readonly Device[] = ['auto', 'cpu', 'cuda', 'webgpu'];

export class RuntimeError extends Error {}

export interface SessionOptions {
  device?: Device;
  /** Intra-op threads; default: every core (unset was 3–5× slower on 2 cores). */
  threads?: number;
}

/** Providers this build of onnxruntime-node lists (what it was compiled with). */
export function supportedBackends(): string[] {
  return ort.listSupportedBackends().map((b) => b.name);
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
  try {
    const binding = dirname(createRequire(import.meta.url).resolve('onnxruntime-node'));
    const dir = join(binding, '..', 'bin', 'napi-v6', process.platform, process.arch);
    return existsSync(join(dir, process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so'));
  } catch {
    return false;
  }
}

function vulkanLoaderPresent(): boolean {
  const dirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib', ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean)];
  return dirs.some((d) => existsSync(join(d, 'libvulkan.so.1')));
}

/**
 * A compiled model ready to run. `provider` is the execution provider actually used.
 */
export class Session {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly provider: 'cpu' | 'cuda' | 'webgpu',
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
      try {
        const options: ort.InferenceSession.SessionOptions = {
          executionProviders: [ep],
          intraOpNumThreads: threads,
          interOpNumThreads: 1,
          graphOptimizationLevel: 'all',
          logSeverityLevel: 3,
        };
        const s = typeof model === 'string'
          ? await ort.InferenceSession.create(model, options)
          : await ort.InferenceSession.create(model, options);
        return new Session(s, ep);
      } catch (e) {
        // ORT prefixes the cause with its source location; keep the sentence a user can act on.
        const raw = (e as Error).message.split('\n')[0];
        const cause = /(Failed to [^]*)$/.exec(raw)?.[1] ?? raw;
        errors.push(`${ep}: ${cause.trim()}`);
      }
    }
    const hint = device === 'cuda'
      ? ' CUDA needs ONNX Runtime\'s CUDA provider libraries (install them with: ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install) plus the CUDA 12 and cuDNN 9 runtime; use --device auto or cpu meanwhile.'
      : device === 'webgpu' ? ' WebGPU needs a Vulkan/Metal/D3D12 driver; use --device cpu or auto meanwhile.' : '';
    throw new RuntimeError(`could not start ONNX Runtime on device "${device}": ${errors.join('; ')}.${hint}`);
  }

  get inputNames(): readonly string[] { return this.session.inputNames; }
  get outputNames(): readonly string[] { return this.session.outputNames; }

  /**
   * Runs the model. Feeds are checked against the model's input names first, so a missing or
   * misspelt feed is reported by name instead of as an ORT error.
   *
   * @param fetches output names to return (default: all).
   * @throws RuntimeError on a missing/unknown feed.
   */
  async run(feeds: Record<string, HostTensor>, fetches?: string[]): Promise<Record<string, HostTensor>> {
    const missing = this.session.inputNames.filter((n) => !(n in feeds));
    const unknown = Object.keys(feeds).filter((n) => !this.session.inputNames.includes(n));
    if (missing.length || unknown.length) {
      throw new RuntimeError(`model feeds do not match its inputs: missing [${missing.join(', ')}], unknown [${unknown.join(', ')}]`);
    }
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [k, t] of Object.entries(feeds)) ortFeeds[k] = toOrt(t);
    const out = fetches ? await this.session.run(ortFeeds, fetches) : await this.session.run(ortFeeds);
    const res: Record<string, HostTensor> = {};
    for (const [k, t] of Object.entries(out)) res[k] = fromOrt(t);
    return res;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function toOrt(t: HostTensor): ort.Tensor {
  if (t.dtype === 'bfloat16') throw new RuntimeError('bfloat16 feeds are not supported by onnxruntime-node; convert to float16 or float32');
  return new ort.Tensor(t.dtype as ort.Tensor.Type, t.data as ort.Tensor.DataType, t.shape);
}

function fromOrt(t: ort.Tensor): HostTensor {
  return { dtype: t.type as DType, shape: [...t.dims], data: t.data as HostTensor['data'] };
}
