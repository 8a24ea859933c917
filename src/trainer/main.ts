/**
 * Trainer process entry (`dist/trainer.js`), forked by the extension host: one process per run.
 * Speaks the typed protocol of `src/protocol/trainer.ts` over Node IPC; stdout/stderr are log
 * text. Exits with the CLI's codes (0 completed, 1 failed, 2 invalid input, 130 stopped).
 * If the parent disappears (IPC channel closes), the run stops at the next step boundary with
 * a checkpoint, exactly as on `stop`.
 */
import { type TrainerEvent, TRAINER_PROTOCOL_VERSION, isTrainerRequest } from '../protocol/trainer';
import { EXIT, isInputError } from '../cli/output';
import { type StopToken, runTraining } from './run';

const send = (e: TrainerEvent): void => {
  if (process.connected) process.send!(e);
};

async function start(args: import('../protocol/trainer').StartArgs, stop: StopToken): Promise<number> {
  try {
    const outcome = await runTraining(
      { experimentFile: args.experimentFile, resume: args.resume, model: args.model, runsDir: args.runsDir, maxSteps: args.maxSteps, device: args.device, threads: args.threads },
      {
        onRun: (r) => send({ v: 1, type: 'run', run_dir: r.runDir, id: r.id, resumed_from_step: r.resumedFromStep, max_steps: r.maxSteps, provider: r.provider }),
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
  process.on('message', (msg) => {
    if (!isTrainerRequest(msg)) return;
    if (msg.type === 'stop') {
      stop.requested = true;
      return;
    }
    if (started) return;
    started = true;
    void start(msg.args, stop).then((code) => {
      // Let queued IPC messages flush before exiting.
      setTimeout(() => process.exit(code), 50);
    });
  });
  process.on('disconnect', () => (stop.requested = true));
  process.on('SIGTERM', () => (stop.requested = true));
  process.on('SIGINT', () => (stop.requested = true));
  send({ v: TRAINER_PROTOCOL_VERSION, type: 'ready', pid: process.pid });
}

main();
