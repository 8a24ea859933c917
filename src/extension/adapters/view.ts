/**
 * The Adapters view (`model.ts` nodes as `vscode.TreeItem`s, rebuilt when runs, imports or the
 * active adapter change), the status-bar item of the active adapter (click: Activate Adapter),
 * and the VS Code side of `AdapterUi` (quick-picks, dialogs, progress).
 */
import * as vscode from 'vscode';
import type { LoraLab } from '../context';
import { ADAPTERS_VIEW } from '../manifest';
import type { PickItem } from '../targets';
import type { AdapterUi } from './actions';
import type { AdapterEntry } from './catalog';
import { type AdapterNode, buildAdapterTree } from './model';

const COLLAPSIBLE = {
  none: vscode.TreeItemCollapsibleState.None,
  collapsed: vscode.TreeItemCollapsibleState.Collapsed,
  expanded: vscode.TreeItemCollapsibleState.Expanded,
} as const;

class AdaptersTree implements vscode.TreeDataProvider<AdapterNode> {
  private roots: AdapterNode[] = [];
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private generation = 0;

  constructor(private readonly lab: LoraLab) {}

  async rebuild(): Promise<void> {
    const mine = ++this.generation;
    const { catalog, adapterState: state } = this.lab;
    const [runAdapters, imported, merged] = await Promise.all([catalog.runAdapters(this.lab.runs.runs()), catalog.importedAdapters(state.imported), catalog.mergedAdapters()]);
    if (mine !== this.generation) return; // a newer rebuild started meanwhile
    this.roots = buildAdapterTree({ runAdapters, imported, merged, active: state.active });
    this.changed.fire();
  }

  getChildren(node?: AdapterNode): AdapterNode[] {
    return node ? node.children : this.roots;
  }

  getTreeItem(node: AdapterNode): vscode.TreeItem {
    const item = new vscode.TreeItem(node.label, COLLAPSIBLE[node.collapsible]);
    item.id = node.id;
    item.description = node.description;
    item.tooltip = node.tooltip;
    item.contextValue = node.contextValue;
    item.iconPath = new vscode.ThemeIcon(node.icon.id, node.icon.color ? new vscode.ThemeColor(node.icon.color) : undefined);
    item.accessibilityInformation = { label: node.ariaLabel };
    return item;
  }

  dispose(): void {
    this.changed.dispose();
  }
}

/** The Adapters view and the status-bar item of the active adapter. */
export function registerAdaptersView(lab: LoraLab): void {
  const tree = lab.own(new AdaptersTree(lab));
  // canSelectMany: "Merge Adapters…" takes the selected adapters.
  lab.own(vscode.window.createTreeView(ADAPTERS_VIEW, { treeDataProvider: tree, showCollapseAll: true, canSelectMany: true }));
  const item = lab.own(vscode.window.createStatusBarItem('loralab.activeAdapter', vscode.StatusBarAlignment.Left, 9));
  item.name = 'LoRA Lab Active Adapter';
  item.command = { title: 'Activate Adapter', command: 'loralab.activateAdapter' };
  const renderStatus = () => {
    const a = lab.adapterState.active;
    item.text = a ? `$(layers) ${a.path ? a.label : 'base model'}` : '$(layers) no adapter';
    item.tooltip = a ? `LoRA Lab: ${a.path ? `adapter ${a.path}` : 'base model alone'}\nmodel ${a.model}\nClick to activate another adapter` : 'LoRA Lab: no adapter active. Click to activate one';
    item.accessibilityInformation = { label: a ? `LoRA Lab active adapter: ${a.path ? a.label : 'base model'}` : 'LoRA Lab: no adapter active' };
    item.show();
  };
  renderStatus();
  let timer: NodeJS.Timeout | undefined;
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(() => void tree.rebuild().catch((e: unknown) => lab.output.appendLine(`adapters view: ${(e as Error).message}`)), 50);
  };
  lab.own({ dispose: () => clearTimeout(timer) });
  lab.own(lab.runs.onChange(soon));
  lab.own(lab.catalog.onDidChangeMerged(soon));
  lab.own(
    lab.adapterState.onDidChange((what) => {
      if (what === 'history') return;
      if (what === 'active') renderStatus();
      soon();
    }),
  );
  soon();
}

/** The adapter a command was invoked on: a node of the Adapters view (or a bare AdapterEntry), else undefined. */
export function adapterFromArg(arg: unknown): AdapterEntry | null | undefined {
  const t = (arg as { target?: unknown } | undefined)?.target ?? arg;
  if (typeof t !== 'object' || t === null) return undefined;
  const x = t as { kind?: unknown; adapter?: unknown; path?: unknown };
  if (x.kind === 'base') return null;
  const a = (x.kind === 'adapter' ? x.adapter : x) as Partial<AdapterEntry> | undefined;
  if (a && typeof a.path === 'string' && typeof a.kind === 'string' && ['final', 'checkpoint', 'imported', 'merged'].includes(a.kind)) return a as AdapterEntry;
  return undefined;
}

/** `AdapterUi` on VS Code's quick-pick, dialogs and notifications. */
export function vscodeAdapterUi(lab: LoraLab): AdapterUi {
  return {
    pick: async <T>(items: PickItem<T>[], placeHolder: string) => (await vscode.window.showQuickPick(items, { placeHolder, matchOnDescription: true, matchOnDetail: true }))?.value,
    pickFolder: async (title, openLabel) => (await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: false, title, openLabel }))?.[0]?.fsPath,
    modelSetting: () => vscode.workspace.getConfiguration('loralab').get<string>('modelPath') ?? '',
    info: async (message, ...actions) => vscode.window.showInformationMessage(`LoRA Lab: ${message}`, ...actions),
    progress: (title, task) => Promise.resolve(vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title }, task)),
    openPlayground: () => lab.playground.show(),
  };
}
