// Problems of experiment files as the editor shows them (issue 14, item 2): the CLI's own
// validation placed at the offending key or value, the unknown key's intended key, and the files
// the experiment names (data file's first bad record linked, model folder's config/tokenizer).
// Ranges are checked against offsets computed here from the text (indexOf), not by the module.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { fileProblems, startRunBlocker, validationProblems } from '../../src/extension/experiments/problems';
import { EDITOR_SCHEMA_FILE, editorSchema, editorSchemaText } from '../../src/experiment/editor-schema';
import { readFileSync } from 'node:fs';
import { ROOT } from '../helpers/paths';
import { MODEL } from '../helpers/experiment';
import { tempDir } from './helpers';

const text = (o: { training?: string; extra?: string; model?: string; train?: string } = {}) => `{
  // comment
  "name": "demo",
  "model": ${JSON.stringify(o.model ?? 'owner/model')},
  "data": { "train": ${JSON.stringify(o.train ?? 'train.jsonl')} },
  "training": {
    ${o.training ?? '"learning_rate": 0.001'}
  }${o.extra ?? ''}
}
`;

const at = (t: string, needle: string, nth = 0) => {
  let i = -1;
  for (let k = 0; k <= nth; k++) i = t.indexOf(needle, i + 1);
  assert.ok(i >= 0, needle);
  return { offset: i, length: needle.length };
};

test('an unknown key: an error at the key itself with its intended key for the quick fix', () => {
  const t = text({ training: '"learnig_rate": 0.001' });
  const { problems, config } = validationProblems(t, '/ws/x.lora.json');
  assert.equal(config, null);
  assert.equal(problems.length, 1);
  const [p] = problems;
  assert.deepEqual({ offset: p.offset, length: p.length }, at(t, '"learnig_rate"'));
  assert.equal(p.replaceKey, 'learning_rate');
  assert.match(p.message, /^\/training: unknown key "learnig_rate" \(did you mean "learning_rate"\?\)$/);
  // An alias from another tool gets the same fix; a key of another section gets none (it must move).
  assert.equal(validationProblems(text({ training: '"lr": 0.001' }), 'x.lora.json').problems[0].replaceKey, 'learning_rate');
  const moved = validationProblems(text({ training: '"r": 8' }), 'x.lora.json').problems[0];
  assert.match(moved.message, /belongs in "lora"/);
  assert.equal(moved.replaceKey, undefined);
});

test('a wrong value is marked at the value; a missing key at its object; every problem at once', () => {
  const t = text({ training: '"learning_rate": -1, "max_steps": "many"' }).replace('"name": "demo",\n', '');
  const { problems } = validationProblems(t, 'x.lora.json');
  const byMsg = (re: RegExp) => problems.find((p) => re.test(p.message))!;
  assert.deepEqual(pick(byMsg(/learning_rate/)), at(t, '-1'));
  assert.deepEqual(pick(byMsg(/max_steps/)), at(t, '"many"'));
  const missing = byMsg(/missing required key "name"/);
  assert.deepEqual(pick(missing), { offset: 0, length: 1 }, 'the root object: its opening brace');
  assert.equal(problems.length, 3);
});

test('a syntax error is placed on its line and flagged as syntax (VS Code reports those itself)', () => {
  const t = text().replace('"name": "demo",', '"name": "demo"');
  const { problems } = validationProblems(t, 'x.lora.json');
  assert.ok(problems.length >= 1);
  assert.ok(problems.every((p) => p.syntax));
});

const pick = (p: { offset: number; length: number }) => ({ offset: p.offset, length: p.length });

test('files: a bad data record is shown on data.train with a link to the line and column; a model folder without tokenizer.json on model', async (t) => {
  const dir = await tempDir(t);
  writeFileSync(join(dir, 'train.jsonl'), '{"text": "one"}\n{"text": "two"}\n{"text": "a" "b"}\n');
  const model = join(dir, 'model');
  mkdirSync(model);
  writeFileSync(join(model, 'config.json'), '{"model_type": "llama"}');
  const t1 = text({ model: './model' });
  const file = join(dir, 'x.lora.json');
  const { config } = validationProblems(t1, file);
  assert.ok(config);
  const problems = await fileProblems(t1, config);
  assert.equal(problems.length, 2);
  const data = problems.find((p) => p.related)!;
  assert.deepEqual(pick(data), at(t1, '"train.jsonl"'));
  assert.deepEqual(data.related, { file: join(dir, 'train.jsonl'), line: 3, column: 14, message: data.related!.message });
  assert.match(data.message, /train\.jsonl:3: invalid JSON \(column 14: /);
  const m = problems.find((p) => !p.related)!;
  assert.deepEqual(pick(m), at(t1, '"./model"'));
  assert.match(m.message, /tokenizer\.json: missing/);

  // Missing data file; a model folder without config.json; a real model folder is fine.
  const t2 = text({ model: './nowhere', train: 'none.jsonl' });
  const p2 = await fileProblems(t2, validationProblems(t2, file).config!);
  assert.deepEqual(p2.map((p) => p.message.replace(dir, '<dir>')), ['<dir>/none.jsonl: file not found; check the path (relative paths resolve against the experiment file\'s folder)', '<dir>/nowhere: model folder not found; check the path (relative paths resolve against the experiment file\'s folder) or use a Hub id (owner/name)']);
  cpSync(MODEL, join(dir, 'real'), { recursive: true });
  writeFileSync(join(dir, 'good.jsonl'), '{"text": "fine"}\n');
  const t3 = text({ model: './real', train: 'good.jsonl' });
  assert.deepEqual(await fileProblems(t3, validationProblems(t3, file).config!), []);
  // A Hub id is not checked (it may not be downloaded yet).
  const t4 = text({ train: 'good.jsonl' });
  assert.deepEqual(await fileProblems(t4, validationProblems(t4, file).config!), []);
});

test('the editor schema (jsonValidation) is current and can never report a problem: ours are the only ones', () => {
  assert.equal(readFileSync(join(ROOT, EDITOR_SCHEMA_FILE), 'utf8'), editorSchemaText(), 'run: node --import tsx scripts/editor-schema.ts');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  assert.deepEqual(pkg.contributes.jsonValidation, [{ fileMatch: '*.lora.json', url: `./${EDITOR_SCHEMA_FILE}` }]);
  const validate = new Ajv({ strict: false, allErrors: true }).compile(editorSchema() as object);
  for (const bad of [{}, { name: 7, model: [], data: { train: 1, packing: 'yes' }, lora: { r: -3, bogus: 1 }, training: { learning_rate: 'x', lr_scheduler_type: 'nope' }, extra: true }]) {
    assert.equal(validate(bad), true, JSON.stringify(validate.errors));
  }
  // Completion material survives: keys, descriptions, defaults, enum values as suggestions.
  const s = editorSchema() as { properties: { training: { properties: Record<string, { description?: string; default?: unknown; examples?: unknown[] }> } } };
  const sched = s.properties.training.properties.lr_scheduler_type;
  assert.ok(sched.description && sched.default !== undefined);
  assert.deepEqual([...sched.examples!].sort(), ['constant', 'constant_with_warmup', 'cosine', 'linear']);
});

test('files: a LoRA rank above a targeted layer\'s width (from config.json) is an error on lora.r or its rank_pattern key', async (t) => {
  const dir = await tempDir(t);
  writeFileSync(join(dir, 'good.jsonl'), '{"text": "fine"}\n');
  const file = join(dir, 'x.lora.json');
  // stories260K (config.json): hidden 64, 4 KV heads × head_dim 8 → k_proj/v_proj are 64 → 32,
  // the narrowest targeted layers of all-linear; q_proj is 64 → 64.
  const check = async (lora: string) => {
    const t1 = text({ model: MODEL, train: 'good.jsonl', extra: `,\n  "lora": ${lora}` });
    const { config, problems } = validationProblems(t1, file);
    assert.deepEqual(problems, []);
    return { t1, found: await fileProblems(t1, config!) };
  };
  const big = await check('{ "target_modules": "all-linear", "r": 512 }');
  assert.equal(big.found.length, 1);
  assert.deepEqual(pick(big.found[0]), at(big.t1, '512'));
  assert.match(big.found[0].message, /^lora\.r 512 is larger than the smallest targeted layer \(32 features\).*use r ≤ 32/);
  assert.deepEqual((await check('{ "target_modules": "all-linear", "r": 33 }')).found.map((p) => p.message.slice(0, 10)), ['lora.r 33 ']);
  assert.deepEqual((await check('{ "target_modules": "all-linear", "r": 32 }')).found, []);
  // Only targeted layers count: q_proj alone is 64 wide.
  assert.deepEqual((await check('{ "target_modules": ["q_proj"], "r": 64 }')).found, []);
  // A rank_pattern entry: marked at its value, naming the pattern and module.
  const pat = await check('{ "target_modules": "all-linear", "r": 8, "rank_pattern": { "q_proj": 65 } }');
  assert.equal(pat.found.length, 1);
  assert.deepEqual(pick(pat.found[0]), at(pat.t1, '65'));
  assert.match(pat.found[0].message, /^lora\.rank_pattern "q_proj": 65 is larger than model\.layers\.\d\.self_attn\.q_proj \(64 features\)/);
});

test('Start Run is refused, in one line naming the file and the first problem, when a named file has a problem', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'x.lora.json');
  const missing = text({ model: MODEL, train: 'none.jsonl' });
  const line = await startRunBlocker(file, missing, validationProblems(missing, file).config!);
  assert.equal(line, `x.lora.json has a problem to fix before a run can start, see the Problems panel: ${join(dir, 'none.jsonl')}: file not found; check the path (relative paths resolve against the experiment file's folder)`);
  const two = text({ model: join(dir, 'nowhere'), train: 'none.jsonl' });
  assert.match((await startRunBlocker(file, two, validationProblems(two, file).config!))!, /^x\.lora\.json has 2 problems to fix .*none\.jsonl: file not found.*\(and 1 more\)$/);
  writeFileSync(join(dir, 'none.jsonl'), '{"text": "fine"}\n');
  assert.equal(await startRunBlocker(file, missing, validationProblems(missing, file).config!), undefined);
});
