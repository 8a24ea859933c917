/** Fixtures of the extension tests: run entries, run folders in temp dirs. */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunHandle, createRun } from '../../src/runs/index';
import type { RunEntry } from '../../src/extension/runs/watcher';

/** A fresh temp folder, removed after the test. */
export async function tempDir(t: { after(fn: () => Promise<void>): void }, prefix = 'loralab-ext-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A pid that is certainly not alive: a child that already exited. */
export function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid!;
}

/** A run entry as the watcher makes them; `over` replaces fields. */
export function entry(over: Partial<RunEntry> & { id: string }): RunEntry {
  const runDir = over.run_dir ?? `/ws/.loralab/runs/${over.id}`;
  return {
    name: 'exp',
    status: 'completed',
    step: 120,
    max_steps: 120,
    train_loss: 3.2171,
    val_loss: null,
    run_dir: runDir,
    created_at: '2026-01-01T10:00:00.000Z',
    experiment_file: '/ws/exp.lora.json',
    pid: 1,
    hostname: 'here',
    error: null,
    finished_at: null,
    checkpoints: [],
    config_recorded: true,
    ...over,
  };
}

/** A run folder as the trainer creates it (status running under `pid`). */
export function makeRun(runsDir: string, opts: { name?: string; pid?: number; experimentFile?: string | null; maxSteps?: number; now?: Date } = {}): Promise<RunHandle> {
  return createRun(
    runsDir,
    opts.name ?? 'exp',
    {
      experiment_file: opts.experimentFile ?? null,
      config: { name: opts.name ?? 'exp', lora: { r: 8, lora_alpha: 32, target_modules: ['q_proj', 'v_proj'] }, training: { learning_rate: 0.002, max_steps: opts.maxSteps ?? 10 }, data: { train: '/d/train.txt', validation: 0.05, max_seq_length: 64 }, device: 'cpu' },
      model: { path: '/models/tiny', sha256: null },
      dataset: { train_sha256: null, validation_sha256: null },
      provider: 'cpu',
      engine_version: '0.0.0-test',
      max_steps: opts.maxSteps ?? 10,
      pid: opts.pid ?? process.pid,
    },
    { now: opts.now },
  );
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
