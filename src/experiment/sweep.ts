/**
 * Sweeps: an experiment's `sweep` block (key path → values to try, `seeds`, `method`) expanded
 * into points, each an ordinary experiment. Like W&B sweeps' `grid` method and Hydra's
 * multirun, a point changes only the keys named; everything else comes from the file.
 *
 * The block is checked here beyond the schema: each key path must name a setting of the file
 * (not a section, not `name`), each value must be valid for that setting (the setting's own
 * schema), and `zip` lists must have one length. Problems carry the line of the offending value.
 */
import { readFile } from 'node:fs/promises';
import { applyEdits, modify } from 'jsonc-parser/lib/esm/main.js';
import type { ValidateFunction } from 'ajv';
import { JsonDocument } from './document';
import { type ExperimentProblem, ExperimentError, closestMatch, schemaProblems } from './errors';
import { EXPERIMENT_SCHEMA, createAjv, type SchemaNode } from './schema';

/** The `sweep` block as written. */
export interface SweepSpec {
  method: 'grid' | 'zip';
  /** Key path (`training.learning_rate`) → values, in file order. */
  parameters: [string, unknown[]][];
  /** `training.seed` values; every point is repeated with each. Empty: the file's seed. */
  seeds: number[];
  /** Runs at once on this machine. */
  parallel: number;
}

/** One run of a sweep. */
export interface SweepPoint {
  /** 0-based position in the expansion (`loralab train --sweep FILE --index I`). */
  index: number;
  /** Key path → value of this point (with `training.seed` when `seeds` is given). */
  values: Record<string, unknown>;
  /** The run's experiment name: `<name>-<index>-<short values>`, a valid folder name. */
  name: string;
}

const RESERVED = new Set(['method', 'seeds', 'parallel']);
/** The schema's `patternProperties` key of swept settings. */
const SWEEP_KEY = new RegExp(Object.keys((EXPERIMENT_SCHEMA.properties.sweep as { patternProperties: Record<string, unknown> }).patternProperties)[0], 'u');

/** Leaf settings of the schema by key path (`training.learning_rate` → its schema node). */
function leafSettings(): Map<string, SchemaNode & Record<string, unknown>> {
  const out = new Map<string, SchemaNode & Record<string, unknown>>();
  const walk = (node: SchemaNode, path: string[]) => {
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      const p = [...path, key];
      if (p.length === 1 && ['name', 'sweep', '$schema', 'advise'].includes(key)) continue;
      if (child.properties && child.type === 'object') walk(child, p);
      else out.set(p.join('.'), child as SchemaNode & Record<string, unknown>);
    }
  };
  walk(EXPERIMENT_SCHEMA as SchemaNode, []);
  return out;
}

let leaves: Map<string, SchemaNode & Record<string, unknown>> | undefined;
const validators = new Map<string, ValidateFunction>();

/** Validator of one setting's value (compiled once per key path). */
function validatorFor(path: string): ValidateFunction {
  let v = validators.get(path);
  if (!v) {
    v = createAjv().compile({ ...leafSettings().get(path)!, default: undefined });
    validators.set(path, v);
  }
  return v;
}

/**
 * Problems of the `sweep` block of a parsed document (after the schema check of its shape).
 * Empty when there is no block.
 */
export function sweepProblems(data: unknown, doc: JsonDocument, file: string): ExperimentProblem[] {
  const sweep = (data as { sweep?: unknown } | undefined)?.sweep;
  if (typeof sweep !== 'object' || sweep === null || Array.isArray(sweep)) return [];
  leaves ??= leafSettings();
  const problems: ExperimentProblem[] = [];
  const lengths: [string, number][] = [];
  for (const [key, values] of Object.entries(sweep)) {
    // Other keys are the schema's "unknown key" (additionalProperties) problems.
    if (RESERVED.has(key) || !Array.isArray(values) || !SWEEP_KEY.test(key)) continue;
    const pointer = `/sweep/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (!leaves.has(key)) {
      const guess = closestMatch(key, [...leaves.keys()]);
      const why = 'no such setting';
      problems.push({ file, line: doc.lineOfKey('/sweep', key), pointer, message: `"${key}" cannot be swept (${why})${guess ? `; did you mean "${guess}"?` : `; use a key path such as "training.learning_rate" or "lora.r"`}` });
      continue;
    }
    lengths.push([key, values.length]);
    const validate = validatorFor(key);
    values.forEach((value, i) => {
      if (validate(value)) return;
      const itemPointer = `${pointer}/${i}`;
      const sub = schemaProblems(validate.errors ?? [], doc, file).map((p) => ({ ...p, pointer: itemPointer, line: doc.lineOfPointer(itemPointer) }));
      // schemaProblems phrases relative to the value's own root; keep its message.
      for (const p of sub.slice(0, 1)) problems.push({ ...p, message: `${key} value ${JSON.stringify(value)}: ${p.message}` });
    });
  }
  if ((sweep as { method?: unknown }).method === 'zip' && new Set(lengths.map(([, n]) => n)).size > 1) {
    problems.push({ file, line: doc.lineOfKey('/sweep', 'method'), pointer: '/sweep/method', message: `"zip" pairs the i-th values of every list, but the lists have different lengths (${lengths.map(([k, n]) => `${k}: ${n}`).join(', ')}); give them one length or use "grid"` });
  }
  const seeds = (sweep as { seeds?: unknown }).seeds;
  const named = Object.keys(sweep).filter((k) => !RESERVED.has(k)).length;
  if (named === 0 && !(Array.isArray(seeds) && seeds.length > 0)) {
    problems.push({ file, line: doc.lineOfPointer('/sweep'), pointer: '/sweep', message: 'names no setting to sweep; add e.g. "training.learning_rate": [1e-4, 3e-4, 1e-3] or "seeds": [0, 1, 2]' });
  }
  return problems;
}

/** The `sweep` block of a validated value, or null when the file has none. */
export function readSweepSpec(data: unknown): SweepSpec | null {
  const sweep = (data as { sweep?: Record<string, unknown> } | undefined)?.sweep;
  if (!sweep) return null;
  return {
    method: sweep.method === 'zip' ? 'zip' : 'grid',
    parameters: Object.entries(sweep).filter(([k, v]) => !RESERVED.has(k) && Array.isArray(v)) as [string, unknown[]][],
    seeds: Array.isArray(sweep.seeds) ? (sweep.seeds as number[]) : [],
    parallel: typeof sweep.parallel === 'number' ? sweep.parallel : 1,
  };
}

/** `learning_rate` → `lr`; other keys by their last segment. */
const SHORT: Record<string, string> = { learning_rate: 'lr', per_device_train_batch_size: 'bs', gradient_accumulation_steps: 'gas', lora_alpha: 'alpha', lora_dropout: 'dropout', max_seq_length: 'len' };

/** A value in a run name: numbers short (`3e-4`), strings with invalid characters replaced. */
function nameValue(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) || Math.abs(v) >= 1e-3 ? String(Number(v.toPrecision(3))) : v.toExponential().replace(/\.?0+e/, 'e');
  const s = typeof v === 'string' ? v.split(/[\\/]/).pop()! : JSON.stringify(v);
  return s.replace(/[^A-Za-z0-9._-]+/g, '_');
}

/**
 * The points of a sweep: `grid` is the Cartesian product in file order (the first key changes
 * slowest), `zip` the i-th values together; each is repeated for every seed (seed changing
 * fastest). Names are `<name>-<index>-<key><value>…`, at most 100 characters.
 */
export function expandSweep(name: string, spec: SweepSpec): SweepPoint[] {
  let combos: Record<string, unknown>[] = [{}];
  if (spec.method === 'zip') {
    const n = spec.parameters[0]?.[1].length ?? 1;
    combos = Array.from({ length: n }, (_, i) => Object.fromEntries(spec.parameters.map(([k, vs]) => [k, vs[i]])));
  } else {
    for (const [key, values] of spec.parameters) combos = combos.flatMap((c) => values.map((v) => ({ ...c, [key]: v })));
  }
  const withSeeds = spec.seeds.length ? combos.flatMap((c) => spec.seeds.map((s) => ({ ...c, 'training.seed': s }))) : combos;
  const width = String(withSeeds.length - 1).length;
  return withSeeds.map((values, index) => {
    const label = Object.entries(values).map(([k, v]) => `${SHORT[k.split('.').pop()!] ?? (k === 'training.seed' ? 's' : k.split('.').pop())}${nameValue(v)}`).join('-');
    return { index, values, name: `${name}-${String(index).padStart(width, '0')}${label ? `-${label}` : ''}`.slice(0, 100).replace(/[-.]+$/, '') };
  });
}

/**
 * The experiment text of one point: the file's text with the point's values set, `name` set to
 * the point's name and the `sweep` block removed (jsonc-parser edits, so comments stay). Parse
 * it with `parseExperiment` under the original file name.
 */
export function sweepPointText(text: string, point: SweepPoint): string {
  const fmt = { formattingOptions: { insertSpaces: true, tabSize: 2 } };
  let out = text;
  for (const [key, value] of Object.entries(point.values)) out = applyEdits(out, modify(out, key.split('.'), value, fmt));
  out = applyEdits(out, modify(out, ['name'], point.name, fmt));
  out = applyEdits(out, modify(out, ['sweep'], undefined, fmt));
  return out;
}

/**
 * Reads an experiment file's sweep: the spec and its points.
 *
 * @throws ExperimentError the file's problems (`parseExperiment`'s, with their lines; the sweep
 *   block's included), or `file: has no "sweep" block` when it has none
 */
export async function loadSweep(file: string): Promise<{ text: string; name: string; spec: SweepSpec; points: SweepPoint[] }> {
  let text = await readFile(file, 'utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const value = new JsonDocument(text).value as { name?: string } | undefined;
  const spec = readSweepSpec(value);
  // The file's own problems (the sweep block's included) before expanding: an invalid block
  // (an empty list, an unknown key path) must not reach expandSweep.
  const { parseExperiment } = await import('./index');
  if (spec) parseExperiment(text, file);
  if (!spec) throw new ExperimentError([{ file, line: 0, pointer: '', message: 'has no "sweep" block; add one, e.g. "sweep": {"training.learning_rate": [1e-4, 3e-4, 1e-3]}, or train it with loralab train' }]);
  return { text, name: value?.name ?? 'sweep', spec, points: expandSweep(value?.name ?? 'sweep', spec) };
}

/**
 * The resolved experiment of point `index` of a file's sweep (`loralab train --sweep FILE
 * --index I`, what the local runner and cluster array tasks run).
 *
 * @throws ExperimentError for an invalid file, a file without `sweep`, or an index out of range
 */
export async function loadSweepPoint(file: string, index: number): Promise<{ config: import('./index').ExperimentConfig; point: SweepPoint; points: number }> {
  const { parseExperiment } = await import('./index');
  const { text, points } = await loadSweep(file); // the file's own problems first, with its lines
  const point = points[index];
  if (!point) throw new ExperimentError([{ file, line: 0, pointer: '/sweep', message: `has ${points.length} points (0 … ${points.length - 1}); --index ${index} is out of range` }]);
  return { config: parseExperiment(sweepPointText(text, point), file), point, points: points.length };
}
