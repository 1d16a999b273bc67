/**
 * `medic serve` for tests: the real bin/medic spawned in a temp project on a free port (serve.listen
 * "127.0.0.1:0"; the address is read from its first line), plain HTTP on loopback, stopped (SIGKILL)
 * when the test finishes. Node builtins only (plus vitest's onTestFinished).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';

export const BIN = fileURLToPath(new URL('../../bin/medic', import.meta.url));
/** A ping key for tests (never a real one). */
export const PING_KEY = 'test-ping-key_0123456789';
/** The PagerDuty guide's example routing key. */
export const ROUTING_KEY = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';

export interface Serve {
  dir: string;
  db: string;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `<url>/ping/<PING_KEY>` */
  base: string;
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal) once the process ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  writeConfig(config: Record<string, unknown>): void;
}

/** A temp folder, removed when the test finishes. */
export function serveDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'medic-serve-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function configFor(serve: Record<string, unknown> = {}, services: string[] = ['backup', 'db-dump']): Record<string, unknown> {
  return { database: 'medic.db', services: services.map((slug) => ({ slug, interval: '1h' })), serve: { listen: '127.0.0.1:0', ...serve } };
}

/** Spawns `medic serve` with `config` in a fresh folder (or `dir`); resolves once it listens, rejects if it exits first. */
export function startServe(config: Record<string, unknown>, opts: { args?: string[]; env?: Record<string, string | undefined>; dir?: string } = {}): Promise<Serve> {
  const dir = opts.dir ?? serveDir();
  const file = join(dir, 'medic.config.json');
  const writeConfig = (c: Record<string, unknown>) => writeFileSync(file, JSON.stringify(c, null, 2));
  writeConfig(config);
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', TZ: 'UTC', NO_COLOR: '1', HOME: dir, MEDIC_PING_KEY: PING_KEY, PAGERDUTY_ROUTING_KEY: ROUTING_KEY };
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const child = spawn(process.execPath, [BIN, 'serve', '--config', file, ...(opts.args ?? [])], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return new Promise((resolve, reject) => {
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      const m = /listening on (https?:\/\/\S+)/.exec(out);
      if (m) {
        resolve({ dir, db: join(dir, 'medic.db'), url: m[1]!, base: `${m[1]}/ping/${PING_KEY}`, child, stdout: () => out, stderr: () => err, exited, writeConfig });
      }
    });
    void exited.then(({ code }) => reject(new Error(`medic serve exited ${code} before listening\n${err}${out}`)));
  });
}

/** A raw TCP connection to `url`'s host and port, with everything it received. */
export function rawConnection(url: string): Promise<{ socket: Socket; received(): string; closed: Promise<number> }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(u.port), u.hostname);
    const startedAt = Date.now();
    let data = '';
    socket.setEncoding('utf8').on('data', (s: string) => (data += s));
    socket.on('error', () => {});
    const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now() - startedAt)));
    socket.once('connect', () => resolve({ socket, received: () => data, closed }));
    socket.once('error', reject);
    onTestFinished(() => void socket.destroy());
  });
}

/**
 * A self-signed certificate for 127.0.0.1 and its private key (mode 600), written by openssl into
 * `dir` as cert.pem and key.pem.
 */
export async function makeTlsPair(dir: string): Promise<{ cert: string; key: string }> {
  const { execFile } = await import('node:child_process');
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  await new Promise<void>((resolve, reject) =>
    execFile('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], (err) =>
      err ? reject(err) : resolve(),
    ),
  );
  const { chmodSync } = await import('node:fs');
  chmodSync(key, 0o600);
  return { cert, key };
}
