// `loralab bench --baseline`: the ratio arithmetic against hand-computed medians, the PyTorch
// child's environment and arguments as ../shared/bench/README.md prescribes them, the output
// format, and the one-line errors when the script, python3 or torch is missing. A fake
// "python" (a shell script) stands in for PyTorch, so no test needs torch; ours runs for real
// at a tiny size (1 layer, 1 × 8 tokens).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TORCH_INSTALL, checkTorchVersion, memoryWords, parseTorchOutput, pythonFailure, speedWords, summarize, torchEnv } from '../../src/cli/bench-baseline';
import { median, upperMedian } from '../../src/cli/stats';
import { InputError } from '../../src/cli/output';
import { runCli } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';

const posix = process.platform !== 'win32';

test('median: middle value, mean of the two middle values for an even count', () => {
  assert.equal(median([300, 100, 200]), 200);
  assert.equal(median([10, 1, 3, 2]), 2.5);
  assert.equal(median([7]), 7);
  assert.throws(() => median([]));
});

test('upperMedian: sorted[⌊n / 2⌋] as torch_lora_bench.py takes step_s_median', () => {
  assert.equal(upperMedian([300, 100, 200]), 200);
  assert.equal(upperMedian([10, 1, 3, 2]), 3);
  assert.throws(() => upperMedian([]));
});

test('summarize: speed-up = PyTorch median ms / ours, memory ratio = our median peak RSS / PyTorch\'s', () => {
  const ours = [{ ms: 300, peakRssMib: 1000 }, { ms: 100, peakRssMib: 1100 }, { ms: 200, peakRssMib: 1050 }];
  const theirs = [{ ms: 500, peakRssMib: 2100 }, { ms: 400, peakRssMib: 2000 }, { ms: 600, peakRssMib: 2200 }];
  const s = summarize(ours, theirs);
  // Hand-computed: medians 200 ms / 500 ms, 1050 MiB / 2100 MiB.
  assert.equal(s.ours_ms_median, 200);
  assert.equal(s.pytorch_ms_median, 500);
  assert.equal(s.speedup, 2.5);
  assert.equal(s.ours_peak_rss_mib_median, 1050);
  assert.equal(s.pytorch_peak_rss_mib_median, 2100);
  assert.equal(s.memory_ratio, 0.5);
  assert.deepEqual(s.ours_ms, [300, 100, 200], 'per round, in round order');
  assert.deepEqual(s.pytorch_peak_rss_mib, [2100, 2000, 2200]);
});

test('torchEnv: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset, OPENBLAS_NUM_THREADS = threads, the rest kept', () => {
  const env = torchEnv({ PATH: '/bin', OPENBLAS_CORETYPE: 'Haswell', OPENBLAS_L2_SIZE: '1048576', OPENBLAS_NUM_THREADS: '8' }, 2);
  assert.deepEqual(env, { PATH: '/bin', OPENBLAS_NUM_THREADS: '2' });
});

test('pythonFailure: a missing interpreter or torch says what to install (InputError); other failures name the last stderr line', () => {
  const base = { code: 1, signal: null, stdout: '' };
  const enoent = Object.assign(new Error('spawn /nope ENOENT'), { code: 'ENOENT' });
  const noPython = pythonFailure('/nope', 'x', { ...base, code: null, stderr: '', spawnError: enoent });
  assert.ok(noPython instanceof InputError);
  assert.match(noPython.message, /\/nope not found/);
  assert.ok(noPython.message.includes(TORCH_INSTALL));
  const noTorch = pythonFailure('/usr/bin/python3', 'x', { ...base, stderr: 'Traceback (most recent call last):\n  File "<string>", line 1\nModuleNotFoundError: No module named \'torch\'\n' });
  assert.ok(noTorch instanceof InputError);
  assert.match(noTorch.message, /No module named 'torch'.*apt-get install -y python3-torch libopenblas0-pthread/);
  const noBlas = pythonFailure('p', 'x', { ...base, stderr: 'OSError: libopenblas.so.0: cannot open shared object file: No such file or directory\n' });
  assert.ok(noBlas instanceof InputError);
  const crash = pythonFailure('p', 'bench.py', { ...base, code: 3, stderr: 'warming up\nRuntimeError: out of memory\n' });
  assert.ok(crash instanceof Error && !(crash instanceof InputError));
  assert.equal(crash.message, 'bench --baseline: bench.py exited 3: RuntimeError: out of memory');
  assert.equal(pythonFailure('p', 'x', { ...base, code: 0, stderr: '' }), null);
});

test('pythonFailure: a --python the user gave that does not exist or cannot run: check the path, no apt-get', () => {
  const base = { code: null, signal: null, stdout: '', stderr: '' };
  for (const code of ['ENOENT', 'EACCES']) {
    const e = pythonFailure('/nonexistent', 'x', { ...base, spawnError: Object.assign(new Error(`spawn /nonexistent ${code}`), { code }) }, true);
    assert.ok(e instanceof InputError);
    assert.match(e.message, /^bench --baseline: --python \/nonexistent (does not exist|cannot be run).*; check the path/);
    assert.ok(!e.message.includes('apt-get'), e.message);
  }
});

test('checkTorchVersion: the last stdout line must be a version; anything else is a one-line InputError naming the python', () => {
  const ok = { code: 0, signal: null, stderr: '' };
  assert.equal(checkTorchVersion('py', { ...ok, stdout: '1.13.1\n' }, true), '1.13.1');
  assert.equal(checkTorchVersion('py', { ...ok, stdout: 'a warning\n2.3.0+cpu\n' }, true), '2.3.0+cpu');
  // /bin/true: exit 0, prints nothing; /bin/echo: prints its arguments.
  for (const [stdout, shown] of [['', /printed nothing, not a torch version/], ['-c import torch; print(torch.__version__)\n', /printed "-c import torch.*", not a torch version/]] as const) {
    const e = (() => { try { checkTorchVersion('/bin/true', { ...ok, stdout }, true); } catch (x) { return x; } })();
    assert.ok(e instanceof InputError, String(e));
    assert.match(e.message, /^bench --baseline: \/bin\/true -c "import torch; print\(torch.__version__\)" /);
    assert.match(e.message, shown);
    assert.match(e.message, /pass --python PATH to a Python that has torch$/);
  }
  // A failure that is not a missing torch (here /bin/false) is still the user's input: exit 2, not 1.
  assert.throws(() => checkTorchVersion('/bin/false', { code: 1, signal: null, stdout: '', stderr: '' }, true), (e: Error) => e instanceof InputError && /\/bin\/false -c .* exited 1: no message; pass --python PATH/.test(e.message));
});

test('speedWords / memoryWords: above and below 1 say faster or slower, less or more, on the printed (2-decimal) value', () => {
  assert.equal(speedWords(500 / 425), 'ours 1.18× PyTorch\'s speed (faster; PyTorch ms / ours)');
  assert.equal(speedWords(0.53), 'ours 0.53× PyTorch\'s speed (slower; PyTorch ms / ours)');
  assert.equal(speedWords(0.999), 'ours 1.00× PyTorch\'s speed (same; PyTorch ms / ours)');
  assert.equal(memoryWords(1345 / 2279), 'ours 0.59× PyTorch\'s peak RSS (less; ours / PyTorch)');
  assert.equal(memoryWords(1.5), 'ours 1.50× PyTorch\'s peak RSS (more; ours / PyTorch)');
});

test('parseTorchOutput: the last stdout line as JSON; anything else is an error naming the script', () => {
  assert.deepEqual(parseTorchOutput('note\n{"step_s_median": 1.176, "peak_rss_mb": 2279.1, "torch": "1.13"}\n', 's.py'), { step_s_median: 1.176, peak_rss_mb: 2279.1, torch: '1.13' });
  assert.throws(() => parseTorchOutput('hello\n', 's.py'), /s\.py printed no JSON line with "step_s_median" and "peak_rss_mb" \(last line: hello\)/);
  assert.throws(() => parseTorchOutput('{"step_s_median": "1"}', 's.py'), /s\.py printed no JSON line/);
});

/** A temp folder with a fake python: `-c …` prints a version; a script run logs its argv and OpenBLAS env and prints the script's JSON line. */
function fakePython(body?: string): { dir: string; python: string; script: string; log: string } {
  const dir = tempDir('bench-baseline-');
  const python = join(dir, 'python');
  const script = join(dir, 'torch_lora_bench.py');
  const log = join(dir, 'calls.log');
  writeFileSync(script, '# stand-in\n');
  writeFileSync(python, body ?? `#!/bin/sh
if [ "$1" = "-c" ]; then echo 9.9.9-fake; exit 0; fi
echo "$*|threads=$OPENBLAS_NUM_THREADS|coretype=\${OPENBLAS_CORETYPE-unset}|l2=\${OPENBLAS_L2_SIZE-unset}" >> "${log}"
case "$*" in
  *"--mode forward"*) echo '{"impl": "pytorch-eager", "mode": "forward", "step_s_median": 0.25, "peak_rss_mb": 1500.0}' ;;
  *) echo "progress"; echo '{"impl": "pytorch-eager", "mode": "train", "step_s_median": 0.5, "peak_rss_mb": 2000.0}' ;;
esac
`);
  chmodSync(python, 0o755);
  return { dir, python, script, log };
}

const tiny = ['--layers', '1', '--batch', '1', '--seq', '8', '--rank', '2', '--iters', '1', '--threads', '1'];

test('bench --baseline: usage errors are one line, exit 2', async () => {
  const { script } = fakePython();
  for (const [args, re] of [
    [['bench', '--baseline', '--trainer'], /--baseline and --trainer are two different benches/],
    [['bench', '--rounds', '2'], /--rounds applies only with --baseline: loralab bench --baseline --rounds/],
    [['bench', '--trainer', '--python', '/x', '--baseline-script', '/y'], /--baseline-script, --python apply only with --baseline/],
    [['bench', '--baseline', '--new-tokens', '3'], /--new-tokens applies only to bench without --baseline/],
    [['bench', '--baseline', '--device', 'cuda'], /compares CPU training with PyTorch on the CPU; drop --device cuda/],
    [['bench', '--baseline', '--rounds', '0'], /--rounds must be a positive integer/],
    [['bench', '--baseline', '--baseline-script', `${script}.missing`], /the PyTorch baseline script .*torch_lora_bench\.py\.missing is missing; pass --baseline-script PATH/],
    [['bench', '--baseline', '--baseline-script', tmpdir()], /the PyTorch baseline script .* is not a file \(a folder\?\); pass --baseline-script PATH/],
    [['bench', '--baseline-worker', 'train'], /--baseline-worker is internal to bench --baseline/],
  ] as const) {
    const r = await runCli([...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('bench --baseline without torch: one line saying what to install, exit 2', { skip: !posix }, async () => {
  const { python, script } = fakePython('#!/bin/sh\necho "Traceback (most recent call last):" >&2\necho "ModuleNotFoundError: No module named \'torch\'" >&2\nexit 1\n');
  const r = await runCli(['bench', '--baseline', '--python', python, '--baseline-script', script, ...tiny]);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^loralab: error: bench --baseline: /);
  assert.ok(r.stderr.includes('apt-get install -y python3-torch libopenblas0-pthread'), r.stderr);
  assert.match(r.stderr, /--python PATH/);
});

test('bench --baseline --python that does not exist, or prints no torch version (/bin/true): one line naming it, exit 2, before any measurement', { skip: !posix }, async () => {
  const { dir, script, log } = fakePython();
  const silent = join(dir, 'silent');
  writeFileSync(silent, '#!/bin/sh\nexit 0\n'); // what /bin/true does
  chmodSync(silent, 0o755);
  const cases: [string, RegExp][] = [
    [join(dir, 'no-such-python'), /--python .*no-such-python does not exist; check the path/],
    [silent, /silent -c "import torch; print\(torch.__version__\)" printed nothing, not a torch version/],
  ];
  if (existsSync('/bin/true')) cases.push(['/bin/true', /\/bin\/true -c .* printed nothing, not a torch version/]);
  for (const [py, re] of cases) {
    const r = await runCli(['bench', '--baseline', '--python', py, '--baseline-script', script, ...tiny]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, re);
    assert.ok(!r.stderr.includes('apt-get'), r.stderr);
    assert.ok(!/printed no JSON line/.test(r.stderr), r.stderr);
  }
  assert.ok(!existsSync(log), 'the script never ran');
});

test('bench --baseline --json: PyTorch spawned as its README says, rounds alternate, medians and ratios from the per-round figures', { skip: !posix }, async () => {
  const { python, script, log } = fakePython();
  const r = await runCli(['bench', '--baseline', '--rounds', '2', '--python', python, '--baseline-script', script, '--json', ...tiny], undefined, { OPENBLAS_CORETYPE: 'Haswell', OPENBLAS_L2_SIZE: '1048576' });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, 'one JSON object on stdout');
  const j = JSON.parse(lines[0]);
  assert.equal(j.torch, '9.9.9-fake');
  // Under --json the per-round lines go to stderr; ABBA: round 1 ours first, round 2 PyTorch first.
  assert.match(r.stderr, /^round 1\/2 train .*\(ours first\)$/m);
  assert.match(r.stderr, /^round 2\/2 forward .*\(PyTorch first\)$/m);
  assert.equal(j.rounds, 2);
  assert.equal(j.load_average_before.length, 3);
  assert.equal(j.load_average_after.length, 3);
  assert.match(j.peak_rss, /ru_maxrss of a fresh process per measurement/);
  // The PyTorch side is the fake's fixed figures: 0.5 s / 2000 MiB (train), 0.25 s / 1500 MiB (forward).
  assert.deepEqual(j.train.pytorch_ms, [500, 500]);
  assert.deepEqual(j.forward.pytorch_ms, [250, 250]);
  assert.deepEqual(j.train.pytorch_peak_rss_mib, [2000, 2000]);
  for (const [mode, torchMs, torchRss] of [['train', 500, 2000], ['forward', 250, 1500]] as const) {
    const m = j[mode];
    assert.equal(m.ours_ms.length, 2);
    // Ours: a real Node + ONNX Runtime process, so its ru_maxrss is tens of MiB at least.
    for (const rss of m.ours_peak_rss_mib) assert.ok(rss > 30 && rss < 4000, `${mode} peak RSS ${rss}`);
    for (const ms of m.ours_ms) assert.ok(ms > 0, `${mode} step ${ms}`);
    const oursMs = (m.ours_ms[0] + m.ours_ms[1]) / 2; // median of two rounds
    const oursRss = (m.ours_peak_rss_mib[0] + m.ours_peak_rss_mib[1]) / 2;
    assert.ok(Math.abs(m.ours_ms_median - oursMs) <= 0.11, `${mode} median ${m.ours_ms_median} vs ${oursMs}`);
    assert.ok(Math.abs(m.speedup - torchMs / oursMs) <= 0.01 + 0.002 * (torchMs / oursMs), `${mode} speed-up ${m.speedup} vs ${torchMs / oursMs}`);
    assert.ok(Math.abs(m.memory_ratio - oursRss / torchRss) <= 0.006, `${mode} memory ratio ${m.memory_ratio} vs ${oursRss / torchRss}`);
  }
  // Preflight (-c "import torch"), then 2 rounds × (train, forward), each with the README's environment.
  const calls = readFileSync(log, 'utf8').trim().split('\n');
  assert.equal(calls.length, 4, calls.join('\n'));
  assert.deepEqual(calls.map((c) => /--mode (\w+)/.exec(c)?.[1]), ['train', 'forward', 'train', 'forward']);
  for (const c of calls) {
    assert.ok(c.startsWith(`${script} --mode `), c);
    assert.match(c, / --threads 1 --batch 1 --seq 8 --r 2 --alpha 32 --layers 1 --hidden 512 --heads 8 --kv_heads 4 --intermediate 1408 --vocab 32000 --steps 1\|/);
    assert.match(c, /\|threads=1\|coretype=unset\|l2=unset$/);
  }
});

test('bench --baseline: per-round lines, medians with ratios, what peak RSS is and the load average on stdout', { skip: !posix }, async () => {
  const { python, script } = fakePython();
  const r = await runCli(['bench', '--baseline', '--rounds', '1', '--python', python, '--baseline-script', script, ...tiny]);
  assert.equal(r.code, 0, r.stderr);
  // Step times with one decimal, MiB whole, on both sides.
  assert.match(r.stdout, /^round 1\/1 train +ours \d+\.\d ms \d+ MiB {3}PyTorch 500\.0 ms 2000 MiB {3}\(ours first\)$/m);
  assert.match(r.stdout, /^round 1\/1 forward +ours \d+\.\d ms \d+ MiB {3}PyTorch 250\.0 ms 1500 MiB/m);
  assert.match(r.stdout, /^train step +median of 1: ours \d+\.\d ms, PyTorch 500\.0 ms → ours \d+\.\d\d× PyTorch's speed \((faster|slower|same); PyTorch ms \/ ours\); peak RSS ours \d+ MiB, PyTorch 2000 MiB → ours \d+\.\d\d× PyTorch's peak RSS \((less|more|same); ours \/ PyTorch\)$/m);
  assert.ok(!r.stdout.includes('speed-up'), r.stdout);
  // The word matches the printed ratio (ours against the fake's fixed 500 ms).
  const [, ratio, how] = /ours ([\d.]+)× PyTorch's speed \((\w+)/.exec(r.stdout)!;
  assert.equal(how, Number(ratio) > 1 ? 'faster' : Number(ratio) < 1 ? 'slower' : 'same');
  assert.match(r.stdout, /^forward +median of 1: /m);
  assert.match(r.stdout, /^peak RSS: ru_maxrss \(getrusage\) of a fresh process per measurement/m);
  assert.match(r.stdout, /^load average \(1, 5, 15 min\): before [\d.]+ [\d.]+ [\d.]+, after [\d.]+ [\d.]+ [\d.]+$/m);
  assert.match(r.stderr, /^bench --baseline: Llama hidden 512, 1 layer \(reduced.*, 1 timed step per measurement; 1 round, ours and PyTorch/m);
  assert.match(r.stderr, /PyTorch 9\.9\.9-fake eager/);
});
