/**
 * The merged adapters of a workspace: every folder `<root>/<name>/` with a `merge.json` (the
 * recipe `loralab merge` writes beside the adapter), `<root>` being `.loralab/merged` of each
 * workspace folder. Hidden folders (`.<name>.partial-<pid>`, a merge still being written) are
 * skipped. Plain Node; `register.ts` plugs it into `AdapterCatalog.mergedAdapters`.
 */
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { MERGE_RECIPE_NAME } from '../../engine/merge/index';
import { type AdapterEntry, readAdapterConfig } from '../adapters/catalog';

/** Where merged adapters of a workspace folder go. */
export const MERGED_DIR = nodePath.join('.loralab', 'merged');

/** `<workspaceFolder>/.loralab/merged`. */
export function mergedRoot(workspaceFolder: string): string {
  return nodePath.join(workspaceFolder, MERGED_DIR);
}

/**
 * The merged adapters under `roots` (each a `.loralab/merged` folder; missing ones are skipped),
 * sorted by name, as Adapters-view entries of kind `merged`; a broken adapter_config.json comes
 * back as `problem` (one line). Never throws.
 */
export async function scanMergedAdapters(roots: readonly string[]): Promise<AdapterEntry[]> {
  const out: AdapterEntry[] = [];
  for (const root of roots) {
    let names: string[];
    try {
      names = (await fsp.readdir(root, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
    } catch {
      continue;
    }
    for (const name of names.sort()) {
      const dir = nodePath.join(root, name);
      const hasRecipe = await fsp.stat(nodePath.join(dir, MERGE_RECIPE_NAME)).then((s) => s.isFile(), () => false);
      if (!hasRecipe) continue;
      const c = await readAdapterConfig(dir);
      out.push({ kind: 'merged', path: dir, val_loss: null, val_step: null, base_model: c.base_model_name_or_path, r: c.r, lora_alpha: c.lora_alpha, problem: c.problem });
    }
  }
  return out;
}
