// metrics.jsonl: append, read, torn-line handling, live tailing, last values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RunError, createRun, dropOrphanedRows, lastMetrics, readMetrics, readMetricsColumns, tailMetrics, type MetricsColumns, type MetricsRow, type MetricsValueField } from '../../src/runs/index';
import { sampleInit, tempDir } from './helpers';

const ROWS: MetricsRow[] = [
  { step: 0, time: 0.5, val_loss: 5.25 },
  { step: 1, time: 1.25, train_loss: 5.5, lr: 2e-5, grad_norm: 3.5, tokens: 4096, tokens_per_s: 3276.8 },
  { step: 2, time: 2.5, train_loss: 5.125, lr: 4e-5, grad_norm: 2.75, tokens: 8192, tokens_per_s: 3300 },
];

test('appendMetrics writes one JSON line per row in field order; readMetrics returns them', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const h = await createRun(dir, 'm', sampleInit());
  assert.deepEqual([...(await readMetrics(h.dir))], []);
  for (const r of ROWS) await h.appendMetrics(r);
  const text = await readFile(join(h.dir, 'metrics.jsonl'), 'utf8');
  assert.equal(
    text,
    '{"step":0,"time":0.5,"val_loss":5.25}\n' +
      '{"step":1,"time":1.25,"train_loss":5.5,"lr":0.00002,"grad_norm":3.5,"tokens":4096,"tokens_per_s":3276.8}\n' +
      '{"step":2,"time":2.5,"train_loss":5.125,"lr":0.00004,"grad_norm":2.75,"tokens":8192,"tokens_per_s":3300}\n',
  );
  const got = await readMetrics(h.dir);
  assert.deepEqual([...got], ROWS);
  assert.equal(got.skipped, 0);
  assert.equal(got.torn, false);

  // invalid rows are refused before anything is written
  await assert.rejects(h.appendMetrics({ step: 3, time: 3, train_loss: NaN }), /train_loss is NaN, expected a finite number/);
  await assert.rejects(h.appendMetrics({ step: 1.5, time: 3 }), /step 1.5 is not a non-negative integer/);
  assert.equal(await readFile(join(h.dir, 'metrics.jsonl'), 'utf8'), text);

  // concurrent appends from one process all land as whole lines
  await Promise.all(Array.from({ length: 50 }, (_, i) => h.appendMetrics({ step: 10 + i, time: 10 + i, train_loss: i })));
  const all = await readMetrics(h.dir);
  assert.equal(all.length, 53);
  assert.deepEqual(all.slice(3).map((r) => r.step).sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => 10 + i));
  await assert.rejects(readMetrics(join(dir, 'nope')), (e: unknown) => e instanceof RunError && /no such run folder/.test(e.message));
});

test('a torn last line is ignored by readMetrics and terminated by the next appendMetrics', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const h = await createRun(dir, 'torn', sampleInit());
  const file = join(h.dir, 'metrics.jsonl');
  await h.appendMetrics(ROWS[0]);
  await h.appendMetrics(ROWS[1]);
  await appendFile(file, '{"step":2,"time":2.5,"train_lo'); // a crash mid-write
  const r1 = await readMetrics(h.dir);
  assert.deepEqual([...r1], ROWS.slice(0, 2));
  assert.equal(r1.torn, true);
  assert.equal(r1.skipped, 0);

  await h.appendMetrics(ROWS[2]);
  const text = await readFile(file, 'utf8');
  assert.ok(text.endsWith('"train_lo\n{"step":2,"time":2.5,"train_loss":5.125,"lr":0.00004,"grad_norm":2.75,"tokens":8192,"tokens_per_s":3300}\n'), text);
  const r2 = await readMetrics(h.dir);
  assert.deepEqual([...r2], ROWS);
  assert.equal(r2.torn, false);
  assert.equal(r2.skipped, 1, 'the repaired torn line is now a skipped middle line');
});

test('corrupt middle lines are skipped and counted, not thrown', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const h = await createRun(dir, 'corrupt', sampleInit());
  await writeFile(
    join(h.dir, 'metrics.jsonl'),
    '{"step":0,"time":0,"val_loss":4}\n' + 'garbage\n' + '\n' + '[1,2]\n' + '{"time":3}\n' + '{"step":1,"time":1,"train_loss":3.5,"extra":"x"}\n' + '{"step":2,"ti',
  );
  const r = await readMetrics(h.dir);
  assert.deepEqual([...r], [
    { step: 0, time: 0, val_loss: 4 },
    { step: 1, time: 1, train_loss: 3.5 },
  ]);
  assert.equal(r.skipped, 3); // garbage, [1,2], {"time":3}; the blank line is not counted
  assert.equal(r.torn, true);
});

test('tailMetrics returns only complete new lines; a partial line waits for the next call', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const h = await createRun(dir, 'tail', sampleInit());
  const file = join(h.dir, 'metrics.jsonl');
  assert.deepEqual(await tailMetrics(h.dir, 0), { rows: [], offset: 0, skipped: 0, reset: false }); // no file yet

  await h.appendMetrics(ROWS[0]);
  const t1 = await tailMetrics(h.dir, 0);
  assert.deepEqual(t1.rows, [ROWS[0]]);
  assert.equal(t1.offset, (await stat(file)).size);

  const line1 = '{"step":1,"time":1.25,"train_loss":5.5,"lr":0.00002,"grad_norm":3.5,"tokens":4096,"tokens_per_s":3276.8}\n';
  await appendFile(file, line1.slice(0, 20)); // a writer mid-line
  const t2 = await tailMetrics(h.dir, t1.offset);
  assert.deepEqual(t2.rows, []);
  assert.equal(t2.offset, t1.offset, 'the partial line is not consumed');

  await appendFile(file, line1.slice(20) + '{"step":2,"time":2.5,"train_loss":5.125,"lr":0.00004,"grad_norm":2.75,"tokens":8192,"tokens_per_s":3300}\n{"step":3');
  const t3 = await tailMetrics(h.dir, t2.offset);
  assert.deepEqual(t3.rows, ROWS.slice(1));
  assert.equal(t3.offset, (await stat(file)).size - '{"step":3'.length);

  // the file was replaced by a shorter one: start over
  await writeFile(file, '{"step":0,"time":0}\n');
  const t4 = await tailMetrics(h.dir, t3.offset);
  assert.equal(t4.reset, true);
  assert.deepEqual(t4.rows, [{ step: 0, time: 0 }]);
  assert.equal(t4.offset, 20);
});

test('tailMetrics counts bytes, not characters (multi-byte UTF-8 in a skipped line)', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const h = await createRun(dir, 'utf8', sampleInit());
  const file = join(h.dir, 'metrics.jsonl');
  await writeFile(file, '{"note":"αβγ"}\n');
  const a = await tailMetrics(h.dir, 0);
  assert.equal(a.offset, Buffer.byteLength('{"note":"αβγ"}\n'));
  assert.equal(a.skipped, 1);
  await h.appendMetrics({ step: 5, time: 9 });
  const b = await tailMetrics(h.dir, a.offset);
  assert.deepEqual(b.rows, [{ step: 5, time: 9 }]);
});

test('lastMetrics finds the last train and val loss far back in a long file, ignoring a torn tail', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const h = await createRun(dir, 'long', sampleInit());
  const lines: string[] = [];
  for (let s = 0; s <= 3000; s++) {
    const row: MetricsRow = { step: s, time: s * 0.1, train_loss: 6 - s / 1000, lr: 2e-4, tokens: s * 4096 };
    if (s === 1000) row.val_loss = 4.75; // ~200 KB before the end: several 64 KiB chunks back
    lines.push(JSON.stringify(row));
  }
  await writeFile(join(h.dir, 'metrics.jsonl'), lines.join('\n') + '\n{"step":3001,"time":300.1,"train_loss":0.1,"val_loss":0.2');
  const last = await lastMetrics(h.dir);
  assert.deepEqual(last, { step: 3000, train_loss: 3, val_loss: 4.75 });
  assert.deepEqual(await lastMetrics(join(dir, 'no-such-run')), { step: null, train_loss: null, val_loss: null });
});

/** readMetricsColumns' columns back as rows (NaN: absent), to compare with readMetrics. */
function rowsOfColumns(c: MetricsColumns): MetricsRow[] {
  const rows: MetricsRow[] = [];
  for (let i = 0; i < c.length; i++) {
    const row: MetricsRow = { step: c.step[i], time: c.time[i] };
    for (const [k, col] of Object.entries(c.values)) if (!Number.isNaN(col[i])) row[k as MetricsValueField] = col[i];
    for (const [k, col] of c.evals) if (!Number.isNaN(col[i])) row[k] = col[i];
    rows.push(row);
  }
  return rows;
}

test('readMetricsColumns gives readMetrics’ rows, skipped count and torn flag on tricky lines (JSON.parse per line is the reference)', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const h = await createRun(dir, 'tricky', sampleInit());
  const lines = [
    '{"step":0,"time":0,"val_loss":5.25}',
    '  {"step":1, "time":1.5 ,"train_loss":2.3456780910491943,"lr":2e-5,"tokens":4096}\t',
    '{"step":2,"time":2,"train_loss":NaN}', // not JSON: skipped
    '{"step":2,"time":2,"train_loss":null,"grad_norm":"1.5","lr":1e999}', // null, a string, an overflow: the row keeps step and time only
    '{"step":3,"time":3,"note":"a \\"quoted\\" {brace} and , comma","train_loss":2.5}', // escapes and braces inside a string
    '{"step":4,"time":4,"train_loss":2.25},{"step":5,"time":5}', // two objects on one line: not a row
    '[{"step":6,"time":6}]', // an array: not a row
    '{"step":"7","time":7}', // step not a number
    '{"step":7,"time":7,"eval/qa/exact":0.5,"eval\\/qa\\/pass_rate":1,"eval/bad":3,"eval/a/b/c":4}', // an escaped eval key counts; malformed ones do not
    '{"step":8,"time":8,"train_loss":1,"train_loss":2}', // duplicate key: the last wins
    '',
    '{"step":9,"time":9,"train_loss":1.75,"eval/qa/exact":0.75}',
    '{"step":8,"time":9.5,"train_loss":1.8}', // a resume from step 7: rows from step 8 on are replaced
    '{"step":9,"time":10,"train_loss":1.7}',
    '\uFEFF{"step":10,"time":11,"train_loss":-0}', // a BOM (String.trim removes it) and negative zero
  ];
  await writeFile(join(h.dir, 'metrics.jsonl'), `${lines.join('\n')}\n{"step":11,"time":12,"train_lo`);
  const rows = await readMetrics(h.dir);
  const cols = await readMetricsColumns(h.dir);
  assert.deepEqual(rowsOfColumns(cols), [...rows]);
  assert.equal(cols.skipped, rows.skipped);
  assert.equal(cols.torn, true);
  // The reference itself, worked out by hand from the lines above.
  assert.deepEqual(rows.map((r) => r.step), [0, 1, 2, 3, 7, 8, 9, 10]);
  assert.equal(rows.skipped, 4); // NaN, two objects, an array, a string step
  assert.deepEqual(rows[2], { step: 2, time: 2 });
  assert.deepEqual(rows[4], { step: 7, time: 7, 'eval/qa/exact': 0.5, 'eval/qa/pass_rate': 1 });
  assert.deepEqual(rows[5], { step: 8, time: 9.5, train_loss: 1.8 });
  assert.ok(Object.is(cols.values.train_loss[7], -0));
  assert.deepEqual([...cols.evals.keys()], ['eval/qa/exact', 'eval/qa/pass_rate'], 'step 9’s eval/qa/exact was replaced by the resume; the key stays from step 7');
  assert.deepEqual(Array.from(cols.evals.get('eval/qa/exact')!), [NaN, NaN, NaN, NaN, 0.5, NaN, NaN, NaN]);
});

test('dropOrphanedRows: a step not above the previous kept one replaces the kept rows from that step on', () => {
  // Worked by hand: 1 2 3 4 | 3 drops 3,4 → 1 2 3 | 4 5 → 1 2 3 4 5 | 2 drops 2..5 → 1 2 | 3 → 1 2 3.
  const rows = [1, 2, 3, 4, 3, 4, 5, 2, 3].map((step, i) => ({ step, i }));
  const kept = dropOrphanedRows(rows);
  assert.deepEqual(kept.map((r) => [r.step, r.i]), [[1, 0], [2, 7], [3, 8]]);
  assert.equal(kept[0], rows[0], 'the same row objects, not copies');
  assert.equal(rows.length, 9, 'the input is not changed');
  // A repeated step is "not above": the later row wins; a resume from scratch (step 0) keeps only what follows.
  assert.deepEqual(dropOrphanedRows([0, 1, 1, 2].map((step, i) => ({ step, i }))).map((r) => r.i), [0, 2, 3]);
  assert.deepEqual(dropOrphanedRows([0, 1, 2, 0, 1].map((step, i) => ({ step, i }))).map((r) => r.i), [3, 4]);
  assert.deepEqual(dropOrphanedRows([]), []);
});

test('readMetricsColumns: a key only on rows a resume dropped is gone; no file, no rows; a missing run folder throws', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const h = await createRun(dir, 'cols', sampleInit());
  const empty = await readMetricsColumns(h.dir);
  assert.equal(empty.length, 0);
  assert.equal(empty.torn, false);
  await writeFile(join(h.dir, 'metrics.jsonl'), '{"step":1,"time":1}\n{"step":2,"time":2,"eval/x/m":1}\n{"step":2,"time":3}\n');
  const c = await readMetricsColumns(h.dir);
  assert.deepEqual(Array.from(c.step), [1, 2]);
  assert.deepEqual(Array.from(c.time), [1, 3]);
  assert.equal(c.evals.size, 0);
  assert.deepEqual(rowsOfColumns(c), [...(await readMetrics(h.dir))]);
  await assert.rejects(readMetricsColumns(join(dir, 'nope')), (e: unknown) => e instanceof RunError && /no such run folder/.test(e.message));
});
