// `loralab generate`: the CLI as a child process against the golden greedy continuation of an
// independent PyTorch implementation; bad input (exit 2, one line naming the file and line); and,
// in process, that several variants share one ONNX Runtime session (adapter swap = feeds).
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runGenerate } from '../../src/cli/generate';
import { CausalLM } from '../../src/engine/infer/causal-lm';
import { fullForwardStep, generate } from '../../src/engine/infer/generate';
import { HF_DEFAULTS } from '../../src/engine/infer/generation-config';
import { Session } from '../../src/engine/runtime/session';
import { loadTokenizer } from '../../src/engine/tokenizer/index';
import { readPeftAdapter, writePeftAdapter } from '../../src/engine/weights/peft';
import { runCli } from '../helpers/cli';
import { SHARED } from '../helpers/paths';
import { tempDir } from '../helpers/tmp';

const MODEL = `${SHARED}/models/stories260K`;
const ADAPTER = `${SHARED}/golden/adapters/stories260K_r4_a8`;
const golden = JSON.parse(readFileSync(`${SHARED}/golden/stories260K_logits.json`, 'utf8'));
const GOLDEN_IDS: number[] = golden.greedy.new_token_ids;
const GOLDEN_TEXT: string = golden.greedy.continuation_text;
const TMP = tempDir('loralab-generate-');
const at = (...p: string[]) => join(TMP, ...p);
const CHAT_MODEL = at('chat-model');
const BIG_ADAPTER = at('big-adapter');

before(async () => {
  // stories260K plus a chat template, written out by hand below.
  await mkdir(CHAT_MODEL, { recursive: true });
  for (const f of await readdir(MODEL)) {
    await copyFile(join(MODEL, f), join(CHAT_MODEL, f));
    chmodSync(join(CHAT_MODEL, f), 0o644);
  }
  const tc = JSON.parse(readFileSync(join(MODEL, 'tokenizer_config.json'), 'utf8'));
  tc.chat_template = "{{ bos_token }}{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}";
  await writeFile(join(CHAT_MODEL, 'tokenizer_config.json'), JSON.stringify(tc));
  // The golden adapter with B × 300: strong enough to change the greedy continuation.
  const a = await readPeftAdapter(ADAPTER);
  for (const m of a.modules.values()) m.B = { ...m.B, data: Float32Array.from(m.B.data as Float32Array, (x) => x * 300) };
  await writePeftAdapter(BIG_ADAPTER, a.config, a.modules);
});

const json = async (args: string[]) => {
  const r = await runCli(['generate', '--model', MODEL, ...args, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { results: { adapter: string | null; ids: number[]; text: string; finish_reason: string }[] };
};

test('--json: greedy continuation equals the golden ids and text', async () => {
  const out = await json(['--prompt', golden.prompt, '--max-new-tokens', String(GOLDEN_IDS.length)]);
  assert.deepEqual(out, { results: [{ adapter: null, ids: GOLDEN_IDS, text: GOLDEN_TEXT, finish_reason: 'length' }] });
});

test('--max-new-tokens and --stop', async () => {
  const short = await json(['--prompt', golden.prompt, '--max-new-tokens', '5']);
  assert.deepEqual(short.results[0].ids, GOLDEN_IDS.slice(0, 5));
  assert.equal(short.results[0].finish_reason, 'length');
  const stopped = await json(['--prompt', golden.prompt, '--stop', 'park', '--stop', 'never there']);
  const r = stopped.results[0];
  assert.equal(r.finish_reason, 'stop');
  assert.equal(r.text, GOLDEN_TEXT.slice(0, GOLDEN_TEXT.indexOf('park'))); // " She loved to play outside in the "
  assert.deepEqual(r.ids, GOLDEN_IDS.slice(0, r.ids.length));
});

test('streams text to stdout, one header per variant; info on stderr', async () => {
  const r = await runCli(['generate', '--model', MODEL, '--prompt', golden.prompt, '--max-new-tokens', '12', '--base', '--adapter', BIG_ADAPTER]);
  assert.equal(r.code, 0, r.stderr);
  const want = `=== base model ===\n${(await json(['--prompt', golden.prompt, '--max-new-tokens', '12'])).results[0].text}\n`;
  assert.ok(r.stdout.startsWith(want), r.stdout);
  assert.match(r.stdout, new RegExp(`\n=== adapter ${BIG_ADAPTER.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} ===\n`));
  assert.match(r.stderr, /greedy; at most 12 new tokens/);
  assert.match(r.stderr, /finish_reason length/);
});

test('--messages renders the chat template with the generation prompt', async () => {
  const file = at('chat.json');
  await writeFile(file, JSON.stringify([{ role: 'user', content: 'Tell me a story.' }]));
  const r = await runCli(['generate', '--model', CHAT_MODEL, '--messages', file, '--max-new-tokens', '8', '--json']);
  assert.equal(r.code, 0, r.stderr);
  // The same text as a plain prompt (the tokenizer adds the BOS that the template writes).
  const plain = await runCli(['generate', '--model', CHAT_MODEL, '--prompt', 'user: Tell me a story.\nassistant:', '--max-new-tokens', '8', '--json']);
  assert.deepEqual(JSON.parse(r.stdout), JSON.parse(plain.stdout));
  const jsonl = at('chat.jsonl');
  await writeFile(jsonl, '{"role": "user", "content": "Tell me a story."}\n');
  const r2 = await runCli(['generate', '--model', CHAT_MODEL, '--messages', jsonl, '--max-new-tokens', '8', '--json']);
  assert.deepEqual(JSON.parse(r2.stdout), JSON.parse(plain.stdout));
});

/** Runs a bad command: exit 2, one `loralab: error:` line matching `message`, empty stdout. */
async function rejects(args: string[], message: RegExp): Promise<void> {
  const r = await runCli(['generate', ...args]);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^loralab: error: /);
  assert.match(lines[0], message);
}

test('bad input: one line, exit 2', async () => {
  await rejects(['--model', MODEL], /no prompt: pass --prompt STR .* or --messages FILE/);
  const ok = at('ok.json');
  await writeFile(ok, '[{"role": "user", "content": "hi"}]');
  await rejects(['--model', MODEL, '--prompt', 'x', '--messages', ok], /--prompt and --messages were both given/);
  await rejects(['--model', MODEL, '--messages', ok], /--messages needs a chat template, but .*stories260K has none.*--prompt/);
  await rejects(['--model', MODEL, '--prompt', 'x', '--temperature', '-1'], /--temperature must be a number ≥ 0/);
  await rejects(['--model', MODEL, '--prompt', 'x', '--max-new-tokens', '0'], /--max-new-tokens must be a positive integer/);
  await rejects(['--model', MODEL, '--messages', at('missing.json')], /missing\.json: file not found; check the path given to --messages/);
  // A folder without config.json is named for that, before the tokenizer is looked for.
  const noConfig = at('no-config');
  await mkdir(noConfig);
  await rejects(['--model', noConfig, '--prompt', 'x'], /no-config[/\\]config\.json: missing; a Hugging Face model folder needs config\.json/);
});

test('bad messages files name the file and line', async () => {
  const syntax = at('syntax.json');
  await writeFile(syntax, '[\n  {"role": "user", "content": "hi"},\n  {"role": "user" "content": "x"}\n]');
  await rejects(['--model', CHAT_MODEL, '--messages', syntax], /syntax\.json:3: not valid JSON/);
  const noRole = at('norole.json');
  await writeFile(noRole, '[\n  {"role": "user", "content": "hi"},\n  {"content": "x"}\n]');
  await rejects(['--model', CHAT_MODEL, '--messages', noRole], /norole\.json:3: messages\[1\]\.role must be a non-empty string/);
  const badLine = at('bad.jsonl');
  await writeFile(badLine, '{"role": "user", "content": "hi"}\n\n{"role": "assistant", "content": 5}\n');
  await rejects(['--model', CHAT_MODEL, '--messages', badLine], /bad\.jsonl:3: the message\.content must be a string, got a number/);
  const notJson = at('notjson.jsonl');
  await writeFile(notJson, '{"role": "user", "content": "hi"}\nnope\n');
  await rejects(['--model', CHAT_MODEL, '--messages', notJson], /notjson\.jsonl:2: not valid JSON/);
  const empty = at('empty.json');
  await writeFile(empty, '[]');
  await rejects(['--model', CHAT_MODEL, '--messages', empty], /empty\.json:1: the list of messages is empty/);
});

test('variants share one session: base, then an adapter swapped in as feeds', async () => {
  const create = Session.create;
  let builds = 0;
  Session.create = async (...a: Parameters<typeof Session.create>) => {
    builds++;
    return create.apply(Session, a);
  };
  const write = process.stdout.write;
  let stdout = '';
  // emitJson writes strings; the test runner's own reporter (binary chunks) passes through.
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    if (typeof chunk !== 'string') return (write as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
    stdout += chunk;
    return true;
  }) as typeof process.stdout.write;
  try {
    await runGenerate({ model: MODEL, base: true, adapter: [BIG_ADAPTER, ADAPTER], prompt: golden.prompt, maxNewTokens: 20, json: true });
  } finally {
    process.stdout.write = write;
    Session.create = create;
  }
  assert.equal(builds, 1, 'one session for three variants');
  const { results } = JSON.parse(stdout);
  assert.deepEqual(results.map((r: { adapter: string | null }) => r.adapter), [null, BIG_ADAPTER, ADAPTER]);
  assert.deepEqual(results[0].ids, GOLDEN_IDS.slice(0, 20));
  assert.notDeepEqual(results[1].ids, results[0].ids, 'the big adapter changes the continuation');
  // Reference for the swapped-in adapter: a separately built graph with the adapter loaded from the start.
  const lm = await CausalLM.load(MODEL, { adapter: { adapter: await readPeftAdapter(BIG_ADAPTER), source: BIG_ADAPTER } });
  try {
    const tok = await loadTokenizer(MODEL);
    const ref = await generate(fullForwardStep(lm), tok.encode(golden.prompt), {
      maxNewTokens: 20, sampling: HF_DEFAULTS, eosTokenIds: tok.eosTokenIds, decode: (ids) => tok.decode(ids, { skipSpecialTokens: true }),
    });
    assert.deepEqual(results[1].ids, ref.ids);
  } finally {
    await lm.release();
  }
});

