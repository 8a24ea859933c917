// --device webgpu on a Linux machine without a Vulkan loader: our one error line only, before
// ONNX Runtime tries (Dawn would print "Warning: Couldn't load Vulkan" on native stderr).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/cli';
import { SHARED } from '../helpers/paths';
import { vulkanLoaderPresent } from '../../src/engine/runtime/session';

test('score --device webgpu without libvulkan.so.1: exactly one stderr line, exit 1', { skip: process.platform !== 'linux' || vulkanLoaderPresent() ? 'a Vulkan loader is present' : false }, async () => {
  const r = await runCli(['score', '--model', `${SHARED}/models/stories260K`, '--text', 'hi there', '--device', 'webgpu']);
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^loralab: error: could not start ONNX Runtime on device "webgpu": webgpu: no Vulkan loader \(libvulkan\.so\.1\)/);
  assert.equal(r.stderr.endsWith('\n') && !r.stderr.startsWith('\n'), true);
});
