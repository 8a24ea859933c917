/**
 * The advisor's findings as diagnostics on experiment files (information / warning, never
 * error: validation errors are diagnostics.ts's), on the key each finding is about, with the
 * source as the diagnostic's code link, and a quick fix where the fix is a value change ("Set
 * learning_rate to 0.001"). Recomputed on open, edit (debounced) and save. The host never
 * tokenizes the data: the findings that need no token count show at once, the capacity finding
 * when a child process (`loralab advise FILE --json`, see advice-count.ts) has counted the
 * trained tokens — cached by data fingerprint, so only the first look at a data file tokenizes it.
 */
import * as vscode from 'vscode';
import { applyEdits, modify } from 'jsonc-parser/lib/esm/main.js';
import { EXPERIMENT_FILE_SUFFIX } from '../../experiment/index';
import * as nodePath from 'node:path';
import { readFile } from 'node:fs/promises';
import type { PlacedFinding } from '../../experiment/advice';
import type { LoraLab } from '../context';
import { type CliRunner, forkCliRunner } from '../merge/cli';
import { AdviceCounter } from './advice-count';

/** Diagnostic `source` of every advisor finding. */
export const ADVICE_SOURCE = 'LoRA Lab advisor';

const fixes = new WeakMap<vscode.Diagnostic, NonNullable<PlacedFinding['fix']>>();

/** A finding as a diagnostic of `doc` (plain mapping; exported for tests). */
export function toDiagnostic(doc: vscode.TextDocument, f: PlacedFinding): vscode.Diagnostic {
  const range = new vscode.Range(doc.positionAt(f.range.offset), doc.positionAt(f.range.offset + f.range.length));
  const d = new vscode.Diagnostic(range, `${f.message} — ${f.source.title}`, f.severity === 'warning' ? vscode.DiagnosticSeverity.Warning : vscode.DiagnosticSeverity.Information);
  d.source = ADVICE_SOURCE;
  d.code = { value: f.id, target: vscode.Uri.parse(f.source.url) };
  if (f.fix) fixes.set(d, f.fix);
  return d;
}

/** @param runner starts `loralab` (tests pass a fake); default: the bundled `dist/cli.js`. */
export function registerAdvice(lab: LoraLab, runner?: CliRunner): void {
  const collection = lab.own(vscode.languages.createDiagnosticCollection('loralab-advice'));
  const isExperiment = (doc: vscode.TextDocument) => doc.uri.scheme === 'file' && doc.uri.fsPath.endsWith(EXPERIMENT_FILE_SUFFIX);
  const counter = lab.own(
    new AdviceCounter({
      runner: runner ?? forkCliRunner(lab.extension.asAbsolutePath(nodePath.join('dist', 'cli.js')), { onLog: (line) => lab.output.appendLine(`[advise] ${line}`) }),
      readDisk: (file) => readFile(file, 'utf8'),
      log: (line) => lab.output.appendLine(line),
    }),
  );
  const version = new Map<string, number>();
  const update = async (doc: vscode.TextDocument, fresh = false) => {
    if (!isExperiment(doc)) return;
    const key = doc.uri.toString();
    const v = doc.version;
    version.set(key, v);
    try {
      await counter.advise(doc.uri.fsPath, doc.getText(), (a) => {
        if (version.get(key) !== v) return; // edited meanwhile
        collection.set(doc.uri, a.findings.map((f) => toDiagnostic(doc, f)));
      }, fresh);
    } catch {
      if (version.get(key) === v) collection.delete(doc.uri); // an invalid file: the schema's errors say why
    }
  };
  const timers = new Map<string, NodeJS.Timeout>();
  const soon = (doc: vscode.TextDocument) => {
    const key = doc.uri.toString();
    clearTimeout(timers.get(key));
    timers.set(key, setTimeout(() => void update(doc), 500));
  };
  lab.own({ dispose: () => timers.forEach((t) => clearTimeout(t)) });
  lab.own(vscode.workspace.onDidOpenTextDocument((d) => void update(d, true)));
  lab.own(vscode.workspace.onDidChangeTextDocument((e) => isExperiment(e.document) && soon(e.document)));
  lab.own(vscode.workspace.onDidSaveTextDocument((d) => void update(d, true)));
  lab.own(vscode.workspace.onDidCloseTextDocument((d) => collection.delete(d.uri)));
  for (const d of vscode.workspace.textDocuments) void update(d, true);

  lab.own(
    vscode.languages.registerCodeActionsProvider(
      { scheme: 'file', pattern: `**/*${EXPERIMENT_FILE_SUFFIX}` },
      {
        provideCodeActions(doc, _range, ctx) {
          return ctx.diagnostics.flatMap((d) => {
            const fix = fixes.get(d);
            if (!fix) return [];
            const action = new vscode.CodeAction(fix.title, vscode.CodeActionKind.QuickFix);
            action.diagnostics = [d];
            action.isPreferred = true;
            const text = doc.getText();
            const edits = modify(text, fix.pointer.split('/').slice(1), fix.value, { formattingOptions: { insertSpaces: true, tabSize: 2 } });
            const edit = new vscode.WorkspaceEdit();
            // one replacement of the whole text keeps jsonc-parser's offsets valid
            edit.replace(doc.uri, new vscode.Range(doc.positionAt(0), doc.positionAt(text.length)), applyEdits(text, edits));
            action.edit = edit;
            return [action];
          });
        },
      },
      { providedCodeActionKinds: [vscode.CodeActionKind.QuickFix] },
    ),
  );
}
