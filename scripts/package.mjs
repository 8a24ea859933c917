#!/usr/bin/env node
// Builds a platform-specific .vsix: `npm run package [-- --target linux-x64]` (default: this
// machine's platform). The bundles in dist/ carry every JavaScript dependency; the only
// node_modules shipped are onnxruntime-node (native, external to the bundles) and
// onnxruntime-common, with just the target platform's ONNX Runtime binaries.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TARGETS = { 'linux-x64': ['linux', 'x64'], 'linux-arm64': ['linux', 'arm64'], 'darwin-arm64': ['darwin', 'arm64'], 'darwin-x64': ['darwin', 'x64'], 'win32-x64': ['win32', 'x64'], 'win32-arm64': ['win32', 'arm64'] };
const i = process.argv.indexOf('--target');
const target = i > 0 ? process.argv[i + 1] : `${process.platform}-${process.arch}`;
if (!TARGETS[target]) {
  process.stderr.write(`package: unknown target "${target}"; use one of ${Object.keys(TARGETS).join(', ')}\n`);
  process.exit(2);
}
const [platform, arch] = TARGETS[target];
const base = readFileSync('.vscodeignore', 'utf8');
const ignore = `${base}
# the developer README (npm ci, tests); the package's README is README.vscode.md
README.md
# only ${target}'s ONNX Runtime binaries
!node_modules/onnxruntime-node/bin/napi-v6/${platform}/${arch}/**
`;
const dir = mkdtempSync(join(tmpdir(), 'loralab-pkg-'));
const ignoreFile = join(dir, '.vscodeignore');
writeFileSync(ignoreFile, ignore);
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
const out = `loralab-${target}-${version}.vsix`;
const vsce = (args, opts) => execFileSync(process.execPath, ['node_modules/@vscode/vsce/vsce', ...args], opts);
// The Marketplace page and the Extensions view show the user README, not the developer one
// (README.md, which .vscodeignore leaves out). Its images are files of the package (media/readme/):
// relative links stay relative (there is no public repository to rewrite them against).
const README = ['--readme-path', 'README.vscode.md'];
if (process.argv.includes('--list')) {
  // The files the .vsix would hold, one per line on stdout (used by the tests).
  try {
    process.stdout.write(vsce(['ls', ...README, '--ignoreFile', ignoreFile], { encoding: 'utf8' }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.exit(0);
}
try {
  vsce(['package', '--target', target, '--allow-missing-repository', ...README, '--no-rewrite-relative-links', '--ignoreFile', ignoreFile, '--out', out], { stdio: 'inherit' });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.stderr.write(`packaged ${out}\n`);
