/**
 * `loralab score`: per-token NLL, mean NLL and perplexity of a text under a model (and
 * optionally an adapter).
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CausalLM } from '../engine/infer/causal-lm';
import { normalizeText, scoreTokens } from '../engine/infer/score';
import { loadTokenizer } from '../engine/tokenizer/index';
import { resolveModel } from '../engine/models/hub';
import { type PeftAdapter, readPeftAdapter } from '../engine/weights/peft';
import { SafetensorsFile } from '../engine/weights/safetensors';
import { toFloat32 } from '../engine/weights/dtype';
import type { Device } from '../engine/runtime/session';
import { InputError, emitJson, info } from './output';

export interface ScoreArgs {
  model: string;
  adapter?: string;
  text?: string;
  file?: string;
  json?: boolean;
  device?: Device;
  threads?: number;
  maxLength?: number;
}

export async function runScore(args: ScoreArgs): Promise<void> {
  if (args.text !== undefined && args.file !== undefined) {
    throw new InputError('--text and --file were both given; score takes one text: pass either --text STR or --file PATH');
  }
  if (args.text === undefined && args.file === undefined) {
    throw new InputError('no text to score: pass --text STR or --file PATH (--file - reads stdin)');
  }
  let text = args.text;
  if (args.file === '-') text = await readStdin();
  else if (args.file !== undefined) {
    text = await readFile(args.file, 'utf8').catch((e: NodeJS.ErrnoException) => {
      const why = e.code === 'ENOENT' ? 'file not found' : e.code === 'EISDIR' ? 'is a folder, not a text file' : `cannot read (${e.code ?? e.message})`;
      throw new InputError(`${args.file}: ${why}; check the path given to --file`);
    });
  }
  if (args.maxLength !== undefined && args.maxLength < 2) throw new InputError(`--max-length ${args.maxLength} is too short: a window needs at least 2 tokens (one to predict from, one to predict)`);
  text = normalizeText(text!);
  const model = await resolveModel(args.model);
  const tokenizer = await loadTokenizer(model);
  const ids = tokenizer.encode(text!);
  if (ids.length < 2) throw new InputError('the text is empty: there is no token to score');
  const adapter = args.adapter ? { adapter: await readPeftAdapter(args.adapter), source: args.adapter } : null;
  const lm = await CausalLM.load(model, { device: args.device, threads: args.threads, adapter, outputs: { loss: true } });
  const res = await scoreTokens(lm, ids, args.maxLength);
  await lm.release();
  if (!Number.isFinite(res.mean_nll)) {
    const bad = await findNonFinite(model, adapter?.adapter ?? null, args.adapter);
    throw new Error(bad
      ? `${bad.file}: tensor "${bad.tensor}" holds ${bad.value}, so every score is ${res.mean_nll}; the weights are damaged — re-download the model or re-train the adapter`
      : `the mean NLL came out ${res.mean_nll} although every weight is finite; try --device cpu, and report it with the model and text`);
  }
  if (args.json) {
    emitJson(res);
    return;
  }
  info(`model ${args.model}${args.adapter ? ` + adapter ${args.adapter}` : ''} (${lm.provider})`);
  info('  pos  token                 nll');
  res.nll.forEach((n, i) => {
    const tok = JSON.stringify(tokenizer.tokenToString(res.token_ids[i + 1]));
    info(`${String(i + 1).padStart(5)}  ${tok.padEnd(20).slice(0, 20)}  ${n.toFixed(4).padStart(8)}`);
  });
  info(`tokens scored: ${res.nll.length}   mean NLL: ${res.mean_nll.toFixed(6)}   perplexity: ${res.perplexity.toFixed(4)}`);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The first weight tensor holding NaN or ±Infinity: the adapter's A/B tensors, then every
 * `*.safetensors` file of the model folder (read one tensor at a time). Null when all are finite.
 */
async function findNonFinite(modelDir: string, adapter: PeftAdapter | null, adapterDir?: string): Promise<{ file: string; tensor: string; value: number } | null> {
  const first = (x: ArrayLike<number>) => {
    for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) return x[i];
    return null;
  };
  if (adapter) {
    for (const [m, w] of adapter.modules) {
      for (const [which, t] of [['A', w.A], ['B', w.B]] as const) {
        const v = first(t.data as Float32Array);
        if (v !== null) return { file: join(adapterDir ?? '', 'adapter_model.safetensors'), tensor: `${m}.lora_${which}`, value: v };
      }
    }
  }
  for (const f of (await readdir(modelDir)).filter((n) => n.endsWith('.safetensors')).sort()) {
    const file = join(modelDir, f);
    const st = await SafetensorsFile.open(file);
    try {
      for (const name of st.names()) {
        const t = await st.read(name);
        if (t.dtype !== 'float32' && t.dtype !== 'float16' && t.dtype !== 'bfloat16' && t.dtype !== 'float64') continue;
        const v = first(t.dtype === 'float32' || t.dtype === 'float64' ? (t.data as ArrayLike<number>) : toFloat32(t));
        if (v !== null) return { file, tensor: name, value: v };
      }
    } finally {
      st.close();
    }
  }
  return null;
}
