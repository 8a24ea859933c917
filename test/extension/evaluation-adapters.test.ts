// The "All adapters of this experiment" run profile and the eval-set CodeLenses, against the
// `vscode` stub and a scripted InferenceClient. Which adapters are run is checked against a
// hand-built workspace (experiments naming / not naming the eval set, runs with and without a
// final adapter); per-adapter results are separate test messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { register } from 'node:module';
import { mkdir, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CaseScore, GenerateRequest, ScoreResult } from '../../src/extension/worker/api';
import { FakeInference } from './fake-inference';
import { tempDir } from './helpers';

const stubUrl = pathToFileURL(join(import.meta.dirname, 'vscode-stub.ts')).href;
register(`data:text/javascript,${encodeURIComponent(`export async function resolve(s, c, n) { return s === 'vscode' ? { url: ${JSON.stringify(stubUrl)}, shortCircuit: true } : n(s, c); }`)}`);
const stub = await import('./vscode-stub');
const { registerEvaluation, runEvalCases } = await import('../../src/extension/evaluation/register');
const { evalTargets } = await import('../../src/extension/evaluation/adapters');

/** The adapter of run r1 answers " Paris", every other variant " Rome". */
class PerAdapterInference extends FakeInference {
  override generate(req: GenerateRequest) {
    this.calls.push({ op: 'generate', args: [req] });
    return { done: Promise.resolve(req.variants.map((adapter) => ({ adapter, ids: [1], text: adapter?.includes('r1') ? ' Paris' : ' Rome', finish_reason: 'eos' as const }))), cancel: () => undefined };
  }
  override async score(_model: string, _adapter: string | null, text: string): Promise<ScoreResult> {
    const tokens = ['<s>', ...text.split(/(?= )/)];
    return { token_ids: tokens.map((_, i) => i), tokens, nll: tokens.slice(1).map(() => 1), mean_nll: 1 };
  }
  override async scoreCase(): Promise<CaseScore> {
    return { token_ids: [1, 2], tokens: ['<s>', 'x'], nll: [1], mean_nll: 1, expected_start: 1, expected_nll: 1 };
  }
}

async function workspace(dir: string, nameIt: boolean) {
  const evalFile = join(dir, 'capitals.eval.jsonl');
  await writeFile(evalFile, ['{"$config": {"max_new_tokens": 4}}', '{"prompt": "The capital of France is", "expected": "Paris", "name": "france", "metric": "contains"}', '{"prompt": "Capital of Italy:", "expected": "Rome", "name": "italy", "metric": "contains"}'].join('\n'));
  const exp = async (name: string, model: string, evalFiles: string[] | null) => {
    const file = join(dir, `${name}.lora.json`);
    await writeFile(file, JSON.stringify({ name, model, data: { train: 'train.txt' }, ...(evalFiles ? { eval: { files: evalFiles } } : {}) }));
    return file;
  };
  const a = await exp('a', '/models/tiny', nameIt ? ['capitals.eval.jsonl'] : null);
  const b = await exp('b', '/models/other', null);
  const run = async (id: string, experiment: string, final: boolean) => {
    const runDir = join(dir, 'runs', id);
    await mkdir(join(runDir, final ? 'adapter' : 'checkpoints'), { recursive: true });
    if (final) await writeFile(join(runDir, 'adapter', 'adapter_config.json'), '{}');
    return { run_dir: runDir, experiment_file: experiment };
  };
  const runs = [await run('r1', a, true), await run('r2', a, false), await run('r3', b, true)];
  return { evalFile, experiments: [a, b], runs };
}

test('evalTargets: the final adapters of the experiment naming the eval set; none names it: every run', async (t) => {
  const dir = await tempDir(t);
  const w = await workspace(dir, true);
  const named = await evalTargets(w.evalFile, w.experiments, w.runs);
  assert.deepEqual(named, { adapters: [join(dir, 'runs', 'r1', 'adapter')], model: '/models/tiny', experiments: [w.experiments[0]] });
  const dir2 = await tempDir(t);
  const w2 = await workspace(dir2, false);
  const all = await evalTargets(w2.evalFile, w2.experiments, w2.runs);
  assert.deepEqual(all, { adapters: [join(dir2, 'runs', 'r1', 'adapter'), join(dir2, 'runs', 'r3', 'adapter')], model: null, experiments: [] });
});

test('profile "All adapters of this experiment": every final adapter, one failure message per failing adapter; CodeLens runs one case', async (t) => {
  const dir = await tempDir(t);
  stub.setWorkspace(dir, {});
  const w = await workspace(dir, false);
  const inference = new PerAdapterInference();
  const lab = {
    own: <T,>(d: T) => d, inference, adapterState: { active: null },
    experiments: { list: () => w.experiments.map((file) => ({ file, workspaceFolder: dir })) },
    runs: { runs: () => w.runs },
  };
  registerEvaluation(lab as never);
  const ctrl = stub.recorded.testControllers.at(-1)!;
  const profile = ctrl.profiles.find((p) => p.label === 'All adapters of this experiment')!;
  assert.ok(profile);
  await ctrl.resolveHandler!(undefined);
  const fileItem = ctrl.items.get(stub.Uri.file(w.evalFile).toString())!;

  // No experiment names the set and no model is configured: errored with what to do.
  await profile.run({ include: [fileItem], exclude: [] }, { isCancellationRequested: false });
  assert.match(ctrl.runs.at(-1)!.outcomes[0].messages![0].message, /^No model/);

  stub.setWorkspace(dir, { 'loralab.modelPath': '/models/tiny' });
  await profile.run({ include: [fileItem], exclude: [] }, { isCancellationRequested: false });
  const run = ctrl.runs.at(-1)!;
  const final = run.outcomes.filter((o) => o.state !== 'started');
  if (final[0].state === 'errored') assert.fail(final[0].messages![0].message);
  assert.deepEqual(final.map((o) => o.state), ['failed', 'failed']);
  const gen = inference.calls.find((c) => c.op === 'generate')!.args[0] as GenerateRequest;
  assert.deepEqual(gen.variants, [join(dir, 'runs', 'r1', 'adapter'), join(dir, 'runs', 'r3', 'adapter')]);
  // france: only r3 (" Rome") fails; italy: only r1 (" Paris") fails. One message per failing adapter.
  assert.deepEqual(final[0].messages!.map((m) => [m.message.split(':')[0], m.actualOutput]), [['r3/adapter', ' Rome']]);
  assert.deepEqual(final[1].messages!.map((m) => [m.message.split(':')[0], m.actualOutput]), [['r1/adapter', ' Paris']]);

  // Named by experiment a: only its run r1's adapter, on a's model.
  await writeFile(w.experiments[0], JSON.stringify({ name: 'a', model: '/models/named', data: { train: 'train.txt' }, eval: { files: ['capitals.eval.jsonl'] } }));
  inference.calls.length = 0;
  await profile.run({ include: [fileItem], exclude: [] }, { isCancellationRequested: false });
  assert.deepEqual(ctrl.runs.at(-1)!.outcomes.filter((o) => o.state !== 'started').map((o) => o.state), ['passed', 'failed']);
  assert.ok(inference.calls.some((c) => c.op === 'load' && c.args[0] === '/models/named'), JSON.stringify(inference.calls));

  // CodeLenses: base / active adapter on the first line (whole set) and on each case's line.
  const doc = { uri: stub.Uri.file(w.evalFile), fileName: w.evalFile, getText: () => readFileSync(w.evalFile, 'utf8') };
  const lenses = stub.recorded.codeLens.at(-1)!.provideCodeLenses(doc as never) as unknown as InstanceType<typeof stub.CodeLens>[];
  assert.deepEqual(lenses.map((l) => [l.range.startLine, l.command!.title, l.command!.arguments!.slice(1)]), [
    [0, 'Run eval set (base)', [null, 'base']], [0, 'Run eval set (active adapter)', [null, 'active']],
    [1, 'Run eval (base)', [2, 'base']], [1, 'Run eval (active adapter)', [2, 'active']],
    [2, 'Run eval (base)', [3, 'base']], [2, 'Run eval (active adapter)', [3, 'active']],
  ]);
  inference.calls.length = 0;
  await runEvalCases(stub.Uri.file(w.evalFile) as never, 3, 'base');
  const one = ctrl.runs.at(-1)!.outcomes.filter((o) => o.state !== 'started');
  assert.deepEqual(one.map((o) => [o.id.split('#')[1], o.state]), [['3', 'passed']]); // the base model answers " Rome": only the italy case (line 3) ran
  await assert.rejects(runEvalCases(stub.Uri.file(w.evalFile) as never, 1, 'base'), /capitals\.eval\.jsonl:1: no eval case on this line/);

  // Through the command table, as a click on the CodeLens runs it: VS Code passes the lens's
  // three arguments (uri, line, profile); the handler once lost the third and the uri (a raw
  // "Cannot read properties of undefined" toast in a real editor).
  const { registerCommands } = await import('../../src/extension/commands');
  const logged: string[] = [];
  registerCommands({ own: <T>(d: T) => d, output: { appendLine: (l: string) => logged.push(l) } } as never);
  const italyBase = lenses[4].command!;
  assert.deepEqual(italyBase.arguments!.slice(1), [3, 'base']);
  const runsBefore = ctrl.runs.length;
  await stub.commands.executeCommand(italyBase.command, ...italyBase.arguments!);
  assert.deepEqual(logged, []);
  assert.equal(ctrl.runs.length, runsBefore + 1);
  assert.deepEqual(ctrl.runs.at(-1)!.outcomes.filter((o) => o.state !== 'started').map((o) => [o.id.split('#')[1], o.state]), [['3', 'passed']]);
  // From the palette (no arguments): one line saying where the command comes from.
  await stub.commands.executeCommand(italyBase.command);
  assert.match(logged.at(-1) ?? '', /^error: Run Eval Cases: Run Eval Cases is run from the CodeLens above an eval file/);
});
