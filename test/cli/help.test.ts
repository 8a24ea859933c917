// `loralab --help` and bare `loralab`: commands listed in the order of use (the list written
// here from the issue, not read from the program), and a missing command is a usage error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/cli';

test('loralab --help: commands in the order of use, on stdout, exit 0', async () => {
  const r = await runCli(['--help']);
  assert.equal(r.code, 0, r.stderr);
  const listed = [...r.stdout.slice(r.stdout.indexOf('Commands:')).matchAll(/^ {2}([a-z-]+) /gm)].map((m) => m[1]);
  assert.deepEqual(listed, ['train', 'runs', 'generate', 'score', 'eval', 'inspect', 'merge', 'merge-into-base', 'advise', 'sweep', 'bench', 'bench-merge', 'setup-gpu', 'help']);
  assert.doesNotMatch(r.stdout, /score text, benchmark\./);
});

test('bare loralab: the help on stderr, nothing on stdout, exit 2 (a usage error, as an unknown command)', async () => {
  const r = await runCli([]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^Usage: loralab \[options\] \[command\]/);
  assert.equal((await runCli(['nosuch'])).code, 2);
});
