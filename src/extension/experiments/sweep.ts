/**
 * "LoRA Lab: Start Sweep": runs `loralab sweep FILE --runs-dir <the workspace's runs dir>` in a
 * terminal (the bundled CLI under VS Code's own Node, `ELECTRON_RUN_AS_NODE`), so its progress,
 * Ctrl-C (stop the whole sweep, with checkpoints) and the resume line it prints are the CLI's.
 * The runs appear in the Experiments view as the run folders are written.
 */
import * as vscode from 'vscode';
import * as nodePath from 'node:path';
import type { LoraLab } from '../context';

/** The terminal command line (exported for tests). */
export function sweepCommandLine(node: string, cli: string, file: string, runsDir: string, resume?: string): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return resume ? `${q(node)} ${q(cli)} sweep --resume ${q(resume)}` : `${q(node)} ${q(cli)} sweep ${q(file)} --runs-dir ${q(runsDir)}`;
}

/** Starts the sweep of `file` in a new terminal. */
export function startSweep(lab: LoraLab, file: string, extensionPath: string): void {
  const runsDir = lab.runsDirForFile(file);
  const terminal = vscode.window.createTerminal({
    name: `LoRA Lab sweep: ${nodePath.basename(file)}`,
    cwd: nodePath.dirname(file),
    env: { ELECTRON_RUN_AS_NODE: '1' },
  });
  terminal.sendText(sweepCommandLine(process.execPath, nodePath.join(extensionPath, 'dist', 'cli.js'), file, runsDir));
  terminal.show();
  lab.followRunsDirs();
}
