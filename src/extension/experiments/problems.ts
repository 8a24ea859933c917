/**
 * An experiment file's problems as the editor shows them: the CLI's own validation
 * (`parseExperiment`, src/experiment — the same messages `loralab train` prints) placed at the
 * offending key or value, and the checks of the files it names (the data file's first bad
 * record, the model folder's config.json and tokenizer.json) placed on its `data.train` /
 * `model` value with the data file's bad line attached. Plain; no `vscode` import.
 */
import { access, constants, readFile, stat } from 'node:fs/promises';
import * as nodePath from 'node:path';
import type { Node } from 'jsonc-parser/lib/esm/main.js';
import { ExperimentError, parseExperiment, type ExperimentConfig, type ExperimentProblem } from '../../experiment/index';
import { JsonDocument, pointerSegments } from '../../experiment/document';
import { DataError } from '../../engine/data/errors';
import { readRecords } from '../../engine/data/read';
import { type RankTooLarge, isTargeted, rankAboveWidth, rankTooLargeMessage } from '../../engine/lora/index';
import { loadModelConfig } from '../../engine/models/index';
import { type LinearModule, linearModules } from '../../engine/models/inspect';

/** A problem at a UTF-16 offset range of the experiment's text. */
export interface PlacedProblem {
  offset: number;
  length: number;
  message: string;
  /** For an unknown key with a likely intended key: the replacement key (the quick fix). */
  replaceKey?: string;
  /** Another place the problem is about (the data file's bad line), 1-based line and column. */
  related?: { file: string; line: number; column: number; message: string };
  /** Whether it is a JSON syntax error (VS Code's JSON support reports those itself). */
  syntax?: boolean;
}

/** Data files larger than this are checked for existence only (the record scan reads all of it). */
export const RECORD_CHECK_MAX_BYTES = 64 * 1024 * 1024;

/**
 * The CLI's validation of `text` (`parseExperiment`), each problem placed: an unknown key at
 * the key, a wrong value at the value (at the key, for an object or array), a missing key at
 * its object's key (or opening brace), a syntax error at its line.
 * @returns the problems and, when there are none, the resolved config
 */
export function validationProblems(text: string, file: string): { problems: PlacedProblem[]; config: ExperimentConfig | null } {
  try {
    return { problems: [], config: parseExperiment(text, file) };
  } catch (e) {
    if (!(e instanceof ExperimentError)) throw e;
    const doc = new JsonDocument(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    const bom = text.charCodeAt(0) === 0xfeff ? 1 : 0;
    const syntax = doc.syntaxErrors.length > 0;
    return {
      config: null,
      problems: e.problems.map((p) => {
        const at = place(doc, p);
        return { offset: at.offset + bom, length: at.length, message: `${p.pointer && p.pointer !== '/' ? `${p.pointer}: ` : ''}${p.message}`, ...(p.suggestion ? { replaceKey: p.suggestion } : {}), ...(syntax ? { syntax: true } : {}) };
      }),
    };
  }
}

/** The range a problem is about (see `validationProblems`). */
function place(doc: JsonDocument, p: ExperimentProblem): { offset: number; length: number } {
  if (p.key !== undefined) {
    const { node, found } = doc.nodeAt(pointerSegments(p.pointer));
    const prop = found && node?.type === 'object' ? (node.children ?? []).filter((c) => c.children?.[0]?.value === p.key).at(-1) : undefined;
    const key = prop?.children?.[0];
    if (key) return { offset: key.offset, length: key.length };
  } else if (p.pointer && doc.syntaxErrors.length === 0) {
    const { node, found } = doc.nodeAt(pointerSegments(p.pointer));
    if (node && found && !/^missing required key/.test(p.message)) return valueRange(node);
    if (node) return keyOrOpening(node);
  }
  return lineRange(doc.text, p.line);
}

/** A scalar value's own range; an object or array is marked at its key (its whole text would cover many lines). */
function valueRange(node: Node): { offset: number; length: number } {
  if (node.type !== 'object' && node.type !== 'array') return { offset: node.offset, length: node.length };
  return keyOrOpening(node);
}

function keyOrOpening(node: Node): { offset: number; length: number } {
  const key = node.parent?.type === 'property' ? node.parent.children?.[0] : undefined;
  return key ? { offset: key.offset, length: key.length } : { offset: node.offset, length: 1 };
}

/** Line `line` (1-based) without its indentation; the first line for 0. */
function lineRange(text: string, line: number): { offset: number; length: number } {
  let start = 0;
  for (let l = 1; l < Math.max(1, line); l++) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) break;
    start = nl + 1;
  }
  let end = text.indexOf('\n', start);
  if (end < 0) end = text.length;
  while (start < end && /\s/.test(text[start])) start++;
  while (end > start && /\s/.test(text[end - 1])) end--;
  return { offset: start, length: Math.max(1, end - start) };
}

/** Offset range of the value at a pointer (falls back to the file's first line). */
function rangeOf(doc: JsonDocument, pointer: string): { offset: number; length: number } {
  const { node, found } = doc.nodeAt(pointerSegments(pointer));
  return node && found ? valueRange(node) : lineRange(doc.text, 1);
}

/**
 * The files a valid experiment names, checked the way a run would read them, each problem on
 * the experiment's own line: `data.train` and a `data.validation` file exist, are readable and
 * hold no bad record (the first one found is linked: `related`); a local `model` folder exists
 * and has config.json (valid JSON) and tokenizer.json, and no targeted layer is narrower than its
 * LoRA rank (on `lora.r` or the `rank_pattern` key). A Hub id is not checked (it may not be
 * downloaded yet). Data files over `RECORD_CHECK_MAX_BYTES` are not scanned.
 */
export async function fileProblems(text: string, config: ExperimentConfig): Promise<PlacedProblem[]> {
  const doc = new JsonDocument(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  const bom = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const out: PlacedProblem[] = [];
  const at = (pointer: string, message: string, related?: PlacedProblem['related']) => {
    const r = rangeOf(doc, pointer);
    out.push({ offset: r.offset + bom, length: r.length, message, ...(related ? { related } : {}) });
  };
  const data: [string, string][] = [['/data/train', config.data.train]];
  if (typeof config.data.validation === 'string') data.push(['/data/validation', config.data.validation]);
  for (const [pointer, file] of data) {
    const problem = await dataFileProblem(file, config);
    if (problem) at(pointer, problem.message, problem.related);
  }
  if (nodePath.isAbsolute(config.model)) {
    const problem = await modelFolderProblem(config.model);
    if (problem) at('/model', problem);
    else {
      const tooLarge = await rankProblem(config);
      if (tooLarge) {
        const key = tooLarge.patternKey === undefined ? '/lora/r' : `/lora/rank_pattern/${tooLarge.patternKey.replace(/~/g, '~0').replace(/\//g, '~1')}`;
        at(doc.nodeAt(pointerSegments(key)).found ? key : '/lora', rankTooLargeMessage(tooLarge));
      }
    }
  }
  return out;
}

/**
 * The trainer's rank check (`rankAboveWidth`) on the model's config.json alone (no weights):
 * a rank above a targeted layer's min(in, out). Skipped with `init_adapter` (its own config
 * fixes the ranks, as in the trainer) and when config.json does not load (shown elsewhere).
 */
async function rankProblem(config: ExperimentConfig): Promise<RankTooLarge | undefined> {
  if (config.init_adapter) return undefined;
  let modules: LinearModule[];
  try {
    modules = linearModules(await loadModelConfig(config.model)).filter((m) => isTargeted(m.module, config.lora.target_modules));
  } catch {
    return undefined;
  }
  const { r, lora_alpha, use_rslora, rank_pattern, alpha_pattern } = config.lora;
  return rankAboveWidth(
    { modules: modules.map((m) => m.module), shapes: new Map(modules.map((m) => [m.module, { in: m.in, out: m.out }])) },
    { r, lora_alpha, use_rslora, rank_pattern: rank_pattern ?? {}, alpha_pattern: alpha_pattern ?? {} },
  );
}

async function dataFileProblem(file: string, config: ExperimentConfig): Promise<{ message: string; related?: PlacedProblem['related'] } | undefined> {
  let size: number;
  try {
    const st = await stat(file);
    if (st.isDirectory()) return { message: `${file}: is a folder, not a data file; point at a .jsonl or .txt file` };
    size = st.size;
    await access(file, constants.R_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { message: `${file}: file not found; check the path (relative paths resolve against the experiment file's folder)` };
    return { message: `${file}: cannot be read (${code ?? (e as Error).message}); check its permissions` };
  }
  if (size > RECORD_CHECK_MAX_BYTES) return undefined;
  try {
    await readRecords(file, { completionOnlyLoss: config.data.completion_only_loss, skipBadRecords: config.data.skip_bad_records });
    return undefined;
  } catch (e) {
    if (!(e instanceof DataError)) throw e;
    if (e.line === undefined) return { message: e.message };
    const column = Number(/\(column (\d+):/.exec(e.message)?.[1] ?? 1);
    return { message: e.message, related: { file, line: e.line, column, message: e.message.slice(`${file}:${e.line}: `.length) || e.message } };
  }
}

async function modelFolderProblem(dir: string): Promise<string | undefined> {
  try {
    if (!(await stat(dir)).isDirectory()) return `${dir}: not a folder; "model" takes a Hugging Face model folder (config.json, tokenizer.json, *.safetensors) or a Hub id`;
  } catch {
    return `${dir}: model folder not found; check the path (relative paths resolve against the experiment file's folder) or use a Hub id (owner/name)`;
  }
  const config = nodePath.join(dir, 'config.json');
  let text: string;
  try {
    text = await readFile(config, 'utf8');
  } catch {
    return `${config}: missing; a Hugging Face model folder needs config.json (download the full model repository, not just the weights)`;
  }
  try {
    JSON.parse(text);
  } catch {
    return `${config}: not valid JSON; fix the file or re-download it`;
  }
  try {
    await access(nodePath.join(dir, 'tokenizer.json'), constants.R_OK);
  } catch {
    return `${nodePath.join(dir, 'tokenizer.json')}: missing; LoRA Lab reads the tokenizer from tokenizer.json (save it with transformers' save_pretrained, or download it from the model's Hub page)`;
  }
  return undefined;
}

/**
 * Why Start Run should not launch a valid experiment: the problems of the files it names
 * (`fileProblems`, computed now from disk, so a stale Problems panel neither blocks nor lets
 * through), as one line naming the file, the count and the first problem; undefined when none.
 */
export async function startRunBlocker(file: string, text: string, config: ExperimentConfig): Promise<string | undefined> {
  const found = await fileProblems(text, config);
  if (found.length === 0) return undefined;
  const more = found.length > 1 ? ` (and ${found.length - 1} more)` : '';
  return `${nodePath.basename(file)} has ${found.length === 1 ? 'a problem' : `${found.length} problems`} to fix before a run can start, see the Problems panel: ${found[0].message}${more}`;
}
