// Training with the experiment's lora.rank_pattern / lora.alpha_pattern (PEFT semantics) on the
// real stories260K model: per-module shapes in the saved adapter, its config, the optimizer
// moments, resume and init_adapter. (The per-module gradient itself is checked against finite
// differences in test/engine/lora/rank-pattern.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runTraining } from '../../src/trainer/run';
import { readMetrics } from '../../src/runs/index';
import { SafetensorsFile } from '../../src/engine/weights/safetensors';
import { makeExperiment } from '../helpers/experiment';

// stories260K: D = 64, Hkv·Dh = 32, intermediate 172, 5 layers.
const FEATURES: Record<string, [number, number]> = {
  q_proj: [64, 64], k_proj: [64, 32], v_proj: [64, 32], o_proj: [64, 64],
  gate_proj: [64, 172], up_proj: [64, 172], down_proj: [172, 64],
};
// Default rank 2; every MLP module rank 8 except layer 0's down_proj (its own key comes first,
// and PEFT takes the first matching key); the MLP down_proj alphas are 32.
const LORA = {
  r: 2,
  lora_alpha: 4,
  rank_pattern: { 'layers.0.mlp.down_proj': 4, 'mlp\\..*': 8 },
  alpha_pattern: { down_proj: 32 },
};
/** The rank of each module under LORA, by hand. */
const rankOf = (module: string): number => (module === 'model.layers.0.mlp.down_proj' ? 4 : module.includes('.mlp.') ? 8 : 2);

/** Module → [A shape, B shape] read from the safetensors header (not through the PEFT reader). */
function shapes(dir: string, file = 'adapter_model.safetensors'): Map<string, number[][]> {
  const f = SafetensorsFile.openSync(join(dir, file));
  const out = new Map<string, number[][]>();
  for (const name of f.names()) {
    const m = /^(?:m\/|v\/)?base_model\.model\.(.+)\.lora_([AB])\.weight$/.exec(name)!;
    const key = `${name.startsWith('m/') ? 'm:' : name.startsWith('v/') ? 'v:' : ''}${m[1]}`;
    const pair = out.get(key) ?? [];
    pair[m[2] === 'A' ? 0 : 1] = f.info(name).shape;
    out.set(key, pair);
  }
  f.close();
  return out;
}

function expectedShapes(prefix = ''): Map<string, number[][]> {
  const want = new Map<string, number[][]>();
  for (let l = 0; l < 5; l++) {
    for (const [proj, [inF, outF]] of Object.entries(FEATURES)) {
      const module = `model.layers.${l}.${proj.endsWith('_proj') && ['gate_proj', 'up_proj', 'down_proj'].includes(proj) ? 'mlp' : 'self_attn'}.${proj}`;
      const r = rankOf(module);
      want.set(`${prefix}${module}`, [[r, inF], [outF, r]]);
    }
  }
  return want;
}

test('rank_pattern / alpha_pattern: per-module shapes in adapter and optimizer state, PEFT config kept, resume exact', async () => {
  const spec = { lora: LORA, training: { max_steps: 4, save_steps: 2, eval_steps: 100 } };
  const a = makeExperiment(spec);
  const full = await runTraining({ experimentFile: a.file, runsDir: a.runsDir, threads: 1 });
  assert.equal(full.status, 'completed', full.error);

  const sorted = (m: Map<string, number[][]>) => [...m].sort(([x], [y]) => x.localeCompare(y));
  assert.deepEqual(sorted(shapes(full.adapterDir!)), sorted(expectedShapes()));
  const config = JSON.parse(readFileSync(join(full.adapterDir!, 'adapter_config.json'), 'utf8'));
  assert.deepEqual(config.rank_pattern, LORA.rank_pattern);
  assert.deepEqual(config.alpha_pattern, LORA.alpha_pattern);
  assert.equal(config.r, 2);
  assert.equal(config.lora_alpha, 4);
  assert.equal(config.peft_type, 'LORA');

  // Adam moments m and v of every tensor have that tensor's shape.
  const ckpt = join(full.runDir, 'checkpoints', 'step-2');
  const moments = shapes(ckpt, 'optimizer.safetensors');
  assert.deepEqual(sorted(moments), sorted(new Map([...expectedShapes('m:'), ...expectedShapes('v:')])));
  assert.deepEqual(sorted(shapes(ckpt)), sorted(expectedShapes()));

  // Stopped after step 2 and resumed: the same trajectory and the same final adapter.
  const b = makeExperiment(spec);
  const stop = { requested: false };
  const first = await runTraining({ experimentFile: b.file, runsDir: b.runsDir, threads: 1 }, { onStep: (s) => { if (s === 2) stop.requested = true; } }, stop);
  assert.equal(first.status, 'stopped', first.error);
  const second = await runTraining({ resume: first.runDir, threads: 1 });
  assert.equal(second.status, 'completed', second.error);
  const want = (await readMetrics(full.runDir)).filter((r) => r.train_loss !== undefined);
  const got = (await readMetrics(first.runDir)).filter((r) => r.train_loss !== undefined);
  assert.deepEqual(got.map((r) => r.step), [1, 2, 3, 4]);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i].train_loss! - want[i].train_loss!) <= 1e-6 * want[i].train_loss!, `step ${want[i].step}`);
  const fa = SafetensorsFile.openSync(join(full.adapterDir!, 'adapter_model.safetensors'));
  const fb = SafetensorsFile.openSync(join(second.adapterDir!, 'adapter_model.safetensors'));
  for (const name of fa.names()) {
    const x = fa.readSync(name).data as Float32Array;
    const y = fb.readSync(name).data as Float32Array;
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i] - y[i]) <= 1e-6 * Math.max(1, Math.abs(x[i])), name);
  }
  fa.close();
  fb.close();

  // The trained adapter as init_adapter of an experiment with plain r: its own ranks and
  // patterns are kept (learning rate 0 during warmup step 0 leaves it unchanged).
  const c = makeExperiment({ lora: { r: 16, lora_alpha: 32 }, extra: { init_adapter: full.adapterDir }, training: { max_steps: 1, warmup_steps: 5, eval_steps: 100, save_steps: 100 } });
  const cont = await runTraining({ experimentFile: c.file, runsDir: c.runsDir, threads: 1 });
  assert.equal(cont.status, 'completed', cont.error);
  assert.deepEqual(sorted(shapes(cont.adapterDir!)), sorted(expectedShapes()));
  const config2 = JSON.parse(readFileSync(join(cont.adapterDir!, 'adapter_config.json'), 'utf8'));
  assert.deepEqual([config2.r, config2.lora_alpha, config2.rank_pattern, config2.alpha_pattern], [2, 4, LORA.rank_pattern, LORA.alpha_pattern]);
});

test('a rank_pattern rank above a module\'s width names the pattern and the module', async () => {
  const exp = makeExperiment({ lora: { r: 2, rank_pattern: { k_proj: 40 } }, training: { max_steps: 1 } });
  await assert.rejects(runTraining({ experimentFile: exp.file, runsDir: exp.runsDir, threads: 1 }), (e: Error) => {
    assert.match(e.message, /lora\.rank_pattern "k_proj": 40 is larger than model\.layers\.0\.self_attn\.k_proj \(32 features\).*use at most 32 for that pattern$/);
    assert.equal(e.message.split('\n').length, 1);
    return true;
  });
});

test('a pattern key that decides no module is reported in the log (PEFT ignores it silently)', async () => {
  const exp = makeExperiment({ lora: { r: 2, rank_pattern: { q_proj: 4, 'layers.0.self_attn.q_proj': 8, qproj: 8 }, alpha_pattern: { nothing: 3 } }, training: { max_steps: 1, eval_steps: 100, save_steps: 100 } });
  const lines: string[] = [];
  const out = await runTraining({ experimentFile: exp.file, runsDir: exp.runsDir, threads: 1 }, { onLog: (l) => lines.push(l) });
  assert.equal(out.status, 'completed', out.error);
  assert.ok(lines.includes('warning: lora.rank_pattern "layers.0.self_attn.q_proj", "qproj" matches no targeted module (or only modules an earlier key decides); it has no effect'), lines.join('\n'));
  assert.ok(lines.includes('warning: lora.alpha_pattern "nothing" matches no targeted module (or only modules an earlier key decides); it has no effect'), lines.join('\n'));
  assert.deepEqual(shapes(out.adapterDir!).get('model.layers.0.self_attn.q_proj'), [[4, 64], [64, 4]]);
});
