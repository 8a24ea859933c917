/**
 * What `package.json` `contributes` declares, as constants the code uses: the one command
 * table (every command with its palette title and icon), the view and webview ids.
 * `test/extension/manifest.test.ts` checks the manifest against this file, and `commands.ts` must
 * give each command a handler (checked by the compiler). Plain; no `vscode` import.
 */
export const COMMANDS = {
  'loralab.newExperiment': { title: 'New Experiment', icon: '$(add)' },
  'loralab.startRun': { title: 'Start Run', icon: '$(play)' },
  'loralab.stopRun': { title: 'Stop Run', icon: '$(debug-stop)' },
  'loralab.resumeRun': { title: 'Resume Run', icon: '$(debug-continue)' },
  'loralab.openDashboard': { title: 'Open Dashboard', icon: '$(graph-line)' },
  'loralab.refresh': { title: 'Refresh', icon: '$(refresh)' },
  'loralab.showLog': { title: 'Show Log', icon: '$(output)' },
  /** Tree and dashboard only (hidden from the palette). */
  'loralab.revealRunFolder': { title: 'Reveal Run Folder', icon: '$(folder-opened)', palette: false },
  /** Tree only (hidden from the palette). */
  'loralab.deleteRun': { title: 'Delete Run', icon: '$(trash)', palette: false },
  'loralab.scoreFile': { title: 'Score Active File (per-token NLL)' },
} as const satisfies Record<string, { title: string; icon?: string; palette?: false }>;

export type CommandId = keyof typeof COMMANDS;

/** The palette category of every command. */
export const COMMAND_CATEGORY = 'LoRA Lab';

/** The Experiments view (in the "LoRA Lab" activity-bar container). */
export const EXPERIMENTS_VIEW = 'loralab.experiments';

/** Webview type of run dashboards (`onWebviewPanel:` activation restores them after a reload). */
export const DASHBOARD_VIEW_TYPE = 'loralab.dashboard';
