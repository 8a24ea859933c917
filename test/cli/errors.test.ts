// `loralab score` on broken input: every case must fail with exit code 2 and exactly one
// stderr line `loralab: error: …` that names the offending file and what is wrong; stdout stays
// empty, and with `--json` it holds exactly one {"event":"error",…} line.
//
// Each case is a copy of the real stories260K model (or the golden adapter) in os.tmpdir() with
// one thing broken. A case spawns the CLI twice at once (plain and --json, ~0.6 s CPU each);
// suites run two cases at a time, so the file takes ~25 s on 2 cores.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostTensor } from '../../src/engine/tensor';
import { SafetensorsFile, writeSafetensors } from '../../src/engine/weights/safetensors';
import { runCli } from '../helpers/cli';
import { SHARED } from '../helpers/paths';

const MODEL = `${SHARED}/models/stories260K`;
const ADAPTER = `${SHARED}/golden/adapters/stories260K_r4_a8`;
const TMP = mkdtempSync(join(tmpdir(), 'loralab-cli-errors-'));
const at = (...p: string[]) => join(TMP, ...p);

/** Copies every file of `src` into `dir` (writable) and returns `dir`. */
async function copyDir(src: string, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const f of await readdir(src)) {
    await copyFile(join(src, f), join(dir, f));
    chmodSync(join(dir, f), 0o644); // the shared files are read-only
  }
  return dir;
}

async function readAll(path: string): Promise<{ tensors: Map<string, HostTensor>; metadata: Record<string, string> }> {
  const f = await SafetensorsFile.open(path);
  try {
    const tensors = new Map<string, HostTensor>();
    for (const n of f.names()) tensors.set(n, await f.read(n));
    return { tensors, metadata: { ...f.metadata } };
  } finally {
    f.close();
  }
}

/** Rewrites a safetensors file with `edit` applied to its tensors. */
async function rewriteTensors(path: string, edit: (t: Map<string, HostTensor>) => void): Promise<void> {
  const { tensors, metadata } = await readAll(path);
  edit(tensors);
  await writeSafetensors(path, tensors, metadata);
}

/** Rewrites the JSON header in place (same length, space-padded), leaving the data untouched. */
async function rewriteHeader(path: string, edit: (h: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>) => void): Promise<void> {
  const buf = await readFile(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  edit(header);
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  assert.ok(json.length <= n, 'the edited header must fit in the original one');
  buf.fill(0x20, 8, 8 + n);
  json.copy(buf, 8);
  await writeFile(path, buf);
}

async function editJson(file: string, edit: (c: Record<string, unknown>) => void): Promise<void> {
  const c = JSON.parse(await readFile(file, 'utf8'));
  edit(c);
  await writeFile(file, JSON.stringify(c, null, 2));
}

const f32 = (shape: number[]): HostTensor => ({ dtype: 'float32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
const Q_PROJ_A = 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight';

/**
 * Runs `loralab score ARGS` twice, plain and with --json, and checks the error conventions.
 * Every entry of `mentions` must appear in the error line.
 */
async function expectInputError(args: string[], mentions: (string | RegExp)[]): Promise<void> {
  const [plain, json] = await Promise.all([runCli(['score', ...args]), runCli(['score', ...args, '--json'])]);
  const context = `stderr: ${JSON.stringify(plain.stderr)}`;
  assert.equal(plain.code, 2, `exit code (invalid input); ${context}`);
  assert.equal(plain.stdout, '', 'stdout stays empty without --json');
  assert.match(plain.stderr, /^loralab: error: [^\n]+\n$/, `exactly one error line; ${context}`);
  const message = plain.stderr.slice('loralab: error: '.length, -1);
  for (const m of mentions) {
    if (typeof m === 'string') assert.ok(message.includes(m), `the error line mentions ${JSON.stringify(m)}; got: ${message}`);
    else assert.match(message, m, `the error line matches ${m}; got: ${message}`);
  }

  assert.equal(json.code, 2, `--json exit code; stderr: ${JSON.stringify(json.stderr)}`);
  assert.equal(json.stderr, plain.stderr, '--json prints the same error line on stderr');
  assert.match(json.stdout, /^[^\n]+\n$/, `--json: exactly one stdout line; got ${JSON.stringify(json.stdout)}`);
  assert.deepEqual(JSON.parse(json.stdout), { event: 'error', message, exit_code: 2 });
}

// Paths of the broken copies (built in `before`).
const P = {
  missing: at('no-such-model'),
  noConfig: at('no-config'),
  badJson: at('bad-json'),
  neox: at('gpt-neox'),
  noKey: at('no-num-heads'),
  noWeights: at('no-weights'),
  truncated: at('truncated'),
  lyingLength: at('lying-length'),
  badOffsets: at('bad-offsets'),
  missingTensor: at('missing-tensor'),
  wrongShape: at('wrong-shape'),
  hidden: at('hidden-size'),
  noTokenizer: at('no-tokenizer'),
  adapterWrongIn: at('adapter-wrong-in'),
  adapterLayer9: at('adapter-layer9'),
  adapterQkv: at('adapter-qkv'),
  adapterNoConfig: at('adapter-no-config'),
  adapterWrongRank: at('adapter-wrong-rank'),
};

before(async () => {
  const model = (dir: string) => copyDir(MODEL, dir);
  const adapter = (dir: string) => copyDir(ADAPTER, dir);
  const st = (dir: string) => join(dir, 'model.safetensors');
  const ad = (dir: string) => join(dir, 'adapter_model.safetensors');
  await Promise.all([
    model(P.noConfig).then((d) => unlink(join(d, 'config.json'))),
    // line 4 lacks the comma after line 3
    model(P.badJson).then((d) => writeFile(join(d, 'config.json'), '{\n  "model_type": "llama",\n  "hidden_size": 64\n  "intermediate_size": 172\n}\n')),
    model(P.neox).then((d) => editJson(join(d, 'config.json'), (c) => (c.model_type = 'gpt_neox'))),
    model(P.noKey).then((d) => editJson(join(d, 'config.json'), (c) => delete c.num_attention_heads)),
    model(P.noWeights).then((d) => unlink(st(d))),
    // cut in the data section: the header promises more bytes than the file holds
    model(P.truncated).then((d) => truncate(st(d), 600_000)),
    // the 8-byte header length claims more than the whole file
    model(P.lyingLength).then(async (d) => {
      const buf = await readFile(st(d));
      buf.writeBigUInt64LE(BigInt(buf.length * 2), 0);
      await writeFile(st(d), buf);
    }),
    // F32 [64, 64] needs 16384 bytes; data_offsets say 16380
    model(P.badOffsets).then((d) => rewriteHeader(st(d), (h) => (h['model.layers.0.self_attn.q_proj.weight'].data_offsets[1] -= 4))),
    model(P.missingTensor).then((d) => rewriteTensors(st(d), (t) => t.delete('model.layers.4.mlp.up_proj.weight'))),
    model(P.wrongShape).then((d) => rewriteTensors(st(d), (t) => t.set('model.layers.2.self_attn.k_proj.weight', f32([64, 64])))),
    model(P.hidden).then((d) => editJson(join(d, 'config.json'), (c) => (c.hidden_size = 128))),
    model(P.noTokenizer).then((d) => unlink(join(d, 'tokenizer.json'))),
    adapter(P.adapterWrongIn).then((d) => rewriteTensors(ad(d), (t) => t.set(Q_PROJ_A, f32([4, 32])))),
    adapter(P.adapterLayer9).then((d) => rewriteTensors(ad(d), (t) => {
      t.set('base_model.model.model.layers.9.self_attn.q_proj.lora_A.weight', f32([4, 64]));
      t.set('base_model.model.model.layers.9.self_attn.q_proj.lora_B.weight', f32([64, 4]));
    })),
    adapter(P.adapterQkv).then((d) => rewriteTensors(ad(d), (t) => {
      t.set('base_model.model.model.layers.0.self_attn.qkv_proj.lora_A.weight', f32([4, 64]));
      t.set('base_model.model.model.layers.0.self_attn.qkv_proj.lora_B.weight', f32([128, 4]));
    })),
    adapter(P.adapterNoConfig).then((d) => unlink(join(d, 'adapter_config.json'))),
    adapter(P.adapterWrongRank).then((d) => editJson(join(d, 'adapter_config.json'), (c) => (c.r = 8))),
  ]);
});

after(() => rm(TMP, { recursive: true, force: true }));

const hi = ['--text', 'hi'];
const file = (dir: string, name: string) => join(dir, name);

describe('loralab score: bad model folders', { concurrency: 2 }, () => {
  test('1. model folder does not exist', () => expectInputError(['--model', P.missing, ...hi], [P.missing, /not (found|exist)/]));

  test('--model pointing at a file', () => expectInputError(['--model', file(MODEL, 'model.safetensors'), ...hi], [file(MODEL, 'model.safetensors'), 'not a folder']));

  test('--model pointing at an adapter folder', () => expectInputError(['--model', ADAPTER, ...hi], [ADAPTER, 'adapter folder', 'base model']));

  test('2. folder without config.json', () => expectInputError(['--model', P.noConfig, ...hi], [file(P.noConfig, 'config.json'), 'missing']));

  test('3. config.json is not valid JSON: the line is named', () => expectInputError(['--model', P.badJson, ...hi], [file(P.badJson, 'config.json'), /JSON/, /\bline 4\b|config\.json:4\b/]));

  test('4. unsupported model_type lists the supported ones', () => expectInputError(['--model', P.neox, ...hi], [file(P.neox, 'config.json'), '"gpt_neox"', 'llama, mistral']));

  test('config.json without a required key names the key', () => expectInputError(['--model', P.noKey, ...hi], [file(P.noKey, 'config.json'), 'num_attention_heads']));

  test('5. no model.safetensors', () => expectInputError(['--model', P.noWeights, ...hi], [P.noWeights, 'model.safetensors']));

  test('14. missing tokenizer.json', () => expectInputError(['--model', P.noTokenizer, ...hi], [P.noTokenizer, 'tokenizer.json']));
});

describe('loralab score: broken safetensors', { concurrency: 2 }, () => {
  test('6. truncated in the data section', () => expectInputError(['--model', P.truncated, ...hi], [file(P.truncated, 'model.safetensors'), 'truncated']));

  test('7. the 8-byte header length is bigger than the file', () => expectInputError(['--model', P.lyingLength, ...hi], [file(P.lyingLength, 'model.safetensors'), 'header length', 'exceeds file size']));

  test('8. data_offsets disagree with shape × dtype', () => expectInputError(['--model', P.badOffsets, ...hi], [file(P.badOffsets, 'model.safetensors'), '"model.layers.0.self_attn.q_proj.weight"', 'data_offsets', '16384 bytes']));

  test('9a. a tensor config.json implies is missing', () => expectInputError(['--model', P.missingTensor, ...hi], [file(P.missingTensor, 'model.safetensors'), '"model.layers.4.mlp.up_proj.weight"']));

  test('9b. a tensor has the wrong shape', () => expectInputError(['--model', P.wrongShape, ...hi], [file(P.wrongShape, 'model.safetensors'), '"model.layers.2.self_attn.k_proj.weight"', '[64, 64]', '[32, 64]']));

  test('10. config.json hidden_size disagrees with the weights', () => expectInputError(['--model', P.hidden, ...hi], [file(P.hidden, 'model.safetensors'), 'config.json', '[512, 64]', '[512, 128]']));
});

describe('loralab score --adapter: adapters that do not fit', { concurrency: 2 }, () => {
  test('11. lora_A of q_proj has the wrong in dim: tensor and both shapes named', () =>
    expectInputError(['--model', MODEL, '--adapter', P.adapterWrongIn, ...hi], [file(P.adapterWrongIn, 'adapter_model.safetensors'), Q_PROJ_A, '[4, 32]', '[4, 64]']));

  test('12a. adapter for a layer the model does not have', () =>
    expectInputError(['--model', MODEL, '--adapter', P.adapterLayer9, ...hi], [P.adapterLayer9, '"model.layers.9.self_attn.q_proj"', /layers 0.4|5 layers/]));

  test('12b. adapter for a module name the model does not have', () =>
    expectInputError(['--model', MODEL, '--adapter', P.adapterQkv, ...hi], [P.adapterQkv, '"model.layers.0.self_attn.qkv_proj"', 'q_proj']));

  test('13. adapter folder without adapter_config.json', () =>
    expectInputError(['--model', MODEL, '--adapter', P.adapterNoConfig, ...hi], [file(P.adapterNoConfig, 'adapter_config.json'), 'not found']));

  test('adapter folder does not exist', () => expectInputError(['--model', MODEL, '--adapter', at('no-such-adapter'), ...hi], [at('no-such-adapter'), 'not found']));

  test('adapter rank disagrees with adapter_config.json', () =>
    expectInputError(['--model', MODEL, '--adapter', P.adapterWrongRank, ...hi], [file(P.adapterWrongRank, 'adapter_model.safetensors'), 'rank 4', 'rank 8']));
});

describe('loralab score: bad arguments', { concurrency: 2 }, () => {
  test('15a. both --text and --file', () => expectInputError(['--model', MODEL, '--text', 'hi', '--file', file(MODEL, 'config.json')], ['--text', '--file', 'both']));

  test('15b. neither --text nor --file', () => expectInputError(['--model', MODEL], ['--text', '--file']));

  test('15c. --device nonsense lists the choices', () => expectInputError(['--model', MODEL, ...hi, '--device', 'nonsense'], ['--device', "'nonsense'", 'auto, cpu, cuda, webgpu']));

  test('no --model', () => expectInputError([...hi], ['--model', 'loralab score --help']));

  test('16. --file that does not exist', () => expectInputError(['--model', MODEL, '--file', at('no-such-text.txt')], [at('no-such-text.txt'), /ENOENT|not found|does not exist/]));
});
