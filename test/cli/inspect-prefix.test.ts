// `loralab inspect` on an adapter saved from a model PEFT wrapped twice (every key starts with
// base_model.model.base_model.model.): one problem naming the doubled prefix (the message
// readPeftAdapter uses), exit 1; with --model, no per-module "no linear module" lines.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli';
import { SHARED } from '../helpers/paths';
import { SafetensorsFile, writeSafetensors } from '../../src/engine/weights/safetensors';
import type { HostTensor } from '../../src/engine/tensor';
import { tempDir } from '../helpers/tmp';

const MODEL = `${SHARED}/models/stories260K`;
const GOLDEN = `${SHARED}/golden/adapters/stories260K_r4_a8`;
const DOUBLED = join(tempDir('cli-inspect-prefix-'), 'doubled');

before(async () => {
  cpSync(GOLDEN, DOUBLED, { recursive: true });
  const f = await SafetensorsFile.open(join(GOLDEN, 'adapter_model.safetensors'));
  const m = new Map<string, HostTensor>();
  for (const n of f.names()) m.set(`base_model.model.${n}`, await f.read(n));
  f.close();
  await writeSafetensors(join(DOUBLED, 'adapter_model.safetensors'), m);
});

test('inspect ADAPTER with a doubled base_model.model. prefix: one problem, exit 1; --json lists it once', async () => {
  const [h, j] = await Promise.all([runCli(['inspect', DOUBLED]), runCli(['inspect', DOUBLED, '--json'])]);
  assert.equal(h.code, 1, h.stderr);
  assert.equal(h.stderr.match(/has the prefix base_model\.model\. twice/g)?.length, 1, h.stderr);
  const doc = JSON.parse(j.stdout);
  assert.equal(doc.problems.length, 1);
  assert.match(doc.problems[0], /twice; it was saved from a model PEFT had wrapped twice/);
});

test('inspect ADAPTER --model: the prefix problem once, no "no linear module" line per tensor', async () => {
  const r = await runCli(['inspect', DOUBLED, '--model', MODEL]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr.match(/prefix base_model\.model\. twice/g)?.length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /no linear module/);
});
