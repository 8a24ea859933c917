// What `npm run package` puts into the platform-specific .vsix (listed with `vsce ls`, same
// ignore rules): the bundles, the schema, and only the target's ONNX Runtime binaries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
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

// The Marketplace face (issue 14, item 6): the user README (not the developer one) with its
// screenshots, a 128×128 PNG icon, and an activity-bar icon drawn in the theme's colour.
test('the package carries the user README, its images and the icon; not the developer README', { skip: !existsSync(`${ROOT}/dist/extension.cjs`) && 'run `npm run build` first' }, () => {
  const files = execFileSync(process.execPath, ['scripts/package.mjs', '--target', 'linux-x64', '--list'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
  assert.ok(files.includes('README.vscode.md'), 'user README in the package');
  assert.ok(!files.includes('README.md'), 'developer README (npm ci, tests) left out');
  const readme = readFileSync(join(ROOT, 'README.vscode.md'), 'utf8');
  const images = [...readme.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)].map((m) => m[1]);
  assert.ok(images.length >= 3, `screenshots in the README: ${images.join(', ')}`);
  let bytes = 0;
  for (const img of images) {
    assert.ok(!/^\w+:/.test(img), `${img}: a file of the package, not a remote URL`);
    assert.ok(files.includes(img), `${img} referenced by the README but not packaged`);
    bytes += statSync(join(ROOT, img)).size;
  }
  assert.ok(bytes < 500_000, `README images are ${bytes} bytes; keep them small`);
  // Every command the README's table names exists (a README promising a missing command is wrong).
  const titles = new Set(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).contributes.commands.map((c: { title: string }) => c.title.replace(/ \(.*\)$/, '')));
  for (const row of readme.matchAll(/^\| ([^|]+) \| [^|]+ \|$/gm)) {
    if (row[1] === 'Command' || row[1].startsWith('---')) continue;
    for (const name of row[1].split(' / ')) assert.ok(titles.has(name.trim()), `README names a command "${name.trim()}" the extension does not have`);
  }
});

test('package.json icon: a 128×128 PNG in the package; the activity-bar icon is monochrome (currentColor)', { skip: !existsSync(`${ROOT}/dist/extension.cjs`) && 'run `npm run build` first' }, () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  assert.equal(pkg.icon, 'media/icon.png');
  const png = readFileSync(join(ROOT, pkg.icon));
  // PNG signature, then the IHDR chunk: width and height as big-endian 32-bit integers (PNG spec, 11.2.2).
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.equal(png.toString('latin1', 12, 16), 'IHDR');
  assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [128, 128]);
  const files = execFileSync(process.execPath, ['scripts/package.mjs', '--target', 'linux-x64', '--list'], { cwd: ROOT, encoding: 'utf8' }).split('\n');
  assert.ok(files.includes('media/icon.png'));
  const container = pkg.contributes.viewsContainers.activitybar.find((c: { id: string }) => c.id === 'loralab');
  const svg = readFileSync(join(ROOT, container.icon), 'utf8');
  const colours = [...svg.matchAll(/(?:fill|stroke|color)="([^"]+)"/g)].map((m) => m[1]);
  assert.ok(colours.length > 0 && colours.every((c) => c === 'none' || c === 'currentColor'), `only currentColor: ${colours.join(', ')}`);
});
