// `loralab inspect` end to end (the CLI as a child process). Expected values come from outside
// the engine: parameter counts from the Llama shape formulas over config.json and from the
// safetensors header parsed here by hand; adapters are written byte by byte by this file (its
// own safetensors writer), with rank / alpha / scaling worked out from PEFT's rules by hand.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli';
import { SHARED } from '../helpers/paths';

const MODEL = `${SHARED}/models/stories260K`;
const GOLDEN_ADAPTER = `${SHARED}/golden/adapters/stories260K_r4_a8`;
const TMP = mkdtempSync(join(tmpdir(), 'loralab-inspect-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

const cfg = JSON.parse(readFileSync(`${MODEL}/config.json`, 'utf8'));
const D: number = cfg.hidden_size;
const F: number = cfg.intermediate_size;
const L: number = cfg.num_hidden_layers;
const H: number = cfg.num_attention_heads;
const Hkv: number = cfg.num_key_value_heads;
const Dh: number = cfg.head_dim;
const V: number = cfg.vocab_size;

/** [in, out] of each linear layer of a Llama decoder block (HF modeling_llama.py). */
const LINEARS: Record<string, { path: string; in: number; out: number }> = {
  q_proj: { path: 'self_attn.q_proj', in: D, out: H * Dh },
  k_proj: { path: 'self_attn.k_proj', in: D, out: Hkv * Dh },
  v_proj: { path: 'self_attn.v_proj', in: D, out: Hkv * Dh },
  o_proj: { path: 'self_attn.o_proj', in: H * Dh, out: D },
  gate_proj: { path: 'mlp.gate_proj', in: D, out: F },
  up_proj: { path: 'mlp.up_proj', in: D, out: F },
  down_proj: { path: 'mlp.down_proj', in: F, out: D },
};
const KINDS = Object.keys(LINEARS);

/** The safetensors header of a file, parsed here: 8-byte little-endian length, then JSON. */
function headerOf(path: string): Record<string, { dtype: string; shape: number[] }> {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const h = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  delete h.__metadata__;
  return h;
}
const prod = (s: number[]) => s.reduce((a, d) => a * d, 1);

/** Writes a safetensors file of zero-filled tensors (format: huggingface.co/docs/safetensors). */
async function writeSt(path: string, tensors: Record<string, { dtype?: string; shape: number[] }>): Promise<void> {
  const size: Record<string, number> = { F32: 4, F16: 2, BF16: 2, I64: 8 };
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let off = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const dtype = t.dtype ?? 'F32';
    const bytes = prod(t.shape) * size[dtype];
    header[name] = { dtype, shape: t.shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  await writeFile(path, Buffer.concat([len, json, Buffer.alloc(off)]));
}

const key = (module: string, which: 'A' | 'B') => `base_model.model.${module}.lora_${which}.weight`;
const mod = (layer: number, kind: string) => `model.layers.${layer}.${LINEARS[kind].path}`;

/**
 * Writes an adapter folder: adapter_config.json with `config` over PEFT's usual keys, and for each
 * module A [r, in], B [out, r] with the given rank (or explicit shapes).
 */
async function writeAdapter(
  name: string,
  config: Record<string, unknown>,
  modules: { module: string; r: number; A?: number[]; B?: number[]; in?: number; out?: number }[],
): Promise<string> {
  const dir = join(TMP, name);
  await mkdir(dir, { recursive: true });
  const full = { peft_type: 'LORA', task_type: 'CAUSAL_LM', base_model_name_or_path: 'stories260K', bias: 'none', lora_dropout: 0, use_rslora: false, use_dora: false, rank_pattern: {}, alpha_pattern: {}, ...config };
  await writeFile(join(dir, 'adapter_config.json'), JSON.stringify(full, null, 2));
  const tensors: Record<string, { shape: number[] }> = {};
  for (const m of modules) {
    const kind = m.module.slice(m.module.lastIndexOf('.') + 1);
    const inF = m.in ?? LINEARS[kind].in;
    const outF = m.out ?? LINEARS[kind].out;
    tensors[key(m.module, 'A')] = { shape: m.A ?? [m.r, inF] };
    tensors[key(m.module, 'B')] = { shape: m.B ?? [outF, m.r] };
  }
  await writeSt(join(dir, 'adapter_model.safetensors'), tensors);
  return dir;
}

/** The rank_pattern test adapter: r 4, alpha 8; q_proj r 8; layer-2 down_proj r 2; v_proj alpha 16. */
const PATTERN_CONFIG = {
  r: 4, lora_alpha: 8, target_modules: KINDS,
  rank_pattern: { q_proj: 8, 'layers.2.mlp.down_proj': 2, 'layers.9.mlp.up_proj': 3 }, // the last matches nothing
  alpha_pattern: { v_proj: 16 },
};
/** Hand-applied PEFT rules for PATTERN_CONFIG: rank and alpha of a module. */
const patternRank = (layer: number, kind: string) => (kind === 'q_proj' ? 8 : kind === 'down_proj' && layer === 2 ? 2 : 4);
const patternAlpha = (_layer: number, kind: string) => (kind === 'v_proj' ? 16 : 8);
const patternModules = () => Array.from({ length: L }, (_, l) => KINDS.map((k) => ({ module: mod(l, k), r: patternRank(l, k) }))).flat();

test('model folder --json: config fields, parameter count from the Llama formula and from the header, bytes, LoRA coverage', async () => {
  const r = await runCli(['inspect', MODEL, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const out = JSON.parse(r.stdout);
  assert.equal(out.kind, 'model');
  assert.equal(out.model_type, 'llama');
  assert.deepEqual(out.architectures, ['LlamaForCausalLM']);
  assert.deepEqual(
    [out.config.num_hidden_layers, out.config.hidden_size, out.config.intermediate_size, out.config.num_attention_heads, out.config.num_key_value_heads, out.config.head_dim, out.config.vocab_size],
    [L, D, F, H, Hkv, Dh, V]);
  // Llama: embeddings V·D; per layer two RMSNorm weights D, q/k/v/o and the three MLP matrices;
  // final norm D; lm_head tied to the embeddings (counted once, as transformers does).
  const linear = Object.values(LINEARS).reduce((a, m) => a + m.in * m.out, 0);
  const formula = V * D + L * (2 * D + linear) + D;
  assert.equal(out.parameters, formula);
  // Independently: Σ numel over the header, parsed here; lm_head.weight is stored as a copy.
  const header = headerOf(`${MODEL}/model.safetensors`);
  const stored = Object.values(header).reduce((a, t) => a + prod(t.shape), 0);
  assert.equal(out.stored_parameters, stored);
  assert.equal(out.tensors, Object.keys(header).length);
  assert.equal(stored - formula, 'lm_head.weight' in header ? V * D : 0);
  assert.deepEqual(out.dtypes, { F32: stored });
  assert.equal(out.weights_bytes, statSync(`${MODEL}/model.safetensors`).size);
  assert.ok(out.folder_bytes > out.weights_bytes);
  assert.deepEqual(out.lora_all_linear, {
    modules: L * KINDS.length,
    parameters: L * linear,
    parameters_per_rank: L * Object.values(LINEARS).reduce((a, m) => a + m.in + m.out, 0),
  });
  assert.equal(out.tokenizer.chat_template, false);
  assert.deepEqual(out.tokenizer.eos_token_ids, [2]);
  assert.equal(out.tokenizer.eos_token, '</s>');
  assert.deepEqual(out.generation_config, { eos_token_id: 2 });
  assert.deepEqual(out.problems, []);
});

test('model folder, human text on stderr: family, sizes, parameter count, chat template', async () => {
  const r = await runCli(['inspect', MODEL]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^family +llama \(LlamaForCausalLM\)$/m);
  assert.match(r.stderr, /^layers +5 +hidden size 64 +intermediate size 172$/m);
  assert.match(r.stderr, /^heads +8 attention heads, 4 key\/value heads, head_dim 8$/m);
  assert.match(r.stderr, /^parameters +260,032 /m);
  assert.match(r.stderr, /^chat +no template/m);
});

test('model folder with chat_template.jinja; a config.json with one layer too many lists every missing tensor', async () => {
  const make = async (name: string, config: object) => {
    const dir = join(TMP, name);
    await mkdir(dir);
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) await copyFile(join(MODEL, f), join(dir, f));
    await symlink(join(MODEL, 'model.safetensors'), join(dir, 'model.safetensors'));
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    await writeFile(join(dir, 'chat_template.jinja'), '{% for m in messages %}{{ m.content }}{% endfor %}');
    return dir;
  };
  const good = await make('chat-model', cfg);
  const deeper = await make('deeper-model', { ...cfg, num_hidden_layers: L + 1 });
  const [g, d] = await Promise.all([runCli(['inspect', good, '--json']), runCli(['inspect', deeper, '--json'])]);
  assert.equal(g.code, 0, g.stderr);
  assert.equal(JSON.parse(g.stdout).tokenizer.chat_template, true);

  assert.equal(d.code, 1, d.stderr);
  const out = JSON.parse(d.stdout);
  // Layer L is absent from the checkpoint: its two norms and seven linear weights, each named.
  const missing = ['input_layernorm', 'post_attention_layernorm', ...KINDS.map((k) => LINEARS[k].path)].map((n) => `model.layers.${L}.${n}.weight`);
  assert.equal(out.problems.length, missing.length);
  for (const n of missing) assert.ok(out.problems.some((p: string) => p.includes(`"${n}" is missing`)), n);
  const h = await runCli(['inspect', deeper]);
  assert.equal(h.code, 1);
  assert.match(h.stderr, new RegExp(`^problems +${missing.length}: `, 'm'));
});

test('sharded model folder (model.safetensors.index.json): every shard counted, sizes summed', async () => {
  const dir = join(TMP, 'sharded');
  await mkdir(dir);
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) await copyFile(join(MODEL, f), join(dir, f));
  const header = headerOf(`${MODEL}/model.safetensors`);
  const names = Object.keys(header).sort();
  const half = Math.ceil(names.length / 2);
  const shards = [names.slice(0, half), names.slice(half)];
  const weightMap: Record<string, string> = {};
  for (const [i, list] of shards.entries()) {
    const file = `model-0000${i + 1}-of-00002.safetensors`;
    await writeSt(join(dir, file), Object.fromEntries(list.map((n) => [n, header[n]])));
    for (const n of list) weightMap[n] = file;
  }
  await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  const r = await runCli(['inspect', dir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.stored_parameters, Object.values(header).reduce((a, t) => a + prod(t.shape), 0));
  assert.deepEqual(out.weight_files.map((f: { file: string }) => f.file).sort(), ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
  assert.equal(out.weights_bytes, [1, 2].reduce((a, i) => a + statSync(join(dir, `model-0000${i}-of-00002.safetensors`)).size, 0));
  assert.equal(out.tokenizer.chat_template, false);
  assert.equal(out.generation_config, null);
});

test('adapter with rank_pattern / alpha_pattern: per-module r, alpha, scaling; grouped exceptions; parameter count', async () => {
  const dir = await writeAdapter('pattern', PATTERN_CONFIG, patternModules());
  const [j, h] = await Promise.all([runCli(['inspect', dir, '--json']), runCli(['inspect', dir])]);
  assert.equal(j.code, 0, j.stderr);
  const out = JSON.parse(j.stdout);
  assert.equal(out.kind, 'adapter');
  assert.equal(out.base_model_name_or_path, 'stories260K');
  assert.equal(out.modules.length, L * KINDS.length);
  let params = 0;
  for (let l = 0; l < L; l++) {
    for (const k of KINDS) {
      const m = out.modules.find((x: { module: string }) => x.module === mod(l, k));
      const r = patternRank(l, k);
      const alpha = patternAlpha(l, k);
      assert.deepEqual([m.r, m.lora_alpha, m.scaling], [r, alpha, alpha / r], mod(l, k));
      assert.deepEqual(m.lora_A.shape, [r, LINEARS[k].in]);
      params += r * (LINEARS[k].in + LINEARS[k].out);
    }
  }
  assert.equal(out.parameters, params);
  assert.equal(out.bytes, statSync(join(dir, 'adapter_model.safetensors')).size);
  const groups = out.groups.map((g: Record<string, unknown>) => [g.targets, g.layers, g.modules, g.r, g.lora_alpha, g.scaling, g.rank_pattern_key, g.alpha_pattern_key]);
  assert.deepEqual(groups, [
    [['k_proj', 'o_proj', 'gate_proj', 'up_proj'], [0, 1, 2, 3, 4], 20, 4, 8, 2, null, null],
    [['q_proj'], [0, 1, 2, 3, 4], 5, 8, 8, 1, 'q_proj', null],
    [['v_proj'], [0, 1, 2, 3, 4], 5, 4, 16, 4, null, 'v_proj'],
    [['down_proj'], [0, 1, 3, 4], 4, 4, 8, 2, null, null],
    [['down_proj'], [2], 1, 2, 8, 4, 'layers.2.mlp.down_proj', null],
  ]);
  assert.deepEqual(out.unused_pattern_keys, { rank_pattern: ['layers.9.mlp.up_proj'], alpha_pattern: [] });
  assert.equal(h.code, 0, h.stderr);
  assert.match(h.stderr, /^note +rank_pattern key\(s\) "layers.9.mlp.up_proj" decide no module/m);
  assert.match(h.stderr, /^ {2}k_proj, o_proj, gate_proj, up_proj × layers 0–4 \(20\): r 4, alpha 8, scaling 2$/m);
  assert.match(h.stderr, /^ {2}q_proj × layers 0–4 \(5\): r 8, alpha 8, scaling 1 +from rank_pattern "q_proj"$/m);
  assert.match(h.stderr, /^ {2}down_proj × layers 0–1, 3–4 \(4\): r 4, alpha 8, scaling 2$/m);
  assert.match(h.stderr, /^ {2}down_proj × layer 2 \(1\): r 2, alpha 8, scaling 4 +from rank_pattern "layers.2.mlp.down_proj"$/m);
});

test('rsLoRA adapter: scaling is lora_alpha / √r per module', async () => {
  const dir = await writeAdapter('rslora', { ...PATTERN_CONFIG, use_rslora: true }, patternModules());
  const r = await runCli(['inspect', dir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.use_rslora, true);
  for (const m of out.modules) {
    const [, l, k] = /layers\.(\d+)\..*\.(\w+)$/.exec(m.module)!;
    assert.ok(Math.abs(m.scaling - patternAlpha(+l, k) / Math.sqrt(patternRank(+l, k))) < 1e-12, m.module);
  }
});

test('--model: a fitting adapter (written here, and the golden PEFT one) fits, exit 0', async () => {
  const dir = await writeAdapter('fits', PATTERN_CONFIG, patternModules());
  const [a, b, c] = await Promise.all([
    runCli(['inspect', dir, '--model', MODEL, '--json']),
    runCli(['inspect', GOLDEN_ADAPTER, '--model', MODEL, '--json']),
    runCli(['inspect', GOLDEN_ADAPTER, '--model', MODEL]),
  ]);
  for (const r of [a, b]) {
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).model, { path: MODEL, fits: true, mismatches: [] });
  }
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stderr, /^fits +.*all 70 tensors match/m);
});

test('--model: a mismatching adapter lists every mismatching tensor and exits 1', async () => {
  const modules = patternModules().map((m) => {
    if (m.module === mod(0, 'k_proj')) return { ...m, A: [4, D / 2] }; // in should be D
    if (m.module === mod(1, 'down_proj')) return { ...m, B: [D / 2, 4] }; // out should be D
    if (m.module === mod(3, 'up_proj')) return { ...m, in: D + 1, out: F + 1 }; // both wrong
    return m;
  });
  modules.push({ module: `model.layers.${L + 2}.self_attn.q_proj`, r: 8, in: D, out: H * Dh }); // no such layer
  const dir = await writeAdapter('mismatch', PATTERN_CONFIG, modules);
  const [j, h] = await Promise.all([runCli(['inspect', dir, '--model', MODEL, '--json']), runCli(['inspect', dir, '--model', MODEL])]);
  assert.equal(j.code, 1, j.stderr);
  const fit = JSON.parse(j.stdout).model;
  assert.equal(fit.fits, false);
  const got = fit.mismatches.map((m: { tensor: string; shape: number[]; expected: number[] | null }) => [m.tensor, m.shape, m.expected]);
  const want = [
    [key(mod(0, 'k_proj'), 'A'), [4, D / 2], [4, D]],
    [key(mod(1, 'down_proj'), 'B'), [D / 2, 4], [D, 4]],
    [key(mod(3, 'up_proj'), 'A'), [4, D + 1], [4, D]],
    [key(mod(3, 'up_proj'), 'B'), [F + 1, 4], [F, 4]],
    [key(`model.layers.${L + 2}.self_attn.q_proj`, 'A'), [8, D], null],
    [key(`model.layers.${L + 2}.self_attn.q_proj`, 'B'), [H * Dh, 8], null],
  ];
  assert.deepEqual(new Set(got.map((x: unknown) => JSON.stringify(x))), new Set(want.map((x) => JSON.stringify(x))));
  assert.equal(got.length, want.length);
  assert.equal(h.code, 1);
  assert.match(h.stderr, /^does not fit .*: 6 of 72 tensors mismatch \(the model has 5 layers/m);
  for (const [tensor] of want) assert.ok(h.stderr.includes(`  ${tensor}: `), `${tensor} listed`);
});

test('adapter whose weights disagree with its rank_pattern: every module listed as a problem, exit 1', async () => {
  // q_proj stored with rank 4 although rank_pattern gives it 8.
  const dir = await writeAdapter('inconsistent', PATTERN_CONFIG, patternModules().map((m) => (m.module.endsWith('q_proj') ? { ...m, r: 4 } : m)));
  const r = await runCli(['inspect', dir, '--json']);
  assert.equal(r.code, 1, r.stderr);
  const problems: string[] = JSON.parse(r.stdout).problems;
  assert.equal(problems.length, L);
  for (let l = 0; l < L; l++) assert.ok(problems.some((p) => p.includes(key(mod(l, 'q_proj'), 'A')) && p.includes('rank 4') && p.includes('rank 8')), `layer ${l}`);
});

test('a .safetensors file: its header summarised', async () => {
  const r = await runCli(['inspect', `${MODEL}/model.safetensors`, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  const header = headerOf(`${MODEL}/model.safetensors`);
  assert.equal(out.kind, 'safetensors');
  assert.equal(out.tensors.length, Object.keys(header).length);
  for (const t of out.tensors) assert.deepEqual([t.dtype, t.shape], [header[t.name].dtype, header[t.name].shape]);
  assert.equal(out.parameters, Object.values(header).reduce((a, t) => a + prod(t.shape), 0));
});

test('bad input: one error line naming the path, exit 2 (and an error event with --json)', async () => {
  const empty = join(TMP, 'empty');
  await mkdir(empty);
  await writeFile(join(empty, 'notes.txt'), 'hi');
  const badAdapter = join(TMP, 'bad-adapter');
  await mkdir(badAdapter);
  await writeFile(join(badAdapter, 'adapter_config.json'), '{\n  "peft_type": "LORA",\n  "r": 8,,\n}');
  const badModel = join(TMP, 'bad-model');
  await mkdir(badModel);
  await writeFile(join(badModel, 'config.json'), '{"model_type": "llama", ');
  const missing = join(TMP, 'no-such-folder');
  const cases: [string[], RegExp][] = [
    [['inspect', missing], new RegExp(`${missing}: not found; pass a model folder`)],
    [['inspect', empty], new RegExp(`${empty}: holds neither config.json \\(a Hugging Face model folder\\) nor adapter_config.json`)],
    [['inspect', badAdapter], new RegExp(`${badAdapter}/adapter_config.json: not valid JSON \\(line 3 `)],
    [['inspect', badModel], new RegExp(`${badModel}/config.json: not valid JSON`)],
    [['inspect', MODEL, '--model', MODEL], /--model checks whether an adapter fits a model, but .* is a model folder/],
    [['inspect', GOLDEN_ADAPTER, '--model', missing], new RegExp(`${missing}: not found`)],
    [['inspect', GOLDEN_ADAPTER, '--model', GOLDEN_ADAPTER], /is a PEFT adapter folder|config\.json/],
  ];
  for (const [args, re] of cases) {
    const [plain, json] = await Promise.all([runCli(args), runCli([...args, '--json'])]);
    assert.equal(plain.code, 2, `${args.join(' ')}: ${plain.stderr}`);
    assert.equal(plain.stdout, '');
    const lines = plain.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, plain.stderr);
    assert.match(lines[0], /^loralab: error: /);
    assert.match(lines[0], re);
    assert.equal(json.code, 2, `${args.join(' ')} --json: ${json.stderr}`);
    const ev = JSON.parse(json.stdout);
    assert.equal(ev.event, 'error');
    assert.match(ev.message, re);
  }
});

test('inspect: a .jsonl (or any text file) is "not a .safetensors file", not a truncated download; exit 2', async () => {
  const jsonl = join(TMP, 'train.jsonl');
  // Its first 8 bytes read as a u64 header length far larger than the file (the symptom reported).
  await writeFile(jsonl, '{"text": "Once upon a time"}\n'.repeat(12));
  const renamed = join(TMP, 'text.safetensors');
  await writeFile(renamed, '{"text": "hello"}\n');
  for (const f of [jsonl, renamed]) {
    const r = await runCli(['inspect', f]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, `loralab: error: ${f} is not a .safetensors file (inspect takes a model folder, an adapter folder or a .safetensors file)\n`);
  }
  // A binary .safetensors file cut short keeps the header reader's "truncated … re-download" message.
  const cut = join(TMP, 'cut.safetensors');
  const header = Buffer.alloc(8);
  header.writeBigUInt64LE(1000n);
  await writeFile(cut, Buffer.concat([header, Buffer.from('{"a":')]));
  const r = await runCli(['inspect', cut]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /header length 1000 exceeds file size 13; the file is truncated/);
});
