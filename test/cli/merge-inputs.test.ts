// `loralab merge` / `merge-into-base` inputs: --out inside an input refused before any work,
// an existing file as --out is one line (exit 2), the golden PEFT adapter (base "stories260K")
// merges with a loralab adapter of "/…/models/stories260K", other names warn, --base-model,
// and sizes in binary units computed here from the tensor shapes.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli';
import { SHARED } from '../helpers/paths';
import { readPeftAdapter, writePeftAdapter } from '../../src/engine/weights/peft';
import { tempDir } from '../helpers/tmp';

const MODEL = `${SHARED}/models/stories260K`;
const GOLDEN = `${SHARED}/golden/adapters/stories260K_r4_a8`; // base_model_name_or_path "stories260K"
const tmp = tempDir('cli-merge-inputs-');
const LOCAL = join(tmp, 'local'); // same weights, base named by its folder path (as loralab train writes it)
const OTHER = join(tmp, 'other'); // same shapes, another name
const COPY = join(tmp, 'copy');

before(async () => {
  const g = await readPeftAdapter(GOLDEN);
  await writePeftAdapter(LOCAL, { r: 4, lora_alpha: 8, base_model_name_or_path: MODEL }, g.modules);
  await writePeftAdapter(OTHER, { r: 4, lora_alpha: 8, base_model_name_or_path: 'org/tiny-story-model' }, g.modules);
  cpSync(GOLDEN, COPY, { recursive: true });
});

test('golden PEFT adapter ("stories260K") + an adapter of "/…/models/stories260K": merged, no warning, both names in merge.json', async () => {
  const out = join(tmp, 'm1');
  const r = await runCli(['merge', '--method', 'linear', '--adapters', GOLDEN, LOCAL, '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /warning/);
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'merge.json'), 'utf8')).base_models, ['stories260K', MODEL]);
  // size: float32 A and B of every module, from the input's shapes (r 4 + 4 = 8 per module)
  const g = await readPeftAdapter(GOLDEN);
  let bytes = 0;
  for (const w of g.modules.values()) bytes += 2 * 4 * (w.A.data.length + w.B.data.length);
  assert.ok(r.stderr.includes(`${(bytes / 1024).toFixed(2)} KiB`), `${bytes} bytes: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\bkB\b/);
});

test('another base name with equal shapes: one warning line naming both, merged; --base-model sets the result\'s name', async () => {
  const out = join(tmp, 'm2');
  const r = await runCli(['merge', '--method', 'linear', '--adapters', GOLDEN, OTHER, '--out', out, '--base-model', 'org/chosen']);
  assert.equal(r.code, 0, r.stderr);
  const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning: '));
  assert.equal(warnings.length, 1, r.stderr);
  assert.match(warnings[0], /"stories260K".*"org\/tiny-story-model"/);
  assert.equal(JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')).base_model_name_or_path, 'org/chosen');
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'merge.json'), 'utf8')).base_models, ['stories260K', 'org/tiny-story-model']);
});

test('--out equal to or inside an input adapter or the model folder: refused with one line, exit 2, nothing written', async () => {
  const before = readdirSync(COPY).sort();
  const cases: [string[], RegExp][] = [
    [['merge', '--method', 'linear', '--adapters', COPY, GOLDEN, '--out', COPY], /--out .*copy is the input adapter .*copy itself/],
    [['merge', '--method', 'linear', '--adapters', COPY, GOLDEN, '--out', `${COPY}/`], /is the input adapter .* itself/],
    [['merge', '--method', 'svd', '--adapters', GOLDEN, COPY, '--out', join(COPY, 'sub')], /--out .*copy\/sub is inside the input adapter .*copy; write the result to a new folder outside it/],
    [['merge-into-base', '--model', MODEL, '--adapter', COPY, '--out', join(MODEL, 'merged')], /is inside the model folder/],
    [['merge-into-base', '--model', MODEL, '--adapter', COPY, '--out', join(COPY, 'merged')], /is inside the adapter folder/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^loralab: error: /);
    assert.match(lines[0], re);
  }
  assert.deepEqual(readdirSync(COPY).sort(), before);
  assert.equal(existsSync(join(MODEL, 'merged')), false);
});

test('--out an existing file: one line, exit 2 (merge and merge-into-base)', async () => {
  const file = join(tmp, 'a-file');
  writeFileSync(file, 'x');
  for (const args of [['merge', '--method', 'linear', '--adapters', GOLDEN, '--out', file], ['merge-into-base', '--model', MODEL, '--adapter', GOLDEN, '--out', file]]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, `loralab: error: ${file} is a file; choose a new folder (nothing was written)\n`);
  }
});
