/**
 * A small stand-in for the `vscode` module, enough to activate the bundled extension under plain
 * Node and drive it: it records registrations (commands, tree view, CodeLens, status-bar items,
 * webview panels, messages shown) and answers dialogs from a queue. Not a VS Code emulation:
 * what it does not model (layout, real file events) the real-editor test covers.
 */
import { EventEmitter as NodeEmitter } from 'node:events';
import { promises as fsp, readdirSync, statSync } from 'node:fs';
import * as nodePath from 'node:path';
import { pathToFileURL } from 'node:url';

type Listener<T> = (e: T) => unknown;

export class EventEmitter<T> {
  private readonly ee = new NodeEmitter();
  readonly event = (l: Listener<T>) => {
    this.ee.on('e', l);
    return { dispose: () => this.ee.off('e', l) };
  };
  fire(e: T): void {
    this.ee.emit('e', e);
  }
  dispose(): void {
    this.ee.removeAllListeners();
  }
}

const noEvent = () => ({ dispose: () => undefined });

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly fsPath: string,
  ) {}
  static file(p: string): Uri {
    return new Uri('file', nodePath.resolve(p));
  }
  /** A link (diagnostic code targets): kept as its text in `fsPath`. */
  static parse(s: string): Uri {
    return new Uri(s.split(':')[0], s);
  }
  /** A URI of another scheme (`loralab-eval:/title?1`); `fsPath` holds its path. */
  static from(c: { scheme: string; path: string; query?: string }): Uri {
    const u = new Uri(c.scheme, c.path);
    u.query = c.query ?? '';
    return u;
  }
  query = '';
  static joinPath(base: Uri, ...parts: string[]): Uri {
    return Uri.file(nodePath.join(base.fsPath, ...parts));
  }
  get path(): string {
    return this.fsPath;
  }
  toString(): string {
    if (this.scheme !== 'file' && this.query) return `${this.scheme}:${this.fsPath}?${this.query}`;
    return pathToFileURL(this.fsPath).href;
  }
}

export class ThemeIcon {
  constructor(
    readonly id: string,
    readonly color?: ThemeColor,
  ) {}
}
export class ThemeColor {
  constructor(readonly id: string) {}
}
export class TreeItem {
  id?: string;
  description?: string;
  tooltip?: string;
  contextValue?: string;
  iconPath?: ThemeIcon;
  resourceUri?: Uri;
  command?: unknown;
  accessibilityInformation?: unknown;
  constructor(
    readonly label: string,
    readonly collapsibleState: number,
  ) {}
}
export class Range {
  constructor(
    readonly startLine: number,
    readonly startCharacter: number,
    readonly endLine: number,
    readonly endCharacter: number,
  ) {}
}
export class CodeLens {
  constructor(
    readonly range: Range,
    readonly command?: { title: string; command: string; arguments?: unknown[] },
  ) {}
}
/** A test run request (include/exclude items), as the eval-set CodeLens builds one. */
export class TestRunRequest {
  constructor(readonly include?: unknown[], readonly exclude?: unknown[], readonly profile?: unknown) {}
}
export class CancellationTokenSource {
  readonly token = { isCancellationRequested: false, onCancellationRequested: () => ({ dispose: () => undefined }) };
  cancel() { this.token.isCancellationRequested = true; }
  dispose() {}
}
/** Testing API (enough for the eval-set controller): items, runs and their outcomes are recorded. */
export class TestMessage {
  expectedOutput?: string;
  actualOutput?: string;
  location?: unknown;
  constructor(readonly message: string) {}
  static diff(message: string, expected: string, actual: string): TestMessage {
    const m = new TestMessage(message);
    m.expectedOutput = expected;
    m.actualOutput = actual;
    return m;
  }
}
export class Location {
  constructor(readonly uri: Uri, readonly range: Range) {}
}
export class Diagnostic {
  source?: string;
  constructor(readonly range: Range, readonly message: string, readonly severity: number) {}
}
export const DiagnosticSeverity = { Error: 0, Warning: 1, Information: 2, Hint: 3 };
export const CodeActionKind = { QuickFix: 'quickfix' };
export class MarkdownString {
  constructor(readonly value: string) {}
}
export const TestRunProfileKind = { Run: 1, Debug: 2, Coverage: 3 };
export class StubTestItem {
  range?: Range;
  error?: string;
  readonly children = new StubTestItems();
  constructor(readonly id: string, readonly label: string, readonly uri?: Uri) {}
}
export class StubTestItems {
  private readonly m = new Map<string, StubTestItem>();
  get size(): number { return this.m.size; }
  add(i: StubTestItem): void { this.m.set(i.id, i); }
  get(id: string): StubTestItem | undefined { return this.m.get(id); }
  delete(id: string): void { this.m.delete(id); }
  replace(items: StubTestItem[]): void { this.m.clear(); items.forEach((i) => this.add(i)); }
  forEach(f: (i: StubTestItem) => void): void { [...this.m.values()].forEach(f); }
}
export interface StubTestRun {
  outcomes: { id: string; state: 'started' | 'passed' | 'failed' | 'errored' | 'skipped'; messages?: TestMessage[]; duration?: number }[];
  output: string[];
  ended: boolean;
}
export class StubTestController {
  readonly items = new StubTestItems();
  readonly profiles: { label: string; kind: number; run: (req: unknown, token: unknown) => Promise<void>; isDefault?: boolean }[] = [];
  readonly runs: StubTestRun[] = [];
  resolveHandler?: (item?: StubTestItem) => Promise<void>;
  refreshHandler?: () => Promise<void>;
  constructor(readonly id: string, readonly label: string) {}
  createTestItem(id: string, label: string, uri?: Uri): StubTestItem { return new StubTestItem(id, label, uri); }
  createRunProfile(label: string, kind: number, run: (req: unknown, token: unknown) => Promise<void>, isDefault?: boolean) {
    const p = { label, kind, run, isDefault, dispose: () => undefined };
    this.profiles.push(p);
    return p;
  }
  createTestRun(): unknown {
    const r: StubTestRun = { outcomes: [], output: [], ended: false };
    this.runs.push(r);
    const push = (state: StubTestRun['outcomes'][number]['state']) => (i: StubTestItem, m?: TestMessage | TestMessage[], duration?: number) =>
      r.outcomes.push({ id: i.id, state, messages: m === undefined ? undefined : Array.isArray(m) ? m : [m], duration });
    return {
      started: push('started'), passed: (i: StubTestItem, d?: number) => push('passed')(i, undefined, d), failed: push('failed'), errored: push('errored'), skipped: push('skipped'),
      appendOutput: (t: string) => r.output.push(t), end: () => (r.ended = true),
    };
  }
  dispose(): void {}
}

export const TreeItemCollapsibleState = { None: 0, Collapsed: 1, Expanded: 2 };
export const StatusBarAlignment = { Left: 1, Right: 2 };
export const ViewColumn = { Active: -1 };
export const ProgressLocation = { Notification: 15 };

/** What the extension did, for the test to look at. */
export const recorded = {
  commands: new Map<string, (...args: unknown[]) => unknown>(),
  executed: [] as { id: string; args: unknown[] }[],
  output: [] as string[],
  messages: [] as { level: 'info' | 'warning' | 'error'; text: string }[],
  statusItems: [] as { id: string; text: string; tooltip: string; visible: boolean; disposed: boolean }[],
  trees: new Map<string, { getChildren(n?: unknown): unknown[]; getTreeItem(n: unknown): TreeItem; onDidChangeTreeData: (l: Listener<void>) => unknown }>(),
  codeLens: [] as { provideCodeLenses(doc: { uri: Uri }): CodeLens[] }[],
  /** TextDocumentContentProviders by scheme. */
  contentProviders: new Map<string, { provideTextDocumentContent(uri: Uri): string | undefined }>(),
  testControllers: [] as StubTestController[],
  diagnostics: new Map<string, Diagnostic[]>(),
  panels: [] as StubPanel[],
  serializers: new Map<string, { deserializeWebviewPanel(panel: StubPanel, state: unknown): Promise<void> }>(),
  /** Answers for showQuickPick / showInputBox / showWarningMessage…, taken in order (undefined = dismissed). */
  answers: [] as unknown[],
};

export class StubPanel {
  readonly sent: unknown[] = [];
  disposed = false;
  active = true;
  private readonly received = new EventEmitter<unknown>();
  private readonly disposedEvent = new EventEmitter<void>();
  readonly webview = {
    html: '',
    options: {} as unknown,
    cspSource: 'vscode-webview://stub',
    asWebviewUri: (u: Uri) => u,
    postMessage: async (m: unknown) => {
      this.sent.push(m);
      return true;
    },
    onDidReceiveMessage: this.received.event,
  };
  constructor(
    readonly viewType: string,
    public title: string,
    readonly options: unknown,
  ) {}
  /** The page posts a message to the host. */
  fromPage(m: unknown): void {
    this.received.fire(m);
  }
  reveal(): void {
    this.active = true;
  }
  onDidChangeViewState = noEvent;
  onDidDispose = (l: Listener<void>) => this.disposedEvent.event(l);
  dispose(): void {
    this.disposed = true;
    this.disposedEvent.fire();
  }
}

const answer = async () => recorded.answers.shift();

let folders: { uri: Uri; name: string; index: number }[] = [];
const settings = new Map<string, unknown>();
const state = new Map<string, unknown>();

/** Sets the workspace folder and the settings the stub reports. */
export function setWorkspace(dir: string, config: Record<string, unknown> = {}): void {
  folders = [{ uri: Uri.file(dir), name: nodePath.basename(dir), index: 0 }];
  settings.clear();
  for (const [k, v] of Object.entries(config)) settings.set(k, v);
}

function findFilesSync(dir: string, match: (name: string) => boolean): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = nodePath.join(dir, e.name);
    if (e.isDirectory()) {
      if (!['node_modules', '.git', '.loralab'].includes(e.name)) out.push(...findFilesSync(p, match));
    } else if (match(e.name)) out.push(p);
  }
  return out;
}

export const workspace = {
  get workspaceFolders() {
    return folders;
  },
  isTrusted: true,
  textDocuments: [] as unknown[],
  getWorkspaceFolder: (uri: Uri) => folders.find((f) => uri.fsPath === f.uri.fsPath || uri.fsPath.startsWith(f.uri.fsPath + nodePath.sep)),
  getConfiguration: (section: string) => ({ get: <T>(key: string, dflt?: T) => (settings.has(`${section}.${key}`) ? settings.get(`${section}.${key}`) : dflt) as T }),
  // Only `**/*.ext` (names ending in .ext) and `**/name` (that exact name) are understood.
  findFiles: async (glob: string) => {
    const m = /^\*\*\/(\*?)([\w.-]+)$/.exec(glob);
    if (!m) return [];
    const match = m[1] ? (n: string) => n.endsWith(m[2]) : (n: string) => n === m[2];
    return folders.flatMap((f) => findFilesSync(f.uri.fsPath, match)).map((p) => Uri.file(p));
  },
  createFileSystemWatcher: () => ({ onDidCreate: noEvent, onDidDelete: noEvent, onDidChange: noEvent, dispose: () => undefined }),
  onDidChangeWorkspaceFolders: noEvent,
  onDidChangeConfiguration: noEvent,
  onDidGrantWorkspaceTrust: noEvent,
  onDidOpenTextDocument: noEvent,
  onDidChangeTextDocument: noEvent,
  onDidCloseTextDocument: noEvent,
  onDidSaveTextDocument: noEvent,
  asRelativePath: (p: string) => p,
  registerTextDocumentContentProvider: (scheme: string, provider: { provideTextDocumentContent(uri: Uri): string | undefined }) => {
    if (recorded.contentProviders.has(scheme)) throw new Error(`content provider for ${scheme}: registered twice`);
    recorded.contentProviders.set(scheme, provider);
    return { dispose: () => recorded.contentProviders.delete(scheme) };
  },
  fs: {
    stat: async (u: Uri) => statSync(u.fsPath),
    readFile: async (u: Uri) => new Uint8Array(await fsp.readFile(u.fsPath)),
    writeFile: (u: Uri, data: Uint8Array) => fsp.writeFile(u.fsPath, data),
    delete: (u: Uri, o: { recursive?: boolean }) => fsp.rm(u.fsPath, { recursive: o.recursive, force: false }),
  },
};

export const window = {
  activeTextEditor: undefined as unknown,
  createOutputChannel: () => ({
    appendLine: (l: string) => recorded.output.push(l),
    append: (t: string) => recorded.output.push(t),
    show: () => undefined,
    dispose: () => undefined,
  }),
  createTreeView: (id: string, o: { treeDataProvider: never }) => {
    recorded.trees.set(id, o.treeDataProvider);
    return { message: undefined as string | undefined, visible: true, onDidChangeVisibility: noEvent, dispose: () => undefined };
  },
  createStatusBarItem: (id: string) => {
    const item = { id, text: '', tooltip: '', visible: false, disposed: false, name: '', command: undefined as unknown, show: () => (item.visible = true), dispose: () => (item.disposed = true) };
    recorded.statusItems.push(item);
    return item;
  },
  createWebviewPanel: (viewType: string, title: string, _column: unknown, options: unknown) => {
    const p = new StubPanel(viewType, title, options);
    recorded.panels.push(p);
    return p;
  },
  registerWebviewPanelSerializer: (viewType: string, s: never) => {
    recorded.serializers.set(viewType, s);
    return { dispose: () => recorded.serializers.delete(viewType) };
  },
  showInformationMessage: (text: string) => {
    recorded.messages.push({ level: 'info', text });
    return answer();
  },
  showWarningMessage: (text: string) => {
    recorded.messages.push({ level: 'warning', text });
    return answer();
  },
  showErrorMessage: (text: string) => {
    recorded.messages.push({ level: 'error', text });
    return answer();
  },
  setStatusBarMessage: (text: string) => {
    recorded.messages.push({ level: 'info', text });
    return { dispose: () => undefined };
  },
  showQuickPick: answer,
  showInputBox: answer,
  showOpenDialog: answer,
  showTextDocument: async () => undefined,
  createTextEditorDecorationType: () => ({ dispose: () => undefined }),
  withProgress: async (_o: unknown, task: (p: unknown, t: unknown) => unknown) => task({ report: () => undefined }, { isCancellationRequested: false, onCancellationRequested: noEvent }),
};

export const commands = {
  registerCommand: (id: string, fn: (...args: unknown[]) => unknown) => {
    if (recorded.commands.has(id)) throw new Error(`command ${id} registered twice`);
    recorded.commands.set(id, fn);
    return { dispose: () => recorded.commands.delete(id) };
  },
  executeCommand: async (id: string, ...args: unknown[]) => {
    recorded.executed.push({ id, args });
    return recorded.commands.get(id)?.(...args);
  },
};

export const tests = {
  createTestController: (id: string, label: string) => {
    const c = new StubTestController(id, label);
    recorded.testControllers.push(c);
    return c;
  },
};

export const env = {
  /** What `clipboard.writeText` was given last. */
  clipboard: { text: '', writeText: async (t: string) => void (env.clipboard.text = t), readText: async () => env.clipboard.text },
};

export const languages = {
  createDiagnosticCollection: () => ({
    set: (uri: Uri, d: Diagnostic[]) => void recorded.diagnostics.set(uri.fsPath, d),
    delete: (uri: Uri) => void recorded.diagnostics.delete(uri.fsPath),
    dispose: () => undefined,
  }),
  registerCodeActionsProvider: () => ({ dispose: () => undefined }),
  registerCodeLensProvider: (_selector: unknown, provider: never) => {
    recorded.codeLens.push(provider);
    return { dispose: () => undefined };
  },
};

/** An ExtensionContext for `activate()`, rooted at the repository. */
export function extensionContext(root: string) {
  return {
    subscriptions: [] as { dispose(): unknown }[],
    extensionPath: root,
    extensionUri: Uri.file(root),
    asAbsolutePath: (rel: string) => nodePath.join(root, rel),
    workspaceState: { get: <T>(k: string, d: T) => (state.has(k) ? state.get(k) : d) as T, update: async (k: string, v: unknown) => void state.set(k, v) },
  };
}
