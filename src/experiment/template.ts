/** The commented starting point of a new experiment file ("New Experiment" in the editor). */

/**
 * A new `*.lora.json` text: every key written out with its default (validation 0.05, as
 * most users want a validation curve) and a comment saying what it does.
 *
 * @param name experiment name (letters, digits, `.`, `_`, `-`; see `experimentNameProblem`)
 * @param model local model folder (relative to the new file's folder) or Hub id `owner/name`
 * @param train training data file, relative to the new file's folder
 * @returns JSONC text that `parseExperiment` accepts when `name` is valid
 */
export function defaultExperiment(name: string, model: string, train: string): string {
  const q = (s: string) => JSON.stringify(s);
  return alignComments(`// LoRA Lab experiment. Hover a key for its documentation; a key left out takes its default.
// Relative paths are resolved against this file's folder.
{
  // Runs are written to <runs dir>/<name>-<date>-<time>/: letters, digits, ".", "_" and "-".
  "name": ${q(name)},
  // A local Hugging Face model folder (config.json, tokenizer.json, *.safetensors) or a Hub id (owner/name).
  "model": ${q(model)},
  // A PEFT adapter folder to continue training from; null starts a fresh adapter.
  "init_adapter": null,

  // Data, with TRL SFTConfig names.
  "data": {
    "train": ${q(train)},                 // .jsonl ({"text"} | {"prompt","completion"} | {"messages"}) or .txt
    "validation": 0.05,                   // a file, a fraction of the training documents, or null for none
    "max_seq_length": 512,                // tokens per sequence: longer text records are chunked, prompt/completion and chat records truncated
    "packing": false,                     // concatenate records into full-length sequences
    "pad_to_multiple_of": 64,             // pad batches to a multiple of this (length buckets); null: to the longest row
    "completion_only_loss": true,         // loss on completions / assistant turns only
    "skip_bad_records": false             // skip unreadable records instead of stopping
  },

  // PEFT LoraConfig. The update is scaled by lora_alpha / r (lora_alpha / sqrt(r) with use_rslora).
  "lora": {
    "r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.0,
    "target_modules": "all-linear",       // or a list such as ["q_proj", "v_proj"], or a regular expression
    "use_rslora": false,
    "rank_pattern": {},                   // per-module r, e.g. {"q_proj": 8}: pattern (a module-name suffix regex) → rank
    "alpha_pattern": {}                   // per-module lora_alpha, matched like rank_pattern
  },

  // Hugging Face TrainingArguments (AdamW). Steps are optimizer steps.
  // Defaults follow "LoRA Without Regret" (thinkingmachines.ai/blog/lora): all linear layers,
  // lora_alpha 32 with 1/r scaling, about 10x the full fine-tuning rate, constant rate without warmup.
  // "loralab advise" (and the editor's hints) check these against your model and data.
  "training": {
    "learning_rate": 2e-4,
    "lr_scheduler_type": "constant",      // constant | constant_with_warmup | linear | cosine
    "warmup_steps": 0,                    // wins over warmup_ratio when > 0
    "warmup_ratio": 0.0,                  // fraction of max_steps, used when warmup_steps is 0
    "max_steps": 500,
    "per_device_train_batch_size": 8,     // sequences per forward/backward pass
    "gradient_accumulation_steps": 1,     // passes per optimizer step
    "weight_decay": 0.0,
    "max_grad_norm": 1.0,                 // 0 disables clipping
    "gradient_checkpointing": false,      // true: recompute layers in the backward (less memory)
    "precision": "auto",                  // auto | fp32 | fp16 | bf16: base weights' format (auto: fp16 on GPUs, fp32 on CPU)
    "adam_beta1": 0.9,
    "adam_beta2": 0.999,
    "adam_epsilon": 1e-8,
    "eval_steps": 50,                     // validation loss every N steps, and at step 0
    "save_steps": 100,                    // resumable checkpoint every N steps
    "logging_steps": 1,                   // a metrics.jsonl line every N steps
    "seed": 0
  },

  "device": "auto",                       // auto | cpu | cuda | webgpu

  // The "LoRA Without Regret" advisor (hints in this editor, loralab advise). It never changes training.
  "advise": {
    "full_finetune_learning_rate": null,  // a rate known to work for full fine-tuning: LoRA's suggestion is 10x it
    "ignore": []                          // finding ids not to show, e.g. ["lora-alpha"]
  }
}
`);
}

/** Column (0-based) where trailing comments start; a longer line gets one space before its comment. */
export const COMMENT_COLUMN = 42;

/**
 * Moves every trailing ` // comment` of a line holding a value to `COMMENT_COLUMN` (one space
 * after the value when the value reaches past it), so comments line up whatever the paths are.
 * Whole-line comments and text inside strings are left alone (a `//` is trailing only when an
 * even number of unescaped quotes precedes it).
 */
function alignComments(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      const at = trailingComment(line);
      if (at < 0) return line;
      const code = line.slice(0, at).trimEnd();
      return `${code.padEnd(COMMENT_COLUMN - 1)} ${line.slice(at)}`;
    })
    .join('\n');
}

/** Index of a trailing `//` outside strings on a line that has code before it, else -1. */
function trailingComment(line: string): number {
  let inString = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '/' && line[i + 1] === '/') return line.slice(0, i).trim() ? i : -1;
  }
  return -1;
}
