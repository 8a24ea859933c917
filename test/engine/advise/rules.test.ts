/**
 * Each advisor rule at the number that triggers it and just below it. Expected values are worked
 * out by hand from the post's and the cookbook's figures (thinkingmachines.ai/blog/lora;
 * tinker-cookbook hyperparam_utils.get_lr), not taken from the rules.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AdviceConfig, advise, attentionOnlyRule, capacity, capacityRule, effectiveBatchRule, learningRateRule, loraAlphaRule, loraParameterCount, measuredLoraLr, rsloraRule, scheduleRule, suggestedLearningRate } from '../../../src/engine/advise/index';

const base = (o: { model?: string; lora?: Partial<AdviceConfig['lora']>; training?: Partial<AdviceConfig['training']>; advise?: AdviceConfig['advise'] } = {}): AdviceConfig => ({
  model: o.model ?? '/models/stories260K',
  lora: { r: 16, lora_alpha: 32, target_modules: 'all-linear', use_rslora: false, ...o.lora },
  training: { learning_rate: 2e-4, lr_scheduler_type: 'constant', warmup_steps: 0, warmup_ratio: 0, max_steps: 500, per_device_train_batch_size: 8, gradient_accumulation_steps: 1, ...o.training },
  advise: o.advise,
});

// Two layers of a Llama with hidden 64, intermediate 172 (stories260K-like): q,k,v,o [64,64] (k/v [32,64] with GQA), MLP gate/up [172,64], down [64,172].
const modules = [0, 1].flatMap((l) => [
  { module: `model.layers.${l}.self_attn.q_proj`, in: 64, out: 64 },
  { module: `model.layers.${l}.self_attn.k_proj`, in: 64, out: 32 },
  { module: `model.layers.${l}.self_attn.v_proj`, in: 64, out: 32 },
  { module: `model.layers.${l}.self_attn.o_proj`, in: 64, out: 64 },
  { module: `model.layers.${l}.mlp.gate_proj`, in: 64, out: 172 },
  { module: `model.layers.${l}.mlp.up_proj`, in: 64, out: 172 },
  { module: `model.layers.${l}.mlp.down_proj`, in: 172, out: 64 },
]);
// Σ(in+out) per layer = 128+96+96+128+236+236+236 = 1156; two layers: 2312.
const PER_RANK = 2312;

test('table: Hub id, local folder name and HF cache folder find the cookbook value; others do not', () => {
  assert.deepEqual(measuredLoraLr('meta-llama/Llama-3.2-1B'), { id: 'meta-llama/Llama-3.2-1B', learningRate: 1e-3 });
  assert.equal(measuredLoraLr('/home/u/models/llama-3.1-8b-instruct')?.learningRate, 3e-4);
  assert.equal(measuredLoraLr('/c/hub/models--Qwen--Qwen3-32B/snapshots/abc')?.learningRate, 3e-4); // a downloaded Hub model's folder
  assert.equal(measuredLoraLr('/c/hub/models--Qwen--Qwen3-32B')?.learningRate, 3e-4);
  assert.equal(measuredLoraLr('/models/stories260K'), undefined);
});

test('learning-rate: table model, 3.01× above triggers, 2.99× does not; the fix is the table value', () => {
  const m = 'meta-llama/Llama-3.2-1B'; // 1e-3
  const hi = learningRateRule(base({ model: m, training: { learning_rate: 3.01e-3 } }));
  assert.ok(hi);
  assert.equal(hi.severity, 'warning');
  assert.ok(Math.abs(hi.value - 3.01) < 1e-9);
  assert.equal(hi.fix?.value, 1e-3);
  assert.equal(hi.pointer, '/training/learning_rate');
  assert.match(hi.source.title, /tinker-cookbook/);
  assert.equal(learningRateRule(base({ model: m, training: { learning_rate: 2.99e-3 } })), undefined);
  // Below: 1e-3 / 3.01 → ratio 3.01 triggers; 1e-3 / 2.99 does not.
  assert.ok(learningRateRule(base({ model: m, training: { learning_rate: 1e-3 / 3.01 } })));
  assert.equal(learningRateRule(base({ model: m, training: { learning_rate: 1e-3 / 2.99 } })), undefined);
});

test('learning-rate: short runs (< 100 steps) want 1.5× (15× vs 10× full fine-tuning)', () => {
  const m = 'meta-llama/Llama-3.1-8B'; // 3e-4
  assert.ok(Math.abs(suggestedLearningRate(base({ model: m, training: { max_steps: 99 } }))!.learningRate - 4.5e-4) < 1e-12);
  assert.equal(suggestedLearningRate(base({ model: m, training: { max_steps: 100 } }))!.learningRate, 3e-4);
});

test('learning-rate: unknown model uses 10× the stated full fine-tuning rate, 15× for short runs; nothing without it', () => {
  const cfg = (lr: number, steps = 500) => base({ training: { learning_rate: lr, max_steps: steps }, advise: { full_finetune_learning_rate: 2e-5 } });
  assert.ok(Math.abs(suggestedLearningRate(cfg(1))!.learningRate - 2e-4) < 1e-15);
  assert.ok(Math.abs(suggestedLearningRate(cfg(1, 50))!.learningRate - 3e-4) < 1e-15);
  assert.ok(learningRateRule(cfg(2e-5))); // 10× below
  assert.equal(learningRateRule(cfg(2e-4 / 2.99)), undefined);
  assert.equal(learningRateRule(base({ training: { learning_rate: 1e-2 } })), undefined); // no suggestion, at the ceiling
  assert.equal(suggestedLearningRate(base()), undefined);
});

test('learning-rate: a model with no suggestion is warned above 1e-2 (10× the cookbook\'s highest measured best, 1e-3); 1e-2 itself is not', () => {
  // Hand-derived: the cookbook table's rates are 3e-4 and 1e-3, so the ceiling is 10 × 1e-3.
  const at = (lr: number) => learningRateRule(base({ training: { learning_rate: lr } }));
  assert.equal(at(1e-2), undefined);
  assert.equal(at(2e-4), undefined);
  const f = at(1.0001e-2)!;
  assert.equal(f.severity, 'warning');
  assert.equal(f.threshold, 1e-2);
  const half = at(0.5)!;
  assert.equal(half.value, 0.5);
  assert.match(half.message, /^training\.learning_rate 0\.5 is above 0\.01, 10× the highest measured best LoRA rate \(3e-4 to 0\.001 across the models measured/);
  assert.deepEqual(half.fix, { pointer: '/training/learning_rate', value: 1e-3, title: 'Set learning_rate to 0.001' });
  assert.match(half.source.title, /tinker-cookbook/);
  // A table model or a stated full fine-tuning rate keeps the relative rule (no double finding).
  assert.match(learningRateRule(base({ model: 'meta-llama/Llama-3.2-1B', training: { learning_rate: 0.5 } }))!.message, /above the suggested 0\.001/);
});

test('effective-batch: 33 triggers, 32 does not; the fix brings it to 32', () => {
  const f = effectiveBatchRule(base({ training: { per_device_train_batch_size: 11, gradient_accumulation_steps: 3 } }));
  assert.ok(f);
  assert.equal(f.value, 33);
  assert.deepEqual([f.fix?.pointer, f.fix?.value], ['/training/gradient_accumulation_steps', 2]);
  assert.equal(effectiveBatchRule(base({ training: { per_device_train_batch_size: 16, gradient_accumulation_steps: 2 } })), undefined);
  const g = effectiveBatchRule(base({ training: { per_device_train_batch_size: 64, gradient_accumulation_steps: 1 } }));
  assert.deepEqual([g?.fix?.pointer, g?.fix?.value], ['/training/per_device_train_batch_size', 32]);
});

test('attention-only: q/k/v/o triggers (0 MLP modules); adding down_proj (1) does not; all-linear never', () => {
  const f = attentionOnlyRule(base({ lora: { target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] } }));
  assert.ok(f);
  assert.equal(f.value, 0);
  assert.equal(f.fix?.value, 'all-linear');
  assert.equal(attentionOnlyRule(base({ lora: { target_modules: ['q_proj', 'down_proj'] } })), undefined);
  assert.equal(attentionOnlyRule(base()), undefined);
  // A regular expression is judged against the model's modules.
  assert.ok(attentionOnlyRule(base({ lora: { target_modules: '.*\\.(q_proj|v_proj)' } }), { modules }));
  assert.equal(attentionOnlyRule(base({ lora: { target_modules: '.*\\.(q_proj|up_proj)' } }), { modules }), undefined);
  assert.equal(attentionOnlyRule(base({ lora: { target_modules: '.*\\.(q_proj|v_proj)' } })), undefined); // unknown without the model
});

test('rslora: r 2 triggers with √2, r 1 does not (α/√1 = α/1)', () => {
  const f = rsloraRule(base({ lora: { use_rslora: true, r: 2 } }));
  assert.ok(f);
  assert.ok(Math.abs(f.value - Math.SQRT2) < 1e-12);
  assert.equal(f.fix?.value, false);
  assert.equal(rsloraRule(base({ lora: { use_rslora: true, r: 1 } })), undefined);
  assert.equal(rsloraRule(base({ lora: { r: 64 } })), undefined);
});

test('lora-alpha: 16 is information, 32 is nothing', () => {
  assert.equal(loraAlphaRule(base({ lora: { lora_alpha: 16 } }))?.severity, 'information');
  assert.equal(loraAlphaRule(base({ lora: { lora_alpha: 16 } }))?.value, 16);
  assert.equal(loraAlphaRule(base()), undefined);
});

test('schedule: one warmup step triggers, none does not; constant ignores warmup as HF does; decay triggers', () => {
  const f = scheduleRule(base({ training: { lr_scheduler_type: 'constant_with_warmup', warmup_steps: 1 } }));
  assert.equal(f?.value, 1);
  assert.equal(f?.fix?.value, 'constant');
  assert.equal(scheduleRule(base({ training: { lr_scheduler_type: 'constant_with_warmup', warmup_steps: 0 } })), undefined);
  assert.equal(scheduleRule(base({ training: { lr_scheduler_type: 'constant', warmup_steps: 10 } })), undefined);
  // warmup_ratio 0.01 of 500 steps → ceil(5) = 5 steps
  assert.equal(scheduleRule(base({ training: { lr_scheduler_type: 'constant_with_warmup', warmup_ratio: 0.01 } }))?.value, 5);
  assert.equal(scheduleRule(base({ training: { lr_scheduler_type: 'cosine' } }))?.value, 0);
});

test('capacity: parameters r·Σ(in+out), rank_pattern honoured; tokens one above parameters trigger, equal do not', () => {
  assert.equal(loraParameterCount(base({ lora: { r: 4 } }), modules), 4 * PER_RANK);
  // rank_pattern: q_proj at r 1 instead of 4 → minus 3·(64+64) per layer
  assert.equal(loraParameterCount(base({ lora: { r: 4, rank_pattern: { q_proj: 1 } } }), modules), 4 * PER_RANK - 2 * 3 * 128);
  // attention-only list: per layer 128+96+96+128 = 448
  assert.equal(loraParameterCount(base({ lora: { r: 1, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] } }), modules), 2 * 448);
  const P = 4 * PER_RANK; // 9248
  const f = capacityRule(base({ lora: { r: 4 } }), { modules, trainedTokens: P + 1 });
  assert.ok(f);
  assert.ok(Math.abs(f.value - (P + 1) / P) < 1e-12);
  assert.equal(f.fix?.value, 8); // 8 · 2312 = 18496 ≥ 9249
  assert.equal(capacityRule(base({ lora: { r: 4 } }), { modules, trainedTokens: P }), undefined);
  // 100k tokens: 2312·32 = 73984 < 1e5 ≤ 2312·64 = 147968 → 64, but the narrowest targeted layer is 32 wide
  assert.equal(capacity(base({ lora: { r: 4 } }), modules, 100_000)?.suggestedRank, 32);
  assert.equal(capacityRule(base({ lora: { r: 4 } }), { trainedTokens: 1e9 }), undefined); // no model: skipped
});

test('advise: findings in rule order; advise.ignore drops ids', () => {
  const cfg = base({ lora: { lora_alpha: 16, use_rslora: true }, training: { per_device_train_batch_size: 64, lr_scheduler_type: 'cosine' } });
  assert.deepEqual(advise(cfg).map((f) => f.id), ['effective-batch', 'rslora', 'lora-alpha', 'schedule']);
  assert.deepEqual(advise({ ...cfg, advise: { ignore: ['rslora', 'schedule'] } }).map((f) => f.id), ['effective-batch', 'lora-alpha']);
  assert.deepEqual(advise(base()), []);
});
