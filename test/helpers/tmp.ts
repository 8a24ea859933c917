/** Temporary folders for tests: made under os.tmpdir(), removed when the test process exits. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Every folder made here; removed at exit (node:test runs each test file in its own process, so
// this is per test file). A run of the suite used to leave hundreds of these in /tmp.
const made: string[] = [];
process.once('exit', () => {
  for (const dir of made) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
    } catch {
      // A child still writing into it, or a read-only copy: leaving one folder behind is harmless.
    }
  }
});

/**
 * Creates a fresh empty folder `os.tmpdir()/<prefix>XXXXXX` (fs.mkdtempSync; the prefix should end
 * in "-", e.g. 'loralab-advise-') and returns its absolute path. The folder and everything in it
 * are removed (recursive, force, errors ignored) when the test process exits, not after each test;
 * a test that must see a folder disappear earlier removes it itself.
 */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}
