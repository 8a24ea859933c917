/**
 * Read-only documents for evaluation results (Evaluate Selection's completions), served from
 * memory under the `loralab-eval:` URI scheme by a `TextDocumentContentProvider`: VS Code opens
 * such documents read-only, names them by their path, and never asks to save them (unlike
 * untitled documents). Registered once at activation (`registerEvaluation`).
 */
import * as vscode from 'vscode';

export const EVAL_SCHEME = 'loralab-eval';

/** What `provideTextDocumentContent` answers for a document that was closed and forgotten. */
export const FORGOTTEN_TEXT = '(this LoRA Lab evaluation result was closed; run "LoRA Lab: Evaluate Selection" again)';

export class EvalDocuments implements vscode.TextDocumentContentProvider {
  /** Text by the URI's query (a counter: every `add` is a new document, even with the same title). */
  private readonly texts = new Map<string, string>();
  private next = 0;

  /**
   * Keeps `text` and returns the URI to open it: `loralab-eval:/<title>?<n>`. The title is the
   * name VS Code shows (tab, breadcrumbs); path separators in it become "∕" (U+2215).
   */
  add(title: string, text: string): vscode.Uri {
    const id = String(++this.next);
    this.texts.set(id, text);
    return vscode.Uri.from({ scheme: EVAL_SCHEME, path: `/${title.replace(/[\\/]/g, '\u2215')}`, query: id });
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.query) ?? FORGOTTEN_TEXT;
  }

  /** Drops the text of a closed document. */
  forget(uri: vscode.Uri): void {
    if (uri.scheme === EVAL_SCHEME) this.texts.delete(uri.query);
  }

  /** How many texts are kept (tests). */
  get size(): number {
    return this.texts.size;
  }

  dispose(): void {
    this.texts.clear();
  }
}

/**
 * Registers the `loralab-eval:` provider (once, at activation); texts are dropped when VS Code
 * closes their document. Every registration is owned by `own` (the extension's lifetime).
 */
export function registerEvalDocuments(own: <T extends vscode.Disposable>(d: T) => T): EvalDocuments {
  const docs = own(new EvalDocuments());
  own(vscode.workspace.registerTextDocumentContentProvider(EVAL_SCHEME, docs));
  own(vscode.workspace.onDidCloseTextDocument((d) => docs.forget(d.uri)));
  return docs;
}
