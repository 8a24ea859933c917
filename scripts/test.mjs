#!/usr/bin/env node
// Runs every test/**/*.test.ts with Node's own test runner (Node 20's `node --test` takes no
// globs). Extra arguments are passed through (e.g. --test-name-pattern).
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const dirs = args.filter((a) => !a.startsWith('-'));
const flags = args.filter((a) => a.startsWith('-'));
const roots = dirs.length ? dirs : ['test'];
const files = roots.flatMap((root) =>
  root.endsWith('.ts') ? [root] : readdirSync(root, { recursive: true }).map(String).filter((f) => f.endsWith('.test.ts')).map((f) => `${root}/${f}`),
).sort();
const res = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...flags, ...files], { stdio: 'inherit' });
process.exit(res.status ?? 1);
