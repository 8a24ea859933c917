// Token loss of a JSONL training data file, against the `vscode` stub and a scripted
// InferenceClient: each record's training text is scored (not the JSON line), and every token's
// decoration lands on the characters of the JSON string that holds it (escapes included) — the
// expected file offsets are derived by hand here. The hover lists the worker's top-5 next tokens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { register } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ScoreResult } from '../../src/extension/worker/api';
import { FakeInference } from './fake-inference';
import { tempDir } from './helpers';

const stubUrl = pathToFileURL(join(import.meta.dirname, 'vscode-stub.ts')).href;
register(`data:text/javascript,${encodeURIComponent(`export async function resolve(s, c, n) { return s === 'vscode' ? { url: ${JSON.stringify(stubUrl)}, shortCircuit: true } : n(s, c); }`)}`);
const stub = await import('./vscode-stub');
const { showTokenLoss } = await import('../../src/extension/evaluation/register');
const { literalOffset } = await import('../../src/extension/evaluation/jsonl');

type Pos = { line: number; character: number };

/** Tokens split before spaces; NLL 1, 2, 3, … per token; top-5 fixed. */
class SplitInference extends FakeInference {
  override async score(_model: string, adapter: string | null, text: string): Promise<ScoreResult> {
    this.calls.push({ op: 'score', args: [adapter, text] });
    const tokens = ['<s>', ...text.split(/(?= )/)];
    const top = tokens.slice(1).map(() => [{ token: '▁the', p: 0.5 }, { token: '▁a', p: 0.25 }]);
    return { token_ids: tokens.map((_, i) => i), tokens, nll: tokens.slice(1).map((_, i) => i + 1), mean_nll: 0, top };
  }
}

test('literalOffset: escapes count as one decoded character (RFC 8259 §7)', () => {
  const lit = String.raw`"a\"b\u00e9\n"`; // decodes to a " b é newline
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => literalOffset(lit, 100, i)), [101, 102, 104, 105, 111, 113]);
});

test('Show Token Loss on a .jsonl data file: per record training text, decorations on the JSON strings, top-5 in the hover', async (t) => {
  const dir = await tempDir(t);
  stub.setWorkspace(dir, { 'loralab.modelPath': '/models/tiny' });
  const lines = [
    String.raw`{"text": "a \"b\" c"}`,
    '{"prompt": "Q:", "completion": " yes"}',
    '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}',
    '{"foo": 1}',
  ];
  const text = lines.join('\n');
  const starts = lines.map((_, i) => lines.slice(0, i).reduce((n, l) => n + l.length + 1, 0));
  const decorated: { start: number; end: number; hover: string }[] = [];
  const toOffset = (p: { line: number; character: number }) => starts[p.line] + p.character;
  const fileName = join(dir, 'train.jsonl');
  stub.window.activeTextEditor = {
    document: { uri: stub.Uri.file(fileName), fileName, getText: () => text, positionAt: (o: number) => { const line = starts.filter((s) => s <= o).length - 1; return { line, character: o - starts[line] }; } },
    // The stub's Range keeps its two constructor arguments (here: the start and end positions).
    setDecorations: (_t: unknown, opts: { range: { startLine: Pos; startCharacter: Pos }; hoverMessage: { value: string } }[]) => {
      for (const o of opts) decorated.push({ start: toOffset(o.range.startLine), end: toOffset(o.range.startCharacter), hover: o.hoverMessage.value });
    },
  };
  t.after(() => void (stub.window.activeTextEditor = undefined));
  const inference = new SplitInference();
  const lab = { own: <T,>(d: T) => d, inference, adapterState: { active: null }, experiments: { list: () => [] } };
  await showTokenLoss(lab as never, false);
  // What training sees: the text, prompt + completion, the chat contents (approximated); the bad line is skipped.
  assert.deepEqual(inference.calls.filter((c) => c.op === 'score').map((c) => c.args[1]), ['a "b" c', 'Q: yes', 'hi\n\nyo']);
  const got = decorated.sort((a, b) => a.start - b.start).map((d) => text.slice(d.start, d.end));
  // Hand-derived: the characters of each token inside the JSON string literals, escapes as written.
  assert.deepEqual(got, ['a', String.raw` \"b\"`, ' c', 'Q:', ' yes']);
  assert.equal(decorated.find((d) => text.slice(d.start, d.end) === ' yes')!.start, lines[0].length + 1 + lines[1].indexOf('" yes"') + 1);
  assert.match(decorated[0].hover, /NLL 1\.000 .*most probable: `"▁the"` 0\.500, `"▁a"` 0\.250/s);
});
