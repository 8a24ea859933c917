// The Compare view's table logic without a browser (sorting, differences only, CSV quoting) and
// the shared de-biased EMA's flush of w^count before it turns subnormal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CompareRun } from '../../src/protocol/compare';
import { csvField, differingKeys, formatBytes, runsCsv, sortRuns } from '../../webview/compare/columns';
import { DebiasedEma } from '../../webview/dashboard/smoothing';

const run = (id: string, best: number | null, hyper: CompareRun['hyperparameters']): CompareRun => {
  const s = { step: new Float64Array(0), time: new Float64Array(0), tokens: new Float64Array(0), value: new Float64Array(0) };
  return {
    id, name: id, run_dir: `/r/${id}`, status: 'completed', created_at: '',
    summary: { steps: 1, max_steps: 1, tokens: null, wall_time_s: null, tokens_per_s: null, best_val_loss: best, best_val_step: null, last_val_loss: null, adapter_bytes: null },
    hyperparameters: hyper, steps_per_epoch: null, epoch_note: null, model: '/m', adapter_dir: null, train: s, val: s, evals: {},
  };
};

test('sortRuns: numeric order both ways, unknown values last in both, ties by id', () => {
  const runs = [run('c', 2, {}), run('a', null, {}), run('b', 1, {}), run('d', 2, {})];
  assert.deepEqual(sortRuns(runs, 'best_val_loss', 'asc').map((r) => r.id), ['b', 'c', 'd', 'a']);
  assert.deepEqual(sortRuns(runs, 'best_val_loss', 'desc').map((r) => r.id), ['c', 'd', 'b', 'a']);
  assert.deepEqual(sortRuns(runs, 'id', 'desc').map((r) => r.id), ['d', 'c', 'b', 'a']);
});

test('differingKeys: a value that differs, or a key some runs lack; lists compared whole', () => {
  const runs = [run('a', 1, { 'lora.r': 8, seed: 0, t: 'q_proj, v_proj' }), run('b', 1, { 'lora.r': 8, seed: 1, t: 'q_proj, v_proj', extra: true })];
  assert.deepEqual(differingKeys(runs), ['seed', 'extra']);
  assert.deepEqual(differingKeys([runs[0]]), []);
});

test('CSV: RFC 4180 quoting, empty for unknown, CRLF', () => {
  assert.equal(csvField('q_proj, v_proj'), '"q_proj, v_proj"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField('a\nb'), '"a\nb"');
  assert.equal(csvField(null), '');
  assert.equal(csvField(0.0002), '0.0002');
  const csv = runsCsv([run('a', 1.25, { t: 'q_proj, v_proj' })]);
  assert.equal(csv, 'id,name,status,best_val_loss,best_val_step,last_val_loss,steps,max_steps,tokens,wall_time_s,tokens_per_s,adapter_bytes,run_dir,t\r\na,a,completed,1.25,,,1,1,,,,,/r/a,"q_proj, v_proj"\r\n');
  assert.equal(formatBytes(999), '999 B');
  assert.equal(formatBytes(1_234_567), '1.23 MB');
});

test('de-biased EMA: w^count is flushed to 0 before it turns subnormal, values unchanged', () => {
  // 0.6^n falls below 2^-1022 (the smallest normal double) at n ≈ 1,387; subnormal multiplies
  // are ~50× slower on x86. Reference: the formula in float64 with the exact power.
  const ema = new DebiasedEma(0.6);
  let last = 0;
  for (let n = 1; n <= 3000; n++) {
    const x = 2 + Math.sin(n);
    last = last * 0.6 + 0.4 * x;
    const want = last / (1 - 0.6 ** n);
    const got = ema.next(x);
    assert.ok(Math.abs(got - want) <= 1e-15 * Math.abs(want), `n=${n}: ${got} vs ${want}`);
  }
  const power = (ema as unknown as { power: number }).power;
  assert.ok(power === 0 || power >= 2 ** -1022, `w^count is subnormal: ${power}`);
});
