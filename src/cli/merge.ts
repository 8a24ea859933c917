/**
 * `loralab merge` and `loralab merge-into-base`: adapter algebra and folding an adapter into
 * its base model (engine: `src/engine/merge/`).
 *
 *   loralab merge --method M --adapters DIR DIR… [--weights W W…] [--rank K] [--density D]
 *                 [--majority-sign total|frequency] [--seed S] (--out DIR | --dry-run) [--json]
 *   loralab merge-into-base --model DIR --adapter DIR --out DIR [--json]
 *
 * `--json` prints JSON lines on stdout: `merge` one `{"event": "done"}` (or `{"event": "plan"}`
 * with `--dry-run`: the same figures, nothing written); `merge-into-base` `{"event":
 * "progress", "done", "total"}` (tensors, at most ~4 a second, and the last one) then
 * `{"event": "done"}`; an error is `{"event": "error", "message"}` (`output.ts`). Output folders
 * appear complete or not at all; SIGINT/SIGTERM remove the partial folder and exit 130.
 */
import { resolveModel } from '../engine/models/hub';
import {
  type MajoritySign, MergeError, type MergeMethod, MERGE_METHODS, mergeAdapters, mergedAdapterBytes, writeMergedAdapter,
} from '../engine/merge/index';
import { assertOutsideInputs, removePartialFoldersSync, sameFolder } from '../engine/merge/folder';
import { mergeIntoBase } from '../engine/merge/into-base';
import { readPeftAdapter } from '../engine/weights/peft';
import { EXIT, InputError, emitJson, formatBytes, info } from './output';

export interface MergeArgs {
  method: string;
  adapters: string[];
  weights?: number[];
  rank?: number;
  density?: number;
  majoritySign?: string;
  seed?: number;
  /** Required unless `dryRun`. */
  out?: string;
  /** base_model_name_or_path of the result (default: the first input's). */
  baseModel?: string;
  /** Compute and report the merge (ranks, kept norm, sizes) without writing anything. */
  dryRun?: boolean;
  json?: boolean;
}

/**
 * Commander reads "-0.4" after `--weights 0.6` as an unknown option. This rewrites each
 * negative number that continues a `--weights` list into `--weights=-0.4`, which commander
 * accepts (the values still accumulate in order). Other arguments are unchanged.
 */
export function negativeWeightsArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  let inWeights = false;
  for (const a of argv) {
    if (inWeights && /^-(\d|\.\d)/.test(a)) {
      out.push(`--weights=${a}`);
      continue;
    }
    if (a === '--weights') inWeights = true;
    else if (a.startsWith('-')) inWeights = a.startsWith('--weights=');
    out.push(a);
  }
  return out;
}

/** Engine input errors become CLI input errors (exit 2). */
function asInput(e: unknown): never {
  if (e instanceof MergeError) throw new InputError(e.message);
  throw e;
}

/**
 * While `fn` runs, SIGINT and SIGTERM remove the partial output folder (`folder.ts`) and exit
 * 130: a stopped merge leaves nothing behind.
 */
async function removingPartialOnSignal<T>(fn: () => Promise<T>): Promise<T> {
  const onSignal = (): void => {
    removePartialFoldersSync();
    process.exit(EXIT.signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;

export async function runMerge(args: MergeArgs): Promise<void> {
  if (!(MERGE_METHODS as readonly string[]).includes(args.method)) {
    throw new InputError(`--method ${args.method} is not a merge method; use one of ${MERGE_METHODS.join(', ')}`);
  }
  if (args.adapters.length === 0) throw new InputError('--adapters needs at least one adapter folder');
  if (args.out === undefined && !args.dryRun) throw new InputError('--out is required: the folder to write the merged adapter to (or --dry-run to only report the result)');
  if (args.out !== undefined && args.dryRun) throw new InputError('--dry-run writes nothing; leave out --out');
  const weights = args.weights ?? args.adapters.map(() => 1);
  if (weights.length !== args.adapters.length) {
    throw new InputError(`--weights has ${weights.length} value(s) but --adapters has ${args.adapters.length} folder(s); give one weight per adapter, in the same order`);
  }
  if (args.majoritySign !== undefined && args.majoritySign !== 'total' && args.majoritySign !== 'frequency') {
    throw new InputError(`--majority-sign ${args.majoritySign} must be total or frequency`);
  }
  if (args.majoritySign !== undefined && args.method !== 'ties' && args.method !== 'dare_ties') {
    throw new InputError(`--majority-sign is not used by method ${args.method}; it applies to ties and dare_ties`);
  }
  const usesDensity = ['ties', 'dare_linear', 'dare_ties', 'magnitude_prune'].includes(args.method);
  if (args.density !== undefined && !usesDensity) throw new InputError(`--density is not used by method ${args.method}; it applies to ties, dare_linear, dare_ties and magnitude_prune`);
  if ((args.method === 'linear' || args.method === 'cat') && args.rank !== undefined) {
    throw new InputError(`--rank is not used by method ${args.method} (exact: the rank is the sum of the input ranks); use --method svd for a rank-k result`);
  }
  if (args.baseModel !== undefined && args.baseModel.trim() === '') throw new InputError('--base-model is empty; give the base model\'s folder or Hub id');
  if (args.out !== undefined) {
    try {
      assertOutsideInputs(args.out, args.adapters.map((dir) => ({ dir, what: 'input adapter' })));
    } catch (e) {
      asInput(e);
    }
  }
  const inputs = [];
  for (let i = 0; i < args.adapters.length; i++) {
    inputs.push({ adapter: await readPeftAdapter(args.adapters[i]), source: args.adapters[i], weight: weights[i] });
  }
  let result;
  try {
    result = mergeAdapters(inputs, {
      method: args.method as MergeMethod, rank: args.rank, density: args.density,
      majoritySign: args.majoritySign as MajoritySign | undefined, seed: args.seed,
      baseModel: args.baseModel, sameFolder,
    });
  } catch (e) {
    asInput(e);
  }
  for (const w of result.warnings) info(`warning: ${w}`);
  const out = args.out;
  if (out !== undefined) await removingPartialOnSignal(() => writeMergedAdapter(out, result).catch(asInput));
  const ranks = result.report.map((m) => m.r);
  const minKept = Math.min(...result.report.map((m) => m.kept_norm_fraction));
  if (args.json) {
    emitJson({
      event: args.dryRun ? 'plan' : 'done', adapter_dir: out ?? null, method: args.method, r: result.config.r, lora_alpha: result.config.lora_alpha,
      rank_pattern: result.config.rank_pattern, bytes: mergedAdapterBytes(result),
      modules: result.report.map((m) => {
        const w = result.modules.get(m.module)!;
        return { ...m, bytes: 4 * (w.A.data.length + w.B.data.length) };
      }),
    });
    return;
  }
  info(`${args.dryRun ? 'would merge' : 'merged'} ${args.adapters.length} adapter(s) by ${args.method}${out === undefined ? '' : ` into ${out}`} (${result.modules.size} modules, rank ${Math.min(...ranks)}${Math.max(...ranks) !== Math.min(...ranks) ? `–${Math.max(...ranks)}` : ''}, ${formatBytes(mergedAdapterBytes(result))})`);
  if (args.method !== 'linear' && args.method !== 'cat') {
    info('  module                                              r   kept ‖ΔW‖_F');
    for (const m of result.report) info(`  ${m.module.padEnd(48)} ${String(m.r).padStart(4)}   ${pct(m.kept_norm_fraction).padStart(8)}`);
    info(`lowest kept fraction of ‖ΔW‖_F: ${pct(minKept)}`);
  }
  if (out !== undefined) info(`recipe: ${out}/merge.json`);
  else info('dry run: nothing written');
}

export interface MergeIntoBaseArgs {
  model: string;
  adapter: string;
  out: string;
  json?: boolean;
}

export async function runMergeIntoBase(args: MergeIntoBaseArgs): Promise<void> {
  try {
    assertOutsideInputs(args.out, [{ dir: args.model, what: 'model folder' }, { dir: args.adapter, what: 'adapter folder' }]);
  } catch (e) {
    asInput(e);
  }
  const model = await resolveModel(args.model);
  const adapter = await readPeftAdapter(args.adapter);
  let last = 0;
  const res = await removingPartialOnSignal(() =>
    mergeIntoBase(model, adapter, args.adapter, args.out, (done, total) => {
      const now = Date.now();
      if (now - last < (args.json ? 250 : 1000) && done !== total) return;
      last = now;
      if (args.json) emitJson({ event: 'progress', done, total });
      else info(`  ${done}/${total} tensors`);
    }),
  ).catch(asInput);
  if (args.json) {
    emitJson({ event: 'done', model_dir: args.out, shards: res.shards, tensors: res.tensors, merged: res.merged, copied: res.copied });
    return;
  }
  info(`wrote ${args.out}: ${res.tensors} tensors in ${res.shards.length} shard(s), ${res.merged} adapted weights folded (W + s·B·A); copied ${res.copied.join(', ')}`);
}
