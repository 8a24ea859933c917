// tempDir: a folder under os.tmpdir() with the given prefix, gone once the process that made it
// exits (normally, or by process.exit with an error code), even when the test removed it first.
// Checked on child processes, since the removal happens at their exit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { ROOT } from './paths';
import { tempDir } from './tmp';

/** Runs `body` (TypeScript, with `tempDir` and node:fs imported) in a child; returns its exit code and stdout lines. */
function child(body: string): { code: number | null; lines: string[]; stderr: string } {
  const script = join(tempDir('loralab-tmp-test-'), 'child.ts');
  writeFileSync(script, `import { mkdirSync, rmSync, writeFileSync } from 'node:fs';\nimport { join } from 'node:path';\nimport { tempDir } from ${JSON.stringify(join(ROOT, 'test/helpers/tmp'))};\n${body}\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, lines: r.stdout.split('\n').filter(Boolean), stderr: r.stderr };
}

test('tempDir: a fresh folder os.tmpdir()/<prefix>XXXXXX, a different one each call', () => {
  const a = tempDir('loralab-tmp-test-');
  const b = tempDir('loralab-tmp-test-');
  assert.notEqual(a, b);
  for (const d of [a, b]) {
    assert.equal(dirname(d), tmpdir());
    assert.match(basename(d), /^loralab-tmp-test-[A-Za-z0-9]{6}$/);
    assert.ok(statSync(d).isDirectory());
  }
});

test('tempDir: the folders and their contents are removed when the process exits', () => {
  const r = child(`
const a = tempDir('loralab-tmp-test-');
mkdirSync(join(a, 'sub', 'deeper'), { recursive: true });
writeFileSync(join(a, 'sub', 'deeper', 'f.bin'), 'x');
const b = tempDir('loralab-tmp-test-');
console.log(a);
console.log(b);`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.lines.length, 2, r.stderr);
  for (const d of r.lines) assert.equal(existsSync(d), false, `${d} is left behind`);
});

test('tempDir: removed on process.exit(3) too; a folder the test removed itself is no error at exit', () => {
  const r = child(`
const a = tempDir('loralab-tmp-test-');
const b = tempDir('loralab-tmp-test-');
rmSync(b, { recursive: true });
console.log(a);
process.exit(3);`);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stderr, '');
  assert.equal(r.lines.length, 1);
  assert.equal(existsSync(r.lines[0]), false, `${r.lines[0]} is left behind`);
});
