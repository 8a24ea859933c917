/**
 * The `loralab` command line. Every command follows the conventions in `output.ts`.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEVICES, type Device } from '../engine/runtime/session';
import { runBench } from './bench';
import { EXIT, InputError, reportError } from './output';
import { runScore } from './score';
import { runRuns } from './runs';
import { runTrain } from './train';
import { version } from '../../package.json';

const intArg = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer`);
  return n;
};
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
    .description('LoRA fine-tuning experiments on ONNX Runtime: train adapters, list runs, score text, benchmark.')
    .version(version)
    // Parse errors are not printed here: `main` reports them as one `loralab: error:` line.
    .configureOutput({ writeOut: (s) => process.stderr.write(s), writeErr: (s) => process.stderr.write(s), outputError: () => undefined })
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
    .action((o) => guarded(o.json, () => runScore({ ...o, device: o.device as Device })));

  program
    .command('bench')
    .description('forward and LoRA train-step throughput on a random-weight Llama (hidden 512, 8 layers, vocab 32000)')
    .addOption(deviceOption())
    .option('--threads <n>', 'intra-op threads (default: all cores)', intArg('--threads'))
    .option('--batch <n>', 'batch size', intArg('--batch'), 4)
    .option('--seq <n>', 'sequence length', intArg('--seq'), 256)
    .option('--rank <n>', 'LoRA rank', intArg('--rank'), 16)
    .option('--iters <n>', 'timed iterations (median reported)', intArg('--iters'), 3)
    .option('--json', 'print the figures as one JSON object on stdout')
    .action((o) => guarded(o.json, () => runBench({ ...o, device: o.device as Device })));

  program
    .command('train')
    .description('train a LoRA adapter from an experiment file (or resume a run); writes a run folder under --runs-dir')
    .argument('[file]', 'experiment file (*.lora.json)')
    .option('--resume <run_dir>', 'continue a stopped or crashed run from its last checkpoint')
    .option('--model <dir>', 'local Hugging Face model folder (overrides the experiment\'s "model")')
    .option('--max-steps <n>', 'total optimizer steps of the run (overrides training.max_steps; with --resume, the new total, not steps to add)', intArg('--max-steps'))
    .option('--runs-dir <dir>', 'folder for run folders (default: .loralab/runs under the current directory)')
    .addOption(new Option('--device <device>', 'execution provider (default: the experiment\'s "device")').choices(DEVICES as string[]))
    .option('--threads <n>', 'intra-op threads (default: all cores)', intArg('--threads'))
    .option('--json', 'print one JSON event per line on stdout (run, metrics, checkpoint, done, error)')
    .action((file, o) => guarded(o.json, async () => {
      process.exitCode = await runTrain({ ...o, file, device: o.device as Device | undefined });
    }));

  program
    .command('runs')
    .description('list training runs, newest first: status, step, last train and validation loss')
    .option('--runs-dir <dir>', 'folder holding the run folders (default: .loralab/runs under the current directory)')
    .option('--json', 'print {"runs": [{"id", "name", "status", "step", "train_loss", "val_loss", "run_dir"}]} on stdout')
    .action((o) => guarded(o.json, () => runRuns(o)));

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    const err = e as { code?: string; exitCode?: number };
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
