/** The `*.lora.json` files of the workspace, kept current with a file-system watcher. */
import * as vscode from 'vscode';
import { EXPERIMENT_FILE_SUFFIX } from '../../experiment/index';
import type { ExperimentFile } from './model';

/** Folders never searched for experiment files. */
export const SEARCH_EXCLUDE = '{**/node_modules/**,**/.git/**,**/.loralab/**}';
const SKIP = /[\\/](node_modules|\.git|\.loralab)[\\/]/;

export class ExperimentFiles implements vscode.Disposable {
  private readonly files = new Map<string, ExperimentFile>();
  private readonly changed = new vscode.EventEmitter<void>();
  private readonly subscriptions: vscode.Disposable[] = [this.changed];
  /** Fires when files were added or removed. */
  readonly onDidChange = this.changed.event;

  constructor() {
    const watcher = vscode.workspace.createFileSystemWatcher(`**/*${EXPERIMENT_FILE_SUFFIX}`, false, true, false);
    this.subscriptions.push(
      watcher,
      watcher.onDidCreate((uri) => this.add(uri)),
      watcher.onDidDelete((uri) => this.files.delete(uri.fsPath) && this.changed.fire()),
      vscode.workspace.onDidChangeWorkspaceFolders(() => void this.rescan()),
    );
  }

  /** Every experiment file found, in no particular order. */
  list(): ExperimentFile[] {
    return [...this.files.values()];
  }

  /** Searches the workspace again (on start and on Refresh). */
  async rescan(): Promise<void> {
    const uris = await vscode.workspace.findFiles(`**/*${EXPERIMENT_FILE_SUFFIX}`, SEARCH_EXCLUDE);
    this.files.clear();
    for (const uri of uris) this.put(uri);
    this.changed.fire();
  }

  /** Adds a file this window just wrote (before the watcher reports it). */
  add(uri: vscode.Uri): void {
    if (this.put(uri)) this.changed.fire();
  }

  private put(uri: vscode.Uri): boolean {
    if (uri.scheme !== 'file' || SKIP.test(uri.fsPath) || this.files.has(uri.fsPath)) return false;
    const folder = vscode.workspace.getWorkspaceFolder(uri);
    this.files.set(uri.fsPath, { file: uri.fsPath, workspaceFolder: folder?.uri.fsPath ?? null });
    return true;
  }

  dispose(): void {
    this.subscriptions.forEach((d) => d.dispose());
  }
}
