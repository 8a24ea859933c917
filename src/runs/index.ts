/**
 * The run store: run folders (`run.json`, `metrics.jsonl`, `log.txt`, `checkpoints/step-<n>/`,
 * `adapter/`), shared by the CLI, the trainer process and the VS Code extension. Plain Node:
 * no `vscode` and no `onnxruntime-node` import.
 */
export * from './types';
export { RunError, namedWrite, writeProblem } from './errors';
export { isProcessAlive } from './fsutil';
export {
  ADAPTER_DIR,
  CHECKPOINTS_DIR,
  LOG_FILE,
  RUN_FILE,
  createRun,
  effectiveStatus,
  openRun,
  parseRunJson,
  runTimestamp,
  sanitizeRunName,
  type RunHandle,
} from './run';
export { METRICS_FILE, type MetricsColumns, type MetricsValueField, dropOrphanedRows, formatMetricsRow, lastMetrics, parseMetricsLine, readMetrics, readMetricsColumns, tailMetrics } from './metrics';
export { CHECKPOINT_MARKER, latestCheckpoint, listCheckpoints, writeCheckpointAtomic, writeDirAtomic } from './checkpoints';
export { defaultRunsDir, listRuns, summarizeRun } from './list';
export { SWEEP_FILE, bestPoint, isSweepDir, readSweep, readSweepTask, sweepState, validationCurve, writeSweep, writeSweepTask, type SweepBackend, type SweepJson, type SweepLaunch, type SweepPointState, type SweepTaskJson } from './sweep';
