/**
 * The `loralab` command line. Every command follows the conventions in `output.ts`.
 * Command modules are imported when their command runs, so `--help`, `runs`, `inspect` or
 * `setup-gpu` do not load what they do not use (ONNX Runtime itself loads on first use:
 * `engine/runtime/session.ts`).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEVICES, type Device } from '../engine/device';
import { negativeWeightsArgv } from './merge';
import { EXIT, InputError, reportError } from './output';
import { version } from '../../package.json';

const intArg = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer`);
  return n;
};
const numArg = (name: string, ok: (x: number) => boolean, what: string) => (v: string) => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || !ok(n)) throw new InvalidArgumentError(`${name} must be ${what}`);
  return n;
};
const collect = (v: string, prev: string[]) => [...prev, v];
const deviceOption = () => new Option('--device <device>', 'execution provider').choices(DEVICES as string[]).default('cpu');

let jsonMode = false;

async function guarded(json: boolean | undefined, fn: () => Promise<void>): Promise<void> {
  jsonMode = Boolean(json);
  try {
    await fn();
  } catch (e) {
    process.exitCode = reportError(e, jsonMode);
  }
}

export function buildProgram(): Command {
  const program = new Command('loralab')
    .description('LoRA fine-tuning experiments on ONNX Runtime: train adapters (one run or a sweep, here or on Slurm/Kubernetes), list runs, generate, score and evaluate with adapters, inspect and merge adapters, benchmark.')
    .version(version)
    // Parse errors are not printed here: `main` reports them as one `loralab: error:` line.
    // --help and --version are the output asked for: stdout (so `loralab --help | less` works).
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s), outputError: () => undefined })
    .exitOverride();

  program
    .command('score')
    .description('per-token negative log-likelihood (natural log), mean NLL and perplexity of a text')
    .requiredOption('--model <dir>', 'local Hugging Face model folder (config.json, tokenizer.json, *.safetensors) or a Hub id')
    .option('--adapter <dir>', 'PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors)')
    .option('--text <str>', 'text to score')
    .option('--file <path>', 'UTF-8 text file to score (- reads stdin)')
    .option('--max-length <n>', 'window length in tokens (default: the model context); longer texts use a sliding window with stride n/2', intArg('--max-length'))
    .option('--threads <n>', 'intra-op threads (default: all cores)', intArg('--threads'))
    .addOption(deviceOption())
    .option('--json', 'print {"token_ids", "nll", "mean_nll", "perplexity"} on stdout')
    .action((o) => guarded(o.json, async () => (await import('./score')).runScore({ ...o, device: o.device as Device })));

  program
    .command('generate')
    .description('continue a prompt or answer a chat with the base model and/or adapters, one completion per variant, streamed to stdout')
    .requiredOption('--model <dir>', 'local Hugging Face model folder (config.json, tokenizer.json, *.safetensors) or a Hub id')
    .option('--adapter <dir>', 'PEFT LoRA adapter folder; repeat for several (one completion each)', collect, [])
    .option('--base', 'also generate with the base model (the default when no --adapter is given)')
    .option('--prompt <str>', 'text to continue (BOS added as the tokenizer does)')
    .option('--messages <file>', 'chat to answer: a JSON list of {"role", "content"} (or .jsonl, one per line), rendered with the model\'s chat template')
    .option('--max-new-tokens <n>', 'most tokens to generate (default: generation_config.json\'s max_new_tokens, else 128)', intArg('--max-new-tokens'))
    .option('--temperature <t>', 'sampling temperature; 0 = greedy (default: generation_config.json, else greedy)', numArg('--temperature', (x) => x >= 0, 'a number ≥ 0'))
    .option('--top-p <p>', 'nucleus sampling: keep the most likely tokens up to probability p (default: generation_config.json, else 1 = off)', numArg('--top-p', (x) => x > 0 && x <= 1, 'a number in (0, 1]'))
    .option('--top-k <k>', 'keep the k most likely tokens; 0 = off (default: generation_config.json, else 50)', numArg('--top-k', (x) => Number.isInteger(x) && x >= 0, 'an integer ≥ 0'))
    .option('--repetition-penalty <r>', 'CTRL repetition penalty on tokens already in prompt or output; 1 = off (default: generation_config.json, else 1)', numArg('--repetition-penalty', (x) => x > 0, 'a number > 0'))
    .option('--stop <str>', 'stop when the completion contains this text (cut before it); repeatable', (v: string, prev: string[]) => {
      if (v === '') throw new InvalidArgumentError('--stop must not be empty: an empty text matches at once, so nothing would be generated');
      return collect(v, prev);
    }, [])
    .option('--seed <s>', 'sampling seed, an integer ≥ 0 (default 0); the same seed gives every variant the same random draws', numArg('--seed', (x) => Number.isSafeInteger(x) && x >= 0, 'an integer ≥ 0 (the seed of the random draws)'))
    .option('--threads <n>', 'intra-op threads (default: all cores)', intArg('--threads'))
    .addOption(deviceOption())
    .option('--json', 'print {"results": [{"adapter", "ids", "text", "finish_reason"}]} on stdout instead of streaming')
    .action((o) => guarded(o.json, async () => (await import('./generate')).runGenerate({ ...o, device: o.device as Device })));

  program
    .command('eval')
    .description('run an eval set (*.eval.jsonl) against the base model and/or adapters: a table per variant (pass rate, mean score per metric, mean NLL of the expected text); exit 1 when a case fails')
    .argument('<file>', 'eval set: one {"prompt" | "messages", "expected", "metric"?, "threshold"?} per line, optional {"$config": {...}} first; outputs are scored up to their first "stop" string, and an "exact" case by default generates at most as many tokens as "expected" has, ending at a line break (lm-evaluation-harness)')
    .requiredOption('--model <dir>', 'local Hugging Face model folder (config.json, tokenizer.json, *.safetensors) or a Hub id')
    .option('--adapter <dir>', 'PEFT LoRA adapter folder; repeat for several (results of a run\'s adapter or checkpoint are saved in its evals/)', collect, [])
    .option('--base', 'also evaluate the base model (the default when no --adapter is given)')
    .option('--threads <n>', 'intra-op threads (default: all cores)', intArg('--threads'))
    .addOption(deviceOption())
    .option('--json', 'print {"variants": [{"adapter", "cases": [{"line", "output", "scores", "passed"}], "summary"}]} on stdout')
    .action((file, o) => guarded(o.json, async () => {
      process.exitCode = await (await import('./eval')).runEval({ ...o, file, device: o.device as Device });
    }));

  program
    .command('bench')
    .description('forward, LoRA train-step and decode (KV cache vs recompute, with and without an adapter, 4 adapters batched vs sequential) throughput and adapter swap vs fresh session latency on a random-weight Llama (hidden 512, 8 layers, vocab 32000)')
    .addOption(deviceOption())
    .option('--threads <n>', 'intra-op threads (default: all cores)', intArg('--threads'))
    .option('--batch <n>', 'batch size', intArg('--batch'), 4)
    .option('--seq <n>', 'sequence length', intArg('--seq'), 256)
    .option('--rank <n>', 'LoRA rank', intArg('--rank'), 16)
    .option('--iters <n>', 'timed iterations (median reported)', intArg('--iters'), 3)
    .option('--new-tokens <n>', 'tokens generated in the decode benchmark (batch 1, prompt of --seq tokens)', intArg('--new-tokens'), 32)
    .option('--layers <n>', 'decoder layers of the bench model (default 8; fewer only for a quick check)', intArg('--layers'))
    .option('--json', 'print the figures as one JSON object on stdout')
    .option('--trainer', 'instead: the training step as the trainer runs it (a forked trainer per shape: batch 1 and 4 × sequence 256 and 1024, and 4 × 1024 with gradient checkpointing): step time, tokens/s, GFLOP/s, peak RSS with its breakdown: runtime, load peak, after build, steps, f32 weights (Linux; a legend on stderr explains the columns)')
    .option('--quick', 'with --trainer: only 4 × 256 and 4 × 1024 with gradient checkpointing, 3 steps each (2 warm-up, 1 timed)')
    .option('--steps <n>', 'with --trainer: optimizer steps per shape (default 5, --quick 3; the first 2 are warm-up)', intArg('--steps'))
    .option('--baseline', 'instead: the train step and forward alternating with the PyTorch baseline (../shared/bench/torch_lora_bench.py; needs python3-torch), each in a fresh process: per-round figures, medians, speed ratio (PyTorch ms / ours: above 1 ours is faster, below 1 slower) and peak-RSS ratio (ours / PyTorch)')
    .option('--rounds <n>', 'with --baseline: measurements of each side per mode (default 3)', intArg('--rounds'))
    .option('--baseline-script <path>', 'with --baseline: the PyTorch script (default ../shared/bench/torch_lora_bench.py beside the LoRA Lab folder)')
    .option('--python <path>', 'with --baseline: a Python that has torch, checked first by printing torch.__version__ (default /usr/bin/python3, where apt\'s python3-torch goes)')
    .addOption(new Option('--baseline-worker <mode>', 'internal: one measurement of bench --baseline, sent over IPC').hideHelp())
    .action((o, cmd: Command) => guarded(o.json, async () => {
      if (o.baselineWorker) return (await import('./bench-baseline')).runBaselineWorker(o.baselineWorker, o);
      // Options of the other mode are a usage error, not silently ignored.
      const given = (names: string[]) => names.filter((n) => cmd.getOptionValueSource(n) === 'cli');
      const flagsOf = (names: string[]) => names.map((n) => `--${n.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ');
      if (o.baseline && o.trainer) throw new InputError('--baseline and --trainer are two different benches; give one of them');
      const baselineOnly = given(['rounds', 'baselineScript', 'python']);
      if (!o.baseline && baselineOnly.length) {
        const flags = flagsOf(baselineOnly);
        throw new InputError(`${flags} ${baselineOnly.length > 1 ? 'apply' : 'applies'} only with --baseline: loralab bench --baseline ${flags.split(', ')[0]} …`);
      }
      if (o.baseline) {
        const wrong = given(['newTokens', 'quick', 'steps']);
        if (wrong.length) throw new InputError(`${flagsOf(wrong)} ${wrong.length > 1 ? 'apply' : 'applies'} only to bench without --baseline (bench --baseline takes --rounds, --batch, --seq, --rank, --layers, --threads, --iters, --baseline-script, --python, --json)`);
        if (o.device !== 'cpu') throw new InputError(`bench --baseline compares CPU training with PyTorch on the CPU; drop --device ${o.device}`);
        await (await import('./bench-baseline')).runBaselineBench({ threads: o.threads, batch: o.batch, seq: o.seq, rank: o.rank, layers: o.layers, iters: o.iters, rounds: o.rounds, script: o.baselineScript, python: o.python, json: o.json });
        return;
      }
      const wrong = o.trainer ? given(['batch', 'seq', 'iters', 'newTokens']) : given(['quick', 'steps']);
      if (wrong.length) {
        const flags = flagsOf(wrong);
        throw new InputError(o.trainer
          ? `${flags} ${wrong.length > 1 ? 'apply' : 'applies'} only to bench without --trainer (bench --trainer takes --quick, --steps, --rank, --layers, --device, --threads, --json)`
          : `${flags} ${wrong.length > 1 ? 'apply' : 'applies'} only with --trainer: loralab bench --trainer ${flags.split(', ')[0]} …`);
      }
      if (!o.trainer) return (await import('./bench')).runBench({ ...o, device: o.device as Device });
      await (await import('./bench-trainer')).runTrainerBench({ device: o.device as Device, threads: o.threads, rank: o.rank, layers: o.layers, quick: o.quick, steps: o.steps, json: o.json });
    }));

  program
    .command('train')
    .description('train a LoRA adapter from an experiment file (or resume a run); writes a run folder under --runs-dir')
    .argument('[file]', 'experiment file (*.lora.json)')
    .option('--resume <run_dir>', 'continue a stopped or crashed run from its newest usable checkpoint')
    .option('--checkpoint <step-N>', 'with --resume: start from this checkpoint (e.g. step-200) instead of the newest usable one')
    .option('--sweep [sweep_dir]', 'train one sweep point: with a sweep folder (or its sweep.json), the cluster task contract (a finished point is a no-op, a started one resumes); with FILE, point --index of its "sweep" block')
    .option('--index <i>', 'the sweep point to train, 0-based (with --sweep SWEEP_DIR: default $SLURM_ARRAY_TASK_ID, else $JOB_COMPLETION_INDEX)', numArg('--index', (x) => Number.isInteger(x) && x >= 0, 'an integer ≥ 0'))
    .option('--model <dir>', 'local Hugging Face model folder (overrides the experiment\'s "model")')
    .option('--max-steps <n>', 'total optimizer steps of the run (overrides training.max_steps; with --resume, the new total, not steps to add)', intArg('--max-steps'))
    .option('--runs-dir <dir>', 'folder for run folders (default: .loralab/runs under the current directory)')
    .addOption(new Option('--device <device>', 'execution provider (default: the experiment\'s "device")').choices(DEVICES as string[]))
    .option('--threads <n>', 'intra-op threads (default: all cores)', intArg('--threads'))
    .option('--json', 'print one JSON event per line on stdout (run, metrics, checkpoint, done, error)')
    .action((file, o) => guarded(o.json, async () => {
      // `train --sweep FILE.lora.json --index I`: the experiment file form, written the other way round.
      if (typeof o.sweep === 'string' && !file && /\.jsonc?$/.test(o.sweep) && !o.sweep.endsWith('sweep.json')) [file, o.sweep] = [o.sweep, true];
      if (typeof o.sweep === 'string') {
        if (file || o.resume) throw new InputError('--sweep SWEEP_DIR names the sweep; give no experiment file or --resume with it: loralab train --sweep SWEEP_DIR [--index I]');
        process.exitCode = await (await import('./sweep')).runSweepTask({ ...o, sweep: o.sweep, device: o.device as Device | undefined });
        return;
      }
      process.exitCode = await (await import('./train')).runTrain({ ...o, file, device: o.device as Device | undefined });
    }));

  program
    .command('advise')
    .description('"LoRA Without Regret" advice for an experiment: learning rate, batch, targets, rsLoRA, alpha, schedule, capacity; each with its source')
    .argument('<file>', 'experiment file (*.lora.json)')
    .option('--json', 'print {"findings": [{"id", "severity", "message", "value", "threshold", "pointer", "line", "fix", "source"}], "capacity", "suggestion", "skipped"} on stdout')
    .action((file, o) => guarded(o.json, async () => {
      process.exitCode = await (await import('./advise')).runAdvise({ file, json: o.json });
    }));

  const sweep = program
    .command('sweep')
    .description('run every point of an experiment\'s "sweep" block as an ordinary run, grouped in a sweep folder with sweep.json; N at a time, the rest queued')
    .argument('[file]', 'experiment file (*.lora.json) with a "sweep" block')
    .option('--resume <sweep_dir>', 'continue a stopped sweep: stopped and crashed runs resume, unstarted points start')
    .option('--parallel <n>', 'runs at once (default: sweep.parallel in the file, else 1); the CPU threads are split between them', intArg('--parallel'))
    .option('--runs-dir <dir>', 'folder for the sweep folder (default: .loralab/runs under the current directory)')
    .option('--threads <n>', 'CPU threads for all runs together (default: all cores)', intArg('--threads'))
    .option('--max-steps <n>', 'optimizer steps of every run (overrides training.max_steps)', intArg('--max-steps'))
    .addOption(new Option('--device <device>', 'execution provider of every run (default: the experiment\'s "device")').choices(DEVICES as string[]))
    .addOption(new Option('--backend <backend>', 'where the runs execute: this machine, one Slurm job array, or one Kubernetes Indexed Job (default: local; with --resume, the sweep\'s last backend)').choices(['local', 'slurm', 'kubernetes']))
    .option('--partition <p>', 'slurm: partition')
    .option('--gpus-per-run <n>', 'slurm/kubernetes: GPUs per run (--gres=gpu:N / nvidia.com/gpu)', numArg('--gpus-per-run', (x) => Number.isInteger(x) && x >= 0, 'an integer ≥ 0'))
    .option('--max-parallel <k>', 'slurm/kubernetes: runs at once (--array=…%K / parallelism)', intArg('--max-parallel'))
    .option('--time <limit>', 'slurm: time limit per run (HH:MM:SS)')
    .option('--sbatch-arg <arg>', 'slurm: one more sbatch option, e.g. --sbatch-arg=--account=proj (repeatable)', collect, [])
    .option('--namespace <ns>', 'kubernetes: namespace (default: default)')
    .option('--image <img>', 'kubernetes: image with loralab on PATH (docker/Dockerfile; default loralab:latest)')
    .option('--pvc <claim>', 'kubernetes: PersistentVolumeClaim holding the runs folder, the experiment, its data and model')
    .option('--mount-path <dir>', 'kubernetes: where the claim is mounted in the pod (default: the runs folder, so paths match)')
    .option('--queue <name>', 'kubernetes: Kueue LocalQueue (label kueue.x-k8s.io/queue-name)')
    .option('--json', 'print one JSON event per line on stdout (sweep, point, done; submitted for a cluster)')
    .action((file, o) => guarded(o.json, async () => {
      process.exitCode = await (await import('./sweep')).runSweepCommand({ ...o, file });
    }));
  sweep
    .command('status')
    .description('each point of a sweep: values, training status, step, final loss, cluster state (pending, running, done, failed, unfinished) and job')
    .argument('<sweep_dir>', 'sweep folder (holds sweep.json)')
    .option('--json', 'print one JSON object on stdout')
    .action((dir, _o, cmd: Command) => guarded(cmd.optsWithGlobals().json, async () => {
      process.exitCode = await (await import('./sweep')).runSweepStatus({ dir, json: cmd.optsWithGlobals().json });
    }));
  sweep
    .command('stop')
    .description('stop a sweep where it runs (scancel, kubectl delete job, or Ctrl-C to the local runner); running points write a checkpoint')
    .argument('<sweep_dir>', 'sweep folder (holds sweep.json)')
    .option('--json', 'print one JSON event on stdout')
    .action((dir, _o, cmd: Command) => guarded(cmd.optsWithGlobals().json, async () => {
      process.exitCode = await (await import('./sweep')).runSweepStop({ dir, json: cmd.optsWithGlobals().json });
    }));

  program
    .command('setup-gpu')
    .description('install ONNX Runtime\'s CUDA provider libraries for the installed onnxruntime-node (Linux x64) with a progress bar, then check the driver, CUDA 12 and cuDNN 9 libraries: each one found where, or missing with the folders searched and what to do; exit 0 when --device cuda can start')
    .option('--check', 'only check; download nothing')
    .option('--from <file>', 'install from a downloaded .nupkg (e.g. microsoft.ml.onnxruntime.gpu.linux.1.30.0.nupkg) instead of downloading')
    .option('--url <url>', 'download the .nupkg from this URL (a mirror) instead of the NuGet feed')
    .option('--feed <index>', 'NuGet v3 service index to resolve the package on (default: onnxruntime-node\'s, https://api.nuget.org/v3/index.json)')
    .option('--force', 'download again even when the provider libraries are present')
    .option('--json', 'print JSON lines on stdout: download, progress, installed, then {"event": "diagnosis", "ok", "libraries": [{"name", "found", "searched", "fix", …}], …}')
    .action((o) => guarded(o.json, async () => {
      process.exitCode = await (await import('./setup-gpu')).runSetupGpu(o);
    }));

  program
    .command('runs')
    .description('list training runs, newest first: status, step, last train and validation loss')
    .option('--runs-dir <dir>', 'folder holding the run folders (default: .loralab/runs under the current directory)')
    .option('--json', 'print {"runs": [{"id", "name", "status", "step", "train_loss", "val_loss", "run_dir"}]} on stdout')
    .action((o) => guarded(o.json, async () => (await import('./runs')).runRuns(o)));

  program
    .command('inspect')
    .description('what a model folder, PEFT adapter folder or .safetensors file holds (headers only, no tensor data); with --model, whether an adapter fits a model (exit 1 when it does not)')
    .argument('<path>', 'model folder (config.json), adapter folder (adapter_config.json) or .safetensors file')
    .option('--model <dir>', 'check that every tensor of the adapter fits this model folder; every mismatch is listed')
    .option('--json', 'print one JSON object on stdout: {"kind": "model" | "adapter" | "safetensors", …}')
    .action((path, o) => guarded(o.json, async () => {
      process.exitCode = await (await import('./inspect')).runInspect({ ...o, path });
    }));

  const merge = program
    .command('merge')
    .description('merge PEFT LoRA adapters of one base model into one adapter (linear/cat exact; svd, ties, dare_linear, dare_ties, magnitude_prune at rank k), with merge.json beside it')
    .requiredOption('--method <m>', 'linear | cat | svd | ties | dare_linear | dare_ties | magnitude_prune')
    .requiredOption('--adapters <dir...>', 'adapter folders (adapter_config.json, adapter_model.safetensors)')
    .option('--weights <w...>', 'one weight per adapter, negative allowed (default: 1 each)', (v: string, prev: number[] | undefined) => [...(prev ?? []), numArg('--weights', Number.isFinite, 'numbers')(v)])
    .option('--rank <k>', 'rank of the result for svd / ties / dare / magnitude_prune (default: the largest input rank)', intArg('--rank'))
    .option('--density <d>', 'fraction of each ΔW\'s entries kept by ties / dare / magnitude_prune, in (0, 1]', numArg('--density', (x) => x > 0 && x <= 1, 'a number in (0, 1]'))
    .option('--majority-sign <how>', 'TIES sign election: total (default) or frequency')
    .option('--seed <s>', 'seed of the DARE masks (default 0)', numArg('--seed', Number.isSafeInteger, 'an integer'))
    .option('--out <dir>', 'folder to write the merged adapter to (new or empty, not inside an input; it appears complete or not at all)')
    .option('--base-model <name>', 'base_model_name_or_path of the result (default: the first adapter\'s); inputs whose names differ but whose module shapes agree are merged with a warning')
    .option('--dry-run', 'compute the merge and report per module the rank, kept norm and size, writing nothing')
    .option('--json', 'print {"event": "done" (or "plan" with --dry-run), "adapter_dir", "r", "bytes", "modules": [{"module", "r", "kept_norm_fraction", "delta_norm", "bytes"}], …} on stdout')
    .action((o) => guarded(o.json, async () => (await import('./merge')).runMerge(o)));
  const parseMergeOptions = merge.parseOptions.bind(merge);
  merge.parseOptions = (argv) => parseMergeOptions(negativeWeightsArgv(argv));

  program
    .command('bench-merge')
    .description('svd merge of two rank-16 adapters on a random Llama (hidden 2048, 16 layers, intermediate 8192): low-rank path vs dense ΔW + SVD (dense measured on one module per shape, extrapolated)')
    .option('--rank <n>', 'rank of the inputs and of the result', intArg('--rank'), 16)
    .option('--layers <n>', 'decoder layers', intArg('--layers'), 16)
    .option('--json', 'print the figures as one JSON object on stdout')
    .action((o) => guarded(o.json, async () => (await import('./bench-merge')).runMergeBench(o)));

  program
    .command('merge-into-base')
    .description('write a complete model folder with the adapter folded into the base weights (W + s·B·A), streamed tensor by tensor, in the base\'s dtype and shard layout')
    .requiredOption('--model <dir>', 'base model folder (config.json, tokenizer, *.safetensors) or a Hub id')
    .requiredOption('--adapter <dir>', 'PEFT LoRA adapter folder')
    .requiredOption('--out <dir>', 'new model folder to write (new or empty; it appears complete or not at all)')
    .option('--json', 'print JSON lines on stdout: {"event": "progress", "done", "total"} (tensors) then {"event": "done", "model_dir", "shards", "tensors", "merged", "copied"}')
    .action((o) => guarded(o.json, async () => (await import('./merge')).runMergeIntoBase(o)));

  // `loralab --help` lists the commands in the order of use, not of registration above.
  const order = ['train', 'runs', 'generate', 'score', 'eval', 'inspect', 'merge', 'merge-into-base', 'advise', 'sweep', 'bench', 'bench-merge', 'setup-gpu'];
  const rank = (c: Command) => (order.includes(c.name()) ? order.indexOf(c.name()) : order.length);
  (program.commands as Command[]).sort((x, y) => rank(x) - rank(y));
  return program;
}

/**
 * Process-wide behaviour of every command, installed once before it runs:
 * - a closed stdout (`loralab generate … | head -c 50`) ends the command quietly with exit 0,
 *   as `git log | head` or `ls | head` end without a message (EPIPE is not an error of ours);
 * - SIGINT and SIGTERM stop a command that has no handler of its own (generate, score, eval,
 *   inspect…) with one `loralab: stopped by SIGTERM` line on stderr and exit 130. Commands that
 *   stop gracefully (train, sweep, merge) add their own listener, and this one then stays out.
 */
export function installProcessHandlers(): void {
  const onStreamError = (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') process.exit(EXIT.ok);
    throw e;
  };
  process.stdout.on('error', onStreamError);
  process.stderr.on('error', onStreamError);
  const onSignal = (sig: NodeJS.Signals) => {
    if (process.listenerCount(sig) > 1) return; // the command's own handler stops it
    try {
      process.stderr.write(`loralab: stopped by ${sig}\n`);
    } finally {
      process.exit(EXIT.signal);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

export async function main(argv: string[]): Promise<number> {
  installProcessHandlers();
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    const err = e as { code?: string; exitCode?: number };
    // Bare `loralab` (no command): commander prints the help on stderr with exit code 1; a missing
    // command is a usage error here, exit 2 like an unknown one.
    if (err.code === 'commander.help' && err.exitCode !== 0) return EXIT.invalidInput;
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.ok;
    if (err.code?.startsWith('commander.')) {
      // e.g. "error: option '--device <device>' argument 'x' is invalid. Allowed choices are …"
      const what = String((e as Error).message).replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').replace(/\.$/, '');
      const first = argv.find((a) => !a.startsWith('-'));
      const command = program.commands.find((c) => c.name() === first)?.name();
      const help = command ? `loralab ${command} --help` : 'loralab --help';
      return reportError(new InputError(`${what}; run "${help}" for usage`), argv.includes('--json'));
    }
    return reportError(e, jsonMode);
  }
  return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
