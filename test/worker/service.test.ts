// The worker's request handling in process (src/worker/service.ts), counting ONNX Runtime
// session builds: one session per loaded model serves every adapter as feeds, including an
// adapter on only some modules (the others get zero feeds); the variants of a request decode as
// one multi-LoRA batch, and each adapter row equals that adapter run alone on a graph built
// separately with it from the start (no KV cache, no multi-LoRA gather, LoRA only on its
// modules), the base rows the golden PyTorch continuation; loading another model releases the
// previous session.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CausalLM } from '../../src/engine/infer/causal-lm';
import { fullForwardStep, generate } from '../../src/engine/infer/generate';
import { HF_DEFAULTS } from '../../src/engine/infer/generation-config';
import { Session } from '../../src/engine/runtime/session';
import { loadTokenizer } from '../../src/engine/tokenizer/index';
import { readPeftAdapter } from '../../src/engine/weights/peft';
import type { WorkerEvent, WorkerRequest } from '../../src/protocol/worker';
import { InferenceService } from '../../src/worker/service';
import { ADAPTER, LOGITS_GOLDEN, MODEL, writeAdapter } from './helpers';

type Final = Exclude<WorkerEvent, { type: 'ready' | 'log' | 'token' }>;

function service() {
  const events: WorkerEvent[] = [];
  const waiting = new Map<number, (e: Final) => void>();
  const svc = new InferenceService((e) => {
    events.push(e);
    if (e.type !== 'ready' && e.type !== 'log' && e.type !== 'token' && e.id !== null) waiting.get(e.id)?.(e);
  });
  let id = 0;
  const request = (req: Record<string, unknown>) => {
    const msg = { v: 1, id: ++id, ...req } as WorkerRequest;
    const done = new Promise<Final>((resolve) => waiting.set(id, resolve));
    svc.handle(msg as Exclude<WorkerRequest, { type: 'shutdown' }>);
    return done;
  };
  return { svc, events, request };
}

test('one session serves every adapter; a partial adapter equals a graph built with it; a new load releases the old session', { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'loralab-svc-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // LoRA on q_proj and v_proj of every layer only, strong enough to change the text
  const tensors: Record<string, number[]> = {};
  for (let l = 0; l < 5; l++) {
    for (const m of ['q_proj', 'v_proj']) {
      tensors[`base_model.model.model.layers.${l}.self_attn.${m}.lora_A.weight`] = [2, 64];
      tensors[`base_model.model.model.layers.${l}.self_attn.${m}.lora_B.weight`] = [m === 'q_proj' ? 64 : 32, 2];
    }
  }
  const partial = await writeAdapter(join(dir, 'partial'), tensors, { r: 2, lora_alpha: 400, target_modules: ['q_proj', 'v_proj'] });

  const create = Session.create;
  const release = Session.prototype.release;
  let builds = 0;
  let releases = 0;
  Session.create = async (...a: Parameters<typeof Session.create>) => (builds++, create.apply(Session, a));
  Session.prototype.release = async function (this: Session) {
    releases++;
    return release.call(this);
  };
  const { svc, request } = service();
  try {
    assert.equal((await request({ type: 'load', model: MODEL })).type, 'loaded');
    const n = 12;
    const gen = await request({ type: 'generate', variants: [null, partial, ADAPTER, null], prompt: LOGITS_GOLDEN.prompt, params: { max_new_tokens: n, temperature: 0 } });
    assert.equal((await request({ type: 'activate', adapter: partial })).type, 'activated');
    assert.equal((await request({ type: 'score', adapter: ADAPTER, text: LOGITS_GOLDEN.prompt })).type, 'scored');
    assert.equal(builds, 1, 'one session for every variant, activation and score');
    assert.equal(gen.type, 'generated', JSON.stringify(gen));
    if (gen.type !== 'generated') return;
    const [base, p, golden, baseAgain] = gen.results;
    assert.deepEqual(base.ids, LOGITS_GOLDEN.greedy.new_token_ids.slice(0, n));
    assert.deepEqual(baseAgain.ids, base.ids, 'back to the base after two adapters');
    assert.notDeepEqual(p.ids, base.ids, 'the partial adapter changes the continuation');

    // Reference: per adapter, a separately built full-forward graph with LoRA only on its modules, run alone.
    Session.create = create;
    const tok = await loadTokenizer(MODEL);
    for (const [row, dir] of [[p, partial], [golden, ADAPTER]] as const) {
      const lm = await CausalLM.load(MODEL, { adapter: { adapter: await readPeftAdapter(dir), source: dir } });
      try {
        const ref = await generate(fullForwardStep(lm), tok.encode(LOGITS_GOLDEN.prompt), {
          maxNewTokens: n, sampling: HF_DEFAULTS, eosTokenIds: tok.eosTokenIds, decode: (ids) => tok.decode(ids, { skipSpecialTokens: true }),
        });
        assert.deepEqual(row.ids, ref.ids, `${dir}: the batched row = the adapter alone`);
        assert.equal(row.text, ref.text);
      } finally {
        await lm.release();
      }
    }
    Session.create = async (...a: Parameters<typeof Session.create>) => (builds++, create.apply(Session, a));
    const releasedBefore = releases;
    assert.equal((await request({ type: 'load', model: MODEL, threads: 1 })).type, 'loaded');
    assert.equal(builds, 2, 'other settings: a new session');
    assert.equal(releases, releasedBefore + 1, 'the previous session was released first');
  } finally {
    Session.create = create;
    Session.prototype.release = release;
    await svc.close();
  }
});
