#!/usr/bin/env node
// Thin launcher: the CLI is bundled into dist/cli.js by `npm run build`.
import('../dist/cli.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    process.stderr.write('loralab: dist/cli.js is missing; run `npm run build` in the LoRA Lab folder first.\n');
    process.exit(1);
  }
  throw err;
});
