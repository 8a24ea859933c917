/**
 * `loralab inspect PATH [--model DIR] [--json]`: what a model folder, a PEFT adapter folder or a
 * .safetensors file holds, from config files and safetensors headers only (no tensor data is
 * read, so a 7B model takes milliseconds).
 *
 * Exit codes: 0 the folder is consistent (and, with --model, the adapter fits); 1 problems found
 * (a tensor config.json needs is missing or has another shape, the adapter's weights disagree
 * with its config, or the adapter does not fit --model: every mismatch is listed); 2 invalid
 * input (no such path, not a model / adapter / safetensors, malformed file).
 */
import { open, stat } from 'node:fs/promises';
import { basename, dirname, relative } from 'node:path';
import { cachedSnapshot, isHubId } from '../engine/models/hub';
import { type FitMismatch, checkAdapterFit, inspectModel, linearModules, type ModelSummary } from '../engine/models/inspect';
import { loadModelConfig } from '../engine/models/index';
import { ATTENTION_LINEARS, MLP_LINEARS, unusedPatternKeys } from '../engine/lora/index';
import { describeModules } from '../engine/lora/feeds';
import { type AdapterHeader, type AdapterModuleHeader, readAdapterHeader, readWeightsHeader } from '../engine/weights/inspect';
import { ADAPTER_CONFIG_NAME, peftScaling } from '../engine/weights/peft';
import { EXIT, InputError, emitJson, formatBytes, info } from './output';

export interface InspectArgs {
  path: string;
  model?: string;
  json?: boolean;
}

type Kind = 'model' | 'adapter' | 'safetensors';

const exists = (p: string) => stat(p).then(() => true, () => false);

/**
 * What `path` is: a folder with adapter_config.json (adapter; PEFT checks it before a model
 * config), a folder with config.json (model), a file (config.json / adapter_config.json stand
 * for their folder; any other file is read as safetensors). A Hub id resolves to its cached
 * snapshot (no download).
 */
async function detect(path: string): Promise<{ kind: Kind; path: string }> {
  const st = await stat(path).catch(() => null);
  if (!st) {
    if (isHubId(path)) {
      const snap = cachedSnapshot(path);
      if (snap) return detect(snap);
      throw new InputError(`${path}: not in the Hugging Face cache, and inspect reads local files only; let "loralab train" or "loralab score" download it once, or pass a local folder`);
    }
    throw new InputError(`${path}: not found; pass a model folder (config.json + *.safetensors), a PEFT adapter folder (adapter_config.json + adapter_model.safetensors) or a .safetensors file`);
  }
  if (st.isFile()) {
    if (basename(path) === ADAPTER_CONFIG_NAME) return { kind: 'adapter', path: dirname(path) };
    if (basename(path) === 'config.json') return { kind: 'model', path: dirname(path) };
    if (await notSafetensors(path, st.size)) throw new InputError(`${path} is not a .safetensors file (inspect takes a model folder, an adapter folder or a .safetensors file)`);
    return { kind: 'safetensors', path };
  }
  if (await exists(`${path}/${ADAPTER_CONFIG_NAME}`)) return { kind: 'adapter', path };
  if (await exists(`${path}/config.json`)) return { kind: 'model', path };
  throw new InputError(`${path}: holds neither config.json (a Hugging Face model folder) nor ${ADAPTER_CONFIG_NAME} (a PEFT adapter folder); pass such a folder, or a .safetensors file`);
}

/**
 * Whether a file is plainly something other than safetensors, from its first 8 bytes (the
 * safetensors format: a little-endian u64 header length N, then N bytes of JSON header, then the
 * data): N does not fit in the file, and the name does not end in .safetensors or the 8 bytes are
 * text (a real header length below 2^56 has a zero top byte, which is not text). A
 * .safetensors file with a plausible length is left to the header reader's own messages.
 */
async function notSafetensors(path: string, size: number): Promise<boolean> {
  const f = await open(path, 'r');
  try {
    const b = Buffer.alloc(8);
    const { bytesRead } = await f.read(b, 0, 8, 0);
    const text = b.subarray(0, bytesRead).every((c) => c === 0x09 || c === 0x0a || c === 0x0d || c >= 0x20);
    if (bytesRead < 8) return !path.endsWith('.safetensors') || (bytesRead > 0 && text);
    const absurd = b.readBigUInt64LE(0) > BigInt(Math.max(0, size - 8));
    return absurd && (!path.endsWith('.safetensors') || text);
  } finally {
    await f.close();
  }
}

/** Runs the command; returns the exit code (see the module comment). */
export async function runInspect(args: InspectArgs): Promise<number> {
  const target = await detect(args.path);
  if (args.model !== undefined && target.kind !== 'adapter') {
    throw new InputError(`--model checks whether an adapter fits a model, but ${args.path} is ${target.kind === 'model' ? 'a model folder' : 'a safetensors file'}; pass a PEFT adapter folder (adapter_config.json) to inspect --model`);
  }
  if (target.kind === 'model') return reportModel(await inspectModel(target.path), args);
  if (target.kind === 'adapter') return reportAdapter(target.path, args);
  return reportFile(target.path, args);
}

// ---------------------------------------------------------------------------------------------
// Model folder

function reportModel(s: ModelSummary, args: InspectArgs): number {
  const c = s.info.config;
  const raw = s.info.raw;
  const tok = s.tokenizer;
  const gen = s.generationConfig;
  const result = {
    kind: 'model',
    path: s.info.dir,
    model_type: c.model_type,
    architectures: Array.isArray(raw.architectures) ? raw.architectures : [],
    config: {
      num_hidden_layers: c.num_hidden_layers,
      hidden_size: c.hidden_size,
      intermediate_size: c.intermediate_size,
      num_attention_heads: c.num_attention_heads,
      num_key_value_heads: c.num_key_value_heads,
      head_dim: c.head_dim,
      vocab_size: c.vocab_size,
      max_position_embeddings: c.max_position_embeddings,
      tie_word_embeddings: c.tie_word_embeddings,
      torch_dtype: typeof raw.torch_dtype === 'string' ? raw.torch_dtype : typeof raw.dtype === 'string' ? raw.dtype : null,
    },
    parameters: s.parameters,
    stored_parameters: s.weights.parameters,
    dtypes: s.weights.dtypes,
    tensors: s.weights.tensors.length,
    weight_files: s.weights.files.map((f) => ({ file: relative(s.info.dir, f.path) || basename(f.path), bytes: f.bytes })),
    weights_bytes: s.weights.bytes,
    folder_bytes: s.folderBytes,
    lora_all_linear: { modules: s.lora.modules, parameters: s.lora.parameters, parameters_per_rank: s.lora.parametersPerRank },
    unused_tensors: s.unusedTensors,
    tokenizer: tok && {
      vocab_size: tok.vocabSize,
      eos_token: tok.eosToken ?? null,
      eos_token_ids: tok.eosTokenIds,
      chat_template: tok.chatTemplate !== undefined,
      chat_templates: Object.keys(tok.chatTemplates),
    },
    generation_config: gen && { eos_token_id: gen.eos_token_id ?? null },
    problems: s.problems,
  };
  const code = s.problems.length ? EXIT.failed : EXIT.ok;
  if (args.json) {
    emitJson(result);
    return code;
  }
  const arch = result.architectures.length ? ` (${result.architectures.join(', ')})` : '';
  const gqa = c.num_key_value_heads !== c.num_attention_heads ? `, ${c.num_key_value_heads} key/value heads` : '';
  const p = s.parameters;
  row('model', s.info.dir);
  row('family', `${c.model_type}${arch}`);
  row('layers', `${c.num_hidden_layers}   hidden size ${c.hidden_size}   intermediate size ${c.intermediate_size}`);
  row('heads', `${c.num_attention_heads} attention heads${gqa}, head_dim ${c.head_dim}`);
  row('vocabulary', `${c.vocab_size}${tok && tok.vocabSize !== c.vocab_size ? ` (tokenizer: ${tok.vocabSize})` : ''}   context ${c.max_position_embeddings} positions`);
  row('dtype', `${describeDtypes(s.weights.dtypes, p)}${result.config.torch_dtype ? `   (config.json torch_dtype ${result.config.torch_dtype})` : ''}`);
  const tied = !c.tie_word_embeddings ? '' : s.tiedCopyStored ? ' (lm_head.weight is stored but tied to the embeddings: counted once)' : ' (lm_head tied to the embeddings)';
  row('parameters', `${count(p)} in ${s.weights.tensors.length} tensors${tied}`);
  const files = s.weights.files.length === 1 ? result.weight_files[0].file : `${s.weights.files.length} shards`;
  row('on disk', `${formatBytes(s.weights.bytes)} of weights (${files}); folder ${formatBytes(s.folderBytes)}`);
  const perRank = s.lora.parametersPerRank;
  row('LoRA', `all-linear: ${s.lora.modules} modules with ${pct(s.lora.parameters, p)} of the parameters; a rank-r adapter on them has ${perRank.toLocaleString('en-US')} × r parameters (r 16: ${(16 * perRank).toLocaleString('en-US')})`);
  if (tok) {
    const named = Object.keys(tok.chatTemplates);
    const chat = tok.chatTemplate !== undefined
      ? `template present${named.length ? ` (named: ${named.join(', ')})` : ''}`
      : 'no template (no chat_template in tokenizer_config.json, no chat_template.jinja): {"messages"} data needs a model with one';
    row('chat', chat);
    const eos = tok.eosTokenIds.length ? tok.eosTokenIds.join(', ') : 'none';
    row('eos', `${eos}${tok.eosToken ? ` ${JSON.stringify(tok.eosToken)}` : ''}${gen && gen.eos_token_id !== undefined ? `   (generation_config.json eos_token_id ${JSON.stringify(gen.eos_token_id)})` : ''}`);
  }
  if (s.unusedTensors.length) row('unused', `${s.unusedTensors.length} tensor(s) the ${c.model_type} graph does not read: ${sample(s.unusedTensors)}`);
  reportProblems(s.problems, 'the folder does not match its config.json or tokenizer');
  return code;
}

// ---------------------------------------------------------------------------------------------
// Adapter folder

/** Modules that share r, alpha, scaling and pattern keys over the same layers. */
export interface ModuleGroup {
  /** Last component of each module path (q_proj, …), in model order. */
  targets: string[];
  /** Layer indices (empty for modules outside `layers.N`). */
  layers: number[];
  /** Number of modules in the group. */
  modules: number;
  r: number;
  lora_alpha: number;
  scaling: number;
  rank_pattern_key: string | null;
  alpha_pattern_key: string | null;
}

const ORDER: readonly string[] = [...ATTENTION_LINEARS, 'qkv_proj', ...MLP_LINEARS, 'gate_up_proj'];
const order = (t: string) => (ORDER.includes(t) ? ORDER.indexOf(t) : ORDER.length);

/**
 * Groups an adapter's modules by (r, alpha, scaling, pattern keys) and by the layers they span,
 * so that "q_proj … down_proj in layers 0–31: r 16" is one line and each rank_pattern /
 * alpha_pattern exception is another. Groups come largest first.
 */
export function groupModules(modules: readonly AdapterModuleHeader[]): ModuleGroup[] {
  // (setting, target) → layers
  const byTarget = new Map<string, { target: string; m: AdapterModuleHeader; layers: number[]; count: number }>();
  for (const m of modules) {
    const hit = /(?:^|\.)layers\.(\d+)\.(.+)$/.exec(m.module);
    const target = hit ? hit[2].slice(hit[2].lastIndexOf('.') + 1) : m.module;
    const key = JSON.stringify([m.r, m.lora_alpha, m.scaling, m.rank_pattern_key, m.alpha_pattern_key, target]);
    const e = byTarget.get(key) ?? { target, m, layers: [], count: 0 };
    if (hit) e.layers.push(Number(hit[1]));
    e.count++;
    byTarget.set(key, e);
  }
  // (setting, layers) → targets
  const groups = new Map<string, ModuleGroup>();
  for (const { target, m, layers, count: n } of byTarget.values()) {
    layers.sort((a, b) => a - b);
    const key = JSON.stringify([m.r, m.lora_alpha, m.scaling, m.rank_pattern_key, m.alpha_pattern_key, layers]);
    const g = groups.get(key) ?? { targets: [], layers, modules: 0, r: m.r, lora_alpha: m.lora_alpha, scaling: m.scaling, rank_pattern_key: m.rank_pattern_key, alpha_pattern_key: m.alpha_pattern_key };
    g.targets.push(target);
    g.modules += n;
    groups.set(key, g);
  }
  const out = [...groups.values()];
  for (const g of out) g.targets.sort((a, b) => order(a) - order(b) || (a < b ? -1 : a > b ? 1 : 0));
  return out.sort((a, b) => b.modules - a.modules || order(a.targets[0]) - order(b.targets[0]));
}

async function reportAdapter(dir: string, args: InspectArgs): Promise<number> {
  const a: AdapterHeader = await readAdapterHeader(dir);
  const cfg = a.config;
  let fit: { path: string; fits: boolean; mismatches: FitMismatch[]; hint: string | null } | null = null;
  if (args.model !== undefined) {
    const modelDir = (await detect(args.model)).path;
    const model = await loadModelConfig(modelDir);
    const mismatches = checkAdapterFit(a, model);
    const unknown = mismatches.find((m) => m.expected === null);
    const hint = unknown ? describeModules(unknown.module, linearModules(model).map((l) => l.module)) : null;
    fit = { path: modelDir, fits: mismatches.length === 0, mismatches, hint };
  }
  const groups = groupModules(a.modules);
  const names = a.modules.map((m) => m.module);
  // PEFT silently ignores a pattern key that decides no module (a typo, a layer the model lacks).
  const unused = { rank_pattern: unusedPatternKeys(cfg.rank_pattern, names), alpha_pattern: unusedPatternKeys(cfg.alpha_pattern, names) };
  const code = a.problems.length || (fit && !fit.fits) ? EXIT.failed : EXIT.ok;
  if (args.json) {
    emitJson({
      kind: 'adapter',
      path: dir,
      peft_type: cfg.peft_type,
      task_type: cfg.task_type ?? null,
      base_model_name_or_path: cfg.base_model_name_or_path ?? null,
      r: cfg.r,
      lora_alpha: cfg.lora_alpha,
      use_rslora: cfg.use_rslora === true,
      target_modules: cfg.target_modules ?? null,
      rank_pattern: cfg.rank_pattern ?? {},
      alpha_pattern: cfg.alpha_pattern ?? {},
      parameters: a.parameters,
      dtypes: a.dtypes,
      bytes: a.bytes,
      groups,
      unused_pattern_keys: unused,
      modules: a.modules,
      problems: a.problems,
      ...(fit ? { model: { path: fit.path, fits: fit.fits, mismatches: fit.mismatches } } : {}),
    });
    return code;
  }
  const rs = cfg.use_rslora === true;
  const targets = Array.isArray(cfg.target_modules) ? cfg.target_modules.join(', ') : cfg.target_modules ? JSON.stringify(cfg.target_modules) : 'none';
  row('adapter', dir);
  row('base model', cfg.base_model_name_or_path ?? 'not named (adapter_config.json has no base_model_name_or_path)');
  row('LoRA', `r ${cfg.r}, lora_alpha ${cfg.lora_alpha}, scaling ${num(peftScaling({ r: cfg.r, lora_alpha: cfg.lora_alpha, use_rslora: rs }, ''))} (${rs ? 'rsLoRA: alpha / √r' : 'alpha / r'})${cfg.lora_dropout ? `, lora_dropout ${cfg.lora_dropout}` : ''}`);
  row('targets', targets);
  for (const p of ['rank_pattern', 'alpha_pattern'] as const) {
    if (cfg[p] && Object.keys(cfg[p]!).length) row(p, JSON.stringify(cfg[p]));
  }
  row('modules', String(a.modules.length));
  for (const g of groups) {
    const where = g.layers.length ? ` × ${layerList(g.layers)}` : '';
    const why = [g.rank_pattern_key !== null ? `rank_pattern ${JSON.stringify(g.rank_pattern_key)}` : '', g.alpha_pattern_key !== null ? `alpha_pattern ${JSON.stringify(g.alpha_pattern_key)}` : ''].filter(Boolean).join(', ');
    info(`  ${g.targets.join(', ')}${where} (${g.modules}): r ${g.r}, alpha ${num(g.lora_alpha)}, scaling ${num(g.scaling)}${why ? `   from ${why}` : ''}`);
  }
  for (const p of ['rank_pattern', 'alpha_pattern'] as const) {
    if (unused[p].length) row('note', `${p} key(s) ${unused[p].map((k) => JSON.stringify(k)).join(', ')} decide no module of this adapter; PEFT ignores them`);
  }
  row('parameters', `${count(a.parameters)} in ${describeDtypes(a.dtypes, a.parameters)}; ${formatBytes(a.bytes)} on disk`);
  reportProblems(a.problems, 'the weights do not match adapter_config.json');
  if (fit) {
    const tensors = a.modules.reduce((n, m) => n + (m.lora_A ? 1 : 0) + (m.lora_B ? 1 : 0), 0);
    if (fit.fits) {
      row('fits', `${fit.path}: all ${tensors} tensors match its linear layers`);
    } else {
      row('does not fit', `${fit.path}: ${fit.mismatches.length} of ${tensors} tensors mismatch${fit.hint ? ` (${fit.hint})` : ''}`);
      for (const m of fit.mismatches) info(`  ${m.message}`);
    }
  }
  return code;
}

// ---------------------------------------------------------------------------------------------
// A single safetensors file

async function reportFile(path: string, args: InspectArgs): Promise<number> {
  const w = await readWeightsHeader(path);
  if (args.json) {
    emitJson({ kind: 'safetensors', path, parameters: w.parameters, dtypes: w.dtypes, bytes: w.bytes, metadata: w.metadata, tensors: w.tensors });
    return EXIT.ok;
  }
  row('safetensors', path);
  row('parameters', `${count(w.parameters)} in ${w.tensors.length} tensors, ${describeDtypes(w.dtypes, w.parameters)}; ${formatBytes(w.bytes)}`);
  if (Object.keys(w.metadata).length) row('metadata', JSON.stringify(w.metadata));
  const width = Math.min(80, Math.max(...w.tensors.map((t) => t.name.length), 0));
  for (const t of w.tensors) info(`  ${t.name.padEnd(width)}  ${t.dtype.padEnd(4)}  [${t.shape.join(', ')}]`);
  return EXIT.ok;
}

// ---------------------------------------------------------------------------------------------
// Formatting

/** One labelled line of human output: the label in a 14-character column. */
function row(label: string, text: string): void {
  info(`${label.padEnd(13)} ${text}`);
}

function reportProblems(problems: readonly string[], what: string): void {
  if (!problems.length) return;
  row('problems', `${problems.length}: ${what}`);
  for (const p of problems) info(`  ${p}`);
}

/** 1234567 → "1,234,567 (1.23M)". */
function count(n: number): string {
  const s = n.toLocaleString('en-US');
  if (n < 1e3) return s;
  const [v, u] = n >= 1e9 ? [n / 1e9, 'B'] : n >= 1e6 ? [n / 1e6, 'M'] : [n / 1e3, 'K'];
  return `${s} (${v.toPrecision(3)}${u})`;
}

const pct = (part: number, whole: number) => `${whole ? ((100 * part) / whole).toFixed(1) : '0'}%`;
/** A number with at most 4 significant digits, no trailing zeros. */
const num = (x: number) => String(Number(x.toPrecision(4)));

function describeDtypes(dtypes: Record<string, number>, total: number): string {
  const entries = Object.entries(dtypes).sort((a, b) => b[1] - a[1]);
  if (entries.length === 1) return entries[0][0];
  return entries.map(([d, n]) => `${d} ${pct(n, total)}`).join(', ');
}

/** [0,1,2,3,5] → "layers 0–3, 5"; [2] → "layer 2". */
function layerList(layers: readonly number[]): string {
  const runs: string[] = [];
  for (let i = 0; i < layers.length; ) {
    let j = i;
    while (j + 1 < layers.length && layers[j + 1] === layers[j] + 1) j++;
    runs.push(j === i ? `${layers[i]}` : `${layers[i]}–${layers[j]}`);
    i = j + 1;
  }
  return `${layers.length === 1 ? 'layer' : 'layers'} ${runs.join(', ')}`;
}

function sample(names: readonly string[], n = 3): string {
  return names.slice(0, n).join(', ') + (names.length > n ? `, … (${names.length - n} more)` : '');
}
