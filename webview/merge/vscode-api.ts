/**
 * The API VS Code injects into the Merge webview (`acquireVsCodeApi`, callable once), typed
 * with the Merge page's messages.
 */
import type { MergeToHost } from '../../src/protocol/merge';

export interface MergeApi {
  postMessage(message: MergeToHost): void;
}

export function acquireMergeApi(): MergeApi {
  return (globalThis as unknown as { acquireVsCodeApi(): MergeApi }).acquireVsCodeApi();
}
