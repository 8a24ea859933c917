/**
 * What the adapter commands do — Activate Adapter, Use Base Model, Import PEFT Adapter… — and
 * which model an adapter runs on. The quick-picks, dialogs and progress are injected
 * (`AdapterUi`), the worker is an `InferenceClient`, so all of it runs under plain Node in tests.
 *
 * Which model: a run's adapter uses the run's model (run.json `model.path`); an imported
 * adapter its `base_model_name_or_path` when that is a local folder (relative paths against
 * the adapter folder); else the `loralab.modelPath` setting; else the user picks a folder.
 * The check that an adapter fits the model (every tensor's shape) is the worker's `activate`.
 */
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import type { InferenceClient } from '../worker/api';
import type { RunEntry } from '../runs/watcher';
import { NoTargetError, type PickItem } from '../targets';
import { type AdapterCatalog, type AdapterEntry, readAdapterConfig } from './catalog';
import { adapterLabel, describeValLoss } from './model';
import type { ActiveAdapter, AdapterState } from './state';

export interface AdapterUi {
  /** Asks with a quick-pick; undefined when dismissed. */
  pick<T>(items: PickItem<T>[], placeHolder: string): Promise<T | undefined>;
  /** Asks for a folder; undefined when dismissed. */
  pickFolder(title: string, openLabel: string): Promise<string | undefined>;
  /** The `loralab.modelPath` setting ('' when unset). */
  modelSetting(): string;
  /** An information message with buttons; the button chosen. */
  info(message: string, ...actions: string[]): Promise<string | undefined>;
  /** Runs `task` with a progress notification titled `title`. */
  progress<T>(title: string, task: () => Promise<T>): Promise<T>;
  /** Opens (or reveals) the playground. */
  openPlayground(): void;
}

export interface AdapterActionsDeps {
  client: InferenceClient;
  state: AdapterState;
  catalog: AdapterCatalog;
  runs(): readonly RunEntry[];
  ui: AdapterUi;
}

const isDir = async (p: string) => {
  try {
    return (await fsp.stat(p)).isDirectory();
  } catch {
    return false;
  }
};

export class AdapterActions {
  constructor(private readonly d: AdapterActionsDeps) {}

  /** Every adapter: runs' (newest first), imported, merged. */
  async all(): Promise<AdapterEntry[]> {
    const [runs, imported, merged] = await Promise.all([
      this.d.catalog.runAdapters(this.d.runs()),
      this.d.catalog.importedAdapters(this.d.state.imported),
      this.d.catalog.mergedAdapters(),
    ]);
    return [...runs, ...imported, ...merged];
  }

  /**
   * The base model folder for `adapter` (null: for the base model alone), in the order of the
   * module comment; undefined when the user dismissed the folder dialog.
   */
  async resolveModel(adapter: AdapterEntry | null): Promise<string | undefined> {
    if (adapter?.base_model) {
      const candidate = nodePath.isAbsolute(adapter.base_model) ? adapter.base_model : nodePath.resolve(adapter.path, adapter.base_model);
      if (await isDir(candidate)) return candidate;
    }
    if (!adapter && this.d.state.active) return this.d.state.active.model;
    const setting = this.d.ui.modelSetting().trim();
    if (setting) return setting;
    const name = adapter ? adapterLabel(adapter) : 'the base model';
    return this.d.ui.pickFolder(`Base model folder for ${name} (a Hugging Face model folder with config.json)`, 'Use this model');
  }

  /**
   * Makes `adapter` the active one (asks which from the palette): the worker loads the model and
   * checks the adapter against it; only then is it remembered. Returns the new active adapter,
   * undefined when a pick was dismissed.
   * @throws Error with the worker's one-line message (a mismatch names the tensor and both shapes)
   * @throws NoTargetError when there is no adapter yet
   */
  async activate(adapter?: AdapterEntry | null): Promise<ActiveAdapter | undefined> {
    let chosen: AdapterEntry | null | undefined = adapter;
    if (chosen === undefined) {
      const all = (await this.all()).filter((a) => !a.problem);
      if (!all.length) throw new NoTargetError('there is no adapter yet: train one (a run writes checkpoints and a final adapter) or use "LoRA Lab: Import PEFT Adapter…"');
      chosen = await this.d.ui.pick<AdapterEntry | null>(
        [{ label: '$(circle-large-outline) Base model', description: 'no adapter', value: null }, ...all.map((a) => this.pickItem(a))],
        'Adapter to activate',
      );
      if (chosen === undefined) return undefined;
    }
    if (chosen === null) return this.useBase();
    if (chosen.problem) throw new Error(chosen.problem);
    const model = await this.resolveModel(chosen);
    if (!model) return undefined;
    const label = adapterLabel(chosen);
    const target = chosen;
    await this.d.ui.progress(`LoRA Lab: activating ${label}`, () => this.d.client.activate(model, target.path));
    const active: ActiveAdapter = { path: chosen.path, model, label, kind: chosen.kind };
    await this.d.state.setActive(active);
    return active;
  }

  /** Generation uses the base model alone (the model stays loaded). */
  async useBase(): Promise<ActiveAdapter | undefined> {
    const model = await this.resolveModel(null);
    if (!model) return undefined;
    await this.d.ui.progress('LoRA Lab: switching to the base model', () => this.d.client.activate(model, null));
    const active: ActiveAdapter = { path: null, model, label: 'base model', kind: 'base' };
    await this.d.state.setActive(active);
    return active;
  }

  /**
   * "Import PEFT Adapter…": a folder with adapter_config.json, checked against its base model by
   * the worker, then remembered for this workspace and offered for activation.
   * @throws Error naming the file when adapter_config.json is missing or invalid, or the worker's mismatch message
   */
  async importAdapter(folder?: string): Promise<AdapterEntry | undefined> {
    const dir = folder ?? (await this.d.ui.pickFolder('Import PEFT Adapter: a folder with adapter_config.json and adapter_model.safetensors', 'Import Adapter'));
    if (!dir) return undefined;
    const facts = await readAdapterConfig(dir);
    if (facts.problem) throw new Error(facts.problem);
    const entry: AdapterEntry = { kind: 'imported', path: dir, val_loss: null, val_step: null, base_model: facts.base_model_name_or_path, r: facts.r, lora_alpha: facts.lora_alpha, problem: null };
    const model = await this.resolveModel(entry);
    if (!model) return undefined;
    const name = nodePath.basename(dir);
    try {
      await this.d.ui.progress(`LoRA Lab: checking ${name} against ${nodePath.basename(model)}`, () => this.d.client.activate(model, dir));
    } catch (e) {
      throw new Error(`${name} does not fit ${model}: ${(e as Error).message}`, { cause: e });
    }
    await this.d.state.addImported(dir);
    const choice = await this.d.ui.info(`Imported ${name} (r ${facts.r}, lora_alpha ${facts.lora_alpha}); it fits ${nodePath.basename(model)}.`, 'Activate', 'Open in Playground');
    if (choice) await this.d.state.setActive({ path: dir, model, label: adapterLabel(entry), kind: 'imported' }); // already checked against `model`
    if (choice === 'Open in Playground') this.d.ui.openPlayground();
    return entry;
  }

  private pickItem(a: AdapterEntry): PickItem<AdapterEntry> {
    const active = this.d.state.active?.path === a.path;
    const facts = [a.kind === 'imported' ? 'imported' : a.kind === 'merged' ? 'merged' : undefined, describeValLoss(a), active ? 'active' : undefined].filter(Boolean).join(' · ');
    return { label: `${active ? '$(pass-filled)' : a.kind === 'checkpoint' ? '$(save)' : '$(package)'} ${adapterLabel(a)}`, description: facts || undefined, detail: a.path, value: a };
  }
}
