// "New Experiment" with its dialogs (issue 14, item 4), against the `vscode` stub (dialogs answered
// from a queue): Browse… on a folder that is not a model folder explains what it lacks and opens
// the dialog again instead of ending the wizard; the data picker lists only data files the reader
// takes, never a model folder's vocab.txt / merges.txt or an eval set; the generated file's trailing
// comments share one column whatever the paths, and say how long records are handled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { register } from 'node:module';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseExperiment } from '../../src/experiment/index';
import { defaultExperiment } from '../../src/experiment/template';
import { tempDir } from './helpers';

const stubUrl = pathToFileURL(join(import.meta.dirname, 'vscode-stub.ts')).href;
register(`data:text/javascript,${encodeURIComponent(`export async function resolve(s, c, n) { return s === 'vscode' ? { url: ${JSON.stringify(stubUrl)}, shortCircuit: true } : n(s, c); }`)}`);
const stub = await import('./vscode-stub');
const { newExperiment, PICK_AGAIN } = await import('../../src/extension/experiments/newExperiment');

type Item = { label: string; value?: unknown };

/** A workspace with a model folder (with tokenizer .txt files), an empty folder, data files and an eval set. */
function workspace(ws: string): { model: string; empty: string } {
  const model = join(ws, 'models', 'tiny');
  mkdirSync(model, { recursive: true });
  for (const f of ['config.json', 'tokenizer.json', 'model.safetensors', 'vocab.txt', 'merges.txt']) writeFileSync(join(model, f), '{}');
  const empty = join(ws, 'downloads');
  mkdirSync(empty);
  writeFileSync(join(empty, 'README.txt'), 'notes');
  mkdirSync(join(ws, 'data'));
  writeFileSync(join(ws, 'data', 'train.jsonl'), '{"text": "a"}\n');
  writeFileSync(join(ws, 'data', 'qa.eval.jsonl'), '{"prompt": "q", "expected": "a"}\n');
  writeFileSync(join(ws, 'data', 'notes.json'), '{}');
  return { model, empty };
}

test('Browse… on a folder without config.json explains and lets the user pick again; the data picker offers data files only', async (t) => {
  const ws = await tempDir(t);
  const { model, empty } = workspace(ws);
  stub.setWorkspace(ws);
  stub.recorded.messages.length = 0;
  const pickers: Item[][] = [];
  const quickPick = stub.window.showQuickPick;
  // Quick picks: record the items offered, answer Browse… for the model, train.jsonl for the data.
  (stub.window as { showQuickPick: unknown }).showQuickPick = async (items: Item[]) => {
    pickers.push(items);
    return pickers.length === 1 ? items.find((i) => i.value === 'browse') : items.find((i) => i.value === join(ws, 'data', 'train.jsonl'));
  };
  t.after(() => void ((stub.window as { showQuickPick: unknown }).showQuickPick = quickPick));
  // Dialog → the empty folder; message → Pick Another Folder; dialog → the model; name.
  stub.recorded.answers.push([stub.Uri.file(empty)], PICK_AGAIN, [stub.Uri.file(model)], 'tiny-r16');
  const added: string[] = [];
  await newExperiment({ experiments: { add: (u: { fsPath: string }) => added.push(u.fsPath) } } as never);

  assert.equal(stub.recorded.answers.length, 0, 'every answer was asked for');
  const warning = stub.recorded.messages.find((m) => m.level === 'warning');
  assert.ok(warning, 'the folder without config.json is explained');
  assert.match(warning.text, /downloads is not a Hugging Face model folder: it has no config\.json, tokenizer\.json, model\.safetensors/);
  // The data picker: .jsonl / .txt files outside model folders (downloads/README.txt is one); not
  // the model's vocab.txt / merges.txt, the eval set, or notes.json (the reader takes no .json).
  const offered = pickers[1].filter((i) => typeof i.value === 'string').map((i) => i.value as string);
  assert.deepEqual(offered, [join(ws, 'data', 'train.jsonl'), join(empty, 'README.txt')].sort());
  // The experiment was written with the model picked the second time.
  assert.deepEqual(added, [join(ws, 'tiny-r16.lora.json')]);
  const cfg = parseExperiment(readFileSync(added[0], 'utf8'), added[0]);
  assert.equal(cfg.model, model);
  assert.equal(cfg.data.train, join(ws, 'data', 'train.jsonl'));
});

test('cancelling the "not a model folder" message ends the wizard without writing a file', async (t) => {
  const ws = await tempDir(t);
  const { empty } = workspace(ws);
  stub.setWorkspace(ws);
  stub.recorded.answers.push({ label: 'Browse…', value: 'browse' }, [stub.Uri.file(empty)], undefined);
  await newExperiment({ experiments: { add: () => assert.fail('nothing is written') } } as never);
  assert.equal(stub.recorded.answers.length, 0);
  assert.ok(!readdirSync(ws).some((f) => f.endsWith('.lora.json')));
});

test("the new file's trailing comments share one column for short and long paths, and say how long records are handled", () => {
  for (const train of ['t.txt', 'data/some/rather/long/folder/name/for/the/training-data.jsonl']) {
    const text = defaultExperiment('x', './models/tiny', train);
    const columns = new Set<number>();
    for (const line of text.split('\n')) {
      // A trailing comment: code (not only spaces) before "//", outside strings (none of the values here hold "//").
      const i = line.indexOf(' //');
      if (i < 0 || !line.slice(0, i).trim()) continue;
      const code = line.slice(0, i).trimEnd();
      const col = i + 1;
      // Aligned, unless the code itself reaches the column (then one space).
      if (code.length >= 41) assert.equal(col, code.length + 1, line);
      else columns.add(col);
    }
    assert.deepEqual([...columns], [42], `${train}: comment columns ${[...columns]}`);
    assert.match(text, /"max_seq_length": 512, +\/\/ .*text records are chunked, prompt\/completion and chat records truncated/);
  }
});
