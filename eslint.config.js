// Flat config: typescript-eslint's recommended rules plus the project's conventions: explicit exports,
// type-only imports, no `any`, packages that take their config as parameters, and production code in
// pieces small enough to read at once.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', '.tools/**', 'packages/db/migrations/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      'no-restricted-syntax': ['error', { selector: 'ExportAllDeclaration[exported=null]', message: 'No `export *`: list public names explicitly.' }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
  {
    // Packages never read the environment: each process parses it once at start-up and passes the
    // values down, so a package can be tested with any settings and no setting is read twice.
    files: ['packages/*/src/**/*.ts'],
    ignores: ['**/*.test.ts', 'packages/db/src/migrate-cli.ts', 'packages/dev-idp/src/production-guard.ts', 'packages/dev-idp/src/serve.ts'],
    rules: { 'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Take config as a parameter.' }] },
  },
  {
    // Production code reads at one sitting: no function over 80 lines, no file over 300 (blank lines and
    // comments not counted). Tests, Drizzle schemas (one declaration per table) and migrations aside.
    files: ['apps/*/src/**/*.ts', 'packages/*/src/**/*.ts'],
    ignores: ['**/*.test.ts', 'packages/*/src/schema.ts'],
    rules: {
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true, IIFEs: true }],
      'max-lines': ['error', { max: 300, skipBlankLines: true, skipComments: true }],
    },
  },
);
