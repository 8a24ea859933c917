/**
 * Resolving `model` (a local folder or a Hugging Face Hub id) to a local folder, downloading a
 * Hub model once into the standard Hugging Face cache (`@huggingface/hub`), so a model already
 * fetched by Python tools is reused and vice versa.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ModelError } from './types';

/** Files of a model repository that LoRA Lab reads. */
const WANTED = /^(config\.json|generation_config\.json|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|chat_template\.jinja|model\.safetensors\.index\.json|[^/]*\.safetensors)$/;

/** `owner/name` with Hub-legal characters. */
export function isHubId(spec: string): boolean {
  return /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(spec) && !spec.startsWith('.') && !existsSync(spec);
}

/** The Hugging Face hub cache folder: $HF_HUB_CACHE, $HF_HOME/hub, or ~/.cache/huggingface/hub. */
export function hubCacheDir(): string {
  if (process.env.HF_HUB_CACHE) return process.env.HF_HUB_CACHE;
  if (process.env.HF_HOME) return join(process.env.HF_HOME, 'hub');
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'huggingface', 'hub');
}

/** A complete snapshot of `repo` already in the cache (no network), or null. */
export function cachedSnapshot(repo: string, revision = 'main', cacheDir = hubCacheDir()): string | null {
  const base = join(cacheDir, `models--${repo.replace('/', '--')}`);
  let commit = revision;
  const ref = join(base, 'refs', revision);
  if (existsSync(ref)) commit = readFileSync(ref, 'utf8').trim();
  const snap = join(base, 'snapshots', commit);
  const ok = existsSync(join(snap, 'config.json')) && (existsSync(join(snap, 'model.safetensors')) || existsSync(join(snap, 'model.safetensors.index.json')));
  return ok ? snap : null;
}

export interface DownloadProgress {
  file: string;
  /** Bytes received so far over all files. */
  done: number;
  /** Total bytes of the files to fetch (from the Hub listing). */
  total: number;
}

/**
 * Returns a local folder for `spec`: the folder itself, a cached snapshot, or a fresh download.
 *
 * @throws ModelError naming the id, the cause, and the local-folder alternative when the
 *   download fails (no network, unknown or gated repository).
 */
export async function resolveModel(spec: string, onProgress?: (p: DownloadProgress) => void): Promise<string> {
  if (existsSync(spec)) {
    if (!statSync(spec).isDirectory()) throw new ModelError(`${spec}: not a folder; "model" must be a Hugging Face model folder or a Hub id like HuggingFaceTB/SmolLM2-135M`);
    return spec;
  }
  if (!isHubId(spec)) {
    throw new ModelError(`${spec}: model folder not found, and it is not a Hugging Face Hub id (owner/name); check the path`);
  }
  const cached = cachedSnapshot(spec);
  if (cached) return cached;
  const hub = await import('@huggingface/hub');
  const credentials = process.env.HF_TOKEN ? { accessToken: process.env.HF_TOKEN } : {};
  try {
    const files: { path: string; size: number }[] = [];
    for await (const f of hub.listFiles({ repo: { type: 'model', name: spec }, ...credentials })) {
      if (f.type === 'file' && WANTED.test(f.path)) files.push({ path: f.path, size: f.lfs?.size ?? f.size });
    }
    if (!files.some((f) => f.path === 'config.json')) throw new Error('the repository has no config.json');
    const total = files.reduce((a, f) => a + f.size, 0);
    let done = 0;
    let dir = '';
    for (const f of files) {
      const counting: typeof fetch = async (input, init) => {
        const res = await fetch(input, init);
        if (!res.body || !/\/resolve\//.test(String(input instanceof Request ? input.url : input))) return res;
        const counter = new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, ctl) {
            done += chunk.byteLength;
            onProgress?.({ file: f.path, done, total });
            ctl.enqueue(chunk);
          },
        });
        return new Response(res.body.pipeThrough(counter), { status: res.status, statusText: res.statusText, headers: res.headers });
      };
      const path = await hub.downloadFileToCacheDir({ repo: { type: 'model', name: spec }, path: f.path, fetch: counting, cacheDir: hubCacheDir(), ...credentials });
      dir = path.slice(0, path.length - f.path.length - 1);
    }
    onProgress?.({ file: '', done: total, total });
    return dir;
  } catch (e) {
    const raw = (e as Error).message.split('\n')[0];
    const cause = /fetch failed|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT/.test(raw) ? `the Hub could not be reached: ${raw}` : raw;
    throw new ModelError(
      `could not download "${spec}" from the Hugging Face Hub (${cause}). If you are offline, download it elsewhere ` +
        `(huggingface-cli download ${spec} --local-dir DIR) and pass --model DIR (or set "model" in the experiment to that folder); ` +
        'for a gated model set HF_TOKEN',
    );
  }
}
