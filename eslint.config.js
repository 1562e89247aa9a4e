// Flat config: typescript-eslint's recommended rules plus the conventions STYLE.md asks for.
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
    // Packages never read the environment; apps parse it once (STYLE.md §3).
    files: ['packages/*/src/**/*.ts'],
    ignores: ['**/*.test.ts', 'packages/db/src/migrate-cli.ts', 'packages/dev-idp/src/production-guard.ts', 'packages/dev-idp/src/serve.ts'],
    rules: { 'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Take config as a parameter.' }] },
  },
);
