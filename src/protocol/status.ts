/**
 * A run's status, defined once for every side: run.json stores `running`, `completed`,
 * `failed` or `stopped`; `crashed` is derived (a `running` run whose process is gone, DESIGN.md
 * "Files a user sees"). The run store (runs/), the trainer, the CLI and the webviews share it.
 */
export type RunStatus = 'running' | 'completed' | 'failed' | 'stopped' | 'crashed';

/** How a training process ends: the statuses a trainer reports when it exits. */
export type RunStatusFinal = Extract<RunStatus, 'completed' | 'failed' | 'stopped'>;
