/**
 * Letting the event loop run during long synchronous data work, so a signal handler (Ctrl-C)
 * or an IPC message is handled within a fraction of a second.
 */

/** Longest stretch of synchronous data work between two yields, in milliseconds. */
export const YIELD_MS = 50;

/** Resolves after the event loop has handled pending I/O and signals (`setImmediate`). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
