import { fileURLToPath } from 'node:url';
import { resolve, dirname } from 'node:path';

/** Repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The shared folder beside the repository (models, golden values, data). */
export const SHARED = process.env.LORALAB_SHARED ?? resolve(ROOT, '../shared');
