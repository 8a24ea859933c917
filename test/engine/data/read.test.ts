/** Reading .jsonl / .txt files into records, bad records and the skip mode. */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DataError, readRecords } from '../../../src/engine/data/index';
import { TempFiles } from './helpers';

const files = new TempFiles();
after(() => files.cleanup());

const strict = { completionOnlyLoss: true, skipBadRecords: false };
const skipping = { completionOnlyLoss: true, skipBadRecords: true };
const REMEDY_TAIL = ', or set "skip_bad_records": true to skip such records';

/** The DataError thrown by reading `file`; fails the test if none is thrown. */
async function readError(file: string, opts = strict): Promise<DataError> {
  try {
    await readRecords(file, opts);
  } catch (e) {
    assert.ok(e instanceof DataError, `expected DataError, got ${String(e)}`);
    assert.ok(!e.message.includes('\n'), 'one-line message');
    return e;
  }
  assert.fail('no DataError thrown');
}

describe('readRecords: .jsonl', () => {
  test('each record kind, with line numbers; blank lines ignored; extra keys ignored', async () => {
    const file = await files.file('mixed.jsonl', [
      '{"text": "Once upon a time.", "id": 7}',
      '',
      '   ',
      '{"prompt": "Q: 2+2?", "completion": " 4"}',
      '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}',
      '',
    ].join('\n'));
    const { records, skipped } = await readRecords(file, strict);
    assert.deepEqual(skipped, []);
    assert.deepEqual(records, [
      { kind: 'text', text: 'Once upon a time.', source: { file, line: 1 } },
      { kind: 'prompt_completion', prompt: 'Q: 2+2?', completion: ' 4', source: { file, line: 4 } },
      { kind: 'messages', messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello!' }], source: { file, line: 5 } },
    ]);
  });

  test('CRLF line endings and a UTF-8 BOM are accepted; an empty prompt is allowed', async () => {
    const file = await files.file('crlf.jsonl', '\uFEFF{"text": "a b"}\r\n\r\n{"prompt": "", "completion": "c"}\r\n');
    const { records } = await readRecords(file, strict);
    assert.deepEqual(records.map((r) => [r.kind, r.source.line]), [['text', 1], ['prompt_completion', 3]]);
  });

  const bad: [string, string, string][] = [
    ['[1, 2]', 'the record is a list, not a JSON object', 'write {"text": ...}, {"prompt": ..., "completion": ...} or {"messages": [{"role": ..., "content": ...}]}'],
    ['{"input": "x", "output": "y"}', 'unknown record shape (keys: "input", "output")', 'write {"text": ...}, {"prompt": ..., "completion": ...} or {"messages": [{"role": ..., "content": ...}]}'],
    ['{"text": 5}', '"text" must be a string, got a number', 'make it a string'],
    ['{"text": "  \\n "}', '"text" is empty', 'remove the line or give it text'],
    ['{"text": "a", "messages": []}', 'the record mixes "text" and "messages"', 'keep one shape per record'],
    ['{"prompt": "a"}', '"prompt" without "completion"', 'add a "completion"'],
    ['{"completion": "a"}', '"completion" without "prompt"', 'add a "prompt" (it may be "")'],
    ['{"prompt": [{"role": "user", "content": "a"}], "completion": "b"}', '"prompt" must be a string, got a list', 'make it a string (for chat data use {"messages": [...]})'],
    ['{"messages": "hi"}', '"messages" must be a list, got a string', 'write "messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]'],
    ['{"messages": [{"role": "user", "content": null}]}', 'messages[0].content must be a string, got null', 'write "messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]'],
    ['{"messages": [{"role": "user", "content": "Hi"}]}', 'no assistant turn to train on (completion_only_loss is true)', 'add an {"role": "assistant"} message or set "completion_only_loss": false'],
  ];
  for (const [line, what, remedy] of bad) {
    test(`bad record ${line} → file:line: ${what}`, async () => {
      const file = await files.file('bad.jsonl', `{"text": "fine"}\n\n${line}\n{"text": "also fine"}\n`);
      const err = await readError(file);
      assert.equal(err.message, `${file}:3: ${what}; ${remedy}${REMEDY_TAIL}`);
      assert.equal(err.file, file);
      assert.equal(err.line, 3);
    });
  }

  test('invalid JSON names the line and the parser error, on one line', async () => {
    const file = await files.file('bad.jsonl', '{"text": "ok"}\n{"text": "unterminated}\n');
    const err = await readError(file);
    assert.match(err.message, new RegExp(`^${escape(file)}:2: invalid JSON \\(.+\\); write one JSON object per line${escape(REMEDY_TAIL)}$`));
    assert.ok(err.cause instanceof SyntaxError);
  });

  test("invalid JSON says the column within the record's own line, never the parser's \"line 1\" (issue 14)", async () => {
    //                                                         col 1        col 14: the second string
    const file = await files.file('col.jsonl', '{"text": "ok"}\n\n{"text": "a" "b"}\n');
    const err = await readError(file);
    assert.match(err.message, new RegExp(`^${escape(file)}:3: invalid JSON \\(column 14: Expected ',' or '}' after property value\\); `));
    assert.doesNotMatch(err.message, /line 1|position/);
  });

  test('a user-only conversation is fine when completion_only_loss is false', async () => {
    const file = await files.jsonl([{ messages: [{ role: 'user', content: 'Hi' }] }]);
    const { records } = await readRecords(file, { completionOnlyLoss: false, skipBadRecords: false });
    assert.equal(records.length, 1);
  });

  test('skip mode counts and reports bad records, keeps the good ones', async () => {
    const file = await files.file('some-bad.jsonl', [
      '{"text": "one"}', 'not json', '{"text": ""}', '{"text": "two"}', '{"messages": [{"role": "user", "content": "x"}]}', '{"x": 1}',
    ].join('\n'));
    const { records, skipped } = await readRecords(file, skipping);
    assert.deepEqual(records.map((r) => r.source.line), [1, 4]);
    assert.equal(skipped.length, 4);
    assert.deepEqual(skipped.map((s) => [s.file, s.line]), [[file, 2], [file, 3], [file, 5], [file, 6]]);
    assert.match(skipped[0].reason, /^invalid JSON \(/);
    assert.deepEqual(skipped.slice(1).map((s) => s.reason), [
      '"text" is empty', 'no assistant turn to train on (completion_only_loss is true)', 'unknown record shape (keys: "x")',
    ]);
  });
});

describe('readRecords: .txt', () => {
  test('documents are separated by one or more blank (or whitespace-only) lines', async () => {
    const file = await files.file('docs.txt', '\n\nFirst line\nsecond line\n\n\n \t \nThird\r\nfourth\r\n\r\nlast');
    const { records } = await readRecords(file, strict);
    assert.deepEqual(records, [
      { kind: 'text', text: 'First line\nsecond line', source: { file, line: 3 } },
      { kind: 'text', text: 'Third\nfourth', source: { file, line: 8 } },
      { kind: 'text', text: 'last', source: { file, line: 11 } },
    ]);
  });
});

describe('readRecords: whole-file errors', () => {
  test('a missing file', async () => {
    const file = join(await files.dir(), 'nope.jsonl');
    const err = await readError(file);
    assert.equal(err.message, `${file}: file not found; check the path in the experiment's "data" block (relative paths resolve against the experiment file)`);
  });

  test('an unsupported extension', async () => {
    const file = await files.file('data.csv', 'a,b\n');
    const err = await readError(file);
    assert.equal(err.message, `${file}: unsupported file type ".csv"; use a .jsonl file of {"text"}, {"prompt","completion"} or {"messages"} records, or a .txt file`);
  });

  test('an empty file, and a file whose records are all bad (skip mode)', async () => {
    const empty = await files.file('empty.txt', '\n \n');
    assert.equal((await readError(empty)).message, `${empty}: no usable record, it is empty; point the experiment at a file with training data`);
    const allBad = await files.file('bad.jsonl', '{"x": 1}\n{"text": 2}\n');
    assert.equal((await readError(allBad, skipping)).message,
      `${allBad}: no usable record, all 2 records are bad (first: line 1: unknown record shape (keys: "x")); point the experiment at a file with training data`);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('readRecords: strict UTF-8', () => {
  // Line 1 is 17 bytes + "\n" (bytes 0-17); line 2 starts at byte 18: {"text": "caf (13 bytes) then 0xE9 (Latin-1 é) at 18 + 13 = 31.
  const good = Buffer.from('{"text": "hello"}\n', 'utf8');
  assert.equal(good.length, 18);
  const latin1Line = Buffer.concat([Buffer.from('{"text": "caf'), Buffer.from([0xe9]), Buffer.from('"}\n')]);

  test('an invalid byte is an error file:line: invalid UTF-8 at byte N (never U+FFFD)', async () => {
    const file = await files.file('latin1.jsonl', Buffer.concat([good, latin1Line, good]));
    const e = await readError(file);
    assert.equal(e.message, `${file}:2: invalid UTF-8 at byte 31; re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)${REMEDY_TAIL}`);
  });

  test('default mode lists up to 10 bad lines', async () => {
    const lines: Buffer[] = [];
    for (let i = 0; i < 13; i++) lines.push(latin1Line); // 17 bytes each: the bad byte of line k (1-based) is at 17(k-1) + 13
    assert.equal(latin1Line.length, 17);
    const file = await files.file('many.jsonl', Buffer.concat(lines));
    const e = await readError(file);
    const also = [2, 3, 4, 5, 6, 7, 8, 9, 10].map((k) => `${k} (byte ${17 * (k - 1) + 13})`).join(', ');
    assert.equal(e.message, `${file}:1: invalid UTF-8 at byte 13 (also lines ${also}, and 3 more); re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)${REMEDY_TAIL}`);
  });

  test('skip mode skips and reports each bad line; overlong forms, surrogates and truncated sequences are invalid too', async () => {
    const bad = (bytes: number[]) => Buffer.concat([Buffer.from('{"text": "x'), Buffer.from(bytes), Buffer.from('"}\n')]);
    const file = await files.file('skip.jsonl', Buffer.concat([
      good, bad([0xc0, 0xaf]), bad([0xed, 0xa0, 0x80]), bad([0xe2, 0x98]), Buffer.from('{"text": "ok ☕"}\n'), bad([0xf4, 0x90, 0x80, 0x80]),
    ]));
    const { records, skipped } = await readRecords(file, skipping);
    assert.deepEqual(records.map((r) => [r.source.line, r.kind === 'text' ? r.text : '']), [[1, 'hello'], [5, 'ok ☕']]);
    // {"text": "x is 11 bytes, so each bad byte is 11 bytes into its line; lines 2-4 are 16, 17, 16 bytes long and start at 18, 34, 51.
    const line6 = 67 + Buffer.byteLength('{"text": "ok ☕"}\n');
    assert.deepEqual(skipped.map((s) => [s.line, s.reason]), [
      [2, 'invalid UTF-8 at byte 29'], [3, 'invalid UTF-8 at byte 45'], [4, 'invalid UTF-8 at byte 62'], [6, `invalid UTF-8 at byte ${line6 + 11}`],
    ]);
  });

  test('.txt: a document with an invalid line is skipped in skip mode', async () => {
    const file = await files.file('doc.txt', Buffer.concat([Buffer.from('First doc.\n\nSecond caf'), Buffer.from([0xe9]), Buffer.from('\nstill second\n\nThird.\n')]));
    const { records, skipped } = await readRecords(file, skipping);
    assert.deepEqual(records.map((r) => (r.kind === 'text' ? r.text : '')), ['First doc.', 'Third.']);
    assert.deepEqual(skipped.map((s) => [s.line, s.reason]), [[3, 'invalid UTF-8 at byte 22']]);
  });
});
