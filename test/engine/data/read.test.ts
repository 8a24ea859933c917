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
    ['{"prompt": "a", "completion": ""}', '"completion" is empty', 'give it the text to train on'],
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
