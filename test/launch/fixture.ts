/**
 * The 2 × 2 sweep the cluster tests submit (Slurm job arrays, Kubernetes Indexed Jobs): a tiny
 * experiment on the real stories260K model with Shakespeare text from ../shared, written into a
 * fresh temporary folder (removed when the test process exits). `training` holds the step counts
 * each test needs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SHARED } from '../helpers/paths';
import { tempDir } from '../helpers/tmp';

const text = readFileSync(join(SHARED, 'data/tinyshakespeare.txt'), 'utf8');

/** Writes the experiment (with its `sweep` block over learning_rate × r) and its data; `runs` is where runs go. */
export function tinySweep(prefix: string, training: { max_steps: number; eval_steps: number; save_steps: number }): { dir: string; file: string; runs: string } {
  const dir = tempDir(prefix);
  writeFileSync(join(dir, 'train.txt'), text.slice(0, 6000));
  writeFileSync(join(dir, 'valid.txt'), text.slice(6000, 7000));
  const file = join(dir, 'tiny.lora.json');
  writeFileSync(file, JSON.stringify({
    name: 'tiny',
    model: join(SHARED, 'models/stories260K'),
    data: { train: 'train.txt', validation: 'valid.txt', max_seq_length: 32, packing: true },
    training: { ...training, per_device_train_batch_size: 2, logging_steps: 1 },
    device: 'cpu',
    sweep: { 'training.learning_rate': [1e-3, 1e-2], 'lora.r': [1, 4] },
  }));
  return { dir, file, runs: join(dir, 'runs') };
}
