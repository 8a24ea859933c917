/**
 * The advisor in the editor, in two steps so a big data file never blocks the extension host:
 * first every finding that needs only the experiment file and the model's config.json
 * (published at once), then the capacity finding, once a child process has counted the trained
 * tokens: `loralab advise FILE --json` (the bundled `dist/cli.js`), which tokenizes the data and
 * caches the count by fingerprint (`src/engine/advise/context.ts`), so later looks are cache
 * hits. The count is kept per (model, data settings, seed) for the session; opening or saving the
 * file asks again (the data may have changed). The child counts the file as saved: when the
 * editor's text names other data, model or seed than the saved file, the count waits for a save.
 * Plain; `advice.ts` wires it to VS Code.
 */
import { type ExperimentAdvice, adviseExperiment } from '../../experiment/advice';
import { type ExperimentConfig, parseExperiment } from '../../experiment/index';
import type { CliChild, CliEvent, CliRunner } from '../merge/cli';

export interface AdviceCounterDeps {
  /** Starts `loralab <args>` (a fake in tests). */
  runner: CliRunner;
  /** The file's text on disk (what the child reads). */
  readDisk(file: string): Promise<string>;
  log(line: string): void;
  /** Cache folder for the host's own (token-free) advice; the default cache when undefined. */
  cacheDir?: string;
}

/** What decides the trained-token count: the model, the data settings and the seed. */
function countKey(config: ExperimentConfig): string {
  return JSON.stringify({ model: config.model, data: config.data, seed: config.training.seed });
}

/** The trained tokens in `loralab advise --json`'s output, null when it has none (data unreadable, model unknown). */
export function tokensOfAdviseJson(e: CliEvent): number | null {
  const cap = e.capacity as { trained_tokens?: unknown } | null | undefined;
  return cap && typeof cap.trained_tokens === 'number' && Number.isFinite(cap.trained_tokens) ? cap.trained_tokens : null;
}

export class AdviceCounter {
  /** countKey → trained tokens (null: the child could not count them). */
  private readonly counts = new Map<string, number | null>();
  private readonly counting = new Map<string, Promise<number | null>>();
  private readonly children = new Set<CliChild>();
  private disposed = false;

  constructor(private readonly d: AdviceCounterDeps) {}

  /**
   * Advice for `text` of experiment `file`: `publish` gets the findings without the capacity
   * rule at once (unless the count is already known: then with it, once), and again with it when
   * the child's count arrives. `fresh`: forget the count kept for these settings and ask again
   * (on open and save).
   * @throws ExperimentError when the text is not a valid experiment (as `parseExperiment`).
   */
  async advise(file: string, text: string, publish: (a: ExperimentAdvice) => void, fresh = false): Promise<void> {
    const first = await adviseExperiment(text, file, { countTokens: false, cacheDir: this.d.cacheDir });
    if (!first.modelDir) return publish(first); // no local model: no tokenizer to count with
    const key = countKey(first.config);
    if (fresh && !this.counting.has(key)) this.counts.delete(key);
    const known = this.counts.get(key);
    if (known !== undefined) return publish(known === null ? first : await this.withCount(file, text, known));
    publish(first);
    const tokens = await this.count(file, key);
    if (tokens === null || this.disposed) return;
    publish(await this.withCount(file, text, tokens));
  }

  /** Stops the children still counting. */
  dispose(): void {
    this.disposed = true;
    for (const c of this.children) c.kill();
    this.children.clear();
  }

  private withCount(file: string, text: string, tokens: number): Promise<ExperimentAdvice> {
    return adviseExperiment(text, file, { trainedTokens: tokens, cacheDir: this.d.cacheDir });
  }

  /** The count for `key` from a child run on the saved file (one child per key at a time); null when it cannot be had now. */
  private count(file: string, key: string): Promise<number | null> {
    let p = this.counting.get(key);
    if (!p) {
      p = this.runChild(file, key).finally(() => this.counting.delete(key));
      this.counting.set(key, p);
    }
    return p;
  }

  private async runChild(file: string, key: string): Promise<number | null> {
    // The child reads the saved file: count only when it names the same data, model and seed.
    let saved: ExperimentConfig;
    try {
      saved = parseExperiment(await this.d.readDisk(file), file);
    } catch {
      return null; // unsaved or invalid on disk: a save asks again
    }
    if (countKey(saved) !== key) return null;
    if (this.disposed) return null;
    let last: CliEvent | undefined;
    let child: CliChild;
    try {
      child = this.d.runner(['advise', file, '--json'], (e) => (last = e));
    } catch (e) {
      this.d.log(`advise: could not count the trained tokens: ${(e as Error).message.split('\n')[0]}`);
      return null;
    }
    this.children.add(child);
    const exit = await child.exited;
    this.children.delete(child);
    if (this.disposed) return null;
    if (exit.code !== 0 || !last) {
      const why = exit.error ?? (typeof last?.message === 'string' ? last.message : exit.stderr.at(-1)) ?? `exit ${exit.code ?? exit.signal}`;
      this.d.log(`advise: counting the trained tokens of ${file} failed: ${why.split('\n')[0]}`);
      return null; // not kept: the next open or save tries again
    }
    const tokens = tokensOfAdviseJson(last);
    this.counts.set(key, tokens);
    return tokens;
  }
}
