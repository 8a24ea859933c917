// mergeAdapters against dense float64 references written here: ΔW = s·B·A with s computed from
// the test's own r / alpha (alpha/r, alpha/√r for rsLoRA), a slow symmetric-Jacobi SVD
// independent of the engine's, and hand-made matrices for TIES / DARE.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MergeError, type MergeInput, type MergeRecipe, mergeAdapters, sameBaseModelName, writeMergedAdapter } from '../../../src/engine/merge/index';
import { type LoraWeights, type PeftAdapter, completeLoraConfig, peftScaling, readPeftAdapter } from '../../../src/engine/weights/peft';
import { createRng } from '../../../src/engine/data/random';
import { tempDir } from '../../helpers/tmp';

interface ModSpec { module: string; out: number; in: number; r: number; alpha: number }

/** A random adapter; `mods` give each module's r and alpha (the config reproduces them via patterns). */
function makeAdapter(mods: ModSpec[], cfg: { r: number; lora_alpha: number; use_rslora?: boolean; rank_pattern?: Record<string, number>; alpha_pattern?: Record<string, number>; base?: string }, seed: number): { adapter: PeftAdapter; spec: Map<string, ModSpec & { rslora: boolean }> } {
  const rand = createRng(seed);
  const modules = new Map<string, LoraWeights>();
  const spec = new Map<string, ModSpec & { rslora: boolean }>();
  for (const m of mods) {
    const A = Float32Array.from({ length: m.r * m.in }, () => rand() * 2 - 1);
    const B = Float32Array.from({ length: m.out * m.r }, () => rand() * 2 - 1);
    modules.set(m.module, { module: m.module, A: { dtype: 'float32', shape: [m.r, m.in], data: A }, B: { dtype: 'float32', shape: [m.out, m.r], data: B } });
    spec.set(m.module, { ...m, rslora: cfg.use_rslora === true });
  }
  const config = completeLoraConfig({ r: cfg.r, lora_alpha: cfg.lora_alpha, use_rslora: cfg.use_rslora ?? false, rank_pattern: cfg.rank_pattern ?? {}, alpha_pattern: cfg.alpha_pattern ?? {}, base_model_name_or_path: cfg.base ?? 'stories260K' }, modules.keys());
  return { adapter: { config, modules }, spec };
}

/** Dense float64 s·B·A from the test's own scaling rule. */
function dense(lora: LoraWeights, s: number): Float64Array {
  const [out, r] = lora.B.shape;
  const inF = lora.A.shape[1];
  const d = new Float64Array(out * inF);
  for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) {
    let acc = 0;
    for (let k = 0; k < r; k++) acc += (lora.B.data[o * r + k] as number) * (lora.A.data[k * inF + i] as number);
    d[o * inF + i] = s * acc;
  }
  return d;
}
const ownScaling = (m: ModSpec & { rslora: boolean }) => (m.rslora ? m.alpha / Math.sqrt(m.r) : m.alpha / m.r);
function relErr(got: Float64Array, want: Float64Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i] - want[i]) ** 2;
    den += want[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-300));
}

const Q = 'model.layers.0.self_attn.q_proj';
const K = 'model.layers.0.self_attn.k_proj';
const D = 'model.layers.1.mlp.down_proj';
const mods = (r: number, alpha: number, rd = r, ad = alpha): ModSpec[] => [
  { module: Q, out: 16, in: 16, r, alpha }, { module: K, out: 8, in: 16, r, alpha }, { module: D, out: 16, in: 24, r: rd, alpha: ad },
];

/** Writes and reads back a merged result (so every check goes through the PEFT files). */
async function roundTrip(inputs: MergeInput[], opts: Parameters<typeof mergeAdapters>[1]): Promise<{ adapter: PeftAdapter; recipe: MergeRecipe; dir: string }> {
  const dir = tempDir('merge-');
  await writeMergedAdapter(dir, mergeAdapters(inputs, opts));
  return { adapter: await readPeftAdapter(dir), recipe: JSON.parse(readFileSync(join(dir, 'merge.json'), 'utf8')), dir };
}

test('one adapter, weight 1, reproduces itself bit for bit (plain, rsLoRA, rank_pattern + alpha_pattern)', async () => {
  const cases = [
    makeAdapter(mods(4, 8), { r: 4, lora_alpha: 8 }, 1),
    makeAdapter(mods(4, 16), { r: 4, lora_alpha: 16, use_rslora: true }, 2),
    makeAdapter(mods(4, 8, 2, 3), { r: 4, lora_alpha: 8, rank_pattern: { down_proj: 2 }, alpha_pattern: { down_proj: 3 } }, 3),
  ];
  for (const [idx, { adapter, spec }] of cases.entries()) {
    for (const method of ['linear', 'cat'] as const) {
      const { adapter: out } = await roundTrip([{ adapter, source: `in${idx}`, weight: 1 }], { method });
      assert.equal(out.config.use_rslora, adapter.config.use_rslora, `case ${idx}`);
      for (const [m, w] of adapter.modules) {
        const o = out.modules.get(m)!;
        assert.deepEqual(o.A.data, w.A.data, `case ${idx} ${m} A`);
        assert.deepEqual(o.B.data, w.B.data, `case ${idx} ${m} B`);
        assert.equal(peftScaling(out.config, m), ownScaling(spec.get(m)!), `case ${idx} ${m} scaling`);
      }
      assert.equal(out.config.base_model_name_or_path, 'stories260K');
    }
  }
});

test('one adapter, weight −1, gives exactly −ΔW', async () => {
  const { adapter, spec } = makeAdapter(mods(4, 8, 2, 3), { r: 4, lora_alpha: 8, use_rslora: true, rank_pattern: { down_proj: 2 }, alpha_pattern: { down_proj: 3 } }, 4);
  const { adapter: out } = await roundTrip([{ adapter, source: 'x', weight: -1 }], { method: 'linear' });
  for (const [m, w] of adapter.modules) {
    const got = dense(out.modules.get(m)!, peftScaling(out.config, m));
    const want = dense(w, ownScaling(spec.get(m)!)).map((x) => -x);
    assert.deepEqual([...got], [...want], m);
  }
});

test('linear of X (r 4, alpha 8) and Y (rsLoRA, r 6, alpha 3; down_proj r 2) with weights 0.6 and −0.4 = 0.6·ΔX − 0.4·ΔY to float32 precision', async () => {
  const X = makeAdapter(mods(4, 8), { r: 4, lora_alpha: 8 }, 5);
  const Y = makeAdapter(mods(6, 3, 2, 3).filter((m) => m.module !== K), { r: 6, lora_alpha: 3, use_rslora: true, rank_pattern: { down_proj: 2 } }, 6);
  const { adapter: out, recipe } = await roundTrip([{ adapter: X.adapter, source: 'X', weight: 0.6 }, { adapter: Y.adapter, source: 'Y', weight: -0.4 }], { method: 'linear' });
  assert.equal(out.config.use_rslora, false);
  assert.deepEqual(new Set(out.modules.keys()), new Set([Q, K, D]));
  assert.deepEqual(out.config.target_modules, ['down_proj', 'k_proj', 'q_proj']);
  for (const m of [Q, K, D]) {
    const want = dense(X.adapter.modules.get(m)!, 0.6 * ownScaling(X.spec.get(m)!));
    const ym = Y.adapter.modules.get(m);
    if (ym) {
      const dy = dense(ym, -0.4 * ownScaling(Y.spec.get(m)!));
      for (let i = 0; i < want.length; i++) want[i] += dy[i];
    }
    const got = dense(out.modules.get(m)!, peftScaling(out.config, m));
    assert.ok(relErr(got, want) < 1e-6, `${m}: ${relErr(got, want)}`);
    assert.equal(out.modules.get(m)!.A.shape[0], 4 + (ym ? ym.A.shape[0] : 0), `${m} rank = Σ r`);
    const rep = recipe.modules.find((x) => x.module === m)!;
    const norm = Math.sqrt(want.reduce((a, x) => a + x * x, 0));
    assert.ok(Math.abs(rep.delta_norm - norm) < 1e-6 * norm, `${m} ‖ΔW‖_F ${rep.delta_norm} vs ${norm}`);
    assert.equal(rep.kept_norm_fraction, 1);
  }
  assert.equal(recipe.method, 'linear');
  assert.deepEqual(recipe.inputs.map((i) => i.weight), [0.6, -0.4]);
});

/** Slow reference: eigen-decomposition of the symmetric G = MᵀM by cyclic Jacobi rotations. */
function jacobiEigen(G: Float64Array, n: number): { values: number[]; vectors: Float64Array } {
  const a = Float64Array.from(G);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) {
      const apq = a[p * n + q];
      if (Math.abs(apq) < 1e-300) continue;
      const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1);
      const s = t * c;
      for (let k = 0; k < n; k++) { // columns p, q
        const akp = a[k * n + p], akq = a[k * n + q];
        a[k * n + p] = c * akp - s * akq;
        a[k * n + q] = s * akp + c * akq;
      }
      for (let k = 0; k < n; k++) { // rows p, q
        const apk = a[p * n + k], aqk = a[q * n + k];
        a[p * n + k] = c * apk - s * aqk;
        a[q * n + k] = s * apk + c * aqk;
      }
      for (let k = 0; k < n; k++) {
        const vkp = v[k * n + p], vkq = v[k * n + q];
        v[k * n + p] = c * vkp - s * vkq;
        v[k * n + q] = s * vkp + c * vkq;
      }
    }
  }
  return { values: Array.from({ length: n }, (_, i) => a[i * n + i]), vectors: v };
}

/** Best rank-k approximation of M [m, n] via M·V_k·V_kᵀ, V_k the top-k eigenvectors of MᵀM; plus Σ of the top-k and all eigenvalues. */
function denseTruncated(M: Float64Array, m: number, n: number, k: number): { Mk: Float64Array; top: number; all: number } {
  const G = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let r = 0; r < m; r++) s += M[r * n + i] * M[r * n + j];
    G[i * n + j] = s;
  }
  const { values, vectors } = jacobiEigen(G, n);
  const order = [...values.keys()].sort((a, b) => values[b] - values[a]).slice(0, k);
  const P = new Float64Array(n * n); // V_k·V_kᵀ
  for (const j of order) for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) P[a * n + b] += vectors[a * n + j] * vectors[b * n + j];
  const Mk = new Float64Array(m * n);
  for (let r = 0; r < m; r++) for (let b = 0; b < n; b++) {
    let s = 0;
    for (let a = 0; a < n; a++) s += M[r * n + a] * P[a * n + b];
    Mk[r * n + b] = s;
  }
  return { Mk, top: order.reduce((s, j) => s + values[j], 0), all: values.reduce((s, x) => s + Math.max(x, 0), 0) };
}

test('svd (k = 3) of two adapters equals the truncated SVD of the dense ΔW (slow Jacobi reference); kept-norm figure right', async () => {
  const X = makeAdapter(mods(4, 8), { r: 4, lora_alpha: 8 }, 7);
  const Y = makeAdapter(mods(6, 3), { r: 6, lora_alpha: 3, use_rslora: true }, 8);
  const result = mergeAdapters([{ adapter: X.adapter, source: 'X', weight: 0.7 }, { adapter: Y.adapter, source: 'Y', weight: -1.3 }], { method: 'svd', rank: 3 });
  const { adapter: out, recipe } = await roundTrip([{ adapter: X.adapter, source: 'X', weight: 0.7 }, { adapter: Y.adapter, source: 'Y', weight: -1.3 }], { method: 'svd', rank: 3 });
  assert.equal(out.config.r, 3);
  assert.deepEqual(out.config.rank_pattern, {});
  for (const m of [Q, K, D]) {
    const w = X.adapter.modules.get(m)!;
    const [o, i] = [w.B.shape[0], w.A.shape[1]];
    const full = dense(w, 0.7 * ownScaling(X.spec.get(m)!));
    const dy = dense(Y.adapter.modules.get(m)!, -1.3 * ownScaling(Y.spec.get(m)!));
    for (let j = 0; j < full.length; j++) full[j] += dy[j];
    const ref = denseTruncated(full, o, i, 3);
    const got = dense(out.modules.get(m)!, peftScaling(out.config, m));
    assert.ok(relErr(got, ref.Mk) < 2e-6, `${m}: ${relErr(got, ref.Mk)}`);
    const kept = Math.sqrt(ref.top / ref.all);
    const rep = result.report.find((x) => x.module === m)!;
    assert.ok(Math.abs(rep.kept_norm_fraction - kept) < 1e-9, `${m} kept ${rep.kept_norm_fraction} vs ${kept}`);
    assert.ok(kept < 0.99, 'the test truncates something');
    assert.equal(recipe.modules.find((x) => x.module === m)!.kept_norm_fraction, rep.kept_norm_fraction);
  }
});

/** A one-module adapter with given A [r, in], B [out, r], r, alpha. */
function handAdapter(A: number[][], B: number[][], alpha: number): PeftAdapter {
  const r = A.length;
  const lora: LoraWeights = {
    module: Q,
    A: { dtype: 'float32', shape: [r, A[0].length], data: Float32Array.from(A.flat()) },
    B: { dtype: 'float32', shape: [B.length, r], data: Float32Array.from(B.flat()) },
  };
  return { config: completeLoraConfig({ r, lora_alpha: alpha }, [Q]), modules: new Map([[Q, lora]]) };
}

test('ties / magnitude_prune / dare_linear on hand-made ΔW: ΔX = [[1, 2], [−1, −2]], ΔY = 2·[[3, −1], [3, −1]]', () => {
  const X = handAdapter([[1, 2]], [[1], [-1]], 1); // s = 1
  const Y = handAdapter([[3, -1]], [[1], [1]], 2); // s = 2 → [[6, −2], [6, −2]]
  const product = (res: ReturnType<typeof mergeAdapters>) => [...dense(res.modules.get(Q)!, peftScaling(res.config, Q))];
  const near = (got: number[], want: number[], what: string) => got.forEach((g, i) => assert.ok(Math.abs(g - want[i]) < 1e-5, `${what}[${i}]: ${g} vs ${want[i]}`));
  // trim(ΔX, 0.5) = [0, 2, 0, −2]; trim(ΔY) = [6, 0, 6, 0]; totals [6, 2, 6, −2] → γ [+, +, +, −]
  near(product(mergeAdapters([{ adapter: X, source: 'X', weight: 1 }, { adapter: Y, source: 'Y', weight: 1 }], { method: 'ties', density: 0.5, rank: 2 })), [6, 2, 6, -2], 'ties');
  near(product(mergeAdapters([{ adapter: X, source: 'X', weight: 1 }, { adapter: Y, source: 'Y', weight: 0.5 }], { method: 'magnitude_prune', density: 0.5, rank: 2 })), [3, 2, 3, -2], 'magnitude_prune');
  // density 1: no drop, plain Σ w·ΔW
  near(product(mergeAdapters([{ adapter: X, source: 'X', weight: 1 }, { adapter: Y, source: 'Y', weight: -1 }], { method: 'dare_linear', density: 1, rank: 2 })), [-5, 4, -7, 0], 'dare_linear d=1');
  // frequency sign at density 1: signs X [+, +, −, −], Y [+, −, +, −] → counts [2, 0, 0, −2] → γ [+, +, +, −]
  // entry 1: X (2); entry 2: Y (6); entry 0: mean(1, 6); entry 3: mean(−2, −2)
  near(product(mergeAdapters([{ adapter: X, source: 'X', weight: 1 }, { adapter: Y, source: 'Y', weight: 1 }], { method: 'ties', density: 1, majoritySign: 'frequency', rank: 2 })), [3.5, 2, 6, -2], 'ties frequency');
  // rank 1 of the ties result [[6, 2], [6, −2]]: σ² = eig of [[72, 0], [0, 8]] → keeps [[6, 0], [6, 0]], kept √(72/80)
  const r1 = mergeAdapters([{ adapter: X, source: 'X', weight: 1 }, { adapter: Y, source: 'Y', weight: 1 }], { method: 'ties', density: 0.5, rank: 1 });
  near(product(r1), [6, 0, 6, 0], 'ties rank 1');
  assert.ok(Math.abs(r1.report[0].kept_norm_fraction - Math.sqrt(72 / 80)) < 1e-12);
});

test('dare: seeded (same seed → same adapter, another seed → another), about half the entries dropped at density 0.5', () => {
  const rand = createRng(9);
  const big = handAdapter([Array.from({ length: 40 }, () => rand() * 2 - 1)], Array.from({ length: 30 }, () => [rand() * 2 - 1]), 1);
  const run = (seed: number) => mergeAdapters([{ adapter: big, source: 'X', weight: 1 }], { method: 'dare_linear', density: 0.5, seed, rank: 30 });
  const a = run(1);
  assert.deepEqual(a.modules.get(Q)!.A.data, run(1).modules.get(Q)!.A.data);
  assert.notDeepEqual(a.modules.get(Q)!.A.data, run(2).modules.get(Q)!.A.data);
  // about half of the entries survive
  const d = dense(a.modules.get(Q)!, 1);
  const zeros = d.filter((x) => Math.abs(x) < 1e-6).length;
  assert.ok(zeros > 0.4 * d.length && zeros < 0.6 * d.length, `${zeros} of ${d.length} dropped`);
});

test('base model names: the same model by name, basename or folder merges quietly; other names with equal shapes warn once; --base-model sets the result', () => {
  const merge = (a: string, b: string, opts: Partial<Parameters<typeof mergeAdapters>[1]> = {}) => mergeAdapters([
    { adapter: makeAdapter(mods(4, 8), { r: 4, lora_alpha: 8, base: a }, 10).adapter, source: 'x', weight: 1 },
    { adapter: makeAdapter(mods(4, 8), { r: 4, lora_alpha: 8, base: b }, 11).adapter, source: 'y', weight: 1 },
  ], { method: 'linear', ...opts });
  for (const [a, b] of [['stories260K', '/work/shared/models/stories260K'], ['org/stories260K', 'stories260K/'], ['/m/a', '/m/a/']]) {
    assert.deepEqual(merge(a, b).warnings, [], `${a} vs ${b}`);
    assert.equal(sameBaseModelName(a, b), true);
  }
  assert.deepEqual(merge('/m/link', '/n/target', { sameFolder: (p, q) => p === '/m/link' && q === '/n/target' }).warnings, []);
  const res = merge('org/model-a', 'org/model-b');
  assert.equal(res.warnings.length, 1);
  assert.match(res.warnings[0], /"org\/model-a".*"org\/model-b".*merging anyway/);
  assert.deepEqual(res.recipe.base_models, ['org/model-a', 'org/model-b']);
  assert.equal(res.config.base_model_name_or_path, 'org/model-a');
  assert.equal(merge('org/model-a', 'org/model-b', { baseModel: 'org/chosen' }).config.base_model_name_or_path, 'org/chosen');
});

test('bad inputs: mismatched shapes, density out of (0, 1] or missing → one-line MergeError', () => {
  const X = makeAdapter(mods(4, 8), { r: 4, lora_alpha: 8, base: 'org/model-a' }, 10).adapter;
  const Z = makeAdapter([{ module: Q, out: 12, in: 16, r: 4, alpha: 8 }], { r: 4, lora_alpha: 8, base: 'org/model-a' }, 12).adapter;
  assert.throws(() => mergeAdapters([{ adapter: X, source: 'x', weight: 1 }, { adapter: Z, source: 'z', weight: 1 }], { method: 'svd' }),
    (e: Error) => e instanceof MergeError && e.message.includes(Q) && e.message.includes('[out 16, in 16]') && e.message.includes('[out 12, in 16]'));
  for (const density of [0, -0.1, 1.5, Number.NaN]) {
    assert.throws(() => mergeAdapters([{ adapter: X, source: 'x', weight: 1 }], { method: 'ties', density }), (e: Error) => e instanceof MergeError && /out of \(0, 1\]/.test(e.message));
  }
  assert.throws(() => mergeAdapters([{ adapter: X, source: 'x', weight: 1 }], { method: 'dare_ties' }), /needs a density/);
});
