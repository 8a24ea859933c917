// The advisor in the editor (src/extension/experiments/advice.ts + advice-count.ts) against the
// `vscode` stub and a fake CLI runner: the findings that need no token count are diagnostics at
// once, while the trained tokens are counted in a child (`loralab advise FILE --json`) — the
// extension host never tokenizes the data; the capacity finding appears when the child's count
// arrives (the count a real child would print is scripted here: 10,000,000 tokens, far above
// any r = 8 adapter of stories260K). A child that fails is a log line, not a
// diagnostic or a toast; an edit that keeps data/model/seed reuses the count without a child.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { register } from 'node:module';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CliChild, CliEvent, CliExit, CliRunner } from '../../src/extension/merge/cli';
import { MODEL } from '../helpers/experiment';
import { tempDir } from '../helpers/tmp';

const stubUrl = pathToFileURL(join(import.meta.dirname, 'vscode-stub.ts')).href;
register(`data:text/javascript,${encodeURIComponent(`export async function resolve(s, c, n) { return s === 'vscode' ? { url: ${JSON.stringify(stubUrl)}, shortCircuit: true } : n(s, c); }`)}`);
const stub = await import('./vscode-stub');
const { registerAdvice, ADVICE_SOURCE } = await import('../../src/extension/experiments/advice');

/** A child the test ends by hand. */
class FakeChild implements CliChild {
  pid = 1234;
  killed = false;
  private end!: (x: CliExit) => void;
  exited = new Promise<CliExit>((r) => (this.end = r));
  constructor(readonly args: readonly string[], readonly emit: (e: CliEvent) => void) {}
  kill(): void {
    this.killed = true;
    this.finish(null, 'SIGTERM');
  }
  finish(code: number | null, signal: string | null = null, stderr: string[] = []): void {
    this.end({ code, signal, error: null, stderr });
  }
}

function fakeRunner(): { runner: CliRunner; children: FakeChild[] } {
  const children: FakeChild[] = [];
  return { children, runner: (args, onEvent) => (children.push(new FakeChild(args, onEvent)), children.at(-1)!) };
}

const until = async (what: string, ok: () => boolean) => {
  for (let i = 0; i < 400 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), `timed out waiting for ${what}`);
};

/** A text document as the stub's workspace lists it. */
function doc(file: string, text: string, version = 1) {
  return {
    uri: stub.Uri.file(file),
    version,
    getText: () => text,
    positionAt: (o: number) => ({ line: text.slice(0, o).split('\n').length - 1, character: o - text.lastIndexOf('\n', o - 1) - 1 }),
  };
}

// Attention-only targets, lora_alpha 8 and a 64-row batch: three findings that need only the
// experiment and config.json. The data file holds a few tokens: a capacity finding can only come
// from the child's (scripted) count of 10M tokens, never from counting in this process.
const EXPERIMENT = {
  name: 'adv',
  model: MODEL,
  data: { train: 'train.jsonl' },
  lora: { r: 8, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'] },
  training: { learning_rate: 1e-6, max_steps: 500, per_device_train_batch_size: 64 },
};

test('advice: other findings at once, the capacity finding when the child counted the tokens; a failing child is a log line', async () => {
  const dir = tempDir('advice-');
  const file = join(dir, 'adv.lora.json');
  const text = JSON.stringify(EXPERIMENT, null, 2);
  writeFileSync(file, text);
  writeFileSync(join(dir, 'train.jsonl'), '{"text": "hello"}\n');
  stub.workspace.textDocuments.splice(0, Infinity, doc(file, text));
  const fake = fakeRunner();
  const disposables: { dispose(): unknown }[] = [];
  const output: string[] = [];
  const lab = { own: <T extends { dispose(): unknown }>(d: T) => (disposables.push(d), d), output: { appendLine: (l: string) => output.push(l) }, extension: { asAbsolutePath: (p: string) => p } };
  registerAdvice(lab as never, fake.runner);
  const codes = () => (stub.recorded.diagnostics.get(file) ?? []).map((d) => (d as unknown as { code: { value: string } }).code.value).sort();

  // 1. Before any count: the findings that need none; the child was asked for the count.
  await until('the first findings', () => codes().length > 0);
  assert.deepEqual(codes(), ['attention-only', 'effective-batch', 'lora-alpha']);
  assert.ok((stub.recorded.diagnostics.get(file) ?? []).every((d) => d.source === ADVICE_SOURCE));
  await until('the counting child', () => fake.children.length === 1);
  assert.deepEqual(fake.children[0].args, ['advise', file, '--json']);

  // 2. The child prints `advise --json`'s object and exits 0: the capacity finding appears.
  fake.children[0].emit({ findings: [], capacity: { lora_parameters: 8960, trained_tokens: 10_000_000, parameters_per_token: 0.000896, suggested_r: 32 }, suggestion: null, skipped: [] });
  fake.children[0].finish(0);
  await until('the capacity finding', () => codes().includes('capacity'));
  assert.deepEqual(codes(), ['attention-only', 'capacity', 'effective-batch', 'lora-alpha']);
  const cap = (stub.recorded.diagnostics.get(file) ?? []).find((d) => (d as unknown as { code: { value: string } }).code.value === 'capacity')!;
  assert.match(cap.message, /10M trained tokens/);
  for (const d of disposables.splice(0)) d.dispose();

  // 3. A child that fails: the other findings stay, one log line, no toast, no capacity.
  const fake2 = fakeRunner();
  stub.recorded.diagnostics.delete(file);
  const before = stub.recorded.messages.length;
  registerAdvice({ ...lab, own: <T extends { dispose(): unknown }>(d: T) => (disposables.push(d), d) } as never, fake2.runner);
  await until('the second child', () => fake2.children.length === 1);
  fake2.children[0].emit({ event: 'error', message: `${join(dir, 'train.jsonl')}: not valid JSON`, exit_code: 2 });
  fake2.children[0].finish(2);
  await until('the log line', () => output.some((l) => /counting the trained tokens of .* failed: .*not valid JSON/.test(l)));
  assert.deepEqual(codes(), ['attention-only', 'effective-batch', 'lora-alpha']);
  assert.equal(stub.recorded.messages.length, before, 'no notification');
  for (const d of disposables.splice(0)) d.dispose();
  stub.workspace.textDocuments.splice(0, Infinity);
});

test('AdviceCounter: an edit that keeps model, data and seed reuses the count (no child); unsaved other data waits for a save; dispose kills the child', async () => {
  const { AdviceCounter } = await import('../../src/extension/experiments/advice-count');
  const dir = tempDir('advice-count-');
  const file = join(dir, 'adv.lora.json');
  const text = JSON.stringify(EXPERIMENT, null, 2);
  writeFileSync(file, text);
  const fake = fakeRunner();
  const c = new AdviceCounter({ runner: fake.runner, readDisk: async () => text, log: () => undefined });
  const seen: string[][] = [];
  const publish = (a: { findings: { id: string }[] }) => void seen.push(a.findings.map((f) => f.id).sort());
  const first = c.advise(file, text, publish, true);
  await until('the child', () => fake.children.length === 1);
  assert.deepEqual(seen, [['attention-only', 'effective-batch', 'lora-alpha']], 'published before the count');
  fake.children[0].emit({ capacity: { trained_tokens: 10_000_000 } });
  fake.children[0].finish(0);
  await first;
  assert.deepEqual(seen.at(-1), ['attention-only', 'capacity', 'effective-batch', 'lora-alpha']);
  // An edit of the learning rate: same count, published once, with capacity, no child.
  seen.length = 0;
  await c.advise(file, JSON.stringify({ ...EXPERIMENT, training: { ...EXPERIMENT.training, learning_rate: 2e-6 } }, null, 2), publish);
  assert.equal(fake.children.length, 1);
  assert.deepEqual(seen, [['attention-only', 'capacity', 'effective-batch', 'lora-alpha']]);
  // Unsaved edit to other data: the saved file names other data, so no child until a save.
  seen.length = 0;
  await c.advise(file, JSON.stringify({ ...EXPERIMENT, data: { train: 'other.jsonl' } }, null, 2), publish);
  assert.equal(fake.children.length, 1);
  assert.deepEqual(seen, [['attention-only', 'effective-batch', 'lora-alpha']]);
  // On save (fresh) the count is asked again; dispose stops that child.
  const again = c.advise(file, text, publish, true);
  await until('a new child', () => fake.children.length === 2);
  c.dispose();
  await again;
  assert.equal(fake.children[1].killed, true);
});
