/**
 * The linter (npm run lint, in CI): ESLint's and typescript-eslint's recommended rules, plus what
 * this codebase promises — no `sails` global in the app, type-only imports marked as such.
 */
const js = require('@eslint/js');
const globals = require('globals');
const tseslint = require('typescript-eslint');

module.exports = tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tmp/**', 'assets/**', 'views/**', 'docs/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      // `import x = require('x')` is how TypeScript imports an `export =` module (joi, async-retry).
      '@typescript-eslint/no-require-imports': ['error', { allowAsImport: true }],
      'no-restricted-globals': ['error', { name: 'sails', message: 'Pass the app explicitly (req._sails, the job context, the hook argument).' }],
      eqeqeq: ['error', 'always'],
    },
  },
  {
    // Sails' plain modules (config, models, controllers, policies, hooks) and the scripts are CommonJS.
    files: ['**/*.js'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['test/**/*.ts'],
    languageOptions: { globals: { ...globals.mocha } },
  },
);
