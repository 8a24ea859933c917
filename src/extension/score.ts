/**
 * "LoRA Lab: Score Active File": per-token NLL and perplexity of the active editor's text
 * under the model in `loralab.modelPath`, computed by the bundled CLI in a child process.
 */
import * as vscode from 'vscode';
import { fork } from 'node:child_process';
import { join } from 'node:path';
import type { LoraLab } from './context';

interface ScoreJson {
  token_ids: number[];
  nll: number[];
  mean_nll: number;
  perplexity: number;
}

export async function scoreActiveFile(ctx: LoraLab): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) throw new Error('open a text file to score first');
  let model = vscode.workspace.getConfiguration('loralab').get<string>('modelPath') ?? '';
  if (!model) {
    const picked = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: 'Use this model folder' });
    if (!picked?.length) return;
    model = picked[0].fsPath;
  }
  const text = editor.selection.isEmpty ? editor.document.getText() : editor.document.getText(editor.selection);
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'LoRA Lab: scoring', cancellable: true },
    (_progress, token) => runCliScore(ctx, model, text, token),
  );
  if (!result) return;
  ctx.output.appendLine(`${editor.document.fileName}: ${result.nll.length} tokens, mean NLL ${result.mean_nll.toFixed(4)}, perplexity ${result.perplexity.toFixed(3)} (model ${model})`);
  ctx.output.show(true);
  void vscode.window.showInformationMessage(`Perplexity ${result.perplexity.toFixed(3)} (mean NLL ${result.mean_nll.toFixed(4)} over ${result.nll.length} tokens)`);
}

function runCliScore(ctx: LoraLab, model: string, text: string, token: vscode.CancellationToken): Promise<ScoreJson | null> {
  return new Promise((resolve, reject) => {
    const cli = join(ctx.extension.extensionPath, 'dist', 'cli.js');
    const child = fork(cli, ['score', '--model', model, '--file', '-', '--json'], { stdio: ['pipe', 'pipe', 'pipe', 'ipc'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => {
      stderr += d;
      ctx.output.append(String(d));
    });
    token.onCancellationRequested(() => child.kill());
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (token.isCancellationRequested) return resolve(null);
      if (code !== 0) {
        const line = stderr.trim().split('\n').pop() ?? `exit ${code ?? signal}`;
        return reject(new Error(line.replace(/^loralab: error: /, '')));
      }
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop()!) as ScoreJson);
      } catch {
        reject(new Error('the scoring process returned no result; see the LoRA Lab output channel'));
      }
    });
    child.stdin!.end(text);
  });
}
