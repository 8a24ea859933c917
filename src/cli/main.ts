/**
 * The `loralab` command line. Every command follows the conventions in `output.ts`.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEVICES, type Device } from '../engine/runtime/session';
import { runBench } from './bench';
import { runGenerate } from './generate';
import { runInspect } from './inspect';
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
    .option('--stop <str>', 'stop when the completion contains this text (cut before it); repeatable', collect, [])
    .option('--seed <s>', 'sampling seed (default 0); the same seed gives every variant the same random draws', numArg('--seed', Number.isSafeInteger, 'an integer'))
    .option('--threads <n>', 'intra-op threads (default: all cores)', intArg('--threads'))
    .addOption(deviceOption())
    .option('--json', 'print {"results": [{"adapter", "ids", "text", "finish_reason"}]} on stdout instead of streaming')
    .action((o) => guarded(o.json, () => runGenerate({ ...o, device: o.device as Device })));

  program
    .command('bench')
    .description('forward, LoRA train-step and decode (KV cache vs recompute) throughput on a random-weight Llama (hidden 512, 8 layers, vocab 32000)')
    .addOption(deviceOption())
    .option('--threads <n>', 'intra-op threads (default: all cores)', intArg('--threads'))
    .option('--batch <n>', 'batch size', intArg('--batch'), 4)
    .option('--seq <n>', 'sequence length', intArg('--seq'), 256)
    .option('--rank <n>', 'LoRA rank', intArg('--rank'), 16)
    .option('--iters <n>', 'timed iterations (median reported)', intArg('--iters'), 3)
    .option('--new-tokens <n>', 'tokens generated in the decode benchmark (batch 1, prompt of --seq tokens)', intArg('--new-tokens'), 32)
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

  program
    .command('inspect')
    .description('what a model folder, PEFT adapter folder or .safetensors file holds (headers only, no tensor data); with --model, whether an adapter fits a model (exit 1 when it does not)')
    .argument('<path>', 'model folder (config.json), adapter folder (adapter_config.json) or .safetensors file')
    .option('--model <dir>', 'check that every tensor of the adapter fits this model folder; every mismatch is listed')
    .option('--json', 'print one JSON object on stdout: {"kind": "model" | "adapter" | "safetensors", …}')
    .action((path, o) => guarded(o.json, async () => {
      process.exitCode = await runInspect({ ...o, path });
    }));

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
