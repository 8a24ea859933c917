// Installing the CUDA provider against a local NuGet-shaped HTTP server (node:http) serving a
// .nupkg built here with a zip writer that follows PKWARE's APPNOTE (independent of the yauzl
// reader under test): resolution through the v3 service index, SHA-512 from the catalog entry,
// progress to 100 %, atomic placement; and the failures — truncated download, HTTP 404, wrong
// checksum, unreachable host, abort, not a zip, wrong version, no permission — each one line,
// leaving no file behind. No network: everything is on 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { CudaSetupError, type ProviderManifest, type ProviderSource, SetupStopped, installProviderLibraries, offlineName, providerManifest } from '../../../src/engine/runtime/cuda-install';
import { ortPackage } from '../../../src/engine/runtime/cuda-libs';
import { tempDir } from '../../helpers/tmp';

/** A zip archive (APPNOTE 6.3: local headers, data, central directory, end record); deflated entries. */
export function zip(entries: Record<string, Buffer | string>): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, content] of Object.entries(entries)) {
    const data = Buffer.from(content);
    const packed = deflateRawSync(data);
    const nameBuf = Buffer.from(name, 'utf8');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0, 6); // flags
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt16LE(0, 10); // time
    local.writeUInt16LE(0x21, 12); // date 1980-01-01
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    local.writeUInt16LE(0, 28);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(0, 8);
    cd.writeUInt16LE(8, 10);
    cd.writeUInt16LE(0, 12);
    cd.writeUInt16LE(0x21, 14);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(packed.length, 20);
    cd.writeUInt32LE(data.length, 24);
    cd.writeUInt16LE(nameBuf.length, 28);
    cd.writeUInt32LE(offset, 42);
    central.push(cd, nameBuf);
    parts.push(local, nameBuf, packed);
    offset += local.length + nameBuf.length + packed.length;
  }
  const cdBuf = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(entries).length, 8);
  end.writeUInt16LE(Object.keys(entries).length, 10);
  end.writeUInt32LE(cdBuf.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, cdBuf, end]);
}

const ID = 'Microsoft.ML.OnnxRuntime.Gpu.Linux';
const VERSION = '1.30.0';
const NATIVE = 'runtimes/linux-x64/native';
const FILES = ['shared', 'cuda', 'tensorrt'].map((p) => `libonnxruntime_providers_${p}.so`);
/**
 * An ELF64 header (System V gABI "ELF Header", x86-64 psABI), written field by field:
 * e_ident = 7f 'E' 'L' 'F', EI_CLASS, EI_DATA = 1 (little-endian), EI_VERSION = 1, padding to 16;
 * e_type (u16 at 16), e_machine (u16 at 18), e_version (u32 at 20) = 1; the rest zero (64 bytes).
 */
function elfHeader({ cls = 2, type = 3, machine = 62, magic = [0x7f, 0x45, 0x4c, 0x46] } = {}): Buffer {
  const h = Buffer.alloc(64);
  Buffer.from(magic).copy(h, 0);
  h[4] = cls;
  h[5] = 1;
  h[6] = 1;
  h.writeUInt16LE(type, 16);
  h.writeUInt16LE(machine, 18);
  h.writeUInt32LE(1, 20);
  return h;
}
// An x86-64 shared-object header, then distinct, incompressible-ish contents so a mix-up or a truncation shows.
const CONTENT: Record<string, Buffer> = Object.fromEntries(FILES.map((f, i) => [f, Buffer.concat([elfHeader(), Buffer.from(createHash('sha512').update(f).digest().toString('hex').repeat(200 * (i + 1)))])]));

function nupkg(version = VERSION, files = FILES, opts: { id?: string; nuspec?: boolean; content?: Record<string, Buffer> } = {}): Buffer {
  return zip({
    '[Content_Types].xml': '<Types/>',
    ...(opts.nuspec === false ? {} : { [`${opts.id ?? ID}.nuspec`]: `<?xml version="1.0"?><package><metadata><id>${opts.id ?? ID}</id><version>${version}</version></metadata></package>` }),
    ...Object.fromEntries(files.map((f) => [`${NATIVE}/${f}`, opts.content?.[f] ?? CONTENT[f]])),
  });
}

function manifest(base: string): ProviderManifest {
  return { packageId: ID, version: VERSION, feedIndex: `${base}/v3/index.json`, files: FILES.map((name) => ({ name, pathInPackage: `${NATIVE}/${name}` })) };
}

interface Feed { server: Server; base: string; pkg: Buffer }

/** A NuGet v3 feed on 127.0.0.1: service index, flat container, registration leaf, catalog entry; plus broken routes. */
async function feed(opts: { hash?: string; pkg?: Buffer } = {}): Promise<Feed> {
  const pkg = opts.pkg ?? nupkg();
  const id = ID.toLowerCase();
  const server = createServer((req, res) => {
    const url = req.url ?? '';
    const json = (o: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(o));
    };
    if (url === '/v3/index.json') {
      return json({ version: '3.0.0', resources: [
        { '@id': `${base}/flat/`, '@type': 'PackageBaseAddress/3.0.0' },
        { '@id': `${base}/reg/`, '@type': ['RegistrationsBaseUrl/3.6.0', 'RegistrationsBaseUrl/Versioned'] },
      ] });
    }
    if (url === `/reg/${id}/${VERSION}.json`) return json({ '@id': `${base}${url}`, catalogEntry: `${base}/catalog/leaf.json`, packageContent: `${base}/flat/${id}/${VERSION}/${id}.${VERSION}.nupkg` });
    if (url === '/catalog/leaf.json') return json({ id: ID, version: VERSION, packageHash: opts.hash ?? createHash('sha512').update(pkg).digest('base64'), packageHashAlgorithm: 'SHA512', packageSize: pkg.length });
    if (url === `/flat/${id}/${VERSION}/${id}.${VERSION}.nupkg` || url === '/mirror/pkg.nupkg') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': pkg.length });
      // In pieces with pauses, so progress is reported more than once.
      const step = Math.ceil(pkg.length / 5);
      const send = (i: number): void => {
        if (i >= pkg.length) return void res.end();
        res.write(pkg.subarray(i, i + step));
        setTimeout(() => send(i + step), 20);
      };
      return send(0);
    }
    if (url === '/truncated.nupkg') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': pkg.length });
      res.write(pkg.subarray(0, pkg.length >> 1), () => res.destroy());
      return;
    }
    if (url === '/stall.nupkg') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': pkg.length });
      res.write(pkg.subarray(0, 1024)); // then nothing: the client aborts
      return;
    }
    res.writeHead(404, 'Not Found');
    res.end('no such package');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, base, pkg };
}

const dest = () => tempDir('ort-bin-');

test('from a NuGet feed: resolved through the service index, SHA-512 checked, progress to 100 %, files in place, nothing else left', async () => {
  const f = await feed();
  try {
    const dir = dest();
    const progress: [number, number][] = [];
    const r = await installProviderLibraries({ manifest: manifest(f.base), source: { kind: 'nuget', index: `${f.base}/v3/index.json` }, destDir: dir, onProgress: (a, b) => progress.push([a, b]) });
    assert.equal(r.verified, 'sha512');
    assert.equal(r.bytes, f.pkg.length);
    assert.equal(r.from, `${f.base}/flat/${ID.toLowerCase()}/${VERSION}/${ID.toLowerCase()}.${VERSION}.nupkg`);
    assert.ok(progress.length > 2);
    assert.deepEqual(progress.at(-1), [f.pkg.length, f.pkg.length]);
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i][0] >= progress[i - 1][0]);
    assert.deepEqual(readdirSync(dir).sort(), [...FILES].sort());
    for (const name of FILES) assert.ok(readFileSync(join(dir, name)).equals(CONTENT[name]), name);
    assert.equal(r.installed.at(-1), join(dir, 'libonnxruntime_providers_cuda.so'), 'the CUDA provider is put in place last');
    assert.ok(statSync(join(dir, 'libonnxruntime_providers_cuda.so')).mode & 0o100, 'executable like a shared library');
  } finally {
    f.server.close();
  }
});

test('a download cut off halfway: one-line error, no file left in the folder', async () => {
  const f = await feed();
  try {
    const dir = dest();
    await assert.rejects(installProviderLibraries({ manifest: manifest(f.base), source: { kind: 'url', url: `${f.base}/truncated.nupkg` }, destDir: dir }), (e: Error) => {
      assert.ok(e instanceof CudaSetupError, String(e));
      assert.match(e.message, /^the download from 127\.0\.0\.1:\d+ (broke off|ended) after \d+ of \d+ bytes/);
      assert.match(e.message, /nothing was installed/);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    });
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    f.server.close();
  }
});

test('HTTP 404: the URL and status in one line, nothing written', async () => {
  const f = await feed();
  try {
    const dir = dest();
    await assert.rejects(installProviderLibraries({ manifest: manifest(f.base), source: { kind: 'url', url: `${f.base}/missing.nupkg` }, destDir: dir }),
      new RegExp(`^CudaSetupError: ${f.base}/missing\\.nupkg: HTTP 404 Not Found while downloading ${ID} ${VERSION}; the source has no ${ID} ${VERSION}$`.replace(/\./g, '\\.').replace(/\\\\\./g, '\\.')));
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    f.server.close();
  }
});

test('a checksum that differs from the feed\'s: refused, nothing installed', async () => {
  const f = await feed({ hash: createHash('sha512').update('another file').digest('base64') });
  try {
    const dir = dest();
    await assert.rejects(installProviderLibraries({ manifest: manifest(f.base), source: { kind: 'nuget', index: `${f.base}/v3/index.json` }, destDir: dir }), /SHA-512 .* differs from the feed's/);
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    f.server.close();
  }
});

test('an unreachable host: named, with --from as the way out', async () => {
  const f = await feed();
  const base = f.base;
  await new Promise((r) => f.server.close(r)); // nothing listens on that port now
  await assert.rejects(installProviderLibraries({ manifest: manifest(base), source: { kind: 'nuget', index: `${base}/v3/index.json` }, destDir: dest() }), (e: Error) => {
    assert.match(e.message, new RegExp(`^cannot reach ${base.replace('http://', '').replace(/\./g, '\\.')} to download the NuGet service index \\(ECONNREFUSED\\)`));
    assert.match(e.message, /loralab setup-gpu --from FILE/);
    assert.match(e.message, /microsoft\.ml\.onnxruntime\.gpu\.linux\.1\.30\.0\.nupkg/);
    return true;
  });
});

test('aborted mid-download (Ctrl-C): SetupStopped, the staging folder is gone', async () => {
  const f = await feed();
  try {
    const dir = dest();
    const ac = new AbortController();
    await assert.rejects(installProviderLibraries({ manifest: manifest(f.base), source: { kind: 'url', url: `${f.base}/stall.nupkg` }, destDir: dir, signal: ac.signal, onProgress: (n) => { if (n > 0) ac.abort(); } }), SetupStopped);
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    f.server.close();
  }
});

test('--from FILE: a local .nupkg installs without any network; CRC-32s checked', async () => {
  const dir = dest();
  const file = join(tempDir('nupkg-'), offlineName(manifest('http://unused')));
  writeFileSync(file, nupkg());
  const r = await installProviderLibraries({ manifest: manifest('http://unused.invalid'), source: { kind: 'file', path: file }, destDir: dir });
  assert.equal(r.verified, 'crc32');
  assert.deepEqual(readdirSync(dir).sort(), [...FILES].sort());
  assert.ok(readFileSync(join(dir, 'libonnxruntime_providers_shared.so')).equals(CONTENT['libonnxruntime_providers_shared.so']));
});

test('--from FILE that is not the package: not a zip, another version, a missing entry, a damaged entry — each an input error', async () => {
  const tmp = tempDir('nupkg-bad-');
  const m = manifest('http://unused.invalid');
  const cases: [string, Buffer, RegExp][] = [
    ['text.nupkg', Buffer.from('hello, not a zip'), /: not a zip archive \(\.nupkg\) .*"Download package" on https:\/\/www\.nuget\.org\/packages\/Microsoft\.ML\.OnnxRuntime\.Gpu\.Linux\/1\.30\.0\)$/],
    ['old.nupkg', nupkg('1.20.0'), /is Microsoft\.ML\.OnnxRuntime\.Gpu\.Linux 1\.20\.0, but onnxruntime-node is 1\.30\.0/],
    ['partial.nupkg', nupkg(VERSION, ['libonnxruntime_providers_shared.so']), /has no runtimes\/linux-x64\/native\/libonnxruntime_providers_cuda\.so; .* from https:\/\/www\.nuget\.org\/packages\/Microsoft\.ML\.OnnxRuntime\.Gpu\.Linux\/1\.30\.0$/],
    // Right paths, wrong package: another id, or no .nuspec at all (any zip with the two paths).
    ['other-id.nupkg', nupkg(VERSION, FILES, { id: 'Microsoft.ML.OnnxRuntime.Gpu.Windows' }), /is the package Microsoft\.ML\.OnnxRuntime\.Gpu\.Windows 1\.30\.0, not Microsoft\.ML\.OnnxRuntime\.Gpu\.Linux/],
    ['no-nuspec.nupkg', nupkg(VERSION, FILES, { nuspec: false }), /has no \.nuspec, so it is not a NuGet package/],
    // Right package layout, files that are not x86-64 shared objects.
    ['text-libs.nupkg', nupkg(VERSION, FILES, { content: { 'libonnxruntime_providers_cuda.so': Buffer.from('not a library at all, just text: 0123456789') } }), /entry runtimes\/linux-x64\/native\/libonnxruntime_providers_cuda\.so is not an ELF file/],
    ['elf32.nupkg', nupkg(VERSION, FILES, { content: { 'libonnxruntime_providers_shared.so': elfHeader({ cls: 1, machine: 3 }) } }), /libonnxruntime_providers_shared\.so is a 32-bit ELF file \(EI_CLASS 1\)/],
    ['arm64.nupkg', nupkg(VERSION, FILES, { content: { 'libonnxruntime_providers_cuda.so': elfHeader({ machine: 183 }) } }), /libonnxruntime_providers_cuda\.so is built for another processor \(e_machine 183, not 62 = x86-64\)/],
    ['exec.nupkg', nupkg(VERSION, FILES, { content: { 'libonnxruntime_providers_cuda.so': elfHeader({ type: 2 }) } }), /is not a shared library \(e_type 2, not 3 = ET_DYN\)/],
  ];
  // Flip one byte inside the compressed data of the CUDA provider: the CRC-32 (or inflate) catches it.
  const damaged = nupkg();
  const at = damaged.indexOf(Buffer.from(`${NATIVE}/libonnxruntime_providers_cuda.so`)) + 60;
  damaged[at] ^= 0xff;
  cases.push(['damaged.nupkg', damaged, /entry runtimes\/linux-x64\/native\/libonnxruntime_providers_cuda\.so (fails its CRC-32 check|is damaged)/]);
  for (const [name, bytes, re] of cases) {
    const file = join(tmp, name);
    writeFileSync(file, bytes);
    const dir = dest();
    await assert.rejects(installProviderLibraries({ manifest: m, source: { kind: 'file', path: file }, destDir: dir }), (e: Error) => {
      assert.ok(e instanceof CudaSetupError && e.input, `${name}: ${e}`);
      assert.match(e.message, re, name);
      assert.ok(e.message.startsWith(file), name);
      return true;
    });
    assert.deepEqual(readdirSync(dir), [], name);
  }
  await assert.rejects(installProviderLibraries({ manifest: m, source: { kind: 'file', path: join(tmp, 'nope.nupkg') }, destDir: dest() }), /nope\.nupkg: no such file; give the downloaded microsoft\.ml\.onnxruntime\.gpu\.linux\.1\.30\.0\.nupkg \("Download package" on https:\/\/www\.nuget\.org\/packages\/Microsoft\.ML\.OnnxRuntime\.Gpu\.Linux\/1\.30\.0\)$/);
  const folder = dest();
  await assert.rejects(installProviderLibraries({ manifest: m, source: { kind: 'file', path: tmp }, destDir: folder }), (e: Error) => {
    assert.ok(e instanceof CudaSetupError && e.input);
    assert.equal(e.message, `${tmp} is a folder; give the .nupkg file (microsoft.ml.onnxruntime.gpu.linux.1.30.0.nupkg) itself`);
    return true;
  });
  assert.deepEqual(readdirSync(folder), []);
});

test('--url / --feed that cannot be fetched: not a URL, not http(s), a port fetch blocks — input errors before any connection, nothing written', async () => {
  const m = manifest('http://unused.invalid');
  const cases: [ProviderSource, RegExp][] = [
    [{ kind: 'url', url: 'notaurl' }, /^--url notaurl: not a URL; give the full address, e\.g\. https:\/\//],
    [{ kind: 'url', url: 'ftp://mirror.example/p.nupkg' }, /^--url ftp:\/\/mirror\.example\/p\.nupkg: only http\(s\) URLs can be downloaded \(this is ftp\)/],
    [{ kind: 'nuget', index: 'file:///tmp/index.json' }, /^--feed file:\/\/\/tmp\/index\.json: only http\(s\) URLs/],
    // Port 9 (discard) is on the Fetch standard's bad-port list: undici refuses it without connecting.
    [{ kind: 'url', url: 'http://127.0.0.1:9/p.nupkg' }, /^http:\/\/127\.0\.0\.1:9\/p\.nupkg: port 9 is blocked by Node\.js's fetch \(a "bad port" in the Fetch standard\)/],
  ];
  for (const [source, re] of cases) {
    const dir = dest();
    await assert.rejects(installProviderLibraries({ manifest: m, source, destDir: dir }), (e: Error) => {
      assert.ok(e instanceof CudaSetupError && e.input, String(e));
      assert.match(e.message, re);
      assert.doesNotMatch(e.message, /cannot reach|\n/);
      return true;
    });
    assert.deepEqual(readdirSync(dir), []);
  }
});

test('a folder that cannot be written: one line naming it', { skip: process.platform !== 'linux' && 'uses /sys' }, async () => {
  const file = join(tempDir('nupkg-'), 'p.nupkg');
  writeFileSync(file, nupkg());
  await assert.rejects(installProviderLibraries({ manifest: manifest('http://unused.invalid'), source: { kind: 'file', path: file }, destDir: '/sys' }), /^CudaSetupError: cannot write to \/sys \(permission denied\)/);
});

test('the manifest is what onnxruntime-node\'s install script fetches for its own version', () => {
  const pkg = ortPackage('linux', 'x64')!;
  const m = providerManifest(pkg);
  assert.equal(m.packageId, ID);
  assert.equal(m.version, pkg.version);
  assert.equal(m.feedIndex, 'https://api.nuget.org/v3/index.json');
  assert.deepEqual(m.files.map((f) => f.name).sort(), [...FILES].sort());
  assert.ok(m.files.every((f) => f.pathInPackage === `${NATIVE}/${f.name}`));
});
