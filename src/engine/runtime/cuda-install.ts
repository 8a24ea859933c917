/**
 * Installs ONNX Runtime's CUDA provider libraries into onnxruntime-node's binary folder — what
 * the package's install script does (`onnxruntime-node/script/install.js` with
 * `ONNXRUNTIME_NODE_INSTALL=cuda12`), with progress, verification, atomic placement and
 * one-line errors, and also from a local archive or a mirror URL.
 *
 * Source: the NuGet package named by `onnxruntime-node/script/install-metadata.js` (for 1.30.0:
 * `Microsoft.ML.OnnxRuntime.Gpu.Linux` 1.30.0 from https://api.nuget.org/v3/index.json), resolved
 * with the NuGet v3 protocol (learn.microsoft.com/nuget/api: service index →
 * `PackageBaseAddress/3.0.0` → `{base}{id}/{version}/{id}.{version}.nupkg`; the checksum from the
 * registration leaf's `catalogEntry`: `packageHash` (base64 SHA-512 of the .nupkg) and
 * `packageSize`). A .nupkg is a zip archive; the files are
 * `runtimes/linux-x64/native/libonnxruntime_providers_{shared,cuda,tensorrt}.so`.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import * as yauzl from 'yauzl';
import type { OrtPackage } from './cuda-libs';

/** A set-up failure, in one line naming what failed and what to do. `input`: the user's file or URL is at fault. */
export class CudaSetupError extends Error {
  constructor(message: string, readonly input = false) {
    super(message.replace(/\s*[\r\n]+\s*/g, ' '));
    this.name = 'CudaSetupError';
  }
}

/** Thrown when the signal passed in aborts the install (Ctrl-C); nothing was installed. */
export class SetupStopped extends Error {
  constructor() {
    super('stopped; nothing was installed');
    this.name = 'SetupStopped';
  }
}

/** One file to take from the package. */
export interface ManifestFile {
  /** File name in the binary folder, e.g. `libonnxruntime_providers_cuda.so`. */
  name: string;
  /** Entry in the archive, e.g. `runtimes/linux-x64/native/libonnxruntime_providers_cuda.so`. */
  pathInPackage: string;
}

/** What onnxruntime-node's install script would fetch on Linux x64. */
export interface ProviderManifest {
  packageId: string;
  version: string;
  /** NuGet v3 service index of the feed. */
  feedIndex: string;
  files: ManifestFile[];
}

/** The install script's metadata (onnxruntime-node 1.2x–1.30), used when its file cannot be read. */
const FALLBACK_FILES = ['shared', 'cuda', 'tensorrt'].map((p) => ({ name: `libonnxruntime_providers_${p}.so`, pathInPackage: `runtimes/linux-x64/native/libonnxruntime_providers_${p}.so` }));
export const NUGET_INDEX = 'https://api.nuget.org/v3/index.json';

interface InstallMetadata {
  manifests?: Record<string, Record<string, { package: string; path: string }>>;
  packages?: Record<string, { name: string; versions: { feed: string; version: string }[] }>;
  feeds?: Record<string, { type: string; index: string }>;
}

/**
 * The package and files onnxruntime-node's own install script names for Linux x64 / CUDA 12
 * (read from its `script/install-metadata.js`, so a newer onnxruntime-node brings its own list);
 * falls back to `Microsoft.ML.OnnxRuntime.Gpu.Linux` at the package's version on nuget.org.
 */
export function providerManifest(pkg: OrtPackage): ProviderManifest {
  try {
    const meta = createRequire(join(pkg.root, 'package.json'))('./script/install-metadata.js') as InstallMetadata;
    const manifest = meta.manifests?.['linux/x64:cuda12'];
    const entries = Object.entries(manifest ?? {});
    const pkgKey = entries[0]?.[1].package;
    const info = pkgKey ? meta.packages?.[pkgKey] : undefined;
    const v = info?.versions[0];
    const feed = v ? meta.feeds?.[v.feed] : undefined;
    if (entries.length && info && v && feed?.type === 'nuget') {
      return {
        packageId: info.name,
        version: v.version,
        feedIndex: feed.index,
        files: entries.map(([file, e]) => ({ name: basename(file), pathInPackage: e.path })),
      };
    }
  } catch {
    // an onnxruntime-node without the metadata file: use the known layout
  }
  return { packageId: 'Microsoft.ML.OnnxRuntime.Gpu.Linux', version: pkg.version, feedIndex: NUGET_INDEX, files: FALLBACK_FILES };
}

/** Where the archive comes from. */
export type ProviderSource =
  | { kind: 'nuget'; index: string }
  | { kind: 'url'; url: string }
  | { kind: 'file'; path: string };

/** A resolved download: the .nupkg URL and, when the feed publishes them, its size and SHA-512. */
export interface ResolvedPackage {
  url: string;
  size?: number;
  /** base64 SHA-512 of the whole archive (NuGet's `packageHash`). */
  sha512?: string;
}

export interface InstallOptions {
  manifest: ProviderManifest;
  source: ProviderSource;
  /** onnxruntime-node's binary folder (`OrtPackage.binDir`). */
  destDir: string;
  /** Bytes received and expected (total 0 when the server sends no length). */
  onProgress?: (received: number, total: number) => void;
  /** Called once the archive's URL and size are known, before the download starts. */
  onDownload?: (pkg: ResolvedPackage) => void;
  signal?: AbortSignal;
}

export interface InstallResult {
  /** Installed file paths, in the order they were put in place. */
  installed: string[];
  /** What the archive was checked against: the feed's SHA-512, its length, or only the zip's CRC-32s. */
  verified: 'sha512' | 'size' | 'crc32';
  /** Where it came from (URL or file). */
  from: string;
  bytes: number;
}

const NET_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENETUNREACH', 'EHOSTUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'CERT_HAS_EXPIRED', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN']);

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/**
 * Node's fetch goes through HTTPS_PROXY only when NODE_USE_ENV_PROXY=1 is set (Node 22 and later;
 * Node 20 has no proxy support in fetch), so a set but unused proxy is worth a word.
 */
function proxyHint(): string {
  const proxy = process.env.HTTPS_PROXY ?? process.env.https_proxy ?? process.env.HTTP_PROXY ?? process.env.http_proxy;
  if (!proxy || process.env.NODE_USE_ENV_PROXY === '1') return '';
  return `a proxy is set (${hostOf(proxy)}) but Node.js uses it only with NODE_USE_ENV_PROXY=1 (Node 22 or later): NODE_USE_ENV_PROXY=1 loralab setup-gpu; `;
}

/**
 * Checks a `--url` / `--feed` value before anything is fetched: an absolute http: or https: URL
 * (WHATWG URL parsing, as `fetch` does).
 * @param option the option's name for the message, e.g. `--url`.
 * @throws CudaSetupError (input) `--url notaurl: not a URL; …` or `… only http(s) URLs …`.
 */
export function assertHttpUrl(url: string, option: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CudaSetupError(`${option} ${url}: not a URL; give the full address, e.g. https://mirror.example.com/microsoft.ml.onnxruntime.gpu.linux.1.30.0.nupkg (for a file on disk use --from FILE)`, true);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new CudaSetupError(`${option} ${url}: only http(s) URLs can be downloaded (this is ${parsed.protocol.replace(/:$/, '')}); download the file yourself and run loralab setup-gpu --from FILE`, true);
  }
}

/** `fetch` with its failures turned into one-line CudaSetupErrors naming the host. */
async function get(url: string, what: string, manifest: ProviderManifest, signal?: AbortSignal): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { signal, redirect: 'follow' });
  } catch (e) {
    if (signal?.aborted) throw new SetupStopped();
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    // undici refuses the WHATWG fetch "bad ports" (9, 25, 6000, …) without connecting.
    if (cause?.message === 'bad port') {
      throw new CudaSetupError(`${url}: port ${new URL(url).port} is blocked by Node.js's fetch (a "bad port" in the Fetch standard), so nothing was tried; serve the file on another port (e.g. 8080), or download it yourself and run loralab setup-gpu --from FILE`, true);
    }
    const code = cause?.code ?? '';
    const why = NET_CODES.has(code) || code ? code : cause?.message ?? (e as Error).message;
    throw new CudaSetupError(`cannot reach ${hostOf(url)} to download ${what} (${why}); ${proxyHint()}without access to it, download ${offlineName(manifest)} on another machine and run: loralab setup-gpu --from FILE`);
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    throw new CudaSetupError(`${url}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''} while downloading ${what}${res.status === 404 ? `; the source has no ${manifest.packageId} ${manifest.version}` : ''}`);
  }
  return res;
}

async function getJson(url: string, what: string, manifest: ProviderManifest, signal?: AbortSignal): Promise<unknown> {
  const res = await get(url, what, manifest, signal);
  try {
    return await res.json();
  } catch {
    if (signal?.aborted) throw new SetupStopped();
    throw new CudaSetupError(`${url}: not JSON (${what}); is the feed URL a NuGet v3 service index (…/v3/index.json)?`, true);
  }
}

/** nuget.org's page of the manifest's package version, where a person downloads the .nupkg ("Download package"). */
export function packagePage(m: ProviderManifest): string {
  return `https://www.nuget.org/packages/${m.packageId}/${m.version}`;
}

/** ELF header fields of a Linux x86-64 shared library (System V gABI, "ELF Header"; x86-64 psABI). */
const ELF = { magic: Buffer.from([0x7f, 0x45, 0x4c, 0x46]), ELFCLASS64: 2, ELFDATA2LSB: 1, ET_DYN: 3, EM_X86_64: 62, headerBytes: 20 } as const;

/**
 * What is wrong with `head` (the first bytes of a file) as a 64-bit x86-64 shared object, or
 * undefined when it is one: e_ident[0..3] = 0x7f 'E' 'L' 'F', e_ident[EI_CLASS] = ELFCLASS64 (2),
 * e_ident[EI_DATA] = ELFDATA2LSB (1), e_type (offset 16, u16) = ET_DYN (3), e_machine (offset
 * 18, u16) = EM_X86_64 (62).
 */
export function elfProblem(head: Buffer): string | undefined {
  if (head.length < ELF.headerBytes || !head.subarray(0, 4).equals(ELF.magic)) return 'is not an ELF file (no \\x7fELF at its start)';
  if (head[4] !== ELF.ELFCLASS64) return `is a ${head[4] === 1 ? '32-bit' : 'non-64-bit'} ELF file (EI_CLASS ${head[4]}), not 64-bit`;
  if (head[5] !== ELF.ELFDATA2LSB) return `is a big-endian ELF file (EI_DATA ${head[5]}), not x86-64`;
  const type = head.readUInt16LE(16);
  const machine = head.readUInt16LE(18);
  if (machine !== ELF.EM_X86_64) return `is built for another processor (e_machine ${machine}, not 62 = x86-64)`;
  if (type !== ELF.ET_DYN) return `is not a shared library (e_type ${type}, not 3 = ET_DYN)`;
  return undefined;
}

/** The .nupkg name of a manifest's package, as NuGet names the file. */
export function offlineName(m: ProviderManifest): string {
  return `${m.packageId.toLowerCase()}.${m.version.toLowerCase()}.nupkg`;
}

/**
 * Resolves the package on a NuGet v3 feed: the download URL from `PackageBaseAddress/3.0.0`,
 * and the size and SHA-512 from the registration leaf's catalog entry where the feed has one
 * (nuget.org does; a feed without a catalog gives only the URL).
 *
 * @throws CudaSetupError when the feed cannot be reached, answers with an HTTP error, or has no
 *   PackageBaseAddress resource.
 */
export async function resolveNuget(manifest: ProviderManifest, index: string, signal?: AbortSignal): Promise<ResolvedPackage> {
  const doc = (await getJson(index, 'the NuGet service index', manifest, signal)) as { resources?: { '@id': string; '@type': string | string[] }[] };
  const resources = Array.isArray(doc?.resources) ? doc.resources : [];
  const find = (type: string) => resources.find((r) => [r['@type']].flat().includes(type))?.['@id'];
  const base = find('PackageBaseAddress/3.0.0');
  if (!base) throw new CudaSetupError(`${index}: the NuGet service index has no PackageBaseAddress/3.0.0 resource; give the package URL with --url instead`, true);
  const id = manifest.packageId.toLowerCase();
  const v = manifest.version.toLowerCase();
  const slash = (s: string) => (s.endsWith('/') ? s : `${s}/`);
  const url = `${slash(base)}${id}/${v}/${id}.${v}.nupkg`;
  const registration = find('RegistrationsBaseUrl/3.6.0') ?? find('RegistrationsBaseUrl/3.4.0') ?? find('RegistrationsBaseUrl');
  if (!registration) return { url };
  try {
    const leaf = (await getJson(`${slash(registration)}${id}/${v}.json`, 'the package registration', manifest, signal)) as { catalogEntry?: unknown };
    if (typeof leaf?.catalogEntry !== 'string') return { url };
    const entry = (await getJson(leaf.catalogEntry, 'the package catalog entry', manifest, signal)) as { packageHash?: string; packageHashAlgorithm?: string; packageSize?: number };
    return {
      url,
      size: typeof entry?.packageSize === 'number' ? entry.packageSize : undefined,
      sha512: entry?.packageHashAlgorithm?.toUpperCase() === 'SHA512' && typeof entry.packageHash === 'string' ? entry.packageHash : undefined,
    };
  } catch (e) {
    if (e instanceof SetupStopped) throw e;
    return { url }; // no checksum on this feed: the zip's CRC-32s still catch a damaged download
  }
}

/** A write failure (disk full, no permission) as one line naming the folder. */
function writeError(e: unknown, dir: string): Error {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new CudaSetupError(`no space left in ${dir}: the CUDA provider needs about 1 GiB there while installing; free some space and run loralab setup-gpu again`);
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return new CudaSetupError(`cannot write to ${dir} (${code === 'EROFS' ? 'read-only file system' : 'permission denied'}); run loralab setup-gpu as the user who installed onnxruntime-node (e.g. with sudo for a global install)`);
  return e instanceof Error ? e : new Error(String(e));
}

/**
 * Streams `url` into `file`, hashing it (SHA-512) and reporting progress.
 * @throws CudaSetupError on a network failure, an HTTP error, or a body shorter or longer than
 *   announced; SetupStopped when `signal` aborts.
 */
async function download(url: string, file: string, manifest: ProviderManifest, expected: number | undefined, opts: InstallOptions): Promise<{ bytes: number; sha512: string; sized: boolean }> {
  const res = await get(url, `${manifest.packageId} ${manifest.version}`, manifest, opts.signal);
  const announced = Number(res.headers.get('content-length') ?? NaN);
  const total = expected ?? (Number.isFinite(announced) ? announced : 0);
  opts.onDownload?.({ url, size: total || undefined });
  const hash = createHash('sha512');
  const out = createWriteStream(file);
  const outError = new Promise<never>((_, reject) => out.once('error', reject));
  outError.catch(() => undefined);
  let received = 0;
  opts.onProgress?.(0, total);
  try {
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        received += chunk.length;
        hash.update(chunk);
        if (!out.write(chunk)) await Promise.race([once(out, 'drain'), outError]);
        opts.onProgress?.(received, total);
      }
    } catch (e) {
      if (opts.signal?.aborted) throw new SetupStopped();
      if ((e as NodeJS.ErrnoException).code && !(e instanceof TypeError)) throw e; // a write error: mapped below
      throw new CudaSetupError(`the download from ${hostOf(url)} broke off after ${received} of ${total || '?'} bytes (${(e as Error).message}); nothing was installed — run loralab setup-gpu again`);
    }
    out.end();
    await Promise.race([once(out, 'finish'), outError]);
  } catch (e) {
    out.destroy();
    if (e instanceof CudaSetupError || e instanceof SetupStopped) throw e;
    throw writeError(e, opts.destDir);
  }
  if (total && received !== total) {
    throw new CudaSetupError(`the download from ${hostOf(url)} ended after ${received} of ${total} bytes; nothing was installed — run loralab setup-gpu again`);
  }
  return { bytes: received, sha512: hash.digest('base64'), sized: total > 0 };
}

/** Staging folders of set-ups whose process is gone (killed mid-install), to remove. */
function staleStaging(dir: string): string[] {
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => {
    const pid = /^\.setup-gpu-(\d+)-/.exec(n)?.[1];
    if (!pid) return false;
    try {
      process.kill(Number(pid), 0);
      return false;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ESRCH';
    }
  }).map((n) => join(dir, n));
}

/**
 * Extracts the manifest's files from a zip (.nupkg) into `outDir`, checking each file's CRC-32,
 * that each is a 64-bit x86-64 ELF shared object ({@link elfProblem}), and that the archive's
 * `.nuspec` names the manifest's package id and version (NuGet: case-insensitive).
 * @throws CudaSetupError (input) for a file that is not a zip, has no `.nuspec`, is another
 *   package or version, lacks a required entry (the TensorRT provider is optional) or holds a
 *   library that is not an x86-64 shared object; SetupStopped when aborted.
 */
async function extract(archive: string, label: string, manifest: ProviderManifest, outDir: string, signal?: AbortSignal): Promise<string[]> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(archive, { lazyEntries: true, autoClose: false });
  } catch (e) {
    throw new CudaSetupError(`${label}: not a zip archive (.nupkg) (${(e as Error).message}); give ${offlineName(manifest)} ("Download package" on ${packagePage(manifest)})`, true);
  }
  const wanted = new Map(manifest.files.map((f) => [f.pathInPackage, f.name]));
  const written: string[] = [];
  let nuspec = false;
  try {
    for await (const entry of zip.eachEntry()) {
      if (signal?.aborted) throw new SetupStopped();
      if (/^[^/]+\.nuspec$/.test(entry.fileName)) {
        // NuGet ids and versions compare case-insensitively (NuGet docs, "Package ID").
        const text = await streamToString(await zip.openReadStreamPromise(entry));
        const id = /<id>\s*([^<\s]+)\s*<\/id>/.exec(text)?.[1];
        const version = /<version>\s*([^<\s]+)\s*<\/version>/.exec(text)?.[1];
        if (!id || id.toLowerCase() !== manifest.packageId.toLowerCase()) {
          throw new CudaSetupError(`${label}: is the package ${id ?? '(no <id> in its .nuspec)'}${version ? ` ${version}` : ''}, not ${manifest.packageId}; give ${offlineName(manifest)} from ${packagePage(manifest)}`, true);
        }
        if (version?.toLowerCase() !== manifest.version.toLowerCase()) {
          throw new CudaSetupError(`${label}: is ${manifest.packageId} ${version ?? '(no <version> in its .nuspec)'}, but onnxruntime-node is ${manifest.version} and loads only its own version's provider; give ${offlineName(manifest)} from ${packagePage(manifest)}`, true);
        }
        nuspec = true;
        continue;
      }
      const name = wanted.get(entry.fileName);
      if (!name) continue;
      const target = join(outDir, name);
      let crc = 0;
      let head = Buffer.alloc(0);
      const check = new Transform({
        transform(chunk: Buffer, _enc, done) {
          crc = crc32(chunk, crc);
          if (head.length < ELF.headerBytes) head = Buffer.concat([head, chunk.subarray(0, ELF.headerBytes - head.length)]);
          done(null, chunk);
        },
      });
      try {
        await pipeline(await zip.openReadStreamPromise(entry), check, createWriteStream(target, { mode: 0o755 }), { signal });
      } catch (e) {
        if (signal?.aborted) throw new SetupStopped();
        if ((e as NodeJS.ErrnoException).syscall) throw writeError(e, outDir);
        throw new CudaSetupError(`${label}: entry ${entry.fileName} is damaged (${(e as Error).message}); download the archive again`, true);
      }
      if (crc >>> 0 !== entry.crc32 >>> 0) throw new CudaSetupError(`${label}: entry ${entry.fileName} fails its CRC-32 check; the archive is damaged — download it again`, true);
      const notLib = elfProblem(head);
      if (notLib) throw new CudaSetupError(`${label}: entry ${entry.fileName} ${notLib}, so it is not the Linux x86-64 library onnxruntime-node loads; nothing was installed — give ${offlineName(manifest)} from ${packagePage(manifest)}`, true);
      written.push(name);
    }
  } finally {
    zip.close();
  }
  if (!nuspec) throw new CudaSetupError(`${label}: has no .nuspec, so it is not a NuGet package (.nupkg); give ${offlineName(manifest)} from ${packagePage(manifest)}`, true);
  const missing = manifest.files.filter((f) => !written.includes(f.name) && !f.name.includes('tensorrt'));
  if (missing.length) {
    throw new CudaSetupError(`${label}: has no ${missing.map((f) => f.pathInPackage).join(', ')}; is it ${manifest.packageId} ${manifest.version}? Give ${offlineName(manifest)} from ${packagePage(manifest)}`, true);
  }
  return written;
}

async function streamToString(s: NodeJS.ReadableStream): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(Buffer.from(c as Buffer));
  return Buffer.concat(parts).toString('utf8');
}

/**
 * Downloads (or reads) the provider package, verifies it, and puts its libraries into
 * `destDir` atomically: everything is written to a staging folder inside `destDir` first and
 * each file is then renamed into place (the CUDA provider last, since its presence is what
 * `device: auto` checks); the staging folder is removed on success, on any error and on abort,
 * so a failed or interrupted set-up leaves no partial file behind.
 *
 * @throws CudaSetupError (one line: unreachable host, HTTP status, truncated download, checksum
 *   mismatch, disk full, permission denied; `input` set for a missing file or a folder given as
 *   the archive, a URL that is not http(s) or uses a port fetch blocks, not a zip / wrong
 *   package, version or library); SetupStopped on abort.
 */
export async function installProviderLibraries(opts: InstallOptions): Promise<InstallResult> {
  const { manifest, source, destDir } = opts;
  for (const stale of staleStaging(destDir)) rmSync(stale, { recursive: true, force: true });
  if (source.kind === 'file' && !existsSync(source.path)) {
    throw new CudaSetupError(`${source.path}: no such file; give the downloaded ${offlineName(manifest)} ("Download package" on ${packagePage(manifest)})`, true);
  }
  if (source.kind === 'file' && statSync(source.path).isDirectory()) {
    throw new CudaSetupError(`${source.path} is a folder; give the .nupkg file (${offlineName(manifest)}) itself`, true);
  }
  if (source.kind === 'url') assertHttpUrl(source.url, '--url');
  if (source.kind === 'nuget') assertHttpUrl(source.index, '--feed');
  let staging: string;
  try {
    staging = mkdtempSync(join(destDir, `.setup-gpu-${process.pid}-`));
  } catch (e) {
    throw writeError(e, destDir);
  }
  try {
    let archive: string;
    let from: string;
    let verified: InstallResult['verified'] = 'crc32';
    let bytes: number;
    if (source.kind === 'file') {
      archive = source.path;
      from = source.path;
      bytes = statSync(source.path).size;
    } else {
      const resolved = source.kind === 'nuget' ? await resolveNuget(manifest, source.index, opts.signal) : { url: source.url } as ResolvedPackage;
      archive = join(staging, offlineName(manifest));
      from = resolved.url;
      const got = await download(resolved.url, archive, manifest, resolved.size, opts);
      bytes = got.bytes;
      if (resolved.sha512) {
        if (got.sha512 !== resolved.sha512) throw new CudaSetupError(`${resolved.url}: SHA-512 ${got.sha512} differs from the feed's ${resolved.sha512}; the download is damaged or the mirror serves another file — run loralab setup-gpu again`);
        verified = 'sha512';
      } else if (got.sized) {
        verified = 'size';
      }
    }
    const written = await extract(archive, from, manifest, staging, opts.signal);
    if (opts.signal?.aborted) throw new SetupStopped();
    const order = [...written].sort((a, b) => Number(a.includes('_cuda')) - Number(b.includes('_cuda')));
    const installed: string[] = [];
    for (const name of order) {
      try {
        renameSync(join(staging, name), join(destDir, name));
      } catch (e) {
        throw writeError(e, destDir);
      }
      installed.push(join(destDir, name));
    }
    return { installed, verified, from, bytes };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
