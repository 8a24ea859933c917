/**
 * Trainer process entry (`dist/trainer.js`), forked by the extension host: one process per run.
 * Speaks the typed protocol of `src/protocol/trainer.ts` over Node IPC; stdout/stderr are log
 * text. Exits with the CLI's codes (0 completed, 1 failed, 2 invalid input, 130 stopped).
 * If the parent disappears (IPC channel closes), the run stops at the next step boundary with
 * a checkpoint, exactly as on `stop`. A stop (or SIGINT / SIGTERM / disconnect) before the `run`
 * event exits 130 at once, after an `error` event when a start was under way.
 */
import { type TrainerEvent, TRAINER_PROTOCOL_VERSION, isTrainerRequest } from '../protocol/trainer';
import { EXIT, isInputError } from './exit';
import { type StopToken, runTraining } from './run';

/** Settles once the last message sent so far has been handed to the OS (or failed). */
let lastSend: Promise<void> = Promise.resolve();

const send = (e: TrainerEvent): void => {
  if (!process.connected) return;
  lastSend = new Promise((resolve) => {
    try {
      process.send!(e, undefined, {}, () => resolve());
    } catch {
      resolve(); // the channel closed under us
    }
  });
};

/**
 * Exits with `code` once the queued IPC messages are written: `process.exit` drops messages
 * still queued in the channel (a busy parent lets the pipe fill), and `done` is the last one.
 * Gives up waiting after 10 s (a parent that stopped reading).
 */
async function exitAfterFlush(code: number): Promise<never> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([lastSend, new Promise<void>((resolve) => (timer = setTimeout(resolve, 10_000)))]);
  clearTimeout(timer);
  process.exit(code);
}

/** Whether the run has started (the `run` event was sent): before that a stop exits at once. */
let runStarted = false;

async function start(args: import('../protocol/trainer').StartArgs, stop: StopToken): Promise<number> {
  try {
    const outcome = await runTraining(
      { experimentFile: args.experimentFile, resume: args.resume, model: args.model, runsDir: args.runsDir, maxSteps: args.maxSteps, device: args.device, threads: args.threads, initAdapter: args.initAdapter },
      {
        onRun: (r) => {
          runStarted = true;
          send({ v: 1, type: 'run', run_dir: r.runDir, id: r.id, resumed_from_step: r.resumedFromStep, max_steps: r.maxSteps, provider: r.provider });
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
  if (!process.send) {
    process.stderr.write('dist/trainer.js is started by the LoRA Lab extension over IPC; from a terminal use `loralab train`\n');
    process.exit(EXIT.invalidInput);
  }
  const stop: StopToken = { requested: false };
  let started = false;
  const requestStop = () => {
    stop.requested = true;
    if (runStarted) return; // the run loop stops after the current step, with a checkpoint
    // Not started, or the model and data are still loading: no step to finish, nothing to checkpoint.
    if (started) send({ v: 1, type: 'error', message: 'stopped before training started (nothing to checkpoint)', exit_code: EXIT.signal });
    void exitAfterFlush(EXIT.signal);
  };
  process.on('message', (msg) => {
    if (!isTrainerRequest(msg)) return;
    if (msg.type === 'stop') {
      requestStop();
      return;
    }
    if (started) return;
    started = true;
    void start(msg.args, stop).then(exitAfterFlush);
  });
  process.on('disconnect', requestStop);
  process.on('SIGTERM', requestStop);
  process.on('SIGINT', requestStop);
  send({ v: TRAINER_PROTOCOL_VERSION, type: 'ready', pid: process.pid });
}

main();
