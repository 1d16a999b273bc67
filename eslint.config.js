// ESLint: the recommended rules (none needs type information) plus the architecture's import
// boundaries, so that CI fails when core reaches for I/O or a layer's package leaks out of it.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import { builtinModules } from 'node:module';
import tseslint from 'typescript-eslint';

/** Modules that one part of src/ owns: anywhere else in src/ they are an error. */
const OWNED = [
  { modules: ['chalk'], owners: ['src/output.ts'], message: 'chalk only in src/output.ts' },
  { modules: ['better-sqlite3', 'pg'], owners: ['src/store/**'], message: 'SQL only in src/store' },
  { modules: ['undici'], owners: ['src/notify/**'], message: 'network only in src/notify' },
  {
    modules: ['http', 'https', 'http2', 'net', 'tls', 'dgram'].flatMap((m) => [m, `node:${m}`]),
    owners: ['src/notify/**', 'src/serve/**'],
    message: 'network only in src/notify (outbound) and src/serve (inbound)',
  },
  { modules: ['commander'], owners: ['src/cli.ts'], message: 'commander only in src/cli.ts' },
  {
    // doctor reads the user's crontab with `crontab -l`, discover installs one with `crontab -`;
    // every job medic runs goes through src/job.ts.
    modules: ['child_process', 'node:child_process'],
    owners: ['src/job.ts', 'src/commands/doctor.ts', 'src/commands/discover.ts'],
    message: 'processes only in src/job.ts (and doctor and discover reading and installing the crontab)',
  },
];

const CORE = 'src/core/**';
const PURE = 'src/core is pure: no I/O, no clock, no process, nothing from store, notify, cli, config or output (take the value as an argument)';
const CORE_BANS = [{ modules: [...builtinModules, ...builtinModules.map((m) => `node:${m}`)], message: PURE }];
const CORE_LAYERS = ['../store/*', '../notify/*', '../commands/*', '../serve/*', '../cli.js', '../config.js', '../output.js'];
const CORE_SYNTAX = [
  { selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']", message: PURE },
  { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: PURE },
  { selector: "CallExpression[callee.name='Date']", message: PURE },
];

/**
 * The boundary rules for the files of one area (an owner glob, CORE, or the rest of src/).
 * ESLint replaces a rule's options when two config objects match a file, so each area gets one
 * object with its complete lists, and the areas' file sets do not overlap.
 */
function boundaries(area) {
  const bans = [...OWNED.filter((o) => !o.owners.includes(area)), ...(area === CORE ? CORE_BANS : [])];
  const paths = new Map(bans.flatMap((b) => b.modules.map((name) => [name, { name, message: b.message }])));
  // `await import('undici')` is no import declaration: the same bans for import().
  const dynamic = [...paths.values()].map(({ name, message }) => ({ selector: `ImportExpression > Literal[value='${name}']`, message }));
  const core = area === CORE;
  return {
    'no-restricted-imports': ['error', { paths: [...paths.values()], patterns: core ? [{ group: CORE_LAYERS, message: PURE }] : [] }],
    'no-restricted-syntax': ['error', ...dynamic, ...(core ? CORE_SYNTAX : [])],
    'no-restricted-globals': ['error', ...(core ? [{ name: 'process', message: PURE }] : [])],
  };
}

const tsFiles = (glob) => (glob.endsWith('**') ? `${glob}/*.ts` : glob);
const AREAS = [...new Set([CORE, ...OWNED.flatMap((o) => o.owners)])];

export default defineConfig(
  { ignores: ['dist/', 'coverage/', 'src/generated/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    rules: {
      // A leading underscore marks a value left unused on purpose (`const { pid: _pid, ...rest } = r`).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Finding and escaping control characters (terminal injection, JSON rules) is part of the job here.
      'no-control-regex': 'off',
    },
  },
  ...AREAS.map((area) => ({ files: [tsFiles(area)], rules: boundaries(area) })),
  { files: ['src/**/*.ts'], ignores: AREAS.map(tsFiles), rules: boundaries('src') },
  {
    // Tests read JSON that medic printed or the stand-in received: `any` keeps those assertions short.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
