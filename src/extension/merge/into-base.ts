/**
 * "LoRA Lab: Merge Into Base Model…": asks for the adapter (unless invoked on one), its base
 * model and a new output folder, then runs `loralab merge-into-base --json` as a child process
 * with a cancellable progress notification fed by its `progress` events. Cancel kills the child:
 * the CLI writes into a hidden partial folder and removes it on SIGTERM; should the child die
 * without doing so, the partial folder is removed here by its name (`partialFolderPath` with the
 * child's pid), so no half-written model folder is left. Errors are one line (the CLI's
 * message). Plain; the UI is injected (`IntoBaseUi`).
 */
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { partialFolderPath } from '../../engine/merge/folder';
import type { AdapterEntry } from '../adapters/catalog';
import { adapterLabel } from '../adapters/model';
import { CliCancelled, type CliRunner, callCli } from './cli';

export interface IntoBaseUi {
  /** Asks which adapter (from the palette); undefined when dismissed. */
  pickAdapter(): Promise<AdapterEntry | undefined>;
  /** The base model folder of `adapter` (AdapterActions.resolveModel); undefined when dismissed. */
  resolveModel(adapter: AdapterEntry): Promise<string | undefined>;
  /** Asks for the output folder, prefilled with `suggested`; `validate` gives a message for a bad one. */
  askFolder(suggested: string, validate: (path: string) => Promise<string | undefined>): Promise<string | undefined>;
  /** Runs `task` under a cancellable progress notification; `report(message, increment in %)`. */
  progress<T>(title: string, task: (report: (message: string, increment: number) => void, onCancel: (stop: () => void) => void) => Promise<T>): Promise<T>;
  /** An information message with buttons; the button chosen. */
  info(message: string, ...actions: string[]): Promise<string | undefined>;
  /** Shows a folder in the Explorer / the OS file manager. */
  reveal(dir: string): void;
}

export interface IntoBaseDeps {
  ui: IntoBaseUi;
  runner: CliRunner;
  /** The first workspace folder (the default output goes to its `.loralab/models/`); null without one. */
  workspaceFolder: string | null;
  log(line: string): void;
}

/** What the CLI reported. */
export interface IntoBaseOutcome {
  out: string;
  tensors: number;
  merged: number;
  shards: string[];
}

/** A default output folder: `<workspace>/.loralab/models/<model>+<adapter>`, else beside the adapter. */
export function suggestedOutput(adapter: AdapterEntry, model: string, workspaceFolder: string | null): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|-+$/g, '') || 'adapter';
  const name = `${safe(nodePath.basename(model))}+${safe(adapterLabel(adapter))}`;
  return workspaceFolder ? nodePath.join(workspaceFolder, '.loralab', 'models', name) : nodePath.join(nodePath.dirname(adapter.path), name);
}

/** Why `path` cannot be the output folder (relative, a file, a folder with files), or undefined. */
export async function outputProblem(path: string): Promise<string | undefined> {
  if (!path.trim()) return 'Enter a folder for the merged model';
  if (!nodePath.isAbsolute(path)) return 'Enter an absolute folder path';
  try {
    const st = await fsp.stat(path);
    if (!st.isDirectory()) return `${path} is a file; choose a new folder`;
    if ((await fsp.readdir(path)).length) return `${path} is not empty; choose a new folder`;
  } catch {
    // missing: it will be created
  }
  return undefined;
}

/**
 * The whole command. Returns the outcome, 'cancelled' when the user stopped it, undefined when
 * a question was dismissed.
 * @throws Error with one line (the CLI's message) when the merge fails
 */
export async function mergeIntoBaseModel(target: AdapterEntry | undefined, d: IntoBaseDeps): Promise<IntoBaseOutcome | 'cancelled' | undefined> {
  const adapter = target ?? (await d.ui.pickAdapter());
  if (!adapter) return undefined;
  if (adapter.problem) throw new Error(adapter.problem);
  const model = await d.ui.resolveModel(adapter);
  if (!model) return undefined;
  const out = await d.ui.askFolder(suggestedOutput(adapter, model, d.workspaceFolder), outputProblem);
  if (!out) return undefined;
  const args = ['merge-into-base', '--model', model, '--adapter', adapter.path, '--out', out, '--json'];
  d.log(`loralab ${args.join(' ')}`);
  const outcome = await d.ui.progress(`LoRA Lab: merging ${adapterLabel(adapter)} into ${nodePath.basename(model)}`, async (report, onCancel) => {
    let shown = 0;
    const call = callCli(d.runner, args, (e) => {
      const done = Number(e.done);
      const total = Number(e.total);
      if (!(total > 0 && done >= shown)) return;
      report(`${done}/${total} tensors`, (100 * (done - shown)) / total);
      shown = done;
    });
    onCancel(() => call.cancel());
    try {
      const e = await call.result;
      return { out, tensors: Number(e.tensors), merged: Number(e.merged), shards: Array.isArray(e.shards) ? e.shards.map(String) : [] };
    } catch (err) {
      if (!(err instanceof CliCancelled)) throw err;
      if (call.pid !== undefined) await fsp.rm(partialFolderPath(out, call.pid), { recursive: true, force: true }).catch(() => undefined);
      return 'cancelled' as const;
    }
  });
  if (outcome === 'cancelled') {
    d.log(`merge into base stopped: ${out} was not written`);
    void d.ui.info(`Merge into base stopped; ${nodePath.basename(out)} was not written.`);
    return outcome;
  }
  d.log(`merged ${adapter.path} into ${model}: ${out}`);
  void d.ui
    .info(`Wrote ${out}: ${outcome.tensors} tensors in ${outcome.shards.length} shard(s), ${outcome.merged} adapted weights folded (W + s·B·A).`, 'Reveal Folder')
    .then((choice) => choice && d.ui.reveal(out));
  return outcome;
}
