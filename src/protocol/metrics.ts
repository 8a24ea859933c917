/** One `metrics.jsonl` row as it travels over IPC and `--json` (same fields as the file). */
export interface MetricsRowLike {
  /** Optimizer steps done. */
  step: number;
  /** Seconds since the start of the run (continues across resumes). */
  time: number;
  /** Token-mean training loss over the logging window. */
  train_loss?: number;
  /** Validation loss, when evaluated at this step. */
  val_loss?: number;
  /** Learning rate used for this step. */
  lr?: number;
  /** Global gradient norm before clipping. */
  grad_norm?: number;
  /** Tokens processed so far (cumulative, padding excluded). */
  tokens?: number;
  /**
   * Training throughput over the logging window: input tokens / seconds spent training. Time
   * spent in validation, eval sets and checkpoint writes is left out (see `val_time`).
   */
  tokens_per_s?: number;
  /** Seconds spent at this step computing `val_loss` and the eval sets (not part of `tokens_per_s`). */
  val_time?: number;
  /** Eval sets run at a checkpoint: `eval/<set>/<metric>` (mean score) and `eval/<set>/pass_rate`. */
  [evalKey: `eval/${string}`]: number | undefined;
}

/** Whether a metrics key is an eval-set result, `eval/<set>/<metric>`. */
export const isEvalMetricKey = (key: string): key is `eval/${string}` => /^eval\/[^/]+\/[^/]+$/.test(key);
