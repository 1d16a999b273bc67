/**
 * A throwaway PostgreSQL for the tests: `initdb` in a temp folder and a server on a free loopback
 * port, from the system's PostgreSQL binaries (Debian's `postgresql` package; scripts/install-test-tools.sh
 * installs it). PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres`
 * user. Never a mock database: a test that needs PostgreSQL and cannot have one fails, with this
 * file's message saying why.
 *
 * The whole run shares one cluster (test/global-setup.ts starts it; `inject('pg')` gives its
 * address); each test takes a database of its own with `freshDatabase()`. Tests that stop, kill or
 * restart PostgreSQL start a cluster of their own with `startCluster()`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface ClusterInfo {
  /** `postgres://medic@127.0.0.1:<port>/postgres`: the superuser's URL, no password (trust on loopback). */
  adminUrl: string;
  host: string;
  port: number;
  /** The cluster's folder (data/, its log, the socket folder). */
  dir: string;
}

export interface Cluster extends ClusterInfo {
  /** Stops it: `fast` (clean), or `immediate` (like a crash: no checkpoint). */
  stop(mode?: 'fast' | 'immediate'): void;
  /** Starts it again on the same port (after stop). */
  start(): void;
  /** SIGKILL to the postmaster (its children exit on their own); start() brings it back. */
  kill(): void;
  /** Stops it and removes its folder. */
  destroy(): void;
}

/** The folder of PostgreSQL's server binaries (initdb, pg_ctl, postgres): $PG_BIN, else the newest under /usr/lib/postgresql. */
export function postgresBin(): string {
  const fromEnv = process.env.PG_BIN;
  if (fromEnv && existsSync(join(fromEnv, 'initdb'))) return fromEnv;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new Error(
      'PostgreSQL server binaries not found (no initdb under /usr/lib/postgresql/*/bin, and PG_BIN is not set). ' +
        'The store tests need a real PostgreSQL: run scripts/install-test-tools.sh (as root) to install the postgresql package, ' +
        'or set PG_BIN to the folder that holds initdb, pg_ctl and postgres.',
    );
  }
  return join(root, versions[0]!, 'bin');
}

/** As root, the user the cluster runs as (PostgreSQL refuses root): `postgres`. */
function runAs(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) {
    throw new Error('running as root, and there is no postgres user to run the test PostgreSQL as (PostgreSQL refuses root): install the postgresql package, which creates it');
  }
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** initdb + start. Takes a few seconds. */
export async function startCluster(): Promise<Cluster> {
  const bin = postgresBin();
  const user = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'medic-pg-'));
  const data = join(dir, 'data');
  const socket = join(dir, 'socket');
  mkdirSync(socket);
  if (user) {
    chownSync(dir, user.uid, user.gid);
    chownSync(socket, user.uid, user.gid);
  }
  const port = await freePort();
  const as = user ? { uid: user.uid, gid: user.gid } : {};
  const run = (file: string, args: string[]) => {
    const r = spawnSync(join(bin, file), args, { ...as, encoding: 'utf8', cwd: dir, env: { ...process.env, LC_ALL: 'C', TZ: 'UTC' } });
    if (r.status !== 0) {
      const log = existsSync(join(dir, 'log')) ? readFileSync(join(dir, 'log'), 'utf8').slice(-2000) : '';
      throw new Error(`test PostgreSQL: ${file} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stderr}${r.stdout}\n${log}`);
    }
  };
  run('initdb', ['-D', data, '-U', 'medic', '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  const options = `-p ${port} -k ${socket} -c listen_addresses=127.0.0.1 -c shared_buffers=32MB -c max_connections=200 -c fsync=off`;
  const start = () => run('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '60', '-o', options, 'start']);
  start();
  const cluster: Cluster = {
    adminUrl: `postgres://medic@127.0.0.1:${port}/postgres`,
    host: '127.0.0.1',
    port,
    dir,
    stop: (mode = 'fast') => run('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']),
    start,
    kill: () => {
      const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      process.kill(pid, 'SIGKILL');
      // The postmaster's children notice it is gone and exit; wait until none holds the port.
      for (let i = 0; i < 100 && isListening(port); i++) execFileSync('sleep', ['0.1']);
    },
    destroy: () => {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // Already stopped.
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}

function isListening(port: number): boolean {
  const r = spawnSync('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`], { stdio: 'ignore' });
  return r.status === 0;
}

let counter = 0;

/**
 * A new, empty database on the cluster at `adminUrl`, owned by the cluster's superuser; returns its
 * URL (no password). Dropped when `onTestFinished`/the caller's cleanup calls the returned drop().
 */
export async function createDatabase(adminUrl: string, prefix = 't'): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${process.pid}_${Date.now().toString(36)}_${counter++}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = adminUrl.replace(/\/[^/]*$/, `/${name}`);
  const drop = async () => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    try {
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    } finally {
      await c.end();
    }
  };
  return { url, name, drop };
}
