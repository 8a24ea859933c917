/**
 * Run dashboard webview protocol (extension host ⇄ `webview/dashboard`), typed once and
 * imported by both ends. Every message carries `v`; receivers validate with the guards and
 * drop anything else. The page sends `ready` once its script runs; the host answers with
 * `init` (the whole run state, read from the run directory), then `metrics` rows as they are
 * appended and `status` when the run's status changes — so early messages are never lost and a
 * reopened or reloaded dashboard is rebuilt from disk.
 */
import type { MetricsRowLike } from './metrics';

export const DASHBOARD_PROTOCOL_VERSION = 1;

export type RunStatusLike = 'running' | 'completed' | 'failed' | 'stopped' | 'crashed';

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
}

export type HostToDashboard =
  | { v: 1; type: 'init'; run: RunFacts; rows: MetricsRowLike[] }
  | { v: 1; type: 'metrics'; rows: MetricsRowLike[] }
  | { v: 1; type: 'status'; status: RunStatusLike; step: number; error: string | null; finished_at: string | null };

export type DashboardToHost =
  | { v: 1; type: 'ready' }
  | { v: 1; type: 'stopRun' }
  | { v: 1; type: 'revealRunFolder' };

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;

export function isDashboardToHost(x: unknown): x is DashboardToHost {
  return isObj(x) && x.v === DASHBOARD_PROTOCOL_VERSION && (x.type === 'ready' || x.type === 'stopRun' || x.type === 'revealRunFolder');
}

export function isHostToDashboard(x: unknown): x is HostToDashboard {
  if (!isObj(x) || x.v !== DASHBOARD_PROTOCOL_VERSION) return false;
  switch (x.type) {
    case 'init': return isObj(x.run) && Array.isArray(x.rows);
    case 'metrics': return Array.isArray(x.rows);
    case 'status': return typeof x.status === 'string' && typeof x.step === 'number';
    default: return false;
  }
}
