/** The Experiments view: `model.ts` nodes as `vscode.TreeItem`s, rebuilt when files, runs or trainers change. */
import * as vscode from 'vscode';
import type { LoraLab } from '../context';
import { EXPERIMENTS_VIEW } from '../manifest';
import { sweepStatus } from '../../launch/status';
import { ClusterPoller } from './cluster';
import { type TreeNode, buildTree, withCheckpointValidation } from './model';

const COLLAPSIBLE = {
  none: vscode.TreeItemCollapsibleState.None,
  collapsed: vscode.TreeItemCollapsibleState.Collapsed,
  expanded: vscode.TreeItemCollapsibleState.Expanded,
} as const;

class ExperimentsTree implements vscode.TreeDataProvider<TreeNode> {
  private roots: TreeNode[] = [];
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;

  constructor(
    private readonly lab: LoraLab,
    private readonly cluster?: ClusterPoller,
  ) {}

  rebuild(): void {
    this.roots = buildTree({
      experiments: this.lab.experiments.list(),
      runs: this.lab.runs.runs(),
      starting: this.lab.supervisor.jobs().flatMap((j) => (j.phase === 'starting' && j.args.experimentFile ? [j.args.experimentFile] : [])),
      cluster: this.cluster && ((dir) => this.cluster!.view(dir)),
    });
    // The sweeps shown: the poller asks Slurm / Kubernetes about those that run there.
    this.cluster?.setSweeps(this.roots.flatMap((n) => n.children).filter((n) => n.contextValue === 'sweep' && n.path).map((n) => n.path!));
    this.changed.fire();
  }

  async getChildren(node?: TreeNode): Promise<TreeNode[]> {
    if (!node) return this.roots;
    if (node.target.kind !== 'run' || !node.children.some((c) => c.target.kind === 'checkpoint')) return node.children;
    // Checkpoints with their validation loss, the best marked: the adapter catalog's values (cached per run state).
    // Asked for every run as the Adapters view asks (the catalog forgets the runs left out of a call).
    const adapters = await this.lab.catalog.runAdapters(this.lab.runs.runs()).catch(() => []);
    return withCheckpointValidation(node.children, new Map(adapters.filter((a) => a.kind === 'checkpoint').map((a) => [a.path, a])));
  }

  getTreeItem(node: TreeNode): vscode.TreeItem {
    const item = new vscode.TreeItem(node.label, COLLAPSIBLE[node.collapsible]);
    item.id = node.id;
    item.description = node.description;
    item.tooltip = node.tooltip;
    item.contextValue = node.contextValue;
    item.iconPath = new vscode.ThemeIcon(node.icon.id, node.icon.color ? new vscode.ThemeColor(node.icon.color) : undefined);
    item.accessibilityInformation = { label: node.ariaLabel };
    if (node.target.kind === 'experiment') {
      item.resourceUri = vscode.Uri.file(node.target.file); // problem and SCM decorations of the file
      item.command = { title: 'Open', command: 'vscode.open', arguments: [item.resourceUri] };
    } else if (node.target.kind === 'run') {
      item.command = { title: 'Open Dashboard', command: 'loralab.openDashboard', arguments: [node] };
    }
    return item;
  }

  dispose(): void {
    this.changed.dispose();
  }
}

/** The Experiments view; read-only (with a note) in Restricted Mode. */
export function registerExperimentsView(lab: LoraLab): void {
  // Cluster state of Slurm / Kubernetes sweeps: squeue / kubectl in child processes every ~10 s
  // while the view is visible; a failure is a line in the sweep's tooltip (no notification).
  let rebuildSoon = () => undefined as void;
  const cluster = lab.own(new ClusterPoller({ status: sweepStatus, onChange: () => rebuildSoon() }));
  const tree = lab.own(new ExperimentsTree(lab, cluster));
  const view = lab.own(vscode.window.createTreeView(EXPERIMENTS_VIEW, { treeDataProvider: tree, showCollapseAll: true, canSelectMany: true }));
  cluster.setVisible(view.visible !== false);
  lab.own(view.onDidChangeVisibility((e) => cluster.setVisible(e.visible)));
  const note = () => (view.message = vscode.workspace.isTrusted ? undefined : 'Restricted Mode: runs can be viewed, not started.');
  note();
  lab.own(vscode.workspace.onDidGrantWorkspaceTrust(note));
  let timer: NodeJS.Timeout | undefined;
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(() => tree.rebuild(), 50);
  };
  rebuildSoon = soon;
  lab.own({ dispose: () => clearTimeout(timer) });
  lab.own(lab.experiments.onDidChange(soon));
  lab.own(lab.runs.onChange(soon));
  lab.own(lab.supervisor.onEvent((e) => (e.type === 'started' || e.type === 'run' || e.type === 'exited') && soon()));
}
