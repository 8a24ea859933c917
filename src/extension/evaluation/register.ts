/**
 * Evaluation in the editor, the `vscode` side: eval sets (`*.eval.jsonl`) in the Test Explorer
 * (one test per case at its line; run profiles "Base model" and "Active adapter"; a failure is a
 * `TestMessage.diff(expected, actual)` with the score and threshold; "All adapters of this experiment"
 * runs every final adapter of the experiment naming the set in `eval.files`; CodeLenses run a set or a case), their bad lines as Problems
 * diagnostics, and the token-loss heatmap and Evaluate Selection commands. Inference goes
 * through the worker (`lab.inference`); nothing here loads onnxruntime-node.
 */
import * as vscode from 'vscode';
import { EVAL_SET_SUFFIX, type EvalCase, parseEvalSet } from '../../engine/eval/eval-set';
import { type CaseResult, runCase } from '../../engine/eval/run';
import type { LoraLab } from '../context';
import { WorkerEvalBackend } from './backend';
import { experimentModels } from './models';
import { jsonlScoringTexts, textToFileRanges } from './jsonl';
import type { ScoreResult } from '../worker/api';
import { evalTargets } from './adapters';
import { basename } from 'node:path';
import { BUCKETS, DIFF_FULL, NLL_FULL, bucketOf, diffColor, lossColor, perplexityLine, tokenOffsets } from './heatmap';
import { failureText, variantLabel } from './report';
import { type EvalDocuments, registerEvalDocuments } from './documents';

const isEvalSet = (doc: vscode.TextDocument) => doc.uri.scheme === 'file' && doc.fileName.endsWith(EVAL_SET_SUFFIX);

export function registerEvaluation(lab: LoraLab): void {
  registerDiagnostics(lab);
  registerTestController(lab);
  evalDocs = registerEvalDocuments((d) => lab.own(d)); // Evaluate Selection's read-only completions
}

/** The `loralab-eval:` documents (documents.ts), set by `registerEvaluation`. */
let evalDocs: EvalDocuments | undefined;

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

  /** Variants (null: the base model) and, optionally, the base model for the cases of one eval set; a string: why not. */
  type Targets = (file: string) => Promise<{ variants: (string | null)[]; model?: string } | string>;
  const runWith = (targets: Targets) => async (request: vscode.TestRunRequest, token: vscode.CancellationToken) => {
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
    const perFile = new Map<string, ReturnType<Targets>>();
    try {
      for (const item of queue) {
        const { file, c } = caseData.get(item)!;
        if (!perFile.has(file)) perFile.set(file, targets(file));
        const v = await perFile.get(file)!;
        const model = typeof v === 'string' ? undefined : v.model ?? modelFolder(lab);
        if (token.isCancellationRequested) run.skipped(item);
        else if (typeof v === 'string') run.errored(item, new vscode.TestMessage(v));
        else if (!model) run.errored(item, new vscode.TestMessage('No model: activate an adapter ("LoRA Lab: Activate Adapter") or set loralab.modelPath to a Hugging Face model folder.'));
        else {
          run.started(item);
          try {
            const results = await runCase(file, c, v.variants, new WorkerEvalBackend(lab.inference, model));
            report(run, item, results, v.variants);
          } catch (e) {
            run.errored(item, new vscode.TestMessage((e as Error).message));
          }
        }
      }
    } finally {
      run.end();
    }
  };
  const base = runWith(async () => ({ variants: [null] }));
  const active = runWith(async () => {
    const a = lab.adapterState.active;
    return a?.path ? { variants: [a.path] } : 'No active adapter: activate one in the Adapters view ("LoRA Lab: Activate Adapter"), or run with the "Base model" profile.';
  });
  lab.own(ctrl.createRunProfile('Base model', vscode.TestRunProfileKind.Run, base, true));
  lab.own(ctrl.createRunProfile('Active adapter', vscode.TestRunProfileKind.Run, active));
  lab.own(ctrl.createRunProfile('All adapters of this experiment', vscode.TestRunProfileKind.Run, runWith(async (file) => {
    const t = await evalTargets(file, lab.experiments.list().map((e) => e.file), lab.runs.runs());
    if (!t.adapters.length) {
      return t.experiments.length
        ? `No final adapter yet in the runs of ${t.experiments.map((f) => basename(f)).join(', ')} (the experiment${t.experiments.length > 1 ? 's' : ''} naming this eval set in eval.files): finish a run first.`
        : 'No final adapter in the workspace\'s runs (no experiment names this eval set in eval.files, so every run counts): finish a run first.';
    }
    return { variants: t.adapters, model: t.model ?? undefined };
  })));
  evalRunner = { ctrl, loadFile, base, active };
  lab.own(vscode.languages.registerCodeLensProvider({ pattern: `**/*${EVAL_SET_SUFFIX}` }, { provideCodeLenses: (doc) => evalCodeLenses(doc) }));
}

/** The controller and the two profile handlers, for the CodeLens command. */
let evalRunner: {
  ctrl: vscode.TestController;
  loadFile: (uri: vscode.Uri) => Promise<vscode.TestItem>;
  base: (r: vscode.TestRunRequest, t: vscode.CancellationToken) => Promise<void>;
  active: (r: vscode.TestRunRequest, t: vscode.CancellationToken) => Promise<void>;
} | undefined;

/**
 * CodeLenses of an eval set: "Run eval (base)" and "Run eval (active adapter)" over the first
 * line (the whole file) and over each case's line (that case); they run `loralab.runEvalCases`.
 */
export function evalCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
  const set = parseEvalSet(doc.getText(), doc.fileName);
  const lenses = (line: number, caseLine: number | null, what: string) => (['base', 'active'] as const).map((p) =>
    new vscode.CodeLens(new vscode.Range(line, 0, line, 0), {
      title: p === 'base' ? `Run ${what} (base)` : `Run ${what} (active adapter)`,
      command: 'loralab.runEvalCases',
      arguments: [doc.uri, caseLine, p],
    }));
  const out = lenses(0, null, 'eval set');
  for (const c of set.cases) out.push(...lenses(c.line - 1, c.line, 'eval'));
  return out;
}

/**
 * `loralab.runEvalCases(uri, line, profile)`: runs the eval set at `uri` (line null: every case;
 * else the case on that 1-based line) with the "Base model" or "Active adapter" profile, results
 * in the Test Explorer as from the profile itself.
 * @throws Error when the line holds no case (the file changed since the CodeLens was drawn).
 */
export async function runEvalCases(uri: vscode.Uri, line: number | null, profile: 'base' | 'active'): Promise<void> {
  if (!evalRunner) throw new Error('eval sets are not set up yet: try again once LoRA Lab has started');
  const { loadFile } = evalRunner;
  const fileItem = await loadFile(uri);
  let include: vscode.TestItem = fileItem;
  if (line !== null) {
    const found = fileItem.children.get(`${uri.toString()}#${line}`);
    if (!found) throw new Error(`${uri.fsPath}:${line}: no eval case on this line any more; save the file and use the CodeLens again`);
    include = found;
  }
  const request = new vscode.TestRunRequest([include], []);
  const source = new vscode.CancellationTokenSource();
  try {
    await evalRunner[profile](request, source.token);
  } finally {
    source.dispose();
  }
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
    const nll = r.metric !== 'nll' && r.scores.nll !== undefined ? `, NLL of expected ${r.scores.nll.toFixed(4)}` : '';
    run.appendOutput(`${item.label} [${variantLabel(variants[i])}]: ${r.passed ? 'passed' : 'failed'} (${r.metric} ${s?.toFixed(4)}${nll})\r\n`, undefined, item);
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

/** A text the model sees, and where its characters lie in the document. */
interface ScoredPiece {
  text: string;
  /** File ranges of text[start, end) (none: not shown in the document). */
  toFile: (start: number, end: number) => [number, number][];
}

/**
 * The texts the model sees: the document itself, or for a JSONL data file the training text of
 * each record (jsonl.ts: text, prompt + completion, chat contents), mapped back onto its JSON
 * strings.
 * @throws Error naming the file when a JSONL file has no record to score.
 */
function modelTexts(doc: vscode.TextDocument): ScoredPiece[] {
  if (!doc.fileName.endsWith('.jsonl')) return [{ text: doc.getText(), toFile: (a, b) => [[a, b]] }];
  const { records } = jsonlScoringTexts(doc.getText());
  const pieces = records.filter((r) => r.text.trim()).map((r) => ({ text: r.text, toFile: (a: number, b: number) => textToFileRanges(r.spans, a, b) }));
  if (!pieces.length) throw new Error(`${doc.fileName}: no {"text"}, {"prompt","completion"} or {"messages"} record with text to score`);
  return pieces;
}

/** Hover line of the 5 most probable next tokens, when the worker sent them. */
function topLine(top: { token: string; p: number }[] | undefined): string {
  return top?.length ? `\n\nmost probable: ${top.map((c) => `\`${JSON.stringify(c.token)}\` ${c.p.toFixed(3)}`).join(', ')}` : '';
}

/** "LoRA Lab: Show Token Loss" (compare = false) and "Compare Token Loss" (adapter − base). */
export async function showTokenLoss(lab: LoraLab, compare: boolean): Promise<void> {
  const editor = scorableEditor();
  const model = await modelForCommand(lab);
  if (!model) return;
  const adapter = lab.adapterState.active?.path ?? null;
  if (compare && !adapter) throw new Error('Compare Token Loss needs an active adapter: activate one in the Adapters view');
  const pieces = modelTexts(editor.document);
  decorationTypes(lab);
  const scored = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'LoRA Lab: scoring tokens' }, async () => {
    await lab.inference.load(model);
    const out: { piece: ScoredPiece; main: ScoreResult; base: ScoreResult | null }[] = [];
    for (const piece of pieces) {
      const main = await lab.inference.score(model, adapter, piece.text);
      const base = compare ? await lab.inference.score(model, null, piece.text) : null;
      out.push({ piece, main, base });
    }
    return out;
  });
  const buckets: vscode.DecorationOptions[][] = Array.from({ length: BUCKETS }, () => []);
  const better: vscode.DecorationOptions[][] = Array.from({ length: BUCKETS }, () => []);
  const worse: vscode.DecorationOptions[][] = Array.from({ length: BUCKETS }, () => []);
  let sumMain = 0;
  let sumBase = 0;
  let count = 0;
  for (const { piece, main, base } of scored) {
    sumMain += main.nll.reduce((x, y) => x + y, 0);
    sumBase += base ? base.nll.reduce((x, y) => x + y, 0) : 0;
    count += main.nll.length;
    // token_ids[0] is BOS (nothing predicts it): nll[i] belongs to tokens[i + 1].
    const offsets = tokenOffsets(piece.text, main.tokens.slice(1));
    offsets.forEach(([s, e], i) => {
      if (s === e) return;
      const nll = main.nll[i];
      const tok = JSON.stringify(main.tokens[i + 1]);
      for (const [fs, fe] of piece.toFile(s, e)) {
        const range = new vscode.Range(editor.document.positionAt(fs), editor.document.positionAt(fe));
        if (base) {
          const d = nll - base.nll[i];
          const hover = new vscode.MarkdownString(`token \`${tok}\`: NLL ${nll.toFixed(3)} (adapter) vs ${base.nll[i].toFixed(3)} (base), Δ ${d >= 0 ? '+' : ''}${d.toFixed(3)}${topLine(main.top?.[i])}`);
          (d < 0 ? better : worse)[bucketOf(d, DIFF_FULL)].push({ range, hoverMessage: hover });
        } else {
          buckets[bucketOf(nll, NLL_FULL)].push({ range, hoverMessage: new vscode.MarkdownString(`token \`${tok}\`: NLL ${nll.toFixed(3)} (p ${Math.exp(-nll).toFixed(4)})${topLine(main.top?.[i])}`) });
        }
      }
    });
  }
  lossTypes.forEach((t, b) => editor.setDecorations(t, compare ? [] : buckets[b]));
  diffTypes.better.forEach((t, b) => editor.setDecorations(t, better[b]));
  diffTypes.worse.forEach((t, b) => editor.setDecorations(t, worse[b]));
  const label = adapter ? lab.adapterState.active?.label || variantLabel(adapter) : 'base';
  const records = pieces.length > 1 || editor.document.fileName.endsWith('.jsonl') ? ` (${pieces.length} record${pieces.length > 1 ? 's' : ''})` : '';
  // Compare names the adapter "adapter" in the status bar (a run label is long enough to push the
  // base figures out of a narrow status bar) and in full in the tooltip.
  statusItem!.text = (compare ? `${perplexityLine('adapter', sumMain / count)} | ${perplexityLine('base', sumBase / count)}` : perplexityLine(label, sumMain / count)) + records;
  statusItem!.tooltip = `LoRA Lab token loss of the decorated file under ${compare ? `${label} (adapter) and the base model` : label} (mean NLL in nats over all scored tokens, perplexity)${compare ? '; green: the adapter is better there, red: worse' : ''}`;
  statusItem!.show();
}

/**
 * "LoRA Lab: Evaluate Selection": the selection is the prompt; the base model and the active
 * adapter complete it, and the two texts (prompt + completion) open side by side in a read-only
 * diff editor titled `Base model ↔ <adapter>` (the adapter named as the Adapters view names it,
 * e.g. `tiny · 2026-12-06 23:57:07 (final)`); without an active adapter, the base model's text
 * opens alone, read-only. The documents are `loralab-eval:` ones (documents.ts): no save prompt.
 */
export async function evaluateSelection(lab: LoraLab): Promise<void> {
  if (!evalDocs) throw new Error('LoRA Lab has not finished starting: try again in a moment');
  const docs = evalDocs;
  const editor = scorableEditor();
  const prompt = editor.document.getText(editor.selection);
  if (!prompt.trim()) throw new Error('select the prompt text first');
  const model = await modelForCommand(lab);
  if (!model) return;
  const active = lab.adapterState.active;
  const adapter = active?.path ?? null;
  const variants = adapter ? [null, adapter] : [null];
  const texts = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'LoRA Lab: completing the selection' },
    () => new WorkerEvalBackend(lab.inference, model).generate({ prompt }, variants, {}));
  const base = docs.add('Base model', prompt + texts[0]);
  if (!adapter) {
    await vscode.window.showTextDocument(base, { preview: true });
    return;
  }
  const label = active?.label || variantLabel(adapter);
  const tuned = docs.add(label, prompt + texts[1]);
  await vscode.commands.executeCommand('vscode.diff', base, tuned, `Base model ↔ ${label}`, { preview: true });
}
