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
import { startIpcChild } from '../child/ipc';
import { WORKER_PROTOCOL_VERSION, type WorkerEvent, type WorkerRequest, isWorkerRequest } from '../protocol/worker';
import { AdapterCache, adapterCacheBytesFromEnv } from './adapters';
import { InferenceService, oneLine } from './service';

function main(): void {
  const child = startIpcChild<WorkerRequest, WorkerEvent>({
    entry: 'dist/worker.js',
    terminalCommand: '`loralab generate` or `loralab score`',
    isRequest: isWorkerRequest,
    flushTimeoutMs: 5_000,
  });
  let exiting = false;
  const fail = (e: unknown) => {
    if (exiting) return;
    exiting = true;
    child.send({ v: WORKER_PROTOCOL_VERSION, type: 'error', id: null, message: `the inference worker failed: ${oneLine(e)}` });
    void child.exitAfterFlush(1);
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);

  let service: InferenceService;
  try {
    service = new InferenceService(child.send, new AdapterCache(adapterCacheBytesFromEnv()));
  } catch (e) {
    fail(e);
    return;
  }
  const shutdown = () => {
    if (exiting) return;
    exiting = true;
    void service.close().catch(() => undefined).then(() => child.exitAfterFlush(0));
  };
  child.listen(
    (msg) => {
      if (msg.type === 'shutdown') shutdown();
      else service.handle(msg);
    },
    shutdown,
    [],
    (msg) => {
      // A malformed request that carries an id is answered, so its caller does not wait forever.
      const id = typeof msg === 'object' && msg !== null && typeof (msg as { id?: unknown }).id === 'number' ? (msg as { id: number }).id : null;
      const type = typeof msg === 'object' && msg !== null ? String((msg as { type?: unknown }).type) : typeof msg;
      if (id !== null) child.send({ v: WORKER_PROTOCOL_VERSION, type: 'error', id, message: `the inference worker could not read a "${type}" request (bad or missing fields); update the extension and the worker together` });
    },
  );
  child.send({ v: WORKER_PROTOCOL_VERSION, type: 'ready', pid: process.pid });
}

main();
