/** The API VS Code injects into every webview (`acquireVsCodeApi`, callable once). */
import type { DashboardToHost } from '../../src/protocol/dashboard';

export interface VsCodeApi<State> {
  postMessage(message: DashboardToHost): void;
  getState(): State | undefined;
  setState(state: State): State;
}

declare global {
  function acquireVsCodeApi<State = unknown>(): VsCodeApi<State>;
}
