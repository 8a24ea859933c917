/**
 * `loralab train FILE.lora.json` / `loralab train --resume RUN_DIR`: trains in this process,
 * a progress bar on stderr (plain lines when stderr is not a terminal), `--json` events on
 * stdout (`run`, `metrics` with exactly the metrics.jsonl fields, `checkpoint`, `done`,
 * `error`). Ctrl-C / SIGTERM finish the current step, write a checkpoint and exit 130; before
 * training has started (model and data still loading) they exit 130 at once.
 */
import { SingleBar } from 'cli-progress';
import type { Device } from '../engine/runtime/session';
import { type StopToken, type TrainOutcome, runTraining } from '../trainer/run';
import { EXIT, InputError, emitJson, info } from './output';

export interface TrainArgs {
  file?: string;
  resume?: string;
  model?: string;
  maxSteps?: number;
  runsDir?: string;
  device?: Device;
  threads?: number;
  json?: boolean;
  /** Train point `index` of the file's sweep block. */
  sweep?: boolean;
  index?: number;
  /** With `resume`: the checkpoint to start from (`step-N`). */
  checkpoint?: string;
  /** Called once the run folder is known, not awaited (a sweep task records it: src/cli/sweep.ts). */
  onRunDir?: (runDir: string) => Promise<void> | void;
}

const STEP_FORMAT = 'step {value}/{total} [{bar}] loss {loss} | {tps} tok/s | ETA {eta_h}';

/**
 * The training progress bar (cli-progress) on a terminal stream. Lines printed while it runs
 * (validation results) go above it: the bar is stopped, the line written, and the bar restarted
 * with the values it last showed, so it never shows its raw `{loss}` template.
 */
export class StepBar {
  private readonly bar: SingleBar;
  private payload = { loss: '-', tps: '-', eta_h: '?' };
  private step = 0;

  constructor(private readonly stream: NodeJS.WritableStream) {
    this.bar = new SingleBar({ format: STEP_FORMAT, stream, hideCursor: true, etaBuffer: 20 });
  }

  start(total: number, step: number): void {
    this.step = step;
    this.bar.start(total, step, this.payload);
  }

  update(step: number, payload: { loss: string; tps: string; eta_h: string }): void {
    this.payload = payload;
    this.step = step;
    this.bar.update(step, payload);
  }

  /** Writes `text` on a line of its own above the bar, which goes on at `step` (default: where it was). */
  line(text: string, step = this.step): void {
    const total = this.bar.getTotal();
    this.bar.stop();
    this.stream.write(`${text}\n`);
    this.step = step;
    if (step < total) this.bar.start(total, step, this.payload);
  }

  stop(): void {
    this.bar.stop();
  }
}

function fmtDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

/** Returns the process exit code (0 completed, 1 failed, 130 stopped). */
export async function runTrain(args: TrainArgs): Promise<number> {
  if (!args.file && !args.resume) throw new InputError('train needs an experiment file (loralab train FILE.lora.json) or --resume RUN_DIR');
  if (args.file && args.resume) throw new InputError('give either an experiment file or --resume RUN_DIR, not both');
  if (Boolean(args.sweep) !== (args.index !== undefined) || (args.sweep && !args.file)) throw new InputError('--sweep and --index go together, with an experiment file: loralab train FILE.lora.json --sweep --index I');
  const stop: StopToken = { requested: false };
  let signals = 0;
  let started = false;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (!started) {
      // Still loading the model and data: there is no step to finish and nothing to checkpoint.
      if (args.json) emitJson({ event: 'error', message: 'stopped before training started (nothing to checkpoint)', exit_code: EXIT.signal });
      info(`\nloralab: ${sig}: stopped before training started (nothing to checkpoint)`);
      process.exit(EXIT.signal);
    }
    if (signals > 1) {
      info(`\nloralab: ${sig} again: aborting now without a new checkpoint (earlier checkpoints, if any, are kept; the run shows as crashed and can be resumed)`);
      process.exit(EXIT.signal);
    }
    stop.requested = true;
    info(`\nloralab: ${sig}: finishing this step and writing a checkpoint (press Ctrl-C again to abort now)`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const tty = Boolean(process.stderr.isTTY) && !args.json;
  let bar: StepBar | null = null;
  let dlBar: SingleBar | null = null;
  let startStep = 0;
  let lastPrinted = 0;
  let outcome: TrainOutcome;
  try {
    outcome = await runTraining(
      { experimentFile: args.file, resume: args.resume, checkpoint: args.checkpoint, model: args.model, runsDir: args.runsDir, maxSteps: args.maxSteps, device: args.device, threads: args.threads, sweepIndex: args.sweep ? args.index : undefined },
      {
        onDownload: (p) => {
          if (!tty) return;
          dlBar ??= new SingleBar({ format: 'downloading {file} [{bar}] {percentage}% {value}/{total} MiB', stream: process.stderr, hideCursor: true });
          const mib = (x: number) => Math.round(x / 2 ** 20);
          if (!dlBar.isActive) dlBar.start(mib(p.total), 0, { file: p.file });
          dlBar.update(mib(p.done), { file: p.file });
          if (p.done >= p.total) dlBar.stop();
        },
        onRun: (r) => {
          if (args.onRunDir) void Promise.resolve(args.onRunDir(r.runDir)).catch((e: Error) => info(`warning: ${e.message}`));
          started = true;
          startStep = r.startStep;
          if (args.json) emitJson({ event: 'run', run_dir: r.runDir, id: r.id, resumed_from_step: r.resumedFromStep, max_steps: r.maxSteps, provider: r.provider, precision: r.precision });
          info(`run ${r.id} (${r.runDir}) on ${r.provider}${r.precision ? `, ${r.precision}` : ''}${r.resumedFromStep !== null ? `, resuming at step ${r.resumedFromStep}` : ''}`);
          if (tty) {
            bar = new StepBar(process.stderr);
            bar.start(r.maxSteps, r.startStep);
          }
        },
        onStep: (step, max, s) => {
          const done = step - startStep;
          const eta = done > 0 ? ((max - step) * s.elapsedS) / Math.max(1, step) : NaN;
          if (bar) (bar as StepBar).update(step, { loss: s.loss.toFixed(4), tps: String(Math.round(s.tokensPerS)), eta_h: fmtDuration(eta) });
          else if (!args.json && (performance.now() - lastPrinted > 2000 || step === max)) {
            lastPrinted = performance.now();
            info(`step ${step}/${max}  loss ${s.loss.toFixed(4)}  ${Math.round(s.tokensPerS)} tok/s  ETA ${fmtDuration(eta)}`);
          }
        },
        onMetrics: (row) => {
          if (args.json) emitJson({ event: 'metrics', ...row });
          if (row.val_loss !== undefined) {
            const line = `step ${row.step}: val_loss ${row.val_loss.toFixed(4)}`;
            if (bar) (bar as StepBar).line(line, row.step);
            else info(line);
          }
        },
        onCheckpoint: (step, dir) => {
          if (args.json) emitJson({ event: 'checkpoint', step, dir });
        },
        onLog: (line) => {
          if (line.startsWith('skipped ') || line.startsWith('warning: ') || line.startsWith('data: ') || line.startsWith('advice: ') || line.startsWith('resuming with the configuration saved')) {
            if (bar) (bar as StepBar).line(line);
            else info(line);
          }
        },
      },
      stop,
    );
  } finally {
    (bar as StepBar | null)?.stop();
    (dlBar as SingleBar | null)?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (args.json) emitJson({ event: 'done', status: outcome.status, run_dir: outcome.runDir, adapter_dir: outcome.adapterDir, step: outcome.step, ...(outcome.error ? { error: outcome.error } : {}) });
  if (outcome.status === 'completed') {
    info(`done: ${outcome.step} steps; adapter in ${outcome.adapterDir}`);
    return EXIT.ok;
  }
  if (outcome.status === 'stopped') {
    info(`stopped at step ${outcome.step}; resume with: loralab train --resume ${outcome.runDir}`);
    return EXIT.signal;
  }
  if (args.json) emitJson({ event: 'error', message: outcome.error, exit_code: EXIT.failed });
  info(`loralab: error: ${outcome.error}`);
  info(outcome.checkpointStep === undefined || outcome.checkpointStep === null
    ? `run ${outcome.runDir} failed at step ${outcome.step} before any usable checkpoint; a resume (loralab train --resume ${outcome.runDir}) starts over from step 0`
    : `run ${outcome.runDir} failed at step ${outcome.step}; resume from its checkpoint at step ${outcome.checkpointStep} with: loralab train --resume ${outcome.runDir}`);
  return EXIT.failed;
}
