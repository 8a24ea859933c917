/**
 * Run dashboard webview protocol (extension host ⇄ `webview/dashboard`), typed once and
 * imported by both ends. Every message carries `v`; receivers validate with the guards and
 * drop anything else. The page sends `ready` once its script runs; the host answers with
 * `init` (the whole run state, read from the run directory), then `metrics` rows as they are
 * appended and `status` when the run's status changes — so early messages are never lost and a
 * reopened or reloaded dashboard is rebuilt from disk.
 */
import type { MetricsRowLike } from './metrics';
import type { RunStatus } from './status';

export const DASHBOARD_PROTOCOL_VERSION = 1;

export type RunStatusLike = RunStatus;

/** Facts shown in the dashboard's table (from run.json). */
export interface RunFacts {
  id: string;
  name: string;
  run_dir: string;
  status: RunStatusLike;
  step: number;
  max_steps: number;
  model: string;
  provider: string | null;
  dataset: { train: string | null; validation: string | number | null };
  created_at: string;
  finished_at: string | null;
  error: string | null;
  /** Hyperparameters to list: flattened "lora.r" → value. */
  hyperparameters: Record<string, string | number | boolean | null>;
  /** Steps the run was resumed from (a checkpoint's step, 0 when it started over), oldest first. */
  resumes?: number[];
  /** The run's final adapter folder (`<run>/adapter`) when it exists, else null (absent: not known). */
  adapter_dir?: string | null;
}

/** The dashboard's view settings, remembered per workspace by the host. */
export interface DashboardPrefs {
  /** Smoothing weight w in [0, 0.99]. */
  smoothing: number;
  /** Loss chart on a log y axis. */
  logY: boolean;
}

/** Whether `x` is a valid `DashboardPrefs`. */
export function isDashboardPrefs(x: unknown): x is DashboardPrefs {
  return isObj(x) && typeof x.smoothing === 'number' && Number.isFinite(x.smoothing) && x.smoothing >= 0 && x.smoothing <= 0.99 && typeof x.logY === 'boolean';
}

export type HostToDashboard =
  /** `prefs`: the view settings this workspace's dashboards last used (null: none saved yet; the page keeps its own). */
  | { v: 1; type: 'init'; run: RunFacts; rows: MetricsRowLike[]; prefs?: DashboardPrefs | null }
  | { v: 1; type: 'metrics'; rows: MetricsRowLike[] }
  | { v: 1; type: 'status'; status: RunStatusLike; step: number; error: string | null; finished_at: string | null; resumes?: number[]; adapter_dir?: string | null };

export type DashboardToHost =
  | { v: 1; type: 'ready' }
  | { v: 1; type: 'stopRun' }
  | { v: 1; type: 'revealRunFolder' }
  /** The summary band's buttons: the host runs `loralab.activateAdapter` / `openAdapterInPlayground` / `revealAdapter` on the run's final adapter, `loralab.resumeRun` on the run. */
  | { v: 1; type: 'activateAdapter' }
  | { v: 1; type: 'openAdapterInPlayground' }
  | { v: 1; type: 'revealAdapter' }
  | { v: 1; type: 'resumeRun' }
  /** The user changed smoothing or log scale: the host remembers them for the workspace. */
  | { v: 1; type: 'prefs'; prefs: DashboardPrefs };

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null;
}

/** The page's requests that carry nothing but their type. */
const SIMPLE_REQUESTS: readonly string[] = ['ready', 'stopRun', 'revealRunFolder', 'activateAdapter', 'openAdapterInPlayground', 'revealAdapter', 'resumeRun'];

export function isDashboardToHost(x: unknown): x is DashboardToHost {
  if (!isObj(x) || x.v !== DASHBOARD_PROTOCOL_VERSION) return false;
  return SIMPLE_REQUESTS.includes(x.type as string) || (x.type === 'prefs' && isDashboardPrefs(x.prefs));
}

export function isHostToDashboard(x: unknown): x is HostToDashboard {
  if (!isObj(x) || x.v !== DASHBOARD_PROTOCOL_VERSION) return false;
  switch (x.type) {
    case 'init': return isObj(x.run) && Array.isArray(x.rows) && (x.prefs === undefined || x.prefs === null || isDashboardPrefs(x.prefs));
    case 'metrics': return Array.isArray(x.rows);
    case 'status': return typeof x.status === 'string' && typeof x.step === 'number';
    default: return false;
  }
}
