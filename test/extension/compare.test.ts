// The host side of the Compare view: reading runs (series, table numbers, epochs, adapter size)
// from real run folders, the session's handshake and exports, which runs a selection means,
// and the protocol guards. Expected values are worked out here from the rows the test writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type CompareRun, type HostToCompare, isCompareToHost, isHostToCompare } from '../../src/protocol/compare';
import { loadCompareRun, stepsPerEpoch } from '../../src/extension/compare/load';
import { CompareSession } from '../../src/extension/compare/session';
import { resolveCompareRuns, runsOfTargets, sweepCompareRuns } from '../../src/extension/compare/select';
import { writeSweep } from '../../src/runs/sweep';
import { NoTargetError } from '../../src/extension/targets';
import { FakeInference } from './fake-inference';
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

test('session: nothing before ready; init with runs and one-line problems; exports saved; generate without a final adapter refused in one line', async (t) => {
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
      inference: new FakeInference(),
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

  await session.receive({ v: 1, type: 'generate', gen: 1, prompt: 'Once upon a time', params: { max_new_tokens: 16, temperature: 0 } });
  assert.deepEqual(sent.at(-1), { v: 1, type: 'generationDone', gen: 1, error: 'None of the selected runs has a final adapter yet: generations compare the adapters of finished runs (a checkpoint can be tried in the Playground).' });
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
  const run = { id: 'a', run_dir: '/r/a', status: 'completed', summary: {}, hyperparameters: {}, model: '/m', adapter_dir: null, train: s(3), val: s(1), evals: { 'eval/qa/exact': s(2) } };
  assert.ok(isHostToCompare({ v: 1, type: 'init', runs: [run], problems: [], preset: null }));
  assert.ok(!isHostToCompare({ v: 1, type: 'init', runs: [{ ...run, train: { ...s(3), value: new Float64Array(2) } }], problems: [] }));
  assert.ok(!isHostToCompare({ v: 1, type: 'init', runs: [{ ...run, train: { ...s(1), step: [0] } }], problems: [] }));
  assert.ok(!isHostToCompare({ v: 2, type: 'init', runs: [], problems: [] }));
  assert.ok(!isHostToCompare({ v: 1, type: 'init', runs: [{ ...run, evals: { 'eval/qa/exact': { ...s(2), value: new Float64Array(1) } } }], problems: [] }));
  assert.ok(isCompareToHost({ v: 1, type: 'exportPng', chart: 'scatter', data_url: 'data:image/png;base64,AAAA' }));
  assert.ok(!isCompareToHost({ v: 1, type: 'exportPng', chart: 'other', data_url: 'data:image/png;base64,AAAA' }));
  assert.ok(!isCompareToHost({ v: 1, type: 'exportPng', chart: 'train', data_url: 'data:image/svg+xml;base64,AAAA' }));
  assert.ok(!isCompareToHost({ v: 1, type: 'exportCsv', csv: 3 }));
  assert.ok(isCompareToHost({ v: 1, type: 'generate', gen: 3, prompt: 'x', params: { max_new_tokens: 64, temperature: 0 } }));
  assert.ok(!isCompareToHost({ v: 1, type: 'generate', gen: 3, prompt: 'x', params: { max_new_tokens: 0, temperature: 0 } }));
  assert.ok(!isCompareToHost({ v: 1, type: 'generate', gen: 3, prompt: 'x', params: { max_new_tokens: 8, temperature: -1 } }));
  assert.ok(!isCompareToHost({ v: 1, type: 'generate', prompt: 'x', run_dirs: [1] }));
});

/** A session over runs the test describes (no disk), with a fake worker, recording what it posts. */
function generationSession(runs: Pick<CompareRun, 'id' | 'status' | 'model' | 'adapter_dir'>[]) {
  const inference = new FakeInference();
  const sent: HostToCompare[] = [];
  const full = (r: (typeof runs)[number]): CompareRun => {
    const s = { step: new Float64Array(0), time: new Float64Array(0), tokens: new Float64Array(0), value: new Float64Array(0) };
    return { ...r, name: r.id, run_dir: `/runs/${r.id}`, created_at: '', summary: {} as CompareRun['summary'], hyperparameters: {}, steps_per_epoch: null, epoch_note: null, train: s, val: s, evals: {} };
  };
  const session = new CompareSession(
    runs.map((r) => `/runs/${r.id}`),
    { post: (m) => void (assert.ok(isHostToCompare(m), JSON.stringify(m)), sent.push(m)), save: async () => undefined, openDashboard: () => undefined, inference },
    { load: async (dir) => full(runs.find((r) => `/runs/${r.id}` === dir)!) },
  );
  return { session, inference, sent };
}

const tick = () => new Promise((r) => setImmediate(r));

test('generations: one batch of the base and every final adapter, streamed into columns; a run without an adapter left out with a note', async () => {
  const { session, inference, sent } = generationSession([
    { id: 'a', status: 'completed', model: '/models/m', adapter_dir: '/runs/a/adapter' },
    { id: 'b', status: 'running', model: '/models/m', adapter_dir: null },
    { id: 'c', status: 'completed', model: '/models/m', adapter_dir: '/runs/c/adapter' },
  ]);
  await session.receive({ v: 1, type: 'ready' });
  sent.length = 0;
  const done = session.receive({ v: 1, type: 'generate', gen: 7, prompt: 'Once', params: { max_new_tokens: 12, temperature: 0 } });
  await tick();
  assert.equal(inference.generations.length, 1);
  assert.deepEqual(inference.generations[0].req, { model: '/models/m', variants: [null, '/runs/a/adapter', '/runs/c/adapter'], prompt: 'Once', params: { max_new_tokens: 12, temperature: 0 } });
  assert.deepEqual(sent[0], {
    v: 1,
    type: 'generationStarted',
    gen: 7,
    columns: [
      { run_dir: null, label: 'base model', model: '/models/m' },
      { run_dir: '/runs/a', label: 'a', model: '/models/m' },
      { run_dir: '/runs/c', label: 'c', model: '/models/m' },
    ],
    notes: ['b has no final adapter yet (running): left out.'],
  });
  const g = inference.generations[0];
  g.token(2, ' upon');
  g.token(0, ' a');
  g.token(2, ' a time');
  g.finish([
    { adapter: null, ids: [1], text: ' a', finish_reason: 'length' },
    { adapter: '/runs/a/adapter', ids: [], text: '', finish_reason: 'eos' },
    { adapter: '/runs/c/adapter', ids: [5, 6], text: ' upon a time', finish_reason: 'eos' },
  ]);
  await done;
  const deltas = sent.filter((m) => m.type === 'generation').map((m) => [m.column, m.text]);
  assert.deepEqual(deltas, [[2, ' upon'], [0, ' a'], [2, ' a time']]);
  const ended = sent.filter((m) => m.type === 'generationEnded').map((m) => [m.column, m.finish_reason, m.tokens]);
  assert.deepEqual(ended, [[0, 'length', 1], [1, 'eos', 0], [2, 'eos', 2]]);
  assert.deepEqual(sent.at(-1), { v: 1, type: 'generationDone', gen: 7, error: null });
});

test('generations: Stop cancels the running batch and the models not started; runs on two models generate per model, in turn', async () => {
  const { session, inference, sent } = generationSession([
    { id: 'x', status: 'completed', model: '/models/one', adapter_dir: '/runs/x/adapter' },
    { id: 'y', status: 'completed', model: '/models/two', adapter_dir: '/runs/y/adapter' },
    { id: 'z', status: 'completed', model: '/models/one', adapter_dir: '/runs/z/adapter' },
  ]);
  await session.receive({ v: 1, type: 'ready' });
  sent.length = 0;
  // Both models, to the end: model one's batch, then model two's.
  let done = session.receive({ v: 1, type: 'generate', gen: 1, prompt: 'Hi', params: { max_new_tokens: 4, temperature: 0 } });
  await tick();
  const started = sent[0] as Extract<HostToCompare, { type: 'generationStarted' }>;
  assert.deepEqual(started.columns.map((c) => c.label), ['base model (one)', 'x', 'z', 'base model (two)', 'y']);
  assert.match(started.notes.join(' '), /2 base models \(one, two\): each model's base and adapters generate in turn/);
  assert.equal(inference.generations.length, 1, 'the second model waits for the first');
  assert.deepEqual(inference.generations[0].req.variants, [null, '/runs/x/adapter', '/runs/z/adapter']);
  inference.generations[0].token(1, 'a');
  inference.generations[0].finish([0, 1, 2].map(() => ({ adapter: null, ids: [1], text: 'a', finish_reason: 'length' as const })));
  await tick();
  assert.equal(inference.generations.length, 2);
  assert.deepEqual(inference.generations[1].req, { model: '/models/two', variants: [null, '/runs/y/adapter'], prompt: 'Hi', params: { max_new_tokens: 4, temperature: 0 } });
  inference.generations[1].token(1, 'b');
  inference.generations[1].fail(new Error('adapter /runs/y/adapter: lora_A of q_proj is [4, 64], the model needs [4, 32]\n  at stack'));
  await done;
  assert.deepEqual(sent.filter((m) => m.type === 'generation').map((m) => [m.column, m.text]), [[1, 'a'], [4, 'b']], 'model two streams into columns 3 and 4');
  const ended = sent.filter((m) => m.type === 'generationEnded');
  assert.deepEqual(ended.map((m) => m.column), [0, 1, 2, 3, 4]);
  assert.equal(ended[4].error, 'adapter /runs/y/adapter: lora_A of q_proj is [4, 64], the model needs [4, 32]', 'one line');

  // Stop during the first model: its batch is cancelled, the second never starts.
  sent.length = 0;
  done = session.receive({ v: 1, type: 'generate', gen: 2, prompt: 'Hi', params: { max_new_tokens: 4, temperature: 0 } });
  await tick();
  await session.receive({ v: 1, type: 'stopGeneration', gen: 1 }); // stale: ignored
  assert.equal(inference.generations[2].cancelled, false);
  await session.receive({ v: 1, type: 'stopGeneration', gen: 2 });
  assert.equal(inference.generations[2].cancelled, true);
  await done;
  assert.equal(inference.generations.length, 3, 'model two not started after Stop');
  assert.deepEqual(sent.filter((m) => m.type === 'generationEnded').map((m) => [m.column, m.finish_reason]), [[0, 'cancelled'], [1, 'cancelled'], [2, 'cancelled'], [3, 'cancelled'], [4, 'cancelled']]);
  assert.deepEqual(sent.at(-1), { v: 1, type: 'generationDone', gen: 2, error: null });

  // A new prompt replaces a running one; closing the panel cancels.
  done = session.receive({ v: 1, type: 'generate', gen: 3, prompt: 'Hi', params: { max_new_tokens: 4, temperature: 0 } });
  await tick();
  const second = session.receive({ v: 1, type: 'generate', gen: 4, prompt: 'Ho', params: { max_new_tokens: 4, temperature: 0 } });
  assert.equal(inference.generations[3].cancelled, true);
  await done;
  await tick();
  session.dispose();
  assert.equal(inference.generations[4].cancelled, true);
  await second;
  // An empty prompt is refused in one line.
  sent.length = 0;
  await session.receive({ v: 1, type: 'generate', gen: 5, prompt: '  ', params: { max_new_tokens: 4, temperature: 0 } });
  assert.deepEqual(sent, [{ v: 1, type: 'generationDone', gen: 5, error: 'Type a prompt first.' }]);
});

test('loadCompareRun: eval-set columns (eval/<set>/<metric>) as series; none when no row has them', async (t) => {
  const dir = await tempDir(t);
  const run = await makeRun(join(dir, 'runs'), { name: 'ev', maxSteps: 4 });
  await run.appendMetrics({ step: 0, time: 0, val_loss: 5 });
  await run.appendMetrics({ step: 2, time: 2, train_loss: 4, tokens: 20, 'eval/qa/exact': 0.25, 'eval/qa/pass_rate': 0.5 });
  await run.appendMetrics({ step: 3, time: 3, train_loss: 3.5, tokens: 30 });
  await run.appendMetrics({ step: 4, time: 4, train_loss: 3, tokens: 40, 'eval/qa/exact': 0.75 });
  const r = await loadCompareRun(run.dir);
  assert.deepEqual(Object.keys(r.evals), ['eval/qa/exact', 'eval/qa/pass_rate']);
  assert.deepEqual(Array.from(r.evals['eval/qa/exact'].step), [2, 4]);
  assert.deepEqual(Array.from(r.evals['eval/qa/exact'].value), [0.25, 0.75]);
  assert.deepEqual(Array.from(r.evals['eval/qa/exact'].tokens), [20, 40]);
  assert.deepEqual(Array.from(r.evals['eval/qa/pass_rate'].value), [0.5]);
  assert.equal(r.model, '/models/tiny');
  assert.equal(r.adapter_dir, null);
  const plain = await makeRun(join(dir, 'runs'), { name: 'plain', maxSteps: 1 });
  await plain.appendMetrics({ step: 1, time: 1, train_loss: 2 });
  assert.deepEqual((await loadCompareRun(plain.dir)).evals, {});
});

test('Compare Sweep: the runs sweep.json lists (pending points left out), the scatter preset on learning rate; refused off a sweep', async (t) => {
  const dir = await tempDir(t);
  const sweepDir = join(dir, 'runs', 'lr-sweep-20261129-101500');
  await mkdir(sweepDir, { recursive: true });
  const r1 = await makeRun(sweepDir, { name: 'lr-0' });
  const r2 = await makeRun(sweepDir, { name: 'lr-1' });
  const now = new Date().toISOString();
  await writeSweep(sweepDir, {
    version: 1, name: 'lr', experiment_file: join(dir, 'lr.lora.json'), method: 'grid', parameters: { 'training.learning_rate': [1e-4, 1e-3, 1e-2] }, seeds: [0],
    metric: 'val_loss', created_at: now, updated_at: now, status: 'running', pid: process.pid,
    points: [
      { index: 0, name: 'lr-0', values: { 'training.learning_rate': 1e-4 }, run_dir: r1.dir },
      { index: 1, name: 'lr-1', values: { 'training.learning_rate': 1e-3 }, run_dir: r2.dir },
      { index: 2, name: 'lr-2', values: { 'training.learning_rate': 1e-2 }, run_dir: null },
    ],
  });
  // The tree's sweep node: its target is a group, its path the sweep folder.
  const node = { id: `sweep:${sweepDir}`, target: { kind: 'group' }, path: sweepDir, contextValue: 'sweep' };
  const got = await sweepCompareRuns(node);
  assert.deepEqual(got.runDirs, [r1.dir, r2.dir]);
  assert.deepEqual(got.preset, { scatter_key: 'training.learning_rate', focus: 'scatter' });
  await assert.rejects(sweepCompareRuns({ path: r1.dir }), (e: unknown) => e instanceof NoTargetError && /sweep\.json/.test((e as Error).message));
  await assert.rejects(sweepCompareRuns(undefined), NoTargetError);
  // The preset travels with the first init only.
  const sent: HostToCompare[] = [];
  const session = new CompareSession(got.runDirs, { post: (m) => void sent.push(m), save: async () => undefined, openDashboard: () => undefined, inference: new FakeInference() }, undefined, undefined, got.preset);
  await session.receive({ v: 1, type: 'ready' });
  await session.receive({ v: 1, type: 'ready' });
  assert.deepEqual(sent.map((m) => (m.type === 'init' ? m.preset : 'other')), [got.preset, null]);
  assert.ok(isHostToCompare(sent[0]));
});
