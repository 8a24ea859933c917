/**
 * The base models the workspace's experiment files name, for the evaluation commands when no
 * adapter is active and `loralab.modelPath` is unset. Plain; no `vscode` import.
 */
import { loadExperiment } from '../../experiment/index';

/**
 * The distinct `model` values (resolved as the trainer resolves them: a local folder against
 * the experiment's folder, a Hub id as is) of `files`, sorted; files that do not load as an
 * experiment are left out (the editor marks them elsewhere).
 */
export async function experimentModels(files: readonly string[]): Promise<string[]> {
  const models = await Promise.all(files.map((f) => loadExperiment(f).then((c) => c.model, () => null)));
  return [...new Set(models.filter((m): m is string => m !== null))].sort();
}
