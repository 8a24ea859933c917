// The fused, chunked cross-entropy (engine/train/loss.ts) against a float64 reference written
// here (log-sum-exp per row), finite differences of its hand-written gradient, and the
// structure of the training graph (no (B, T, V) tensor, no one-hot scatter).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, type Value } from '../../../src/engine/graph/ir';
import { serializeModel } from '../../../src/engine/graph/onnx';
import { Session } from '../../../src/engine/runtime/session';
import { constant } from '../../../src/engine/ops/index';
import { chunkedCrossEntropy } from '../../../src/engine/train/loss';
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
