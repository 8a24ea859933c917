// The extension host never loads onnxruntime-node: nothing the extension bundles may reach it,
// nor the engine's runtime / inference code or the training run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { ROOT } from '../helpers/paths';

const FORBIDDEN_INPUTS = [/^src\/engine\/runtime\//, /^src\/engine\/infer\//, /^src\/trainer\/run\.ts$/, /node_modules\/onnxruntime/];

test('the extension bundle (esbuild metafile) reaches no onnxruntime, engine runtime / infer or trainer run code', async () => {
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: ['src/extension/main.ts'],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode', 'onnxruntime-node'],
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const inputs = result.metafile.inputs;
  assert.ok(Object.keys(inputs).includes('src/extension/main.ts'));
  assert.ok(Object.keys(inputs).includes('src/extension/training/supervisor.ts'), 'the metafile lists the bundled files');
  for (const path of Object.keys(inputs)) {
    for (const re of FORBIDDEN_INPUTS) assert.doesNotMatch(path, re, `${path} is bundled into the extension`);
    for (const imp of inputs[path].imports) assert.doesNotMatch(imp.path, /onnxruntime/, `${path} imports ${imp.path}`);
  }
  const text = result.outputFiles[0].text;
  assert.doesNotMatch(text, /onnxruntime/);
});

test('dist/extension.cjs (when built) does not mention onnxruntime', (t) => {
  const file = join(ROOT, 'dist/extension.cjs');
  if (!existsSync(file)) return t.skip('not built (npm run build)');
  assert.doesNotMatch(readFileSync(file, 'utf8'), /onnxruntime/);
});
