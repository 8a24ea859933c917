// The training session also validates (engine/train/step.ts): `train: false` gives the golden
// loss of ../shared/golden (no backward, LoRA dropout off), `train: true` the golden gradients
// (test/engine/models/golden.test.ts checks every value); the JavaScript weights are released.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CausalLM, shiftLabels } from '../../../src/engine/infer/causal-lm';
import { peftKey, readPeftAdapter } from '../../../src/engine/weights/peft';
import { type Batch, IGNORE_INDEX } from '../../../src/engine/data/batch';
import { AdamW, initAdamState } from '../../../src/engine/train/optimizer';
import { trainStep, validationLoss } from '../../../src/engine/train/step';
import type { HostTensor } from '../../../src/engine/tensor';
import { SafetensorsFile } from '../../../src/engine/weights/safetensors';
import { SHARED } from '../../helpers/paths';

const MODEL = `${SHARED}/models/stories260K`;
const ADAPTER = `${SHARED}/golden/adapters/stories260K_r4_a8`;
const golden = JSON.parse(readFileSync(`${SHARED}/golden/stories260K_lora_grads.json`, 'utf8'));

test('validation on the training session: golden loss, no gradients, dropout off; training: dropout on', async () => {
  const adapter = await readPeftAdapter(ADAPTER);
  const lm = await CausalLM.load(MODEL, { adapter: { adapter, source: ADAPTER }, outputs: { loss: true, grads: true }, loraDropout: { ratio: 0.5, seed: 7 } });
  const ids: number[] = golden.token_ids;
  const batch = { inputIds: [ids], labels: [shiftLabels(ids)] };
  const val = await lm.run(batch, { train: false });
  assert.ok(Math.abs(val.loss! - golden.loss_value) <= 1e-5, `validation loss ${val.loss} vs golden ${golden.loss_value}`);
  assert.equal(val.grads, undefined);
  assert.deepEqual(val.tokenNll!.shape, [1, ids.length]);
  // Dropout 0.5 on the adapter's input changes the training loss (the golden loss is without dropout).
  const tr = await lm.run(batch);
  assert.equal(tr.grads!.size, 70);
  assert.ok(Math.abs(tr.loss! - golden.loss_value) > 1e-5, `training loss ${tr.loss} should differ from the dropout-free loss`);
  // Validation again: still the dropout-free loss (the flag, not the session state, decides).
  const again = await lm.run(batch, { train: false });
  assert.equal(again.loss, val.loss);
  await lm.release();
});

test('the JavaScript copies of the weights are released once the session is built, Loop bodies included', async () => {
  const { Graph } = await import('../../../src/engine/graph/ir');
  const lm = await CausalLM.load(MODEL, { outputs: { loss: true, grads: true }, targetModules: 'all-linear' });
  const held: string[] = [];
  const walk = (g: InstanceType<typeof Graph>) => {
    held.push(...g.initializers.keys());
    for (const n of g.nodes) for (const a of Object.values(n.attrs)) if (a instanceof Graph) walk(a);
  };
  walk(lm.lm.graph);
  assert.deepEqual(held, []);
  await lm.release();
});

test('with prepacking the loss Loop owns the output head (ONNX Runtime packs only a graph\'s own initializers), without it the head stays outside', async () => {
  const { loadCausalLM } = await import('../../../src/engine/models/index');
  const { addLossAndGradients } = await import('../../../src/engine/train/step');
  const { Graph } = await import('../../../src/engine/graph/ir');
  for (const prepacking of [true, false]) {
    const lm = await loadCausalLM(MODEL, { loraTargets: () => true });
    addLossAndGradients(lm, { grads: true, prepacking });
    const where = new Map<string, string>(); // initializer → graph name
    const walk = (g: InstanceType<typeof Graph>) => {
      for (const k of g.initializers.keys()) where.set(k, g.name);
      for (const n of g.nodes) for (const a of Object.values(n.attrs)) if (a instanceof Graph) walk(a);
    };
    walk(lm.graph);
    const heads = [...where].filter(([k]) => k.startsWith('lm_head.weight'));
    assert.equal(heads.length, 1, `one copy of the head (${prepacking}): ${JSON.stringify(heads)}`);
    assert.equal(heads[0][1].startsWith('cross_entropy_chunk_'), prepacking, `head in ${heads[0][1]} with prepacking ${prepacking}`);
  }
});

test('prepackTraining: on CPU while 1.5 × the weights fit in 1/8 of memory; never on GPU providers', async () => {
  const { prepackTraining } = await import('../../../src/engine/runtime/session');
  const GiB = 2 ** 30;
  assert.equal(prepackTraining(215 * 2 ** 20, 'cpu', 24 * GiB), true); // bench config
  assert.equal(prepackTraining(2 * GiB, 'cpu', 24 * GiB), true); // 3 GiB ≤ 3 GiB
  assert.equal(prepackTraining(2 * GiB + 1, 'cpu', 24 * GiB), false);
  assert.equal(prepackTraining(4.9 * GiB, 'cpu', 32 * GiB), false); // a 1B model in float32
  assert.equal(prepackTraining(1024, 'cuda', 24 * GiB), false);
  assert.equal(prepackTraining(1024, 'webgpu', 24 * GiB), false);
});

test('trainStep: two micro-batches (one row each, unpadded) give the golden loss and grad norm of their padded batch', async () => {
  const t5 = JSON.parse(readFileSync(`${SHARED}/golden/stories260K_train5.json`, 'utf8'));
  const adapter = await readPeftAdapter(ADAPTER);
  const lm = await CausalLM.load(MODEL, { adapter: { adapter, source: ADAPTER }, outputs: { loss: true, grads: true } });
  const params = new Map<string, HostTensor>();
  for (const [m, w] of adapter.modules) {
    params.set(peftKey(m, 'A'), w.A);
    params.set(peftKey(m, 'B'), w.B);
  }
  const batches: Batch[] = (t5.token_ids as number[][]).map((ids) => {
    const labels = shiftLabels(ids);
    return { inputIds: [ids], attentionMask: [ids.map(() => 1)], positionIds: [ids.map((_, t) => t)], labels: [labels], tokens: labels.filter((l) => l !== IGNORE_INDEX).length };
  });
  assert.deepEqual(batches.map((b) => b.tokens), [19, 14]);
  const opt = await AdamW.create(new Map([...params].map(([k, v]) => [k, v.shape])), { adam_beta1: 0.9, adam_beta2: 0.999, adam_epsilon: 1e-8, weight_decay: 0.1, max_grad_norm: 1.0 });
  const res = await trainStep(lm, opt, params, initAdamState(params), batches, 0);
  assert.ok(res.updated);
  assert.equal(res.targetTokens, 33);
  assert.ok(Math.abs(res.loss - t5.steps[0].loss) <= 1e-5, `loss ${res.loss} vs ${t5.steps[0].loss}`);
  assert.ok(Math.abs(res.gradNorm - t5.steps[0].grad_norm) / t5.steps[0].grad_norm <= 1e-5, `grad norm ${res.gradNorm} vs ${t5.steps[0].grad_norm}`);
  // Validation of the same micro-batches: the same token mean (no dropout here).
  const val = await validationLoss(lm, batches);
  assert.ok(Math.abs(val! - t5.steps[0].loss) <= 1e-5, `validation ${val}`);
  await opt.release();
  await lm.release();
});

test('gradient checkpointing: the same loss and gradients (golden within 1e-4 × max, no-checkpointing within 1e-6), also with LoRA dropout', async () => {
  const adapter = await readPeftAdapter(ADAPTER);
  const ids: number[] = golden.token_ids;
  const batch = { inputIds: [ids, ids.slice().reverse()], labels: [shiftLabels(ids), shiftLabels(ids.slice().reverse())] };
  const gold = SafetensorsFile.openSync(`${SHARED}/golden/stories260K_lora_grads.safetensors`);
  for (const loraDropout of [null, { ratio: 0.3, seed: 5 }]) {
    const load = (gradientCheckpointing: boolean) => CausalLM.load(MODEL, { adapter: { adapter, source: ADAPTER }, outputs: { loss: true, grads: true }, loraDropout, gradientCheckpointing });
    const [plain, ckpt] = [await load(false), await load(true)];
    const a = await plain.run(batch);
    const b = await ckpt.run(batch);
    assert.ok(Math.abs(a.loss! - b.loss!) <= 1e-6, `loss ${a.loss} vs ${b.loss}`);
    assert.equal(b.grads!.size, 70);
    for (const [k, ga] of a.grads!) {
      const x = ga.data as Float32Array;
      const y = b.grads!.get(k)!.data as Float32Array;
      const scale = Math.max(1e-12, ...Array.from(x, Math.abs));
      for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i] - y[i]) <= 1e-6 * scale, `${k}[${i}]: ${x[i]} vs ${y[i]} (dropout ${JSON.stringify(loraDropout)})`);
    }
    if (!loraDropout) {
      // Row 0 alone is the golden sequence: its gradient is the golden one.
      const one = await ckpt.run({ inputIds: [ids], labels: [shiftLabels(ids)] });
      for (const [k, g] of one.grads!) {
        const want = gold.readSync(`${k}.grad`).data as Float32Array;
        const got = g.data as Float32Array;
        const scale = Math.max(...Array.from(want, Math.abs));
        for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= 1e-4 * scale, `${k}[${i}] vs golden`);
      }
    }
    await plain.release();
    await ckpt.release();
  }
  gold.close();
});

test('the training graph holds each frozen weight once: no Transpose of a weight (ONNX Runtime would fold a copy); attention masks by one Add', async () => {
  const { loadCausalLM } = await import('../../../src/engine/models/index');
  const { addLossAndGradients } = await import('../../../src/engine/train/step');
  const { Graph } = await import('../../../src/engine/graph/ir');
  const lm = await loadCausalLM(MODEL, { loraTargets: () => true });
  addLossAndGradients(lm, { grads: true, gradientCheckpointing: true });
  const weights = new Set([...lm.graph.initializers.values()].map((i) => i.value).filter((v) => v.shape?.length === 2));
  const transposed: string[] = [];
  const softmaxInputs: string[] = [];
  const walk = (g: InstanceType<typeof Graph>) => {
    for (const n of g.nodes) {
      if (n.opType === 'Transpose' && n.inputs[0] && weights.has(n.inputs[0])) transposed.push(n.inputs[0].name);
      if (n.opType === 'Softmax') softmaxInputs.push(n.inputs[0]!.producer!.opType);
      for (const a of Object.values(n.attrs)) if (a instanceof Graph) walk(a);
    }
  };
  walk(lm.graph);
  assert.ok(weights.size >= lm.config.num_hidden_layers * 7, 'the layer weights are 2-D initializers');
  assert.deepEqual(transposed, []);
  // Forward and recomputed forward of every layer: Softmax(scores + mask bias).
  assert.deepEqual(new Set(softmaxInputs), new Set(['Add']));
});

test('gradient checkpointing: the backward, Loop bodies included, reads no value computed inside a decoder layer of the forward (only the layer inputs)', async () => {
  const { loadCausalLM } = await import('../../../src/engine/models/index');
  const { addLossAndGradients } = await import('../../../src/engine/train/step');
  const { Graph } = await import('../../../src/engine/graph/ir');
  const lm = await loadCausalLM(MODEL, { loraTargets: () => true });
  const residuals = lm.residuals!;
  const g = lm.graph;
  addLossAndGradients(lm, { grads: true, gradientCheckpointing: true });
  // Forward values inside the layers: those that depend on a layer input, up to the last layer's output.
  const last = g.nodes.indexOf(residuals[residuals.length - 1].producer!);
  const dep = new Set(residuals.slice(0, -1));
  const inner = new Set<unknown>();
  for (const n of g.nodes.slice(0, last)) {
    if (!n.inputs.some((v) => v && dep.has(v))) continue;
    for (const o of n.outputs) {
      dep.add(o);
      if (!residuals.includes(o)) inner.add(o);
    }
  }
  const ifNode = g.nodes.find((n) => n.opType === 'If')!;
  const read: string[] = [];
  let loops = 0;
  const walk = (sub: InstanceType<typeof Graph>) => {
    for (const n of sub.nodes) {
      for (const v of n.inputs) if (v && inner.has(v)) read.push(`${n.opType} ${n.name} reads ${v.name}`);
      if (n.opType === 'Loop') loops++;
      for (const a of Object.values(n.attrs)) if (a instanceof Graph) walk(a);
    }
  };
  walk(ifNode.attrs.then_branch as InstanceType<typeof Graph>);
  assert.ok(loops >= 2 * lm.config.num_hidden_layers, `blocked attention: a recomputed forward Loop and a backward Loop per layer (${loops} Loops)`);
  assert.deepEqual(read, []);
});

for (const gradientCheckpointing of [false, true]) {
  test(`${gradientCheckpointing ? 'with' : 'without'} gradient checkpointing: every LoRA gradient of layer i − 1 waits for every LoRA gradient of layer i (ONNX Runtime's depth-first order then frees a layer's backward before the next)`, async () => {
    const { loadCausalLM } = await import('../../../src/engine/models/index');
    const { addLossAndGradients } = await import('../../../src/engine/train/step');
    const lm = await loadCausalLM(MODEL, { loraTargets: () => true });
    const L = lm.config.num_hidden_layers;
    const modules = lm.lora.modules;
    addLossAndGradients(lm, { grads: true, gradientCheckpointing });
    const body = lm.graph.nodes.find((n) => n.opType === 'If')!.attrs.then_branch as import('../../../src/engine/graph/ir').Graph;
    // then_branch outputs: the gradient of A and B of each module in order.
    const gradOf = new Map(modules.map((m, k) => [m, [body.outputs[2 * k], body.outputs[1 + 2 * k]]]));
    const layer = (i: number) => modules.filter((m) => m.startsWith(`model.layers.${i}.`)).flatMap((m) => gradOf.get(m)!);
    type N = { inputs: unknown[]; attrs: Record<string, unknown> };
    // A node's inputs, and the outer values its subgraphs (Loop bodies) read by name.
    const reads = (n: N): unknown[] => [...n.inputs, ...Object.values(n.attrs).flatMap((a) => (a && typeof a === 'object' && 'nodes' in a ? (a.nodes as N[]).flatMap(reads) : []))];
    const ancestors = (v: unknown): Set<unknown> => {
      const seen = new Set<unknown>();
      const stack = [v];
      while (stack.length) {
        const x = stack.pop() as { producer?: N | null };
        if (seen.has(x)) continue;
        seen.add(x);
        if (x?.producer) for (const i of reads(x.producer)) if (i) stack.push(i);
      }
      return seen;
    };
    for (let i = 1; i < L; i++) {
      assert.equal(layer(i).length, 14, `all-linear: 7 LoRA modules (A and B) in layer ${i}`);
      for (const below of layer(i - 1)) {
        const before = ancestors(below);
        for (const d of layer(i)) assert.ok(before.has(d), `${below.name} (layer ${i - 1}) does not wait for ${d.name} (layer ${i})`);
      }
    }
  });
}
