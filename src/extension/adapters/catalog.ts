/**
 * Every adapter the Adapters view lists, read from disk: the final adapter (`<run>/adapter/`)
 * and the checkpoints (`<run>/checkpoints/step-<n>/`) of every run of the runs index, each with
 * its validation loss from `metrics.jsonl`, and the PEFT adapters the user imported. Merged
 * adapters come from a provider that the merge feature will plug in (`mergedAdapters`).
 * Plain Node; no `vscode` import, no ONNX Runtime (the shape check against the base model is the
 * worker's `activate`).
 */
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { ADAPTER_CONFIG_NAME, validateLoraConfig } from '../../engine/weights/peft';
import { ADAPTER_DIR, RUN_FILE, parseRunJson, readMetrics } from '../../runs/index';
import { Emitter } from '../emitter';
import type { RunEntry } from '../runs/watcher';

export type AdapterKind = 'final' | 'checkpoint' | 'imported' | 'merged';

/** One adapter folder (a PEFT adapter: adapter_config.json + adapter_model.safetensors). */
export interface AdapterEntry {
  kind: AdapterKind;
  /** Absolute path of the adapter folder. */
  path: string;
  /** The run it belongs to (final and checkpoint adapters). */
  run?: { id: string; name: string; run_dir: string; status: RunEntry['status'] };
  /** Optimizer steps the adapter was trained for (a checkpoint's step, the run's last step). */
  step?: number;
  /** Validation loss (natural-log, token mean) logged at `val_step`, the last evaluation at or before `step`; null when none was logged. */
  val_loss: number | null;
  val_step: number | null;
  /** Base model folder of the run (run.json `model.path`), or the adapter's `base_model_name_or_path`. */
  base_model: string | null;
  /** From adapter_config.json (null when it could not be read). */
  r: number | null;
  lora_alpha: number | null;
  /** Why the adapter cannot be used (one line), e.g. a missing or broken adapter_config.json. */
  problem: string | null;
}

/** What `adapter_config.json` says, or the one-line reason it cannot be used. */
export interface AdapterConfigFacts {
  r: number | null;
  lora_alpha: number | null;
  base_model_name_or_path: string | null;
  problem: string | null;
}

/**
 * Reads and checks `<dir>/adapter_config.json` with the engine's PEFT rules (peft_type "LORA",
 * r, lora_alpha…). Never throws: a missing folder or file, bad JSON or a bad key comes back as
 * `problem`, one line naming the file.
 */
export async function readAdapterConfig(dir: string): Promise<AdapterConfigFacts> {
  const file = nodePath.join(dir, ADAPTER_CONFIG_NAME);
  const none = (problem: string): AdapterConfigFacts => ({ r: null, lora_alpha: null, base_model_name_or_path: null, problem });
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return none(`${file} does not exist; a PEFT adapter folder holds adapter_config.json and adapter_model.safetensors`);
    return none(`${file}: ${(e as Error).message}`);
  }
  try {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      return none(`${file} is not valid JSON (${(e as Error).message})`);
    }
    const c = validateLoraConfig(json, file);
    return { r: c.r, lora_alpha: c.lora_alpha, base_model_name_or_path: typeof c.base_model_name_or_path === 'string' ? c.base_model_name_or_path : null, problem: null };
  } catch (e) {
    return none((e as Error).message.split('\n')[0]);
  }
}

/**
 * The validation loss for an adapter saved at `step`: the last `val_loss` logged at a step ≤
 * `step` (evaluation and saving need not share a schedule). `rows` in step order.
 */
export function valLossAt(rows: readonly { step: number; val_loss?: number }[], step: number): { val_loss: number | null; val_step: number | null } {
  let out = { val_loss: null as number | null, val_step: null as number | null };
  for (const r of rows) {
    if (r.step > step) break;
    if (typeof r.val_loss === 'number') out = { val_loss: r.val_loss, val_step: r.step };
  }
  return out;
}

const exists = async (p: string) => {
  try {
    await fsp.stat(p);
    return true;
  } catch {
    return false;
  }
};

interface RunAdapters {
  key: string;
  entries: AdapterEntry[];
}

/**
 * The adapters of runs and imports. Reads each run folder again only when its runs-index entry
 * changed (status, step, losses, checkpoints).
 */
export class AdapterCatalog {
  private readonly byRun = new Map<string, RunAdapters>();
  private readonly imported = new Map<string, { at: number; facts: AdapterConfigFacts }>();

  /** Merged adapters (`merge.json` recipes), once the merge feature provides them. */
  mergedAdapters: () => Promise<AdapterEntry[]> = async () => [];
  private readonly mergedChanges = new Emitter<void>();
  /** Fires when merged adapters may have changed (`mergedChanged`). */
  readonly onDidChangeMerged = this.mergedChanges.event;

  /** Tells the Adapters view to read `mergedAdapters` again (a merge wrote or removed one). */
  mergedChanged(): void {
    this.mergedChanges.fire();
  }

  /** The adapters of `runs` (newest run first; per run the final adapter, then checkpoints newest first). */
  async runAdapters(runs: readonly RunEntry[]): Promise<AdapterEntry[]> {
    const out: AdapterEntry[] = [];
    const keep = new Set<string>();
    for (const run of runs) {
      keep.add(run.run_dir);
      const key = JSON.stringify([run.status, run.step, run.val_loss, run.checkpoints.map((c) => c.step)]);
      let cached = this.byRun.get(run.run_dir);
      if (!cached || cached.key !== key) {
        cached = { key, entries: await readRunAdapters(run) };
        this.byRun.set(run.run_dir, cached);
      }
      out.push(...cached.entries);
    }
    for (const dir of [...this.byRun.keys()]) if (!keep.has(dir)) this.byRun.delete(dir);
    return out;
  }

  /** Imported adapter folders as entries; adapter_config.json is read again when it changed. */
  async importedAdapters(paths: readonly string[]): Promise<AdapterEntry[]> {
    return Promise.all(
      paths.map(async (path) => {
        const at = await fsp.stat(nodePath.join(path, ADAPTER_CONFIG_NAME)).then((s) => s.mtimeMs, () => -1);
        let cached = this.imported.get(path);
        if (!cached || cached.at !== at) {
          cached = { at, facts: await readAdapterConfig(path) };
          this.imported.set(path, cached);
        }
        const f = cached.facts;
        return { kind: 'imported' as const, path, val_loss: null, val_step: null, base_model: f.base_model_name_or_path, r: f.r, lora_alpha: f.lora_alpha, problem: f.problem };
      }),
    );
  }
}

/** The final adapter (when `adapter/` holds an adapter_config.json) and the checkpoints of one run. */
async function readRunAdapters(run: RunEntry): Promise<AdapterEntry[]> {
  const hasFinal = await exists(nodePath.join(run.run_dir, ADAPTER_DIR, ADAPTER_CONFIG_NAME));
  if (!hasFinal && !run.checkpoints.length) return [];
  let rows: { step: number; val_loss?: number }[] = [];
  try {
    rows = await readMetrics(run.run_dir);
  } catch {
    // the run folder went away meanwhile: no losses
  }
  let model: string | null = null;
  try {
    model = parseRunJson(await fsp.readFile(nodePath.join(run.run_dir, RUN_FILE), 'utf8'), nodePath.join(run.run_dir, RUN_FILE)).model.path;
  } catch {
    // damaged run.json: the model is asked for when the adapter is activated
  }
  const runRef = { id: run.id, name: run.name, run_dir: run.run_dir, status: run.status };
  const entry = async (kind: 'final' | 'checkpoint', path: string, step: number): Promise<AdapterEntry> => {
    const config = await readAdapterConfig(path);
    return { kind, path, run: runRef, step, ...valLossAt(rows, step), base_model: model, r: config.r, lora_alpha: config.lora_alpha, problem: config.problem };
  };
  const out: AdapterEntry[] = [];
  if (hasFinal) out.push(await entry('final', nodePath.join(run.run_dir, ADAPTER_DIR), run.step));
  for (const c of [...run.checkpoints].reverse()) out.push(await entry('checkpoint', c.dir, c.step));
  return out;
}
