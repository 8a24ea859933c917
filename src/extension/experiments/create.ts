/**
 * "New Experiment" without the dialogs: from the chosen folder, name, model and data file, the
 * path and text of a new `*.lora.json` (every default written out, paths relative to the new
 * file's folder). Plain; no `vscode` import.
 */
import * as nodePath from 'node:path';
import { EXPERIMENT_FILE_SUFFIX, defaultExperiment, experimentNameProblem, looksLikePath } from '../../experiment/index';

export type ModelChoice = { kind: 'local'; dir: string } | { kind: 'hub'; id: string };

export interface NewExperiment {
  /** Folder the file is written to (absolute). */
  folder: string;
  name: string;
  model: ModelChoice;
  /** Training data file (absolute). */
  train: string;
  /** Workspace folder (absolute): local models inside it are written relative, others absolute. */
  root?: string;
}

/** `p` relative to `folder`, with '/' separators; absolute when there is no relative form (another drive). */
function relativeRef(folder: string, p: string): string {
  const rel = nodePath.relative(folder, p);
  if (nodePath.isAbsolute(rel)) return rel;
  return rel.split(nodePath.sep).join('/') || '.';
}

/**
 * How the experiment names a local model folder: relative to the file when the model lies
 * inside `root` (the workspace folder; the pair moves together), always starting with `./` or
 * `../` (a bare `models/tiny` would read as the Hub id `models/tiny`); absolute otherwise, so
 * moving the workspace does not break the reference.
 */
export function modelReference(folder: string, dir: string, root: string = folder): string {
  const inside = nodePath.relative(root, dir);
  if (inside.startsWith('..') || nodePath.isAbsolute(inside)) return nodePath.resolve(dir);
  const rel = relativeRef(folder, dir);
  return looksLikePath(rel) ? rel : `./${rel}`;
}

/**
 * What is missing for `dir` to be a Hugging Face model folder LoRA Lab can load (config.json,
 * tokenizer.json, model.safetensors or its index), or null when nothing is.
 */
export function modelFolderProblem(dir: string, exists: (path: string) => boolean): string | null {
  const missing = ['config.json', 'tokenizer.json'].filter((f) => !exists(nodePath.join(dir, f)));
  if (!exists(nodePath.join(dir, 'model.safetensors')) && !exists(nodePath.join(dir, 'model.safetensors.index.json'))) missing.push('model.safetensors');
  return missing.length ? `${dir} is not a Hugging Face model folder: it has no ${missing.join(', ')}` : null;
}

/**
 * The files the data picker offers: those with an extension the data reader takes
 * (`extensions`, e.g. `DATA_EXTENSIONS`: .jsonl, .txt), except eval sets (`*.eval.jsonl`, scored
 * by evaluation, not trained on) and files inside a model folder (`modelDirs`: its vocab.txt,
 * merges.txt… are tokenizer files, not training data). Sorted by path.
 */
export function dataCandidates(files: readonly string[], modelDirs: readonly string[], extensions: readonly string[]): string[] {
  const inModel = (f: string) => modelDirs.some((dir) => {
    const rel = nodePath.relative(dir, f);
    return !!rel && !rel.startsWith('..') && !nodePath.isAbsolute(rel);
  });
  return files
    .filter((f) => extensions.includes(nodePath.extname(f).toLowerCase()) && !f.toLowerCase().endsWith('.eval.jsonl') && !inModel(f))
    .sort();
}

/** A valid experiment name from a file name: its stem with every other character turned into '-'. */
export function suggestName(file: string): string {
  const stem = nodePath.basename(file).replace(/\.[^.]*$/, '');
  const name = stem
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, 100);
  return experimentNameProblem(name) ? 'experiment' : name;
}

/** `<folder>/<name>.lora.json`, or `<name>-2.lora.json`, `-3`… when taken. */
export function freeExperimentPath(folder: string, name: string, exists: (path: string) => boolean): string {
  for (let k = 1; ; k++) {
    const file = nodePath.join(folder, `${name}${k === 1 ? '' : `-${k}`}${EXPERIMENT_FILE_SUFFIX}`);
    if (!exists(file)) return file;
  }
}

/** The text of the new file. Throws when the name is not a valid experiment name. */
export function newExperimentText(choice: NewExperiment): string {
  const problem = experimentNameProblem(choice.name);
  if (problem) throw new Error(`experiment name "${choice.name}" ${problem}`);
  const model = choice.model.kind === 'hub' ? choice.model.id : modelReference(choice.folder, choice.model.dir, choice.root ?? choice.folder);
  return defaultExperiment(choice.name, model, relativeRef(choice.folder, choice.train));
}
