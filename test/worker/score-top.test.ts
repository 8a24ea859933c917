// The worker's `score` lists, per predicted position, the 5 most probable next tokens with their
// probabilities: checked against a float64 softmax of the independent PyTorch golden logits
// (../shared/golden/stories260K_logits.json), computed here. Plus `topKFromLogits` on a
// hand-built row (order, ties, k larger than a tie group).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { topKFromLogits } from '../../src/engine/infer/score';
import { loadTokenizer } from '../../src/engine/tokenizer/index';
import { LOGITS_GOLDEN, MODEL, inProcessService } from './helpers';

test('topKFromLogits: most probable first, ties by lower id, probabilities of the whole row', () => {
  const row = [1, 3, 0, 3, 2, -1];
  const z = row.reduce((a, x) => a + Math.exp(x), 0);
  const top = topKFromLogits({ shape: [1, 2, 6], data: new Float32Array([...new Array(6).fill(0), ...row]), dtype: 'float32' } as never, 1, 4);
  assert.deepEqual(top.map((c) => c.id), [1, 3, 4, 0]);
  top.forEach((c) => assert.ok(Math.abs(c.p - Math.exp(row[c.id]) / z) < 1e-12, `${c.id}: ${c.p}`));
});

test('worker score: top-5 next tokens per position equal the softmax of the golden logits', async () => {
  const { svc, request } = inProcessService();
  assert.equal((await request({ type: 'load', model: MODEL, threads: 1 })).type, 'loaded');
  const res = await request({ type: 'score', adapter: null, text: LOGITS_GOLDEN.prompt });
  assert.equal(res.type, 'scored', JSON.stringify(res));
  if (res.type !== 'scored') return;
  assert.deepEqual(res.token_ids, LOGITS_GOLDEN.token_ids);
  const tok = await loadTokenizer(MODEL);
  const golden = LOGITS_GOLDEN.logits as number[][];
  assert.equal(res.top!.length, res.nll.length);
  res.top!.forEach((cands, t) => {
    const row = golden[t];
    const max = Math.max(...row);
    const z = row.reduce((a, x) => a + Math.exp(x - max), 0);
    const ref = row.map((x, v) => ({ v, p: Math.exp(x - max) / z })).sort((a, b) => b.p - a.p || a.v - b.v).slice(0, 5);
    assert.equal(cands.length, 5);
    cands.forEach((c, i) => {
      assert.ok(Math.abs(c.p - ref[i].p) < 1e-4, `position ${t} rank ${i}: p ${c.p} vs ${ref[i].p}`);
      // Near-ties may swap between float32 and PyTorch: then the probabilities still agree.
      if (i === 0 || Math.abs(ref[i].p - ref[i - 1].p) > 1e-4) assert.equal(c.token, tok.tokenToString(ref[i].v), `position ${t} rank ${i}`);
    });
    // The target's probability, when it is among the top 5, is exp(-nll) of the same position.
    const hit = cands.find((c) => c.token === res.tokens[t + 1]);
    if (hit) assert.ok(Math.abs(hit.p - Math.exp(-res.nll[t])) < 1e-5);
  });
  await svc.close();
});
