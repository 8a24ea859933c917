/**
 * The host side of the Merge page (protocol: src/protocol/merge.ts): answers `ready` with
 * `init`, runs previews (`loralab merge --dry-run --json`) and merges (`loralab merge --out
 * <folder>/<name> --json`) as child processes through a `CliRunner`, one preview and one merge
 * at a time, and reports each outcome as one message (errors: the CLI's one line). Plain; the
 * panel (`panel.ts`) injects `post`, the runner and the VS Code parts.
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { partialFolderPath } from '../../engine/merge/folder';
import {
  type HostToMerge, type MergeAdapterRow, type MergePlan, type MergeRequest, isMergePlan, isMergeToHost,
} from '../../protocol/merge';
import { type CliCall, CliCancelled, type CliEvent, type CliRunner, callCli, mergeArgs } from './cli';

export interface MergeSessionDeps {
  post(m: HostToMerge): unknown;
  runner: CliRunner;
  /** More adapters to merge (a quick pick without `exclude`); undefined when dismissed. */
  pickAdapters(exclude: readonly string[]): Promise<MergeAdapterRow[] | undefined>;
  /** Where merged adapters go (`<workspace>/.loralab/merged`); null without a workspace folder. */
  folder: string | null;
  /** After a merge wrote `dir`: refresh the Adapters view, offer the playground. */
  merged(dir: string, name: string, plan: MergePlan): Promise<void> | void;
  log(line: string): void;
}

/** The plan inside a `done` / `plan` event of `loralab merge --json`, or undefined. */
export function planFromEvent(e: CliEvent): MergePlan | undefined {
  const plan = { method: e.method, r: e.r, lora_alpha: e.lora_alpha, bytes: e.bytes, modules: e.modules };
  return isMergePlan(plan) ? plan : undefined;
}

/** The first `merged-<n>` (n = 1, 2, …) that does not exist in `folder`. */
export function freeName(folder: string | null, stem = 'merged'): string {
  for (let n = 1; ; n++) {
    const name = `${stem}-${n}`;
    if (!folder || !existsSync(nodePath.join(folder, name))) return name;
  }
}

export class MergeSession {
  private rows: MergeAdapterRow[];
  private preview: { id: number; call: CliCall } | undefined;
  private merging: CliCall | undefined;
  private disposed = false;

  constructor(initial: readonly MergeAdapterRow[], private readonly d: MergeSessionDeps) {
    this.rows = [...initial];
  }

  /** Handles one message from the page; anything that fails `isMergeToHost` is dropped. */
  async receive(msg: unknown): Promise<void> {
    if (!isMergeToHost(msg)) return;
    switch (msg.type) {
      case 'ready':
        this.post({ v: 1, type: 'init', adapters: this.rows, name: freeName(this.d.folder), folder: this.d.folder });
        return;
      case 'pickAdapters': {
        const more = await this.d.pickAdapters(msg.exclude);
        if (more?.length) this.post({ v: 1, type: 'adapters', adapters: more });
        return;
      }
      case 'preview':
        return this.runPreview(msg.id, msg.request);
      case 'merge':
        return this.runMerge(msg.name, msg.request);
      case 'cancel':
        this.preview?.call.cancel();
        this.merging?.cancel();
        return;
    }
  }

  /** Stops whatever runs (the panel closed). */
  dispose(): void {
    this.disposed = true;
    this.preview?.call.cancel();
    this.merging?.cancel();
  }

  private post(m: HostToMerge): void {
    if (!this.disposed) void Promise.resolve(this.d.post(m)).catch(() => undefined);
  }

  private badRequest(req: MergeRequest): string | undefined {
    const rel = req.adapters.find((a) => !nodePath.isAbsolute(a.path));
    return rel ? `${rel.path} is not an absolute adapter folder` : undefined;
  }

  private async runPreview(id: number, req: MergeRequest): Promise<void> {
    const bad = this.badRequest(req);
    if (bad) return this.post({ v: 1, type: 'error', id, message: bad });
    this.preview?.call.cancel(); // a newer preview replaces an older one, which gets no answer
    const call = callCli(this.d.runner, mergeArgs(req, undefined));
    this.preview = { id, call };
    if (!this.merging) this.post({ v: 1, type: 'busy', what: 'preview' });
    try {
      const plan = planFromEvent(await call.result);
      if (this.preview?.id !== id) return;
      this.post(plan ? { v: 1, type: 'plan', id, plan } : { v: 1, type: 'error', id, message: 'the loralab CLI printed an unexpected result; see the LoRA Lab output' });
    } catch (e) {
      if (e instanceof CliCancelled || this.preview?.id !== id) return;
      this.d.log(`merge preview: ${(e as Error).message}`);
      this.post({ v: 1, type: 'error', id, message: (e as Error).message });
    } finally {
      if (this.preview?.id === id) {
        this.preview = undefined;
        if (!this.merging) this.post({ v: 1, type: 'busy', what: null });
      }
    }
  }

  private async runMerge(name: string, req: MergeRequest): Promise<void> {
    const fail = (message: string) => this.post({ v: 1, type: 'error', id: null, message });
    if (this.merging) return fail('a merge is already running; wait for it or press Stop');
    const bad = this.badRequest(req);
    if (bad) return fail(bad);
    if (!this.d.folder) return fail('open a folder first: merged adapters are written to .loralab/merged in the workspace');
    const dir = nodePath.join(this.d.folder, name);
    if (existsSync(dir)) {
      this.post({ v: 1, type: 'name', name: freeName(this.d.folder) }); // the page's default may be the taken one
      return fail(`${dir} already exists; choose another name`);
    }
    this.preview?.call.cancel();
    const call = callCli(this.d.runner, mergeArgs(req, dir));
    this.merging = call;
    this.post({ v: 1, type: 'busy', what: 'merge' });
    let written: MergePlan | undefined;
    try {
      const plan = planFromEvent(await call.result);
      if (!plan) throw new Error('the loralab CLI printed an unexpected result; see the LoRA Lab output');
      this.d.log(`merged ${req.adapters.length} adapter(s) by ${req.method} into ${dir}`);
      this.post({ v: 1, type: 'merged', name, dir, plan });
      this.post({ v: 1, type: 'name', name: freeName(this.d.folder) }); // the next merge's default
      written = plan;
    } catch (e) {
      if (e instanceof CliCancelled) {
        // The CLI removes its partial folder on SIGTERM; a child killed outright leaves it hidden: remove it here.
        if (call.pid !== undefined) await fsp.rm(partialFolderPath(dir, call.pid), { recursive: true, force: true }).catch(() => undefined);
        fail('merge stopped; nothing was written');
        return;
      }
      this.d.log(`merge: ${(e as Error).message}`);
      fail((e as Error).message);
    } finally {
      this.merging = undefined;
      this.post({ v: 1, type: 'busy', what: null });
    }
    // Only once the page is idle again: the hook's notification waits for the user's choice,
    // and until then the page would show "Merging…" with Merge disabled.
    if (written) await Promise.resolve(this.d.merged(dir, name, written)).catch((e: unknown) => this.d.log(`merge: ${(e as Error).message}`));
  }
}
