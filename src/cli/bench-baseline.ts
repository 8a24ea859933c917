/**
 * `loralab bench --baseline`: our training step (and forward) side by side with the PyTorch
 * baseline `../shared/bench/torch_lora_bench.py` (PyTorch eager, float32, LoRA on every linear
 * layer, AdamW with global-norm clipping; see its README), on the same shapes, alternating the
 * two in each round (ABBA: even rounds ours first, odd rounds PyTorch first, so a drifting load
 * weighs on both), then the medians and ratios:
 *   speed ratio   PyTorch step ms / ours (above 1: ours is faster, below 1: slower)
 *   memory ratio  our peak RSS / PyTorch's (below 1: ours needs less)
 *
 * Every measurement runs in a fresh process: ours in a forked CLI (`bench --baseline-worker`,
 * bench's own "train step" / "forward" measurement, `measureStep`), PyTorch in `python3 SCRIPT`.
 * Peak RSS is the process's `getrusage(RUSAGE_SELF).ru_maxrss` at its end (Node's
 * `process.resourceUsage().maxRSS`, the script's `resource.getrusage`): the whole process —
 * runtime, model build and the steps — measured the same way on both sides.
 *
 * PyTorch is spawned as the script's README prescribes: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
 * unset, OPENBLAS_NUM_THREADS and --threads the thread count (the script sets
 * OMP_WAIT_POLICY=PASSIVE itself).
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_CONFIG, benchConfig, measureStep } from './bench';
import { median, upperMedian } from './stats';
import { EXIT, InputError, emitJson, info, plural, print } from './output';

export type BaselineMode = 'train' | 'forward';

export interface BaselineArgs {
  threads?: number;
  batch?: number;
  seq?: number;
  rank?: number;
  layers?: number;
  /** Timed steps per measurement (both sides; the warm-up steps come before). */
  iters?: number;
  /** Measurements of each side per mode (default 3). */
  rounds?: number;
  /** The PyTorch script (default `baselineScriptPath()`). */
  script?: string;
  /** The Python interpreter that has torch (default /usr/bin/python3, where apt's python3-torch is). */
  python?: string;
  json?: boolean;
}

/** What installs the baseline's dependencies (Debian/Ubuntu: PyTorch 1.13 and a threaded OpenBLAS), as its README says. */
export const TORCH_INSTALL = 'apt-get install -y python3-torch libopenblas0-pthread';

/** The default interpreter: apt's python3-torch installs into the system Python. */
export const DEFAULT_PYTHON = '/usr/bin/python3';

/** One measurement of one side: the median step time of its timed steps (ms) and the process's peak RSS (MiB). */
export interface Measured { ms: number; peakRssMib: number }

/** One mode's figures over all rounds (per round in order, then medians and ratios). */
export interface ModeSummary {
  ours_ms: number[];
  pytorch_ms: number[];
  ours_peak_rss_mib: number[];
  pytorch_peak_rss_mib: number[];
  ours_ms_median: number;
  pytorch_ms_median: number;
  /** pytorch_ms_median / ours_ms_median. */
  speedup: number;
  ours_peak_rss_mib_median: number;
  pytorch_peak_rss_mib_median: number;
  /** ours_peak_rss_mib_median / pytorch_peak_rss_mib_median. */
  memory_ratio: number;
}

/**
 * Medians over the rounds of both sides and their ratios: speed-up = PyTorch's median step ms /
 * ours, memory ratio = our median peak RSS / PyTorch's. `ours` and `theirs` hold one
 * measurement per round, in round order. Values are unrounded.
 */
export function summarize(ours: Measured[], theirs: Measured[]): ModeSummary {
  const oursMs = median(ours.map((m) => m.ms));
  const theirMs = median(theirs.map((m) => m.ms));
  const oursRss = median(ours.map((m) => m.peakRssMib));
  const theirRss = median(theirs.map((m) => m.peakRssMib));
  return {
    ours_ms: ours.map((m) => m.ms),
    pytorch_ms: theirs.map((m) => m.ms),
    ours_peak_rss_mib: ours.map((m) => m.peakRssMib),
    pytorch_peak_rss_mib: theirs.map((m) => m.peakRssMib),
    ours_ms_median: oursMs,
    pytorch_ms_median: theirMs,
    speedup: theirMs / oursMs,
    ours_peak_rss_mib_median: oursRss,
    pytorch_peak_rss_mib_median: theirRss,
    memory_ratio: oursRss / theirRss,
  };
}

/** The environment the baseline's README prescribes: `env` without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, OPENBLAS_NUM_THREADS = `threads`. */
export function torchEnv(env: NodeJS.ProcessEnv, threads: number): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env, OPENBLAS_NUM_THREADS: String(threads) };
  delete out.OPENBLAS_CORETYPE;
  delete out.OPENBLAS_L2_SIZE;
  return out;
}

/** `../shared/bench/torch_lora_bench.py` beside the LoRA Lab checkout holding this module (the nearest folder above with a package.json). */
export function baselineScriptPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return resolve(dir, '..', 'shared', 'bench', 'torch_lora_bench.py');
}

/** Output of a finished child process. */
export interface Exited { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; spawnError?: NodeJS.ErrnoException }

const lastLine = (s: string) => s.trim().split('\n').filter(Boolean).pop() ?? '';

/** The process being measured, so that a signal stops it too. */
let current: ChildProcess | null = null;

function runPython(python: string, args: string[], threads: number): Promise<Exited> {
  return new Promise((done) => {
    const child = spawn(python, args, { env: torchEnv(process.env, threads), stdio: ['ignore', 'pipe', 'pipe'] });
    current = child;
    let stdout = '';
    let stderr = '';
    let spawnError: NodeJS.ErrnoException | undefined;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
    child.on('error', (e: NodeJS.ErrnoException) => (spawnError = e));
    child.on('close', (code, signal) => {
      current = null;
      done({ code, signal, stdout, stderr, spawnError });
    });
  });
}

/**
 * The one-line error for a Python run that failed, or null when it succeeded. A missing
 * interpreter is an InputError: for the default python3 it says what to install (`TORCH_INSTALL`),
 * for a `--python` the user `given` it says to check that path. A missing torch/OpenBLAS is an
 * InputError that says what to install; anything else an Error with the last line the process
 * wrote to stderr.
 */
export function pythonFailure(python: string, what: string, r: Exited, given = false): Error | null {
  const install = `install it: ${TORCH_INSTALL} (Debian/Ubuntu), or pass --python PATH to a Python that has torch`;
  if (r.spawnError) {
    const code = r.spawnError.code;
    if (code !== 'ENOENT' && code !== 'EACCES') return new Error(`bench --baseline: ${python}: ${r.spawnError.message}`);
    if (given) return new InputError(`bench --baseline: --python ${python} ${code === 'ENOENT' ? 'does not exist' : 'cannot be run (not an executable file)'}; check the path: it should be a Python that has torch, e.g. ${DEFAULT_PYTHON}`);
    return new InputError(`bench --baseline: ${python} not found (PyTorch baseline); ${install}`);
  }
  if (r.code === 0) return null;
  const missing = /No module named '?torch|libopenblas|cannot open shared object file/.exec(r.stderr);
  if (missing) return new InputError(`bench --baseline: PyTorch cannot be imported by ${python} (${lastLine(r.stderr)}); ${install}`);
  return new Error(`bench --baseline: ${what} ${r.signal ? `was stopped by ${r.signal}` : `exited ${r.code}`}: ${lastLine(r.stderr) || 'no message'}`);
}

/** The preflight: what `python` must print, torch.__version__. */
const VERSION_CHECK = 'import torch; print(torch.__version__)';

/**
 * torch.__version__ as the last stdout line of `python -c "import torch; print(torch.__version__)"`:
 * it must look like a version (digits.digits…, e.g. "1.13.1", "2.3.0+cpu"), so a program that is
 * not a Python with torch (`/bin/true`) fails here, before any measurement.
 * @throws InputError (exit 2) naming `python` when it is missing (`given`: check the path; the
 * default: what to install), lacks torch, fails, or prints no version.
 */
export function checkTorchVersion(python: string, r: Exited, given: boolean): string {
  const failure = pythonFailure(python, `${python} -c "${VERSION_CHECK}"`, r, given);
  if (failure instanceof InputError) throw failure;
  const use = 'pass --python PATH to a Python that has torch';
  if (failure) throw new InputError(`${failure.message}; ${use}`);
  const version = lastLine(r.stdout);
  if (!/^\d+\.\d+\S*$/.test(version)) {
    throw new InputError(`bench --baseline: ${python} -c "${VERSION_CHECK}" printed ${version ? `"${version.slice(0, 80)}"` : 'nothing'}, not a torch version; is it a Python with torch? ${use}`);
  }
  return version;
}

/** Fields of the script's JSON line that we use. */
interface TorchResult { step_s_median: number; peak_rss_mb: number; torch?: string }

/** The script's result: its last stdout line, a JSON object with numeric step_s_median and peak_rss_mb. @throws Error naming the script otherwise. */
export function parseTorchOutput(stdout: string, script: string): TorchResult {
  const line = lastLine(stdout);
  let j: Partial<TorchResult> | undefined;
  try {
    j = JSON.parse(line) as Partial<TorchResult>;
  } catch {
    j = undefined;
  }
  if (!j || typeof j.step_s_median !== 'number' || typeof j.peak_rss_mb !== 'number') {
    throw new Error(`bench --baseline: ${script} printed no JSON line with "step_s_median" and "peak_rss_mb" (last line: ${line.slice(0, 200) || 'none'}); is it torch_lora_bench.py?`);
  }
  return j as TorchResult;
}

type Shape = Required<Pick<BaselineArgs, 'threads' | 'batch' | 'seq' | 'rank' | 'layers' | 'iters'>>;

async function measureTorch(mode: BaselineMode, s: Shape, script: string, python: string): Promise<Measured> {
  const cfg = benchConfig(s.layers);
  const args = [script, '--mode', mode, '--threads', s.threads, '--batch', s.batch, '--seq', s.seq, '--r', s.rank, '--alpha', 32,
    '--layers', cfg.num_hidden_layers, '--hidden', cfg.hidden_size, '--heads', cfg.num_attention_heads, '--kv_heads', cfg.num_key_value_heads,
    '--intermediate', cfg.intermediate_size, '--vocab', cfg.vocab_size, '--steps', s.iters].map(String);
  const r = await runPython(python, args, s.threads);
  const failure = pythonFailure(python, script, r);
  if (failure) throw failure;
  const j = parseTorchOutput(r.stdout, script);
  return { ms: j.step_s_median * 1000, peakRssMib: j.peak_rss_mb };
}

/** The CLI entry that runs this module: src/cli/main.ts under tsx, or dist/cli.js (this module is bundled into it). */
function cliEntry(): { path: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) return { path: join(dirname(here), 'main.ts'), execArgv: ['--import', 'tsx'] };
  return { path: here, execArgv: [] };
}

/** What `bench --baseline-worker` sends its parent over IPC. */
export interface WorkerResult { type: 'measured'; ms: number[]; buildMs: number; provider: string; maxRssKiB: number }

const isWorkerResult = (m: unknown): m is WorkerResult => typeof m === 'object' && m !== null && (m as WorkerResult).type === 'measured' && Array.isArray((m as WorkerResult).ms);

/** Our measurement in a forked CLI process (`bench --baseline-worker MODE`). */
async function measureOurs(mode: BaselineMode, s: Shape): Promise<Measured> {
  const entry = cliEntry();
  const args = ['bench', '--baseline-worker', mode, '--threads', s.threads, '--batch', s.batch, '--seq', s.seq, '--rank', s.rank, '--layers', s.layers, '--iters', s.iters].map(String);
  const child = fork(entry.path, args, { execArgv: entry.execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  current = child;
  let stderr = '';
  let result: WorkerResult | undefined;
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
  child.on('message', (m) => {
    if (isWorkerResult(m)) result = m;
  });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((done) => child.on('close', (c, sig) => done([c, sig])));
  current = null;
  if (!result || code !== 0) {
    const why = lastLine(stderr).replace(/^loralab: error: /, '') || 'no message';
    throw new Error(`bench --baseline: our ${mode} measurement ${signal ? `was stopped by ${signal}` : `exited ${code}`}: ${why}`);
  }
  return { ms: upperMedian(result.ms), peakRssMib: result.maxRssKiB / 1024 };
}

/**
 * The child side (`bench --baseline-worker MODE`): bench's measurement of `mode` (`measureStep`),
 * sent to the parent over IPC with this process's ru_maxrss (KiB), then exit.
 * @throws InputError when not started by `bench --baseline` (no IPC channel).
 */
export async function runBaselineWorker(mode: string, a: Required<Pick<BaselineArgs, 'batch' | 'seq' | 'rank' | 'iters'>> & BaselineArgs): Promise<void> {
  if (!process.send) throw new InputError('--baseline-worker is internal to bench --baseline; run: loralab bench --baseline');
  if (mode !== 'train' && mode !== 'forward') throw new InputError(`--baseline-worker: mode "${mode}" is not train or forward`);
  // The parent gone (stopped): stop too.
  process.on('disconnect', () => process.exit(EXIT.signal));
  const m = await measureStep(mode, { ...a, device: 'cpu' });
  const msg: WorkerResult = { type: 'measured', ...m, maxRssKiB: process.resourceUsage().maxRSS };
  await new Promise<void>((done, fail) => process.send!(msg, undefined, undefined, (e) => (e ? fail(e) : done())));
  process.removeAllListeners('disconnect');
  process.disconnect();
}

const r1 = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
/** Printed figures, one format each: step times with one decimal, peak RSS in whole MiB (the JSON keeps one decimal of both). */
const fmtMs = (ms: number) => `${ms.toFixed(1)} ms`;
const fmtMib = (mib: number) => `${Math.round(mib)} MiB`;

/**
 * The speed ratio in words, rounded to 2 decimals: "ours 1.17× PyTorch's speed (faster; PyTorch
 * ms / ours)", "… 0.53× … (slower; …)", "… 1.00× … (same; …)". `speedup` = PyTorch ms / ours.
 */
export function speedWords(speedup: number): string {
  const x = speedup.toFixed(2);
  const how = Number(x) > 1 ? 'faster' : Number(x) < 1 ? 'slower' : 'same';
  return `ours ${x}× PyTorch's speed (${how}; PyTorch ms / ours)`;
}

/** The memory ratio in words, rounded to 2 decimals: "ours 0.59× PyTorch's peak RSS (less; ours / PyTorch)", "(more; …)", "(same; …)". */
export function memoryWords(ratio: number): string {
  const x = ratio.toFixed(2);
  const how = Number(x) < 1 ? 'less' : Number(x) > 1 ? 'more' : 'same';
  return `ours ${x}× PyTorch's peak RSS (${how}; ours / PyTorch)`;
}
const loads = () => loadavg().map((x) => r1(x, 2));

/**
 * Runs `rounds` rounds of {train, forward} × {ours, PyTorch} (ABBA order), printing each
 * measurement as it ends and then the medians and ratios (stdout; notes on stderr; with `json`,
 * one JSON object on stdout instead). Resolves with that object.
 * @throws InputError (exit 2) when the script is missing or not a file, or the Python is missing,
 * lacks torch or prints no torch version (`checkTorchVersion`: the message names what to install
 * or to check); Error (exit 1) when a measurement fails.
 */
export async function runBaselineBench(args: BaselineArgs): Promise<Record<string, unknown>> {
  const s: Shape = {
    threads: args.threads ?? availableParallelism(), batch: args.batch ?? 4, seq: args.seq ?? 256, rank: args.rank ?? 16,
    layers: args.layers ?? BENCH_CONFIG.num_hidden_layers, iters: args.iters ?? 3,
  };
  const rounds = args.rounds ?? 3;
  const script = resolve(args.script ?? baselineScriptPath());
  const python = args.python ?? DEFAULT_PYTHON;
  if (!existsSync(script)) throw new InputError(`bench --baseline: the PyTorch baseline script ${script} is missing; pass --baseline-script PATH to torch_lora_bench.py`);
  if (!statSync(script).isFile()) throw new InputError(`bench --baseline: the PyTorch baseline script ${script} is not a file (a folder?); pass --baseline-script PATH to torch_lora_bench.py`);
  const loadBefore = loads();
  const torch = checkTorchVersion(python, await runPython(python, ['-c', VERSION_CHECK], s.threads), args.python !== undefined);
  const show = args.json ? info : print;
  info(`bench --baseline: Llama hidden 512, ${plural(s.layers, 'layer')}${s.layers !== BENCH_CONFIG.num_hidden_layers ? ' (reduced: figures not comparable with the default 8)' : ''}, batch ${s.batch} × seq ${s.seq}, LoRA r ${s.rank} all-linear, ${plural(s.iters, 'timed step')} per measurement; ${plural(rounds, 'round')}, ours and PyTorch alternating (ABBA)`);
  info(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, ${s.threads} threads each side; PyTorch ${torch} eager (${python} ${script}, OPENBLAS_NUM_THREADS=${s.threads})`);
  const stopping = (sig: NodeJS.Signals) => {
    info(`loralab: stopped by ${sig}`);
    current?.kill(sig);
    process.exit(EXIT.signal);
  };
  process.on('SIGINT', stopping);
  process.on('SIGTERM', stopping);
  // This process ending any other way (e.g. stdout closed by `| head`): no orphaned measurement.
  const orphan = () => current?.kill('SIGTERM');
  process.on('exit', orphan);
  const modes: BaselineMode[] = ['train', 'forward'];
  const ours = { train: [] as Measured[], forward: [] as Measured[] };
  const theirs = { train: [] as Measured[], forward: [] as Measured[] };
  try {
    for (let round = 0; round < rounds; round++) {
      for (const mode of modes) {
        const oursFirst = round % 2 === 0;
        for (const side of oursFirst ? ['ours', 'pytorch'] : ['pytorch', 'ours']) {
          if (side === 'ours') ours[mode].push(await measureOurs(mode, s));
          else theirs[mode].push(await measureTorch(mode, s, script, python));
        }
        const o = ours[mode][round];
        const t = theirs[mode][round];
        show(`round ${round + 1}/${rounds} ${mode.padEnd(7)}  ours ${fmtMs(o.ms)} ${fmtMib(o.peakRssMib)}   PyTorch ${fmtMs(t.ms)} ${fmtMib(t.peakRssMib)}   (${oursFirst ? 'ours' : 'PyTorch'} first)`);
      }
    }
  } finally {
    process.off('SIGINT', stopping);
    process.off('SIGTERM', stopping);
    process.off('exit', orphan);
  }
  const loadAfter = loads();
  const summary = Object.fromEntries(modes.map((m) => [m, summarize(ours[m], theirs[m])])) as Record<BaselineMode, ModeSummary>;
  const rounded = (x: ModeSummary): ModeSummary => ({
    ours_ms: x.ours_ms.map((v) => r1(v)), pytorch_ms: x.pytorch_ms.map((v) => r1(v)),
    ours_peak_rss_mib: x.ours_peak_rss_mib.map((v) => r1(v)), pytorch_peak_rss_mib: x.pytorch_peak_rss_mib.map((v) => r1(v)),
    ours_ms_median: r1(x.ours_ms_median), pytorch_ms_median: r1(x.pytorch_ms_median), speedup: r1(x.speedup, 2),
    ours_peak_rss_mib_median: r1(x.ours_peak_rss_mib_median), pytorch_peak_rss_mib_median: r1(x.pytorch_peak_rss_mib_median), memory_ratio: r1(x.memory_ratio, 2),
  });
  const result = {
    baseline: 'pytorch-eager', torch, script, python, threads: s.threads, batch: s.batch, seq: s.seq, lora_r: s.rank, layers: s.layers, iters: s.iters, rounds,
    peak_rss: 'ru_maxrss of a fresh process per measurement (whole process: runtime, model build, steps), both sides',
    load_average_before: loadBefore, load_average_after: loadAfter,
    train: rounded(summary.train), forward: rounded(summary.forward),
  };
  for (const mode of modes) {
    const x = result[mode];
    const name = mode === 'train' ? 'train step' : 'forward';
    show(`${name.padEnd(10)}  median of ${rounds}: ours ${fmtMs(x.ours_ms_median)}, PyTorch ${fmtMs(x.pytorch_ms_median)} → ${speedWords(x.speedup)}; peak RSS ours ${fmtMib(x.ours_peak_rss_mib_median)}, PyTorch ${fmtMib(x.pytorch_peak_rss_mib_median)} → ${memoryWords(x.memory_ratio)}`);
  }
  show('peak RSS: ru_maxrss (getrusage) of a fresh process per measurement, the whole process (runtime, model build, steps), on both sides');
  show(`load average (1, 5, 15 min): before ${loadBefore.join(' ')}, after ${loadAfter.join(' ')}`);
  if (args.json) emitJson(result);
  return result;
}
