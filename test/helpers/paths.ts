import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve, dirname } from 'node:path';

/** Repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The shared folder beside the repository (models, golden values, data). */
export const SHARED = process.env.LORALAB_SHARED ?? resolve(ROOT, '../shared');

if (!existsSync(`${SHARED}/models/stories260K/config.json`)) {
  throw new Error(`tests need the shared folder (test model and golden values) at ${SHARED}: put it beside the repository as ../shared, or set LORALAB_SHARED=/path/to/shared`);
}
