// ESLint as the Temporal TypeScript samples use it: recommended + typescript-eslint; a guard that
// keeps Node APIs out of workflow code (it must stay deterministic); and the layers (test/layers.test.ts).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const NODE_APIS = {
  group: ['node:*', 'fs', 'path', 'child_process', 'os', 'crypto'],
  message: 'workflow code is deterministic: no Node APIs',
};
const TEMPORAL_RUNTIME = {
  group: ['@temporalio/activity', '@temporalio/worker', '@temporalio/client', '@temporalio/workflow'],
  message: 'lib/ knows nothing of Temporal: progress and cancellation come in from the activity adapter',
};
/** The folders above a layer, at any depth of relative path (`../activities/x.js`, `../../client/y.js`). */
const above = (...dirs) => ({
  regex: `(^|/)(${dirs.join('|')})/`,
  caseSensitive: true,
  message: 'imports only go down: lib/model <- lib <- activities <- workflows <- workers, client, lab, bench, scripts',
});
const layer = (dir, patterns, ignores = []) => ({
  files: [`${dir}/**/*.ts`],
  ignores,
  rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns }] },
});

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        console: 'readonly',
        process: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        fetch: 'readonly',
        AbortSignal: 'readonly',
        Buffer: 'readonly',
        NodeJS: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // Tests poke at loosely typed payloads (memos, histories): `any` is fine there.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  // The layers: imports only go down, lib/model <- lib <- activities <- workflows <- workers, client,
  // lab, bench, scripts. One entry per directory (a later entry for the same rule would replace it).
  layer(
    'lib/model',
    [NODE_APIS, TEMPORAL_RUNTIME, { regex: '^\\.\\./', message: 'lib/model is the bottom layer: it imports only lib/model' }],
    ['lib/model/*/**'],
  ),
  // Its folders (lib/model/profiles): the same rule, one level deeper.
  layer('lib/model/*', [
    NODE_APIS,
    TEMPORAL_RUNTIME,
    { regex: '^\\.\\./\\.\\./', message: 'lib/model is the bottom layer: it imports only lib/model' },
  ]),
  layer(
    'lib',
    [TEMPORAL_RUNTIME, above('activities', 'workflows', 'workers', 'client', 'lab', 'bench', 'scripts', 'test')],
    ['lib/model/**'],
  ),
  layer('activities', [
    above('workflows', 'workers', 'client', 'lab', 'bench', 'scripts', 'test'),
    {
      group: ['@temporalio/workflow', '@temporalio/worker'],
      message: 'activities run in a worker, they do not make one or run workflow code',
    },
  ]),
  layer('workflows', [
    NODE_APIS,
    // Types cost nothing at run time: the activities' interface and the library's result types.
    {
      regex: '(^|/)activities/',
      allowTypeImports: true,
      message: 'workflows call activities through proxyActivities: `import type` only',
    },
    {
      regex: '(^|/)lib/(?!model/)',
      allowTypeImports: true,
      message: 'workflows import lib/model (deterministic), the rest of lib/ as types only',
    },
    above('workers', 'client', 'lab', 'bench', 'scripts', 'test'),
  ]),
);
