/**
 * A typed event source for the plain (vscode-free) modules of the extension. Its `event`
 * has the shape of `vscode.Event`: subscribing returns a `{ dispose() }`, so the adapters can
 * hand subscriptions to the context like any VS Code disposable.
 */

/** Anything that releases a resource; structurally a `vscode.Disposable`. */
export interface Disposable {
  dispose(): void;
}

export type Listener<T> = (e: T) => void;

export class Emitter<T> implements Disposable {
  private readonly listeners = new Set<Listener<T>>();

  /** Subscribes `listener`; dispose the result to unsubscribe. */
  readonly event = (listener: Listener<T>): Disposable => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };

  /**
   * Calls every listener with `e`. A listener that throws does not keep the others from
   * running; its error is rethrown asynchronously so it is reported, not swallowed.
   */
  fire(e: T): void {
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch (err) {
        setTimeout(() => {
          throw err;
        });
      }
    }
  }

  dispose(): void {
    this.listeners.clear();
  }
}
