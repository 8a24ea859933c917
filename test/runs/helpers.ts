/** Shared helpers of the run-store tests. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import type { RunInit } from '../../src/runs/index';

/** A fresh temporary folder, removed by the returned cleanup. */
export async function tempDir(prefix = 'loralab-runs-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A complete `createRun` init. */
export function sampleInit(over: Partial<RunInit> = {}): RunInit {
  return {
    experiment_file: '/work/exp/shakespeare.lora.json',
    config: { lora: { r: 16, lora_alpha: 32 }, training: { max_steps: 500, learning_rate: 2e-4 } },
    model: { path: '/models/stories260K', sha256: 'ab'.repeat(32) },
    dataset: { train_sha256: 'cd'.repeat(32), validation_sha256: null },
    provider: 'cpu',
    engine_version: '0.1.0',
    max_steps: 500,
    ...over,
  };
}

/** The pid of a process that has exited (spawned, waited for). */
export function deadPid(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', () => resolve(child.pid!));
  });
}
