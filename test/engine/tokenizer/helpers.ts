/** Shared helpers of the tokenizer tests: the real test model and temp model folders. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const STORIES_DIR = '/work/shared/models/stories260K';
export const GOLDEN_TOKENIZER = '/work/shared/golden/stories260K_tokenizer.json';

export type Json = Record<string, unknown>;

/** stories260K's tokenizer.json, parsed afresh (callers may edit it). */
export async function storiesTokenizerJson(): Promise<Json> {
  return JSON.parse(await readFile(join(STORIES_DIR, 'tokenizer.json'), 'utf8')) as Json;
}

/** A TemplateProcessing post-processor adding the given special tokens around the sequence. */
export function templateProcessing(before: { token: string; id: number }[], after: { token: string; id: number }[] = []): Json {
  const special = (t: { token: string }) => ({ SpecialToken: { id: t.token, type_id: 0 } });
  const specialTokens: Json = {};
  for (const t of [...before, ...after]) specialTokens[t.token] = { id: t.token, ids: [t.id], tokens: [t.token] };
  return {
    type: 'TemplateProcessing',
    single: [...before.map(special), { Sequence: { id: 'A', type_id: 0 } }, ...after.map(special)],
    pair: [...before.map(special), { Sequence: { id: 'A', type_id: 0 } }, ...after.map(special),
      { Sequence: { id: 'B', type_id: 1 } }],
    special_tokens: specialTokens,
  };
}

/** Creates and removes temp model folders under os.tmpdir(). */
export class TempModels {
  private dirs: string[] = [];

  /**
   * Writes a model folder: each entry is a file name and its content (objects are written as
   * JSON, strings as is). Returns the folder.
   */
  async make(files: Record<string, Json | string>): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'loralab-tok-'));
    this.dirs.push(dir);
    for (const [name, content] of Object.entries(files)) {
      await writeFile(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
    }
    return dir;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.dirs.map((d) => rm(d, { recursive: true, force: true })));
    this.dirs = [];
  }
}
