/**
 * `loralab score`: per-token NLL, mean NLL and perplexity of a text under a model (and
 * optionally an adapter).
 */
import { readFile } from 'node:fs/promises';
import { CausalLM } from '../engine/infer/causal-lm';
import { normalizeText, scoreTokens } from '../engine/infer/score';
import { loadTokenizer } from '../engine/tokenizer/index';
import { resolveModel } from '../engine/models/hub';
import { readPeftAdapter } from '../engine/weights/peft';
import { assertFiniteWeights } from '../engine/weights/finite';
import type { Device } from '../engine/runtime/session';
import { InputError, decodeUtf8Strict, emitJson, info } from './output';

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
    const bytes = await readFile(args.file).catch((e: NodeJS.ErrnoException) => {
      const why = e.code === 'ENOENT' ? 'file not found' : e.code === 'EISDIR' ? 'is a folder, not a text file' : `cannot read (${e.code ?? e.message})`;
      throw new InputError(`${args.file}: ${why}; check the path given to --file`);
    });
    text = decodeUtf8Strict(bytes, args.file);
  }
  if (args.maxLength !== undefined && args.maxLength < 2) throw new InputError(`--max-length ${args.maxLength} is too short: a window needs at least 2 tokens (one to predict from, one to predict)`);
  text = normalizeText(text!);
  const model = await resolveModel(args.model);
  const tokenizer = await loadTokenizer(model);
  // As training encodes a text (src/engine/data/tokenize.ts): special-token text such as "</s>"
  // is plain characters, so scoring training data measures what was trained.
  const ids = tokenizer.encode(text!, { splitSpecialTokens: true });
  if (ids.length < 2) throw new InputError('the text is empty: there is no token to score');
  const adapter = args.adapter ? { adapter: await readPeftAdapter(args.adapter), source: args.adapter } : null;
  const lm = await CausalLM.load(model, { device: args.device, threads: args.threads, adapter, outputs: { loss: true } });
  const res = await scoreTokens(lm, ids, args.maxLength);
  await lm.release();
  if (!Number.isFinite(res.mean_nll)) {
    // Damaged weights are the usual cause: name the tensor (the check every command shares).
    await assertFiniteWeights(model, adapter ? [{ adapter: adapter.adapter, dir: adapter.source }] : []);
    throw new Error(`the mean NLL came out ${res.mean_nll} although every weight is finite; try --device cpu, and report it with the model and text`);
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
  return decodeUtf8Strict(Buffer.concat(chunks), '(stdin)');
}
