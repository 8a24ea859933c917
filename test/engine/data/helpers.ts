/** Shared helpers of the data tests: the real stories260K tokenizer, temp files, chat models. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTokenizer, type Tokenizer } from '../../../src/engine/tokenizer/index';
import type { Example } from '../../../src/engine/data/index';

export const STORIES_DIR = '/work/shared/models/stories260K';
export const SHAKESPEARE = '/work/shared/data/tinyshakespeare.txt';
export const BOS = 1;
export const EOS = 2;

/** A chat template in the style of many models: BOS, "[role] content</s>" per message. */
export const SIMPLE_TEMPLATE = '{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}{{ eos_token }}{% endfor %}'
  + '{% if add_generation_prompt %}[assistant] {% endif %}';

let stories: Promise<Tokenizer> | undefined;
/** The real stories260K tokenizer (BOS 1 added, EOS 2 not added, no chat template). */
export function storiesTokenizer(): Promise<Tokenizer> {
  stories ??= loadTokenizer(STORIES_DIR);
  return stories;
}

/** Creates files in temp folders under os.tmpdir() and removes them. */
export class TempFiles {
  private dirs: string[] = [];

  /** A new empty temp folder. */
  async dir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'loralab-data-'));
    this.dirs.push(dir);
    return dir;
  }

  /** Writes one file (in a new temp folder) and returns its path. */
  async file(name: string, content: string | Buffer): Promise<string> {
    const path = join(await this.dir(), name);
    await writeFile(path, content);
    return path;
  }

  /** Writes a .jsonl file of the given records (strings are written as raw lines). */
  async jsonl(records: unknown[], name = 'data.jsonl'): Promise<string> {
    return this.file(name, records.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n');
  }

  /** A model folder with stories260K's tokenizer.json and the given chat template. */
  async chatModel(template: string): Promise<string> {
    const dir = await this.dir();
    const config = JSON.parse(await readFile(join(STORIES_DIR, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(dir, 'tokenizer.json'), await readFile(join(STORIES_DIR, 'tokenizer.json')));
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, chat_template: template }));
    return dir;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.dirs.map((d) => rm(d, { recursive: true, force: true })));
    this.dirs = [];
  }
}

/** An example built by hand: ids, and target 1 from index `from` on (0 before). */
export function example(ids: number[], from = 1, line = 1): Example {
  const target = new Uint8Array(ids.length);
  target.fill(1, from);
  return { ids, target, source: { file: 'mem', line } };
}

/** The target mask as a plain array, for assert.deepEqual. */
export function mask(ex: Example): number[] {
  return Array.from(ex.target);
}

/** The number of 1s in a mask. */
export function countTargets(ex: Example): number {
  return ex.target.reduce((n, t) => n + t, 0);
}
