/**
 * The one context object of the extension. It owns every disposable, grouped by lifetime:
 * the extension's (`own`) and a supervised run's (`ownForRun`, released when its trainer
 * exits), and holds the services the features share: the output channel, the trainer
 * supervisor, the runs index (run folders on disk), the experiment files and the dashboards.
 */
import * as vscode from 'vscode';
import { fork } from 'node:child_process';
import * as nodePath from 'node:path';
import { ExperimentFiles } from './experiments/files';
import { DashboardPanels } from './dashboard/panel';
import { ComparePanels } from './compare/panel';
import { AdapterActions } from './adapters/actions';
import { AdapterCatalog } from './adapters/catalog';
import { AdapterState } from './adapters/state';
import { vscodeAdapterUi } from './adapters/view';
import { PlaygroundPanel } from './playground/panel';
import type { InferenceClient } from './worker/api';
import { WorkerClient } from './worker/client';
import { runsDirFor } from './runs/location';
import { RunsIndex } from './runs/watcher';
import { type Job, Supervisor } from './training/supervisor';
import type { TargetContext } from './targets';

export class LoraLab {
  readonly output: vscode.OutputChannel;
  readonly supervisor: Supervisor;
  readonly runs: RunsIndex;
  readonly experiments: ExperimentFiles;
  readonly dashboards: DashboardPanels;
  readonly compare: ComparePanels;
  /** The inference worker (forked on the first request): generate, score, activate adapters. */
  readonly inference: InferenceClient;
  /** Active adapter, imported adapters, playground history (per workspace). */
  readonly adapterState: AdapterState;
  readonly catalog: AdapterCatalog;
  readonly adapters: AdapterActions;
  readonly playground: PlaygroundPanel;
  private readonly runScopes = new Map<string, vscode.Disposable[]>();

  constructor(readonly extension: vscode.ExtensionContext) {
    this.output = this.own(vscode.window.createOutputChannel('LoRA Lab'));
    const trainer = extension.asAbsolutePath(nodePath.join('dist', 'trainer.js'));
    // Inside VS Code, fork runs Electron as Node (it sets ELECTRON_RUN_AS_NODE); never load ORT here.
    this.supervisor = this.own(new Supervisor({ fork: () => fork(trainer, [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], execArgv: [] }) }));
    this.own(this.supervisor.onEvent((e) => e.type === 'exited' && this.endRunScope(e.job.key)));
    this.own({ dispose: () => [...this.runScopes.keys()].forEach((key) => this.endRunScope(key)) });
    this.runs = this.own(new RunsIndex());
    this.experiments = this.own(new ExperimentFiles());
    this.dashboards = this.own(new DashboardPanels(this));
    this.compare = this.own(new ComparePanels(this));
    const worker = extension.asAbsolutePath(nodePath.join('dist', 'worker.js'));
    this.inference = this.own(
      new WorkerClient({ fork: () => fork(worker, [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], execArgv: [] }), onLog: (line) => this.output.appendLine(`[worker] ${line}`) }),
    );
    this.adapterState = this.own(new AdapterState(extension.workspaceState));
    this.catalog = new AdapterCatalog();
    this.adapters = new AdapterActions({ client: this.inference, state: this.adapterState, catalog: this.catalog, runs: () => this.runs.runs(), ui: vscodeAdapterUi(this) });
    this.playground = this.own(new PlaygroundPanel(this));
  }

  /** Keeps `d` until the extension is deactivated. */
  own<T extends vscode.Disposable>(d: T): T {
    this.extension.subscriptions.push(d);
    return d;
  }

  /** Keeps `d` until the trainer of `job` exits (or the extension is deactivated). */
  ownForRun<T extends vscode.Disposable>(job: Job, d: T): T {
    if (job.phase === 'exited') {
      d.dispose();
      return d;
    }
    const scope = this.runScopes.get(job.key) ?? [];
    scope.push(d);
    this.runScopes.set(job.key, scope);
    return d;
  }

  private endRunScope(key: string): void {
    const scope = this.runScopes.get(key);
    this.runScopes.delete(key);
    scope?.reverse().forEach((d) => d.dispose());
  }

  /** The runs dir for an experiment file: that of its workspace folder (else the first folder, else its own folder). */
  runsDirForFile(file: string): string {
    const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(file)) ?? vscode.workspace.workspaceFolders?.[0];
    if (!folder) return runsDirFor(nodePath.dirname(file), undefined);
    return runsDirFor(folder.uri.fsPath, vscode.workspace.getConfiguration('loralab', folder.uri).get<string>('runsDir'));
  }

  /** Follows the runs dir of every workspace folder and of every live trainer; call again when they change. */
  followRunsDirs(): void {
    const dirs = new Set<string>();
    for (const f of vscode.workspace.workspaceFolders ?? []) {
      if (f.uri.scheme === 'file') dirs.add(runsDirFor(f.uri.fsPath, vscode.workspace.getConfiguration('loralab', f.uri).get<string>('runsDir')));
    }
    for (const j of this.supervisor.jobs()) {
      if (j.args.runsDir) dirs.add(j.args.runsDir);
      if (j.args.resume) dirs.add(nodePath.dirname(j.args.resume));
    }
    this.runs.setDirs(dirs);
  }

  /** Editor state and quick-picks for `targets.ts`. */
  targetContext(): TargetContext {
    return {
      activeFile: () => {
        const uri = vscode.window.activeTextEditor?.document.uri;
        return uri?.scheme === 'file' ? uri.fsPath : undefined;
      },
      activeDashboardRun: () => this.dashboards.activeRun(),
      experiments: () => this.experiments.list(),
      runs: () => this.runs.runs(),
      pick: async (items, placeHolder) => (await vscode.window.showQuickPick(items, { placeHolder, matchOnDescription: true }))?.value,
    };
  }
}
