/**
 * The inference worker's adapter cache: PEFT adapters read from disk, kept by folder path in
 * least-recently-used order under a budget of bytes (the LoRA A and B tensors' bytes). An
 * adapter whose `adapter_model.safetensors` changed on disk since it was read (size or mtime,
 * e.g. a run that wrote a new checkpoint into the same folder) is read again.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ADAPTER_WEIGHTS_NAME, type PeftAdapter, readPeftAdapter } from '../engine/weights/peft';
import type { AdapterInfoLike } from '../protocol/worker';

/** Default budget of the adapter cache: 512 MiB (about 30 rank-16 all-linear adapters of a 1B model). */
export const DEFAULT_ADAPTER_CACHE_BYTES = 512 * 1024 * 1024;

/** Environment variable that sets the budget in MiB (`LORALAB_ADAPTER_CACHE_MB=1024`). */
export const ADAPTER_CACHE_ENV = 'LORALAB_ADAPTER_CACHE_MB';

/**
 * The budget from `env[ADAPTER_CACHE_ENV]` (MiB, a number > 0), else the default.
 * @throws Error naming the variable when it is set but not a positive number.
 */
export function adapterCacheBytesFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[ADAPTER_CACHE_ENV];
  if (raw === undefined || raw.trim() === '') return DEFAULT_ADAPTER_CACHE_BYTES;
  const mb = Number(raw);
  if (!(mb > 0) || !Number.isFinite(mb)) throw new Error(`${ADAPTER_CACHE_ENV}=${raw}: must be a number of MiB > 0 (default ${DEFAULT_ADAPTER_CACHE_BYTES / 1024 / 1024})`);
  return Math.round(mb * 1024 * 1024);
}

/** Bytes of an adapter's tensors (every A and B). */
export function adapterBytes(adapter: PeftAdapter): number {
  let n = 0;
  for (const w of adapter.modules.values()) n += w.A.data.byteLength + w.B.data.byteLength;
  return n;
}

interface Entry {
  adapter: PeftAdapter;
  bytes: number;
  /** `size:mtimeMs` of adapter_model.safetensors when read. */
  version: string;
}

export class AdapterCache {
  /** Map order = recency: the first key is the least recently used. */
  private readonly entries = new Map<string, Entry>();
  private total = 0;

  /**
   * @param budgetBytes most bytes kept; the adapter in use is kept even when it alone exceeds it.
   * @param read reads an adapter folder (default `readPeftAdapter`; tests count reads).
   */
  constructor(
    readonly budgetBytes: number = DEFAULT_ADAPTER_CACHE_BYTES,
    private readonly read: (dir: string) => Promise<PeftAdapter> = readPeftAdapter,
  ) {}

  /** Bytes held now. */
  get bytes(): number { return this.total; }
  /** Cached folders, least recently used first. */
  keys(): string[] { return [...this.entries.keys()]; }

  /**
   * The adapter in folder `dir`, from the cache when its weights file is unchanged, else read
   * (and cached, evicting the least recently used adapters beyond the budget).
   * @throws WeightsError / LoraError from `readPeftAdapter` (one line, naming the file).
   */
  async get(dir: string): Promise<PeftAdapter> {
    const version = await stat(join(dir, ADAPTER_WEIGHTS_NAME)).then((s) => `${s.size}:${s.mtimeMs}`, () => 'missing');
    const hit = this.entries.get(dir);
    if (hit && hit.version === version) {
      this.entries.delete(dir);
      this.entries.set(dir, hit);
      return hit.adapter;
    }
    const adapter = await this.read(dir);
    this.drop(dir);
    const entry: Entry = { adapter, bytes: adapterBytes(adapter), version };
    this.entries.set(dir, entry);
    this.total += entry.bytes;
    for (const key of this.entries.keys()) {
      if (this.total <= this.budgetBytes || key === dir) break;
      this.drop(key);
    }
    return adapter;
  }

  clear(): void {
    this.entries.clear();
    this.total = 0;
  }

  private drop(dir: string): void {
    const e = this.entries.get(dir);
    if (!e) return;
    this.entries.delete(dir);
    this.total -= e.bytes;
  }
}

/**
 * What the editor shows of an adapter: `r` one number when every module has the same rank
 * (read from the lora_A shapes), else the rank per module; `target_modules` from
 * adapter_config.json when it is a list, else the distinct module names found in the weights
 * (e.g. "q_proj").
 */
export function adapterInfo(path: string, adapter: PeftAdapter): AdapterInfoLike {
  const ranks = new Map([...adapter.modules].map(([m, w]) => [m, w.A.shape[0]]));
  const distinct = new Set(ranks.values());
  const r = distinct.size <= 1 ? (distinct.values().next().value ?? adapter.config.r) : Object.fromEntries(ranks);
  const listed = adapter.config.target_modules;
  const target_modules = Array.isArray(listed) ? [...listed] : [...new Set([...adapter.modules.keys()].map((m) => m.split('.').pop()!))].sort();
  return { path, r, lora_alpha: adapter.config.lora_alpha, target_modules, base_model_name_or_path: adapter.config.base_model_name_or_path ?? null };
}
