import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { closestMatch, editDistance } from '../../src/experiment/errors';
import { defaultExperiment } from '../../src/experiment/index';
import { FILE, assertProblems, minimal } from './helpers';

// minimal() is 5 lines; a line given as `extra` is line 5.

describe('ExperimentError: one line per problem, file:line: /pointer: message', () => {
  it('bad type', () => {
    assertProblems(minimal('  "training": { "learning_rate": "2e-4" }'), [
      `${FILE}:5: /training/learning_rate: must be a number (got "2e-4")`,
    ]);
    assertProblems(minimal('  "lora": { "r": 8.5, "use_rslora": "yes" }'), [
      `${FILE}:5: /lora/r: must be an integer (got 8.5)`,
      `${FILE}:5: /lora/use_rslora: must be true or false (got "yes")`,
    ]);
    assertProblems(minimal('  "init_adapter": 3'), [`${FILE}:5: /init_adapter: must be a string or null (got 3)`]);
    assertProblems(minimal('  "training": []'), [`${FILE}:5: /training: must be an object (got an array)`]);
    assertProblems('[]', [`${FILE}:1: /: must be an object (got an array)`]);
  });

  it('out of range', () => {
    assertProblems(minimal('  "training": {\n    "learning_rate": 0,\n    "max_steps": 0,\n    "adam_beta2": 1\n  }'), [
      `${FILE}:6: /training/learning_rate: must be > 0`,
      `${FILE}:7: /training/max_steps: must be >= 1`,
      `${FILE}:8: /training/adam_beta2: must be < 1`,
    ]);
    assertProblems(minimal('  "lora": { "r": 0, "lora_dropout": 1 }'), [
      `${FILE}:5: /lora/r: must be >= 1`,
      `${FILE}:5: /lora/lora_dropout: must be < 1`,
    ]);
  });

  it('validation: a path, a fraction in (0, 1) or null', () => {
    const msg = 'must be a file path, a fraction between 0 and 1 exclusive (e.g. 0.05), or null';
    for (const [value, got] of [['1', '1'], ['0', '0'], ['true', 'true']]) {
      const text = minimal().replace('"data/train.jsonl" }', `"data/train.jsonl",\n    "validation": ${value} }`);
      assertProblems(text, [`${FILE}:5: /data/validation: ${msg} (got ${got})`]);
    }
  });

  it('unknown key, with a suggestion', () => {
    assertProblems(minimal('  "training": {\n    "lerning_rate": 1e-4\n  }'), [
      `${FILE}:6: /training: unknown key "lerning_rate" (did you mean "learning_rate"?)`,
    ]);
    assertProblems(minimal('  "lora": { "learning_rate": 1e-4 }'), [`${FILE}:5: /lora: unknown key "learning_rate" (it belongs in "training")`]);
    assertProblems(minimal('  "lr": 1e-4'), [`${FILE}:5: /: unknown key "lr" (did you mean "learning_rate" in "training"?)`]);
    assertProblems(minimal('  "lora": { "rank": 8 }'), [`${FILE}:5: /lora: unknown key "rank" (did you mean "r"?)`]);
    assertProblems(minimal('  "lora": { "foo": 1 }'), [
      `${FILE}:5: /lora: unknown key "foo" (allowed keys: "r", "lora_alpha", "lora_dropout", "target_modules", "use_rslora", "rank_pattern", "alpha_pattern")`,
    ]);
  });

  it('bad enum value lists the allowed values', () => {
    assertProblems(minimal('  "training": { "lr_scheduler_type": "cosin" }'), [
      `${FILE}:5: /training/lr_scheduler_type: must be one of "constant", "constant_with_warmup", "linear", "cosine" (got "cosin"; did you mean "cosine"?)`,
    ]);
    assertProblems(minimal('  "device": "gpu"'), [`${FILE}:5: /device: must be one of "auto", "cpu", "cuda", "webgpu" (got "gpu")`]);
  });

  it('missing required key names it, at the line of its object', () => {
    assertProblems('{\n  "name": "demo",\n  "data": { "train": "t.jsonl" }\n}', [`${FILE}:1: /: missing required key "model"`]);
    assertProblems('{\n  "name": "demo",\n  "model": "o/m",\n  "data": {\n    "validation": 0.1\n  }\n}', [
      `${FILE}:4: /data: missing required key "train"`,
    ]);
  });

  it('name must be usable as a folder name', () => {
    assertProblems(minimal().replace('"demo"', '"my run/1"'), [
      `${FILE}:2: /name: must contain only letters, digits, ".", "_" and "-" (it becomes a folder name)`,
    ]);
    assertProblems(minimal().replace('"demo"', '".."'), [
      `${FILE}:2: /name: must contain only letters, digits, ".", "_" and "-" (it becomes a folder name)`,
    ]);
    assertProblems(minimal().replace('"demo"', '""'), [`${FILE}:2: /name: must not be empty`]);
  });

  it('target_modules: empty, repeated, bad items, bad regular expression', () => {
    assertProblems(minimal('  "lora": { "target_modules": [] }'), [`${FILE}:5: /lora/target_modules: must not be empty`]);
    assertProblems(minimal('  "lora": { "target_modules": ["q_proj", "q_proj"] }'), [
      `${FILE}:5: /lora/target_modules: must not repeat an item (items 1 and 0 are the same)`,
    ]);
    assertProblems(minimal('  "lora": {\n    "target_modules": [\n      "q_proj",\n      7\n    ]\n  }'), [
      `${FILE}:8: /lora/target_modules/1: must be a string (got 7)`,
    ]);
    assertProblems(minimal('  "lora": { "target_modules": 5 }'), [
      `${FILE}:5: /lora/target_modules: must be "all-linear", a non-empty list of module names such as ["q_proj", "v_proj"], or a regular expression (got 5)`,
    ]);
    assertProblems(minimal('  "lora": { "target_modules": "(q_proj" }'), [
      `${FILE}:5: /lora/target_modules: is not a valid regular expression (Unterminated group)`,
    ]);
  });

  it('duplicate keys are errors (which one would count is not obvious)', () => {
    assertProblems(minimal('  "lora": { "r": 8,\n    "r": 4 }'), [`${FILE}:6: /lora: duplicate key "r"`]);
  });

  it('syntax errors, with their line', () => {
    assertProblems('{\n  "name": "demo"\n  "model": "o/m",\n  "data": { "train": "t" }\n}', [`${FILE}:2: /name: expected "," after this value`]);
    assertProblems('{\n  "name": "demo",\n  "model" "o/m",\n  "data": { "train": "t" }\n}', [`${FILE}:3: /model: expected ":" after the key`]);
    assertProblems('{\n  "name": "demo",\n  "model": "o/m",\n  "data": { "train": "t" }\n', [
      `${FILE}:5: /: the object opened on line 1 is not closed (expected "}")`,
    ]);
    assertProblems('{\n  "name": "demo",\n  "model": "o/m,\n  "data": { "train": "t" }\n}', [
      `${FILE}:3: /model: string is not closed (closing double quote missing)`,
    ]);
    assertProblems('{\n  "name": \'demo\',\n  "model": "o/m"\n}', [`${FILE}:2: /name: unexpected character`]);
    assertProblems('{\n  "name": "demo" /* oops\n}', [`${FILE}:2: /name: comment is not closed ("*/" missing)`]);
    assertProblems('', [`${FILE}:1: /: the file is empty (expected an object)`]);
    assertProblems('// nothing yet\n', [`${FILE}:2: /: the file is empty (expected an object)`]);
  });

  it('reports several problems together, in line order', () => {
    const text = `{
  "name": "demo",
  "data": {
    "train": "t.jsonl",
    "max_seq_length": 1
  },
  "lora": { "r": -1, "lora_alpa": 16 },
  "training": {
    "learning_rate": -0.1,
    "lr_scheduler_type": "step",
    "max_steps": "100"
  },
  "devise": "cpu"
}`;
    const e = assertProblems(text, [
      `${FILE}:1: /: missing required key "model"`,
      `${FILE}:5: /data/max_seq_length: must be >= 2`,
      `${FILE}:7: /lora: unknown key "lora_alpa" (did you mean "lora_alpha"?)`,
      `${FILE}:7: /lora/r: must be >= 1`,
      `${FILE}:9: /training/learning_rate: must be > 0`,
      `${FILE}:10: /training/lr_scheduler_type: must be one of "constant", "constant_with_warmup", "linear", "cosine" (got "step")`,
      `${FILE}:11: /training/max_steps: must be an integer (got "100")`,
      `${FILE}:13: /: unknown key "devise" (did you mean "device"?)`,
    ]);
    assert.deepEqual(e.problems[4], { file: FILE, line: 9, pointer: '/training/learning_rate', message: 'must be > 0' });
    assert.equal(e.name, 'ExperimentError');
  });

  it('the template with a bad name reports that name', () => {
    assertProblems(defaultExperiment('a b', 'o/m', 't.jsonl'), [
      `${FILE}:5: /name: must contain only letters, digits, ".", "_" and "-" (it becomes a folder name)`,
    ]);
  });
});

describe('suggestions', () => {
  it('edit distance counts a swap of neighbours as one edit, ignoring case', () => {
    assert.equal(editDistance('lerning_rate', 'learning_rate'), 1);
    assert.equal(editDistance('lroa_alpha', 'lora_alpha'), 1);
    assert.equal(editDistance('Device', 'device'), 0);
  });

  it('suggests only close matches, and nothing for short words', () => {
    assert.equal(closestMatch('max_step', ['max_steps', 'save_steps']), 'max_steps');
    assert.equal(closestMatch('warmup', ['max_steps', 'seed']), undefined);
    assert.equal(closestMatch('gpu', ['cpu', 'cuda']), undefined);
  });
});

describe('lora.rank_pattern / lora.alpha_pattern (PEFT LoraConfig)', () => {
  it('ranks must be positive integers, alphas positive numbers, each named by its pattern', () => {
    assertProblems(minimal('  "lora": { "rank_pattern": { "q_proj": 0, "k_proj": 2.5, "v_proj": "8" } }'), [
      `${FILE}:5: /lora/rank_pattern/q_proj: must be a positive integer (the LoRA rank of the modules this pattern matches) (got 0)`,
      `${FILE}:5: /lora/rank_pattern/k_proj: must be a positive integer (the LoRA rank of the modules this pattern matches) (got 2.5)`,
      `${FILE}:5: /lora/rank_pattern/v_proj: must be a positive integer (the LoRA rank of the modules this pattern matches) (got "8")`,
    ]);
    assertProblems(minimal('  "lora": { "alpha_pattern": { "q_proj": 0, "k_proj": "x" } }'), [
      `${FILE}:5: /lora/alpha_pattern/q_proj: must be a positive number (the lora_alpha of the modules this pattern matches) (got 0)`,
      `${FILE}:5: /lora/alpha_pattern/k_proj: must be a positive number (the lora_alpha of the modules this pattern matches) (got "x")`,
    ]);
    assertProblems(minimal('  "lora": { "rank_pattern": [8] }'), [`${FILE}:5: /lora/rank_pattern: must be an object (got an array)`]);
  });

  it('a pattern that is not a regular expression is reported at its own line', () => {
    assertProblems(minimal('  "lora": {\n    "rank_pattern": { "q_proj(": 8 },\n    "alpha_pattern": { "[": 2 }\n  }'), [
      `${FILE}:6: /lora/rank_pattern: key "q_proj(" is not a valid regular expression (Unterminated group); PEFT matches these keys as regular expressions against module names`,
      `${FILE}:7: /lora/alpha_pattern: key "[" is not a valid regular expression (Unterminated character class); PEFT matches these keys as regular expressions against module names`,
    ]);
  });
});
