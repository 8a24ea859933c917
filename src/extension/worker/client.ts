/**
 * `InferenceClient` over the forked inference worker (`dist/worker.js`, protocol in
 * `src/protocol/worker.ts`). Plain Node, no `vscode` import: the process is made by an injected
 * `fork` (the extension passes `child_process.fork` of the bundle; tests fork the real worker or
 * a fake), as the trainer `Supervisor` does.
 *
 * Lifecycle: the worker is forked on the first request and used once it sends `ready`. Requests
 * run one at a time in call order; each first makes sure the worker has its `model` loaded
 * (a `load` is sent when the model differs, or after a restart). After `idleTimeoutMs` without
 * a request the worker is sent `shutdown` (state `stopped`); the next request starts it again.
 * When the worker dies on its own, every request not yet answered is rejected with one line
 * ("the inference worker stopped unexpectedly (…); the next request restarts it", with its last
 * output), the state becomes `crashed`, and the next request restarts it.
 */
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { WORKER_PROTOCOL_VERSION, type ChatMessageLike, type GenerationResult, type WorkerEvent, type WorkerRequest, isWorkerEvent } from '../../protocol/worker';
import { type Disposable, Emitter } from '../emitter';
import type { CaseScore, GenerateRequest, Generation, InferenceClient, LoadedModel, ScoreResult, WorkerState } from './api';

/** What the client needs of a `ChildProcess` (forked with stdio `['ignore', 'pipe', 'pipe', 'ipc']`). */
export interface WorkerChild {
  readonly pid?: number;
  readonly connected: boolean;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  send(message: WorkerRequest): boolean;
  kill(signal?: NodeJS.Signals): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/** Starts one worker process. */
export type ForkWorker = () => WorkerChild;

/** Default idle time after which the worker is shut down: 10 minutes. */
export const DEFAULT_IDLE_TIMEOUT_MS = 10 * 60_000;

export interface WorkerClientOptions {
  fork: ForkWorker;
  /** Shut the worker down after this long without a request (ms); 0 = never. Default 10 minutes. */
  idleTimeoutMs?: number;
  /** A worker that sends no `ready` within this time is killed (ms). Default 60,000. */
  readyTimeoutMs?: number;
  /** After `shutdown`, a worker still running this long is killed (ms). Default 5,000. */
  shutdownTimeoutMs?: number;
  /** ONNX Runtime device and intra-op threads of every `load`. Default: the engine's ("auto"). */
  device?: 'auto' | 'cpu' | 'cuda' | 'webgpu';
  threads?: number;
  /** The worker's log text: its `log` events and its stdout / stderr lines. */
  onLog?: (line: string) => void;
}

/** Output lines kept, and shown, for the message about a crashed worker. */
const KEPT_LINES = 20;
const SHOWN_LINES = 3;

/**
 * What to quote of a dead worker's last output, on one line: the last `Error: …` line when
 * Node printed an uncaught error (never its stack frames), else the last few lines.
 */
export function lastOutput(lines: readonly string[]): string {
  const text = lines.map((l) => l.trim()).filter((l) => l !== '' && !/^at\s/.test(l) && !/^Node\.js v\d/.test(l));
  const error = text.findLast((l) => /^[A-Za-z]*Error\b[^:]*:/.test(l));
  return error ?? text.slice(-SHOWN_LINES).join(' | ');
}

interface Pending {
  resolve(e: WorkerEvent): void;
  reject(err: Error): void;
  onToken?: (variant: number, text: string) => void;
}

/** One worker process. */
interface Proc {
  child: WorkerChild;
  ready: Promise<void>;
  pending: Map<number, Pending>;
  lines: string[];
  /** An `error` event with id null (a failure not tied to a request). */
  fatal: string | null;
  /** The `model` (client key) loaded in it, and what `loaded` said. */
  modelKey: string | null;
  loaded: LoadedModel | null;
  /** Exit asked for (shutdown, dispose): not a crash. */
  stopping: boolean;
}

interface Op {
  /** Model to have loaded first; null = none. */
  model: string | null;
  exec(proc: Proc): Promise<unknown>;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

export class WorkerClient implements InferenceClient {
  private proc: Proc | null = null;
  private current: WorkerState = 'stopped';
  private readonly queue: Op[] = [];
  private running: Op | null = null;
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | undefined;
  private disposed = false;
  private readonly states = new Emitter<WorkerState>();
  private readonly idleTimeoutMs: number;
  private readonly readyTimeoutMs: number;
  private readonly shutdownTimeoutMs: number;

  constructor(private readonly opts: WorkerClientOptions) {
    this.idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
    this.shutdownTimeoutMs = opts.shutdownTimeoutMs ?? 5_000;
  }

  get state(): WorkerState { return this.current; }

  /** The model the running worker has loaded (null when none, or no worker runs). */
  get loadedModel(): LoadedModel | null { return this.proc?.loaded ?? null; }

  /** Process id of the running worker, if any. */
  get pid(): number | null { return this.proc?.child.pid ?? null; }

  onDidChangeState(listener: (state: WorkerState) => void): Disposable {
    return this.states.event(listener);
  }

  load(model: string): Promise<LoadedModel> {
    return this.submit(model, async (proc) => proc.loaded!);
  }

  activate(model: string, adapter: string | null) {
    return this.submit(model, async (proc) => {
      const e = await this.request(proc, { v: 1, type: 'activate', id: this.nextId++, adapter });
      return (e as Extract<WorkerEvent, { type: 'activated' }>).adapter;
    });
  }

  score(model: string, adapter: string | null, text: string): Promise<ScoreResult> {
    return this.submit(model, async (proc) => {
      const e = (await this.request(proc, { v: 1, type: 'score', id: this.nextId++, adapter, text })) as Extract<WorkerEvent, { type: 'scored' }>;
      return { token_ids: e.token_ids, tokens: e.tokens, nll: e.nll, mean_nll: e.mean_nll, ...(e.top ? { top: e.top } : {}) };
    });
  }

  scoreCase(model: string, adapter: string | null, input: { prompt: string } | { messages: ChatMessageLike[] }, expected: string): Promise<CaseScore> {
    return this.submit(model, async (proc) => {
      const body = 'messages' in input ? { messages: input.messages.map((m) => ({ role: m.role, content: m.content })) } : { prompt: input.prompt };
      const e = (await this.request(proc, { v: 1, type: 'score', id: this.nextId++, adapter, ...body, expected })) as Extract<WorkerEvent, { type: 'scored' }>;
      return { token_ids: e.token_ids, tokens: e.tokens, nll: e.nll, mean_nll: e.mean_nll, expected_start: e.expected_start ?? e.token_ids.length, expected_nll: e.expected_nll ?? null };
    });
  }

  /**
   * Starts a generation (queued behind earlier requests). `cancel()` before it was sent answers
   * it without running (every variant "cancelled", no tokens); while it runs, the worker stops
   * before its next token and the unfinished variants say "cancelled".
   */
  generate(req: GenerateRequest, onToken: (variant: number, text: string) => void): Generation {
    let cancelled = false;
    let sent: { proc: Proc; id: number } | null = null;
    let op: Op | undefined;
    const none = (): GenerationResult[] => req.variants.map((adapter) => ({ adapter, ids: [], text: '', finish_reason: 'cancelled' }));
    const done = this.submit(req.model, async (proc) => {
      if (cancelled) return none();
      const id = this.nextId++;
      sent = { proc, id };
      const msg: WorkerRequest = { v: 1, type: 'generate', id, variants: [...req.variants], params: { ...req.params } };
      if (req.messages !== undefined) msg.messages = req.messages.map((m) => ({ role: m.role, content: m.content }));
      else msg.prompt = req.prompt ?? '';
      const e = (await this.request(proc, msg, onToken)) as Extract<WorkerEvent, { type: 'generated' }>;
      return e.results;
    }, (o) => (op = o));
    return {
      done,
      cancel: () => {
        if (cancelled) return;
        cancelled = true;
        const queued = op ? this.queue.indexOf(op) : -1;
        if (queued >= 0) {
          this.queue.splice(queued, 1);
          op!.resolve(none());
          return;
        }
        const s = sent as { proc: Proc; id: number } | null;
        if (s && s.proc.pending.has(s.id)) this.post(s.proc, { v: 1, type: 'cancel', id: s.id });
      },
    };
  }

  /** Sends `shutdown` to the worker (killed if still running after `shutdownTimeoutMs`) and rejects what is queued. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    clearTimeout(this.idleTimer);
    const err = new Error('the inference worker was shut down (LoRA Lab is closing)');
    for (const op of this.queue.splice(0)) op.reject(err);
    this.stopProc(err);
    this.setState('stopped');
    this.states.dispose();
  }

  // --- queue -------------------------------------------------------------------------------

  /** Queues `exec` (run once the worker has `model` loaded); `queued` receives the queue entry. */
  private submit<T>(model: string | null, exec: (proc: Proc) => Promise<T>, queued?: (op: Op) => void): Promise<T> {
    if (this.disposed) return Promise.reject(new Error('the inference worker was shut down (LoRA Lab is closing)'));
    clearTimeout(this.idleTimer);
    return new Promise<T>((resolve, reject) => {
      const op: Op = { model, exec, resolve: resolve as (v: unknown) => void, reject };
      queued?.(op);
      this.queue.push(op);
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.running || this.disposed) return;
    const op = this.queue.shift();
    if (!op) {
      if (this.proc) {
        this.setState('idle');
        this.armIdleTimer();
      }
      return;
    }
    this.running = op;
    try {
      const proc = await this.start();
      this.setState('busy');
      if (op.model !== null) await this.ensureModel(proc, op.model);
      op.resolve(await op.exec(proc));
    } catch (e) {
      op.reject(e instanceof Error ? e : new Error(String(e)));
    } finally {
      this.running = null;
      void this.pump();
    }
  }

  private async ensureModel(proc: Proc, model: string): Promise<void> {
    if (proc.modelKey === model) return;
    proc.modelKey = null;
    proc.loaded = null;
    const e = (await this.request(proc, { v: 1, type: 'load', id: this.nextId++, model, device: this.opts.device, threads: this.opts.threads })) as Extract<WorkerEvent, { type: 'loaded' }>;
    proc.modelKey = model;
    proc.loaded = { model: e.model, model_type: e.model_type, provider: e.provider, max_positions: e.max_positions, has_chat_template: e.has_chat_template, max_new_tokens: e.max_new_tokens };
  }

  private armIdleTimer(): void {
    clearTimeout(this.idleTimer);
    if (this.idleTimeoutMs <= 0) return;
    this.idleTimer = setTimeout(() => {
      if (this.running || this.queue.length || !this.proc) return;
      this.stopProc(new Error('the inference worker was shut down while idle'));
      this.setState('stopped');
    }, this.idleTimeoutMs);
    this.idleTimer.unref?.();
  }

  // --- process -----------------------------------------------------------------------------

  /** The running worker, forked (and awaited until `ready`) when there is none. */
  private start(): Promise<Proc> {
    if (this.proc) return this.proc.ready.then(() => this.proc!);
    this.setState('starting');
    const child = this.opts.fork();
    let onReady!: () => void;
    let onFail!: (e: Error) => void;
    const proc: Proc = {
      child,
      ready: new Promise<void>((resolve, reject) => ((onReady = resolve), (onFail = reject))),
      pending: new Map(),
      lines: [],
      fatal: null,
      modelKey: null,
      loaded: null,
      stopping: false,
    };
    proc.ready.catch(() => undefined);
    this.proc = proc;
    const log = (line: string) => {
      proc.lines.push(line);
      if (proc.lines.length > KEPT_LINES) proc.lines.shift();
      this.opts.onLog?.(line);
    };
    const streamsClosed = Promise.all([child.stdout, child.stderr].filter((s): s is Readable => s !== null).map((s) =>
      new Promise<void>((resolve) => createInterface({ input: s, crlfDelay: Infinity }).on('line', log).on('close', resolve))));

    const readyTimer = setTimeout(() => {
      log(`no "ready" from the inference worker within ${Math.round(this.readyTimeoutMs / 1000)} s; killing it`);
      child.kill('SIGKILL');
    }, this.readyTimeoutMs);

    child.on('message', (m) => {
      if (!isWorkerEvent(m)) return;
      if (m.type === 'ready') {
        clearTimeout(readyTimer);
        onReady();
        return;
      }
      if (m.type === 'log') {
        this.opts.onLog?.(m.line);
        return;
      }
      if (m.type === 'error' && m.id === null) {
        proc.fatal = m.message;
        this.opts.onLog?.(m.message);
        return;
      }
      const p = m.id === null ? undefined : proc.pending.get(m.id);
      if (!p || m.id === null) return;
      if (m.type === 'token') {
        p.onToken?.(m.variant, m.text);
        return;
      }
      proc.pending.delete(m.id);
      if (m.type === 'error') p.reject(new Error(m.message));
      else p.resolve(m);
    });

    let ended = false;
    const end = (how: string) => {
      if (ended) return;
      ended = true;
      clearTimeout(readyTimer);
      const crashed = !proc.stopping;
      const detail = proc.fatal ?? lastOutput(proc.lines);
      const err = new Error(crashed
        ? `the inference worker stopped unexpectedly (${how}); the next request restarts it${detail ? ` (last output: ${detail})` : ''}`
        : 'the inference worker was shut down');
      onFail(err);
      for (const p of proc.pending.values()) p.reject(err);
      proc.pending.clear();
      if (this.proc !== proc) return; // an old worker (shut down while idle) ending
      this.proc = null;
      if (crashed) {
        for (const op of this.queue.splice(0)) op.reject(err);
        this.setState('crashed');
      }
    };
    child.on('exit', (code, signal) => {
      // The output ends just after the exit; wait for it (briefly) so the last lines are complete.
      let timer: NodeJS.Timeout | undefined;
      void Promise.race([streamsClosed, new Promise((r) => (timer = setTimeout(r, 500)))]).then(() => {
        clearTimeout(timer);
        end(signal ? `signal ${signal}` : `exit code ${code}`);
      });
    });
    child.on('error', (err) => {
      // 'error' without a process (spawn failure) is not followed by 'exit'.
      if (child.pid === undefined) end(`it could not be started: ${err.message}`);
      else log(`inference worker process error: ${err.message}`);
    });
    return proc.ready.then(() => proc);
  }

  /** Sends `msg` and resolves with the final event of its id (an `error` event rejects). */
  private request(proc: Proc, msg: Extract<WorkerRequest, { id: number }>, onToken?: Pending['onToken']): Promise<WorkerEvent> {
    return new Promise<WorkerEvent>((resolve, reject) => {
      proc.pending.set(msg.id, { resolve, reject, onToken });
      if (!this.post(proc, msg)) {
        proc.pending.delete(msg.id);
        reject(new Error('the inference worker is not running; the next request restarts it'));
      }
    });
  }

  private post(proc: Proc, msg: WorkerRequest): boolean {
    try {
      return proc.child.connected && (proc.child.send(msg), true);
    } catch {
      return false; // the channel closed: the exit handler reports it
    }
  }

  /** Asks the current worker to exit (killed after the timeout) and forgets it; its unanswered requests get `err`. */
  private stopProc(err: Error): void {
    const proc = this.proc;
    if (!proc) return;
    this.proc = null;
    proc.stopping = true;
    for (const p of proc.pending.values()) p.reject(err);
    proc.pending.clear();
    this.post(proc, { v: WORKER_PROTOCOL_VERSION, type: 'shutdown' });
    const kill = setTimeout(() => proc.child.kill('SIGKILL'), this.shutdownTimeoutMs);
    kill.unref?.();
    proc.child.on('exit', () => clearTimeout(kill));
  }

  private setState(s: WorkerState): void {
    if (s === this.current) return;
    this.current = s;
    this.states.fire(s);
  }
}
