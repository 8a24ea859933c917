/** One `metrics.jsonl` row as it travels over IPC and `--json` (same fields as the file). */
export interface MetricsRowLike {
  step: number;
  time: number;
  train_loss?: number;
  val_loss?: number;
  lr?: number;
  grad_norm?: number;
  tokens?: number;
  tokens_per_s?: number;
}
