/**
 * A training run end to end: experiment → model, data, run directory → optimizer steps with
 * evaluation, logging and checkpoints → final PEFT adapter. Shared by `loralab train`
 * (in-process) and the trainer process the extension forks (`main.ts`).
 *
 * Step k (0-based) = `gradient_accumulation_steps` forward/backward passes; the loss is the
 * token mean over all of them (each pass's mean gradient weighted by its token count), then
 * one clipped AdamW update with the scheduled learning rate for k. Metrics `step` counts
 * optimizer steps done.
 */
import { createHash } from 'node:crypto';
import { open, readFile, readdir, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { existsSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { createRng } from '../engine/data/random';
import { type Batch, DataLoader, type Dataset, type Example, describeDataProblems, evalBatches, fingerprint, loadDataset } from '../engine/data/index';
import { CausalLM } from '../engine/infer/causal-lm';
import { adapterFeeds } from '../engine/lora/feeds';
import { assertFiniteWeights } from '../engine/weights/finite';
import { type LoraRankConfig, initLoraModules, isTargeted, rankAboveWidth, rankTooLargeMessage, unusedPatternKeys } from '../engine/lora/index';
import { type DownloadProgress, resolveModel } from '../engine/models/hub';
import type { PrecisionPlan } from '../engine/device';
import type { Device } from '../engine/runtime/session';
import type { HostTensor } from '../engine/tensor';
import { loadTokenizer } from '../engine/tokenizer/index';
import { AdamW, type AdamState, LossScaler, initAdamState } from '../engine/train/optimizer';
import { learningRate } from '../engine/train/schedule';
import { trainStep, validationLoss } from '../engine/train/step';
import { type LoraConfigJson, completeLoraConfig, peftKey, readPeftAdapter, writePeftAdapter } from '../engine/weights/peft';
import { type ExperimentConfig, loadExperiment } from '../experiment/index';
import { loadSweepPoint } from '../experiment/sweep';
import { advise } from '../engine/advise/index';
import { linearModules } from '../engine/models/inspect';
import { type DataReportJson, type MetricsRow, type RunHandle, type RunJson, RunError, createRun, defaultRunsDir, isProcessAlive, openRun } from '../runs/index';
import { type LoadedCheckpoint, type TrainerState, describeKeptCheckpoint, pickCheckpoint, toModules, writeCheckpointFiles } from './checkpoint';
import { CheckpointEvaluator } from './eval';
import { version as ENGINE_VERSION } from '../../package.json';

export interface TrainRequest {
  experimentFile?: string;
  /** Run directory to resume (its run.json holds the config). */
  resume?: string;
  /** Local model folder overriding the experiment's `model`. */
  model?: string;
  runsDir?: string;
  maxSteps?: number;
  device?: Device;
  threads?: number;
  /** Train point `sweepIndex` of the experiment file's `sweep` block (`loralab train --sweep FILE --index I`). */
  sweepIndex?: number;
  /** With `resume`: the checkpoint to start from (`step-N`, `N` or its folder); default the newest usable one. */
  checkpoint?: string;
  /** A PEFT adapter folder overriding the experiment's `init_adapter` (a new run only, not with `resume`). */
  initAdapter?: string;
}

/** Replaceable parts of a run, for tests (fault injection); production code passes none. */
export interface TrainDeps {
  /** Writes a checkpoint's files into its temporary folder (default `writeCheckpointFiles`). */
  writeCheckpointFiles?: typeof writeCheckpointFiles;
  /** Wraps the validation-loss pass (a test delays it to check that throughput leaves it out). */
  validation?: (pass: () => Promise<number | null>) => Promise<number | null>;
}

/** Largest `training.max_steps` accepted: 1e9 steps take years even at 10 steps/s. */
export const MAX_STEPS_LIMIT = 1e9;
/** Largest `training.learning_rate` accepted (see `checkBounds`). */
export const MAX_LEARNING_RATE = 1;

export interface TrainHooks {
  onDownload?(p: DownloadProgress): void;
  /** `precision`: the training precision that runs (`describePrecision`), or null when unknown (a run finished from its checkpoint before it was recorded). */
  onRun?(info: { runDir: string; id: string; resumedFromStep: number | null; maxSteps: number; provider: string; precision: string | null; startStep: number }): void;
  onMetrics?(row: MetricsRow): void;
  onCheckpoint?(step: number, dir: string): void;
  onLog?(line: string): void;
  /** After every optimizer step (for progress bars). */
  onStep?(step: number, maxSteps: number, info: { loss: number; tokensPerS: number; elapsedS: number }): void;
}

export type TrainStatus = RunStatusFinal;
import type { RunStatusFinal } from '../protocol/status';

export interface TrainOutcome {
  status: TrainStatus;
  runDir: string;
  adapterDir: string | null;
  step: number;
  error?: string;
  /** Step of the newest usable checkpoint when the run failed (null: none, a resume starts over). */
  checkpointStep?: number | null;
}

/** Set `requested` to stop after the current step (with a checkpoint). */
export interface StopToken {
  requested: boolean;
}

/** Error before a run directory exists (bad experiment, model, data): exit code 2. */
/** Seed stream of the LoRA initialisation (data order and splits use their own streams). */
const LORA_INIT_STREAM = 3;

export class TrainSetupError extends Error {
  override name = 'TrainSetupError';
}

/**
 * Runs (or resumes) a training run. Errors in the setup (experiment, model, data) throw; once
 * the run directory exists, failures are recorded in run.json and returned as `failed`.
 */
export async function runTraining(req: TrainRequest, hooks: TrainHooks = {}, stop: StopToken = { requested: false }, deps: TrainDeps = {}): Promise<TrainOutcome> {
  const locked: string[] = [];
  try {
    return await trainRun(req, hooks, stop, deps, async (dir) => {
      await acquireLock(dir);
      locked.push(dir);
    });
  } finally {
    for (const dir of locked) await releaseLock(dir);
  }
}

async function trainRun(req: TrainRequest, hooks: TrainHooks, stop: StopToken, deps: TrainDeps, lock: (runDir: string) => Promise<void>): Promise<TrainOutcome> {
  const log = (line: string) => hooks.onLog?.(line);
  // --- configuration -----------------------------------------------------------------------
  let run: RunHandle | null = null;
  let config: ExperimentConfig;
  let experimentFile: string | null = null;
  let resumeFrom: { step: number; dir: string } | null = null;
  let ck: LoadedCheckpoint | null = null;
  const resumeNotes: string[] = [];
  let started: RunJson | null = null; // run.json as the resumed run left it
  if (req.checkpoint !== undefined && !req.resume) throw new TrainSetupError('--checkpoint goes with --resume RUN_DIR: loralab train --resume RUN_DIR --checkpoint step-N');
  if (req.initAdapter !== undefined && req.resume) throw new TrainSetupError(`${req.resume}: a resumed run continues from its own checkpoint; an init adapter (${req.initAdapter}) starts a new run from an experiment file instead`);
  if (req.resume) {
    run = await openRun(req.resume);
    const json = await run.read();
    started = json;
    config = json.config as ExperimentConfig;
    experimentFile = json.experiment_file;
    const changed = await experimentFileChanges(experimentFile, config);
    if (changed) resumeNotes.push(`resuming with the configuration saved in run.json; ${experimentFile} has changed since (${changed})`);
    // Two trainers writing one run folder would interleave checkpoints and metrics.
    if (json.status === 'running' && json.pid !== process.pid && (!json.hostname || json.hostname === hostname()) && isProcessAlive(json.pid)) {
      throw new TrainSetupError(`${run.dir}: the run is still running (pid ${json.pid}); stop it first (Ctrl-C in its terminal, or kill -INT ${json.pid}), then resume`);
    }
    await lock(run.dir);
    if (json.status === 'completed' && !req.maxSteps) {
      throw new TrainSetupError(`${run.dir}: the run already completed (${json.step} steps); pass --max-steps N to train it further`);
    }
    const picked = await pickCheckpoint(run.dir, req.checkpoint);
    if (picked) {
      resumeFrom = picked.info;
      ck = picked.ck;
      for (const s of picked.skipped) resumeNotes.push(`warning: checkpoint step-${s.step} cannot be resumed from (${s.reason}); using step-${picked.info.step} instead`);
    }
    for (const line of resumeNotes) log(line);
    const maxSteps = req.maxSteps ?? json.max_steps;
    checkBounds({ max_steps: maxSteps, learning_rate: config.training.learning_rate }, run.dir);
    if (ck && resumeFrom && resumeFrom.step === json.max_steps && maxSteps === json.max_steps) {
      // Killed after the last checkpoint but before (or while) writing adapter/: nothing is left
      // to train; the final adapter is that checkpoint's adapter.
      return finishFromCheckpoint(run, ck, resumeFrom.step, resumeNotes, hooks);
    }
    if (resumeFrom && maxSteps <= resumeFrom.step) {
      throw new TrainSetupError(`${run.dir}: its ${req.checkpoint ? 'chosen' : 'last'} checkpoint is at step ${resumeFrom.step}, so max steps ${maxSteps} leaves nothing to train; pass --max-steps N with N > ${resumeFrom.step}`);
    }
    config = { ...config, training: { ...config.training, max_steps: maxSteps } };
  } else {
    if (!req.experimentFile) throw new TrainSetupError('train needs an experiment file (FILE.lora.json) or --resume RUN_DIR');
    experimentFile = resolvePath(req.experimentFile);
    config = req.sweepIndex !== undefined ? (await loadSweepPoint(req.experimentFile, req.sweepIndex)).config : await loadExperiment(req.experimentFile);
    if (req.maxSteps) config = { ...config, training: { ...config.training, max_steps: req.maxSteps } };
    // Continue training from a checkpoint: a new run whose LoRA weights start from that folder.
    if (req.initAdapter) config = { ...config, init_adapter: resolvePath(req.initAdapter) };
    checkBounds(config.training, experimentFile);
  }
  if (req.threads !== undefined && req.threads > availableParallelism()) {
    log(`warning: --threads ${req.threads} is more than this machine's ${availableParallelism()} cores; the extra threads only take turns on the same cores, which is slower — use --threads ${availableParallelism()} or fewer`);
  }
  // A local --model is stored absolute, so a resume from another folder finds the same model.
  if (req.model) config = { ...config, model: existsSync(req.model) ? resolvePath(req.model) : req.model };
  if (req.device) config = { ...config, device: req.device };
  const tc = config.training;

  // --- model, tokenizer, data --------------------------------------------------------------
  const modelDir = await resolveModel(config.model, hooks.onDownload);
  const tokenizer = await loadTokenizer(modelDir);
  // Progress every 2 s once loading takes a while; loadDataset yields to the event loop, so a
  // Ctrl-C (handled by the caller) stops it at any moment.
  const loadStart = performance.now();
  let lastProgress = loadStart;
  const dataset = await loadDataset(config.data, tokenizer, tc.seed, {
    onProgress: (fraction) => {
      const now = performance.now();
      if (now - lastProgress < 2000) return;
      lastProgress = now;
      log(`data: tokenizing ${Math.floor(fraction * 100)}% (${Math.round((now - loadStart) / 1000)} s)`);
    },
  });
  if (dataset.train.length === 0) throw new TrainSetupError(`${config.data.train}: no training examples after tokenization`);
  if (config.data.validation !== null && config.data.validation !== 0 && dataset.validation.length === 0) {
    throw new TrainSetupError(`${typeof config.data.validation === 'string' ? config.data.validation : config.data.train}: no validation example is left after tokenization and truncation to max_seq_length ${config.data.max_seq_length}; raise data.max_seq_length or set data.validation to null`);
  }
  if (started) {
    // Resuming must see the same model and data, or "continue exactly" silently breaks.
    const json = started;
    const modelSha = await modelFingerprint(modelDir);
    if (json.model.sha256 && json.model.sha256 !== modelSha) {
      throw new TrainSetupError(`${modelDir}: this model differs from the one the run started with (${json.model.path}); resume with --model pointing at the original model folder`);
    }
    const trainSha = await fingerprint(config.data.train);
    if (json.dataset.train_sha256 && json.dataset.train_sha256 !== trainSha) {
      throw new TrainSetupError(`${config.data.train}: the training data changed since the run started, so its data order cannot be continued; restore the file or start a new run`);
    }
  }
  // Data problems: shown now, and written to log.txt and run.json once the run folder exists.
  const dataProblems = describeDataProblems(dataset, config.data.max_seq_length).map((l) => (l.startsWith('skipped ') ? l : `warning: ${l}`));
  for (const line of dataProblems) log(line);

  // Initial adapter: a checkpoint (resume), init_adapter, or PEFT's initialisation. Ranks,
  // alphas and scalings come from the adapter's own config when there is one, so its shapes fit.
  const initAdapter = !resumeFrom && config.init_adapter ? await readPeftAdapter(config.init_adapter) : null;
  // A NaN in the base model or init_adapter is named now, not blamed on the learning rate at step 1.
  await assertFiniteWeights(modelDir, initAdapter ? [{ adapter: initAdapter, dir: config.init_adapter! }] : []);
  const fromExperiment: LoraRankConfig = {
    r: config.lora.r,
    lora_alpha: config.lora.lora_alpha,
    use_rslora: config.lora.use_rslora,
    rank_pattern: config.lora.rank_pattern ?? {},
    alpha_pattern: config.lora.alpha_pattern ?? {},
  };
  const given = ck?.config ?? initAdapter?.config;
  const loraCfg: LoraRankConfig = given
    ? { r: given.r, lora_alpha: given.lora_alpha, use_rslora: given.use_rslora ?? false, rank_pattern: given.rank_pattern ?? {}, alpha_pattern: given.alpha_pattern ?? {} }
    : fromExperiment;
  // Setup warnings: shown now (`warning: ` lines reach the terminal) and written to log.txt.
  const setupWarnings: string[] = [];
  if (initAdapter && JSON.stringify(loraCfg) !== JSON.stringify(fromExperiment)) {
    setupWarnings.push(`warning: init_adapter has ${describeRanks(loraCfg)}; using those instead of the experiment's ${describeRanks(fromExperiment)}`);
  }
  const threads = req.threads;
  const train = await CausalLM.load(modelDir, {
    device: config.device,
    threads,
    targetModules: ck ? ck.modules : initAdapter ? [...initAdapter.modules.keys()] : config.lora.target_modules,
    loraDropout: config.lora.lora_dropout > 0 ? { ratio: config.lora.lora_dropout, seed: tc.seed * 1000 + (resumeFrom?.step ?? 0) } : null,
    outputs: { loss: true, grads: true },
    gradientCheckpointing: tc.gradient_checkpointing ?? false,
    // A run.json written before training.precision existed trained in float32.
    precision: tc.precision ?? 'fp32',
  }).catch((e: Error) => {
    throw e.message.startsWith('training.precision') ? new TrainSetupError(`${experimentFile ?? 'the experiment'}: ${e.message}`) : e;
  });
  const modules = [...train.loraModules];
  const where = experimentFile ?? 'the experiment';
  if (modules.length === 0) throw new TrainSetupError(`${where}: lora.target_modules ${JSON.stringify(config.lora.target_modules)} matches no linear layer of ${modelDir}; use "all-linear" or names like q_proj`);
  const tooLarge = rankAboveWidth(train.lm.lora, loraCfg);
  if (tooLarge && !given) throw new TrainSetupError(`${where}: ${rankTooLargeMessage(tooLarge)}`);
  // A list entry of target_modules that matches nothing (a typo such as "qq_proj"): PEFT raises
  // only when no module matches at all (above); a partial miss is a warning naming the entry.
  if (!initAdapter && !ck && Array.isArray(config.lora.target_modules)) {
    const missing = config.lora.target_modules.filter((t) => !modules.some((m) => isTargeted(m, [t])));
    if (missing.length) setupWarnings.push(`warning: lora.target_modules ${missing.map((k) => JSON.stringify(k)).join(', ')} matches no linear layer of ${modelDir}; it has no effect (check the spelling: names like q_proj, down_proj)`);
  }
  for (const key of ['rank_pattern', 'alpha_pattern'] as const) {
    const unused = unusedPatternKeys(loraCfg[key], modules);
    if (unused.length) setupWarnings.push(`warning: lora.${key} ${unused.map((k) => JSON.stringify(k)).join(', ')} matches no targeted module (or only modules an earlier key decides); it has no effect`);
  }
  for (const line of setupWarnings) log(line);
  if (config.data.max_seq_length > train.config.max_position_embeddings) {
    throw new TrainSetupError(`${where}: data.max_seq_length ${config.data.max_seq_length} is longer than the model's context (max_position_embeddings ${train.config.max_position_embeddings}); use at most ${train.config.max_position_embeddings}`);
  }
  // "LoRA Without Regret" advice, once, at the start of a fresh run (`advice: ` lines).
  const adviceLines = started ? [] : advise(config, { modules: linearModules(train.info), trainedTokens: dataset.stats.targetTokens })
    .map((f) => `advice: ${f.severity === 'warning' ? 'warning' : 'info'} [${f.id}] ${f.message} (${f.source.title})`);
  for (const line of adviceLines) log(line);
  // Eval sets of the experiment ("eval"): checked now, run at every checkpoint.
  const evaluator = config.eval
    ? await CheckpointEvaluator.create(config.eval.files, modelDir, { device: train.provider as Device, threads, modules }).catch((e: Error) => {
      throw new TrainSetupError(e.message.split('\n')[0]);
    })
    : null;
  for (const line of evaluator?.warnings ?? []) log(line);

  let params = new Map<string, HostTensor>();
  let adam: AdamState;
  let state: TrainerState;
  if (ck) {
    // In graph order, as a fresh run has them: the optimizer then sums the gradient norm in the
    // same order, so a resumed run repeats an uninterrupted one bit for bit.
    params = new Map(modules.flatMap((m) => [peftKey(m, 'A'), peftKey(m, 'B')].map((k) => [k, ck.params.get(k)!] as const)));
    adam = ck.adam;
    state = ck.state;
  } else {
    const init = initAdapter?.modules ?? initLoraModules(train.lm.lora, loraCfg, createRng(tc.seed, LORA_INIT_STREAM));
    for (const m of modules) {
      const w = init.get(m)!;
      params.set(peftKey(m, 'A'), w.A);
      params.set(peftKey(m, 'B'), w.B);
    }
    adam = initAdamState(params);
    state = { step: 0, data: { epoch: 0, index: 0 }, elapsed_s: 0, tokens: 0, seed: tc.seed, train_loss: null };
  }
  // What every checkpoint and the final adapter carry (rank_pattern / alpha_pattern included,
  // so PEFT rebuilds the same per-module shapes); also the source of the graph's scalings.
  const peftConfig: LoraConfigJson = completeLoraConfig({
    ...loraCfg,
    lora_dropout: config.lora.lora_dropout,
    target_modules: [...new Set(modules.map((m) => m.split('.').pop()!))].sort(),
    base_model_name_or_path: config.model,
  });
  /** A, B of every module and `lora_scaling` for `lm`, as `adapterFeeds` builds them for any adapter. */
  const loraFeeds = (lm: CausalLM) => adapterFeeds(lm.lm.lora, { config: peftConfig, modules: toModules(params, modules) }, lm.linearModules, run?.dir ?? where);
  const optimizer = await AdamW.create(new Map([...params].map(([k, v]) => [k, v.shape])), tc, { device: train.provider as Device, threads });
  // Dynamic loss scaling when the backward runs in float16 (fp16 on a GPU); restored on resume.
  const scaler = train.precision.lossScaling ? new LossScaler({}, state.loss_scaler) : null;
  const pad = { padToMultipleOf: config.data.pad_to_multiple_of ?? null, maxLength: config.data.max_seq_length };
  const loaderOpts = { batchSize: tc.per_device_train_batch_size, seed: tc.seed, packing: config.data.packing, maxSeqLength: config.data.max_seq_length, padTokenId: tokenizer.padTokenId, padToMultipleOf: pad.padToMultipleOf };
  const loader = DataLoader.restore(dataset.train, loaderOpts, state.data);

  // --- run directory -----------------------------------------------------------------------
  // run.json's resolved config holds the LoRA shape actually trained (init_adapter's or a
  // checkpoint's r, lora_alpha, use_rslora and patterns win over the experiment's).
  const recordedConfig: ExperimentConfig = { ...config, lora: { ...config.lora, ...loraCfg } };
  if (!run) {
    const runsDir = req.runsDir ?? defaultRunsDir();
    if (existsSync(runsDir) && !statSync(runsDir).isDirectory()) throw new TrainSetupError(`${runsDir}: is a file, not a folder; pass --runs-dir a folder for run folders`);
    run = await createRun(runsDir, config.name, {
      experiment_file: experimentFile,
      config: recordedConfig,
      model: { path: modelDir, sha256: await modelFingerprint(modelDir) },
      dataset: {
        train_sha256: await fingerprint(config.data.train),
        validation_sha256: typeof config.data.validation === 'string' ? await fingerprint(config.data.validation) : null,
        report: dataReport(dataset),
      },
      provider: train.provider,
      precision_resolved: describePrecision(train.precision),
      engine_version: ENGINE_VERSION,
      max_steps: tc.max_steps,
    });
  } else {
    await run.update({ status: 'running', pid: process.pid, hostname: hostname(), provider: train.provider, precision_resolved: describePrecision(train.precision), error: null, max_steps: tc.max_steps, resumed_from_step: resumeFrom?.step ?? 0, step: state.step, config: recordedConfig });
    await run.update({ dataset: { ...(await run.read()).dataset, report: dataReport(dataset) } });
  }
  for (const line of [...resumeNotes, ...dataProblems, ...setupWarnings, ...adviceLines, ...(evaluator?.warnings ?? [])]) await run.log(line);
  const runLog = async (line: string) => {
    log(line);
    await run!.log(line);
  };
  if (!req.resume) await lock(run.dir);
  hooks.onRun?.({ runDir: run.dir, id: run.id, resumedFromStep: resumeFrom?.step ?? null, maxSteps: tc.max_steps, provider: train.provider, precision: describePrecision(train.precision), startStep: state.step });
  if (req.resume && !resumeFrom) await runLog('the run has no checkpoint yet: starting over from step 0');
  await runLog(`${resumeFrom ? `resuming from step ${resumeFrom.step}` : 'starting'}: model ${modelDir} on ${train.provider}, ${describePrecision(train.precision)}; ${modules.length} LoRA modules, ${describeRanks(loraCfg)}; ${dataset.train.length} training examples, ${dataset.validation.length} validation examples`);

  const feedsFor = () => {
    train.setLoraFeeds(loraFeeds(train));
  };
  // Validation runs on the training session with `train: false` (loss only, no dropout): one
  // copy of the weights (engine/train/step.ts).
  const validate = async (): Promise<number | null> => {
    if (!dataset.validation.length) return null;
    feedsFor();
    return validationLoss(train, evalBatches(dataset.validation, tc.per_device_train_batch_size, tokenizer.padTokenId, pad));
  };
  const checkpoint = async () => {
    const writeFiles = deps.writeCheckpointFiles ?? writeCheckpointFiles;
    const dir = await run!.writeCheckpoint(state.step, (tmp) => writeFiles(tmp, peftConfig, params, modules, adam, { ...state, data: loader.state(), ...(scaler ? { loss_scaler: scaler.state() } : {}) }));
    await run!.update({ step: state.step });
    hooks.onCheckpoint?.(state.step, dir);
    await runLog(`checkpoint step ${state.step}: ${dir}`);
  };
  const emit = async (row: MetricsRow) => {
    await run!.appendMetrics(row);
    hooks.onMetrics?.(row);
  };

  const t0 = performance.now() - state.elapsed_s * 1000;
  const elapsed = () => (performance.now() - t0) / 1000;
  let windowLoss = 0;
  let windowSteps = 0;
  let windowTokens = 0;
  let windowStart = performance.now();
  /**
   * Runs `f` (validation, eval sets, a checkpoint write) off the throughput clock: the logging
   * window's start moves forward by the time it took, so `tokens_per_s` counts training only.
   * Returns f's result and its seconds.
   */
  const offClock = async <T>(f: () => Promise<T>): Promise<[T, number]> => {
    const start = performance.now();
    const out = await f();
    const ms = performance.now() - start;
    windowStart += ms;
    return [out, ms / 1000];
  };
  const validateTimed = () => offClock(() => (deps.validation ? deps.validation(validate) : validate()));
  try {
    if (!resumeFrom) {
      const [val, valS] = await validateTimed();
      if (val !== null) {
        await emit({ step: 0, time: round(elapsed()), val_loss: val, val_time: round(valS), tokens: 0 });
        await runLog(`step 0: val_loss ${val.toFixed(4)}`);
      }
    }
    while (state.step < tc.max_steps) {
      const k = state.step;
      const lr = learningRate(tc, k);
      feedsFor();
      const batches = Array.from({ length: tc.gradient_accumulation_steps }, () => loader.next());
      const inputTokens = batches.reduce((n, b) => n + countTokens(b), 0);
      const scaleBefore = scaler?.scale;
      const { loss, gradNorm, updated, skipped } = await trainStep(train, optimizer, params, adam, batches, lr, scaler);
      if (skipped) {
        await runLog(`step ${k + 1}: skipped: Inf/NaN in the float16 gradients at loss scale ${scaleBefore}, so no update was made; loss scale lowered to ${scaler!.scale} (dynamic loss scaling, as PyTorch's GradScaler)`);
      } else if (!updated) {
        // At step 1 no update has been applied: the learning rate cannot be the cause.
        throw new TrainingDiverged(k === 0
          ? `train loss is ${loss} at step 1, before any update, so the learning rate is not the cause: the model's forward pass overflows on this data (every weight is finite); try --device cpu (float32), or check the model and data`
          : `train loss became ${loss} at step ${k + 1}; ${await keptNote(run.dir)} — lower training.learning_rate or check the data`);
      }
      if (!skipped && !Number.isFinite(gradNorm)) throw new TrainingDiverged(`gradient norm became ${gradNorm} at step ${k + 1}; ${await keptNote(run.dir)} — lower training.learning_rate or set training.max_grad_norm`);
      // A finite gradient can still overflow the update (a huge learning rate): never checkpoint that.
      const broken = nonFiniteParam(params);
      if (broken) throw new TrainingDiverged(`LoRA weight ${broken} became non-finite at step ${k + 1}; ${await keptNote(run.dir)} — lower training.learning_rate`);
      state.step = k + 1;
      state.tokens += inputTokens;
      state.train_loss = loss;
      state.elapsed_s = elapsed();
      windowLoss += loss;
      windowSteps++;
      windowTokens += inputTokens;
      const tokensPerS = windowTokens / Math.max(1e-9, (performance.now() - windowStart) / 1000);
      hooks.onStep?.(state.step, tc.max_steps, { loss, tokensPerS, elapsedS: state.elapsed_s });
      const last = state.step === tc.max_steps;
      const doEval = state.step % tc.eval_steps === 0 || last;
      const doLog = state.step % tc.logging_steps === 0 || last;
      const [val, valS] = doEval ? await validateTimed() : [null, 0];
      const doSave = state.step % tc.save_steps === 0 || last || stop.requested;
      // Eval sets at a checkpoint: the same weights the checkpoint saves, in the same row.
      const [evals, evalsS] = doSave && evaluator ? await offClock(() => evaluator.evaluate({ config: peftConfig, modules: toModules(params, modules) })) : [null, 0];
      if (doLog || val !== null || evals) {
        const row: MetricsRow = { step: state.step, time: round(elapsed()) };
        if (doLog) {
          Object.assign(row, { train_loss: windowLoss / windowSteps, lr, ...(skipped ? {} : { grad_norm: gradNorm }), tokens: state.tokens, tokens_per_s: round(tokensPerS) });
          windowLoss = windowSteps = windowTokens = 0;
          windowStart = performance.now();
        }
        if (val !== null) row.val_loss = val;
        if (val !== null || evals) row.val_time = round(valS + evalsS);
        if (evals) Object.assign(row, evals);
        await emit(row);
        if (evals) await runLog(`step ${state.step}: ${Object.entries(evals).map(([k, x]) => `${k} ${x.toFixed(4)}`).join(', ')}`);
        if (val !== null) await runLog(`step ${state.step}: train_loss ${loss.toFixed(4)}, val_loss ${val.toFixed(4)}`);
      }
      // A stop that arrived after doSave was decided (during validation or the metrics write) still
      // gets its checkpoint: a stopped run always resumes from the step it reports.
      if (doSave || stop.requested) await offClock(checkpoint);
      if (stop.requested && !last) {
        await run.update({ status: 'stopped', step: state.step });
        await runLog(`stopped at step ${state.step} (resume with: loralab train --resume ${run.dir})`);
        return { status: 'stopped', runDir: run.dir, adapterDir: null, step: state.step };
      }
    }
    await run.writeAdapter((tmp) => writePeftAdapter(tmp, peftConfig, toModules(params, modules)));
    await run.update({ status: 'completed', step: state.step });
    await runLog(`completed ${state.step} steps; adapter: ${run.adapterDir}`);
    return { status: 'completed', runDir: run.dir, adapterDir: run.adapterDir, step: state.step };
  } catch (e) {
    let message = (e as Error).message.split('\n')[0];
    const kept = await describeKeptCheckpoint(run.dir);
    if (e instanceof RunError && (e as RunError & { code?: string }).code) {
      // A write failed (disk full, read-only, …): say which file, what to do, and what a resume gets.
      message = `${message}; then resume with: loralab train --resume ${run.dir} (${kept.step === null ? 'no checkpoint was written, so it starts over from step 0' : `it continues from checkpoint step ${kept.step}`})`;
    }
    await run.update({ status: 'failed', error: message, step: state.step }).catch(() => undefined);
    await run.log(`failed: ${message}`).catch(() => undefined);
    return { status: 'failed', runDir: run.dir, adapterDir: null, step: state.step, error: message, checkpointStep: kept.step };
  } finally {
    await train.release();
    await evaluator?.release();
    await optimizer.release();
  }
}

export class TrainingDiverged extends Error {}

/** `run.json`'s `dataset.report` from a loaded dataset. */
function dataReport(d: Dataset): DataReportJson {
  const s = d.stats;
  const l = s.longestTruncated;
  return {
    train_examples: s.trainExamples,
    validation_examples: s.validationExamples,
    skipped: d.skipped.length,
    truncated: s.truncated,
    longest_truncated: l ? { file: l.file, line: l.line, tokens: l.tokens, at_least: l.atLeast } : null,
    untrainable: s.dropped,
    untrainable_records: s.droppedRecords.map((r) => `${r.file}:${r.line}`),
    special_token_text: s.specialTokenText.map((x) => ({ ...x })),
  };
}

async function keptNote(runDir: string): Promise<string> {
  return (await describeKeptCheckpoint(runDir)).text;
}

/** `${key}` of the first parameter holding NaN or ±Infinity, or null. */
function nonFiniteParam(params: Map<string, HostTensor>): string | null {
  for (const [k, p] of params) {
    const d = p.data as Float32Array;
    for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) return k;
  }
  return null;
}

/**
 * Refuses training settings no run can use: `max_steps` above MAX_STEPS_LIMIT (1e9 steps take
 * years even at 10 steps/s; above 2^53 a step count is not even exact) and `learning_rate` above
 * MAX_LEARNING_RATE (AdamW moves every weight by about the learning rate per step — its first
 * update is exactly lr·sign(g) — so a rate above 1 wrecks the adapter at the first step; LoRA
 * uses 1e-5 … 1e-2). @throws TrainSetupError naming `where` (the experiment file or run).
 */
function checkBounds(t: { max_steps: number; learning_rate: number }, where: string): void {
  if (!(t.max_steps <= MAX_STEPS_LIMIT)) {
    throw new TrainSetupError(`${where}: training.max_steps ${t.max_steps} is more than ${MAX_STEPS_LIMIT.toExponential()}; so many steps would take years even at 10 steps/s — use the number of optimizer steps you mean to run`);
  }
  if (!(t.learning_rate <= MAX_LEARNING_RATE)) {
    throw new TrainSetupError(`${where}: training.learning_rate ${t.learning_rate} is above ${MAX_LEARNING_RATE}; AdamW moves every weight by about the learning rate per step, so this destroys the adapter at the first step — LoRA uses 1e-5 to 1e-2 (run loralab advise FILE for a suggestion)`);
  }
}

/** Keys whose saved value a resume may differ in without the file having changed (CLI overrides). */
const OVERRIDABLE = new Set(['model', 'device', 'training.max_steps']);

/**
 * What differs between the config saved in run.json and `file` as it parses now, as
 * `key: saved → now` for up to 3 dotted keys (`training.precision: fp16 → bf16`, `, …` when
 * more); null when they agree, the file is gone or no longer parses (nothing to compare), or it
 * has a "sweep" block (a sweep point's config is not the file's). Keys the CLI overrides
 * (`--model`, `--device`, `--max-steps`) are left out.
 */
export async function experimentFileChanges(file: string | null, saved: ExperimentConfig): Promise<string | null> {
  if (!file || !existsSync(file)) return null;
  let now: ExperimentConfig;
  try {
    if (/"sweep"\s*:/.test(await readFile(file, 'utf8'))) return null;
    now = await loadExperiment(file);
  } catch {
    return null;
  }
  const leaves = (x: unknown, prefix: string, out: Map<string, unknown>) => {
    if (x !== null && typeof x === 'object' && !Array.isArray(x)) {
      for (const [k, v] of Object.entries(x)) leaves(v, prefix ? `${prefix}.${k}` : k, out);
    } else if (prefix) out.set(prefix, x);
    return out;
  };
  const a = leaves(saved, '', new Map());
  const b = leaves(now, '', new Map());
  const show = (v: unknown) => (v === undefined ? '(absent)' : typeof v === 'string' ? v : JSON.stringify(v));
  const diffs = [...new Set([...a.keys(), ...b.keys()])]
    .filter((k) => !OVERRIDABLE.has(k) && JSON.stringify(a.get(k)) !== JSON.stringify(b.get(k)))
    .map((k) => `${k}: ${show(a.get(k))} → ${show(b.get(k))}`);
  if (!diffs.length) return null;
  return diffs.length > 3 ? `${diffs.slice(0, 3).join(', ')}, …` : diffs.join(', ');
}

/**
 * The training precision that runs, in words, from the resolved plan (engine/device.ts
 * `resolvePrecision`): `fp32`; `fp16 weights, computed in fp32` (CPU: half storage, cast at each
 * use); `fp16 weights and matmuls, with loss scaling` (CUDA / WebGPU); `bf16 weights and matmuls`.
 * Written to the `starting:` log line, the `run` event and run.json `precision_resolved`.
 */
export function describePrecision(p: PrecisionPlan): string {
  if (p.precision === 'fp32') return 'fp32';
  if (!p.halfMatMul) return `${p.precision} weights, computed in fp32`;
  return `${p.precision} weights and matmuls${p.lossScaling ? ', with loss scaling' : ''}`;
}

/**
 * Completes a run whose checkpoint is already at its final step (a kill after that checkpoint,
 * before or while `adapter/` was written): the final adapter is the checkpoint's adapter
 * (`adapter_config.json` as saved, weights rewritten from the checked tensors), then run.json
 * says completed.
 */
async function finishFromCheckpoint(run: RunHandle, ck: LoadedCheckpoint, step: number, notes: string[], hooks: TrainHooks): Promise<TrainOutcome> {
  const json = await run.read();
  await run.update({ status: 'running', pid: process.pid, hostname: hostname(), error: null });
  hooks.onRun?.({ runDir: run.dir, id: run.id, resumedFromStep: step, maxSteps: step, provider: json.provider ?? 'unknown', precision: json.precision_resolved ?? null, startStep: step });
  for (const line of notes) await run.log(line);
  try {
    await run.writeAdapter((tmp) => writePeftAdapter(tmp, ck.config, toModules(ck.params, ck.modules)));
    await run.update({ status: 'completed', step });
  } catch (e) {
    const message = (e as Error).message.split('\n')[0];
    await run.update({ status: 'failed', error: message, step }).catch(() => undefined);
    return { status: 'failed', runDir: run.dir, adapterDir: null, step, error: message, checkpointStep: step };
  }
  const line = `checkpoint step ${step} is the final step: wrote the final adapter from it; adapter: ${run.adapterDir}`;
  hooks.onLog?.(line);
  await run.log(line);
  return { status: 'completed', runDir: run.dir, adapterDir: run.adapterDir, step };
}

const LOCK_FILE = '.lock';

/**
 * One trainer per run folder: creates `<run>/.lock` holding our pid (exclusive create). A lock
 * whose process is gone is stale and taken over. @throws TrainSetupError when another live
 * process holds it.
 */
async function acquireLock(runDir: string): Promise<void> {
  const path = join(runDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (pid && pid !== process.pid && isProcessAlive(pid)) {
        throw new TrainSetupError(`${runDir}: another trainer (pid ${pid}) is writing this run; stop it first (kill -INT ${pid}), then resume`);
      }
      await rm(path, { force: true });
    }
  }
  throw new TrainSetupError(`${runDir}: could not lock the run folder (${LOCK_FILE}); try again`);
}

async function releaseLock(runDir: string): Promise<void> {
  const path = join(runDir, LOCK_FILE);
  const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
  if (pid === process.pid) await rm(path, { force: true });
}

function countTokens(b: Batch): number {
  let n = 0;
  for (const row of b.attentionMask) for (const v of row) if (v !== 0) n++;
  return n;
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/** "r=8, lora_alpha=16" plus the patterns when set, for log lines. */
function describeRanks(c: LoraRankConfig): string {
  const parts = [`r=${c.r}`, `lora_alpha=${c.lora_alpha}`];
  if (c.use_rslora) parts.push('use_rslora');
  if (c.rank_pattern && Object.keys(c.rank_pattern).length) parts.push(`rank_pattern=${JSON.stringify(c.rank_pattern)}`);
  if (c.alpha_pattern && Object.keys(c.alpha_pattern).length) parts.push(`alpha_pattern=${JSON.stringify(c.alpha_pattern)}`);
  return parts.join(', ');
}

/**
 * A cheap model fingerprint: sha256 over config.json and every safetensors header (names,
 * dtypes, shapes, offsets) plus file sizes — hashing gigabytes of weights at each start would
 * cost minutes; the header identifies a checkpoint for all practical purposes.
 */
export async function modelFingerprint(dir: string): Promise<string> {
  const h = createHash('sha256');
  h.update(await readFile(join(dir, 'config.json')));
  for (const f of (await readdir(dir)).filter((n) => n.endsWith('.safetensors')).sort()) {
    const fh = await open(join(dir, f));
    try {
      const { size } = await fh.stat();
      const len = Buffer.alloc(8);
      await fh.read(len, 0, 8, 0);
      const n = Math.min(Number(len.readBigUInt64LE()), size - 8, 100 * 2 ** 20);
      const header = Buffer.alloc(Math.max(0, n));
      await fh.read(header, 0, header.length, 8);
      h.update(f).update(String(size)).update(header);
    } finally {
      await fh.close();
    }
  }
  return h.digest('hex');
}

export type { Example };
