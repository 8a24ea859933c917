/**
 * The advisor over an experiment file: parse it, find its model (a local folder, or a Hub model
 * already in the cache; nothing is downloaded), load the model's layers and the trained-token
 * count (cached), and run the rules (`src/engine/advise`). Each finding gets the line and the
 * text range of the key it is about, for `loralab advise` and the editor's diagnostics.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { type Capacity, type Finding, advise, capacity, loadAdviceContext, suggestedLearningRate } from '../engine/advise/index';
import { cachedSnapshot, isHubId } from '../engine/models/hub';
import { JsonDocument, pointerSegments } from './document';
import { type ExperimentConfig, parseExperiment } from './index';

/** A finding placed in the file: 1-based line and the UTF-16 offset range of its key (or the closest parent's). */
export interface PlacedFinding extends Finding {
  line: number;
  range: { offset: number; length: number };
}

export interface ExperimentAdvice {
  config: ExperimentConfig;
  findings: PlacedFinding[];
  /** The capacity meter, when the model and data could be read. */
  capacity: Capacity | null;
  /** The suggested learning rate and its basis, when there is one. */
  suggestion: { learning_rate: number; basis: string } | null;
  /** The local model folder used, or null. */
  modelDir: string | null;
  /** What could not be loaded (so its rules were skipped), one line each. */
  skipped: string[];
}

/** Where the trained-token counts are cached: `$XDG_CACHE_HOME/loralab` (else `~/.cache/loralab`). */
export function adviceCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'loralab');
}

/** The range of the key at `pointer` (its property: key and value), or of the deepest existing parent. */
export function keyRange(doc: JsonDocument, pointer: string): { offset: number; length: number } {
  const { node, found } = doc.nodeAt(pointerSegments(pointer));
  if (!node) return { offset: 0, length: 0 };
  if (found && node.parent?.type === 'property') {
    const key = node.parent.children![0];
    return { offset: key.offset, length: key.length };
  }
  // The key is absent (a default is in effect): point at the section's key, or the first line.
  const at = node.parent?.type === 'property' ? node.parent.children![0] : node;
  return at === doc.root ? { offset: 0, length: 1 } : { offset: at.offset, length: at.length };
}

/**
 * The advice for an experiment file's text.
 *
 * @param opts.countTokens false: skip tokenizing the data (the capacity rule and meter need the
 *   count: without it they are left out)
 * @param opts.trainedTokens a trained-token count obtained elsewhere (the editor counts in a
 *   child process, `loralab advise --json`): used as is, nothing is tokenized here
 * @throws ExperimentError when the file is invalid (as `parseExperiment`)
 */
export async function adviseExperiment(text: string, file: string, opts: { countTokens?: boolean; cacheDir?: string; trainedTokens?: number } = {}): Promise<ExperimentAdvice> {
  const config = parseExperiment(text, file);
  const doc = new JsonDocument(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  const modelDir = isHubId(config.model) ? cachedSnapshot(config.model) : existsSync(config.model) ? config.model : null;
  const given = opts.trainedTokens;
  const { context, skipped } = await loadAdviceContext(modelDir, config.data, config.training.seed, { cacheDir: opts.cacheDir ?? adviceCacheDir(), countTokens: given === undefined ? opts.countTokens : false });
  if (given !== undefined && modelDir) context.trainedTokens = given;
  const findings = advise(config, context).map((f) => ({ ...f, line: doc.lineOfPointer(f.pointer), range: keyRange(doc, f.pointer) }));
  const cap = context.modules && context.trainedTokens !== undefined ? capacity(config, context.modules, context.trainedTokens) ?? null : null;
  const s = suggestedLearningRate(config, context);
  return { config, findings, capacity: cap, suggestion: s ? { learning_rate: s.learningRate, basis: s.basis } : null, modelDir, skipped };
}
