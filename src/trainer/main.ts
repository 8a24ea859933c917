/**
 * Trainer process entry (`dist/trainer.js`), forked by the extension host: one process per run.
 * Speaks the typed protocol of `src/protocol/trainer.ts` over Node IPC; stdout/stderr are log
 * text. Exits with the CLI's codes (0 completed, 1 failed, 2 invalid input, 130 stopped).
 * If the parent disappears (IPC channel closes), the run stops at the next step boundary with
 * a checkpoint, exactly as on `stop`. A stop (or SIGINT / SIGTERM / disconnect) before the `run`
 * event exits 130 at once, after an `error` event when a start was under way.
 */
import { startIpcChild } from '../child/ipc';
import { type TrainerEvent, type TrainerRequest, TRAINER_PROTOCOL_VERSION, isTrainerRequest } from '../protocol/trainer';
import { EXIT, isInputError } from './exit';
import { type StopToken, runTraining } from './run';

const child = startIpcChild<TrainerRequest, TrainerEvent>({
  entry: 'dist/trainer.js',
  terminalCommand: '`loralab train`',
  isRequest: isTrainerRequest,
  // `done` is the last event: wait for it up to 10 s.
  flushTimeoutMs: 10_000,
});
const send = child.send;

/** Whether the run has started (the `run` event was sent): before that a stop exits at once. */
let runStarted = false;

async function start(args: import('../protocol/trainer').StartArgs, stop: StopToken): Promise<number> {
  try {
    const outcome = await runTraining(
      { experimentFile: args.experimentFile, resume: args.resume, model: args.model, runsDir: args.runsDir, maxSteps: args.maxSteps, device: args.device, threads: args.threads, initAdapter: args.initAdapter },
      {
        onRun: (r) => {
          runStarted = true;
          send({ v: 1, type: 'run', run_dir: r.runDir, id: r.id, resumed_from_step: r.resumedFromStep, max_steps: r.maxSteps, provider: r.provider, precision: r.precision });
        },
        onMetrics: (row) => send({ v: 1, type: 'metrics', row }),
        onCheckpoint: (step, dir) => send({ v: 1, type: 'checkpoint', step, dir }),
        onLog: (line) => {
          process.stderr.write(`${line}\n`);
          send({ v: 1, type: 'log', line });
        },
      },
      stop,
    );
    send({ v: 1, type: 'done', status: outcome.status, run_dir: outcome.runDir, adapter_dir: outcome.adapterDir, step: outcome.step });
    if (outcome.status === 'failed') send({ v: 1, type: 'error', message: outcome.error ?? 'training failed', exit_code: EXIT.failed });
    return outcome.status === 'completed' ? EXIT.ok : outcome.status === 'stopped' ? EXIT.signal : EXIT.failed;
  } catch (e) {
    const code = isInputError(e) ? EXIT.invalidInput : EXIT.failed;
    send({ v: 1, type: 'error', message: (e as Error).message, exit_code: code });
    return code;
  }
}

function main(): void {
  const stop: StopToken = { requested: false };
  let started = false;
  const requestStop = () => {
    stop.requested = true;
    if (runStarted) return; // the run loop stops after the current step, with a checkpoint
    // Not started, or the model and data are still loading: no step to finish, nothing to checkpoint.
    if (started) send({ v: 1, type: 'error', message: 'stopped before training started (nothing to checkpoint)', exit_code: EXIT.signal });
    void child.exitAfterFlush(EXIT.signal);
  };
  child.listen((msg) => {
    if (msg.type === 'stop') {
      requestStop();
      return;
    }
    if (started) return;
    started = true;
    void start(msg.args, stop).then(child.exitAfterFlush);
  }, requestStop, ['SIGTERM', 'SIGINT']);
  send({ v: TRAINER_PROTOCOL_VERSION, type: 'ready', pid: process.pid });
}

main();
