/** CodeLens at the top of experiment files: "▶ Start run", and "Open dashboard" once the experiment has runs. */
import * as vscode from 'vscode';
import { EXPERIMENT_FILE_SUFFIX } from '../../experiment/index';
import type { LoraLab } from '../context';
import { samePath } from '../runs/location';

export function registerCodeLens(lab: LoraLab): void {
  const changed = lab.own(new vscode.EventEmitter<void>());
  const withRuns = () =>
    new Set(
      lab.runs
        .runs()
        .flatMap((r) => (r.experiment_file ? [r.experiment_file] : []))
        .sort(),
    );
  // Only a change in which files have runs changes the lenses (not every new metrics row).
  let key = '';
  lab.own(
    lab.runs.onChange(() => {
      const next = [...withRuns()].join('\n');
      if (next !== key) {
        key = next;
        changed.fire();
      }
    }),
  );
  const provider: vscode.CodeLensProvider = {
    onDidChangeCodeLenses: changed.event,
    provideCodeLenses(doc) {
      const top = new vscode.Range(0, 0, 0, 0);
      const lenses = [new vscode.CodeLens(top, { title: '▶ Start run', command: 'loralab.startRun', arguments: [doc.uri], tooltip: 'Train an adapter with this experiment' })];
      if ([...withRuns()].some((f) => samePath(f, doc.uri.fsPath))) {
        lenses.push(new vscode.CodeLens(top, { title: 'Open dashboard', command: 'loralab.openDashboard', arguments: [doc.uri], tooltip: "The newest run's loss curves" }));
      }
      return lenses;
    },
  };
  lab.own(vscode.languages.registerCodeLensProvider({ scheme: 'file', pattern: `**/*${EXPERIMENT_FILE_SUFFIX}` }, provider));
}
