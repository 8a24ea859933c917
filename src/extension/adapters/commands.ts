/**
 * The adapter and playground entries of the command table (`commands.ts` spreads them in). A
 * handler gets the Adapters-view node it was invoked on as `arg`, or nothing from the palette.
 */
import * as vscode from 'vscode';
import type { LoraLab } from '../context';
import { NoTargetError } from '../targets';
import { adapterFromArg } from './view';
import type { AdapterEntry } from './catalog';
import type { Target } from '../experiments/model';

type AdapterHandler = (lab: LoraLab, target: unknown, selection: unknown, arg?: unknown) => Promise<void>;

const needAdapter = (arg: unknown) => {
  const a = adapterFromArg(arg);
  if (!a) throw new NoTargetError('pick an adapter in the Adapters view first');
  return a;
};

/** An Experiments-tree checkpoint row (target `{ kind: 'checkpoint', dir }`) as the adapter catalog lists it; undefined for any other target. */
async function checkpointAdapter(lab: LoraLab, target: unknown): Promise<AdapterEntry | undefined> {
  const t = target as Target | undefined;
  if (t?.kind !== 'checkpoint') return undefined;
  const entry = (await lab.catalog.runAdapters(lab.runs.runs())).find((a) => a.path === t.dir);
  if (!entry) throw new NoTargetError(`${t.dir} is not a complete checkpoint (any more); refresh the Experiments view`);
  return entry;
}

export const adapterCommands = {
  'loralab.activateAdapter': async (lab, t, _s, arg) => {
    await lab.adapters.activate(adapterFromArg(arg) ?? (await checkpointAdapter(lab, t)));
  },
  'loralab.useBaseModel': async (lab) => {
    await lab.adapters.useBase();
  },
  'loralab.importAdapter': async (lab) => {
    await lab.adapters.importAdapter();
  },
  'loralab.openPlayground': async (lab) => lab.playground.show(),
  'loralab.openAdapterInPlayground': async (lab, _t, _s, arg) => {
    const a = adapterFromArg(arg);
    const active = lab.adapterState.active;
    const already = a === null ? active?.path === null : a !== undefined && active?.path === a.path;
    if (a !== undefined && !already && !(await lab.adapters.activate(a))) return;
    lab.playground.show();
  },
  'loralab.revealAdapter': async (_lab, _t, _s, arg) => {
    const uri = vscode.Uri.file(needAdapter(arg).path);
    // The Explorer works in remote windows too; the OS file manager for folders outside the workspace.
    await vscode.commands.executeCommand(vscode.workspace.getWorkspaceFolder(uri) ? 'revealInExplorer' : 'revealFileInOS', uri);
  },
  'loralab.copyAdapterPath': async (_lab, _t, _s, arg) => {
    await vscode.env.clipboard.writeText(needAdapter(arg).path);
  },
  'loralab.removeImportedAdapter': async (lab, _t, _s, arg) => {
    const a = needAdapter(arg);
    if (a.kind !== 'imported') throw new NoTargetError(`${a.path} was not imported; only imported adapters can be removed from the view`);
    await lab.adapterState.removeImported(a.path);
  },
} satisfies Record<string, AdapterHandler>;
