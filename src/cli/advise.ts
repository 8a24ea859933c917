/**
 * `loralab advise FILE.lora.json [--json]`: the "LoRA Without Regret" advisor's findings for an
 * experiment, one per line as `file:line: warning|info [id] message`, each followed by its
 * source, then the capacity meter and the suggested learning rate. `--json` prints one object
 * `{"findings", "capacity", "suggestion", "skipped"}` on stdout. Findings are advice: the exit
 * code is 0 with or without them (2 for an invalid file).
 */
import { readFile } from 'node:fs/promises';
import { fmt } from '../engine/advise/index';
import { ExperimentError } from '../experiment/index';
import { adviseExperiment } from '../experiment/advice';
import { EXIT, emitJson, info } from './output';

export interface AdviseArgs {
  file: string;
  json?: boolean;
}

const human = (n: number) => (n >= 1e6 ? `${fmt(n / 1e6)}M` : n >= 1e3 ? `${fmt(n / 1e3)}k` : String(n));

export async function runAdvise(args: AdviseArgs): Promise<number> {
  const text = await readFile(args.file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new ExperimentError([{ file: args.file, line: 0, pointer: '', message: e.code === 'ENOENT' ? 'file not found' : `cannot be read (${e.message})` }]);
  });
  const a = await adviseExperiment(text, args.file);
  if (args.json) {
    emitJson({
      findings: a.findings.map(({ range: _range, ...f }) => f),
      capacity: a.capacity && { lora_parameters: a.capacity.parameters, trained_tokens: a.capacity.trainedTokens, parameters_per_token: a.capacity.parametersPerToken, suggested_r: a.capacity.suggestedRank },
      suggestion: a.suggestion,
      skipped: a.skipped,
    });
    return EXIT.ok;
  }
  const out = (line: string) => process.stdout.write(`${line}\n`);
  for (const f of a.findings) {
    out(`${args.file}:${f.line}: ${f.severity === 'warning' ? 'warning' : 'info'} [${f.id}] ${f.message}`);
    out(`    source: ${f.source.title} ${f.source.url}`);
  }
  if (a.findings.length === 0) out(`${args.file}: no findings: the settings follow "LoRA Without Regret" as far as the advisor can tell`);
  if (a.capacity) {
    const c = a.capacity;
    out(`capacity: ${human(c.parameters)} LoRA parameters for ${human(c.trainedTokens)} trained tokens (${fmt(c.parametersPerToken)} parameters per token; rule of thumb ≥ 1)`);
  }
  if (a.suggestion) out(`suggested learning_rate: ${fmt(a.suggestion.learning_rate)} (${a.suggestion.basis})`);
  for (const s of a.skipped) info(`note: ${s}`);
  return EXIT.ok;
}
