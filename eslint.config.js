// ESLint: the rules that catch real bugs (promises nobody awaits, dead code, switches that miss a
// case, assertions that hide nothing), type-aware through typescript-eslint. Formatting and taste
// are deliberately left out: a rule belongs here when a finding is usually a defect.
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

const nodeGlobals = Object.fromEntries(
  ['process', 'console', 'Buffer', 'URL', 'URLSearchParams', 'AbortController', 'TextEncoder', 'TextDecoder',
    'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate',
    'structuredClone', 'fetch', 'performance', 'queueMicrotask', 'globalThis'].map((name) => [name, 'readonly']),
);

export default defineConfig(
  {
    // bench/out holds copies of the tree made by the benchmarks; examples are user projects with their own build;
    // the pipeline-v4 fixture script is written for the code of schema 4, not for this tree (see its header).
    ignores: ['dist/', 'node_modules/', 'bench/out/', 'bench/results/', '**/.trellis/', 'examples/', 'docs/',
      'scripts/make-pipeline-v4-fixture.ts'],
  },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: nodeGlobals,
      parserOptions: {
        // tsconfig.eslint.json is tsconfig.json with test/, bench/ and scripts/ added, so those are
        // type-checked too. (The project service cannot be given another tsconfig; one program for the
        // whole tree is also faster than it with a default project for the files outside.)
        project: './tsconfig.eslint.json',
        tsconfigRootDir: fileURLToPath(new URL('.', import.meta.url)),
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // node:test's describe/it/test return promises that the runner itself tracks.
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] }],
      }],
      '@typescript-eslint/switch-exhaustiveness-check': ['error', {
        considerDefaultExhaustiveForUnions: true,
        requireDefaultForNonUnion: false,
      }],
      '@typescript-eslint/no-unused-vars': ['error', {
        args: 'after-used', argsIgnorePattern: '^_', varsIgnorePattern: '^_',
        caughtErrors: 'none', ignoreRestSiblings: true,
      }],
      '@typescript-eslint/no-unused-expressions': ['error', { allowShortCircuit: false, allowTernary: false }],
      '@typescript-eslint/restrict-template-expressions': ['error', {
        allowNumber: true, allowBoolean: true, allowNullish: true, allowArray: true, allowRegExp: true,
      }],
      eqeqeq: ['error', 'smart'],
      'no-self-compare': 'error',
      'no-fallthrough': 'error',
      'no-constant-condition': ['error', { checkLoops: 'allExceptWhileTrue' }],
      'prefer-const': ['error', { destructuring: 'all' }],
      // An async function without await is how an async port is implemented synchronously (and how a
      // throw becomes a rejection): not a defect here.
      '@typescript-eslint/require-await': 'off',
      // Paths and names are checked for control characters on purpose.
      'no-control-regex': 'off',
    },
  },
  {
    // Tests read JSON answers (`any`) and let the assertion be the check; the no-unsafe-* family would
    // ask for a type on each of several hundred of them without finding defects.
    files: ['**/*.test.ts', '**/*.contract.ts', '**/test-helpers/**', 'test/**', 'bench/**', 'scripts/**'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['**/*.cjs', 'src/pipelines/executors/test-helpers/cjs/**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { ...nodeGlobals, require: 'readonly', module: 'writable', exports: 'writable', __dirname: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
