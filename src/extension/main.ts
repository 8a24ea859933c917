/**
 * VS Code entry point. `activate()` reads as a table of contents: one context owns every
 * disposable, commands come from one table, and nothing here loads onnxruntime-node — ML
 * work runs in a forked child (the bundled CLI) so a native crash cannot take the editor down.
 */
import * as vscode from 'vscode';
import { scoreActiveFile } from './score';

export interface LoraLabContext {
  extension: vscode.ExtensionContext;
  output: vscode.OutputChannel;
}

type CommandHandler = (ctx: LoraLabContext) => Promise<void>;

/** Every command of the extension; ids match `contributes.commands` in package.json. */
const COMMANDS: Record<string, CommandHandler> = {
  'loralab.scoreFile': scoreActiveFile,
};

export function activate(extension: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel('LoRA Lab');
  extension.subscriptions.push(output);
  const ctx: LoraLabContext = { extension, output };
  for (const [id, handler] of Object.entries(COMMANDS)) {
    extension.subscriptions.push(
      vscode.commands.registerCommand(id, async () => {
        try {
          await handler(ctx);
        } catch (e) {
          const msg = (e as Error).message;
          output.appendLine(`error: ${msg}`);
          void vscode.window.showErrorMessage(`LoRA Lab: ${msg}`);
        }
      }),
    );
  }
}

export function deactivate(): void {
  // Disposables are released through extension.subscriptions.
}
