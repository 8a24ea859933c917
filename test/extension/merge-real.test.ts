// The Merge page's host code path with the real CLI (the TypeScript source under tsx, forked as
// the extension forks dist/cli.js): the golden stories260K adapter merged with itself at
// weights 0.5 / 0.5 must give back its own ΔW = s·B·A (s = lora_alpha / r = 2), checked module by
// module against a float64 product computed here from the adapter files; the dry run writes
// nothing and reports what the merge then writes; the result shows up in the Merged scan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readPeftAdapter, type LoraWeights } from '../../src/engine/weights/peft';
import type { HostToMerge, MergePlan } from '../../src/protocol/merge';
import { forkCliRunner } from '../../src/extension/merge/cli';
import { MergeSession } from '../../src/extension/merge/session';
import { mergedRoot, scanMergedAdapters } from '../../src/extension/merge/scan';
import { ROOT, SHARED } from '../helpers/paths';
import { tempDir } from '../helpers/tmp';

const GOLDEN = `${SHARED}/golden/adapters/stories260K_r4_a8`;

/** Dense ΔW = s·B·A in float64 [out, in]. */
function dense(l: LoraWeights, s: number): Float64Array {
  const [out, r] = l.B.shape;
  const inF = l.A.shape[1];
  const A = l.A.data as Float32Array;
  const B = l.B.data as Float32Array;
  const d = new Float64Array(out * inF);
  for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) {
    let acc = 0;
    for (let k = 0; k < r; k++) acc += B[o * r + k] * A[k * inF + i];
    d[o * inF + i] = s * acc;
  }
  return d;
}

function maxRelDiff(a: Float64Array, b: Float64Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

test('real CLI from the Merge session: 0.5·X + 0.5·X = X (linear exactly, svd at rank 4 to float32), preview = what is written', { timeout: 120_000 }, async () => {
  const ws = tempDir('merge-real-');
  const folder = mergedRoot(ws);
  const posted: HostToMerge[] = [];
  const merged: string[] = [];
  const session = new MergeSession([], {
    post: (m) => posted.push(m),
    runner: forkCliRunner(join(ROOT, 'src', 'cli', 'main.ts'), { execArgv: ['--import', 'tsx'], cwd: ROOT }),
    pickAdapters: async () => undefined,
    folder,
    merged: (dir) => void merged.push(dir),
    log: () => undefined,
  });
  const golden = await readPeftAdapter(GOLDEN);
  const s = golden.config.lora_alpha / golden.config.r;
  assert.equal(s, 2);
  const shapes = new Map([...golden.modules].map(([m, l]) => [m, { out: l.B.shape[0], in: l.A.shape[1] }]));

  for (const [method, extra, r] of [['linear', {}, 8], ['svd', { rank: 4 }, 4]] as const) {
    const request = { adapters: [{ path: GOLDEN, weight: 0.5 }, { path: GOLDEN, weight: 0.5 }], method, ...extra };
    const listing = () => (existsSync(folder) ? readdirSync(folder) : []);
    const before = listing();
    await session.receive({ v: 1, type: 'preview', id: 1, request });
    const planMsg = posted.find((m) => m.type === 'plan' || m.type === 'error') as Extract<HostToMerge, { type: 'plan' | 'error' }>;
    assert.equal(planMsg.type, 'plan', JSON.stringify(planMsg));
    const plan = (planMsg as { plan: MergePlan }).plan;
    assert.equal(plan.modules.length, golden.modules.size);
    for (const m of plan.modules) {
      const sh = shapes.get(m.module)!;
      assert.equal(m.r, r, m.module);
      assert.ok(Math.abs(m.kept_norm_fraction - 1) < 1e-9, `${m.module}: rank-4 ΔW is kept whole (${m.kept_norm_fraction})`);
      assert.equal(m.bytes, 4 * (r * sh.in + sh.out * r), m.module);
    }
    assert.deepEqual(listing(), before, 'the preview wrote nothing');

    posted.length = 0;
    await session.receive({ v: 1, type: 'merge', name: `self-${method}`, request });
    const dir = join(folder, `self-${method}`);
    const last = posted.find((m) => m.type === 'merged' || m.type === 'error')!;
    assert.equal(last.type, 'merged', JSON.stringify(last));
    assert.deepEqual((last as { plan: MergePlan }).plan, plan, 'the merge reports what the preview said');
    assert.deepEqual(readdirSync(folder).filter((n) => n.startsWith('.')), [], 'no partial folder left');

    const out = await readPeftAdapter(dir);
    for (const [m, l] of golden.modules) {
      const got = out.modules.get(m)!;
      assert.equal(got.A.shape[0], r, m);
      const sOut = out.config.lora_alpha / out.config.r;
      const diff = maxRelDiff(dense(got, sOut), dense(l, s));
      assert.ok(diff < (method === 'linear' ? 1e-7 : 1e-5), `${method} ${m}: ΔW differs by ${diff} (relative)`);
    }
    const recipe = JSON.parse(readFileSync(join(dir, 'merge.json'), 'utf8'));
    assert.equal(recipe.method, method);
    assert.deepEqual(recipe.inputs.map((i: { weight: number }) => i.weight), [0.5, 0.5]);
    posted.length = 0;
  }
  assert.deepEqual(merged, [join(folder, 'self-linear'), join(folder, 'self-svd')]);
  const scanned = await scanMergedAdapters([folder]);
  assert.deepEqual(scanned.map((a) => [a.path, a.kind, a.r, a.problem]), [[join(folder, 'self-linear'), 'merged', 8, null], [join(folder, 'self-svd'), 'merged', 4, null]]);

  // The CLI's refusal comes back as its one line.
  await session.receive({ v: 1, type: 'preview', id: 2, request: { adapters: [{ path: join(ws, 'nope'), weight: 1 }], method: 'linear' } });
  const err = posted.find((m) => m.type === 'error') as { message: string } | undefined;
  assert.ok(err && !err.message.includes('\n') && err.message.includes('nope'), JSON.stringify(err));
  assert.equal(existsSync(join(folder, 'nope')), false);
});
