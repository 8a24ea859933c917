// The CUDA diagnosis against fake library layouts built here: what the loader would find (LD_LIBRARY_PATH,
// the ldconfig cache, system folders), copies outside its path (pip wheels, CUDA toolkits), other majors,
// and a missing library's message naming the folders searched. The required list is checked against ONNX
// Runtime's own preload list (onnxruntime/__init__.py, _get_nvidia_dll_paths, CUDA 12 build).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareVersions, diagnoseCuda, fixLine, ortPackage, parseLdconfigCache, requiredLibraries } from '../../../src/engine/runtime/cuda-libs';
import { tempDir } from '../../helpers/tmp';

const CUDA_LIBS = ['libcuda.so.1', 'libcudart.so.12', 'libcublasLt.so.12', 'libcublas.so.12', 'libnvrtc.so.12', 'libcurand.so.10', 'libcufft.so.11', 'libcudnn.so.9'];
const PROVIDER = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'];

function dir(...parts: string[]): string {
  const d = join(...parts);
  mkdirSync(d, { recursive: true });
  return d;
}

function touch(d: string, names: string[]): void {
  for (const n of names) writeFileSync(join(d, n), 'not really ELF');
}

/** A machine: a lib folder on LD_LIBRARY_PATH, empty system folders, a provider folder. */
function machine(onPath: string[], provider = PROVIDER) {
  const root = tempDir('cuda-diag-');
  const lib = dir(root, 'lib');
  const sys = [dir(root, 'sys1'), dir(root, 'sys2')];
  const providerDir = dir(root, 'ort-bin');
  touch(lib, onPath);
  touch(providerDir, provider);
  const opts = { env: { LD_LIBRARY_PATH: lib }, platform: 'linux' as const, arch: 'x64', providerDir, ortVersion: '1.30.0', systemDirs: sys, ldconfigCache: '', offPathDirs: [] as string[], nvidiaSmi: '550.54.15, NVIDIA H100 80GB HBM3' };
  return { root, lib, sys, providerDir, opts };
}

test('the required libraries are ONNX Runtime\'s CUDA 12 / cuDNN 9 preload list, the driver and the two provider files', () => {
  const names = requiredLibraries(12, 9).map((l) => l.name);
  // onnxruntime/__init__.py _get_nvidia_dll_paths (Linux, cuda_major_version 12, cufft 11) + cudnn 9
  const ortPreload = ['libcublasLt.so.12', 'libcublas.so.12', 'libnvrtc.so.12', 'libcurand.so.10', 'libcufft.so.11', 'libcudart.so.12', 'libcudnn.so.9'];
  assert.deepEqual(new Set(names), new Set([...ortPreload, 'libcuda.so.1', ...PROVIDER]));
  assert.equal(names.length, ortPreload.length + 3);
});

test('everything on LD_LIBRARY_PATH and the provider in its folder: ok, each found where it is, with the version its link points to', () => {
  const m = machine(CUDA_LIBS.filter((n) => n !== 'libcudart.so.12'));
  writeFileSync(join(m.lib, 'libcudart.so.12.4.127'), 'x');
  symlinkSync('libcudart.so.12.4.127', join(m.lib, 'libcudart.so.12'));
  const d = diagnoseCuda(m.opts);
  assert.equal(d.ok, true, JSON.stringify(d.libraries.filter((l) => !l.found)));
  assert.equal(d.supported, true);
  const cudart = d.libraries.find((l) => l.name === 'libcudart.so.12')!;
  assert.equal(cudart.found, join(m.lib, 'libcudart.so.12'));
  assert.equal(cudart.version, '12.4.127');
  assert.equal(d.libraries.find((l) => l.name === 'libonnxruntime_providers_cuda.so')!.found, join(m.providerDir, 'libonnxruntime_providers_cuda.so'));
  assert.deepEqual(d.driver, { version: '550.54.15', gpus: ['NVIDIA H100 80GB HBM3'] });
});

test('a missing library names every folder searched and what to install', () => {
  const m = machine(CUDA_LIBS.filter((n) => n !== 'libcudnn.so.9'));
  const d = diagnoseCuda(m.opts);
  assert.equal(d.ok, false);
  const cudnn = d.libraries.find((l) => l.name === 'libcudnn.so.9')!;
  assert.equal(cudnn.found, undefined);
  assert.deepEqual(cudnn.searched, [`${m.lib} (LD_LIBRARY_PATH)`, 'the ldconfig cache (ldconfig -p)', ...m.sys]);
  assert.match(fixLine(cudnn), /pip install nvidia-cudnn-cu12/);
  assert.match(fixLine(cudnn), /cudnn9-cuda-12/);
  // Everything else was found.
  assert.deepEqual(d.libraries.filter((l) => !l.found).map((l) => l.name), ['libcudnn.so.9']);
});

test('a copy outside the loader\'s path (a pip wheel) is named, with the LD_LIBRARY_PATH line that fixes it', () => {
  const m = machine(CUDA_LIBS.filter((n) => n !== 'libcudnn.so.9'));
  const wheel = dir(m.root, 'site-packages', 'nvidia', 'cudnn', 'lib');
  touch(wheel, ['libcudnn.so.9']);
  const d = diagnoseCuda({ ...m.opts, offPathDirs: [wheel] });
  const cudnn = d.libraries.find((l) => l.name === 'libcudnn.so.9')!;
  assert.equal(cudnn.found, undefined, 'the loader does not search site-packages');
  assert.deepEqual(cudnn.offPath, [wheel]);
  assert.ok(cudnn.searched.includes(`${wheel} (not on the loader's path)`));
  assert.equal(fixLine(cudnn), `found in ${wheel}, which the loader does not search: export LD_LIBRARY_PATH=${wheel}:$LD_LIBRARY_PATH (before starting loralab)`);
  // Following that advice makes it found.
  const fixed = diagnoseCuda({ ...m.opts, env: { LD_LIBRARY_PATH: `${wheel}:${m.lib}` }, offPathDirs: [wheel] });
  assert.equal(fixed.ok, true);
});

test('only another major version present (CUDA 13 where 12 is needed): missing, and the other version is named', () => {
  const m = machine(CUDA_LIBS.filter((n) => n !== 'libcudart.so.12'));
  touch(m.sys[1], ['libcudart.so.13']);
  const cudart = diagnoseCuda(m.opts).libraries.find((l) => l.name === 'libcudart.so.12')!;
  assert.equal(cudart.found, undefined);
  assert.deepEqual(cudart.otherVersions, [join(m.sys[1], 'libcudart.so.13')]);
  assert.match(fixLine(cudart), /only libcudart\.so\.13 is installed .*another major version/);
});

test('ldconfig -p output: x86-64 entries by SONAME, others skipped; a library found only through the cache', () => {
  const m = machine(CUDA_LIBS.filter((n) => n !== 'libcublas.so.12'));
  const elsewhere = dir(m.root, 'cuda-12.4', 'lib64');
  touch(elsewhere, ['libcublas.so.12']);
  // The format glibc's ldconfig -p prints.
  const text = `3 libs found in cache \`/etc/ld.so.cache'\n\tlibcublas.so.12 (libc6,x86-64) => ${elsewhere}/libcublas.so.12\n\tlibz.so.1 (libc6) => /usr/lib32/libz.so.1\n\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1\n`;
  const cache = parseLdconfigCache(text);
  assert.deepEqual([...cache.entries()], [['libcublas.so.12', [`${elsewhere}/libcublas.so.12`]], ['libz.so.1', ['/lib/x86_64-linux-gnu/libz.so.1']]]);
  const d = diagnoseCuda({ ...m.opts, ldconfigCache: text });
  assert.equal(d.libraries.find((l) => l.name === 'libcublas.so.12')!.found, `${elsewhere}/libcublas.so.12`);
  assert.equal(d.ok, true);
});

test('missing provider files are looked for in onnxruntime-node\'s binary folder, and the fix is loralab setup-gpu', () => {
  const m = machine(CUDA_LIBS, []);
  const d = diagnoseCuda(m.opts);
  const cuda = d.libraries.find((l) => l.name === 'libonnxruntime_providers_cuda.so')!;
  assert.equal(cuda.found, undefined);
  assert.deepEqual(cuda.searched, [`${m.providerDir} (onnxruntime-node's binary folder)`]);
  assert.match(fixLine(cuda), /loralab setup-gpu/);
  assert.equal(d.ok, false);
});

test('a driver older than 525.60.13 cannot run CUDA 12 (NVIDIA minor-version compatibility)', () => {
  assert.ok(compareVersions('525.60.13', '525.60.9') > 0);
  assert.ok(compareVersions('470.82.01', '525.60.13') < 0);
  const m = machine(CUDA_LIBS);
  const d = diagnoseCuda({ ...m.opts, nvidiaSmi: '470.82.01, Tesla T4\n' });
  assert.equal(d.ok, false);
  assert.match(d.problems[0], /470\.82\.01 is older than 525\.60\.13/);
  assert.equal(diagnoseCuda({ ...m.opts, nvidiaSmi: '525.60.13, Tesla T4' }).ok, true);
});

test('not Linux x64: unsupported, nothing searched', () => {
  const d = diagnoseCuda({ platform: 'darwin', arch: 'arm64', providerDir: null, ortVersion: '1.30.0' });
  assert.equal(d.supported, false);
  assert.equal(d.ok, false);
  assert.deepEqual(d.libraries, []);
});

test('the installed onnxruntime-node is found without loading it', () => {
  const pkg = ortPackage('linux', 'x64');
  assert.ok(pkg);
  assert.match(pkg.version, /^\d+\.\d+\.\d+/);
  assert.match(pkg.binDir, /onnxruntime-node[/\\]bin[/\\]napi-v\d+[/\\]linux[/\\]x64$/);
});
