// Atomic checkpoints and folders: failures, replacement, leftovers, and SIGKILL at random moments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RunError, createRun, latestCheckpoint, listCheckpoints, writeCheckpointAtomic, writeDirAtomic } from '../../src/runs/index';
import { ROOT } from '../helpers/paths';
import { deadPid, sampleInit, tempDir } from './helpers';

async function writeSimple(runDir: string, step: number, content: string): Promise<string> {
  return writeCheckpointAtomic(runDir, step, async (tmp) => {
    await writeFile(join(tmp, 'adapter_model.safetensors'), content);
    await mkdir(join(tmp, 'sub'));
    await writeFile(join(tmp, 'sub', 'trainer_state.json'), JSON.stringify({ step }));
  });
}

test('writeCheckpointAtomic publishes step-<n> with checkpoint.json listing the files', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const run = await createRun(dir, 'ck', sampleInit());
  assert.deepEqual(await listCheckpoints(run.dir), []);
  assert.equal(await latestCheckpoint(run.dir), null);
  const out = await writeSimple(run.dir, 10, 'hello');
  assert.equal(out, join(run.dir, 'checkpoints', 'step-10'));
  const marker = JSON.parse(await readFile(join(out, 'checkpoint.json'), 'utf8'));
  assert.equal(marker.step, 10);
  assert.deepEqual(marker.files, { 'adapter_model.safetensors': 5, 'sub/trainer_state.json': 11 });
  await run.writeCheckpoint(2, async (tmp) => writeFile(join(tmp, 'a'), 'x'));
  await run.writeCheckpoint(100, async (tmp) => writeFile(join(tmp, 'a'), 'x'));
  assert.deepEqual(
    (await listCheckpoints(run.dir)).map((c) => c.step),
    [2, 10, 100],
  );
  assert.deepEqual(await latestCheckpoint(run.dir), { step: 100, dir: join(run.dir, 'checkpoints', 'step-100') });
  assert.deepEqual((await readdir(run.checkpointsDir)).sort(), ['step-10', 'step-100', 'step-2']);
  await assert.rejects(writeSimple(run.dir, -1, 'x'), RangeError);
});

test('a fill that throws midway leaves no step-<n> and the previous checkpoint intact', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const run = await createRun(dir, 'ck', sampleInit());
  await writeSimple(run.dir, 1, 'first');
  await assert.rejects(
    writeCheckpointAtomic(run.dir, 2, async (tmp) => {
      await writeFile(join(tmp, 'adapter_model.safetensors'), 'half');
      throw new Error('disk full (simulated)');
    }),
    /disk full \(simulated\)/,
  );
  // and a failing re-write of the same step leaves the old one
  await assert.rejects(
    writeCheckpointAtomic(run.dir, 1, async (tmp) => {
      await writeFile(join(tmp, 'adapter_model.safetensors'), 'replacement');
      throw new Error('nope');
    }),
    /nope/,
  );
  assert.deepEqual(await readdir(run.checkpointsDir), ['step-1']);
  assert.equal(await readFile(join(run.checkpointsDir, 'step-1', 'adapter_model.safetensors'), 'utf8'), 'first');
  assert.deepEqual((await listCheckpoints(run.dir)).map((c) => c.step), [1]);
  // a fill may not write the marker itself
  await assert.rejects(
    writeCheckpointAtomic(run.dir, 3, async (tmp) => writeFile(join(tmp, 'checkpoint.json'), '{}')),
    (e: unknown) => e instanceof RunError && /must not create checkpoint\.json/.test(e.message),
  );
  assert.deepEqual(await readdir(run.checkpointsDir), ['step-1']);
});

test('re-writing a step replaces it whole; stale leftovers of dead writers are ignored, then cleaned', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const run = await createRun(dir, 'ck', sampleInit());
  await writeSimple(run.dir, 5, 'old content');
  await writeSimple(run.dir, 5, 'new');
  assert.equal(await readFile(join(run.checkpointsDir, 'step-5', 'adapter_model.safetensors'), 'utf8'), 'new');
  assert.deepEqual(await readdir(run.checkpointsDir), ['step-5']);

  const dead = await deadPid();
  const live = process.ppid;
  await mkdir(join(run.checkpointsDir, `.tmp-step-6-${dead}`)); // a killed writer's half checkpoint
  await writeFile(join(run.checkpointsDir, `.tmp-step-6-${dead}`, 'checkpoint.json'), '{}');
  await mkdir(join(run.checkpointsDir, `.old-step-4-${dead}-r0123abcd`));
  await mkdir(join(run.checkpointsDir, `.tmp-step-6-${live}`)); // another live writer: left alone
  await mkdir(join(run.checkpointsDir, 'step-7')); // no marker: incomplete, never listed
  assert.deepEqual((await listCheckpoints(run.dir)).map((c) => c.step), [5]);
  assert.equal((await latestCheckpoint(run.dir))?.step, 5);

  await writeSimple(run.dir, 8, 'x');
  assert.deepEqual((await readdir(run.checkpointsDir)).sort(), [`.tmp-step-6-${live}`, 'step-5', 'step-7', 'step-8']);
  assert.deepEqual((await listCheckpoints(run.dir)).map((c) => c.step), [5, 8]);
});

test('writeDirAtomic: the adapter folder appears whole, is replaced whole, and survives a failed fill', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const run = await createRun(dir, 'ad', sampleInit());
  await run.writeAdapter(async (tmp) => {
    await writeFile(join(tmp, 'adapter_config.json'), '{"r":8}');
    await writeFile(join(tmp, 'adapter_model.safetensors'), 'v1');
  });
  assert.deepEqual((await readdir(run.adapterDir)).sort(), ['adapter_config.json', 'adapter_model.safetensors']);
  await assert.rejects(
    writeDirAtomic(run.adapterDir, async (tmp) => {
      await writeFile(join(tmp, 'adapter_model.safetensors'), 'v2-partial');
      throw new Error('killed');
    }),
    /killed/,
  );
  assert.equal(await readFile(join(run.adapterDir, 'adapter_model.safetensors'), 'utf8'), 'v1');
  await writeDirAtomic(run.adapterDir, async (tmp) => writeFile(join(tmp, 'adapter_model.safetensors'), 'v3'));
  assert.deepEqual(await readdir(run.adapterDir), ['adapter_model.safetensors']);
  assert.equal(await readFile(join(run.adapterDir, 'adapter_model.safetensors'), 'utf8'), 'v3');
  assert.deepEqual((await readdir(run.dir)).sort(), ['adapter', 'run.json']);
  // a brand-new folder under missing parents
  const out = await writeDirAtomic(join(dir, 'x', 'y', 'merged'), async (tmp) => writeFile(join(tmp, 'f'), '1'));
  assert.equal(await readFile(join(out, 'f'), 'utf8'), '1');
});

/** Checks every `step-<n>` folder: marker present, every listed file complete, one byte value throughout. */
async function verifyCheckpoints(runDir: string): Promise<number[]> {
  const ckDir = join(runDir, 'checkpoints');
  const names = await readdir(ckDir).catch(() => [] as string[]);
  const stepDirs = names.filter((n) => /^step-\d+$/.test(n));
  for (const n of stepDirs) {
    const marker = JSON.parse(await readFile(join(ckDir, n, 'checkpoint.json'), 'utf8')); // throws if absent
    const state = JSON.parse(await readFile(join(ckDir, n, 'trainer_state.json'), 'utf8'));
    assert.equal(`step-${marker.step}`, n);
    assert.equal(state.step, marker.step);
    assert.deepEqual(Object.keys(marker.files).sort(), ['adapter_config.json', 'adapter_model.safetensors', 'optimizer.safetensors', 'trainer_state.json']);
    assert.equal(marker.files['adapter_model.safetensors'], 1 << 20);
    assert.equal(marker.files['optimizer.safetensors'], 2 << 20);
    for (const [f, size] of Object.entries(marker.files)) assert.equal((await stat(join(ckDir, n, f))).size, size, `${n}/${f}`);
    for (const f of ['adapter_model.safetensors', 'optimizer.safetensors']) {
      const b = await readFile(join(ckDir, n, f));
      assert.ok(b.every((x) => x === state.gen), `${n}/${f} holds only byte ${state.gen}`);
    }
  }
  const listed = await listCheckpoints(runDir);
  assert.deepEqual(
    listed.map((c) => `step-${c.step}`),
    stepDirs.sort((a, b) => Number(a.slice(5)) - Number(b.slice(5))),
    'listCheckpoints returns exactly the complete step folders',
  );
  return listed.map((c) => c.step);
}

/** Starts the slow writer, SIGKILLs it `delayMs` after it is ready; returns its stdout lines. */
function killWriterAfter(runDir: string, firstStep: number, mode: 'slow' | 'fast', delayMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/runs/fixtures/checkpoint-writer.ts'), runDir, String(firstStep), mode], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    let armed = false;
    child.stdout.on('data', (d) => {
      out += d;
      if (!armed && out.includes('ready\n')) {
        armed = true;
        setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`writer exited with ${code ?? signal} before it was killed`));
      else resolve(out.split('\n').filter(Boolean));
    });
  });
}

test('SIGKILL during writeCheckpointAtomic never leaves a step-<n> without checkpoint.json (10 trials)', { timeout: 120_000 }, async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const run = await createRun(dir, 'kill', sampleInit());
  const delays = [0, 20, 45, 80, 120, 170, 230, 300, 380, 470];
  let midWrite = 0;
  let completedWrites = 0;
  for (const [i, delay] of delays.entries()) {
    const first = (await latestCheckpoint(run.dir))?.step ?? 1; // re-writes (replaces) the latest first
    const lines = await killWriterAfter(run.dir, first, i % 2 ? 'fast' : 'slow', delay);
    const last = lines[lines.length - 1] ?? '';
    if (last.startsWith('begin')) midWrite++;
    completedWrites += lines.filter((l) => l.startsWith('done')).length;
    const steps = await verifyCheckpoints(run.dir);
    t.diagnostic(`trial ${i} (${i % 2 ? 'fast' : 'slow'}, kill at ${delay} ms): ${lines.filter((l) => l.startsWith('done')).length} writes done, last "${last}", checkpoints [${steps.join(',')}]`);
  }
  t.diagnostic(`killed mid-write in ${midWrite}/10 trials; ${completedWrites} checkpoints completed in all`);
  assert.ok(midWrite >= 1, 'at least one kill landed inside a checkpoint write');
  assert.ok(completedWrites >= 1, 'at least one checkpoint completed');
  // the next write cleans every leftover of the killed writers
  const before = await verifyCheckpoints(run.dir);
  await writeCheckpointAtomic(run.dir, 10_000, async (tmp) => {
    await writeFile(join(tmp, 'trainer_state.json'), JSON.stringify({ step: 10_000, gen: 7 }));
    await writeFile(join(tmp, 'adapter_model.safetensors'), Buffer.alloc(1 << 20, 7));
    await writeFile(join(tmp, 'optimizer.safetensors'), Buffer.alloc(2 << 20, 7));
    await writeFile(join(tmp, 'adapter_config.json'), '{}');
  });
  const names = await readdir(run.checkpointsDir);
  assert.deepEqual(names.filter((n) => n.startsWith('.')), [], 'no .tmp-/.old- folders left');
  assert.deepEqual(await verifyCheckpoints(run.dir), [...before, 10_000]);
});
