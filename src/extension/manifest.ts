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
  /** A checkpoint row of the Experiments tree: reveals the checkpoint (a PEFT adapter folder). */
  'loralab.revealCheckpoint': { title: 'Reveal Checkpoint Folder', icon: '$(folder-opened)', palette: false },
  /** A checkpoint row of the Experiments tree: a new run of the run's experiment with the checkpoint as `init_adapter`. */
  'loralab.continueFromCheckpoint': { title: 'Continue Training From Here', icon: '$(debug-continue)', palette: false },
  /** Tree only (hidden from the palette). */
  'loralab.deleteRun': { title: 'Delete Run', icon: '$(trash)', palette: false },
  'loralab.showTokenLoss': { title: 'Show Token Loss', icon: '$(symbol-color)' },
  'loralab.compareTokenLoss': { title: 'Compare Token Loss (adapter vs base)' },
  'loralab.evaluateSelection': { title: 'Evaluate Selection' },
  /** Eval-set CodeLenses only: runs a set or one case with the base model or the active adapter. */
  'loralab.runEvalCases': { title: 'Run Eval Cases', palette: false },
  'loralab.compareRuns': { title: 'Compare Runs', icon: '$(graph-scatter)' },
  'loralab.startSweep': { title: 'Start Sweep', icon: '$(run-all)' },
  /** Sweep nodes of the Experiments tree only: the sweep's runs, scatter on learning rate. */
  'loralab.compareSweep': { title: 'Compare Sweep', icon: '$(graph-scatter)', palette: false },
  'loralab.activateAdapter': { title: 'Activate Adapter', icon: '$(check)' },
  'loralab.useBaseModel': { title: 'Use Base Model', icon: '$(circle-large-outline)' },
  'loralab.importAdapter': { title: 'Import PEFT Adapter…', icon: '$(cloud-download)' },
  'loralab.openPlayground': { title: 'Open Playground', icon: '$(comment-discussion)' },
  /** Adapters view only: activates the adapter, then opens the playground. */
  'loralab.openAdapterInPlayground': { title: 'Open in Playground', icon: '$(comment-discussion)', palette: false },
  /** Adapters view only. */
  'loralab.revealAdapter': { title: 'Reveal Adapter Folder', icon: '$(folder-opened)', palette: false },
  /** Adapters view only. */
  'loralab.copyAdapterPath': { title: 'Copy Path', icon: '$(copy)', palette: false },
  /** Adapters view only (imported adapters): forgets the folder, keeps the files. */
  'loralab.removeImportedAdapter': { title: 'Remove from Adapters', icon: '$(close)', palette: false },
  /** Palette, the Adapters view's title bar and its (multi-)selection. */
  'loralab.mergeAdapters': { title: 'Merge Adapters…', icon: '$(git-merge)' },
  /** Palette and an adapter's context menu. */
  'loralab.mergeIntoBase': { title: 'Merge Into Base Model…', icon: '$(package)' },
} as const satisfies Record<string, { title: string; icon?: string; palette?: false }>;

export type CommandId = keyof typeof COMMANDS;

/** The palette category of every command. */
export const COMMAND_CATEGORY = 'LoRA Lab';

/** The Experiments view (in the "LoRA Lab" activity-bar container). */
export const EXPERIMENTS_VIEW = 'loralab.experiments';

/** Webview type of run dashboards (`onWebviewPanel:` activation restores them after a reload). */
export const DASHBOARD_VIEW_TYPE = 'loralab.dashboard';

/** Webview type of Compare views (restored after a reload from the run folders they saved). */
export const COMPARE_VIEW_TYPE = 'loralab.compare';

/** The Adapters view (beside Experiments): trained, imported and merged adapters. */
export const ADAPTERS_VIEW = 'loralab.adapters';

/** Webview type of the Playground (restored after a reload). */
export const PLAYGROUND_VIEW_TYPE = 'loralab.playground';

/** Webview type of the Merge page (not restored after a reload: it holds no saved work). */
export const MERGE_VIEW_TYPE = 'loralab.merge';
