/**
 * What ONNX Runtime's CUDA execution provider needs on this machine, and where each piece is —
 * the diagnosis behind `loralab setup-gpu`. Loads no native code (not even onnxruntime-node), so
 * it works where the binding or the provider cannot load.
 *
 * The provider is two shared libraries beside onnxruntime-node's binding
 * (`bin/napi-v<N>/linux/x64/libonnxruntime_providers_{shared,cuda}.so`), which the package's
 * install script fetches from the NuGet package `Microsoft.ML.OnnxRuntime.Gpu.Linux` of the same
 * version (`onnxruntime-node/script/install-metadata.js`). `libonnxruntime_providers_cuda.so`
 * in turn needs the NVIDIA driver (`libcuda.so.1`) and the CUDA 12 / cuDNN 9 runtime libraries,
 * which the dynamic loader must find on its own search path (LD_LIBRARY_PATH, the ldconfig
 * cache, the system library folders).
 *
 * The library list follows ONNX Runtime's own `onnxruntime.preload_dlls` (onnxruntime
 * python/`__init__.py`, `_get_nvidia_dll_paths`, 1.2x, CUDA 12 builds): cublasLt, cublas,
 * nvrtc, curand, cufft, cudart and cudnn; the CUDA/cuDNN majors follow the "CUDA Execution
 * Provider" requirements table (ORT ≥ 1.19: CUDA 12.x and cuDNN 9.x). NVIDIA's minor-version
 * compatibility makes any CUDA 12.x runtime work with a driver ≥ 525.60.13 (CUDA 12 release notes,
 * Table 3).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';

/** A library the CUDA provider needs, with where it comes from. */
export interface RequiredLibrary {
  /** File name the loader looks for (the SONAME), e.g. `libcudart.so.12`. */
  name: string;
  /** What it is, for people: "CUDA runtime", "cuDNN 9"… */
  what: string;
  kind: 'driver' | 'cuda' | 'provider';
  /** One line: how to get it. */
  fix: string;
}

/** Where one library was looked for, and what was found. */
export interface LibraryCheck extends RequiredLibrary {
  /** Path the dynamic loader resolves it to (first hit on its search path); absent when missing. */
  found?: string;
  /** The version in the file name the path resolves to (`libcudart.so.12.4.127` → `12.4.127`). */
  version?: string;
  /** Copies in folders the loader does not search (CUDA toolkit, pip wheels): add one to LD_LIBRARY_PATH. */
  offPath: string[];
  /** Other majors of the same library on the search path (e.g. `libcudart.so.13` when `.so.12` is needed). */
  otherVersions: string[];
  /** Folders searched, in the loader's order, then the off-path folders (labelled). */
  searched: string[];
}

export interface CudaDiagnosis {
  /** `linux x64`, `darwin arm64`… */
  platform: string;
  /** Whether onnxruntime-node has a CUDA provider for this platform (Linux x64 only). */
  supported: boolean;
  /** The installed onnxruntime-node version, or null when it cannot be read. */
  ortVersion: string | null;
  cudaMajor: number;
  cudnnMajor: number;
  /** onnxruntime-node's binary folder, where the provider libraries go. */
  providerDir: string | null;
  /** `nvidia-smi`'s driver version and GPU names, when nvidia-smi runs. */
  driver: { version: string; gpus: string[] } | null;
  libraries: LibraryCheck[];
  /** Problems that are not a missing file (driver too old), one line each. */
  problems: string[];
  /** Everything present: `--device cuda` should start. */
  ok: boolean;
}

/** Overrides for tests and unusual machines; every field defaults to this machine. */
export interface DiagnoseOptions {
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  arch?: string;
  /** onnxruntime-node's binary folder (default: found from the installed package). */
  providerDir?: string | null;
  /** onnxruntime-node's version (default: its package.json). */
  ortVersion?: string | null;
  /** The loader's default folders (default: the Linux x86-64 multiarch and lib64 folders). */
  systemDirs?: string[];
  /** `ldconfig -p` output (default: run it; empty when it cannot run). */
  ldconfigCache?: string;
  /** Folders the loader does not search but that often hold CUDA (default: CUDA toolkits, python site-packages, conda). */
  offPathDirs?: string[];
  /** `nvidia-smi --query-gpu=driver_version,name --format=csv,noheader` output, or null (default: run it). */
  nvidiaSmi?: string | null;
}

/** The loader's trusted folders on x86-64 Linux (Debian/Ubuntu multiarch, then RHEL-style lib64). */
export const SYSTEM_LIB_DIRS = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib64', '/usr/lib64', '/lib', '/usr/lib'];

/** Minimum Linux driver for any CUDA 12.x runtime (NVIDIA CUDA 12 release notes, minor version compatibility). */
const MIN_DRIVER_CUDA12 = '525.60.13';

const pip = (pkg: string, apt: string) => `pip install ${pkg} (then add its nvidia/…/lib folder to LD_LIBRARY_PATH), or apt install ${apt} from NVIDIA's CUDA repository`;

/**
 * The libraries the CUDA provider of onnxruntime-node needs (CUDA 12 / cuDNN 9 builds), in the
 * order ONNX Runtime's `preload_dlls` loads them, with the pip wheel (as named in ORT's
 * `print_debug_info`) or apt package that provides each.
 */
export function requiredLibraries(cudaMajor = 12, cudnnMajor = 9): RequiredLibrary[] {
  const c = cudaMajor;
  const cufft = c >= 13 ? 12 : 11; // cuFFT's SONAME major: CUDA 12.x → 11, CUDA 13.x → 12 (ORT's _get_cufft_version)
  return [
    { name: 'libcuda.so.1', what: 'NVIDIA driver', kind: 'driver', fix: 'install the NVIDIA driver (e.g. apt install nvidia-driver-550, or nvidia.com/drivers); in a container, start it with the NVIDIA Container Toolkit (docker run --gpus all)' },
    { name: `libcudart.so.${c}`, what: `CUDA ${c} runtime`, kind: 'cuda', fix: pip(`nvidia-cuda-runtime-cu${c}`, `cuda-cudart-${c}-<minor>`) },
    { name: `libcublasLt.so.${c}`, what: `cuBLASLt (CUDA ${c})`, kind: 'cuda', fix: pip(`nvidia-cublas-cu${c}`, `libcublas-${c}-<minor>`) },
    { name: `libcublas.so.${c}`, what: `cuBLAS (CUDA ${c})`, kind: 'cuda', fix: pip(`nvidia-cublas-cu${c}`, `libcublas-${c}-<minor>`) },
    { name: `libnvrtc.so.${c}`, what: `NVRTC (CUDA ${c})`, kind: 'cuda', fix: pip(`nvidia-cuda-nvrtc-cu${c}`, `cuda-nvrtc-${c}-<minor>`) },
    { name: 'libcurand.so.10', what: `cuRAND (CUDA ${c})`, kind: 'cuda', fix: pip(`nvidia-curand-cu${c}`, `libcurand-${c}-<minor>`) },
    { name: `libcufft.so.${cufft}`, what: `cuFFT (CUDA ${c})`, kind: 'cuda', fix: pip(`nvidia-cufft-cu${c}`, `libcufft-${c}-<minor>`) },
    { name: `libcudnn.so.${cudnnMajor}`, what: `cuDNN ${cudnnMajor}`, kind: 'cuda', fix: pip(`nvidia-cudnn-cu${c}`, `cudnn${cudnnMajor}-cuda-${c}`) },
    { name: 'libonnxruntime_providers_shared.so', what: 'ONNX Runtime provider bridge', kind: 'provider', fix: 'loralab setup-gpu downloads it (without internet access: loralab setup-gpu --from FILE.nupkg)' },
    { name: 'libonnxruntime_providers_cuda.so', what: 'ONNX Runtime CUDA provider', kind: 'provider', fix: 'loralab setup-gpu downloads it (without internet access: loralab setup-gpu --from FILE.nupkg)' },
  ];
}

/** The installed onnxruntime-node: its version and binary folder for this platform. */
export interface OrtPackage {
  version: string;
  /** `…/onnxruntime-node/bin/napi-v<N>/<platform>/<arch>` */
  binDir: string;
  /** The package folder (holds script/install-metadata.js). */
  root: string;
}

/**
 * Finds the installed onnxruntime-node without loading it.
 * @returns null when the package cannot be resolved (not installed).
 */
export function ortPackage(platform: string = process.platform, arch: string = process.arch): OrtPackage | null {
  try {
    const req = createRequire(import.meta.url);
    const root = dirname(req.resolve('onnxruntime-node/package.json'));
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; binary?: { napi_versions?: number[] } };
    const napi = pkg.binary?.napi_versions?.[0] ?? 6;
    return { version: pkg.version, root, binDir: join(root, 'bin', `napi-v${napi}`, platform, arch) };
  } catch {
    return null;
  }
}

/** The folders on LD_LIBRARY_PATH, in order (empty entries dropped). */
function ldLibraryPath(env: NodeJS.ProcessEnv): string[] {
  return (env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
}

/**
 * `ldconfig -p` output → SONAME → paths (x86-64 entries only), e.g. the line
 * `\tlibcudart.so.12 (libc6,x86-64) => /usr/local/cuda/lib64/libcudart.so.12`.
 */
export function parseLdconfigCache(text: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S.*?)\s*$/.exec(line);
    if (!m || !m[2].includes('x86-64')) continue;
    const list = map.get(m[1]) ?? [];
    list.push(m[3]);
    map.set(m[1], list);
  }
  return map;
}

function runQuiet(cmd: string, args: string[]): string | null {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return null;
  }
}

function ldconfigOutput(): string {
  for (const cmd of ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    const out = runQuiet(cmd, ['-p']);
    if (out !== null) return out;
  }
  return '';
}

/**
 * Folders outside the loader's path where CUDA libraries are often installed: CUDA toolkits
 * (`$CUDA_HOME`, `/usr/local/cuda*`), pip's `nvidia-*-cu12` wheels in the site-packages of
 * `python3` (and of an active virtualenv or conda environment), and a conda environment's lib/.
 */
export function defaultOffPathDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs: string[] = [];
  const toolkits = [env.CUDA_HOME, env.CUDA_PATH].filter((d): d is string => Boolean(d));
  try {
    toolkits.push(...readdirSync('/usr/local').filter((d) => /^cuda(-[\d.]+)?$/.test(d)).map((d) => join('/usr/local', d)));
  } catch {
    // no /usr/local
  }
  for (const t of new Set(toolkits)) dirs.push(join(t, 'lib64'), join(t, 'targets', 'x86_64-linux', 'lib'));
  const sites = new Set<string>();
  const py = runQuiet('python3', ['-c', 'import site,sys; print("\\n".join(site.getsitepackages() + [site.getusersitepackages()]))']);
  for (const s of (py ?? '').split('\n').map((x) => x.trim()).filter(Boolean)) sites.add(s);
  for (const prefix of [env.VIRTUAL_ENV, env.CONDA_PREFIX].filter((d): d is string => Boolean(d))) {
    try {
      for (const v of readdirSync(join(prefix, 'lib')).filter((d) => d.startsWith('python'))) sites.add(join(prefix, 'lib', v, 'site-packages'));
    } catch {
      // not a usable prefix
    }
  }
  for (const s of sites) {
    try {
      for (const sub of readdirSync(join(s, 'nvidia'))) dirs.push(join(s, 'nvidia', sub, 'lib'));
    } catch {
      // no nvidia wheels here
    }
  }
  if (env.CONDA_PREFIX) dirs.push(join(env.CONDA_PREFIX, 'lib'));
  return dirs.filter((d) => isDir(d));
}

function isDir(d: string): boolean {
  try {
    return statSync(d).isDirectory();
  } catch {
    return false;
  }
}

/** `libcudart.so.12` → the version its file resolves to (`12.4.127`), or the SONAME's (`12`). */
function fileVersion(path: string, soname: string): string | undefined {
  let real = path;
  try {
    real = realpathSync(path);
  } catch {
    // keep the path
  }
  return (/\.so\.([\d.]+)$/.exec(basename(real)) ?? /\.so\.([\d.]+)$/.exec(soname))?.[1];
}

/** Compares dotted versions numerically: <0, 0, >0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Looks for everything the CUDA provider needs, the way the dynamic loader would: for the
 * driver and CUDA libraries LD_LIBRARY_PATH, then the ldconfig cache, then the system folders;
 * for the provider libraries, onnxruntime-node's binary folder (ONNX Runtime loads them from
 * beside its own library). A library missing from those but present elsewhere (a CUDA toolkit,
 * a pip wheel) is reported with that folder, since LD_LIBRARY_PATH then fixes it.
 *
 * Never throws; runs `ldconfig -p`, `nvidia-smi` and `python3` (10 s limit each) unless given.
 */
export function diagnoseCuda(opts: DiagnoseOptions = {}): CudaDiagnosis {
  const env = opts.env ?? process.env;
  const platform = opts.platform ?? process.platform;
  const arch = opts.arch ?? process.arch;
  const pkg = opts.providerDir === undefined || opts.ortVersion === undefined ? ortPackage(platform, arch) : null;
  const providerDir = opts.providerDir !== undefined ? opts.providerDir : pkg?.binDir ?? null;
  const ortVersion = opts.ortVersion !== undefined ? opts.ortVersion : pkg?.version ?? null;
  const supported = platform === 'linux' && arch === 'x64';
  const cudaMajor = 12;
  const cudnnMajor = 9;
  const base = { platform: `${platform} ${arch}`, supported, ortVersion, cudaMajor, cudnnMajor, providerDir };
  if (!supported) return { ...base, driver: null, libraries: [], problems: [], ok: false };

  const ldPath = ldLibraryPath(env);
  const cache = parseLdconfigCache(opts.ldconfigCache ?? ldconfigOutput());
  const systemDirs = opts.systemDirs ?? SYSTEM_LIB_DIRS;
  const offPathDirs = (opts.offPathDirs ?? defaultOffPathDirs(env)).filter((d) => !ldPath.includes(d));
  const loaderSearched = [
    ...(ldPath.length ? ldPath.map((d) => `${d} (LD_LIBRARY_PATH)`) : ['LD_LIBRARY_PATH (unset)']),
    'the ldconfig cache (ldconfig -p)',
    ...systemDirs,
  ];

  const libraries = requiredLibraries(cudaMajor, cudnnMajor).map((lib): LibraryCheck => {
    if (lib.kind === 'provider') {
      const searched = providerDir ? [`${providerDir} (onnxruntime-node's binary folder)`] : ['onnxruntime-node (not installed: run npm install)'];
      const path = providerDir ? join(providerDir, lib.name) : null;
      return { ...lib, found: path && existsSync(path) ? path : undefined, offPath: [], otherVersions: [], searched };
    }
    const found = ldPath.map((d) => join(d, lib.name)).find((p) => existsSync(p))
      ?? cache.get(lib.name)?.find((p) => existsSync(p))
      ?? systemDirs.map((d) => join(d, lib.name)).find((p) => existsSync(p));
    const offPath = found ? [] : offPathDirs.filter((d) => existsSync(join(d, lib.name)));
    const stem = lib.name.replace(/\.so\.\d+$/, '.so.');
    const others = new Set<string>();
    if (!found) {
      for (const d of [...ldPath, ...systemDirs, ...offPathDirs]) {
        try {
          for (const f of readdirSync(d)) if (f.startsWith(stem) && /^\d+$/.test(f.slice(stem.length)) && f !== lib.name) others.add(join(d, f));
        } catch {
          // unreadable folder
        }
      }
      for (const [soname, paths] of cache) if (soname.startsWith(stem) && /^\d+$/.test(soname.slice(stem.length)) && soname !== lib.name) paths.forEach((p) => others.add(p));
    }
    return {
      ...lib,
      found,
      version: found ? fileVersion(found, lib.name) : undefined,
      offPath,
      otherVersions: [...others],
      searched: [...loaderSearched, ...offPathDirs.map((d) => `${d} (not on the loader's path)`)],
    };
  });

  const smi = opts.nvidiaSmi !== undefined ? opts.nvidiaSmi : runQuiet('nvidia-smi', ['--query-gpu=driver_version,name', '--format=csv,noheader']);
  let driver: CudaDiagnosis['driver'] = null;
  const problems: string[] = [];
  if (smi) {
    const rows = smi.split('\n').map((r) => r.split(',').map((x) => x.trim())).filter((r) => r[0]);
    if (rows.length) driver = { version: rows[0][0], gpus: rows.map((r) => r[1] ?? '').filter(Boolean) };
  }
  if (driver && /^\d+(\.\d+)*$/.test(driver.version) && compareVersions(driver.version, MIN_DRIVER_CUDA12) < 0) {
    problems.push(`the NVIDIA driver ${driver.version} is older than ${MIN_DRIVER_CUDA12}, the oldest that runs CUDA ${cudaMajor}; update the driver`);
  }
  const ok = libraries.every((l) => l.found) && problems.length === 0;
  return { ...base, driver, libraries, problems, ok };
}

/** What to do about one missing library, in one line (the off-path folder first, when there is one). */
export function fixLine(lib: LibraryCheck): string {
  if (lib.offPath.length) return `found in ${lib.offPath[0]}, which the loader does not search: export LD_LIBRARY_PATH=${lib.offPath[0]}:$LD_LIBRARY_PATH (before starting loralab)`;
  const other = lib.otherVersions.length ? ` — only ${basename(lib.otherVersions[0])} is installed (in ${dirname(lib.otherVersions[0])}), another major version, which this provider cannot use` : '';
  return `${lib.fix}${other}`;
}
