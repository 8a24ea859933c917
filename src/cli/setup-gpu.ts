/**
 * `loralab setup-gpu`: installs ONNX Runtime's CUDA provider libraries for the installed
 * onnxruntime-node (from NuGet as its install script does, from a mirror with --url, or from a
 * downloaded .nupkg with --from), with a progress bar on stderr, then checks everything the
 * provider needs (driver, CUDA 12 and cuDNN 9 libraries, the provider files) and prints, per
 * library, where it was found or which folders were searched and what to do.
 * `--check` only checks. Exit 0 when everything is in place, 1 when something is missing or
 * the download fails, 2 for a bad --from file or URL, 130 when stopped (nothing installed).
 */
import { SingleBar } from 'cli-progress';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { type CudaDiagnosis, type LibraryCheck, diagnoseCuda, fixLine, ortPackage } from '../engine/runtime/cuda-libs';
import { CudaSetupError, type ProviderSource, SetupStopped, assertHttpUrl, installProviderLibraries, offlineName, providerManifest } from '../engine/runtime/cuda-install';
import { EXIT, InputError, emitJson, formatBytes, info, print } from './output';

export interface SetupGpuArgs {
  check?: boolean;
  from?: string;
  url?: string;
  feed?: string;
  force?: boolean;
  json?: boolean;
}

/** Returns the exit code: 0 ready, 1 something missing or a failed download, 130 stopped. */
export async function runSetupGpu(args: SetupGpuArgs): Promise<number> {
  if (args.from && args.url) throw new InputError('give either --from FILE or --url URL, not both');
  if (args.check && (args.from || args.url || args.force)) throw new InputError('--check only checks; leave out --from, --url and --force, or leave out --check');
  try {
    if (args.url !== undefined) assertHttpUrl(args.url, '--url');
    if (args.feed !== undefined) assertHttpUrl(args.feed, '--feed');
  } catch (e) {
    throw new InputError((e as Error).message); // exit 2, before anything is fetched
  }
  const pkg = ortPackage();
  if (!pkg) throw new InputError('onnxruntime-node is not installed; run npm install in the LoRA Lab folder first');
  const platform = `${process.platform} ${process.arch}`;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    const line = `onnxruntime-node has a CUDA provider only for Linux x64 (this is ${platform}); use --device webgpu (Metal, D3D12, Vulkan) or --device cpu here`;
    if (args.json) emitJson({ event: 'diagnosis', ...diagnoseCuda(), message: line });
    else print(line);
    return EXIT.failed;
  }

  if (!args.check) {
    const manifest = providerManifest(pkg);
    // The TensorRT provider is optional (it needs TensorRT, which LoRA Lab does not use).
    const present = manifest.files.filter((f) => !f.name.includes('tensorrt')).every((f) => existsSync(join(pkg.binDir, f.name)));
    if (present && !args.force && !args.from && !args.url) {
      info(`the CUDA provider libraries of onnxruntime-node ${pkg.version} are already in ${pkg.binDir} (--force downloads them again)`);
    } else {
      const code = await install(args, pkg.binDir, manifest);
      if (code !== EXIT.ok) return code;
    }
  }

  const d = diagnoseCuda();
  // In JSON the fix is the situational one (an off-path copy, another major), as printed.
  if (args.json) emitJson({ event: 'diagnosis', ...d, libraries: d.libraries.map((l) => ({ ...l, fix: fixLine(l) })) });
  else printDiagnosis(d);
  return d.ok ? EXIT.ok : EXIT.failed;
}

async function install(args: SetupGpuArgs, destDir: string, manifest: ReturnType<typeof providerManifest>): Promise<number> {
  const source: ProviderSource = args.from ? { kind: 'file', path: args.from } : args.url ? { kind: 'url', url: args.url } : { kind: 'nuget', index: args.feed ?? manifest.feedIndex };
  const controller = new AbortController();
  let stoppedBy: NodeJS.Signals | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    stoppedBy = sig;
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const tty = Boolean(process.stderr.isTTY) && !args.json;
  let bar: SingleBar | null = null;
  let startedAt = 0;
  let lastJson = -1;
  if (!args.json) info(args.from ? `installing the CUDA provider from ${args.from}` : `fetching ${manifest.packageId} ${manifest.version} (the CUDA provider of onnxruntime-node ${manifest.version})`);
  try {
    const r = await installProviderLibraries({
      manifest,
      source,
      destDir,
      signal: controller.signal,
      onDownload: (p) => {
        if (args.json) emitJson({ event: 'download', url: p.url, bytes: p.size ?? null });
        else info(`downloading ${p.url}${p.size ? ` (${formatBytes(p.size)})` : ''}`);
        if (tty && p.size) {
          bar = new SingleBar({ format: PROGRESS_FORMAT, stream: process.stderr, hideCursor: true });
          startedAt = performance.now();
          bar.start(p.size, 0, progressPayload(0, p.size, 0));
        }
      },
      onProgress: (received, total) => {
        (bar as SingleBar | null)?.update(received, progressPayload(received, total, (performance.now() - startedAt) / 1000));
        if (args.json && total) {
          const pct = Math.floor((100 * received) / total);
          if (pct !== lastJson) {
            lastJson = pct;
            emitJson({ event: 'progress', received, total });
          }
        }
      },
    });
    (bar as SingleBar | null)?.stop();
    const how = r.verified === 'sha512' ? 'SHA-512 checked against the feed' : r.verified === 'size' ? 'length checked; the source publishes no checksum' : 'zip CRC-32s checked';
    if (args.json) emitJson({ event: 'installed', files: r.installed, from: r.from, bytes: r.bytes, verified: r.verified });
    else info(`installed ${r.installed.map((p) => basename(p)).join(', ')} into ${destDir} (${formatBytes(r.bytes)}, ${how})`);
    return EXIT.ok;
  } catch (e) {
    (bar as SingleBar | null)?.stop();
    if (e instanceof SetupStopped || stoppedBy) {
      if (args.json) emitJson({ event: 'error', message: `stopped by ${stoppedBy ?? 'signal'}; nothing was installed`, exit_code: EXIT.signal });
      info(`loralab: stopped by ${stoppedBy ?? 'signal'}; nothing was installed`);
      return EXIT.signal;
    }
    if (e instanceof CudaSetupError && e.input) throw new InputError(e.message);
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** cli-progress format of the download bar: its tokens `{got}`, `{size}` and `{time_left}` (not `{eta}`, a cli-progress token of its own) come from {@link progressPayload}. */
export const PROGRESS_FORMAT = 'downloading [{bar}] {percentage}% {got}/{size} MiB | ETA {time_left}';

/**
 * The download bar's payload: bytes as MiB (2^20 bytes) with one decimal, and the time left at
 * the average rate so far, `--` until a byte has arrived and a second has passed (cli-progress's
 * own `{eta_formatted}` shows "NULL"/"INF" there and counts in whole bar units).
 * @param elapsedS seconds since the download started.
 */
export function progressPayload(received: number, total: number, elapsedS: number): { got: string; size: string; time_left: string } {
  const mib = (x: number) => (x / 2 ** 20).toFixed(1);
  let eta = '--';
  if (received > 0 && elapsedS >= 1 && total >= received) {
    const s = Math.ceil(((total - received) * elapsedS) / received);
    eta = s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
  }
  return { got: mib(received), size: mib(total), time_left: eta };
}

const pad = (s: string, n: number) => (s.length >= n ? `${s} ` : s + ' '.repeat(n - s.length));

/** One line for a found library; three for a missing one (the folders searched, shortened when the same as the line before). */
function libLine(l: LibraryCheck, d: CudaDiagnosis, previousSearched: string | null): string[] {
  if (l.found) {
    const extra = l.kind === 'driver' && d.driver ? `driver ${d.driver.version}${d.driver.gpus.length ? `, ${d.driver.gpus.join(', ')}` : ''}: ` : '';
    // The full version when the SONAME links to a versioned file (libcudart.so.12 → libcudart.so.12.4.127).
    const version = l.version?.includes('.') && l.kind === 'cuda' ? `${l.version}: ` : '';
    return [`  ok       ${pad(l.name, 36)}${l.what}, ${extra}${version}${l.found}`];
  }
  return [
    `  MISSING  ${pad(l.name, 36)}${l.what}`,
    `           searched: ${l.searched.join(', ') === previousSearched ? 'the same folders as above' : l.searched.join(', ')}`,
    `           fix: ${fixLine(l)}`,
  ];
}

/** The diagnosis as a table on stdout: one line per library (three for a missing one) and a verdict. */
export function printDiagnosis(d: CudaDiagnosis): void {
  print(`onnxruntime-node ${d.ortVersion ?? '(not installed)'} on ${d.platform}: the CUDA provider needs CUDA ${d.cudaMajor} and cuDNN ${d.cudnnMajor}`);
  if (!d.driver) print('  nvidia-smi did not run (no NVIDIA driver, or not on PATH)');
  let previous: string | null = null;
  for (const l of d.libraries) {
    for (const line of libLine(l, d, previous)) print(line);
    if (!l.found) previous = l.searched.join(', ');
  }
  for (const p of d.problems) print(`  PROBLEM  ${p}`);
  const missing = d.libraries.filter((l) => !l.found);
  if (d.ok) {
    print('ready: --device cuda (and auto) can use the CUDA provider');
  } else {
    const what = missing.length ? `${missing.length} of ${d.libraries.length} libraries missing` : 'see the problem above';
    const pkg = ortPackage();
    const file = pkg ? offlineName(providerManifest(pkg)) : 'FILE.nupkg';
    const provider = missing.some((l) => l.kind === 'provider') ? `; loralab setup-gpu fetches the provider (offline: loralab setup-gpu --from ${file})` : '';
    print(`not ready: ${what}${provider}; --device cuda fails until then, and --device auto falls back to WebGPU or CPU`);
  }
}
