/**
 * Fixtures of the inference worker tests: the worker entry to fork, golden values, adapter
 * folders written by hand.
 *
 * The worker forked is the bundle `dist/worker.js` (what the extension forks) when it is newer
 * than every file under src/; otherwise (not built, or src changed since `npm run build`) the
 * same code from `src/worker/main.ts` through tsx, so a stale bundle never hides a change.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, SHARED } from '../helpers/paths';
import assert from 'node:assert/strict';
import { type WorkerEvent, type WorkerRequest, isWorkerRequest } from '../../src/protocol/worker';
import { InferenceService } from '../../src/worker/service';

export const MODEL = join(SHARED, 'models/stories260K');
export const ADAPTER = join(SHARED, 'golden/adapters/stories260K_r4_a8');

export const LOGITS_GOLDEN = JSON.parse(readFileSync(join(SHARED, 'golden/stories260K_logits.json'), 'utf8')) as {
  prompt: string;
  token_ids: number[];
  logits: number[][];
  greedy: { new_token_ids: number[] };
};
export const GRADS_GOLDEN = JSON.parse(readFileSync(join(SHARED, 'golden/stories260K_lora_grads.json'), 'utf8')) as {
  text: string;
  token_ids: number[];
  loss_value: number;
  base_model_loss_without_lora: number;
};

const BUNDLE = join(ROOT, 'dist/worker.js');

function newestSource(dir: string): number {
  let newest = 0;
  for (const f of readdirSync(dir, { recursive: true }).map(String)) {
    if (f.endsWith('.ts')) newest = Math.max(newest, statSync(join(dir, f)).mtimeMs);
  }
  return newest;
}

/** How the worker is started: the up-to-date bundle, else the source through tsx. */
export const WORKER: { file: string; execArgv: string[]; bundled: boolean } = (() => {
  try {
    if (statSync(BUNDLE).mtimeMs >= newestSource(join(ROOT, 'src'))) return { file: BUNDLE, execArgv: [], bundled: true };
  } catch {
    // not built
  }
  return { file: join(ROOT, 'src/worker/main.ts'), execArgv: ['--import', 'tsx'], bundled: false };
})();

/** Forks the real worker as the extension does (stdio ignore / pipe / pipe / ipc). */
export function forkWorker(env: NodeJS.ProcessEnv = process.env): ChildProcess {
  return fork(WORKER.file, [], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], execArgv: WORKER.execArgv, env });
}

/**
 * NLL (natural log) of token_ids[t + 1] from the golden logits row t, in float64: the reference
 * for `score`, computed here from the independent PyTorch logits.
 */
export function goldenNll(): number[] {
  const { logits, token_ids } = LOGITS_GOLDEN;
  return token_ids.slice(1).map((target, t) => {
    const row = logits[t];
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
    return lse - row[target];
  });
}

/**
 * Writes a PEFT adapter folder: the golden adapter's config with `config` over it, and float32
 * tensors (name → shape, every value 0.01). The safetensors file is written by hand from the
 * format's rules (8-byte little-endian header length, JSON header, raw little-endian data).
 */
export async function writeAdapter(dir: string, tensors: Record<string, number[]>, config: Record<string, unknown> = {}): Promise<string> {
  await mkdir(dir, { recursive: true });
  const base = JSON.parse(readFileSync(join(ADAPTER, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ ...base, ...config }));
  const header: Record<string, unknown> = {};
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [name, shape] of Object.entries(tensors)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = Buffer.from(new Float32Array(n).fill(0.01).buffer);
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.length] };
    chunks.push(data);
    offset += data.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  await writeFile(join(dir, 'adapter_model.safetensors'), Buffer.concat([len, Buffer.from(json), ...chunks]));
  return dir;
}

/** A copy of the golden adapter with other adapter_config.json fields (e.g. a larger lora_alpha). */
export async function copyAdapter(dir: string, config: Record<string, unknown>): Promise<string> {
  await mkdir(dir, { recursive: true });
  await copyFile(join(ADAPTER, 'adapter_model.safetensors'), join(dir, 'adapter_model.safetensors'));
  const base = JSON.parse(readFileSync(join(ADAPTER, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ ...base, ...config }));
  return dir;
}

/**
 * The chat template of {@link chatModel}: BOS, then the messages' contents back to back, so a
 * chat case `[{user: "Once upon a time,"}]` + expected "there was a little girl named Lily."
 * encodes to exactly the golden token ids (the golden logits then score it independently).
 */
export const CONCAT_CHAT_TEMPLATE = "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}";

/** A stories260K folder (files linked) whose tokenizer_config.json has `template` as its chat_template. */
export async function chatModel(dir: string, template = CONCAT_CHAT_TEMPLATE): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'generation_config.json']) await symlink(join(MODEL, f), join(dir, f));
  const config = JSON.parse(readFileSync(join(MODEL, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, chat_template: template }));
  return dir;
}

/** A worker's final answer to a request (not `ready`, `log` or a streamed `token`). */
export type Final = Exclude<WorkerEvent, { type: 'ready' | 'log' | 'token' }>;

/**
 * The worker's request handling in this process, without IPC: `request` sends one request (the
 * id added, checked with the protocol guard) and resolves with its final event.
 */
export function inProcessService(): { svc: InferenceService; request: (req: Record<string, unknown>) => Promise<Final> } {
  const waiting = new Map<number, (e: Final) => void>();
  const svc = new InferenceService((e) => {
    if (e.type !== 'ready' && e.type !== 'log' && e.type !== 'token' && e.id !== null) waiting.get(e.id)?.(e);
  });
  let id = 0;
  const request = (req: Record<string, unknown>) => {
    const done = new Promise<Final>((resolve) => waiting.set(++id, resolve));
    const msg = { v: 1, id, ...req };
    assert.ok(isWorkerRequest(msg), `a valid request: ${JSON.stringify(msg)}`);
    svc.handle(msg as Exclude<WorkerRequest, { type: 'shutdown' }>);
    return done;
  };
  return { svc, request };
}
