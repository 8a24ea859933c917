/**
 * The Playground panel: one per window (opening it again reveals it), restored after a window
 * reload by a `WebviewPanelSerializer`. The protocol work is `session.ts`; this file makes the
 * panel and its HTML (the dashboard's page shell and CSP, with the playground bundle) and
 * forwards changes of the active adapter and of the history to the session.
 */
import * as vscode from 'vscode';
import type { LoraLab } from '../context';
import { dashboardHtml, makeNonce } from '../dashboard/html';
import { PLAYGROUND_VIEW_TYPE } from '../manifest';
import { PlaygroundSession } from './session';

export class PlaygroundPanel implements vscode.Disposable {
  private open: { panel: vscode.WebviewPanel; session: PlaygroundSession } | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(private readonly lab: LoraLab) {
    this.subscriptions.push(
      vscode.window.registerWebviewPanelSerializer(PLAYGROUND_VIEW_TYPE, {
        deserializeWebviewPanel: async (panel) => {
          if (this.open) panel.dispose();
          else this.adopt(panel);
        },
      }),
      lab.adapterState.onDidChange((what) => {
        const s = this.open?.session;
        if (!s) return;
        const done = what === 'active' ? s.adapterChanged() : what === 'history' ? s.historyChanged() : undefined;
        void done?.catch((e: unknown) => lab.output.appendLine(`playground: ${(e as Error).message}`));
      }),
    );
  }

  /** Opens the playground, or reveals it. */
  show(): void {
    if (this.open) {
      this.open.panel.reveal();
      return;
    }
    this.adopt(vscode.window.createWebviewPanel(PLAYGROUND_VIEW_TYPE, 'LoRA Lab Playground', vscode.ViewColumn.Active, this.options()));
  }

  /** Leaves the panel open: VS Code restores it through the serializer after a reload. */
  dispose(): void {
    this.open?.session.dispose();
    this.subscriptions.forEach((d) => d.dispose());
  }

  private options(): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    const root = this.lab.extension.extensionUri;
    return {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(root, 'dist', 'webview'), vscode.Uri.joinPath(root, 'media')],
      // Keeps a streaming answer (and what the user typed) while the tab is in the background.
      retainContextWhenHidden: true,
    };
  }

  private adopt(panel: vscode.WebviewPanel): void {
    const webview = panel.webview;
    webview.options = this.options();
    const session = new PlaygroundSession({
      post: (m) => webview.postMessage(m),
      client: this.lab.inference,
      state: this.lab.adapterState,
      ensureModel: () => this.lab.adapters.useBase(),
      pickAdapter: () => void vscode.commands.executeCommand('loralab.activateAdapter'),
      log: (line) => this.lab.output.appendLine(line),
    });
    const dist = vscode.Uri.joinPath(this.lab.extension.extensionUri, 'dist', 'webview');
    panel.title = 'LoRA Lab Playground';
    panel.iconPath = vscode.Uri.joinPath(this.lab.extension.extensionUri, 'media', 'loralab.svg');
    webview.html = dashboardHtml({
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(dist, 'playground.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(dist, 'playground.css')).toString(),
      cspSource: webview.cspSource,
      nonce: makeNonce(),
      title: 'LoRA Lab Playground',
      rootClass: 'playground',
    });
    this.open = { panel, session };
    const sub = webview.onDidReceiveMessage((m) => session.receive(m).catch((e: unknown) => this.lab.output.appendLine(`playground: ${(e as Error).message}`)));
    panel.onDidDispose(() => {
      sub.dispose();
      session.dispose();
      if (this.open?.panel === panel) this.open = undefined;
    });
  }
}
