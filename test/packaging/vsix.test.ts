// What `npm run package` puts into the platform-specific .vsix (listed with `vsce ls`, same
// ignore rules): the bundles, the schema, and only the target's ONNX Runtime binaries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ROOT } from '../helpers/paths';

test('the linux-x64 package holds the bundles and only linux-x64 binaries', { skip: !existsSync(`${ROOT}/dist/extension.cjs`) && 'run `npm run build` first' }, () => {
  const files = execFileSync(process.execPath, ['scripts/package.mjs', '--target', 'linux-x64', '--list'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const f of ['package.json', 'dist/extension.cjs', 'dist/trainer.js', 'dist/cli.js', 'schemas/lora-experiment.schema.json', 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node', 'node_modules/onnxruntime-node/dist/index.js']) {
    assert.ok(files.includes(f), `${f} missing from the package`);
  }
  const bins = files.filter((f) => f.startsWith('node_modules/onnxruntime-node/bin/'));
  assert.ok(bins.every((f) => f.startsWith('node_modules/onnxruntime-node/bin/napi-v6/linux/x64/')), `other platforms' binaries: ${bins.join(', ')}`);
  assert.ok(!files.some((f) => /^(src|test|webview|examples|scripts)\//.test(f)), 'sources, tests or scripts in the package');
  assert.ok(!files.some((f) => f.startsWith('node_modules/') && !/^node_modules\/onnxruntime-(node|common)\//.test(f)), 'bundled dependencies shipped again as node_modules');
});
