/**
 * The merge feature's VS Code wiring: merged adapters (`.loralab/merged/*\/merge.json` of each
 * workspace folder) in the Adapters view's "Merged" group, kept fresh by a file watcher, and
 * the command-table entries "Merge Adapters…" (palette, the Adapters view's selection) and
 * "Merge Into Base Model…" (palette, an adapter's context menu).
 */
import * as vscode from 'vscode';
import type { LoraLab } from '../context';
import type { Target } from '../experiments/model';
import { adapterFromArg } from '../adapters/view';
import { adapterLabel } from '../adapters/model';
import type { AdapterEntry } from '../adapters/catalog';
import { NoTargetError } from '../targets';
import { mergeIntoBaseModel } from './into-base';
import { MergePanel, adapterRow } from './panel';
import { mergedRoot, scanMergedAdapters } from './scan';

const panels = new WeakMap<LoraLab, MergePanel>();

const workspaceFolders = () => (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);

export function registerMerge(lab: LoraLab): void {
  panels.set(lab, lab.own(new MergePanel(lab)));
  lab.catalog.mergedAdapters = () => scanMergedAdapters(workspaceFolders().map(mergedRoot));
  const watcher = lab.own(vscode.workspace.createFileSystemWatcher('**/.loralab/merged/**'));
  const changed = () => lab.catalog.mergedChanged();
  lab.own(watcher.onDidCreate(changed));
  lab.own(watcher.onDidDelete(changed));
  lab.own(watcher.onDidChange(changed));
  lab.own(vscode.workspace.onDidChangeWorkspaceFolders(changed));
}

/** Every distinct adapter among the invoked-on node and the selected nodes, in selection order. */
function selectedAdapters(arg: unknown, selected: unknown[] | undefined): AdapterEntry[] {
  const out: AdapterEntry[] = [];
  for (const x of selected?.length ? selected : [arg]) {
    const a = adapterFromArg(x);
    if (a && !a.problem && !out.some((o) => o.path === a.path)) out.push(a);
  }
  return out;
}

type MergeHandler = (lab: LoraLab, target: Target | undefined, selection?: Target[], arg?: unknown, selected?: unknown[]) => Promise<void>;

export const mergeCommands = {
  'loralab.mergeAdapters': async (lab, _t, _s, arg, selected) => {
    const panel = panels.get(lab)!;
    let rows = selectedAdapters(arg, selected).map(adapterRow);
    if (!rows.length) {
      const picked = await panel.pickAdapters([], 'Adapters to merge (pick two or more; weights and method come next)');
      if (!picked) return;
      rows = picked;
    }
    panel.show(rows);
  },
  'loralab.mergeIntoBase': async (lab, _t, _s, arg) => {
    const a = adapterFromArg(arg);
    if (a === null) throw new NoTargetError('pick an adapter to merge into the base model, not the base model itself');
    const panel = panels.get(lab)!;
    await mergeIntoBaseModel(a, {
      runner: panel.runner(),
      workspaceFolder: workspaceFolders()[0] ?? null,
      log: (line) => lab.output.appendLine(line),
      ui: {
        pickAdapter: async () => {
          const all = (await lab.adapters.all()).filter((x) => !x.problem);
          if (!all.length) throw new NoTargetError('there is no adapter yet: train one or use "Import PEFT Adapter…"');
          const pick = await vscode.window.showQuickPick(
            all.map((x) => ({ label: adapterLabel(x), description: x.kind, detail: x.path, entry: x })),
            { placeHolder: 'Adapter to merge into its base model', matchOnDetail: true },
          );
          return pick?.entry;
        },
        resolveModel: (x) => lab.adapters.resolveModel(x),
        askFolder: (suggested, validate) =>
          Promise.resolve(
            vscode.window.showInputBox({
              title: 'Merge Into Base Model: folder for the new model',
              prompt: 'A new (or empty) folder; it gets config, tokenizer and safetensors with W + s·B·A folded in',
              value: suggested,
              valueSelection: [suggested.length, suggested.length],
              validateInput: validate,
              ignoreFocusOut: true,
            }),
          ),
        progress: (title, task) =>
          Promise.resolve(
            vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, (progress, token) =>
              task(
                (message, increment) => progress.report({ message, increment }),
                (stop) => token.onCancellationRequested(stop),
              ),
            ),
          ),
        info: async (message, ...actions) => vscode.window.showInformationMessage(`LoRA Lab: ${message}`, ...actions),
        reveal: (dir) => {
          const uri = vscode.Uri.file(dir);
          void vscode.commands.executeCommand(vscode.workspace.getWorkspaceFolder(uri) ? 'revealInExplorer' : 'revealFileInOS', uri);
        },
      },
    });
  },
} satisfies Record<string, MergeHandler>;
