/**
 * The bootstrap shared by the processes the extension host forks over Node IPC (the trainer,
 * `src/trainer/main.ts`, and the inference worker, `src/worker/main.ts`): the refusal when
 * started from a terminal, sending typed events, exiting only once the queued events are
 * written, and wiring requests and shutdown. What the messages are (`src/protocol/*`) and what
 * they do stays with each process. Node's IPC semantics: https://nodejs.org/api/child_process.html
 * (`subprocess.send`, the `'message'` and `'disconnect'` events of `process`).
 *
 * Imports nothing of the project, so every process entry below the CLI may use it.
 */

/** What `startIpcChild` gives a process: its end of the channel to the extension host. */
export interface IpcChild<Request, Event> {
  /** Sends one event to the parent; dropped once the channel is closed (the parent went away). */
  send(event: Event): void;
  /**
   * Exits with `code` once the events sent so far are handed to the OS: `process.exit` drops
   * messages still queued in the channel (a busy parent lets the pipe fill). Gives up waiting
   * after `flushTimeoutMs` (a parent that stopped reading).
   */
  exitAfterFlush(code: number): Promise<never>;
  /**
   * Wires the channel: every message that passes the request guard goes to `onRequest`; others
   * go to `onRejected` when given (so a request carrying an id can be answered with an error
   * instead of leaving the parent waiting), else are dropped. The channel closing, and each of
   * `signals`, calls `onShutdown`.
   */
  listen(onRequest: (request: Request) => void, onShutdown: () => void, signals?: readonly NodeJS.Signals[], onRejected?: (message: unknown) => void): void;
}

export interface IpcChildOptions<Request> {
  /** The bundled entry, as the terminal hint names it: `dist/trainer.js`. */
  entry: string;
  /** What to run from a terminal instead, e.g. "`loralab train`". */
  terminalCommand: string;
  /** The protocol's request guard (`isTrainerRequest`, `isWorkerRequest`). */
  isRequest: (m: unknown) => m is Request;
  /** How long `exitAfterFlush` waits for the queued events, in milliseconds. */
  flushTimeoutMs: number;
}

/** Exit code when started without an IPC channel: invalid use (the CLI's code 2). */
export const NO_IPC_EXIT_CODE = 2;

/**
 * Opens this process's end of the IPC channel. Started without one (from a terminal), it writes
 * one line — `<entry> is started by the LoRA Lab extension over IPC; from a terminal use
 * <terminalCommand>` — to stderr and exits with code 2 (`NO_IPC_EXIT_CODE`); it does not return.
 */
export function startIpcChild<Request, Event>(o: IpcChildOptions<Request>): IpcChild<Request, Event> {
  if (!process.send) {
    process.stderr.write(`${o.entry} is started by the LoRA Lab extension over IPC; from a terminal use ${o.terminalCommand}\n`);
    process.exit(NO_IPC_EXIT_CODE);
  }
  /** Settles once the last message sent so far has been handed to the OS (or failed). */
  let lastSend: Promise<void> = Promise.resolve();
  return {
    send: (event) => {
      if (!process.connected) return;
      lastSend = new Promise((resolve) => {
        try {
          process.send!(event, undefined, {}, () => resolve());
        } catch {
          resolve(); // the channel closed under us
        }
      });
    },
    exitAfterFlush: async (code) => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([lastSend, new Promise<void>((resolve) => (timer = setTimeout(resolve, o.flushTimeoutMs)))]);
      clearTimeout(timer);
      process.exit(code);
    },
    listen: (onRequest, onShutdown, signals = [], onRejected) => {
      process.on('message', (msg) => {
        if (o.isRequest(msg)) onRequest(msg);
        else onRejected?.(msg);
      });
      process.on('disconnect', onShutdown);
      for (const s of signals) process.on(s, onShutdown);
    },
  };
}
