/**
 * The Compare view's side-by-side generations: which columns one prompt gets (each base model,
 * then every selected run's final adapter on it), and running them through the inference
 * worker — one `generate` batch per base model (the worker batches the variants of one model:
 * `src/extension/worker/api.ts`), models in turn, streamed, stoppable. Plain; no `vscode` import.
 */
import type { CompareFinishReason, CompareGenerationColumn, CompareGenerationParams, CompareRun, HostToCompare } from '../../protocol/compare';
import { runLabel } from '../../protocol/run-label';
import type { Generation, InferenceClient } from '../worker/api';

/** What the generations need of a run. */
export type GenerationRun = Pick<CompareRun, 'id' | 'name' | 'run_dir' | 'status' | 'model' | 'adapter_dir'>;

/** One `generate` batch: a model, its columns (base first) and the variants they stand for. */
export interface GenerationGroup {
  model: string;
  /** Index of the group's first column among all columns. */
  first: number;
  columns: CompareGenerationColumn[];
  variants: (string | null)[];
}

export type GenerationPlan = { groups: GenerationGroup[]; columns: CompareGenerationColumn[]; notes: string[] } | { error: string };

/**
 * The columns for these runs (in their order): per base model, in order of first appearance,
 * the base model then each run with a final adapter. Runs without one (still running, failed
 * before the end) are left out with a note; several models get a note that they generate in
 * turn. An error (one line) when no run has a final adapter.
 */
export function planGenerations(runs: readonly GenerationRun[]): GenerationPlan {
  const notes: string[] = [];
  const byModel = new Map<string, GenerationRun[]>();
  for (const r of runs) {
    if (!r.adapter_dir) {
      notes.push(`${r.id} has no final adapter yet (${r.status}): left out.`);
      continue;
    }
    if (!r.model) {
      notes.push(`${r.id}: run.json names no model: left out.`);
      continue;
    }
    byModel.set(r.model, [...(byModel.get(r.model) ?? []), r]);
  }
  if (!byModel.size) return { error: 'None of the selected runs has a final adapter yet: generations compare the adapters of finished runs (a checkpoint can be tried in the Playground).' };
  if (byModel.size > 1) notes.push(`The runs use ${byModel.size} base models (${[...byModel.keys()].map(baseName).join(', ')}): each model's base and adapters generate in turn.`);
  const groups: GenerationGroup[] = [];
  const columns: CompareGenerationColumn[] = [];
  for (const [model, rs] of byModel) {
    const cols: CompareGenerationColumn[] = [
      { run_dir: null, label: byModel.size > 1 ? `base model (${baseName(model)})` : 'base model', model },
      ...rs.map((r) => ({ run_dir: r.run_dir, label: runLabel(r), model })),
    ];
    groups.push({ model, first: columns.length, columns: cols, variants: [null, ...rs.map((r) => r.adapter_dir)] });
    columns.push(...cols);
  }
  return { groups, columns, notes };
}

const baseName = (p: string): string => p.split(/[\\/]/).filter(Boolean).pop() ?? p;

const oneLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0];

/**
 * One request's generations: posts `generationStarted`, then per group streams `generation`
 * deltas and one `generationEnded` per column, and finally `generationDone`. `stop()` cancels
 * the running batch and skips the groups not started (their columns end as cancelled).
 */
export class GenerationRequest {
  private stopped = false;
  private running: Generation | null = null;

  constructor(
    readonly gen: number,
    private readonly client: Pick<InferenceClient, 'generate'>,
    private readonly post: (m: HostToCompare) => unknown,
  ) {}

  stop(): void {
    this.stopped = true;
    this.running?.cancel();
  }

  /** Runs the request to its end (never rejects: failures are posted as one-line errors). */
  async run(runs: readonly GenerationRun[], prompt: string, params: CompareGenerationParams): Promise<void> {
    const gen = this.gen;
    const done = (error: string | null) => this.post({ v: 1, type: 'generationDone', gen, error });
    if (!prompt.trim()) return void done('Type a prompt first.');
    const plan = planGenerations(runs);
    if ('error' in plan) return void done(plan.error);
    this.post({ v: 1, type: 'generationStarted', gen, columns: plan.columns, notes: plan.notes });
    const end = (column: number, finish_reason: CompareFinishReason | null, tokens: number, error: string | null) =>
      this.post({ v: 1, type: 'generationEnded', gen, column, finish_reason, tokens, error });
    for (const g of plan.groups) {
      if (this.stopped) {
        g.columns.forEach((_, i) => end(g.first + i, 'cancelled', 0, null));
        continue;
      }
      try {
        this.running = this.client.generate({ model: g.model, variants: g.variants, prompt, params: { max_new_tokens: params.max_new_tokens, temperature: params.temperature } }, (variant, text) => {
          if (variant >= 0 && variant < g.columns.length) this.post({ v: 1, type: 'generation', gen, column: g.first + variant, text });
        });
        const results = await this.running.done;
        g.columns.forEach((_, i) => end(g.first + i, results[i]?.finish_reason ?? 'cancelled', results[i]?.ids.length ?? 0, null));
      } catch (e) {
        const msg = oneLine(e);
        g.columns.forEach((_, i) => end(g.first + i, null, 0, msg));
      } finally {
        this.running = null;
      }
    }
    done(null);
  }
}
