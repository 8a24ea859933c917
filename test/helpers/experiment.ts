/** Builds experiment folders in os.tmpdir() for training tests. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SHARED } from './paths';
import { tempDir } from './tmp';

export const MODEL = `${SHARED}/models/stories260K`;

export interface ExperimentSpec {
  name?: string;
  /** Bytes [start, end) of tinyshakespeare for training; validation similar or a fraction/null. */
  trainBytes?: [number, number];
  validationBytes?: [number, number] | null;
  data?: Record<string, unknown>;
  lora?: Record<string, unknown>;
  training?: Record<string, unknown>;
  extra?: Record<string, unknown>;
}

/** Writes train.txt (+ val.txt) and exp.lora.json into a fresh temp dir (removed at exit); returns paths. */
export function makeExperiment(spec: ExperimentSpec = {}): { dir: string; file: string; runsDir: string } {
  const dir = tempDir('loralab-exp-');
  const text = readFileSync(`${SHARED}/data/tinyshakespeare.txt`);
  const [a, b] = spec.trainBytes ?? [0, 40_000];
  writeFileSync(join(dir, 'train.txt'), text.subarray(a, b));
  let validation: unknown = null;
  if (spec.validationBytes) {
    const [c, d] = spec.validationBytes;
    writeFileSync(join(dir, 'val.txt'), text.subarray(c < 0 ? text.length + c : c, d <= 0 ? text.length + d : d));
    validation = 'val.txt';
  }
  const exp = {
    name: spec.name ?? 'test-run',
    model: MODEL,
    data: { train: 'train.txt', validation, max_seq_length: 64, ...spec.data },
    lora: { r: 4, lora_alpha: 16, target_modules: 'all-linear', ...spec.lora },
    training: { learning_rate: 2e-3, lr_scheduler_type: 'constant_with_warmup', warmup_steps: 2, max_steps: 10, per_device_train_batch_size: 4, eval_steps: 5, save_steps: 5, logging_steps: 1, seed: 0, ...spec.training },
    device: 'cpu',
    ...spec.extra,
  };
  const file = join(dir, 'exp.lora.json');
  writeFileSync(file, `// written by the LoRA Lab tests\n${JSON.stringify(exp, null, 2)}\n`);
  return { dir, file, runsDir: join(dir, 'runs') };
}
