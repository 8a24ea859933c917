/**
 * Merge webview protocol (extension host ⇄ `webview/merge`), typed once and imported by both
 * ends. Every message carries `v`; receivers validate with the guards and drop anything else.
 *
 * The page sends `ready` once its script runs; the host answers `init` (the adapters to merge,
 * a free name for the result, the folder merged adapters go to). `pickAdapters` asks the host
 * for more adapters (a quick pick); it answers `adapters` with the rows to add.
 *
 * A preview is numbered by the page (`id`, increasing): `preview` → one `plan` or `error` for
 * that id, unless a newer preview (or `cancel`) stopped it first: then it gets no answer. A
 * merge: `merge` → `busy`, then exactly one `merged` or `error` (id null). `cancel` stops what
 * runs. `busy` reports what runs (null when nothing). `name` gives a free name for the next
 * merge (the host sends it after each merge, and when a name was refused as taken): the page's
 * default, so merging again with the default does not hit "already exists". Parameter names follow
 * `loralab merge` / PEFT's `add_weighted_adapter` (method, weights, density, majority_sign).
 */

export const MERGE_PROTOCOL_VERSION = 1;

/** The methods of `loralab merge` (`MERGE_METHODS` of src/engine/merge/index.ts; a test checks they agree). */
export const MERGE_METHOD_NAMES = ['linear', 'cat', 'svd', 'ties', 'dare_linear', 'dare_ties', 'magnitude_prune'] as const;
export type MergeMethodName = (typeof MERGE_METHOD_NAMES)[number];

/** Which parameters a method uses (the CLI refuses the others). */
export const METHOD_PARAMS: Record<MergeMethodName, { rank: boolean; density: boolean; majority_sign: boolean; seed: boolean }> = {
  linear: { rank: false, density: false, majority_sign: false, seed: false },
  cat: { rank: false, density: false, majority_sign: false, seed: false },
  svd: { rank: true, density: false, majority_sign: false, seed: false },
  ties: { rank: true, density: true, majority_sign: true, seed: false },
  dare_linear: { rank: true, density: true, majority_sign: false, seed: true },
  dare_ties: { rank: true, density: true, majority_sign: true, seed: true },
  magnitude_prune: { rank: true, density: true, majority_sign: false, seed: false },
};

/** One adapter the page offers to merge. */
export interface MergeAdapterRow {
  /** Adapter folder (absolute). */
  path: string;
  /** Short name (`step-40 · run-id`, a folder's name). */
  label: string;
  /** From adapter_config.json; null when unknown. */
  r: number | null;
  lora_alpha: number | null;
}

/** What to merge: `loralab merge`'s options. Parameters the method does not use are left out. */
export interface MergeRequest {
  adapters: { path: string; weight: number }[];
  method: MergeMethodName;
  /** Target rank k (not for linear/cat); absent: the largest input rank. */
  rank?: number;
  /** Fraction kept, in (0, 1]; required by ties, dare_* and magnitude_prune. */
  density?: number;
  majority_sign?: 'total' | 'frequency';
  seed?: number;
}

/** One module of the result, as `loralab merge --json` reports it. */
export interface ModulePlan {
  module: string;
  r: number;
  /** ‖ΔW_out‖_F / ‖ΔW‖_F. */
  kept_norm_fraction: number;
  delta_norm: number;
  /** Bytes of the module's float32 A and B. */
  bytes: number;
}

/** The result of a merge (planned or written). */
export interface MergePlan {
  method: MergeMethodName;
  /** adapter_config.json `r` and `lora_alpha` (the most common per-module values). */
  r: number;
  lora_alpha: number;
  /** Bytes of all factors (adapter_model.safetensors less its small header). */
  bytes: number;
  modules: ModulePlan[];
}

export type HostToMerge =
  | { v: 1; type: 'init'; adapters: MergeAdapterRow[]; name: string; folder: string | null }
  | { v: 1; type: 'adapters'; adapters: MergeAdapterRow[] }
  | { v: 1; type: 'plan'; id: number; plan: MergePlan }
  /** What the host is doing now (null: idle). */
  | { v: 1; type: 'busy'; what: 'preview' | 'merge' | null }
  | { v: 1; type: 'merged'; name: string; dir: string; plan: MergePlan }
  /** A free name for the next merge (the name field's default). */
  | { v: 1; type: 'name'; name: string }
  /** One line; `id` the preview it answers, null for a merge or anything else. */
  | { v: 1; type: 'error'; id: number | null; message: string };

export type MergeToHost =
  | { v: 1; type: 'ready' }
  | { v: 1; type: 'pickAdapters'; exclude: string[] }
  | { v: 1; type: 'preview'; id: number; request: MergeRequest }
  | { v: 1; type: 'merge'; name: string; request: MergeRequest }
  | { v: 1; type: 'cancel' };

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;
const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const isStr = (x: unknown): x is string => typeof x === 'string';

/** A merged adapter's folder name: letters, digits, `.`, `_`, `-`; not starting with `.`; at most 100 characters. */
export function isMergeName(x: unknown): x is string {
  return isStr(x) && /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$/.test(x);
}

/** Whether `x` is a request the CLI accepts: ≥ 1 adapter with finite weights, a known method, only the parameters it uses, each in range. */
export function isMergeRequest(x: unknown): x is MergeRequest {
  if (!isObj(x) || !isStr(x.method) || !(MERGE_METHOD_NAMES as readonly string[]).includes(x.method)) return false;
  const uses = METHOD_PARAMS[x.method as MergeMethodName];
  if (!Array.isArray(x.adapters) || x.adapters.length === 0) return false;
  if (!x.adapters.every((a) => isObj(a) && isStr(a.path) && a.path !== '' && isNum(a.weight))) return false;
  const absentOr = (key: string, ok: (v: unknown) => boolean, used: boolean) => x[key] === undefined || (used && ok(x[key]));
  return (
    absentOr('rank', (v) => Number.isSafeInteger(v) && (v as number) > 0, uses.rank) &&
    absentOr('density', (v) => isNum(v) && v > 0 && v <= 1, uses.density) &&
    absentOr('majority_sign', (v) => v === 'total' || v === 'frequency', uses.majority_sign) &&
    absentOr('seed', (v) => Number.isSafeInteger(v), uses.seed) &&
    (!uses.density || x.density !== undefined)
  );
}

const isRow = (x: unknown): x is MergeAdapterRow =>
  isObj(x) && isStr(x.path) && isStr(x.label) && (x.r === null || isNum(x.r)) && (x.lora_alpha === null || isNum(x.lora_alpha));

/** Whether `x` is a plan as `loralab merge --json` prints it (figures finite, fractions in [0, 1]). */
export function isMergePlan(x: unknown): x is MergePlan {
  return (
    isObj(x) && isStr(x.method) && (MERGE_METHOD_NAMES as readonly string[]).includes(x.method) && isNum(x.r) && isNum(x.lora_alpha) && isNum(x.bytes) &&
    Array.isArray(x.modules) &&
    x.modules.every((m) => isObj(m) && isStr(m.module) && isNum(m.r) && isNum(m.kept_norm_fraction) && m.kept_norm_fraction >= 0 && m.kept_norm_fraction <= 1 + 1e-9 && isNum(m.delta_norm) && isNum(m.bytes))
  ); // prettier-ignore
}

export function isMergeToHost(x: unknown): x is MergeToHost {
  if (!isObj(x) || x.v !== MERGE_PROTOCOL_VERSION) return false;
  switch (x.type) {
    case 'ready':
    case 'cancel':
      return true;
    case 'pickAdapters':
      return Array.isArray(x.exclude) && x.exclude.every(isStr);
    case 'preview':
      return Number.isSafeInteger(x.id) && isMergeRequest(x.request);
    case 'merge':
      return isMergeName(x.name) && isMergeRequest(x.request);
    default:
      return false;
  }
}

export function isHostToMerge(x: unknown): x is HostToMerge {
  if (!isObj(x) || x.v !== MERGE_PROTOCOL_VERSION) return false;
  switch (x.type) {
    case 'init': return Array.isArray(x.adapters) && x.adapters.every(isRow) && isStr(x.name) && (x.folder === null || isStr(x.folder));
    case 'adapters': return Array.isArray(x.adapters) && x.adapters.every(isRow);
    case 'plan': return Number.isSafeInteger(x.id) && isMergePlan(x.plan);
    case 'busy': return x.what === null || x.what === 'preview' || x.what === 'merge';
    case 'merged': return isStr(x.name) && isStr(x.dir) && isMergePlan(x.plan);
    case 'name': return isMergeName(x.name);
    case 'error': return (x.id === null || Number.isSafeInteger(x.id)) && isStr(x.message);
    default: return false;
  }
}
