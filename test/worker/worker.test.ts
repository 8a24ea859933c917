// The inference worker process end to end over its IPC protocol (dist/worker.js, or its source
// when the bundle is stale; see helpers.ts), on the real stories260K model: greedy generation
// reproduces the golden PyTorch continuation token by token through streamed `token` events;
// two variants in one request decode as one batch and stream interleaved; cancel mid-generation
// ends every row; score against NLLs computed here from the
// golden logits and against the golden adapter loss; an adapter that does not fit; requests
// answered in order; started without IPC.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkerEvent, WorkerRequest } from '../../src/protocol/worker';
import { isWorkerEvent } from '../../src/protocol/worker';
import { SHARED } from '../helpers/paths';
import { ADAPTER, GRADS_GOLDEN, LOGITS_GOLDEN, MODEL, WORKER, copyAdapter, forkWorker, goldenNll, writeAdapter } from './helpers';

const TIMEOUT = 120_000;

type Final = Exclude<WorkerEvent, { type: 'ready' | 'log' | 'token' }>;
type Req = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'v' | 'id'> : never) : never;

/** One worker process and a request → final-event helper that also collects the streamed tokens. */
class Conn {
  readonly child: ChildProcess;
  readonly ready: Promise<number>;
  private nextId = 1;
  readonly tokens = new Map<number, { variant: number; text: string }[]>();
  private readonly waiting = new Map<number, (e: Final) => void>();
  readonly events: WorkerEvent[] = [];
  onToken: (id: number, variant: number, text: string) => void = () => undefined;

  constructor() {
    this.child = forkWorker();
    this.child.stderr!.resume();
    this.child.stdout!.resume();
    this.ready = new Promise((resolve) => {
      this.child.on('message', (m) => {
        assert.ok(isWorkerEvent(m), `not a protocol event: ${JSON.stringify(m)}`);
        this.events.push(m);
        if (m.type === 'ready') resolve(m.pid);
        else if (m.type === 'token') {
          const list = this.tokens.get(m.id) ?? [];
          list.push({ variant: m.variant, text: m.text });
          this.tokens.set(m.id, list);
          this.onToken(m.id, m.variant, m.text);
        } else if (m.type !== 'log' && m.id !== null) this.waiting.get(m.id)?.(m);
      });
    });
  }

  /** Sends a request; resolves with its final event. */
  send(req: Req): { id: number; done: Promise<Final> } {
    const id = this.nextId++;
    const done = new Promise<Final>((resolve) => this.waiting.set(id, resolve));
    this.child.send({ v: 1, id, ...req } as WorkerRequest);
    return { id, done };
  }

  request(req: Req): Promise<Final> {
    return this.send(req).done;
  }

  async close(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    const exited = new Promise<number | null>((resolve) => this.child.on('exit', (code) => resolve(code)));
    this.child.send({ v: 1, type: 'shutdown' });
    return exited;
  }
}

let shared: Conn | undefined;
/** One worker with stories260K loaded, shared by the tests of this file. */
async function worker(_t?: unknown): Promise<Conn> {
  if (!shared) {
    shared = new Conn();
    await shared.ready;
    const loaded = await shared.request({ type: 'load', model: MODEL });
    assert.equal(loaded.type, 'loaded', JSON.stringify(loaded));
  }
  return shared;
}
test.after(async () => {
  if (shared) assert.equal(await shared.close(), 0, 'shutdown exits 0');
});

const prompt = LOGITS_GOLDEN.prompt;
const greedy = { max_new_tokens: LOGITS_GOLDEN.greedy.new_token_ids.length, temperature: 0 };

test(`ready, then load answers with the model's facts (${WORKER.bundled ? 'bundle' : 'source'})`, { timeout: TIMEOUT }, async () => {
  const c = new Conn();
  try {
    assert.equal(await c.ready, c.child.pid);
    const loaded = await c.request({ type: 'load', model: MODEL });
    assert.deepEqual({ ...loaded, provider: undefined }, {
      v: 1, type: 'loaded', id: 1, model: MODEL, model_type: 'llama', provider: undefined, max_positions: 512, has_chat_template: false,
      max_new_tokens: 128, // stories260K's generation_config.json sets none: the engine's default
    });
    assert.equal(loaded.type === 'loaded' && loaded.provider, 'cpu');
    assert.ok(c.events.some((e) => e.type === 'log' && /loaded .*stories260K/.test(e.line)), 'a log line says what was loaded');
    // a second load of the same model answers at once, the same facts
    const again = await c.request({ type: 'load', model: MODEL });
    assert.deepEqual({ ...again, id: 1 }, loaded);
    // a folder without config.json is named for that (not for the tokenizer.json it also lacks)
    const empty = await mkdtemp(join(tmpdir(), 'loralab-no-config-'));
    const noConfig = await c.request({ type: 'load', model: empty }).finally(() => rm(empty, { recursive: true, force: true }));
    assert.match(noConfig.type === 'error' ? noConfig.message : JSON.stringify(noConfig), /loralab-no-config-\w+[/\\]config\.json: missing/);
    const bad = await c.request({ type: 'load', model: join(tmpdir(), 'no-such-model-folder') });
    assert.equal(bad.type, 'error');
    assert.match(bad.type === 'error' ? bad.message : '', /no-such-model-folder.*not found/);
    assert.doesNotMatch(bad.type === 'error' ? bad.message : '', /\n| {4}at /);
    // the previous model was released: generating now says to load one
    const none = await c.request({ type: 'generate', variants: [null], prompt, params: greedy });
    assert.equal(none.type === 'error' && none.message, 'no model is loaded in the inference worker: load one first');
  } finally {
    assert.equal(await c.close(), 0);
  }
});

test('greedy generation reproduces the golden continuation; the streamed tokens add up to the text', { timeout: TIMEOUT }, async (t) => {
  const c = await worker(t);
  const { id, done } = c.send({ type: 'generate', variants: [null], prompt, params: greedy });
  const res = await done;
  assert.equal(res.type, 'generated', JSON.stringify(res));
  if (res.type !== 'generated') return;
  assert.deepEqual(res.results[0].ids, LOGITS_GOLDEN.greedy.new_token_ids);
  assert.equal(res.results[0].finish_reason, 'length');
  assert.equal(res.results[0].adapter, null);
  const tokens = c.tokens.get(id)!;
  assert.ok(tokens.length >= 10, `streamed in many pieces (${tokens.length})`);
  assert.ok(tokens.every((x) => x.variant === 0));
  assert.equal(tokens.map((x) => x.text).join(''), res.results[0].text);
  assert.match(res.results[0].text, /^ She loved to play/);
});

test('two variants in one request: one batch, the two streams interleaved; each row equals its variant run alone', { timeout: TIMEOUT }, async (t) => {
  const c = await worker(t);
  const dir = await mkdtemp(join(tmpdir(), 'loralab-worker-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { id, done } = c.send({ type: 'generate', variants: [null, ADAPTER], prompt, params: greedy });
  const res = await done;
  assert.equal(res.type, 'generated', JSON.stringify(res));
  if (res.type !== 'generated') return;
  const [base, tuned] = res.results;
  assert.deepEqual(base.ids, LOGITS_GOLDEN.greedy.new_token_ids, 'the base variant is the golden greedy continuation');
  assert.equal(tuned.adapter, ADAPTER);
  const streamed = c.tokens.get(id)!;
  assert.equal(streamed.filter((x) => x.variant === 0).map((x) => x.text).join(''), base.text);
  assert.equal(streamed.filter((x) => x.variant === 1).map((x) => x.text).join(''), tuned.text);
  // One batch: the adapter's first piece comes before the base's last, and the streams alternate
  // (one after the other would switch variant once).
  assert.ok(streamed.findIndex((x) => x.variant === 1) < streamed.findLastIndex((x) => x.variant === 0), 'the variants stream together');
  const switches = streamed.filter((x, i) => i > 0 && x.variant !== streamed[i - 1].variant).length;
  assert.ok(switches >= 10, `the streams interleave (${switches} switches between variants)`);
  // the adapter alone gives the same completion (a row does not depend on the other rows)
  const alone = await c.request({ type: 'generate', variants: [ADAPTER], prompt, params: greedy });
  assert.deepEqual(alone.type === 'generated' && alone.results[0].ids, tuned.ids);
  // the adapter acts: the golden adapter is small, so its greedy text departs from the base late;
  // the same adapter with lora_alpha 8 → 800 (scaling 200) departs at once
  assert.notDeepEqual(tuned.ids, base.ids);
  const strong = await copyAdapter(join(dir, 'strong'), { lora_alpha: 800 });
  const loud = await c.request({ type: 'generate', variants: [strong], prompt, params: { ...greedy, max_new_tokens: 5 } });
  assert.notDeepEqual(loud.type === 'generated' && loud.results[0].ids, base.ids.slice(0, 5));
});

test('cancel mid-generation ends every row: finish_reason cancelled with the tokens so far; the next request is answered', { timeout: TIMEOUT }, async (t) => {
  const c = await worker(t);
  const max = 490;
  let sent = false;
  const req = c.send({ type: 'generate', variants: [null, ADAPTER], prompt, params: { max_new_tokens: max, temperature: 0 } });
  c.onToken = (id) => {
    if (id === req.id && !sent) {
      sent = true;
      c.child.send({ v: 1, type: 'cancel', id: req.id });
    }
  };
  const res = await req.done;
  c.onToken = () => undefined;
  assert.equal(res.type, 'generated', JSON.stringify(res));
  if (res.type !== 'generated') return;
  const [first, second] = res.results;
  // Both rows ran together and stopped together, soon after the first token (a few tokens pass while the cancel travels).
  for (const [i, r] of res.results.entries()) {
    assert.equal(r.finish_reason, 'cancelled', `row ${i}`);
    assert.ok(r.ids.length >= 1 && r.ids.length < max / 2, `row ${i} stopped early (${r.ids.length} of ${max} tokens)`);
    assert.equal(c.tokens.get(req.id)!.filter((x) => x.variant === i).map((x) => x.text).join(''), r.text, `row ${i}: the streamed pieces add up to its text`);
  }
  assert.equal(second.ids.length, first.ids.length, 'the rows step together');
  const known = LOGITS_GOLDEN.greedy.new_token_ids;
  assert.deepEqual(first.ids.slice(0, known.length), known.slice(0, first.ids.length), 'the tokens so far are the greedy ones');
  const adapterAlone = await c.request({ type: 'generate', variants: [ADAPTER], prompt, params: { max_new_tokens: second.ids.length, temperature: 0 } });
  assert.deepEqual(adapterAlone.type === 'generated' && adapterAlone.results[0].ids, second.ids, "the adapter row's tokens so far are its greedy ones");
  // a queued generate is answered at once when cancelled, without running
  const busy = c.send({ type: 'score', adapter: null, text: prompt });
  const queued = c.send({ type: 'generate', variants: [null], prompt, params: greedy });
  c.child.send({ v: 1, type: 'cancel', id: queued.id });
  const q = await queued.done;
  assert.deepEqual(q.type === 'generated' && q.results, [{ adapter: null, ids: [], text: '', finish_reason: 'cancelled' }]);
  assert.equal(c.tokens.get(queued.id), undefined);
  assert.equal((await busy.done).type, 'scored');
  const after = await c.request({ type: 'generate', variants: [null], prompt, params: greedy });
  assert.deepEqual(after.type === 'generated' && after.results[0].ids, LOGITS_GOLDEN.greedy.new_token_ids);
});

test('score: per-token NLL equals the NLL computed from the golden logits; tokens are strings', { timeout: TIMEOUT }, async (t) => {
  const c = await worker(t);
  const res = await c.request({ type: 'score', adapter: null, text: prompt });
  assert.equal(res.type, 'scored', JSON.stringify(res));
  if (res.type !== 'scored') return;
  assert.deepEqual(res.token_ids, LOGITS_GOLDEN.token_ids);
  const want = goldenNll();
  assert.equal(res.nll.length, want.length);
  res.nll.forEach((x, i) => assert.ok(Math.abs(x - want[i]) < 1e-4, `nll[${i}] = ${x}, golden ${want[i]}`));
  assert.ok(Math.abs(res.mean_nll - want.reduce((a, b) => a + b, 0) / want.length) < 1e-5);
  assert.equal(res.tokens.length, res.token_ids.length);
  assert.equal(res.tokens[0], '<s>');
  assert.equal(res.tokens.slice(1).join('').replace(/▁/g, ' ').trim(), prompt);
});

test('score normalises like `loralab score` and training: a BOM dropped, CRLF read as LF (golden token ids of the LF text)', { timeout: TIMEOUT }, async (t) => {
  const c = await worker(t);
  const golden = (JSON.parse(readFileSync(join(SHARED, 'golden/stories260K_tokenizer.json'), 'utf8')) as { cases: { text: string; ids: number[] }[] }).cases
    .find((x) => x.text.includes('\n\n') && !x.text.includes('\r'))!;
  const res = await c.request({ type: 'score', adapter: null, text: `\uFEFF${golden.text.replace(/\n/g, '\r\n')}` });
  assert.equal(res.type, 'scored', JSON.stringify(res));
  assert.deepEqual(res.type === 'scored' && res.token_ids, golden.ids);
});

test('score with the golden adapter: mean NLL equals the golden adapter loss, not the base loss', { timeout: TIMEOUT }, async (t) => {
  const c = await worker(t);
  const tuned = await c.request({ type: 'score', adapter: ADAPTER, text: GRADS_GOLDEN.text });
  const base = await c.request({ type: 'score', adapter: null, text: GRADS_GOLDEN.text });
  assert.ok(tuned.type === 'scored' && base.type === 'scored');
  assert.deepEqual(tuned.token_ids, GRADS_GOLDEN.token_ids);
  // golden: 1.4957573 with the adapter, 1.4962987 without (a 5e-4 gap)
  assert.ok(Math.abs(tuned.mean_nll - GRADS_GOLDEN.loss_value) < 2e-5, `adapter: ${tuned.mean_nll} vs ${GRADS_GOLDEN.loss_value}`);
  assert.ok(Math.abs(base.mean_nll - GRADS_GOLDEN.base_model_loss_without_lora) < 2e-5, `base: ${base.mean_nll} vs ${GRADS_GOLDEN.base_model_loss_without_lora}`);
});

test('activate: the adapter facts; an adapter that does not fit is a one-line error naming the tensor and both shapes', { timeout: TIMEOUT }, async (t) => {
  const c = await worker(t);
  const dir = await mkdtemp(join(tmpdir(), 'loralab-worker-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ok = await c.request({ type: 'activate', adapter: ADAPTER });
  assert.deepEqual(ok.type === 'activated' && ok.adapter, {
    path: ADAPTER, r: 4, lora_alpha: 8, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], base_model_name_or_path: 'stories260K',
  });
  assert.deepEqual(await c.request({ type: 'activate', adapter: null }), { v: 1, type: 'activated', id: (ok as { id: number }).id + 1, adapter: null });

  // stories260K's q_proj maps 64 → 64 features; this lora_A takes 32
  const bad = await writeAdapter(join(dir, 'bad'), {
    'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight': [4, 32],
    'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight': [64, 4],
  });
  for (const req of [{ type: 'activate', adapter: bad }, { type: 'generate', variants: [null, bad], prompt, params: greedy }, { type: 'score', adapter: bad, text: prompt }] as Req[]) {
    const err = await c.request(req);
    assert.equal(err.type, 'error', `${req.type}: ${JSON.stringify(err)}`);
    const msg = err.type === 'error' ? err.message : '';
    assert.match(msg, /base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight/);
    assert.match(msg, /\[4, 32\].*\[4, 64\]/);
    assert.match(msg, new RegExp(join(dir, 'bad').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    assert.doesNotMatch(msg, /\n/);
  }
  // nothing was streamed for the generate that failed its check, and the worker still serves
  const missing = await c.request({ type: 'activate', adapter: join(dir, 'nothing-here') });
  assert.equal(missing.type, 'error');
  assert.match(missing.type === 'error' ? missing.message : '', /nothing-here/);
  assert.equal((await c.request({ type: 'score', adapter: null, text: prompt })).type, 'scored');
});

test('requests are answered one at a time, in order; bad sampling settings and empty texts are one-line errors', { timeout: TIMEOUT }, async (t) => {
  const c = await worker(t);
  const order: number[] = [];
  const reqs = [
    c.send({ type: 'generate', variants: [null], prompt, params: { max_new_tokens: 8, temperature: 0 } }),
    c.send({ type: 'score', adapter: null, text: prompt }),
    c.send({ type: 'activate', adapter: ADAPTER }),
    c.send({ type: 'generate', variants: [null], prompt, params: { max_new_tokens: 4, temperature: 0.7, top_p: 0.9, seed: 3 } }),
  ];
  const finals = await Promise.all(reqs.map((r) => r.done.then((e) => (order.push(r.id), e))));
  assert.deepEqual(order, reqs.map((r) => r.id));
  assert.deepEqual(finals.map((f) => f.type), ['generated', 'scored', 'activated', 'generated']);
  const sampled = finals[3];
  assert.equal(sampled.type === 'generated' && sampled.results[0].ids.length, 4);

  const topP = await c.request({ type: 'generate', variants: [null], prompt, params: { temperature: 1, top_p: 1.5 } });
  assert.equal(topP.type === 'error' && topP.message, 'top_p must be in (0, 1] (1 = off), got 1.5');
  const chat = await c.request({ type: 'generate', variants: [null], messages: [{ role: 'user', content: 'hi' }], params: greedy });
  assert.match(chat.type === 'error' ? chat.message : '', /has no chat_template/);
  const empty = await c.request({ type: 'score', adapter: null, text: '' });
  assert.equal(empty.type === 'error' && empty.message, 'the text is empty: there is no token to score');
  // A request the guard rejects but that carries an id is answered (the caller would wait forever).
  const malformed = await c.request({ type: 'score', adapter: null, text: 42 } as unknown as Req);
  assert.equal(malformed.type === 'error' && malformed.message, 'the inference worker could not read a "score" request (bad or missing fields); update the extension and the worker together');
  assert.equal((await c.request({ type: 'score', adapter: null, text: prompt })).type, 'scored', 'the next request is answered');
});

test('started from a terminal (no IPC): a one-line hint and exit code 2', () => {
  const res = spawnSync(process.execPath, [...WORKER.execArgv, WORKER.file], { encoding: 'utf8' });
  assert.equal(res.status, 2);
  assert.match(res.stderr, /started by the LoRA Lab extension over IPC/);
});
