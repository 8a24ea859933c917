// esbuild options for the webview bundles (browser code), shared by esbuild.mjs and the browser
// tests (which build into a temporary folder so they never race a concurrent `npm run build`).
// One IIFE per webview plus the CSS it imports: dist/webview/<name>.js and <name>.css.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = (p) => join(dirname(fileURLToPath(import.meta.url)), p);

/** @returns {import('esbuild').BuildOptions} */
export function webviewBuildOptions(outdir) {
  return {
    entryPoints: { dashboard: here('./dashboard/main.ts'), compare: here('./compare/main.ts'), playground: here('./playground/main.ts'), merge: here('./merge/main.ts') },
    outdir,
    bundle: true,
    platform: 'browser',
    format: 'iife',
    // VS Code 1.90's Electron 29 runs Chromium 122.
    target: ['chrome120'],
    minify: true,
    sourcemap: true,
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'warning',
  };
}
