import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { ExperimentError, isHubId, loadExperiment, parseExperiment, type ExperimentConfig } from '../../src/experiment/index';
import { FILE, minimal } from './helpers';

const base = resolve('exp');

describe('parseExperiment: defaults', () => {
  it('fills every key from the schema defaults ("LoRA Without Regret")', () => {
    const config = parseExperiment(minimal(), FILE);
    const expected: ExperimentConfig = {
      name: 'demo',
      model: 'HuggingFaceTB/SmolLM2-135M',
      init_adapter: null,
      data: {
        train: join(base, 'data/train.jsonl'),
        validation: null,
        max_seq_length: 512,
        packing: false,
        pad_to_multiple_of: 64,
        completion_only_loss: true,
        skip_bad_records: false,
      },
      lora: { r: 16, lora_alpha: 32, lora_dropout: 0, target_modules: 'all-linear', use_rslora: false, rank_pattern: {}, alpha_pattern: {} },
      training: {
        learning_rate: 2e-4,
        // "LoRA Without Regret": constant learning rate, no warmup.
        lr_scheduler_type: 'constant',
        warmup_steps: 0,
        warmup_ratio: 0,
        max_steps: 500,
        per_device_train_batch_size: 8,
        gradient_accumulation_steps: 1,
        weight_decay: 0,
        max_grad_norm: 1,
        gradient_checkpointing: false,
        precision: 'auto',
        adam_beta1: 0.9,
        adam_beta2: 0.999,
        adam_epsilon: 1e-8,
        eval_steps: 50,
        save_steps: 100,
        logging_steps: 1,
        seed: 0,
      },
      device: 'auto',
      advise: { full_finetune_learning_rate: null, ignore: [] },
    };
    assert.deepEqual(config, expected);
  });

  it('keeps given values and fills the rest of a partly written section', () => {
    const config = parseExperiment(
      minimal(`  "lora": { "r": 64, "target_modules": ["q_proj", "v_proj"] },
  "training": { "learning_rate": 1e-3, "lr_scheduler_type": "cosine", "warmup_steps": 0, "warmup_ratio": 0.1 },
  "device": "cpu"`),
      FILE,
    );
    assert.deepEqual(config.lora, { r: 64, lora_alpha: 32, lora_dropout: 0, target_modules: ['q_proj', 'v_proj'], use_rslora: false, rank_pattern: {}, alpha_pattern: {} });
    assert.equal(config.training.learning_rate, 1e-3);
    assert.equal(config.training.lr_scheduler_type, 'cosine');
    assert.equal(config.training.warmup_steps, 0);
    assert.equal(config.training.warmup_ratio, 0.1);
    assert.equal(config.training.max_steps, 500);
    assert.equal(config.device, 'cpu');
  });

  it('accepts a regular expression as target_modules', () => {
    const config = parseExperiment(minimal(`  "lora": { "target_modules": ".*\\\\.(q_proj|v_proj)" }`), FILE);
    assert.equal(config.lora.target_modules, '.*\\.(q_proj|v_proj)');
  });

  it('gives each parse its own objects (defaults are not shared)', () => {
    const a = parseExperiment(minimal(), FILE);
    a.lora.r = 99;
    a.training.seed = 7;
    const b = parseExperiment(minimal(), FILE);
    assert.equal(b.lora.r, 16);
    assert.equal(b.training.seed, 0);
  });
});

describe('parseExperiment: JSON with comments', () => {
  it('accepts line and block comments and trailing commas', () => {
    const text = `// header comment
{
  /* the name */ "name": "demo",
  "model": "HuggingFaceTB/SmolLM2-135M", // a Hub id
  "data": {
    "train": "data/train.jsonl",
    "validation": 0.05, // 5 %
  },
  "lora": { "target_modules": ["q_proj", "v_proj",], },
}
`;
    const config = parseExperiment(text, FILE);
    assert.equal(config.data.validation, 0.05);
    assert.deepEqual(config.lora.target_modules, ['q_proj', 'v_proj']);
  });

  it('accepts a UTF-8 byte-order mark and CRLF line ends', () => {
    const config = parseExperiment(`\uFEFF${minimal().replace(/\n/g, '\r\n')}`, FILE);
    assert.equal(config.name, 'demo');
  });
});

describe('parseExperiment: paths', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loralab-exp-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'models', 'tiny'), { recursive: true });
  mkdirSync(join(dir, 'owner', 'local-model'), { recursive: true });
  const file = join(dir, 'sub', 'run.lora.json');
  const text = (model: string, rest = '') => `{ "name": "p", "model": ${JSON.stringify(model)}, "data": { "train": "../data/train.jsonl"${rest} } }`;

  it('resolves data.train, data.validation and init_adapter against the file folder', () => {
    const config = parseExperiment(
      `{ "name": "p", "model": "HuggingFaceTB/SmolLM2-135M", "init_adapter": "adapters/a",
         "data": { "train": "../data/train.jsonl", "validation": "valid.jsonl" } }`,
      file,
    );
    assert.equal(config.data.train, join(dir, 'data', 'train.jsonl'));
    assert.equal(config.data.validation, join(dir, 'sub', 'valid.jsonl'));
    assert.equal(config.init_adapter, join(dir, 'sub', 'adapters', 'a'));
  });

  it('keeps a Hub id owner/name as is', () => {
    assert.equal(parseExperiment(text('HuggingFaceTB/SmolLM2-135M'), file).model, 'HuggingFaceTB/SmolLM2-135M');
    assert.ok(isHubId('HuggingFaceTB/SmolLM2-135M'));
    assert.ok(!isHubId('a/b/c'));
  });

  it('treats ./, ../, / and ~ as local paths', () => {
    assert.equal(parseExperiment(text('../models/tiny'), file).model, join(dir, 'models', 'tiny'));
    assert.equal(parseExperiment(text('./m'), file).model, join(dir, 'sub', 'm'));
    assert.equal(parseExperiment(text('/opt/models/x'), file).model, resolve('/opt/models/x'));
    assert.equal(parseExperiment(text('~/models/x'), file).model, join(homedir(), 'models', 'x'));
  });

  it('treats owner/name as a local path when that folder exists next to the file', () => {
    const beside = join(dir, 'exp.lora.json');
    assert.equal(parseExperiment(text('owner/local-model'), beside).model, join(dir, 'owner', 'local-model'));
    assert.equal(parseExperiment(text('models/tiny'), beside).model, join(dir, 'models', 'tiny'));
  });

  it('treats anything that is not owner/name as a path', () => {
    assert.equal(parseExperiment(text('tiny-model'), file).model, join(dir, 'sub', 'tiny-model'));
    assert.equal(parseExperiment(text('a/b/c'), file).model, join(dir, 'sub', 'a', 'b', 'c'));
  });

  it('keeps a validation fraction a number', () => {
    assert.equal(parseExperiment(text('o/m', ', "validation": 0.1'), file).data.validation, 0.1);
  });
});

describe('loadExperiment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loralab-load-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads and parses a file, resolving paths against its folder', async () => {
    const file = join(dir, 'a.lora.json');
    writeFileSync(file, minimal());
    const config = await loadExperiment(file);
    assert.equal(config.data.train, join(dir, 'data', 'train.jsonl'));
  });

  it('says clearly that a file is missing', async () => {
    const file = join(dir, 'missing.lora.json');
    await assert.rejects(loadExperiment(file), (e: unknown) => {
      assert.ok(e instanceof ExperimentError);
      assert.equal(e.message, `${file}: file not found`);
      assert.deepEqual(e.problems, [{ file, line: 0, pointer: '', message: 'file not found' }]);
      return true;
    });
  });

  it('says clearly that a folder is not a file', async () => {
    await assert.rejects(loadExperiment(dir), { name: 'ExperimentError', message: `${dir}: is a folder, not an experiment file` });
  });

  it('reports problems with the file name as given', async () => {
    const file = join(dir, 'bad.lora.json');
    writeFileSync(file, minimal('  "device": "gpu"'));
    await assert.rejects(loadExperiment(file), {
      message: `${file}:5: /device: must be one of "auto", "cpu", "cuda", "webgpu" (got "gpu")`,
    });
  });
});

describe('parseExperiment: result shape', () => {
  it('returns plain objects in the schema key order, without $schema', () => {
    const config = parseExperiment(minimal('  "$schema": "../schemas/lora-experiment.schema.json",\n  "device": "cpu"'), FILE);
    assert.equal(Object.getPrototypeOf(config), Object.prototype);
    assert.equal(Object.getPrototypeOf(config.training), Object.prototype);
    assert.deepEqual(Object.keys(config), ['name', 'model', 'init_adapter', 'data', 'lora', 'training', 'device', 'advise']);
  });
});

describe('parseExperiment: lora.rank_pattern / lora.alpha_pattern', () => {
  it('keeps both patterns as written, in their order (PEFT: the first matching key wins)', () => {
    const config = parseExperiment(minimal('  "lora": { "r": 8, "rank_pattern": { "layers.0.self_attn.q_proj": 2, "q_proj": 4 }, "alpha_pattern": { "q_proj": 4.5 } }'), FILE);
    assert.deepEqual(config.lora.rank_pattern, { 'layers.0.self_attn.q_proj': 2, q_proj: 4 });
    assert.deepEqual(Object.keys(config.lora.rank_pattern!), ['layers.0.self_attn.q_proj', 'q_proj']);
    assert.deepEqual(config.lora.alpha_pattern, { q_proj: 4.5 });
    assert.equal(Object.getPrototypeOf(config.lora.rank_pattern), Object.prototype);
  });
});

it('training.precision and data.pad_to_multiple_of: values, and HF fp16 / bf16 keys pointed to precision', () => {
  const cfg = parseExperiment('{"name": "p", "model": "./m", "data": {"train": "t.txt", "pad_to_multiple_of": null}, "training": {"precision": "bf16"}}', 'p.lora.json');
  assert.equal(cfg.training.precision, 'bf16');
  assert.equal(cfg.data.pad_to_multiple_of, null);
  assert.throws(
    () => parseExperiment('{"name": "p", "model": "./m", "data": {"train": "t.txt", "pad_to_multiple_of": 0}, "training": {"precision": "fp8", "fp16": true}}', 'p.lora.json'),
    (e: Error) => {
      assert.match(e.message, /p\.lora\.json:1: \/data\/pad_to_multiple_of: .*1/);
      assert.match(e.message, /p\.lora\.json:1: \/training\/precision: .*"auto".*"bf16"/);
      assert.match(e.message, /unknown key "fp16" \(LoRA Lab sets the number format with "precision": "fp16" in "training"; values auto, fp32, fp16, bf16\)/);
      return true;
    },
  );
});

it('HF "fp16": false is said to be removable, not pointed to "precision": "fp16"; "precision": null is one problem', () => {
  assert.throws(
    () => parseExperiment('{"name": "p", "model": "./m", "data": {"train": "t.txt"}, "training": {"fp16": false, "bf16": true}}', 'p.lora.json'),
    (e: Error) => {
      const lines = e.message.split('\n');
      const fp16 = lines.find((l) => l.includes('"fp16"'))!;
      assert.match(fp16, /unknown key "fp16" \(false asks for nothing here, so remove it: fp32 is the default on CPU; "precision" in "training" sets the number format/);
      assert.doesNotMatch(fp16, /"precision": "fp16"/);
      // true still names the precision it asks for
      assert.match(lines.find((l) => l.includes('"bf16"'))!, /"precision": "bf16" in "training"/);
      return true;
    },
  );
  assert.throws(
    () => parseExperiment('{"name": "p", "model": "./m", "data": {"train": "t.txt"}, "training": {"precision": null}}', 'p.lora.json'),
    (e: Error) => {
      assert.deepEqual(e.message.split('\n'), ['p.lora.json:1: /training/precision: must be one of "auto", "fp32", "fp16", "bf16" (got null)']);
      return true;
    },
  );
});
