/**
 * The merge features run the `loralab` CLI (`dist/cli.js`) as a child process with `--json`:
 * the numeric work (SVD, TIES, folding a model's weights) never runs in the extension host.
 * The child speaks JSON lines on stdout (`progress`, then `done` / `plan`, or `error`), stderr is
 * log text, the exit code decides success (src/cli/output.ts). Plain Node; the child is started
 * by an injected `CliRunner`, so the tests run a fake one.
 */
import { fork } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { MergeRequest } from '../../protocol/merge';

/** One JSON object the CLI printed on stdout. */
export type CliEvent = Record<string, unknown> & { event?: unknown };

/** How a child ended. `error`: it could not be started (ENOENT…), one line. */
export interface CliExit {
  code: number | null;
  signal: string | null;
  error: string | null;
  /** The last lines it wrote to stderr (for the message when it died without a JSON error). */
  stderr: string[];
}

export interface CliChild {
  /** The child's pid (undefined when it could not be started). */
  pid: number | undefined;
  /** Resolves when the child has exited; never rejects. */
  exited: Promise<CliExit>;
  /** Stops the child (SIGTERM: the CLI removes its partial output folder and exits 130). */
  kill(): void;
}

/** Starts `loralab <args…>`; `onEvent` gets every JSON line of stdout in order. */
export type CliRunner = (args: readonly string[], onEvent: (e: CliEvent) => void) => CliChild;

const STDERR_LINES = 20;

/**
 * A `CliRunner` that forks `cliPath` (the bundled `dist/cli.js`; inside VS Code `fork` runs
 * Electron as Node). `execArgv` for the tests (`['--import', 'tsx']` to run the TypeScript source).
 * Non-JSON stdout lines go to `onLog`, stderr lines too.
 */
export function forkCliRunner(cliPath: string, opts: { execArgv?: string[]; cwd?: string; onLog?: (line: string) => void } = {}): CliRunner {
  return (args, onEvent) => {
    const stderr: string[] = [];
    let startError: string | null = null;
    const child = fork(cliPath, [...args], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], execArgv: opts.execArgv ?? [], cwd: opts.cwd });
    const stdoutDone = new Promise<void>((resolve) => {
      if (!child.stdout) return resolve();
      const rl = createInterface({ input: child.stdout });
      rl.on('line', (line) => {
        const t = line.trim();
        if (!t) return;
        let obj: unknown;
        try {
          obj = JSON.parse(t);
        } catch {
          opts.onLog?.(t);
          return;
        }
        if (typeof obj === 'object' && obj !== null && !Array.isArray(obj)) onEvent(obj as CliEvent);
      });
      rl.on('close', resolve);
    });
    if (child.stderr) {
      createInterface({ input: child.stderr }).on('line', (line) => {
        opts.onLog?.(line);
        stderr.push(line);
        if (stderr.length > STDERR_LINES) stderr.shift();
      });
    }
    const exited = new Promise<CliExit>((resolve) => {
      let settled = false;
      const finish = (code: number | null, signal: string | null) => {
        if (settled) return;
        settled = true;
        void stdoutDone.then(() => resolve({ code, signal, error: startError, stderr }));
      };
      child.on('error', (e) => {
        startError = `could not start the loralab CLI (${cliPath}): ${(e as NodeJS.ErrnoException).code ?? e.message}`;
        if (child.pid === undefined) finish(null, null);
      });
      child.on('exit', (code, signal) => finish(code, signal));
    });
    return {
      pid: child.pid,
      exited,
      kill: () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      },
    };
  };
}

/**
 * `loralab merge` arguments for a request (absolute adapter folders). Each weight is passed as
 * `--weights=W` so a negative one is never read as an option. `out` undefined: `--dry-run`.
 */
export function mergeArgs(req: MergeRequest, out: string | undefined): string[] {
  const args = ['merge', '--method', req.method, '--adapters', ...req.adapters.map((a) => a.path)];
  for (const a of req.adapters) args.push(`--weights=${a.weight}`);
  if (req.rank !== undefined) args.push('--rank', String(req.rank));
  if (req.density !== undefined) args.push('--density', String(req.density));
  if (req.majority_sign !== undefined) args.push('--majority-sign', req.majority_sign);
  if (req.seed !== undefined) args.push('--seed', String(req.seed));
  args.push(...(out === undefined ? ['--dry-run'] : ['--out', out]), '--json');
  return args;
}

/**
 * The line that says why a child failed: the CLI's `loralab: error: …` line, else the last
 * `…Error: …` line (an uncaught exception), else the last line that is not a stack frame or
 * Node's version footer.
 */
export function crashLine(stderr: readonly string[]): string | undefined {
  const lines = stderr.map((l) => l.trim()).filter(Boolean).reverse();
  const cli = lines.find((l) => l.startsWith('loralab: error: '));
  if (cli) return cli.slice('loralab: error: '.length);
  return lines.find((l) => /^(\w+)?Error(:|$)/.test(l)) ?? lines.find((l) => !/^at\s/.test(l) && !/^Node\.js v\d/.test(l));
}

/** Thrown when a CLI run was stopped by `kill` (cancel). */
export class CliCancelled extends Error {
  constructor() {
    super('stopped');
    this.name = 'CliCancelled';
  }
}

/** A running CLI command: its final event, and a way to stop it. */
export interface CliCall {
  pid: number | undefined;
  /** The `done` (or `plan`) event; rejects with an Error of one line (the CLI's message), or `CliCancelled` after `cancel()`. */
  result: Promise<CliEvent>;
  cancel(): void;
}

/**
 * Runs `loralab <args…> --json` and waits for its last event, passing the `progress` events to
 * `onProgress`. A child that dies without a JSON error (a crash, a signal, a missing CLI)
 * becomes an Error with its last stderr line or its exit status: the host never crashes on it.
 */
export function callCli(runner: CliRunner, args: readonly string[], onProgress?: (e: CliEvent) => void): CliCall {
  let final: CliEvent | undefined;
  let error: string | undefined;
  let cancelled = false;
  let child: CliChild;
  try {
    child = runner(args, (e) => {
      if (e.event === 'progress') onProgress?.(e);
      else if (e.event === 'error') error = typeof e.message === 'string' ? e.message.split('\n')[0] : 'the loralab CLI failed';
      else if (e.event === 'done' || e.event === 'plan') final = e;
    });
  } catch (e) {
    return { pid: undefined, result: Promise.reject(new Error(`could not start the loralab CLI: ${(e as Error).message.split('\n')[0]}`)), cancel: () => undefined };
  }
  const result = child.exited.then((x) => {
    if (cancelled) throw new CliCancelled();
    if (x.error) throw new Error(x.error);
    if (error !== undefined) throw new Error(error);
    if (x.code === 0 && final) return final;
    const last = crashLine(x.stderr);
    const how = x.signal ? `was killed by ${x.signal}` : `exited with code ${x.code}`;
    throw new Error(last && x.code !== 0 ? last : `the loralab CLI ${how}${x.code === 0 ? ' without a result' : ''}`);
  });
  return {
    pid: child.pid,
    result,
    cancel: () => {
      cancelled = true;
      child.kill();
    },
  };
}
