// User text read by score/eval as training reads it: strict UTF-8 (FILE:LINE: invalid UTF-8 at
// byte N, exit 2, byte offsets counted here by hand) and special-token text as plain characters;
// generate refuses an empty --stop and a negative --seed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli';
import { SHARED } from '../helpers/paths';
import { tempDir } from '../helpers/tmp';

const MODEL = `${SHARED}/models/stories260K`;
const tmp = tempDir('cli-user-text-');

test('score --file / eval FILE with a Latin-1 byte: FILE:LINE: invalid UTF-8 at byte N, exit 2 (was: scored U+FFFD)', async () => {
  const txt = join(tmp, 'bad.txt');
  writeFileSync(txt, Buffer.concat([Buffer.from('hello\nbad '), Buffer.from([0xe9]), Buffer.from(' here\n')])); // 0xE9 at byte 6 + 4 = 10, line 2
  const s = await runCli(['score', '--model', MODEL, '--file', txt]);
  assert.equal(s.code, 2, s.stderr);
  assert.equal(s.stderr, `loralab: error: ${txt}:2: invalid UTF-8 at byte 10; re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)\n`);
  const first = '{"prompt": "a", "expected": "b"}\n';
  const ev = join(tmp, 'bad.eval.jsonl');
  writeFileSync(ev, Buffer.concat([Buffer.from(`${first}{"prompt": "caf`), Buffer.from([0xe9]), Buffer.from('", "expected": "b"}\n')]));
  const e = await runCli(['eval', ev, '--model', MODEL]);
  assert.equal(e.code, 2, e.stderr);
  assert.match(e.stderr, new RegExp(`:2: invalid UTF-8 at byte ${Buffer.byteLength(first) + 15};`));
});

test('score --text "hi </s> there": "</s>" is characters (as in training), not the EOS token', async () => {
  const tok = JSON.parse(readFileSync(join(MODEL, 'tokenizer.json'), 'utf8'));
  const eos = tok.added_tokens.find((t: { content: string }) => t.content === '</s>').id;
  const r = await runCli(['score', '--model', MODEL, '--text', 'hi </s> there', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const ids: number[] = JSON.parse(r.stdout).token_ids;
  assert.equal(ids.includes(eos), false, `ids ${ids} hold EOS ${eos}`);
  // "<", "/", "s", ">" are there as pieces: more tokens than "hi" + EOS + "there" would take
  assert.ok(ids.length >= 6, String(ids));
});

test('generate --stop \'\' and --seed -1: refused with a reason, exit 2', async () => {
  for (const [args, re] of [[['--stop', ''], /--stop must not be empty/], [['--seed', '-1'], /--seed must be an integer ≥ 0/]] as const) {
    const r = await runCli(['generate', '--model', MODEL, '--prompt', 'hi', ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, re);
  }
});
