// The supervisor with the real trainer process (src/trainer/main.ts through tsx, as the
// extension forks dist/trainer.js): a tiny experiment trains to completion; a trainer killed
// mid-run is reported as died and its run marked failed. Real model (stories260K), real data
// (a 20,000-byte slice of tinyshakespeare), CPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, fork } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { listCheckpoints, openRun, readMetrics } from '../../src/runs/index';
import { type SupervisorEvent, Supervisor } from '../../src/extension/training/supervisor';
import { makeExperiment } from '../helpers/experiment';
import { ROOT } from '../helpers/paths';

const TIMEOUT = 180_000;

function realSupervisor() {
  const children: ChildProcess[] = [];
  const sup = new Supervisor({
    fork: () => {
      const c = fork(join(ROOT, 'src/trainer/main.ts'), [], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], execArgv: ['--import', 'tsx'] });
      children.push(c);
      return c;
    },
  });
  const events: SupervisorEvent[] = [];
  sup.onEvent((e) => events.push(e));
  return { sup, children, events };
}

test('a real trainer: ready → start → run, metrics, checkpoint, done completed', { timeout: TIMEOUT }, async (t) => {
  const exp = makeExperiment({ name: 'sup', trainBytes: [0, 20_000], training: { max_steps: 4, eval_steps: 2, save_steps: 2 } });
  t.after(() => rm(exp.dir, { recursive: true, force: true }));
  const { sup, events } = realSupervisor();
  const job = sup.start({ experimentFile: exp.file, runsDir: exp.runsDir }, 'sup');
  const outcome = await job.exited;
  const describe = () => `${JSON.stringify(outcome)}\n${events.map((e) => (e.type === 'output' ? e.line : e.type)).join('\n')}`;
  assert.equal(outcome.status, 'completed', describe());
  assert.equal(outcome.died, false);
  assert.equal(outcome.exitCode, 0);
  const types = events.map((e) => e.type).filter((x) => x !== 'output');
  assert.equal(types[0], 'started');
  assert.equal(types[1], 'run');
  assert.equal(types.at(-1), 'exited');
  const rows = events.flatMap((e) => (e.type === 'metrics' ? [e.row] : []));
  assert.deepEqual(rows.map((r) => r.step), [1, 2, 3, 4], describe()); // no validation set: no step-0 row
  assert.deepEqual(events.flatMap((e) => (e.type === 'checkpoint' ? [e.step] : [])), [2, 4]);
  assert.ok(events.some((e) => e.type === 'output' && /starting: model/.test(e.line)), 'the trainer log reaches the output');
  assert.equal(job.step, 4);
  assert.equal(job.maxSteps, 4);
  assert.ok(job.trainLoss !== null && Number.isFinite(job.trainLoss));
  const run = await openRun(job.runDir!);
  assert.equal((await run.read()).status, 'completed');
  assert.deepEqual((await readMetrics(job.runDir!)).map((r) => r.step), [1, 2, 3, 4]);
  assert.deepEqual((await listCheckpoints(job.runDir!)).map((c) => c.step), [2, 4]);
});

test('a real trainer killed mid-run: died, last log lines kept, run.json marked failed', { timeout: TIMEOUT }, async (t) => {
  const exp = makeExperiment({ name: 'killed', trainBytes: [0, 20_000], training: { max_steps: 2000, eval_steps: 1000, save_steps: 1000 } });
  t.after(() => rm(exp.dir, { recursive: true, force: true }));
  const { sup, children } = realSupervisor();
  const job = sup.start({ experimentFile: exp.file, runsDir: exp.runsDir }, 'killed');
  await new Promise<void>((resolve, reject) => {
    const sub = sup.onEvent((e) => {
      if (e.type === 'metrics' && e.row.step >= 1) {
        sub.dispose();
        children[0].kill('SIGKILL');
        resolve();
      } else if (e.type === 'exited') reject(new Error(`exited early: ${JSON.stringify(e.outcome)}`));
    });
  });
  const o = await job.exited;
  assert.equal(o.status, 'failed');
  assert.equal(o.died, true);
  assert.equal(o.signal, 'SIGKILL');
  assert.ok(o.lastLines.some((l) => /starting: model/.test(l)), o.lastLines.join('\n'));
  const json = await (await openRun(job.runDir!)).read();
  assert.equal(json.status, 'failed');
  assert.match(json.error!, /killed by signal SIGKILL/);
});
