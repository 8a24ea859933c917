/**
 * Compare panels: one per set of runs (comparing the same set again reveals it), restored after
 * a window reload by a `WebviewPanelSerializer` from the run folders the page saved. The
 * protocol work is `session.ts`; this file makes the panel, its HTML (the dashboard's page and
 * CSP, with the compare bundle), the save dialog of the exports, and forwards the runs index's
 * changes to the sessions.
 */
import * as vscode from 'vscode';
import * as nodePath from 'node:path';
import type { LoraLab } from '../context';
import { dashboardHtml, makeNonce } from '../dashboard/html';
import { COMPARE_VIEW_TYPE } from '../manifest';
import type { ComparePreset } from '../../protocol/compare';
import { CompareSession } from './session';

interface OpenPanel {
  panel: vscode.WebviewPanel;
  session: CompareSession;
}

/** The run folders a restored panel shows: the page's saved state `{ runDirs }`. */
function runDirsFromState(state: unknown): string[] | undefined {
  const dirs = (state as { runDirs?: unknown } | undefined)?.runDirs;
  return Array.isArray(dirs) && dirs.length && dirs.every((d) => typeof d === 'string') ? (dirs as string[]) : undefined;
}

const keyOf = (dirs: readonly string[]) => JSON.stringify([...dirs].sort());

export class ComparePanels implements vscode.Disposable {
  private readonly open = new Map<string, OpenPanel>();
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(private readonly lab: LoraLab) {
    this.subscriptions.push(
      vscode.window.registerWebviewPanelSerializer(COMPARE_VIEW_TYPE, {
        deserializeWebviewPanel: async (panel, state) => {
          const dirs = runDirsFromState(state);
          if (!dirs || this.open.has(keyOf(dirs))) panel.dispose();
          else this.adopt(panel, dirs);
        },
      }),
      lab.runs.onChange((c) => {
        const changed = new Set([...c.changed, ...c.metrics]);
        if (changed.size) for (const { session } of this.open.values()) void session.update(changed).catch(() => undefined);
      }),
    );
  }

  /** Opens a Compare view of these run folders, or reveals the one already showing them. */
  show(runDirs: readonly string[], preset: ComparePreset | null = null): void {
    const existing = this.open.get(keyOf(runDirs));
    if (existing) {
      existing.panel.reveal();
      return;
    }
    const panel = vscode.window.createWebviewPanel(COMPARE_VIEW_TYPE, title(runDirs), vscode.ViewColumn.Active, this.options());
    this.adopt(panel, runDirs, preset);
  }

  dispose(): void {
    this.subscriptions.forEach((d) => d.dispose());
  }

  private options(): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    const root = this.lab.extension.extensionUri;
    return {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(root, 'dist', 'webview'), vscode.Uri.joinPath(root, 'media')],
      retainContextWhenHidden: false,
    };
  }

  private adopt(panel: vscode.WebviewPanel, runDirs: readonly string[], preset: ComparePreset | null = null): void {
    const webview = panel.webview;
    webview.options = this.options();
    const session = new CompareSession(runDirs, {
      post: (m) => webview.postMessage(m),
      save: (bytes, suggestedName, filter) => this.save(bytes, suggestedName, filter),
      openDashboard: (runDir) => this.lab.dashboards.show(runDir),
      inference: this.lab.inference,
    }, undefined, undefined, preset);
    const dist = vscode.Uri.joinPath(this.lab.extension.extensionUri, 'dist', 'webview');
    panel.title = title(runDirs);
    webview.html = dashboardHtml({
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(dist, 'compare.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(dist, 'compare.css')).toString(),
      cspSource: webview.cspSource,
      nonce: makeNonce(),
      title: panel.title,
      rootClass: 'compare',
    });
    const key = keyOf(runDirs);
    this.open.set(key, { panel, session });
    const sub = webview.onDidReceiveMessage((m) =>
      session.receive(m).catch((e: unknown) => {
        const msg = (e as Error).message.split('\n')[0];
        this.lab.output.appendLine(`compare: ${msg}`);
        void vscode.window.showErrorMessage(`LoRA Lab: ${msg}`);
      }),
    );
    panel.onDidDispose(() => {
      sub.dispose();
      session.dispose();
      this.open.delete(key);
    });
  }

  private async save(bytes: Uint8Array, suggestedName: string, filter: { name: string; extensions: string[] }): Promise<string | undefined> {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const uri = await vscode.window.showSaveDialog({
      defaultUri: folder ? vscode.Uri.joinPath(folder, suggestedName) : undefined,
      filters: { [filter.name]: filter.extensions },
      saveLabel: 'Export',
      title: `Export ${suggestedName}`,
    });
    if (!uri) return undefined;
    try {
      await vscode.workspace.fs.writeFile(uri, bytes);
    } catch (e) {
      throw new Error(`could not write ${uri.fsPath}: ${(e as Error).message.split('\n')[0]}; choose another folder`, { cause: e });
    }
    void vscode.window.showInformationMessage(`LoRA Lab: exported ${nodePath.basename(uri.fsPath)}.`);
    return uri.fsPath;
  }
}

function title(runDirs: readonly string[]): string {
  return runDirs.length === 2 ? `Compare ${runDirs.map((d) => nodePath.basename(d)).join(' ↔ ')}` : `Compare ${runDirs.length} runs`;
}
