/** One status-bar item per supervised trainer (step, loss, ETA), living as long as the trainer. */
import * as vscode from 'vscode';
import type { LoraLab } from '../context';
import type { Target } from '../experiments/model';
import { jobStatusText } from './progress';
import type { Job } from './supervisor';

export function registerTrainingStatusBar(lab: LoraLab): void {
  const items = new Map<string, vscode.StatusBarItem>();
  const render = (job: Job) => {
    const item = items.get(job.key);
    if (!item) return;
    const { text, tooltip } = jobStatusText(job);
    item.text = text;
    item.tooltip = tooltip;
    const target: Target | undefined = job.runDir ? { kind: 'run', runDir: job.runDir } : undefined;
    item.command = target ? { title: 'Open Dashboard', command: 'loralab.openDashboard', arguments: [target] } : { title: 'Show Log', command: 'loralab.showLog' };
  };
  lab.own(
    lab.supervisor.onEvent((e) => {
      if (e.type === 'started') {
        const item = lab.ownForRun(e.job, vscode.window.createStatusBarItem(`loralab.training.${e.job.key}`, vscode.StatusBarAlignment.Left, 10));
        item.name = 'LoRA Lab Training';
        items.set(e.job.key, item);
        lab.ownForRun(e.job, { dispose: () => items.delete(e.job.key) });
        render(e.job);
        item.show();
      } else if (e.type === 'run' || e.type === 'metrics' || e.type === 'stopping') {
        render(e.job);
      }
    }),
  );
}
