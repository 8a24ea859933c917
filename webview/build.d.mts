import type { BuildOptions } from 'esbuild';

/** esbuild options that bundle every webview into `outdir` (see build.mjs). */
export function webviewBuildOptions(outdir: string): BuildOptions;
