/**
 * The adapters the "All adapters of this experiment" run profile evaluates an eval set against.
 * Plain; no `vscode` import.
 */
import { access } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadExperiment } from '../../experiment/index';
import { ADAPTER_DIR } from '../../runs/index';

/** What an eval set is run against: final adapter folders, and the base model to load them on. */
export interface EvalTargets {
  /** Absolute `<run dir>/adapter` folders (with an adapter_config.json), sorted. */
  adapters: string[];
  /** The `model` of the experiment that names the eval set, or null when none does. */
  model: string | null;
  /** The experiment files naming the eval set in `eval.files` (empty: every run counted). */
  experiments: string[];
}

/**
 * The final adapters of the runs of the experiment(s) whose `eval.files` name `evalFile`
 * (matched by absolute path; a run belongs to an experiment by its run.json `experiment_file`);
 * when no experiment names it, the final adapters of every run in `runs`. Runs without a final
 * adapter (still running, failed, stopped before the end) are left out; experiment files that
 * do not load are ignored (their problems are shown elsewhere).
 */
export async function evalTargets(
  evalFile: string,
  experimentFiles: readonly string[],
  runs: readonly { run_dir: string; experiment_file: string | null }[],
): Promise<EvalTargets> {
  const target = resolve(evalFile);
  const loaded = await Promise.all(experimentFiles.map((f) => loadExperiment(f).then((c) => ({ f: resolve(f), c }), () => null)));
  const naming = loaded.filter((x): x is NonNullable<typeof x> => !!x && !!x.c.eval?.files.some((e) => resolve(e) === target));
  const owners = new Set(naming.map((x) => x.f));
  const chosen = naming.length ? runs.filter((r) => r.experiment_file !== null && owners.has(resolve(r.experiment_file))) : runs;
  const dirs = await Promise.all(chosen.map(async (r) => {
    const dir = join(r.run_dir, ADAPTER_DIR);
    return access(join(dir, 'adapter_config.json')).then(() => dir, () => null);
  }));
  return {
    adapters: [...new Set(dirs.filter((d): d is string => d !== null))].sort(),
    model: naming[0]?.c.model ?? null,
    experiments: naming.map((x) => x.f),
  };
}
