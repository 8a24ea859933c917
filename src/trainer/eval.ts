/**
 * Evaluation during training (experiment `"eval": {"files": [...], "every": "checkpoint"}`): at
 * every checkpoint the adapter being trained runs every eval set (engine/eval) and the means
 * become metrics-row fields `eval/<set>/<metric>` and `eval/<set>/pass_rate`, where `<set>` is the
 * file's name without `.eval.jsonl`. The eval sets are read and checked before the run starts.
 */
import { readFile } from 'node:fs/promises';
import { assertNoProblems, type EvalSet, parseEvalSet, withoutChatCases } from '../engine/eval/eval-set';
import { LocalEvalBackend } from '../engine/eval/local';
import { runEvalSet } from '../engine/eval/run';
import type { Device } from '../engine/runtime/session';
import type { PeftAdapter } from '../engine/weights/peft';
import { evalSetName } from '../runs/evals';
import { loadTokenizer } from '../engine/tokenizer/index';
import { collectGarbage } from '../engine/runtime/gc';

/** The adapter key the evaluator's backend knows the training adapter by. */
const TRAINING_ADAPTER = '<training adapter>';

export class CheckpointEvaluator {
  /**
   * @param warnings `warning: …` lines for the run's log (chat cases skipped on a model without
   *   a chat template, eval-set.ts `withoutChatCases`).
   */
  private constructor(private readonly sets: EvalSet[], private readonly loadBackend: () => Promise<LocalEvalBackend>, readonly warnings: readonly string[]) {}

  /**
   * Reads and checks the eval sets. Chat cases are skipped with a warning (`warnings`) when the
   * model has no chat template; a set of chat cases only is an error. The
   * inference model (LoRA on `modules`) is built at each checkpoint and released after it, so
   * between checkpoints the trainer holds one copy of the weights, not two.
   * @throws Error `FILE:LINE: problem` for a bad eval set or one whose every case is a chat the
   *   model cannot render, `FILE: file not found; …` for a missing one.
   */
  static async create(files: readonly string[], modelDir: string, opts: { device?: Device; threads?: number; modules: string[] }): Promise<CheckpointEvaluator> {
    const sets: EvalSet[] = [];
    const names = new Set<string>();
    for (const f of files) {
      const text = await readFile(f, 'utf8').catch((e: NodeJS.ErrnoException) => {
        throw new Error(`${f}: ${e.code === 'ENOENT' ? 'file not found' : `cannot read (${e.code ?? e.message})`}; fix the path in the experiment's eval.files`);
      });
      const set = parseEvalSet(text, f);
      assertNoProblems(set);
      const name = evalSetName(f);
      if (names.has(name)) throw new Error(`${f}: another eval file is also named "${name}", so their metrics would share eval/${name}/…; rename one`);
      names.add(name);
      sets.push(set);
    }
    const tokenizer = await loadTokenizer(modelDir);
    const runnable = sets.map((set) => withoutChatCases(set, modelDir, tokenizer.chatTemplate !== undefined));
    const warnings = runnable.flatMap((r) => (r.warning ? [r.warning] : []));
    return new CheckpointEvaluator(runnable.map((r) => r.set), () => LocalEvalBackend.load(modelDir, [], { device: opts.device, threads: opts.threads, targetModules: opts.modules }), warnings);
  }

  /**
   * Evaluates `adapter` (the training state at a checkpoint) on every eval set.
   * @returns metrics-row fields `eval/<set>/<metric>` (means over the cases using that metric),
   *   `eval/<set>/expected_nll` (mean NLL of the expected text over every case) and `eval/<set>/pass_rate`.
   */
  async evaluate(adapter: PeftAdapter): Promise<Record<`eval/${string}`, number>> {
    const backend = await this.loadBackend();
    try {
      backend.putAdapter(TRAINING_ADAPTER, adapter);
      const row: Record<`eval/${string}`, number> = {};
      for (const set of this.sets) {
        const [v] = await runEvalSet(set, [TRAINING_ADAPTER], backend);
        const name = evalSetName(set.file);
        row[`eval/${name}/pass_rate`] = v.summary.pass_rate;
        for (const [m, x] of Object.entries(v.summary.mean)) row[`eval/${name}/${m}`] = x;
        // Every case's NLL of its expected text (`nll` above averages only the "metric": "nll" cases).
        if (v.summary.mean_expected_nll !== undefined) row[`eval/${name}/expected_nll`] = v.summary.mean_expected_nll;
      }
      return row;
    } finally {
      await backend.release();
      collectGarbage();
    }
  }

  /** Nothing is held between checkpoints; kept so callers release every evaluator the same way. */
  async release(): Promise<void> {}
}
