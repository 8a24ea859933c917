/**
 * Evaluation in the editor, the `vscode` side: eval sets (`*.eval.jsonl`) in the Test Explorer
 * (one test per case at its line; run profiles "Base model" and "Active adapter"; a failure is a
 * `TestMessage.diff(expected, actual)` with the score and threshold), their bad lines as Problems
 * diagnostics, and the token-loss heatmap and Evaluate Selection commands. Inference goes
 * through the worker (`lab.inference`); nothing here loads onnxruntime-node.
 */
import * as vscode from 'vscode';
import { EVAL_SET_SUFFIX, type EvalCase, parseEvalSet } from '../../engine/eval/eval-set';
import { type CaseResult, runCase } from '../../engine/eval/run';
import type { LoraLab } from '../context';
import { WorkerEvalBackend } from './backend';
import { experimentModels } from './models';
import { BUCKETS, DIFF_FULL, NLL_FULL, bucketOf, diffColor, lossColor, perplexityLine, tokenOffsets } from './heatmap';
import { failureText, variantLabel } from './report';

const isEvalSet = (doc: vscode.TextDocument) => doc.uri.scheme === 'file' && doc.fileName.endsWith(EVAL_SET_SUFFIX);

export function registerEvaluation(lab: LoraLab): void {
  registerDiagnostics(lab);
  registerTestController(lab);
}

/** Problems-panel diagnostics for the bad lines of every open eval set, updated as it is edited. */
function registerDiagnostics(lab: LoraLab): void {
  const diagnostics = lab.own(vscode.languages.createDiagnosticCollection('loralab-eval'));
  const check = (doc: vscode.TextDocument) => {
    if (!isEvalSet(doc)) return;
    const set = parseEvalSet(doc.getText(), doc.fileName);
    diagnostics.set(doc.uri, set.problems.map((p) => {
      const line = Math.min(p.line - 1, Math.max(0, doc.lineCount - 1));
      const d = new vscode.Diagnostic(new vscode.Range(line, 0, line, doc.lineAt(line).text.length), p.message, vscode.DiagnosticSeverity.Error);
      d.source = 'LoRA Lab eval set';
      return d;
    }));
  };
  vscode.workspace.textDocuments.forEach(check);
  lab.own(vscode.workspace.onDidOpenTextDocument(check));
  lab.own(vscode.workspace.onDidChangeTextDocument((e) => check(e.document)));
  lab.own(vscode.workspace.onDidCloseTextDocument((doc) => diagnostics.delete(doc.uri)));
}

/** The base model folder: the active adapter's model, else `loralab.modelPath`. */
function modelFolder(lab: LoraLab): string | undefined {
  return lab.adapterState.active?.model || vscode.workspace.getConfiguration('loralab').get<string>('modelPath') || undefined;
}

const NO_MODEL = 'no model: activate an adapter ("LoRA Lab: Activate Adapter"), set loralab.modelPath to a Hugging Face model folder, or add an experiment file (*.lora.json) that names its model';

/**
 * The model for Show Token Loss / Evaluate Selection: `modelFolder`, else the model the
 * workspace's experiment files name (one: used; several: a quick pick; undefined if dismissed).
 * @throws Error (`NO_MODEL`) when there is none at all
 */
async function modelForCommand(lab: LoraLab): Promise<string | undefined> {
  const direct = modelFolder(lab);
  if (direct) return direct;
  const models = await experimentModels(lab.experiments.list().map((e) => e.file));
  if (models.length === 0) throw new Error(NO_MODEL);
  if (models.length === 1) return models[0];
  return vscode.window.showQuickPick(models, { placeHolder: 'The workspace\'s experiments name several models: which one scores the text?' });
}

const caseData = new WeakMap<vscode.TestItem, { file: string; c: EvalCase }>();

function registerTestController(lab: LoraLab): void {
  const ctrl = lab.own(vscode.tests.createTestController('loralab.evalSets', 'LoRA Lab eval sets'));
  const loadFile = async (uri: vscode.Uri): Promise<vscode.TestItem> => {
    const id = uri.toString();
    const item = ctrl.items.get(id) ?? ctrl.createTestItem(id, vscode.workspace.asRelativePath(uri.fsPath), uri);
    ctrl.items.add(item);
    const text = Buffer.from(await vscode.workspace.fs.readFile(uri)).toString('utf8');
    const set = parseEvalSet(text, uri.fsPath);
    item.children.replace(set.cases.map((c) => {
      const child = ctrl.createTestItem(`${id}#${c.line}`, `${c.line}: ${c.name}`, uri);
      child.range = new vscode.Range(c.line - 1, 0, c.line - 1, 0);
      caseData.set(child, { file: uri.fsPath, c });
      return child;
    }));
    item.error = set.problems.length ? `${set.problems.length} bad line${set.problems.length > 1 ? 's' : ''} (see Problems)` : undefined;
    return item;
  };
  ctrl.resolveHandler = async (item) => {
    if (item?.uri) {
      await loadFile(item.uri);
      return;
    }
    for (const uri of await vscode.workspace.findFiles(`**/*${EVAL_SET_SUFFIX}`, '**/node_modules/**')) await loadFile(uri);
  };
  ctrl.refreshHandler = async () => {
    ctrl.items.replace([]);
    await ctrl.resolveHandler!(undefined);
  };
  const watcher = lab.own(vscode.workspace.createFileSystemWatcher(`**/*${EVAL_SET_SUFFIX}`));
  lab.own(watcher.onDidCreate((u) => void loadFile(u)));
  lab.own(watcher.onDidChange((u) => void loadFile(u)));
  lab.own(watcher.onDidDelete((u) => ctrl.items.delete(u.toString())));

  const runWith = (variants: (lab: LoraLab) => (string | null)[] | string) => async (request: vscode.TestRunRequest, token: vscode.CancellationToken) => {
    const run = ctrl.createTestRun(request);
    const queue: vscode.TestItem[] = [];
    const collect = (item: vscode.TestItem) => {
      if (request.exclude?.includes(item)) return;
      if (caseData.has(item)) queue.push(item);
      else item.children.forEach(collect);
    };
    if (!request.include) await ctrl.resolveHandler!(undefined);
    for (const item of request.include ?? []) if (item.uri && !caseData.has(item) && item.children.size === 0) await loadFile(item.uri);
    (request.include ?? [...iterate(ctrl.items)]).forEach(collect);
    const model = modelFolder(lab);
    const v = variants(lab);
    try {
      for (const item of queue) {
        if (token.isCancellationRequested) run.skipped(item);
        else if (!model) run.errored(item, new vscode.TestMessage('No model: activate an adapter ("LoRA Lab: Activate Adapter") or set loralab.modelPath to a Hugging Face model folder.'));
        else if (typeof v === 'string') run.errored(item, new vscode.TestMessage(v));
        else {
          const { file, c } = caseData.get(item)!;
          run.started(item);
          try {
            const results = await runCase(file, c, v, new WorkerEvalBackend(lab.inference, model));
            report(run, item, results, v);
          } catch (e) {
            run.errored(item, new vscode.TestMessage((e as Error).message));
          }
        }
      }
    } finally {
      run.end();
    }
  };
  lab.own(ctrl.createRunProfile('Base model', vscode.TestRunProfileKind.Run, runWith(() => [null]), true));
  lab.own(ctrl.createRunProfile('Active adapter', vscode.TestRunProfileKind.Run, runWith((l) => {
    const active = l.adapterState.active;
    return active?.path ? [active.path] : 'No active adapter: activate one in the Adapters view ("LoRA Lab: Activate Adapter"), or run with the "Base model" profile.';
  })));
}

function* iterate(items: vscode.TestItemCollection): Generator<vscode.TestItem> {
  const all: vscode.TestItem[] = [];
  items.forEach((i) => all.push(i));
  yield* all;
}

/** Passed when every variant passed; otherwise one diff message per failing variant. */
function report(run: vscode.TestRun, item: vscode.TestItem, results: CaseResult[], variants: readonly (string | null)[]): void {
  const duration = results[0]?.duration_ms;
  const failed = results.map((r, i) => ({ r, adapter: variants[i] })).filter(({ r }) => !r.passed);
  results.forEach((r, i) => {
    const s = r.scores[r.metric];
    run.appendOutput(`${item.label} [${variantLabel(variants[i])}]: ${r.passed ? 'passed' : 'failed'} (${r.metric} ${s?.toFixed(4)})\r\n`, undefined, item);
  });
  if (!failed.length) return run.passed(item, duration);
  run.failed(item, failed.map(({ r, adapter }) => {
    const m = vscode.TestMessage.diff(`${variantLabel(adapter)}: ${failureText(r)}`, r.expected, r.output ?? '');
    if (item.uri && item.range) m.location = new vscode.Location(item.uri, item.range);
    return m;
  }), duration);
}

// --- token loss -------------------------------------------------------------------------------

const lossTypes: vscode.TextEditorDecorationType[] = [];
const diffTypes: { better: vscode.TextEditorDecorationType[]; worse: vscode.TextEditorDecorationType[] } = { better: [], worse: [] };
let statusItem: vscode.StatusBarItem | undefined;

function decorationTypes(lab: LoraLab): void {
  if (lossTypes.length) return;
  for (let b = 0; b < BUCKETS; b++) {
    const x = ((b + 0.5) / BUCKETS);
    lossTypes.push(lab.own(vscode.window.createTextEditorDecorationType({ backgroundColor: lossColor(x * NLL_FULL) })));
    diffTypes.better.push(lab.own(vscode.window.createTextEditorDecorationType({ backgroundColor: diffColor(-x * DIFF_FULL) })));
    diffTypes.worse.push(lab.own(vscode.window.createTextEditorDecorationType({ backgroundColor: diffColor(x * DIFF_FULL) })));
  }
  statusItem = lab.own(vscode.window.createStatusBarItem('loralab.tokenLoss', vscode.StatusBarAlignment.Right, 90));
}

/**
 * The text editor to score: the active one when it is a real text document (a file or an
 * untitled buffer, never an Output channel or another virtual document).
 * @throws Error asking the user to open one.
 */
function scorableEditor(): vscode.TextEditor {
  const editor = vscode.window.activeTextEditor;
  if (!editor || !['file', 'untitled'].includes(editor.document.uri.scheme)) {
    throw new Error('open the text file to score in an editor first (Output channels and other views cannot be scored)');
  }
  return editor;
}

/**
 * The text the model sees: a JSONL data file scores the training text of its first records
 * ({"text"}, or prompt + completion, or the messages' contents), not its JSON syntax.
 */
function modelText(doc: vscode.TextDocument): string {
  if (!doc.fileName.endsWith('.jsonl')) return doc.getText();
  throw new Error(`${doc.fileName}: scoring a JSONL data file per record is not supported yet; open a plain text file`);
}

/** "LoRA Lab: Show Token Loss" (compare = false) and "Compare Token Loss" (adapter − base). */
export async function showTokenLoss(lab: LoraLab, compare: boolean): Promise<void> {
  const editor = scorableEditor();
  const model = await modelForCommand(lab);
  if (!model) return;
  const adapter = lab.adapterState.active?.path ?? null;
  if (compare && !adapter) throw new Error('Compare Token Loss needs an active adapter: activate one in the Adapters view');
  const text = modelText(editor.document);
  decorationTypes(lab);
  const scored = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'LoRA Lab: scoring tokens' }, async () => {
    await lab.inference.load(model);
    const main = await lab.inference.score(model, adapter, text);
    const base = compare ? await lab.inference.score(model, null, text) : null;
    return { main, base };
  });
  const { main, base } = scored;
  // token_ids[0] is BOS (nothing predicts it): nll[i] belongs to tokens[i + 1].
  const offsets = tokenOffsets(text, main.tokens.slice(1));
  const buckets: vscode.DecorationOptions[][] = Array.from({ length: BUCKETS }, () => []);
  const better: vscode.DecorationOptions[][] = Array.from({ length: BUCKETS }, () => []);
  const worse: vscode.DecorationOptions[][] = Array.from({ length: BUCKETS }, () => []);
  offsets.forEach(([s, e], i) => {
    if (s === e) return;
    const range = new vscode.Range(editor.document.positionAt(s), editor.document.positionAt(e));
    const nll = main.nll[i];
    const tok = JSON.stringify(main.tokens[i + 1]);
    if (base) {
      const d = nll - base.nll[i];
      const hover = new vscode.MarkdownString(`token \`${tok}\`: NLL ${nll.toFixed(3)} (adapter) vs ${base.nll[i].toFixed(3)} (base), Δ ${d >= 0 ? '+' : ''}${d.toFixed(3)}`);
      (d < 0 ? better : worse)[bucketOf(d, DIFF_FULL)].push({ range, hoverMessage: hover });
    } else {
      buckets[bucketOf(nll, NLL_FULL)].push({ range, hoverMessage: new vscode.MarkdownString(`token \`${tok}\`: NLL ${nll.toFixed(3)} (p ${Math.exp(-nll).toFixed(4)})`) });
    }
  });
  lossTypes.forEach((t, b) => editor.setDecorations(t, base ? [] : buckets[b]));
  diffTypes.better.forEach((t, b) => editor.setDecorations(t, better[b]));
  diffTypes.worse.forEach((t, b) => editor.setDecorations(t, worse[b]));
  const label = adapter ? variantLabel(adapter) : 'base';
  statusItem!.text = base ? `${perplexityLine(label, main.mean_nll)} | ${perplexityLine('base', base.mean_nll)}` : perplexityLine(label, main.mean_nll);
  statusItem!.tooltip = 'LoRA Lab token loss of the decorated file (mean NLL in nats, perplexity)';
  statusItem!.show();
}

/** "LoRA Lab: Evaluate Selection": the selection is the prompt; base and active adapter complete it, shown side by side in a diff editor. */
export async function evaluateSelection(lab: LoraLab): Promise<void> {
  const editor = scorableEditor();
  const prompt = editor.document.getText(editor.selection);
  if (!prompt.trim()) throw new Error('select the prompt text first');
  const model = await modelForCommand(lab);
  if (!model) return;
  const adapter = lab.adapterState.active?.path ?? null;
  const variants = adapter ? [null, adapter] : [null];
  const texts = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'LoRA Lab: completing the selection' },
    () => new WorkerEvalBackend(lab.inference, model).generate({ prompt }, variants, {}));
  const docs = await Promise.all(texts.map((t) => vscode.workspace.openTextDocument({ content: prompt + t })));
  if (docs.length === 1) {
    await vscode.window.showTextDocument(docs[0], { preview: true });
    return;
  }
  await vscode.commands.executeCommand('vscode.diff', docs[0].uri, docs[1].uri, `Base model ↔ ${variantLabel(adapter)}`, { preview: true });
}
