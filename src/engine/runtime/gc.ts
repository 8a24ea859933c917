/**
 * A full V8 garbage collection on demand, for the moments a process has just dropped hundreds of
 * MiB of JavaScript-held tensors (the checkpoint's weights and the serialized model after an ONNX
 * Runtime session is built). V8 frees a dead ArrayBuffer's memory only when it next collects, and
 * nothing JavaScript allocates while ONNX Runtime builds a session or trains, so without this the
 * dead copies stay resident and add to the process's peak memory (bench config, trainer: about
 * 550 MiB).
 *
 * Node exposes `gc` only with `--expose-gc`; the flag is set at run time (`v8.setFlagsFromString`)
 * and the function taken from a fresh context, the approach Node's own documentation of
 * `v8.setFlagsFromString` and its tests use. Does nothing where that fails.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | null | undefined;

/** Runs a full garbage collection (synchronous; tens of ms on a small heap). */
export function collectGarbage(): void {
  if (gc === undefined) {
    gc = (globalThis as { gc?: () => void }).gc ?? null;
    if (!gc) {
      try {
        setFlagsFromString('--expose-gc');
        gc = runInNewContext('gc') as () => void;
      } catch {
        gc = null;
      }
    }
  }
  gc?.();
}
