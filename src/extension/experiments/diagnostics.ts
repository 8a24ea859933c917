/**
 * Problems of experiment files: the CLI's own validation (`problems.ts`) as Error diagnostics,
 * recomputed on open, edit (debounced) and save, with a quick fix for an unknown key that has a
 * likely intended key ("Change to "learning_rate""); the files the experiment names are checked
 * on open and save only (they are read from disk), their problems shown on the `data.train` /
 * `model` values with a link to the data file's bad line.
 *
 * Double reporting: `jsonValidation` gives VS Code an editor-only copy of the schema
 * (`schemas/lora-experiment.editor.schema.json`: descriptions, defaults and value suggestions,
 * no validation keywords), so completion and hover stay while the schema's own yellow warnings
 * are gone; VS Code's JSON support still reports syntax errors, so those are not repeated here.
 */
import * as vscode from 'vscode';
import { EXPERIMENT_FILE_SUFFIX } from '../../experiment/index';
import type { LoraLab } from '../context';
import { fileProblems, validationProblems, type PlacedProblem } from './problems';

/** Diagnostic `source` of validation and file problems (the advisor's is `LoRA Lab advisor`). */
export const PROBLEMS_SOURCE = 'LoRA Lab';

const replacements = new WeakMap<vscode.Diagnostic, string>();

/** A placed problem as an Error diagnostic of `doc` (exported for tests). */
export function problemDiagnostic(doc: vscode.TextDocument, p: PlacedProblem): vscode.Diagnostic {
  const range = new vscode.Range(doc.positionAt(p.offset), doc.positionAt(p.offset + p.length));
  const d = new vscode.Diagnostic(range, p.message, vscode.DiagnosticSeverity.Error);
  d.source = PROBLEMS_SOURCE;
  if (p.related) {
    const at = new vscode.Position(p.related.line - 1, Math.max(0, p.related.column - 1));
    d.relatedInformation = [new vscode.DiagnosticRelatedInformation(new vscode.Location(vscode.Uri.file(p.related.file), at), p.related.message)];
  }
  if (p.replaceKey) replacements.set(d, p.replaceKey);
  return d;
}

/** The quick fix of a diagnostic: the key replaced by its likely intended key (undefined when there is none). */
export function quickFixFor(doc: vscode.TextDocument, d: vscode.Diagnostic): vscode.CodeAction | undefined {
  const key = replacements.get(d);
  if (!key) return undefined;
  const action = new vscode.CodeAction(`Change to ${JSON.stringify(key)}`, vscode.CodeActionKind.QuickFix);
  action.diagnostics = [d];
  action.isPreferred = true;
  action.edit = new vscode.WorkspaceEdit();
  action.edit.replace(doc.uri, d.range, JSON.stringify(key));
  return action;
}

export function registerExperimentProblems(lab: LoraLab): void {
  const collection = lab.own(vscode.languages.createDiagnosticCollection('loralab-experiment'));
  const isExperiment = (doc: vscode.TextDocument) => doc.uri.scheme === 'file' && doc.uri.fsPath.endsWith(EXPERIMENT_FILE_SUFFIX);
  const version = new Map<string, number>();
  /** File problems of the last open/save, kept while the text is edited (they come from disk). */
  const fileFound = new Map<string, vscode.Diagnostic[]>();
  const update = async (doc: vscode.TextDocument, checkFiles: boolean) => {
    if (!isExperiment(doc)) return;
    const key = doc.uri.toString();
    const v = doc.version;
    version.set(key, v);
    const text = doc.getText();
    const { problems, config } = validationProblems(text, doc.uri.fsPath);
    // VS Code's JSON support marks syntax errors itself (jsonc documents).
    const shown = problems.filter((p) => !(p.syntax && (doc.languageId === 'jsonc' || doc.languageId === 'json')));
    const own = shown.map((p) => problemDiagnostic(doc, p));
    if (checkFiles) fileFound.set(key, config ? (await fileProblems(text, config).catch(() => [])).map((p) => problemDiagnostic(doc, p)) : []);
    if (version.get(key) !== v) return; // edited meanwhile
    collection.set(doc.uri, [...own, ...(config ? (fileFound.get(key) ?? []) : [])]);
  };
  const timers = new Map<string, NodeJS.Timeout>();
  const soon = (doc: vscode.TextDocument) => {
    const key = doc.uri.toString();
    clearTimeout(timers.get(key));
    timers.set(key, setTimeout(() => void update(doc, false), 300));
  };
  lab.own({ dispose: () => timers.forEach((t) => clearTimeout(t)) });
  lab.own(vscode.workspace.onDidOpenTextDocument((d) => void update(d, true)));
  lab.own(vscode.workspace.onDidChangeTextDocument((e) => isExperiment(e.document) && soon(e.document)));
  lab.own(vscode.workspace.onDidSaveTextDocument((d) => void update(d, true)));
  lab.own(
    vscode.workspace.onDidCloseTextDocument((d) => {
      collection.delete(d.uri);
      fileFound.delete(d.uri.toString());
    }),
  );
  for (const d of vscode.workspace.textDocuments) void update(d, true);

  lab.own(
    vscode.languages.registerCodeActionsProvider(
      { scheme: 'file', pattern: `**/*${EXPERIMENT_FILE_SUFFIX}` },
      { provideCodeActions: (doc, _range, ctx) => ctx.diagnostics.flatMap((d) => quickFixFor(doc, d) ?? []) },
      { providedCodeActionKinds: [vscode.CodeActionKind.QuickFix] },
    ),
  );
}
