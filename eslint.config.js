import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * A `no-restricted-imports` rule for `files`: relative imports that climb into one of the
 * top-level folders `banned` (e.g. '../../cli/output') are errors, explained by `why`.
 */
function layer(files, banned, why) {
  return [{
    files: [files],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [JSONC_MAIN],
        patterns: [{ regex: `^(\\.\\./)+(${banned.join('|')})(/|$)`, message: `import goes up a layer: ${why}` }],
      }],
    },
  }];
}

/**
 * jsonc-parser's package main is a UMD build whose `require('./impl/format')` esbuild cannot
 * follow: the bundled extension then fails to activate ("Cannot find module './impl/format'").
 * Everything imports its ESM entry instead (checked for every file, since the extension bundles
 * experiment/ and engine/ modules too).
 */
const JSONC_MAIN = { name: 'jsonc-parser', message: "import 'jsonc-parser/lib/esm/main.js': the package's UMD main breaks the bundled extension (Cannot find module './impl/format')" };

const OUTSIDE_ENGINE = ['cli', 'trainer', 'runs', 'experiment', 'launch', 'worker', 'extension', 'protocol'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cache/**', '.loralab/**', 'out/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  { files: ['src/**'], rules: { 'no-restricted-imports': ['error', { paths: [JSONC_MAIN] }] } },
  // Layers (DESIGN.md, STYLE.md): imports go down only — cli → trainer → runs / experiment →
  // engine; protocol at the side; the extension host never loads ONNX Runtime. Inside the
  // engine, graph/ (the IR) sits below ops/ (op builders) and autodiff/.
  // (A later block replaces an earlier one's rule for the same file, so engine subfolders repeat
  // the engine's list.)
  ...layer('src/engine/**', OUTSIDE_ENGINE, 'the engine is the lowest layer'),
  ...layer('src/engine/graph/**', [...OUTSIDE_ENGINE, 'ops', 'autodiff', 'models', 'lora', 'train', 'infer', 'runtime'], 'graph/ is the IR below ops/ and autodiff/'),
  ...layer('src/engine/ops/**', [...OUTSIDE_ENGINE, 'autodiff', 'models', 'lora', 'train', 'infer', 'runtime'], 'ops/ builds on graph/ only'),
  ...layer('src/{runs,experiment}/**', ['cli', 'trainer', 'launch', 'worker', 'extension'], 'runs/ and experiment/ sit below the trainer and the CLI'),
  ...layer('src/{trainer,worker,launch}/**', ['cli', 'extension'], 'the trainer, worker and launchers sit below the CLI and never import the editor side'),
  ...layer('src/protocol/**', ['cli', 'trainer', 'runs', 'experiment', 'launch', 'worker', 'extension', 'engine'], 'protocol/ is shared by every side and imports none of them'),
  ...layer('src/cli/**', ['extension'], 'the CLI runs without VS Code'),
  ...layer('src/child/**', ['cli', 'trainer', 'runs', 'experiment', 'launch', 'worker', 'extension', 'engine', 'protocol'], 'child/ (the IPC bootstrap of the trainer and the worker) sits below both and imports none of the layers'),
  {
    files: ['src/extension/**', 'webview/**'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [JSONC_MAIN, { name: 'onnxruntime-node', message: 'the extension host never loads ONNX Runtime (DESIGN.md, Processes): fork the trainer or use the inference worker' }],
        patterns: [{ regex: '(^|/)engine/(runtime|infer|train)(/|$)', message: 'these engine modules load ONNX Runtime; the extension host talks to the trainer and worker processes instead' }],
      }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
