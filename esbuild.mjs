// Bundles the Node entry points into dist/. `onnxruntime-node` (native) and `vscode`
// (provided by the editor) stay external. The webviews (browser code) go to dist/webview/.
import * as esbuild from 'esbuild';
import { existsSync } from 'node:fs';
import { webviewBuildOptions } from './webview/build.mjs';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  external: ['onnxruntime-node', 'vscode'],
  logLevel: 'warning',
};

// ESM bundles for the processes we start ourselves (CLI, trainer, worker).
const esmEntries = ['cli', 'trainer', 'worker'].filter((n) => existsSync(`src/${n}/main.ts`));
await esbuild.build({
  ...common,
  entryPoints: Object.fromEntries(esmEntries.map((n) => [n, `src/${n}/main.ts`])),
  outdir: 'dist',
  format: 'esm',
  // Bundled CommonJS dependencies call require(); give ESM output one.
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
});

// VS Code loads extensions as CommonJS.
if (existsSync('src/extension/main.ts')) {
  await esbuild.build({
    ...common,
    entryPoints: { extension: 'src/extension/main.ts' },
    outfile: 'dist/extension.cjs',
    format: 'cjs',
  });
}

// Webviews: browser IIFE bundles with their CSS (dist/webview/dashboard.js + .css).
await esbuild.build(webviewBuildOptions('dist/webview'));
