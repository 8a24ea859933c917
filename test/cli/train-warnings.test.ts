// `loralab train` setup warnings reach the terminal (stderr) and log.txt, and run.json records
// the LoRA shape actually trained: init_adapter's r/lora_alpha over the experiment's,
// rank_pattern keys and target_modules entries that match nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli';
import { makeExperiment } from '../helpers/experiment';
import { SHARED } from '../helpers/paths';

const GOLDEN_ADAPTER = `${SHARED}/golden/adapters/stories260K_r4_a8`; // PEFT: r 4, lora_alpha 8

function runFolder(runsDir: string): string {
  const [d] = readdirSync(runsDir);
  return join(runsDir, d);
}

test('init_adapter with another r: a warning on stderr and in log.txt; run.json config.lora holds the r trained', async () => {
  const exp = makeExperiment({ lora: { r: 8, lora_alpha: 16 }, training: { max_steps: 1, save_steps: 100 }, extra: { init_adapter: GOLDEN_ADAPTER } });
  const r = await runCli(['train', exp.file, '--runs-dir', exp.runsDir]);
  assert.equal(r.code, 0, r.stderr);
  const line = 'warning: init_adapter has r=4, lora_alpha=8; using those instead of the experiment\'s r=8, lora_alpha=16';
  assert.ok(r.stderr.includes(line), r.stderr);
  const dir = runFolder(exp.runsDir);
  assert.ok(readFileSync(join(dir, 'log.txt'), 'utf8').includes(line));
  const lora = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')).config.lora;
  assert.equal(lora.r, 4);
  assert.equal(lora.lora_alpha, 8);
  // and the adapter written has the same r as its config says (independent: the tensor shapes)
  assert.equal(JSON.parse(readFileSync(join(dir, 'adapter', 'adapter_config.json'), 'utf8')).r, 4);
});

test('a rank_pattern key and a target_modules entry that match no module: one warning each, on stderr and in log.txt', async () => {
  const exp = makeExperiment({ lora: { r: 4, target_modules: ['q_proj', 'qq_proj', 'v_proj'], rank_pattern: { nosuch_proj: 2 } }, training: { max_steps: 1, save_steps: 100 } });
  const r = await runCli(['train', exp.file, '--runs-dir', exp.runsDir]);
  assert.equal(r.code, 0, r.stderr);
  const log = readFileSync(join(runFolder(exp.runsDir), 'log.txt'), 'utf8');
  for (const re of [/warning: lora\.target_modules "qq_proj" matches no linear layer/, /warning: lora\.rank_pattern "nosuch_proj" matches no targeted module/]) {
    assert.match(r.stderr, re);
    assert.match(log, re);
  }
  assert.doesNotMatch(r.stderr, /"q_proj" matches|"v_proj" matches/);
});
