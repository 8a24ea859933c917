/**
 * The API VS Code injects into the playground webview (`acquireVsCodeApi`, callable once), typed
 * with the playground's messages. (The dashboard declares the global with its own messages.)
 */
import type { PlaygroundToHost } from '../../src/protocol/playground';

export interface PlaygroundApi<State> {
  postMessage(message: PlaygroundToHost): void;
  getState(): State | undefined;
  setState(state: State): State;
}

export function acquirePlaygroundApi<State>(): PlaygroundApi<State> {
  return (globalThis as unknown as { acquireVsCodeApi<S>(): PlaygroundApi<S> }).acquireVsCodeApi<State>();
}
