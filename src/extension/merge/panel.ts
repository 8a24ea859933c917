/**
 * The Merge panel: one per window (opening it again reveals it and adds the adapters given).
 * The protocol work is `session.ts`; this file makes the panel and its HTML (the dashboard's
 * page shell and CSP, with the merge bundle) and the VS Code parts the session needs: the
 * adapter quick pick, and after a merge the Adapters view refresh and the offer to open the new
 * adapter in the playground.
 */
import * as vscode from 'vscode';
import * as nodePath from 'node:path';
import type { LoraLab } from '../context';
import { dashboardHtml, makeNonce } from '../dashboard/html';
import { MERGE_VIEW_TYPE } from '../manifest';
import type { MergeAdapterRow, MergePlan } from '../../protocol/merge';
import type { AdapterEntry } from '../adapters/catalog';
import { adapterLabel } from '../adapters/model';
import { type CliRunner, forkCliRunner } from './cli';
import { mergedRoot } from './scan';
import { MergeSession } from './session';

/** An Adapters-view entry as a row of the page. */
export function adapterRow(a: AdapterEntry): MergeAdapterRow {
  return { path: a.path, label: adapterLabel(a), r: a.r, lora_alpha: a.lora_alpha };
}

const sizeText = (b: number): string => (b >= 1e6 ? `${(b / 1e6).toFixed(1)} MB` : `${(b / 1e3).toFixed(1)} kB`);

export class MergePanel implements vscode.Disposable {
  private open: { panel: vscode.WebviewPanel; session: MergeSession } | undefined;

  constructor(private readonly lab: LoraLab) {}

  /** `dist/cli.js` run as a child process (JSON lines), its log lines to the output channel. */
  runner(): CliRunner {
    return forkCliRunner(this.lab.extension.asAbsolutePath(nodePath.join('dist', 'cli.js')), { onLog: (line) => this.lab.output.appendLine(`[merge] ${line}`) });
  }

  /** Opens the Merge page with `rows`, or reveals it and adds those not listed yet. */
  show(rows: MergeAdapterRow[]): void {
    if (this.open) {
      this.open.panel.reveal();
      if (rows.length) void this.open.panel.webview.postMessage({ v: 1, type: 'adapters', adapters: rows });
      return;
    }
    const root = this.lab.extension.extensionUri;
    const panel = vscode.window.createWebviewPanel(MERGE_VIEW_TYPE, 'Merge Adapters', vscode.ViewColumn.Active, {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(root, 'dist', 'webview'), vscode.Uri.joinPath(root, 'media')],
      retainContextWhenHidden: true, // keeps the weights typed and a running merge's state
    });
    const webview = panel.webview;
    const folder = vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file');
    const session = new MergeSession(rows, {
      post: (m) => webview.postMessage(m),
      runner: this.runner(),
      pickAdapters: (exclude) => this.pickAdapters(exclude),
      folder: folder ? mergedRoot(folder.uri.fsPath) : null,
      merged: (dir, name, plan) => this.afterMerge(dir, name, plan),
      log: (line) => this.lab.output.appendLine(line),
    });
    const dist = vscode.Uri.joinPath(root, 'dist', 'webview');
    panel.iconPath = vscode.Uri.joinPath(root, 'media', 'loralab.svg');
    webview.html = dashboardHtml({
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(dist, 'merge.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(dist, 'merge.css')).toString(),
      cspSource: webview.cspSource,
      nonce: makeNonce(),
      title: 'Merge Adapters',
      rootClass: 'merge',
    });
    this.open = { panel, session };
    const sub = webview.onDidReceiveMessage((m) => session.receive(m).catch((e: unknown) => this.lab.output.appendLine(`merge: ${(e as Error).message}`)));
    panel.onDidDispose(() => {
      sub.dispose();
      session.dispose();
      if (this.open?.panel === panel) this.open = undefined;
    });
  }

  dispose(): void {
    this.open?.panel.dispose();
  }

  /** A multi-select quick pick of the usable adapters not in `exclude`. */
  async pickAdapters(exclude: readonly string[], placeHolder = 'Adapters to merge'): Promise<MergeAdapterRow[] | undefined> {
    const all = (await this.lab.adapters.all()).filter((a) => !a.problem && !exclude.includes(a.path));
    if (!all.length) {
      void vscode.window.showInformationMessage(`LoRA Lab: ${exclude.length ? 'no other adapters to add' : 'there is no adapter to merge yet: train one or use "Import PEFT Adapter…"'}.`);
      return undefined;
    }
    const picked = await vscode.window.showQuickPick(
      all.map((a) => ({ label: adapterLabel(a), description: [a.kind, a.r !== null ? `r ${a.r}` : undefined].filter(Boolean).join(' · '), detail: a.path, entry: a })),
      { canPickMany: true, placeHolder, matchOnDetail: true },
    );
    return picked?.map((p) => adapterRow(p.entry));
  }

  private async afterMerge(dir: string, name: string, plan: MergePlan): Promise<void> {
    this.lab.catalog.mergedChanged();
    const choice = await vscode.window.showInformationMessage(
      `LoRA Lab: merged adapter ${name} written (${plan.method}, r ${plan.r}, ${sizeText(plan.bytes)}).`,
      'Open in Playground',
      'Reveal Folder',
    );
    if (choice === 'Open in Playground') {
      const entry = (await this.lab.catalog.mergedAdapters()).find((a) => a.path === dir);
      await vscode.commands.executeCommand('loralab.openAdapterInPlayground', entry ?? { kind: 'merged', path: dir, val_loss: null, val_step: null, base_model: null, r: plan.r, lora_alpha: plan.lora_alpha, problem: null });
    } else if (choice === 'Reveal Folder') {
      await vscode.commands.executeCommand('loralab.revealAdapter', { kind: 'merged', path: dir });
    }
  }
}
