/** The `sweep` block: expansion into points (counted by hand), point texts, and file:line errors. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expandSweep, parseExperiment, readSweepSpec, sweepPointText } from '../../src/experiment/index';
import { JsonDocument } from '../../src/experiment/document';
import { FILE, assertProblems, minimal } from './helpers';

// minimal() is 5 lines; an `extra` block starts on line 5.
const sweepOf = (body: string) => minimal(`  "sweep": {\n${body}\n  }`);

describe('sweep expansion', () => {
  it('grid: the Cartesian product, first key slowest, seeds fastest; names carry the values', () => {
    const spec = readSweepSpec(new JsonDocument(sweepOf('    "training.learning_rate": [1e-4, 3e-3],\n    "lora.r": [1, 16, 64],\n    "seeds": [0, 7]')).value)!;
    const points = expandSweep('demo', spec);
    assert.equal(points.length, 2 * 3 * 2);
    assert.deepEqual(points[0].values, { 'training.learning_rate': 1e-4, 'lora.r': 1, 'training.seed': 0 });
    assert.deepEqual(points[1].values, { 'training.learning_rate': 1e-4, 'lora.r': 1, 'training.seed': 7 });
    assert.deepEqual(points[2].values, { 'training.learning_rate': 1e-4, 'lora.r': 16, 'training.seed': 0 });
    assert.deepEqual(points[11].values, { 'training.learning_rate': 3e-3, 'lora.r': 64, 'training.seed': 7 });
    assert.deepEqual(points.map((p) => p.index), [...Array(12).keys()]);
    assert.equal(points[0].name, 'demo-00-lr1e-4-r1-s0');
    assert.equal(points[11].name, 'demo-11-lr0.003-r64-s7');
    assert.equal(new Set(points.map((p) => p.name)).size, 12);
  });

  it('zip pairs the i-th values; no seeds runs each point once', () => {
    const spec = readSweepSpec(new JsonDocument(sweepOf('    "method": "zip",\n    "lora.r": [4, 8],\n    "lora.lora_alpha": [8, 16]')).value)!;
    assert.deepEqual(expandSweep('x', spec).map((p) => p.values), [{ 'lora.r': 4, 'lora.lora_alpha': 8 }, { 'lora.r': 8, 'lora.lora_alpha': 16 }]);
  });

  it("a point's text parses to the file's config with the point's values, its name, and no sweep", () => {
    const text = sweepOf('    "training.learning_rate": [1e-4, 3e-3],\n    "lora.r": [2, 64],\n    "data.max_seq_length": [64]');
    const base = parseExperiment(text, FILE);
    const spec = readSweepSpec(new JsonDocument(text).value)!;
    const p = expandSweep(base.name, spec)[3];
    const cfg = parseExperiment(sweepPointText(text, p), FILE);
    assert.equal(cfg.training.learning_rate, 3e-3);
    assert.equal(cfg.lora.r, 64);
    assert.equal(cfg.data.max_seq_length, 64);
    assert.equal(cfg.name, p.name);
    assert.equal(cfg.data.train, base.data.train); // paths still resolve against the file's folder
    assert.deepEqual({ ...cfg, name: base.name, lora: { ...cfg.lora, r: 16 }, training: { ...cfg.training, learning_rate: 2e-4 }, data: { ...cfg.data, max_seq_length: 512 } }, base);
    // a key absent from the file is added to its section
    const added = parseExperiment(sweepPointText(minimal(), { index: 0, name: 'n', values: { 'training.weight_decay': 0.1 } }), FILE);
    assert.equal(added.training.weight_decay, 0.1);
  });
});

describe('bad sweep blocks: file:line errors', () => {
  it('a key path that names no setting, with a guess', () => {
    assertProblems(sweepOf('    "training.learning_rte": [1e-4]'), [
      `${FILE}:6: /sweep/training.learning_rte: "training.learning_rte" cannot be swept (no such setting); did you mean "training.learning_rate"?`,
    ]);
    assertProblems(sweepOf('    "lora.r": [1],\n    "lora.foo.bar": [1]'), [
      `${FILE}:7: /sweep/lora.foo.bar: "lora.foo.bar" cannot be swept (no such setting); use a key path such as "training.learning_rate" or "lora.r"`,
    ]);
  });

  it('a value the setting does not accept, on its own line', () => {
    assertProblems(sweepOf('    "lora.r": [\n      4,\n      0\n    ]'), [`${FILE}:8: /sweep/lora.r/1: lora.r value 0: must be >= 1`]);
    assertProblems(sweepOf('    "training.lr_scheduler_type": ["constant", "cosin"]'), [
      `${FILE}:6: /sweep/training.lr_scheduler_type/1: training.lr_scheduler_type value "cosin": must be one of "constant", "constant_with_warmup", "linear", "cosine" (got "cosin"; did you mean "cosine"?)`,
    ]);
  });

  it('not a list, an empty list, zip lists of different lengths, and nothing to sweep', () => {
    const e = assertProblems(sweepOf('    "lora.r": 4'), [`${FILE}:6: /sweep/lora.r: must be a non-empty list of values to try, e.g. [1e-4, 3e-4, 1e-3] (got 4)`]);
    assert.equal(e.problems[0].line, 6);
    assertProblems(sweepOf('    "lora.r": []'), [`${FILE}:6: /sweep/lora.r: must not be empty`]);
    assertProblems(sweepOf('    "method": "zip",\n    "lora.r": [1, 2],\n    "training.learning_rate": [1e-3]'), [
      `${FILE}:6: /sweep/method: "zip" pairs the i-th values of every list, but the lists have different lengths (lora.r: 2, training.learning_rate: 1); give them one length or use "grid"`,
    ]);
    assertProblems(sweepOf('    "parallel": 2'), [
      `${FILE}:5: /sweep: names no setting to sweep; add e.g. "training.learning_rate": [1e-4, 3e-4, 1e-3] or "seeds": [0, 1, 2]`,
    ]);
  });

  it('the name cannot be swept (the schema\'s unknown key)', () => {
    assertProblems(sweepOf('    "name": ["a", "b"]'), [
      `${FILE}:6: /sweep: unknown key "name" (it belongs in the top level)`,
    ]);
  });
});
