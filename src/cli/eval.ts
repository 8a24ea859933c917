/**
 * `loralab eval FILE.eval.jsonl --model DIR [--adapter DIR]… [--base] [--json]`: every case of an
 * eval set against every variant (the base model first when asked or when no adapter is given),
 * all variants of a case in one multi-LoRA batch. Prints a table per variant on stdout (the
 * command's result; the start line, progress and `saved …` notes go to stderr), or with `--json`
 * one object `{"variants": [{"adapter", "cases": [{"line", "output", "scores", "passed",
 * "generation": {"max_new_tokens", "max_new_tokens_from", "stop"} (absent for `nll` cases), …}],
 * "summary": {"cases", "passed", "pass_rate", "mean": {METRIC: mean over the cases using METRIC},
 * "mean_expected_nll": mean NLL of the expected text over every case}}]}` on stdout. An adapter
 * that belongs to a run (its `adapter/` or a checkpoint) gets its results saved in the run
 * folder's `evals/`. Exit code 1 when a case fails;
 * 2 for a bad eval set (every bad line listed, up to ten) or a chat case on a model without a
 * chat template.
 */
import { readFile } from 'node:fs/promises';
import { assertChatTemplate, assertNoProblems, parseEvalSet } from '../engine/eval/eval-set';
import { LocalEvalBackend } from '../engine/eval/local';
import { type CaseResult, type UsedGeneration, type VariantResult, runEvalSet } from '../engine/eval/run';
import { resolveModel } from '../engine/models/hub';
import { loadTokenizer } from '../engine/tokenizer/index';
import type { Device } from '../engine/runtime/session';
import { runOfAdapter, writeEvalResult } from '../runs/evals';
import { EXIT, InputError, decodeUtf8Strict, emitJson, info, print } from './output';

export interface EvalArgs {
  file: string;
  model: string;
  adapter?: string[];
  base?: boolean;
  json?: boolean;
  device?: Device;
  threads?: number;
}

/** Runs the eval set; returns the exit code (0 all passed, 1 a case failed). */
export async function runEval(args: EvalArgs): Promise<number> {
  const bytes = await readFile(args.file).catch((e: NodeJS.ErrnoException) => {
    const why = e.code === 'ENOENT' ? 'file not found' : e.code === 'EISDIR' ? 'is a folder, not an eval file' : `cannot read (${e.code ?? e.message})`;
    throw new InputError(`${args.file}: ${why}; pass a *.eval.jsonl file`);
  });
  const set = parseEvalSet(decodeUtf8Strict(bytes, args.file), args.file);
  assertNoProblems(set); // EvalSetError: every bad line (up to ten), exit 2
  const adapters = args.adapter ?? [];
  const variants: (string | null)[] = [...(args.base || adapters.length === 0 ? [null] : []), ...adapters];
  const model = await resolveModel(args.model);
  // Chat cases need a chat template: refuse before loading the model (exit 2, as generate --messages).
  assertChatTemplate(set, args.model, (await loadTokenizer(model)).chatTemplate !== undefined);
  const backend = await LocalEvalBackend.load(model, adapters, { device: args.device, threads: args.threads });
  let results: VariantResult[];
  try {
    if (!args.json) info(`eval ${args.file}: ${set.cases.length} case${set.cases.length === 1 ? '' : 's'} × ${variants.length} variant${variants.length === 1 ? '' : 's'} on ${args.model} (${backend.lm.provider})`);
    let done = 0;
    results = await runEvalSet(set, variants, backend, () => {
      done++;
      if (!args.json && process.stderr.isTTY) process.stderr.write(`\r  case ${done}/${set.cases.length}`);
    });
    if (!args.json && process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  } finally {
    await backend.release();
  }
  const saved: string[] = [];
  for (const v of results) {
    const run = v.adapter ? runOfAdapter(v.adapter) : null;
    if (run) saved.push(await writeEvalResult(run.runDir, args.file, run.label, { file: args.file, model: args.model, created_at: new Date().toISOString(), ...v }));
  }
  if (args.json) emitJson({ variants: results });
  else {
    results.forEach((v, i) => printTable(v, i > 0));
    for (const p of saved) info(`saved ${p}`);
  }
  return results.every((v) => v.summary.passed === v.summary.cases) ? EXIT.ok : EXIT.failed;
}

const fmt = (x: number | undefined) => (x === undefined ? '-' : x.toFixed(4));

/** Characters of a failing case's output (and expected text) shown under its row. */
export const OUTPUT_PREVIEW_CHARS = 60;

/**
 * A text as one table line: at most {@link OUTPUT_PREVIEW_CHARS} characters (then `…`),
 * JSON-quoted so leading spaces and newlines (as `\n`) stay visible on one line.
 */
export function outputPreview(output: string): string {
  const chars = [...output];
  return chars.length > OUTPUT_PREVIEW_CHARS ? `${JSON.stringify(chars.slice(0, OUTPUT_PREVIEW_CHARS).join(''))}…` : JSON.stringify(output);
}

const BUDGET_FROM: Record<UsedGeneration['max_new_tokens_from'], string> = { set: 'set', expected: 'from expected', default: 'model default' };

/** The generation settings of a case in words: `max_new_tokens 2 (from expected), stop "\n"`. */
export function generationText(g: UsedGeneration): string {
  const stop = g.stop.length ? `stop ${g.stop.map((x) => JSON.stringify(x)).join(', ')}` : 'no stop';
  return `max_new_tokens ${g.max_new_tokens ?? '?'} (${BUDGET_FROM[g.max_new_tokens_from]}), ${stop}`;
}

/**
 * The line under a failing case's row: `expected "girl" · output " g" · max_new_tokens 2 (from
 * expected), stop "\n"` (an `nll` case, which generates nothing: the expected text only).
 */
export function failureDetail(c: CaseResult): string {
  const parts = [`expected ${outputPreview(c.expected)}`];
  if (c.output !== null) parts.push(`output ${outputPreview(c.output)}`);
  if (c.generation) parts.push(generationText(c.generation));
  return parts.join(' · ');
}

/**
 * One variant's table (stdout, as every command's result): a row per case (`nll exp`: the NLL of
 * the expected text, every case), under each failing case its expected text, output and
 * generation settings ({@link failureDetail}), and a summary line whose `mean <metric>` averages
 * the cases that use that metric, `mean NLL of expected` every case (EvalSummary). Tables after
 * the first get a blank line before them.
 */
function printTable(v: VariantResult, blankLineBefore: boolean): void {
  print(`${blankLineBefore ? '\n' : ''}=== ${v.adapter ? `adapter ${v.adapter}` : 'base model'} ===`);
  print(`${'line'.padStart(5)}  ${'metric'.padEnd(8)}  ${'score'.padStart(8)}  ${'threshold'.padStart(9)}  ${'nll exp'.padStart(8)}  pass  case`);
  for (const c of v.cases) {
    print(`${String(c.line).padStart(5)}  ${c.metric.padEnd(8)}  ${fmt(c.scores[c.metric]).padStart(8)}  ${String(c.threshold).padStart(9)}  ${fmt(c.scores.nll).padStart(8)}  ${c.passed ? 'yes ' : 'NO  '}  ${c.name}`);
    if (!c.passed) print(`${' '.repeat(5)}  ${failureDetail(c)}`);
  }
  const s = v.summary;
  const means = Object.entries(s.mean).map(([m, x]) => `mean ${m} ${fmt(x)}`);
  if (s.mean_expected_nll !== undefined) means.push(`mean NLL of expected ${fmt(s.mean_expected_nll)}`);
  print(`passed ${s.passed}/${s.cases} (${(100 * s.pass_rate).toFixed(1)}%)   ${means.join('   ')}`);
}
