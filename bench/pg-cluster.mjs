// A throwaway PostgreSQL for the benchmark, the steps of test/helpers/pg-cluster.ts in plain
// JavaScript (bench files run on Node without a TypeScript loader): initdb in a temp folder, a
// server on a free loopback port, trust authentication for the superuser `medic` on loopback only.
// PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user. Unlike the
// tests' cluster, this one keeps PostgreSQL's durable defaults (fsync on, synchronous_commit on):
// the figures are those of a real server. destroy() stops it and removes its folder.
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** initdb, pg_ctl, postgres, psql: $PG_BIN, else the newest under /usr/lib/postgresql. */
export function postgresBin() {
  const fromEnv = process.env.PG_BIN;
  if (fromEnv && existsSync(join(fromEnv, 'initdb'))) return fromEnv;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new Error('PostgreSQL server binaries not found (no initdb under /usr/lib/postgresql/*/bin, PG_BIN not set): apt-get install postgresql, or set PG_BIN');
  }
  return join(root, versions[0], 'bin');
}

function runAs() {
  if (process.getuid?.() !== 0) return null;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root, and there is no postgres user to run the bench PostgreSQL as (PostgreSQL refuses root): apt-get install postgresql');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * initdb + start (a few seconds). `settings` are extra `-c name=value` server settings.
 * Returns { adminUrl, urlOf(db), port, bin, dir, log (the server log's path), psql(db, sql), query(db, sql, params), destroy() }.
 */
export async function startCluster({ settings = {} } = {}) {
  const bin = postgresBin();
  const user = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'medic-bench-pg-'));
  const data = join(dir, 'data');
  const socket = join(dir, 'socket');
  const log = join(dir, 'log');
  mkdirSync(socket);
  if (user) {
    chownSync(dir, user.uid, user.gid);
    chownSync(socket, user.uid, user.gid);
  }
  const port = await freePort();
  const as = user ?? {};
  const run = (file, args) => {
    const r = spawnSync(join(bin, file), args, { ...as, encoding: 'utf8', cwd: dir, env: { ...process.env, LC_ALL: 'C', TZ: 'UTC' } });
    if (r.status !== 0) {
      const tail = existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : '';
      throw new Error(`bench PostgreSQL: ${file} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stderr}${r.stdout}\n${tail}`);
    }
  };
  try {
    run('initdb', ['-D', data, '-U', 'medic', '--auth=trust', '-E', 'UTF8', '--no-instructions']);
    const extra = Object.entries({ max_connections: 200, ...settings }).map(([k, v]) => `-c ${k}=${v}`);
    run('pg_ctl', ['-D', data, '-l', log, '-w', '-t', '60', '-o', [`-p ${port}`, `-k ${socket}`, '-c listen_addresses=127.0.0.1', ...extra].join(' '), 'start']);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const urlOf = (db) => `postgres://medic@127.0.0.1:${port}/${db}`;
  const query = async (db, sql, params) => {
    const client = new pg.Client({ connectionString: urlOf(db) });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows;
    } finally {
      await client.end();
    }
  };
  return {
    adminUrl: urlOf('postgres'),
    urlOf,
    port,
    bin,
    dir,
    log,
    query,
    /** A shell command (for hyperfine --prepare) that runs `sql` on database `db` with psql. */
    psqlCommand: (db, ...sql) => [join(bin, 'psql'), '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', 'medic', '-d', db, ...sql.flatMap((s) => ['-c', s])],
    destroy() {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // Already stopped.
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
