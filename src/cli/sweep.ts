/**
 * `loralab sweep FILE.lora.json [--parallel N]` / `loralab sweep --resume SWEEP_DIR`: every
 * point of the file's `sweep` block as an ordinary run under one sweep folder (`src/launch/local.ts`).
 * Progress on stderr; `--json` prints `sweep` (the folder), `point` (each run's start and end)
 * and `done` (every point with its final loss, and the best) events on stdout. Ctrl-C stops the
 * whole sweep with checkpoints (exit 130); `--resume` continues it.
 */
import { runSweep } from '../launch/local';
import { defaultRunsDir } from '../runs/index';
import { EXIT, InputError, emitJson, info } from './output';

export interface SweepArgs {
  file?: string;
  resume?: string;
  parallel?: number;
  runsDir?: string;
  threads?: number;
  maxSteps?: number;
  device?: string;
  json?: boolean;
}

const fmtValue = (v: unknown) => (typeof v === 'number' ? String(Number(v.toPrecision(3))) : JSON.stringify(v));

/** Returns the exit code: 0 when every run completed, 1 when one failed, 130 when stopped. */
export async function runSweepCommand(args: SweepArgs): Promise<number> {
  if (!args.file && !args.resume) throw new InputError('sweep needs an experiment file with a "sweep" block (loralab sweep FILE.lora.json) or --resume SWEEP_DIR');
  if (args.file && args.resume) throw new InputError('give either an experiment file or --resume SWEEP_DIR, not both');
  const handle = runSweep(
    { file: args.file, resume: args.resume, runsDir: args.runsDir ?? defaultRunsDir(), parallel: args.parallel, threads: args.threads, maxSteps: args.maxSteps, device: args.device },
    {
      onStart: (dir, sweep, queued) => {
        if (args.json) emitJson({ event: 'sweep', sweep_dir: dir, points: sweep.points.length, queued });
        info(`sweep ${sweep.name}: ${sweep.points.length} points (${queued} to run) in ${dir}`);
      },
      onRun: (index, runDir) => {
        if (args.json) emitJson({ event: 'point', index, run_dir: runDir, status: 'running' });
        info(`point ${index}: started ${runDir}`);
      },
      onDone: (index, status) => {
        if (args.json) emitJson({ event: 'point', index, status });
        info(`point ${index}: ${status}`);
      },
      onLog: info,
    },
  );
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    if (++signals > 1) process.exit(EXIT.signal);
    info(`\nloralab: ${sig}: stopping the sweep: every running run finishes its step and writes a checkpoint (Ctrl-C again to abort)`);
    handle.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const r = await handle.done;
    const keys = Object.keys(r.points[0]?.values ?? {});
    info(['#', ...keys, 'status', 'final loss'].join('\t'));
    for (const p of r.points) info([p.index, ...keys.map((k) => fmtValue(p.values[k])), p.status, p.final_loss === null ? '-' : p.final_loss.toFixed(4)].join('\t') + (p === r.best ? '\t← best' : ''));
    if (r.best) info(`best: point ${r.best.index} (${keys.map((k) => `${k} ${fmtValue(r.best!.values[k])}`).join(', ')}): final loss ${r.best.final_loss!.toFixed(4)}, ${r.best.run_dir}`);
    if (args.json) emitJson({ event: 'done', sweep_dir: r.dir, status: r.status, best: r.best?.index ?? null, points: r.points });
    if (r.status === 'stopped') {
      info(`stopped; resume with: loralab sweep --resume ${r.dir}`);
      return EXIT.signal;
    }
    return r.points.some((p) => p.status === 'failed') ? EXIT.failed : EXIT.ok;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
