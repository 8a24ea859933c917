/**
 * Supervision of trainer processes (`dist/trainer.js`), one per run, several at once. Plain
 * Node; no `vscode` import: the process is made by an injected `fork`, so tests drive it with a
 * fake child, and the extension passes `child_process.fork` of the bundled trainer.
 *
 * Per trainer: the child sends `ready` → we send `start`; it then sends `run` (the run folder),
 * `metrics` / `checkpoint` / `log`, and `done` or `error`; `stop` makes it finish the step,
 * checkpoint and exit 130. Its stdout / stderr are log text (the trainer echoes every `log`
 * event there), forwarded line by line and kept for the last-lines report. The exit decides the
 * outcome: with `done`, its status; with only `error`, failed with that message; with neither,
 * the trainer died — the run, if it had one and still reads `running` under that process, is
 * marked `failed` in run.json.
 */
import type { Readable } from 'node:stream';
import { type StartArgs, type TrainerEvent, type TrainerRequest, TRAINER_PROTOCOL_VERSION, isTrainerEvent } from '../../protocol/trainer';
import type { MetricsRowLike } from '../../protocol/metrics';
import { createRun, openRun } from '../../runs/index';
import { version as ENGINE_VERSION } from '../../../package.json';
import { Emitter, type Disposable } from '../emitter';

/** What the supervisor needs of a `ChildProcess` (forked with stdio `['ignore', 'pipe', 'pipe', 'ipc']`). */
export interface TrainerChild {
  readonly pid?: number;
  readonly connected: boolean;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  send(message: TrainerRequest): boolean;
  kill(signal?: NodeJS.Signals): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/** Starts one trainer process. */
export type ForkTrainer = () => TrainerChild;

export type JobPhase = 'starting' | 'running' | 'stopping' | 'exited';

export interface JobOutcome {
  status: 'completed' | 'stopped' | 'failed';
  /** Why it failed or stopped early (the `error` event, or how the process died); null when completed / stopped normally. */
  message: string | null;
  /** The process ended without `done` or `error` (crash, kill, native abort). */
  died: boolean;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines of its stdout / stderr. */
  lastLines: string[];
}

/** One supervised trainer. Fields change as events arrive; read them, do not write them. */
export interface Job {
  /** `job-<n>`, unique in this supervisor. */
  readonly key: string;
  readonly args: Readonly<StartArgs>;
  /** For messages until the run id is known: the experiment file's or resumed run's name. */
  readonly label: string;
  phase: JobPhase;
  pid: number | null;
  /** Absolute path of the run folder (after the `run` event). */
  runDir: string | null;
  runId: string | null;
  /** Optimizer steps done, from the last metrics row (or the step resumed from). */
  step: number;
  maxSteps: number | null;
  trainLoss: number | null;
  /** The last metrics rows (at most `RECENT_ROWS`), for the pace / ETA. */
  recent: MetricsRowLike[];
  stopRequested: boolean;
  outcome: JobOutcome | null;
  /** Settles when the process has exited and the outcome is known. */
  readonly exited: Promise<JobOutcome>;
}

export type SupervisorEvent =
  | { type: 'started'; job: Job }
  | { type: 'run'; job: Job }
  | { type: 'stopping'; job: Job }
  | { type: 'metrics'; job: Job; row: MetricsRowLike }
  | { type: 'checkpoint'; job: Job; step: number; dir: string }
  | { type: 'output'; job: Job; line: string }
  | { type: 'exited'; job: Job; outcome: JobOutcome };

export interface SupervisorOptions {
  fork: ForkTrainer;
  /**
   * Marks a run whose trainer died as failed. Default: `openRun(dir).update({ status: 'failed',
   * error })`, only while run.json still says `running` under that process id.
   */
  markFailed?: (runDir: string, pid: number | null, message: string) => Promise<void>;
  /**
   * Records a new run whose trainer failed before it made a run folder (the experiment, model or
   * data could not be loaded), so the failure stays in the Experiments tree with its error.
   * Returns the folder made, or null. Default: `recordFailedStart`.
   */
  recordFailedStart?: (args: Readonly<StartArgs>, name: string, message: string) => Promise<string | null>;
  /** Lines kept for the last-lines report. Default 20. */
  lastLines?: number;
  /** A child that sends no `ready` within this time is killed (ms). Default 60,000. */
  readyTimeoutMs?: number;
}

/** Metrics rows kept per job for the pace. */
export const RECENT_ROWS = 20;

/** Marks `runDir` failed when its run.json still says `running` under `pid` (any pid when null). */
export async function markRunFailed(runDir: string, pid: number | null, message: string): Promise<void> {
  const run = await openRun(runDir);
  const cur = await run.read();
  if (cur.status !== 'running' || (pid !== null && cur.pid !== pid)) return;
  await run.update({ status: 'failed', error: message });
}

/**
 * Creates `<runsDir>/<name>-<time>/` with a run.json of status `failed`, step 0 and `error`, for a
 * start (`experimentFile`, not a resume) that failed before the trainer made its run folder.
 * Null when the args name no runs dir. `config` is null: there is nothing to resume.
 */
export async function recordFailedStart(args: Readonly<StartArgs>, name: string, message: string): Promise<string | null> {
  if (!args.experimentFile || !args.runsDir) return null;
  const run = await createRun(args.runsDir, name, {
    status: 'failed',
    error: message,
    finished_at: new Date().toISOString(),
    experiment_file: args.experimentFile,
    config: null,
    model: { path: args.model ?? '', sha256: null },
    dataset: { train_sha256: null, validation_sha256: null },
    provider: null,
    engine_version: ENGINE_VERSION,
    max_steps: args.maxSteps ?? 0,
  });
  await run.log(`failed before training started: ${message}`);
  return run.dir;
}

export class Supervisor implements Disposable {
  private readonly live = new Map<string, Job>();
  /** Per live job: how to ask its child to stop. */
  private readonly children = new Map<string, { stop(): void }>();
  private readonly events = new Emitter<SupervisorEvent>();
  private seq = 0;
  private readonly markFailed: NonNullable<SupervisorOptions['markFailed']>;
  private readonly keep: number;
  private readonly readyTimeoutMs: number;

  readonly onEvent = this.events.event;

  constructor(private readonly opts: SupervisorOptions) {
    this.markFailed = opts.markFailed ?? markRunFailed;
    this.keep = opts.lastLines ?? 20;
    this.readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
  }

  /** Trainers that have not exited yet, in start order. */
  jobs(): Job[] {
    return [...this.live.values()];
  }

  /** The live job training (or resuming) this run folder. */
  jobForRun(runDir: string): Job | undefined {
    return this.jobs().find((j) => j.runDir === runDir || j.args.resume === runDir);
  }

  /**
   * Forks a trainer and starts it with `args` once it is ready. Throws when `args.resume` names
   * a run this supervisor already trains.
   */
  start(args: StartArgs, label: string): Job {
    if (args.resume && this.jobForRun(args.resume)) throw new Error(`${args.resume}: this run is already training in this window`);
    const child = this.opts.fork();
    let settle!: (o: JobOutcome) => void;
    const job: Job = {
      key: `job-${++this.seq}`,
      args: { ...args },
      label,
      phase: 'starting',
      pid: child.pid ?? null,
      runDir: args.resume ?? null,
      runId: null,
      step: 0,
      maxSteps: args.maxSteps ?? null,
      trainLoss: null,
      recent: [],
      stopRequested: false,
      outcome: null,
      exited: new Promise<JobOutcome>((resolve) => (settle = resolve)),
    };
    this.live.set(job.key, job);
    this.watch(job, child, settle);
    this.events.fire({ type: 'started', job });
    return job;
  }

  /**
   * Asks a job to stop: it finishes the current step, writes a checkpoint and exits (before
   * training started it exits at once). Returns false when the job is not live.
   */
  stop(key: string): boolean {
    const job = this.live.get(key);
    if (!job) return false;
    if (!job.stopRequested) {
      job.stopRequested = true;
      job.phase = 'stopping';
      this.events.fire({ type: 'stopping', job });
    }
    this.children.get(key)?.stop();
    return true;
  }

  /** Stops every live job and waits until they exited, at most `timeoutMs`. Returns the jobs still alive then. */
  async stopAll(timeoutMs = 10_000): Promise<Job[]> {
    const jobs = this.jobs();
    for (const j of jobs) this.stop(j.key);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(jobs.map((j) => j.exited)), new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    return this.jobs();
  }

  dispose(): void {
    this.events.dispose();
  }

  private watch(job: Job, child: TrainerChild, settle: (o: JobOutcome) => void): void {
    const lines: string[] = [];
    let gotDone: Extract<TrainerEvent, { type: 'done' }> | null = null;
    let gotError: Extract<TrainerEvent, { type: 'error' }> | null = null;
    let ready = false;
    let finished = false;

    const send = (m: TrainerRequest) => {
      try {
        if (child.connected) child.send(m);
      } catch {
        // the channel closed: the exit handler reports the outcome
      }
    };
    this.children.set(job.key, { stop: () => send({ v: TRAINER_PROTOCOL_VERSION, type: 'stop' }) });

    const readyTimer = setTimeout(() => {
      if (!ready) {
        lines.push(`no "ready" from the trainer within ${Math.round(this.readyTimeoutMs / 1000)} s; killing it`);
        child.kill('SIGKILL');
      }
    }, this.readyTimeoutMs);

    const pushLine = (line: string) => {
      lines.push(line);
      if (lines.length > this.keep) lines.shift();
      this.events.fire({ type: 'output', job, line });
    };
    const streams = [child.stdout, child.stderr].filter((s): s is Readable => s !== null).map((s) => followLines(s, pushLine));

    child.on('message', (m) => {
      if (!isTrainerEvent(m)) return;
      switch (m.type) {
        case 'ready':
          ready = true;
          clearTimeout(readyTimer);
          job.pid = m.pid;
          if (job.stopRequested) send({ v: TRAINER_PROTOCOL_VERSION, type: 'stop' });
          else send({ v: TRAINER_PROTOCOL_VERSION, type: 'start', args: { ...job.args } });
          break;
        case 'run':
          job.runDir = m.run_dir;
          job.runId = m.id;
          job.maxSteps = m.max_steps;
          job.step = m.resumed_from_step ?? 0;
          if (job.phase === 'starting') job.phase = 'running';
          this.events.fire({ type: 'run', job });
          break;
        case 'metrics':
          // A resume re-logs steps after its checkpoint: the pace restarts from there.
          if (job.recent.length && m.row.step <= job.recent[job.recent.length - 1].step) job.recent = [];
          job.recent.push(m.row);
          if (job.recent.length > RECENT_ROWS) job.recent.shift();
          job.step = m.row.step;
          if (m.row.train_loss !== undefined) job.trainLoss = m.row.train_loss;
          this.events.fire({ type: 'metrics', job, row: m.row });
          break;
        case 'checkpoint':
          this.events.fire({ type: 'checkpoint', job, step: m.step, dir: m.dir });
          break;
        case 'done':
          gotDone = m;
          job.step = m.step;
          break;
        case 'error':
          gotError = m;
          break;
        case 'log':
          break; // echoed on stderr, which is where the log text is taken from
      }
    });

    const finish = async (exitCode: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      if (finished) return;
      finished = true;
      clearTimeout(readyTimer);
      if (!spawnError) {
        // The streams end right after the exit; wait (briefly) so the last lines are complete.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([Promise.all(streams), new Promise((r) => (timer = setTimeout(r, 1000)))]);
        clearTimeout(timer);
      }
      const done = gotDone as Extract<TrainerEvent, { type: 'done' }> | null;
      const error = gotError as Extract<TrainerEvent, { type: 'error' }> | null;
      let verdict: Pick<JobOutcome, 'status' | 'message' | 'died'>;
      if (done) {
        verdict = { status: done.status, message: done.status === 'failed' ? (error?.message ?? 'training failed') : null, died: false };
      } else if (error) {
        verdict = { status: job.stopRequested && error.exit_code === 130 ? 'stopped' : 'failed', message: error.message, died: false };
      } else if (job.stopRequested && exitCode === 130) {
        verdict = { status: 'stopped', message: 'stopped before training started', died: false };
      } else {
        const how = spawnError ? `could not be started (${spawnError.message})` : signal ? `was killed by signal ${signal}` : `exited with code ${exitCode}`;
        verdict = { status: 'failed', message: `the trainer process ${how} without reporting a result`, died: true };
      }
      const outcome: JobOutcome = { ...verdict, exitCode, signal, lastLines: [...lines] };
      if (outcome.status === 'failed' && !job.runDir && !job.args.resume && !job.stopRequested) {
        // Failed before its run folder existed: keep the failure as a failed run (not only a toast).
        const record = this.opts.recordFailedStart ?? recordFailedStart;
        job.runDir = await record(job.args, job.label, outcome.message!).catch((e: unknown) => {
          pushLine(`could not record the failed start: ${(e as Error).message}`);
          return null;
        });
      }
      if (!done && outcome.status === 'failed' && job.runDir) {
        const last = lines.at(-1);
        await this.markFailed(job.runDir, job.pid, last ? `${outcome.message}: ${last}` : outcome.message!).catch((e: unknown) =>
          pushLine(`could not mark ${job.runDir} failed: ${(e as Error).message}`),
        );
      }
      job.phase = 'exited';
      job.outcome = outcome;
      this.live.delete(job.key);
      this.children.delete(job.key);
      this.events.fire({ type: 'exited', job, outcome });
      settle(outcome);
    };
    child.on('exit', (code, signal) => void finish(code, signal));
    child.on('error', (err) => {
      // 'error' without a process (spawn failure) is not followed by 'exit'.
      if (child.pid === undefined) void finish(null, null, err);
      else pushLine(`trainer process error: ${err.message}`);
    });
  }
}

/** Calls `onLine` for every line of a text stream (a last line without '\n' included); resolves at its end. */
function followLines(stream: Readable, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve) => {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      partial += chunk;
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        onLine(partial.slice(0, nl).replace(/\r$/, ''));
        partial = partial.slice(nl + 1);
      }
    });
    const end = () => {
      if (partial) onLine(partial);
      partial = '';
      resolve();
    };
    stream.on('end', end);
    stream.on('close', end);
    stream.on('error', end);
  });
}
