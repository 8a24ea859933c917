// `loralab setup-gpu` as a user runs it (child process): the check's table and exit code, its
// --json document, and download failures as one `loralab: error:` line. Nothing here can succeed
// in installing (that would write into node_modules): installs are tested in
// test/engine/runtime/cuda-install.test.ts against a temporary folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli';
import { ROOT } from '../helpers/paths';
import { ortPackage } from '../../src/engine/runtime/cuda-libs';
import { PROGRESS_FORMAT, progressPayload } from '../../src/cli/setup-gpu';
import { SingleBar } from 'cli-progress';
import { tempDir } from '../helpers/tmp';

const linuxX64 = process.platform === 'linux' && process.arch === 'x64';
const providerInstalled = existsSync(join(ortPackage()?.binDir ?? '/nonexistent', 'libonnxruntime_providers_cuda.so'));

/** A folder of fake CUDA 12 libraries (everything but cuDNN), for LD_LIBRARY_PATH. */
function fakeCuda(): string {
  const dir = tempDir('fake-cuda-');
  for (const n of ['libcuda.so.1', 'libcudart.so.12', 'libcublasLt.so.12', 'libcublas.so.12', 'libnvrtc.so.12', 'libcurand.so.10', 'libcufft.so.11']) writeFileSync(join(dir, n), '');
  return dir;
}

test('setup-gpu --check: each library found where, or MISSING with the folders searched and a fix; exit 1', { skip: !linuxX64 && 'Linux x64 only' }, async () => {
  const dir = fakeCuda();
  const r = await runCli(['setup-gpu', '--check'], undefined, { LD_LIBRARY_PATH: dir });
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr, '');
  const lines = r.stdout.split('\n');
  assert.match(lines[0], /^onnxruntime-node \d+\.\d+\.\d+ on linux x64: the CUDA provider needs CUDA 12 and cuDNN 9$/);
  assert.ok(lines.some((l) => l === `  ok       libcudart.so.12                     CUDA 12 runtime, ${dir}/libcudart.so.12`), r.stdout);
  // libcudnn.so.9 is nowhere in the fake folder, so unless this machine has cuDNN 9 installed, it is missing.
  const cudnn = lines.findIndex((l) => l.startsWith('  MISSING  libcudnn.so.9'));
  if (cudnn >= 0) {
    assert.match(lines[cudnn + 1], new RegExp(`^           searched: (${dir} \\(LD_LIBRARY_PATH\\), the ldconfig cache \\(ldconfig -p\\), /lib/x86_64-linux-gnu, .*|the same folders as above)$`));
    assert.match(lines[cudnn + 2], /^ {11}fix: .*nvidia-cudnn-cu12/);
  }
  if (!providerInstalled) {
    assert.ok(lines.some((l) => l.startsWith('  MISSING  libonnxruntime_providers_cuda.so')), r.stdout);
    assert.match(lines.at(-2)!, /^not ready: \d+ of 10 libraries missing; loralab setup-gpu fetches the provider \(offline: loralab setup-gpu --from microsoft\.ml\.onnxruntime\.gpu\.linux\.\d+\.\d+\.\d+\.nupkg\)/);
  }
});

test('setup-gpu --check --json: one diagnosis document with every library, where found and where searched', { skip: !linuxX64 && 'Linux x64 only' }, async () => {
  const dir = fakeCuda();
  const r = await runCli(['setup-gpu', '--check', '--json'], undefined, { LD_LIBRARY_PATH: dir });
  const docs = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(docs.length, 1);
  const d = docs[0];
  assert.equal(d.event, 'diagnosis');
  assert.equal(d.cudaMajor, 12);
  assert.equal(d.libraries.length, 10);
  assert.equal(d.libraries.find((l: { name: string }) => l.name === 'libcublas.so.12').found, join(dir, 'libcublas.so.12'));
  for (const l of d.libraries) assert.ok(l.searched.length > 0 && typeof l.fix === 'string', l.name);
  assert.equal(r.code, d.ok ? 0 : 1);
});

test('setup-gpu --url to a 404: one error line with the URL and status, exit 1, nothing left in the binary folder', { skip: (!linuxX64 && 'Linux x64 only') || (providerInstalled && 'provider already installed here') }, async () => {
  const server = createServer((_req, res) => {
    res.writeHead(404, 'Not Found');
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mirror/pkg.nupkg`;
  try {
    const before = readdirSync(ortPackage()!.binDir);
    const r = await runCli(['setup-gpu', '--url', url]);
    assert.equal(r.code, 1);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('loralab: error:'));
    assert.deepEqual(errors, [`loralab: error: ${url}: HTTP 404 Not Found while downloading Microsoft.ML.OnnxRuntime.Gpu.Linux ${ortPackage()!.version}; the source has no Microsoft.ML.OnnxRuntime.Gpu.Linux ${ortPackage()!.version}`]);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.deepEqual(readdirSync(ortPackage()!.binDir), before);
  } finally {
    server.close();
  }
});

test('setup-gpu --from a file that is not a .nupkg, or does not exist: one line, exit 2', { skip: (!linuxX64 && 'Linux x64 only') || (providerInstalled && 'provider already installed here') }, async () => {
  const file = join(tempDir('nupkg-'), 'x.nupkg');
  writeFileSync(file, 'plain text');
  let r = await runCli(['setup-gpu', '--from', file]);
  assert.equal(r.code, 2);
  const page = 'https://www\\.nuget\\.org/packages/Microsoft\\.ML\\.OnnxRuntime\\.Gpu\\.Linux/[\\d.]+';
  assert.match(r.stderr, new RegExp(`^installing the CUDA provider from ${file}\\nloralab: error: ${file}: not a zip archive \\(\\.nupkg\\) .*; give microsoft\\.ml\\.onnxruntime\\.gpu\\.linux\\.[\\d.]+\\.nupkg \\("Download package" on ${page}\\)\\n$`));
  r = await runCli(['setup-gpu', '--from', `${file}.missing`]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`loralab: error: .*x\\.nupkg\\.missing: no such file; give the downloaded microsoft\\.ml\\.onnxruntime\\.gpu\\.linux\\.[\\d.]+\\.nupkg \\("Download package" on ${page}\\)\\n$`));
  assert.doesNotMatch(r.stderr, /api\.nuget\.org/);
  const folder = tempDir('nupkg-dir-');
  r = await runCli(['setup-gpu', '--from', folder]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`loralab: error: ${folder} is a folder; give the \\.nupkg file \\(microsoft\\.ml\\.onnxruntime\\.gpu\\.linux\\.[\\d.]+\\.nupkg\\) itself\\n$`));
});

test('setup-gpu --url that is not a URL, or not http(s): a usage error (exit 2) before anything is fetched; a port fetch blocks is named as such', async () => {
  let r = await runCli(['setup-gpu', '--url', 'notaurl']);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
  assert.match(r.stderr, /^loralab: error: --url notaurl: not a URL; give the full address/);
  assert.doesNotMatch(r.stderr, /cannot reach|ERR_INVALID_URL/);
  r = await runCli(['setup-gpu', '--url', 'ftp://mirror.example/p.nupkg']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^loralab: error: --url ftp:\/\/mirror\.example\/p\.nupkg: only http\(s\) URLs can be downloaded \(this is ftp\)/);
  r = await runCli(['setup-gpu', '--feed', 'nuget.org']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^loralab: error: --feed nuget\.org: not a URL/);
  if (linuxX64 && !providerInstalled) {
    r = await runCli(['setup-gpu', '--url', 'http://127.0.0.1:9/p.nupkg']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /loralab: error: http:\/\/127\.0\.0\.1:9\/p\.nupkg: port 9 is blocked by Node\.js's fetch/);
    assert.doesNotMatch(r.stderr, /cannot reach/);
  }
});

test('download bar: MiB with one decimal, no ETA before a byte and a second (cli-progress tokens)', () => {
  assert.equal(PROGRESS_FORMAT, 'downloading [{bar}] {percentage}% {got}/{size} MiB | ETA {time_left}');
  const total = 300 * 2 ** 20 + 0.26 * 2 ** 20; // 300.26 MiB
  assert.deepEqual(progressPayload(0, total, 0), { got: '0.0', size: '300.3', time_left: '--' });
  assert.deepEqual(progressPayload(2 ** 20, total, 0.2), { got: '1.0', size: '300.3', time_left: '--' });
  // 30 MiB in 3 s: 10 MiB/s, 270.26 MiB left → 27.026 s → 28s (rounded up).
  assert.deepEqual(progressPayload(30 * 2 ** 20, total, 3), { got: '30.0', size: '300.3', time_left: '28s' });
  assert.equal(progressPayload(2 ** 20, total, 1).time_left, '5m00s'); // 299.26 MiB at 1 MiB/s → 300 s
  assert.equal(progressPayload(total, total, 9).time_left, '0s');
  // Rendered by cli-progress itself (a fake terminal): its own tokens must not shadow ours.
  let out = '';
  const stream = { isTTY: true, columns: 120, write: (t: string) => { out += t; return true; }, cursorTo: () => true, clearLine: () => true, moveCursor: () => true };
  const bar = new SingleBar({ format: PROGRESS_FORMAT, stream: stream as unknown as NodeJS.WriteStream, hideCursor: false });
  bar.start(total, 0, progressPayload(0, total, 0));
  bar.update(30 * 2 ** 20, progressPayload(30 * 2 ** 20, total, 3));
  bar.stop();
  const ansi = new RegExp(`${'\x1b'}\\[[0-9;?]*[A-Za-z]|${'\x1b'}[78]|\\n`, 'g'); // cursor and erase sequences
  const frames = out.split('\x1b[1G').slice(1).map((f) => f.replace(ansi, ''));
  assert.deepEqual(frames.map((f) => f.replace(/\[[=-]+\]/, '[]')), ['downloading [] 0% 0.0/300.3 MiB | ETA --', 'downloading [] 9% 30.0/300.3 MiB | ETA 28s']);
});

test('setup-gpu --check with --from is refused as a usage error', async () => {
  const r = await runCli(['setup-gpu', '--check', '--from', 'x.nupkg']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^loralab: error: --check only checks/);
});

test('commands that run no model do not load ONNX Runtime\'s native binding (lazy loading), so setup-gpu works where it cannot load', { skip: process.platform !== 'linux' && 'reads /proc/self/maps' }, async () => {
  // A preload that reports, at exit, whether onnxruntime_binding.node is mapped into the process.
  const probe = join(tempDir('ort-probe-'), 'probe.cjs');
  writeFileSync(probe, "process.on('exit', () => { if (require('fs').readFileSync('/proc/self/maps', 'utf8').includes('onnxruntime_binding.node')) process.stderr.write('ORT-BINDING-LOADED\\n'); });\n");
  const run = (args: string[]) => new Promise<string>((resolve) => {
    const child = spawn(process.execPath, ['-r', probe, '--import', 'tsx', ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('close', () => resolve(err));
  });
  // The probe sees the binding when something does load it.
  assert.match(await run(['-e', "require('onnxruntime-node')"]), /ORT-BINDING-LOADED/);
  for (const args of [['--help'], ['setup-gpu', '--check'], ['runs', '--runs-dir', tmpdir()], ['inspect', '--help']]) {
    assert.doesNotMatch(await run([`${ROOT}/src/cli/main.ts`, ...args]), /ORT-BINDING-LOADED/, args.join(' '));
  }
});
