/**
 * `loralab bench --trainer`: the training step as the trainer runs it. For each shape a real
 * trainer process (`dist/trainer.js`, or `src/trainer/main.ts` under tsx) is forked over IPC, as
 * the extension does, and trains a random-weight model of the bench config (bench.ts
 * `BENCH_CONFIG`, written as a Hugging Face folder with the tokenizer of
 * examples/models/stories260K) on random text: validation at step 0 and at the last step, one
 * checkpoint, the final adapter. Its memory is read from `/proc/<pid>/status` (Linux) while it
 * runs: VmHWM (peak resident set) and VmRSS.
 *
 * Figures per shape (batch × sequence, all positions counted):
 *   step ms    median step time of the steps after the warm-up (from the trainer's own
 *              `tokens_per_s`, which leaves validation and checkpoints out)
 *   tokens/s   B·T / step time
 *   GFLOP/s    `trainStepFlops` / step time (model FLOPs: recomputation for gradient
 *              checkpointing is not counted, as in the MFU convention of PaLM, Chowdhery et al. 2022, App. B)
 *   peak RSS   VmHWM of the trainer at its end (training + validation + checkpoint)
 *   breakdown  runtime (RSS when the trainer says `ready`: Node and the trainer's code; ONNX
 *              Runtime is loaded on first use, so neither it nor the model is in yet),
 *              load peak (VmHWM at the `run` event: reading the checkpoint, building and
 *              compiling the graph), resident after the build (VmRSS at `run`: runtime + weights
 *              as ONNX Runtime holds them + what the build left), steps (VmHWM of the steps,
 *              reset at `run` through /proc/<pid>/clear_refs, − RSS at `run`:
 *              activations in ONNX Runtime's arena, gradients, optimizer state), and the float32
 *              size of the frozen weights for reference (computed from the shapes, not measured).
 * The printed table, its legend and the header's step count: `TRAINER_TABLE_HEADER`,
 * `TRAINER_LEGEND`, `trainerTableRow`, `stepsNote`.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRng } from '../engine/data/random';
import { llamaFamily } from '../engine/models/llama';
import { randomWeights } from '../engine/models/random';
import type { DecoderConfig } from '../engine/models/types';
import type { Device } from '../engine/runtime/session';
import { writeSafetensorsStreaming } from '../engine/weights/safetensors';
import type { TrainerEvent } from '../protocol/trainer';
import { BENCH_CONFIG, benchConfig } from './bench';
import { EXIT, InputError, emitJson, info, plural, print } from './output';
import { upperMedian } from './stats';

export interface TrainerBenchArgs {
  device?: Device;
  threads?: number;
  rank?: number;
  /** Decoder layers (default 8; fewer only to check that the bench runs). */
  layers?: number;
  /** Two shapes (4 × 256, and 4 × 1024 with gradient checkpointing), 3 steps each. */
  quick?: boolean;
  /** Optimizer steps per shape (default 5, quick 3); the first two are warm-up. */
  steps?: number;
  /** Shapes to measure instead of `trainerShapes(quick)`. */
  shapes?: TrainerShape[];
  json?: boolean;
}

/** One measured shape. */
export interface TrainerShape { batch: number; seq: number; gradientCheckpointing: boolean }

export interface TrainerFigures extends TrainerShape {
  step_ms: number;
  tokens_per_s: number;
  gflop_per_step: number;
  gflop_per_s: number;
  peak_rss_mib: number;
  runtime_rss_mib: number;
  load_peak_mib: number;
  built_rss_mib: number;
  steps_mib: number;
  weights_f32_mib: number;
}

/**
 * Model FLOPs of one LoRA training step (forward + backward to the LoRA tensors) of a Llama-shaped
 * `cfg` on B × T tokens: matrix products only (2 FLOPs per multiply-add; norms, softmax, RoPE
 * and the optimizer are not counted).
 * - forward: every linear layer and lm_head 2·N·in·out (N = B·T); attention scores and
 *   weighted sum 2 × 2·B·T²·H·Dh per layer (full T × T, as computed); LoRA 2·N·r·(in + out)
 *   per module.
 * - backward: frozen weights get no gradient, only their input does (1× the forward); attention
 *   2× (dQ, dK, dP, dV); LoRA 2× (the input's gradient and dA, dB).
 * Bench config, 4 × 256, r 16: 184.0 GFLOP (the 185 GFLOP quoted in issue 15).
 */
export function trainStepFlops(cfg: DecoderConfig, B: number, T: number, r: number): number {
  const N = B * T;
  const { hidden_size: D, intermediate_size: I, num_attention_heads: H, num_key_value_heads: Hkv, head_dim: Dh, vocab_size: V } = cfg;
  const linears: [number, number][] = [[D, H * Dh], [D, Hkv * Dh], [D, Hkv * Dh], [H * Dh, D], [D, I], [D, I], [I, D]];
  const L = cfg.num_hidden_layers;
  const frozen = L * linears.reduce((s, [i, o]) => s + i * o, 0) + D * V;
  const lora = L * linears.reduce((s, [i, o]) => s + r * (i + o), 0);
  const attention = L * 2 * 2 * B * T * T * H * Dh;
  return 2 * N * frozen * 2 + attention * 3 + 2 * N * lora * 3;
}

/** The shapes measured: batch 1 and 4 at sequence 256 and 1024, and 4 × 1024 with gradient checkpointing. */
export function trainerShapes(quick: boolean): TrainerShape[] {
  const shapes: TrainerShape[] = quick
    ? [{ batch: 4, seq: 256, gradientCheckpointing: false }]
    : [1, 4].flatMap((batch) => [256, 1024].map((seq) => ({ batch, seq, gradientCheckpointing: false })));
  shapes.push({ batch: 4, seq: 1024, gradientCheckpointing: true });
  return shapes;
}

/** The folder holding examples/models/stories260K/tokenizer.json, searched upwards from this module (src/cli or dist). */
function exampleTokenizerDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'examples', 'models', 'stories260K');
    if (existsSync(join(candidate, 'tokenizer.json'))) return candidate;
    const up = dirname(dir);
    if (up === dir) throw new Error('bench --trainer: examples/models/stories260K/tokenizer.json not found above the running script; run it from a LoRA Lab checkout (npm run bench -- --trainer)');
    dir = up;
  }
}

/** The trainer entry beside this module: dist/trainer.js beside dist/cli.js, or src/trainer/main.ts under tsx. */
function trainerEntry(): { path: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) return { path: join(dirname(here), '..', 'trainer', 'main.ts'), execArgv: ['--import', 'tsx'] };
  const path = join(dirname(here), 'trainer.js');
  if (!existsSync(path)) throw new Error(`bench --trainer: ${path} not found; build first (npm run build)`);
  return { path, execArgv: [] };
}

/** Writes the bench model (config.json, random model.safetensors, stories260K's tokenizer) into `dir`. */
async function writeBenchModel(dir: string, cfg: DecoderConfig): Promise<void> {
  const tok = exampleTokenizerDir();
  const raw = {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: cfg.hidden_size, intermediate_size: cfg.intermediate_size,
    num_hidden_layers: cfg.num_hidden_layers, num_attention_heads: cfg.num_attention_heads, num_key_value_heads: cfg.num_key_value_heads,
    head_dim: cfg.head_dim, vocab_size: cfg.vocab_size, max_position_embeddings: cfg.max_position_embeddings, rms_norm_eps: cfg.rms_norm_eps,
    rope_theta: 10000, tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2, hidden_act: 'silu', torch_dtype: 'float32',
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(raw, null, 2));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) if (existsSync(join(tok, f))) copyFileSync(join(tok, f), join(dir, f));
  const weights = randomWeights(llamaFamily, cfg, 1);
  const specs = llamaFamily.weightNames(cfg).filter((w) => !w.optional).map((w) => ({ name: w.name, dtype: 'float32' as const, shape: w.shape }));
  await writeSafetensorsStreaming(join(dir, 'model.safetensors'), specs, undefined, async (s) => weights.get(s.name, s.shape));
}

const WORDS = ['the', 'little', 'cat', 'sat', 'on', 'a', 'warm', 'mat', 'and', 'dreamed', 'of', 'fish', 'under', 'moon', 'bright', 'stars', 'sang', 'softly', 'to', 'sleepy', 'fox'];

/** `n` {"text"} records of random words, each longer than `tokens` tokens (truncated by the trainer). */
function textRecords(n: number, tokens: number, seed: number): string {
  const rand = createRng(seed);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const words = Array.from({ length: tokens + 16 }, () => WORDS[Math.floor(rand() * WORDS.length)]);
    lines.push(JSON.stringify({ text: words.join(' ') }));
  }
  return `${lines.join('\n')}\n`;
}

function procStatus(pid: number): { rss: number; hwm: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return null;
  }
}

/** Runs one trainer child on `shape`; resolves with its figures. @throws when the run fails. */
async function measureShape(work: string, modelDir: string, shape: TrainerShape, a: Required<Pick<TrainerBenchArgs, 'rank' | 'steps'>> & TrainerBenchArgs, cfg: DecoderConfig, track?: { child: ChildProcess | null }): Promise<TrainerFigures> {
  const { batch: B, seq: T } = shape;
  const tag = `${B}x${T}${shape.gradientCheckpointing ? '-gc' : ''}`;
  const train = join(work, `train-${tag}.jsonl`);
  const validation = join(work, `validation-${tag}.jsonl`);
  writeFileSync(train, textRecords(4 * B, T, 1));
  writeFileSync(validation, textRecords(2 * B, T, 2));
  const experiment = join(work, `bench-${tag}.lora.json`);
  writeFileSync(experiment, JSON.stringify({
    name: `bench-${tag}`, model: modelDir,
    data: { train, validation, max_seq_length: T, packing: false, completion_only_loss: true },
    lora: { r: a.rank, lora_alpha: 2 * a.rank, target_modules: 'all-linear' },
    training: {
      learning_rate: 1e-4, lr_scheduler_type: 'constant', warmup_steps: 0, max_steps: a.steps, per_device_train_batch_size: B,
      eval_steps: a.steps, save_steps: a.steps, logging_steps: 1, seed: 0, gradient_checkpointing: shape.gradientCheckpointing,
    },
    device: a.device ?? 'cpu',
  }));
  const entry = trainerEntry();
  const child = fork(entry.path, [], { execArgv: entry.execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  if (track) track.child = child;
  const pid = child.pid!;
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  let last = { rss: 0, hwm: 0 };
  const poll = () => {
    const s = procStatus(pid);
    if (s) last = s;
    return last;
  };
  const timer = setInterval(poll, 50);
  let runtime = 0;
  let atRun = { rss: 0, hwm: 0 };
  let stepPeak = 0;
  let stepsReset = false;
  const stepMs: number[] = [];
  try {
    await new Promise<void>((resolveRun, reject) => {
      child.on('message', (m: TrainerEvent) => {
        if (m.type === 'ready') {
          runtime = poll().rss;
          child.send({ v: 1, type: 'start', args: { experimentFile: experiment, runsDir: join(work, 'runs'), device: a.device ?? 'cpu', threads: a.threads } });
        } else if (m.type === 'run') {
          atRun = poll();
          // Linux: writing 5 to clear_refs resets VmHWM to the current RSS, so the peak at the
          // end is the peak of the steps alone (the load peak is atRun.hwm).
          try {
            writeFileSync(`/proc/${pid}/clear_refs`, '5');
            stepsReset = true;
          } catch {
            stepsReset = false;
          }
        }
        else if (m.type === 'metrics') {
          const row = m.row as { step: number; tokens_per_s?: number };
          if (row.tokens_per_s && row.step > 2) stepMs.push((B * T / row.tokens_per_s) * 1000);
        } else if (m.type === 'done') {
          const s = poll();
          stepPeak = s.hwm;
          if (m.status !== 'completed') reject(new Error(`bench --trainer ${tag}: the run ended ${m.status}: ${stderr.trim().split('\n').pop() ?? ''}`));
        } else if (m.type === 'error') reject(new Error(`bench --trainer ${tag}: ${m.message}`));
      });
      child.on('exit', (code) => (code === 0 ? resolveRun() : reject(new Error(`bench --trainer ${tag}: the trainer exited ${code}: ${stderr.trim().split('\n').pop() ?? ''}`))));
    });
  } finally {
    clearInterval(timer);
    if (child.exitCode === null) child.kill();
  }
  if (!stepMs.length) throw new Error(`bench --trainer ${tag}: no step after the warm-up was logged; use --steps 3 or more`);
  const ms = upperMedian(stepMs);
  const flops = trainStepFlops(cfg, B, T, a.rank);
  const weights = llamaFamily.weightNames(cfg).filter((w) => !w.optional).reduce((s, w) => s + w.shape.reduce((x, y) => x * y, 1) * 4, 0);
  const mib = (x: number) => round(x / 2 ** 20);
  return {
    ...shape,
    step_ms: round(ms),
    tokens_per_s: round((B * T / ms) * 1000),
    gflop_per_step: round(flops / 1e9),
    gflop_per_s: round(flops / 1e9 / (ms / 1000)),
    peak_rss_mib: mib(Math.max(stepPeak, atRun.hwm)),
    runtime_rss_mib: mib(runtime),
    load_peak_mib: mib(atRun.hwm),
    built_rss_mib: mib(atRun.rss),
    steps_mib: stepsReset ? mib(Math.max(0, stepPeak - atRun.rss)) : NaN,
    weights_f32_mib: mib(weights),
  };
}

/** The part of a forked trainer that `stopTrainerBench` uses (a `ChildProcess`, or a fake in tests). */
export interface StoppableChild {
  exitCode: number | null;
  signalCode: NodeJS.Signals | null;
  kill(signal?: NodeJS.Signals): boolean;
  once(event: 'exit', listener: () => void): unknown;
}

/**
 * Cleanup of `bench --trainer` on SIGINT/SIGTERM: forwards `signal` to the running trainer
 * `child` (if any; the trainer stops after its current step), waits up to `graceMs` for it to
 * exit, then SIGKILLs it (and waits up to `graceMs` more), and removes the work folder `work`
 * (bench model, data, runs). Resolves when done; never throws.
 */
export async function stopTrainerBench(child: StoppableChild | null, work: string, signal: NodeJS.Signals, graceMs = 2000): Promise<void> {
  const alive = (c: StoppableChild) => c.exitCode === null && c.signalCode === null;
  const exited = (c: StoppableChild) => new Promise<void>((resolve) => {
    if (!alive(c)) return resolve();
    const timer = setTimeout(resolve, graceMs);
    c.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  if (child && alive(child)) {
    try {
      child.kill(signal);
      await exited(child);
      if (alive(child)) {
        child.kill('SIGKILL');
        await exited(child);
      }
    } catch {
      // the child went away between the check and the signal
    }
  }
  rmSync(work, { recursive: true, force: true });
}

/**
 * Prints the trainer figures for every shape of `trainerShapes` as a table on stdout (progress
 * and machine notes on stderr; with `json`, one JSON object on stdout instead of the table).
 * SIGINT/SIGTERM stop the running trainer and remove the work folder (`stopTrainerBench`), then
 * exit 130. @throws InputError when `steps` < 3 (the first 2 steps are warm-up).
 */
export async function runTrainerBench(args: TrainerBenchArgs): Promise<TrainerFigures[]> {
  if (process.platform !== 'linux') throw new Error('bench --trainer reads the trainer\'s memory from /proc/<pid>/status, which only Linux has');
  const a = { ...args, rank: args.rank ?? 16, steps: args.steps ?? (args.quick ? 3 : 5), layers: args.layers ?? BENCH_CONFIG.num_hidden_layers };
  if (a.steps < 3) throw new InputError(`bench --trainer: --steps ${a.steps} leaves no step after the 2 warm-up steps; the minimum is --steps 3`);
  const cfg = benchConfig(a.layers);
  info(`bench --trainer: Llama hidden ${cfg.hidden_size}, ${plural(cfg.num_hidden_layers, 'layer')}, vocab ${cfg.vocab_size}, LoRA r ${a.rank} all-linear; a forked trainer per shape, ${stepsNote(a.steps)}, validation at steps 0 and ${a.steps}`);
  // The trainer's default: every core (runtime/session.ts).
  info(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}; device ${a.device ?? 'cpu'}, ${plural(a.threads ?? availableParallelism(), 'intra-op thread')}`);
  const work = mkdtempSync(join(tmpdir(), 'loralab-bench-trainer-'));
  const out: TrainerFigures[] = [];
  // SIGINT/SIGTERM: this listener makes the CLI's global one stay out (main.ts installProcessHandlers).
  const track: { child: ChildProcess | null } = { child: null };
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    info(`loralab: stopped by ${sig}`);
    void stopTrainerBench(track.child, work, sig).finally(() => process.exit(EXIT.signal));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const row = (cells: string) => (a.json ? info(cells) : print(cells));
  try {
    await writeBenchModel(work, cfg);
    for (const line of TRAINER_LEGEND) info(line);
    row(TRAINER_TABLE_HEADER);
    for (const shape of a.shapes ?? trainerShapes(Boolean(a.quick))) {
      const f = await measureShape(work, work, shape, a, cfg, track);
      out.push(f);
      row(trainerTableRow(f));
    }
    info(`load average after: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    if (a.json) emitJson({ trainer: out });
    return out;
  } catch (e) {
    // stopped by a signal: the trainer's exit is not an error; onSignal cleans up and exits 130
    if (stopping) await new Promise<never>(() => undefined);
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    rmSync(work, { recursive: true, force: true });
  }
}

/** "3 steps (2 warm-up) → 1 timed step": how many of `steps` optimizer steps per shape are timed (all after the first 2). */
export function stepsNote(steps: number): string {
  return `${plural(steps, 'step')} (2 warm-up) → ${plural(steps - 2, 'timed step')}`;
}

/** The table's column names (MiB columns right of the bar: the breakdown of peak RSS). */
export const TRAINER_TABLE_HEADER = 'shape                step ms  tokens/s  GFLOP/s  peak RSS MiB | runtime  load peak  after build  steps (+MiB)  f32 weights';

/** What each column is, printed on stderr above the table (one line per group). */
export const TRAINER_LEGEND = [
  'columns: step ms = median of the timed steps; GFLOP/s = matrix-product FLOPs / step time (recomputation not counted); peak RSS = the trainer\'s VmHWM over the whole run (MiB)',
  '  runtime = RSS once the trainer has started (Node + its code, before ONNX Runtime and the model are loaded); load peak = peak while loading the model and building the session;',
  '  after build = RSS once the session is built; steps (+MiB) = what the training steps (validation included) add above that; f32 weights = the model\'s weights at 4 bytes each (computed, not measured)',
];

/**
 * One table row for `f`, aligned under `TRAINER_TABLE_HEADER`: shape ("4 × 1024 + grad ckpt"
 * with gradient checkpointing), then every figure as a whole number (ms, tokens/s, GFLOP/s, MiB;
 * the JSON keeps one decimal); "n/a" where a figure could not be measured (steps (+MiB) without
 * /proc/<pid>/clear_refs).
 */
export function trainerTableRow(f: TrainerFigures): string {
  const n = (x: number, width: number) => (Number.isFinite(x) ? Math.round(x).toString() : 'n/a').padStart(width);
  const name = `${f.batch} × ${f.seq}${f.gradientCheckpointing ? ' + grad ckpt' : ''}`.padEnd(20);
  return `${name} ${n(f.step_ms, 7)}  ${n(f.tokens_per_s, 8)}  ${n(f.gflop_per_s, 7)}  ${n(f.peak_rss_mib, 12)} | ${n(f.runtime_rss_mib, 7)}  ${n(f.load_peak_mib, 9)}  ${n(f.built_rss_mib, 11)}  ${n(f.steps_mib, 12)}  ${n(f.weights_f32_mib, 11)}`;
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
