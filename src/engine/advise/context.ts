/**
 * What the advisor needs beyond the experiment file, loaded from disk: the model's linear
 * layers (config.json only, no weights) and the number of trained tokens in the data, counted
 * with the model's tokenizer exactly as training counts them (`loadDataset`'s `targetTokens`) and
 * cached by a fingerprint of the data file, the tokenizer and the data settings.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type DataConfig, fingerprint, loadDataset } from '../data/index';
import { loadModelConfig } from '../models/index';
import { linearModules } from '../models/inspect';
import { loadTokenizer } from '../tokenizer/index';
import type { AdviceContext } from './rules';

/** Version of the cached count's meaning; bump when `targetTokens` changes. */
const CACHE_VERSION = 1;

/**
 * Trained (loss) tokens of one pass over the training data, after the validation hold-out, as
 * `loadDataset(data, tokenizer, seed).stats.targetTokens`.
 *
 * Cached in `cacheDir/trained-tokens-<key>.json`, key = sha256 of the training (and validation)
 * file bytes, tokenizer.json and tokenizer_config.json bytes, the data settings and the seed: a
 * changed file or setting counts again. With `cacheDir` undefined nothing is cached.
 *
 * @throws DataError / TokenizerError as `loadDataset` / `loadTokenizer` do (one line, naming the file)
 */
export async function trainedTokens(data: DataConfig, modelDir: string, seed: number, cacheDir?: string): Promise<{ tokens: number; cached: boolean }> {
  const h = createHash('sha256').update(JSON.stringify({ v: CACHE_VERSION, data: { ...data, train: undefined, validation: typeof data.validation === 'string' ? 'file' : data.validation }, seed }));
  h.update(await fingerprint(data.train));
  if (typeof data.validation === 'string') h.update(await fingerprint(data.validation));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
    const p = join(modelDir, f);
    if (existsSync(p)) h.update(f).update(await fingerprint(p));
  }
  const key = h.digest('hex').slice(0, 32);
  const file = cacheDir ? join(cacheDir, `trained-tokens-${key}.json`) : undefined;
  if (file) {
    const hit = await readFile(file, 'utf8').then((t) => JSON.parse(t) as { tokens?: unknown }, () => undefined);
    if (hit && typeof hit.tokens === 'number') return { tokens: hit.tokens, cached: true };
  }
  const tokenizer = await loadTokenizer(modelDir);
  const ds = await loadDataset(data, tokenizer, seed);
  const tokens = ds.stats.targetTokens;
  if (file && cacheDir) {
    await mkdir(cacheDir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify({ tokens, train: data.train })}\n`);
    await rename(tmp, file);
  }
  return { tokens, cached: false };
}

/**
 * The advisor context of a local model folder and data: its linear layers, `_name_or_path`, and
 * (unless `countTokens` is false) the trained tokens. A part that cannot be loaded is left out
 * and its reason returned in `skipped`, so the rules that need it are skipped, not failed.
 */
export async function loadAdviceContext(
  modelDir: string | null,
  data: DataConfig,
  seed: number,
  opts: { cacheDir?: string; countTokens?: boolean } = {},
): Promise<{ context: AdviceContext; skipped: string[] }> {
  const context: AdviceContext = {};
  const skipped: string[] = [];
  if (modelDir) {
    try {
      const info = await loadModelConfig(modelDir);
      context.modules = linearModules(info);
      if (typeof info.raw._name_or_path === 'string') context.modelName = info.raw._name_or_path;
    } catch (e) {
      skipped.push(`model: ${(e as Error).message.split('\n')[0]}`);
    }
    if (opts.countTokens !== false) {
      try {
        context.trainedTokens = (await trainedTokens(data, modelDir, seed, opts.cacheDir)).tokens;
      } catch (e) {
        skipped.push(`data: ${(e as Error).message.split('\n')[0]}`);
      }
    }
  } else {
    skipped.push('model: not downloaded yet, so the rules that need its layers and tokenizer were skipped');
  }
  return { context, skipped };
}
