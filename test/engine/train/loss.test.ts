// The fused, chunked cross-entropy (engine/train/loss.ts) against a float64 reference written
// here (log-sum-exp per row), finite differences of its hand-written gradient, the structure of
// the training graph (no (B, T, V) tensor, no one-hot scatter), and completion-only rows left out
// of lm_head.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, type Value } from '../../../src/engine/graph/ir';
import { serializeModel } from '../../../src/engine/graph/onnx';
import { Session } from '../../../src/engine/runtime/session';
import { constant } from '../../../src/engine/ops/index';
import { causalLMLoss, chunkedCrossEntropy } from '../../../src/engine/train/loss';
import { gradients } from '../../../src/engine/autodiff/index';
import { addLossAndGradients } from '../../../src/engine/train/step';
import { loadCausalLM } from '../../../src/engine/models/index';
import { createRng } from '../../../src/engine/data/random';
import { gradCheck } from '../../helpers/gradcheck';
import { SHARED } from '../../helpers/paths';

const N = 7;
const D = 4;
const V = 5;
const rand = createRng(11);
const hidden = Array.from({ length: N * D }, () => rand() * 2 - 1);
const head = Array.from({ length: D * V }, () => rand() * 2 - 1); // (D, V)
const labels = [0, 4, 2, 2, 1, 3, 0];
const weights = [0.1, 0.2, 0, 0.3, 0.05, 0.15, 0.2];

/** float64 reference: nll_i = logΣ_v exp(z_iv) − z_i,label with z = h·W. */
function reference(): number[] {
  return labels.map((y, i) => {
    const z = Array.from({ length: V }, (_, v) => {
      let s = 0;
      for (let d = 0; d < D; d++) s += hidden[i * D + d] * head[d * V + v];
      return s;
    });
    const m = Math.max(...z);
    return m + Math.log(z.reduce((a, x) => a + Math.exp(x - m), 0)) - z[y];
  });
}

const ce = (h: Value, lab: Value, chunkRows: number, grad: boolean) =>
  chunkedCrossEntropy(h, constant(h.graph, { dtype: 'float64', shape: [D, V], data: Float64Array.from(head) }), lab,
    constant(h.graph, { dtype: 'float64', shape: [N], data: Float64Array.from(weights) }), { chunkRows, grad });

for (const chunkRows of [1, 3, 7, 16]) {
  test(`chunked cross-entropy (${chunkRows} rows per chunk) matches the float64 reference`, async () => {
    const g = new Graph('ce');
    const h = g.input('h', 'float64', [N, D]);
    const lab = g.input('labels', 'int64', [N]);
    const { nll, loss } = ce(h, lab, chunkRows, false);
    g.output(nll, 'nll');
    g.output(loss, 'loss');
    const s = await Session.create(serializeModel(g), { threads: 1 });
    const out = await s.run({
      h: { dtype: 'float64', shape: [N, D], data: Float64Array.from(hidden) },
      labels: { dtype: 'int64', shape: [N], data: BigInt64Array.from(labels.map(BigInt)) },
    });
    const want = reference();
    assert.deepEqual(out.nll.shape, [N]);
    want.forEach((x, i) => assert.ok(Math.abs(Number(out.nll.data[i]) - x) < 1e-12, `row ${i}: ${out.nll.data[i]} vs ${x}`));
    const wantLoss = want.reduce((a, x, i) => a + x * weights[i], 0);
    assert.ok(Math.abs(Number(out.loss.data[0]) - wantLoss) < 1e-12);
    await s.release();
  });

  test(`chunked cross-entropy gradient (${chunkRows} rows per chunk) matches finite differences`, () =>
    gradCheck([{ name: 'h', shape: [N, D], data: hidden }, { name: 'labels', shape: [N], dtype: 'int64', data: labels }], (h, lab) => ce(h, lab, chunkRows, true).loss));
}

test('the training graph of stories260K has no (B, T, V) tensor and no scatter into zeros', async () => {
  const lm = await (loadCausalLM(`${SHARED}/models/stories260K`, { loraTargets: (m) => m.endsWith('q_proj') }));
  const V = lm.config.vocab_size;
  addLossAndGradients(lm, { grads: true, chunkRows: 8 });
  const seen: string[] = [];
  const walk = (g: Graph) => {
    for (const n of g.nodes) {
      for (const o of n.outputs) if (o.shape && o.shape.length >= 3 && o.shape[o.shape.length - 1] === V) seen.push(`${n.opType} ${o}`);
      if (n.opType === 'ScatterElements' && n.inputs[0]?.producer?.opType === 'ConstantOfShape') seen.push(`one-hot ${n.name}`);
      for (const a of Object.values(n.attrs)) if (a instanceof Graph) walk(a);
    }
  };
  walk(lm.graph);
  assert.deepEqual(seen, []);
});

// Completion-only loss: rows whose label is −100 (prompt, padding) are gathered out before
// lm_head. Checked against a float64 reference written here: loss = mean over counted rows of
// logsumexp(z) − z_label, ∂loss/∂h_i = (softmax(z_i) − onehot(label_i))·Wᵀ / count for a counted
// row and 0 otherwise. The ignored rows of `h` hold NaN: had they reached lm_head, the loss (a
// sum of 0 · NaN) and every gradient would be NaN.
const B2 = 2;
const T2 = 5;
const masked = [
  [-100, -100, 3, 1, -100], // a prompt of 2 tokens (row 0 itself ignored), then padding
  [-100, -100, -100, -100, -100], // a row of prompt only
];
const hidden2 = Array.from({ length: B2 * T2 * D }, () => rand() * 2 - 1);

function maskedReference(): { loss: number; nll: number[]; dh: number[] } {
  const counted = masked.flat().filter((y) => y !== -100).length;
  const nll: number[] = [];
  const dh = new Array<number>(B2 * T2 * D).fill(0);
  let loss = 0;
  masked.flat().forEach((y, i) => {
    if (y === -100) return void nll.push(0);
    const z = Array.from({ length: V }, (_, v) => {
      let s = 0;
      for (let d = 0; d < D; d++) s += hidden2[i * D + d] * head[d * V + v];
      return s;
    });
    const m = Math.max(...z);
    const lse = m + Math.log(z.reduce((a, x) => a + Math.exp(x - m), 0));
    nll.push(lse - z[y]);
    loss += (lse - z[y]) / counted;
    for (let d = 0; d < D; d++) {
      let s = 0;
      for (let v = 0; v < V; v++) s += (Math.exp(z[v] - lse) - (v === y ? 1 : 0)) * head[d * V + v];
      dh[i * D + d] = s / counted;
    }
  });
  return { loss, nll, dh };
}

test('completion-only loss: ignored rows skip lm_head; loss, token NLL and ∂loss/∂hidden match the float64 reference', async () => {
  const g = new Graph('masked');
  const h = g.input('h', 'float64', [B2, T2, D]);
  const lab = g.input('labels', 'int64', [B2, T2]);
  const { loss, tokenNll } = causalLMLoss(h, constant(g, { dtype: 'float64', shape: [D, V], data: Float64Array.from(head) }), lab, { chunkRows: 3, grad: true });
  g.output(loss, 'loss');
  g.output(tokenNll, 'token_nll');
  g.output(gradients(loss, [h]).get(h)!, 'dh');
  const data = Float64Array.from(hidden2);
  masked.flat().forEach((y, i) => {
    if (y === -100) data.fill(NaN, i * D, (i + 1) * D);
  });
  const s = await Session.create(serializeModel(g), { threads: 1 });
  try {
    const out = await s.run({ h: { dtype: 'float64', shape: [B2, T2, D], data }, labels: { dtype: 'int64', shape: [B2, T2], data: BigInt64Array.from(masked.flat().map(BigInt)) } });
    const want = maskedReference();
    assert.ok(Math.abs(Number(out.loss.data[0]) - want.loss) < 1e-12, `loss ${out.loss.data[0]} vs ${want.loss}`);
    want.nll.forEach((x, i) => assert.ok(Math.abs(Number(out.token_nll.data[i]) - x) < 1e-12, `token_nll[${i}] ${out.token_nll.data[i]} vs ${x}`));
    want.dh.forEach((x, i) => assert.ok(Math.abs(Number(out.dh.data[i]) - x) < 1e-12, `dh[${i}] ${out.dh.data[i]} vs ${x}`));
  } finally {
    await s.release();
  }
});

test('completion-only loss: a batch with no counted position gives loss 0 and a zero gradient', async () => {
  const g = new Graph('none');
  const h = g.input('h', 'float64', [1, 3, D]);
  const lab = g.input('labels', 'int64', [1, 3]);
  const { loss } = causalLMLoss(h, constant(g, { dtype: 'float64', shape: [D, V], data: Float64Array.from(head) }), lab, { chunkRows: 2, grad: true });
  g.output(loss, 'loss');
  g.output(gradients(loss, [h]).get(h)!, 'dh');
  const s = await Session.create(serializeModel(g), { threads: 1 });
  try {
    const out = await s.run({ h: { dtype: 'float64', shape: [1, 3, D], data: Float64Array.from(hidden2.slice(0, 3 * D)) }, labels: { dtype: 'int64', shape: [1, 3], data: new BigInt64Array(3).fill(-100n) } });
    assert.equal(Number(out.loss.data[0]), 0);
    assert.ok([...(out.dh.data as Float64Array)].every((x) => x === 0));
  } finally {
    await s.release();
  }
});
