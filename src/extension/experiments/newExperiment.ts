/**
 * "New Experiment": quick-picks of a model folder (found in the workspace, browsed, or a Hub
 * id) and a data file, an input box for the name, then a new `*.lora.json` with every default
 * written out (`create.ts`), opened in the editor.
 */
import * as vscode from 'vscode';
import { existsSync } from 'node:fs';
import * as nodePath from 'node:path';
import { DATA_EXTENSIONS } from '../../engine/data/read';
import { experimentNameProblem, isHubId } from '../../experiment/index';
import type { LoraLab } from '../context';
import { NoTargetError } from '../targets';
import { type ModelChoice, dataCandidates, freeExperimentPath, modelFolderProblem, newExperimentText, suggestName } from './create';
import { SEARCH_EXCLUDE } from './files';

const TITLE = 'LoRA Lab: New Experiment';
/** The button of the "not a model folder" message that opens the folder dialog again. */
export const PICK_AGAIN = 'Pick Another Folder';

type Item<T> = vscode.QuickPickItem & { value?: T };

export async function newExperiment(lab: LoraLab): Promise<void> {
  const folders = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file');
  if (!folders.length) throw new NoTargetError('open a folder first: experiment files and their runs live in a workspace folder');
  const model = await pickModel();
  if (!model) return;
  const train = await pickData();
  if (!train) return;
  const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(train)) ?? folders[0];
  const name = await vscode.window.showInputBox({
    title: `${TITLE} (3/3)`,
    prompt: 'Experiment name: runs are written to <runs dir>/<name>-<date>-<time>/',
    value: suggestName(train),
    validateInput: (v) => {
      const problem = experimentNameProblem(v);
      return problem ? `The name ${problem}` : undefined;
    },
  });
  if (name === undefined) return;
  const file = freeExperimentPath(folder.uri.fsPath, name, existsSync);
  const text = newExperimentText({ folder: nodePath.dirname(file), name, model, train, root: folder.uri.fsPath });
  const uri = vscode.Uri.file(file);
  await vscode.workspace.fs.writeFile(uri, Buffer.from(text, 'utf8'));
  lab.experiments.add(uri);
  await vscode.window.showTextDocument(uri, { preview: false }); // a normal tab: the user edits it next
}

/** Folders of the workspace holding a `config.json` (model folders, complete or not). */
async function configFolders(): Promise<string[]> {
  const configs = await vscode.workspace.findFiles('**/config.json', SEARCH_EXCLUDE, 200);
  return configs.map((c) => nodePath.dirname(c.fsPath));
}

/** Local model folders of the workspace: folders with `config.json` and `tokenizer.json`. */
async function findModels(): Promise<string[]> {
  const found = (await configFolders()).filter((dir) => existsSync(nodePath.join(dir, 'tokenizer.json')));
  const setting = vscode.workspace.getConfiguration('loralab').get<string>('modelPath');
  if (setting && existsSync(setting) && !found.includes(setting)) found.unshift(setting);
  return found;
}

async function pickModel(): Promise<ModelChoice | undefined> {
  const found = await findModels();
  const items: Item<ModelChoice | 'browse' | 'hub'>[] = [
    ...found.map((dir) => ({ label: `$(folder) ${nodePath.basename(dir)}`, description: vscode.workspace.asRelativePath(dir), value: { kind: 'local' as const, dir } })),
    { label: '$(folder-opened) Browse…', description: 'a Hugging Face model folder (config.json, tokenizer.json, *.safetensors)', value: 'browse' },
    { label: '$(cloud-download) Hugging Face Hub id…', description: 'owner/name, downloaded once on the first run', value: 'hub' },
  ];
  const picked = await vscode.window.showQuickPick(items, { title: `${TITLE} (1/3)`, placeHolder: 'Base model' });
  if (!picked?.value) return undefined;
  if (picked.value === 'browse') return browseModel();
  if (picked.value === 'hub') {
    const id = await vscode.window.showInputBox({
      title: `${TITLE} (1/3)`,
      prompt: 'Hugging Face Hub model id',
      value: 'HuggingFaceTB/SmolLM2-135M',
      validateInput: (v) => (isHubId(v) ? undefined : 'Expected owner/name'),
    });
    return id ? { kind: 'hub', id } : undefined;
  }
  return picked.value;
}

/**
 * The folder dialog until it gives a model folder: a folder that is not one gets a modal
 * message saying what it lacks, with "Pick Another Folder" (the dialog again) or Cancel.
 */
async function browseModel(): Promise<ModelChoice | undefined> {
  for (;;) {
    const uris = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: 'Use this model folder', title: `${TITLE}: base model folder` });
    if (!uris?.length) return undefined;
    const problem = modelFolderProblem(uris[0].fsPath, existsSync);
    if (!problem) return { kind: 'local', dir: uris[0].fsPath };
    const choice = await vscode.window.showWarningMessage(
      `${problem}.`,
      { modal: true, detail: 'Pick the folder that holds config.json, tokenizer.json and model.safetensors (e.g. one made by huggingface-cli download … --local-dir DIR).' },
      PICK_AGAIN,
    );
    if (choice !== PICK_AGAIN) return undefined;
  }
}

async function pickData(): Promise<string | undefined> {
  const found = await Promise.all(DATA_EXTENSIONS.map((ext) => vscode.workspace.findFiles(`**/*${ext}`, SEARCH_EXCLUDE, 500)));
  const files = dataCandidates(found.flat().map((u) => u.fsPath), await configFolders(), DATA_EXTENSIONS);
  const items: Item<string>[] = [
    ...files.map((f) => ({ label: `$(file) ${nodePath.basename(f)}`, description: vscode.workspace.asRelativePath(nodePath.dirname(f)), value: f })),
    { label: '$(folder-opened) Browse…', description: `${DATA_EXTENSIONS.join(', ')}: {"text"}, {"prompt","completion"} or {"messages"} records, or plain text` },
  ];
  const picked = await vscode.window.showQuickPick(items, { title: `${TITLE} (2/3)`, placeHolder: 'Training data', matchOnDescription: true });
  if (!picked) return undefined;
  if (picked.value) return picked.value;
  const uris = await vscode.window.showOpenDialog({ canSelectFiles: true, canSelectFolders: false, filters: { 'Training data': DATA_EXTENSIONS.map((e) => e.slice(1)) }, openLabel: 'Train on this file' });
  return uris?.[0]?.fsPath;
}
