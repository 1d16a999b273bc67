/**
 * eslint.config.js enforces the architecture's boundaries (npm run lint, run by .ci/run): each row
 * lints one line of code as if it were in that file of src/.
 */
import { ESLint } from 'eslint';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BOUNDARY_RULES = ['no-restricted-imports', 'no-restricted-syntax', 'no-restricted-globals'];
const eslint = new ESLint({ cwd: ROOT });

/** The boundary rules that `code` breaks when it sits at `file`. */
async function broken(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${code}\n`, { filePath: join(ROOT, file) });
  return result!.messages.map((m) => m.ruleId ?? m.message).filter((rule) => BOUNDARY_RULES.includes(rule));
}

describe('import boundaries', { timeout: 60_000 }, () => {
  it.each([
    ['src/core/x.ts', "export { readFileSync } from 'node:fs';", 'no-restricted-imports'],
    ['src/core/x.ts', "export { hostname } from 'os';", 'no-restricted-imports'],
    ['src/core/x.ts', "export type { Store } from '../store/types.js';", 'no-restricted-imports'],
    ['src/core/x.ts', "export { loadConfig } from '../config.js';", 'no-restricted-imports'],
    ['src/core/x.ts', "export { painter } from '../output.js';", 'no-restricted-imports'],
    ['src/core/x.ts', "export { undiciSender } from '../notify/http.js';", 'no-restricted-imports'],
    ['src/core/x.ts', "export { run } from '../cli.js';", 'no-restricted-imports'],
    ['src/core/x.ts', 'export const at = Date.now();', 'no-restricted-syntax'],
    ['src/core/x.ts', 'export const at = new Date();', 'no-restricted-syntax'],
    ['src/core/x.ts', 'export const pid = process.pid;', 'no-restricted-globals'],
    ['src/core/x.ts', "export const fs = () => import('node:fs');", 'no-restricted-syntax'],
    ['src/commands/x.ts', "export { Chalk } from 'chalk';", 'no-restricted-imports'],
    ['src/commands/x.ts', "export { default } from 'better-sqlite3';", 'no-restricted-imports'],
    ['src/commands/x.ts', "export const u = () => import('undici');", 'no-restricted-syntax'],
    ['src/commands/x.ts', "export { request } from 'node:http';", 'no-restricted-imports'],
    ['src/config.ts', "export { Command } from 'commander';", 'no-restricted-imports'],
    ['src/store/x.ts', "export { Chalk } from 'chalk';", 'no-restricted-imports'],
    ['src/notify/x.ts', "export { default } from 'better-sqlite3';", 'no-restricted-imports'],
    ['src/output.ts', "export const u = () => import('undici');", 'no-restricted-syntax'],
    ['src/cli.ts', "export { default } from 'better-sqlite3';", 'no-restricted-imports'],
    ['src/commands/run.ts', "export { spawn } from 'node:child_process';", 'no-restricted-imports'],
    ['src/cli.ts', "export const cp = () => import('child_process');", 'no-restricted-syntax'],
    ['src/core/x.ts', "export { spawn } from 'node:child_process';", 'no-restricted-imports'],
  ])('%s: `%s` fails (%s)', async (file, code, rule) => {
    expect(await broken(file, code)).toEqual([rule]);
  });

  it.each([
    ['src/core/x.ts', 'export const iso = (at: number) => new Date(at).toISOString();'],
    ['src/core/x.ts', "export { formatDuration } from './duration.js';"],
    ['src/output.ts', "export { Chalk } from 'chalk';"],
    ['src/store/x.ts', "export { default } from 'better-sqlite3';"],
    ['src/notify/x.ts', "export const u = () => import('undici');"],
    ['src/notify/x.ts', "export { request } from 'node:http';"],
    ['src/serve/x.ts', "export { createServer } from 'node:http';"],
    ['src/cli.ts', "export const c = () => import('commander');"],
    ['src/commands/x.ts', "export { readFileSync } from 'node:fs';"],
    ['src/commands/x.ts', 'export const at = Date.now();'],
    ['src/job.ts', "export { spawn } from 'node:child_process';"],
  ])('%s: `%s` is allowed', async (file, code) => {
    expect(await broken(file, code)).toEqual([]);
  });
});
