// Typed lint: the rules STYLE.md asks for (no floating promises, type-only
// imports, no import cycles) and the folder boundaries of docs/architecture.md.
import js from '@eslint/js';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

// Which of our top-level folders each folder may import: dependencies point
// one way, down the folder table of docs/architecture.md. Only cli/, bench/,
// test/ and examples/ (not listed: they may import anything) import cli/.
const MAY_IMPORT = {
  lib: [],
  actors: ['lib'],
  store: ['lib'],
  models: ['lib'],
  collection: ['lib', 'actors', 'store', 'models'],
  sim: ['lib', 'actors', 'models'],
  services: ['lib', 'actors', 'store', 'models', 'collection', 'sim'],
};
const ALL = [...Object.keys(MAY_IMPORT), 'cli', 'bench', 'test', 'examples'];
const dirs = (names) => names.map((n) => `./${n}`);
const others = (name) => dirs(ALL.filter((n) => n !== name));

const zones = [
  ...Object.entries(MAY_IMPORT).map(([name, allowed]) => ({
    target: `./${name}`,
    from: dirs(ALL.filter((n) => n !== name && !allowed.includes(n))),
    message:
      allowed.length === 0
        ? `${name}/ is the bottom floor: it imports nothing of ours.`
        : `${name}/ may import only ${allowed.map((n) => `${n}/`).join(', ')} (dependencies point one way).`,
  })),
  { target: './moleculer.config.ts', from: dirs(['cli', 'bench', 'test', 'examples']) },
  // Other folders import these folders' entry files only, never their
  // internals (the entry files load nothing heavy: TensorFlow.js is lazy).
  ...['models', 'sim', 'actors'].map((name) => ({
    target: others(name),
    from: `./${name}`,
    except: ['./index.ts'],
    message: `import ${name}/index.ts, not a file inside ${name}/.`,
  })),
];

export default tseslint.config(
  { ignores: ['node_modules/', 'data/', '.tools/', 'bin/', 'coverage/', 'dist/', '**/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      // Imports name their `.ts` files, so the plain node resolver is enough
      // (no TypeScript resolver, no tsconfig paths); type-only imports are
      // resolved too, and no-cycle skips them.
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.mjs', '.json'] })],
      'import-x/extensions': ['.ts', '.js', '.mjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-restricted-paths': ['error', { basePath: import.meta.dirname, zones }],
    },
  },
);
