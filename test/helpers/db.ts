/**
 * Helpers for store tests: temp folders, a read-only view of a database, the real `bin/medic`
 * spawned as a child process, and a way to make a file read-only that holds for root too.
 */
import Database from 'better-sqlite3';
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';

export const MEDIC_BIN = fileURLToPath(new URL('../../bin/medic', import.meta.url));

/** The guide's example key: the only key tests ever use. */
export const EXAMPLE_KEY = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';

/** A fresh temp folder, removed when the current test finishes. Call it inside a test. */
export function tempDir(prefix = 'medic-store-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Runs one query on a read-only connection of its own (what another process would see). */
export function query<T = Record<string, unknown>>(dbPath: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

/** Writes `medic.config.json` into `dir` and returns its path. */
export function writeConfig(dir: string, config: Record<string, unknown>): string {
  const file = join(dir, 'medic.config.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Environment for a spawned medic: this process's, minus anything that would redirect it. */
export function medicEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...extra };
  delete env.MEDIC_DB;
  delete env.MEDIC_CONFIG;
  return env;
}

/** Spawns the real `bin/medic` with these arguments (as another user with `as`, when root) and waits for it to exit. */
export function runMedic(args: string[], env: NodeJS.ProcessEnv = medicEnv(), as: { uid?: number; gid?: number } = {}): Promise<RunResult> {
  return collect(spawn(process.execPath, [MEDIC_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], ...as }));
}

/**
 * A `bin/medic` that starts Node, says it is ready, and waits for `go()` before it loads the CLI:
 * several of them released together open the database at (nearly) the same instant, instead of
 * one Node start-up apart.
 */
export interface GatedMedic {
  ready: Promise<void>;
  go(): void;
  done: Promise<RunResult>;
}

const GATE = `
process.stdout.write('ready\\n');
process.stdin.once('data', () => {
  process.stdin.destroy();
  const [bin, ...args] = process.argv.slice(1);
  process.argv = [process.argv[0], bin, ...args];
  import(require('node:url').pathToFileURL(bin).href);
});
`;

export function gatedMedic(args: string[], env: NodeJS.ProcessEnv = medicEnv()): GatedMedic {
  const child = spawn(process.execPath, ['-e', GATE, MEDIC_BIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`gated medic exited (${code}) before it was ready`)));
  });
  child.stdin.on('error', () => {}); // a child that already exited cannot be released: its result says why
  const done = collect(child).then((r) => ({ ...r, stdout: r.stdout.replace(/^ready\n/, '') }));
  return { ready, go: () => child.stdin.end('go\n'), done };
}

function collect(child: ReturnType<typeof spawn>): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export const isRoot = process.getuid?.() === 0;

/**
 * Makes a file read-only for this process and returns the undo. Permission bits do not stop root
 * (CI runs as root), so as root the file is made immutable with `chattr +i`, which binds root too.
 */
export function makeReadOnly(path: string): () => void {
  if (!isRoot) {
    chmodSync(path, 0o400);
    return () => chmodSync(path, 0o600);
  }
  execFileSync('chattr', ['+i', path]);
  return () => execFileSync('chattr', ['-i', path]);
}
