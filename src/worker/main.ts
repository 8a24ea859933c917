/**
 * Inference worker entry (`dist/worker.js`), forked by the extension host (one per window,
 * started on the first request, stopped when idle): the extension host itself never loads ONNX
 * Runtime. Speaks `src/protocol/worker.ts` over Node IPC: sends `ready`, then answers every
 * request (service.ts). stdout / stderr are log text.
 *
 * Exit codes: 0 after `shutdown` or when the parent goes away (IPC closed); 1 after an uncaught
 * error, which is first reported as an `error` event with `id` null (one line, no stack);
 * 2 when started without an IPC channel (from a terminal).
 *
 * Environment: `LORALAB_ADAPTER_CACHE_MB` sets the adapter cache budget (default 512 MiB).
 */
import { WORKER_PROTOCOL_VERSION, type WorkerEvent, isWorkerRequest } from '../protocol/worker';
import { AdapterCache, adapterCacheBytesFromEnv } from './adapters';
import { InferenceService, oneLine } from './service';

/** Settles once the last message sent so far has been handed to the OS (or failed). */
let lastSend: Promise<void> = Promise.resolve();

const send = (e: WorkerEvent): void => {
  if (!process.connected) return;
  lastSend = new Promise((resolve) => {
    try {
      process.send!(e, undefined, {}, () => resolve());
    } catch {
      resolve(); // the channel closed under us
    }
  });
};

/** Exits with `code` once the queued IPC messages are written (at most 5 s: a parent that stopped reading). */
async function exitAfterFlush(code: number): Promise<never> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([lastSend, new Promise<void>((resolve) => (timer = setTimeout(resolve, 5_000)))]);
  clearTimeout(timer);
  process.exit(code);
}

function main(): void {
  if (!process.send) {
    process.stderr.write('dist/worker.js is started by the LoRA Lab extension over IPC; from a terminal use `loralab generate` or `loralab score`\n');
    process.exit(2);
  }
  let exiting = false;
  const fail = (e: unknown) => {
    if (exiting) return;
    exiting = true;
    send({ v: WORKER_PROTOCOL_VERSION, type: 'error', id: null, message: `the inference worker failed: ${oneLine(e)}` });
    void exitAfterFlush(1);
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);

  let service: InferenceService;
  try {
    service = new InferenceService(send, new AdapterCache(adapterCacheBytesFromEnv()));
  } catch (e) {
    fail(e);
    return;
  }
  const shutdown = () => {
    if (exiting) return;
    exiting = true;
    void service.close().catch(() => undefined).then(() => exitAfterFlush(0));
  };
  process.on('message', (msg) => {
    if (!isWorkerRequest(msg)) return;
    if (msg.type === 'shutdown') shutdown();
    else service.handle(msg);
  });
  process.on('disconnect', shutdown);
  send({ v: WORKER_PROTOCOL_VERSION, type: 'ready', pid: process.pid });
}

main();
