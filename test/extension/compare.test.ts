// The host side of the Compare view: reading runs (series, table numbers, epochs, adapter size)
// from real run folders, the session's handshake and exports, which runs a selection means,
// and the protocol guards. Expected values are worked out here from the rows the test writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type HostToCompare, isCompareToHost, isHostToCompare } from '../../src/protocol/compare';
import { loadCompareRun, stepsPerEpoch } from '../../src/extension/compare/load';
import { CompareSession } from '../../src/extension/compare/session';
import { resolveCompareRuns, runsOfTargets } from '../../src/extension/compare/select';
import { NoTargetError } from '../../src/extension/targets';
import { entry, makeRun, tempDir } from './helpers';

test('loadCompareRun: columns, best/last validation loss and its step, tokens/s, adapter bytes, a resume’s rewound rows dropped', async (t) => {
  const dir = await tempDir(t);
  const run = await makeRun(join(dir, 'runs'), { name: 'cmp', maxSteps: 6 });
  await run.appendMetrics({ step: 0, time: 0, val_loss: 5 });
  await run.appendMetrics({ step: 1, time: 1, train_loss: 4.5, tokens: 100 });
  await run.appendMetrics({ step: 2, time: 2, train_loss: 4.0, tokens: 200, val_loss: 3.5 });
  await run.appendMetrics({ step: 3, time: 3, train_loss: 9.9, tokens: 300, val_loss: 1.0 }); // orphaned by the resume below
  await run.appendMetrics({ step: 3, time: 3.5, train_loss: 3.8, tokens: 300 }); // resumed from step 2
  await run.appendMetrics({ step: 4, time: 4, train_loss: 3.6, tokens: 400, val_loss: 3.0 });
  await run.appendMetrics({ step: 5, time: 5, train_loss: 3.5, tokens: 500, val_loss: 3.0 });
  await run.appendMetrics({ step: 6, time: 8, train_loss: 3.4, tokens: 600, val_loss: 3.2 });
  await mkdir(join(run.dir, 'adapter'));
  await writeFile(join(run.dir, 'adapter', 'adapter_config.json'), 'x'.repeat(300));
  await writeFile(join(run.dir, 'adapter', 'adapter_model.safetensors'), Buffer.alloc(4096));

  const r = await loadCompareRun(run.dir);
  assert.equal(r.id, run.id);
  assert.equal(r.status, 'running');
  assert.deepEqual(Array.from(r.train.step), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(Array.from(r.train.value), [4.5, 4.0, 3.8, 3.6, 3.5, 3.4]);
  assert.deepEqual(Array.from(r.train.time), [1, 2, 3.5, 4, 5, 8]);
  assert.deepEqual(Array.from(r.val.step), [0, 2, 4, 5, 6]);
  assert.deepEqual(Array.from(r.val.tokens), [0, 200, 400, 500, 600], 'the step-0 row has no tokens: 0');
  assert.deepEqual(r.summary, {
    steps: 6,
    max_steps: 6,
    tokens: 600,
    wall_time_s: 8,
    tokens_per_s: 600 / 8,
    best_val_loss: 3.0, // 1.0 was logged by the process the resume replaced
    best_val_step: 4, // first of the two 3.0s
    last_val_loss: 3.2,
    adapter_bytes: 300 + 4096,
  });
  assert.equal(r.hyperparameters['lora.r'], 8);
  assert.equal(r.steps_per_epoch, null, 'the fixture has no data report');
  assert.match(r.epoch_note!, /no data report/);
  assert.ok(r.train.step instanceof Float64Array);
});

test('stepsPerEpoch: ⌈examples / batch⌉ batches per epoch, gradient_accumulation_steps batches per step; none with packing', () => {
  const run = (data: object, training: object, examples?: number) =>
    ({ config: { data, training }, dataset: { train_sha256: null, validation_sha256: null, ...(examples === undefined ? {} : { report: { train_examples: examples } }) } }) as never;
  // 103 examples, batch 8 → 13 batches; accumulation 2 → 6.5 optimizer steps per epoch.
  assert.deepEqual(stepsPerEpoch(run({ packing: false }, { per_device_train_batch_size: 8, gradient_accumulation_steps: 2 }, 103)), { steps: 6.5 });
  assert.deepEqual(stepsPerEpoch(run({}, { per_device_train_batch_size: 4 }, 8)), { steps: 2 });
  assert.match((stepsPerEpoch(run({ packing: true }, { per_device_train_batch_size: 4 }, 8)) as { reason: string }).reason, /packing/);
  assert.match((stepsPerEpoch(run({}, { per_device_train_batch_size: 4 })) as { reason: string }).reason, /data report/);
});

test('session: nothing before ready; init with runs and one-line problems; exports saved; reserved generate answered', async (t) => {
  const dir = await tempDir(t);
  const a = await makeRun(join(dir, 'runs'), { name: 'a' });
  await a.appendMetrics({ step: 1, time: 1, train_loss: 2, val_loss: 2.5, tokens: 10 });
  const broken = join(dir, 'runs', 'broken');
  await mkdir(broken, { recursive: true });
  await writeFile(join(broken, 'run.json'), '{ nope');
  const sent: HostToCompare[] = [];
  const saved: { text: string; name: string; ext: string[] }[] = [];
  const opened: string[] = [];
  const session = new CompareSession(
    [a.dir, broken],
    {
      post: (m) => {
        assert.ok(isHostToCompare(m), JSON.stringify(m));
        sent.push(m);
      },
      save: async (bytes, name, filter) => {
        saved.push({ text: Buffer.from(bytes).toString('latin1'), name, ext: filter.extensions });
        return '/tmp/x';
      },
      openDashboard: (d) => opened.push(d),
    },
    undefined,
    () => new Date(2026, 10, 29, 10, 15, 0),
  );
  await session.update([a.dir]);
  await session.receive({ type: 'ready' });
  assert.deepEqual(sent, []);
  await session.receive({ v: 1, type: 'ready' });
  assert.equal(sent.length, 1);
  const init = sent[0] as Extract<HostToCompare, { type: 'init' }>;
  assert.deepEqual(init.runs.map((r) => r.run_dir), [a.dir]);
  assert.equal(init.problems.length, 1);
  assert.equal(init.problems[0].run_dir, broken);
  assert.match(init.problems[0].reason, /broken[/\\]run\.json/);
  assert.ok(!init.problems[0].reason.includes('\n'));

  await session.receive({ v: 1, type: 'exportCsv', csv: 'id\r\nx\r\n' });
  // A 1×1 PNG's first bytes, base64: the host writes the decoded bytes.
  await session.receive({ v: 1, type: 'exportPng', chart: 'val', data_url: 'data:image/png;base64,iVBORw0KGgo=' });
  await session.receive({ v: 1, type: 'exportPng', chart: 'val', data_url: 'data:text/html;base64,PHNjcmlwdD4=' }); // refused
  assert.deepEqual(saved, [
    { text: 'id\r\nx\r\n', name: 'compare-runs-2026-11-29-101500.csv', ext: ['csv'] },
    { text: '\x89PNG\r\n\x1a\n', name: 'compare-validation-loss-2026-11-29-101500.png', ext: ['png'] },
  ]);

  await session.receive({ v: 1, type: 'openDashboard', run_dir: a.dir });
  await session.receive({ v: 1, type: 'openDashboard', run_dir: '/elsewhere' }); // not one of ours
  assert.deepEqual(opened, [a.dir]);

  await a.appendMetrics({ step: 2, time: 2, train_loss: 1.5, val_loss: 1.9, tokens: 20 });
  await session.update([a.dir, '/not/shown']);
  const upd = sent.at(-1) as unknown as Extract<HostToCompare, { type: 'run' }>;
  assert.equal(upd.type, 'run');
  assert.equal(upd.run.summary.best_val_loss, 1.9);

  await session.receive({ v: 1, type: 'generate', prompt: 'Once upon a time', run_dirs: [null, a.dir] });
  const gen = sent.at(-1) as unknown as Extract<HostToCompare, { type: 'generation' }>;
  assert.equal(gen.type, 'generation');
  assert.match(gen.error!, /inference worker/);
});

test('which runs a selection means: runs, checkpoints’ runs, an experiment’s runs; the quick pick otherwise', async () => {
  const runs = [
    entry({ id: 'e1-3', run_dir: '/ws/r/e1-3', experiment_file: '/ws/e1.lora.json' }),
    entry({ id: 'e2-2', run_dir: '/ws/r/e2-2', experiment_file: '/ws/e2.lora.json' }),
    entry({ id: 'e1-1', run_dir: '/ws/r/e1-1', experiment_file: '/ws/e1.lora.json' }),
  ];
  assert.deepEqual(runsOfTargets([{ kind: 'experiment', file: '/ws/e1.lora.json' }], runs, 'linux'), ['/ws/r/e1-3', '/ws/r/e1-1']);
  assert.deepEqual(
    runsOfTargets([{ kind: 'run', runDir: '/ws/r/e1-1' }, { kind: 'checkpoint', runDir: '/ws/r/e2-2', dir: '/ws/r/e2-2/checkpoints/step-5', step: 5 }, { kind: 'run', runDir: '/ws/r/e1-1' }, { kind: 'run', runDir: '/ws/r/new' }], runs, 'linux'),
    ['/ws/r/e2-2', '/ws/r/e1-1', '/ws/r/new'],
  );
  let asked: { picked?: boolean; value: string }[] | undefined;
  const ctx = (answer: string[] | undefined) => ({
    runs: () => runs,
    platform: 'linux' as const,
    pickMany: async <T>(items: { picked?: boolean; value: T }[]) => {
      asked = items as never;
      return answer as T[] | undefined;
    },
  });
  // Two selected runs: no question.
  assert.deepEqual(await resolveCompareRuns({ kind: 'run', runDir: '/ws/r/e1-1' }, [{ kind: 'run', runDir: '/ws/r/e1-1' }, { kind: 'run', runDir: '/ws/r/e2-2' }], ctx(undefined)), ['/ws/r/e2-2', '/ws/r/e1-1']);
  // One run: the quick pick opens with it checked.
  asked = undefined;
  assert.deepEqual(await resolveCompareRuns({ kind: 'run', runDir: '/ws/r/e2-2' }, undefined, ctx(['/ws/r/e2-2', '/ws/r/e1-3'])), ['/ws/r/e2-2', '/ws/r/e1-3']);
  assert.deepEqual(asked!.map((i) => [i.value, i.picked]), [['/ws/r/e1-3', false], ['/ws/r/e2-2', true], ['/ws/r/e1-1', false]]);
  // The palette: dismissed or empty → nothing.
  assert.equal(await resolveCompareRuns(undefined, undefined, ctx(undefined)), undefined);
  assert.equal(await resolveCompareRuns(undefined, undefined, ctx([])), undefined);
  await assert.rejects(resolveCompareRuns(undefined, undefined, { ...ctx(undefined), runs: () => [] }), NoTargetError);
});

test('protocol guards: typed columns of equal length, PNG data URLs only, version 1', () => {
  const s = (n: number) => ({ step: new Float64Array(n), time: new Float64Array(n), tokens: new Float64Array(n), value: new Float64Array(n) });
  const run = { id: 'a', run_dir: '/r/a', status: 'completed', summary: {}, hyperparameters: {}, train: s(3), val: s(1) };
  assert.ok(isHostToCompare({ v: 1, type: 'init', runs: [run], problems: [] }));
  assert.ok(!isHostToCompare({ v: 1, type: 'init', runs: [{ ...run, train: { ...s(3), value: new Float64Array(2) } }], problems: [] }));
  assert.ok(!isHostToCompare({ v: 1, type: 'init', runs: [{ ...run, train: { ...s(1), step: [0] } }], problems: [] }));
  assert.ok(!isHostToCompare({ v: 2, type: 'init', runs: [], problems: [] }));
  assert.ok(isCompareToHost({ v: 1, type: 'exportPng', chart: 'scatter', data_url: 'data:image/png;base64,AAAA' }));
  assert.ok(!isCompareToHost({ v: 1, type: 'exportPng', chart: 'other', data_url: 'data:image/png;base64,AAAA' }));
  assert.ok(!isCompareToHost({ v: 1, type: 'exportPng', chart: 'train', data_url: 'data:image/svg+xml;base64,AAAA' }));
  assert.ok(!isCompareToHost({ v: 1, type: 'exportCsv', csv: 3 }));
  assert.ok(!isCompareToHost({ v: 1, type: 'generate', prompt: 'x', run_dirs: [1] }));
});
