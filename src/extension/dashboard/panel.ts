/**
 * Run dashboard panels: one per run (opening it again reveals it), restored after a window
 * reload by a `WebviewPanelSerializer`. The protocol work is `session.ts`; this file makes the
 * panel, its HTML (`html.ts`) and forwards the runs index's changes to the sessions.
 */
import * as vscode from 'vscode';
import * as nodePath from 'node:path';
import type { LoraLab } from '../context';
import type { Target } from '../experiments/model';
import { DASHBOARD_VIEW_TYPE } from '../manifest';
import { isDashboardPrefs } from '../../protocol/dashboard';
import { runLabel } from '../../protocol/run-label';
import { dashboardHtml, makeNonce } from './html';
import { DashboardSession } from './session';
import type { AdapterEntry } from '../adapters/catalog';

/** workspaceState key: run folders with an open dashboard (to restore a panel whose page saved no state). */
const OPEN_KEY = 'loralab.openDashboards';
/** workspaceState key: the dashboards' smoothing and log scale, shared by every dashboard of the workspace. */
export const PREFS_KEY = 'loralab.dashboardPrefs';

interface OpenPanel {
  panel: vscode.WebviewPanel;
  session: DashboardSession;
}

/**
 * The run folder a restored panel shows: the page's saved state (`{ run: RunFacts }`), else our
 * own record by title (`titleOf`: the run's label, or its folder name for older panels).
 */
function runDirFromState(state: unknown, title: string, open: readonly string[], titleOf: (dir: string) => string): string | undefined {
  const s = state as { run?: { run_dir?: unknown }; runDir?: unknown } | undefined;
  if (typeof s?.run?.run_dir === 'string') return s.run.run_dir;
  if (typeof s?.runDir === 'string') return s.runDir;
  return open.find((dir) => nodePath.basename(dir) === title || titleOf(dir) === title);
}

export class DashboardPanels implements vscode.Disposable {
  private readonly open = new Map<string, OpenPanel>();
  private active: string | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(private readonly lab: LoraLab) {
    this.subscriptions.push(
      vscode.window.registerWebviewPanelSerializer(DASHBOARD_VIEW_TYPE, {
        deserializeWebviewPanel: async (panel, state) => {
          const runDir = runDirFromState(state, panel.title, this.recorded(), (dir) => this.titleOf(dir));
          if (!runDir || !(await exists(runDir)) || this.open.has(runDir)) panel.dispose();
          else this.adopt(panel, runDir);
        },
      }),
      lab.runs.onChange((c) => {
        for (const dir of c.removed) this.open.get(dir)?.panel.dispose();
        for (const dir of new Set([...c.changed, ...c.metrics])) void this.open.get(dir)?.session.update().catch(() => undefined);
        for (const dir of c.changed) {
          const open = this.open.get(dir);
          if (open) open.panel.title = this.titleOf(dir);
        }
      }),
    );
  }

  /** Opens the dashboard of a run, or reveals it when it is open. */
  show(runDir: string): void {
    const existing = this.open.get(runDir);
    if (existing) {
      existing.panel.reveal();
      return;
    }
    const panel = vscode.window.createWebviewPanel(DASHBOARD_VIEW_TYPE, this.titleOf(runDir), vscode.ViewColumn.Active, this.options());
    this.adopt(panel, runDir);
  }

  /** The run of the focused dashboard panel. */
  activeRun(): string | undefined {
    return this.active;
  }

  /** Leaves the panels open: VS Code restores them through the serializer after a reload. */
  dispose(): void {
    this.subscriptions.forEach((d) => d.dispose());
  }

  /**
   * A panel's tab title: the run named as outside the tree, `tiny · 2026-12-06 23:57:07`
   * (`runLabel`, src/protocol/run-label.ts); its folder name until the runs index has read it.
   */
  private titleOf(runDir: string): string {
    const run = this.lab.runs.find(runDir);
    return run ? runLabel(run) : nodePath.basename(runDir);
  }

  private options(): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    const root = this.lab.extension.extensionUri;
    return {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(root, 'dist', 'webview'), vscode.Uri.joinPath(root, 'media')],
      retainContextWhenHidden: false,
    };
  }

  private adopt(panel: vscode.WebviewPanel, runDir: string): void {
    const webview = panel.webview;
    webview.options = this.options();
    const target: Target = { kind: 'run', runDir };
    const session = new DashboardSession(runDir, {
      post: (m) => webview.postMessage(m),
      stopRun: () => void vscode.commands.executeCommand('loralab.stopRun', target),
      revealRunFolder: () => void vscode.commands.executeCommand('loralab.revealRunFolder', target),
      // The argument has the Adapters view's shape (`adapterFromArg`, src/extension/adapters/view.ts).
      adapterAction: (command, adapterDir) => void this.adapterArg(runDir, adapterDir).then((arg) => vscode.commands.executeCommand(`loralab.${command}`, arg)),
      resumeRun: () => void vscode.commands.executeCommand('loralab.resumeRun', target),
      prefs: () => {
        const saved = this.lab.extension.workspaceState.get<unknown>(PREFS_KEY, null);
        return isDashboardPrefs(saved) ? saved : null;
      },
      savePrefs: (prefs) => void this.lab.extension.workspaceState.update(PREFS_KEY, prefs),
    });
    const script = vscode.Uri.joinPath(this.lab.extension.extensionUri, 'dist', 'webview', 'dashboard.js');
    const style = vscode.Uri.joinPath(this.lab.extension.extensionUri, 'dist', 'webview', 'dashboard.css');
    panel.title = this.titleOf(runDir);
    webview.html = dashboardHtml({
      scriptUri: webview.asWebviewUri(script).toString(),
      styleUri: webview.asWebviewUri(style).toString(),
      cspSource: webview.cspSource,
      nonce: makeNonce(),
      title: nodePath.basename(runDir),
    });
    this.open.set(runDir, { panel, session });
    void this.record();
    if (panel.active) this.active = runDir;
    const subs = [
      webview.onDidReceiveMessage((m) =>
        session.receive(m).catch((e: unknown) => this.lab.output.appendLine(`dashboard ${nodePath.basename(runDir)}: ${(e as Error).message}`)),
      ),
      panel.onDidChangeViewState((e) => {
        if (e.webviewPanel.active) this.active = runDir;
        else if (this.active === runDir) this.active = undefined;
      }),
    ];
    panel.onDidDispose(() => {
      subs.forEach((d) => d.dispose());
      this.open.delete(runDir);
      if (this.active === runDir) this.active = undefined;
      void this.record();
    });
  }

  /** The run's final adapter as the Adapters view lists it (the catalog's entry), else a bare final entry. */
  private async adapterArg(runDir: string, adapterDir: string): Promise<AdapterEntry> {
    const run = this.lab.runs.find(runDir);
    // Every run, as the Adapters view asks (the catalog forgets the runs left out of a call).
    const listed = (await this.lab.catalog.runAdapters(this.lab.runs.runs()).catch(() => [])).find((a) => a.path === adapterDir);
    return listed ?? { kind: 'final', path: adapterDir, val_loss: run?.val_loss ?? null, val_step: null, base_model: null, r: null, lora_alpha: null, problem: null };
  }

  private recorded(): string[] {
    return this.lab.extension.workspaceState.get<string[]>(OPEN_KEY, []);
  }

  private record(): Thenable<void> {
    return this.lab.extension.workspaceState.update(OPEN_KEY, [...this.open.keys()]);
  }
}

async function exists(dir: string): Promise<boolean> {
  try {
    await vscode.workspace.fs.stat(vscode.Uri.file(dir));
    return true;
  } catch {
    return false;
  }
}
