/**
 * PostgreSQL only: migrations under the advisory lock, what is refused untouched, read-only opens
 * that create nothing, the password's ways in (passwordFile, never the URL), and the errors a user
 * meets, each a DatabaseError (74) or ConfigError (78) that names the database and never a password.
 */
import { chmodSync, chownSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config.js';
import { isMedicError } from '../../src/errors.js';
import { SCHEMA_VERSION } from '../../src/store/migrations.js';
import { openStore } from '../../src/store/index.js';
import { openPostgresStore } from '../../src/store/postgres.js';
import { freePort, startCluster, type Cluster } from '../helpers/pg-cluster.js';
import { medic } from '../helpers/cli.js';
import { tempDir } from '../helpers/db.js';
import { freshDatabase, pgAdminUrl } from '../helpers/pg.js';
import { pgClient } from './pg-client.js';

const uid = process.geteuid!();
const T0 = Date.parse('2026-11-26T12:00:00Z');

/** The MedicError a promise rejects with (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<{ exitCode: number; message: string; hint?: string }> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(isMedicError(err), String(err)).toBe(true);
  return err as { exitCode: number; message: string; hint?: string };
}

async function tables(url: string): Promise<string[]> {
  const c = await pgClient(url);
  return (await c.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")).rows.map((r) => r.tablename as string);
}

describe('PostgreSQL schema', () => {
  it('concurrent first opens of a new database migrate it once, and every one of them works', async () => {
    const url = await freshDatabase();
    const stores = await Promise.all(Array.from({ length: 6 }, () => openPostgresStore(url)));
    try {
      await Promise.all(stores.map((s, i) => s.recordBeat(`job-${i}`, T0)));
      expect((await stores[0]!.services()).length).toBe(6);
      const c = await pgClient(url);
      expect((await c.query('SELECT version FROM medic_schema')).rows).toEqual([{ version: SCHEMA_VERSION }]);
      expect((await c.query('SELECT count(*) AS n FROM checker')).rows).toEqual([{ n: 1 }]);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('a database a newer Medic wrote is refused untouched (74), naming both versions', async () => {
    const url = await freshDatabase();
    await (await openPostgresStore(url)).close();
    const c = await pgClient(url);
    await c.query('UPDATE medic_schema SET version = $1', [SCHEMA_VERSION + 1]);
    for (const readOnly of [false, true]) {
      const err = await rejection(openPostgresStore(url, { readOnly }));
      expect(err.exitCode).toBe(74);
      expect(err.message).toContain(`has schema version ${SCHEMA_VERSION + 1}, written by a newer Medic; this Medic knows up to version ${SCHEMA_VERSION}`);
      expect(err.hint).toContain('left untouched');
    }
    expect((await c.query('SELECT version FROM medic_schema')).rows).toEqual([{ version: SCHEMA_VERSION + 1 }]);
  });

  it('a database holding another program\'s tables is refused as not a Medic database, and nothing is created in it', async () => {
    const url = await freshDatabase();
    const c = await pgClient(url);
    await c.query('CREATE TABLE invoices (id int)');
    for (const readOnly of [false, true]) {
      const err = await rejection(openPostgresStore(url, { readOnly }));
      expect(err.exitCode).toBe(74);
      expect(err.message).toContain('is not a Medic database');
      expect(err.message).toContain('invoices');
    }
    expect(await tables(url)).toEqual(['invoices']);
  });

  it('a read-only open of an empty database creates nothing, and reads as empty', async () => {
    const url = await freshDatabase();
    const ro = await openPostgresStore(url, { readOnly: true });
    try {
      expect(await ro.services()).toEqual([]);
      expect(await ro.pendingEvents()).toEqual([]);
      expect(await ro.lastChecker()).toBeNull();
      expect(await ro.probe()).toEqual({ exists: false });
    } finally {
      await ro.close();
    }
    expect(await tables(url)).toEqual([]);
  });

  it('a read-only open refuses writes even on a migrated database (74), and changes nothing', async () => {
    const url = await freshDatabase();
    await (await openPostgresStore(url)).close();
    const ro = await openPostgresStore(url, { readOnly: true });
    try {
      for (const write of [() => ro.recordBeats([{ slug: 'a' }]), () => ro.register(['a'], T0), () => ro.prune(T0, T0), () => ro.claimEvents('1@h', T0, 1000)]) {
        expect((await rejection(write())).exitCode).toBe(74);
      }
      expect(await ro.services()).toEqual([]);
      expect(await ro.probe()).toEqual({ exists: true });
    } finally {
      await ro.close();
    }
  });

  it('a beat without a time is stamped by the database\'s clock, in SQL, whatever this process\'s clock says', async () => {
    const url = await freshDatabase();
    const store = await openPostgresStore(url);
    try {
      const c = await pgClient(url);
      const before = Number((await c.query('SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint AS t')).rows[0].t);
      await store.recordBeats([{ slug: 'a' }, { slug: 'a', kind: 'log', details: { message: 'x' } }]);
      const after = Number((await c.query('SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint AS t')).rows[0].t);
      const at = (await store.services())[0]!.lastBeatAt!;
      expect(at).toBeGreaterThanOrEqual(before);
      expect(at).toBeLessThanOrEqual(after);
      expect((await store.history('a', 0, after + 1)).logs).toEqual([{ at, message: 'x' }]);
    } finally {
      await store.close();
    }
  });
});

describe('PostgreSQL errors a user meets (74), never printing a password', () => {
  it('nothing listening: "cannot connect", with the host and port, at once', async () => {
    const port = await freePort();
    const started = Date.now();
    const err = await rejection(openPostgresStore(`postgres://medic@127.0.0.1:${port}/medic`));
    expect(err.exitCode).toBe(74);
    expect(err.message).toContain(`cannot connect to PostgreSQL database "medic" at medic@127.0.0.1:${port}`);
    expect(err.hint).toContain('is running');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('a server that accepts and never answers: "cannot connect" within the connect timeout', async () => {
    const server = createServer(() => {});
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as { port: number }).port;
      const started = Date.now();
      const err = await rejection(openPostgresStore(`postgres://medic@127.0.0.1:${port}/medic`));
      expect(err.exitCode).toBe(74);
      expect(err.message).toContain('cannot connect');
      expect(Date.now() - started).toBeLessThan(8000);
    } finally {
      server.close();
    }
  }, 15_000);

  it('a database that does not exist says so, and how to create it', async () => {
    const url = pgAdminUrl().replace(/\/[^/]*$/, '/no_such_db');
    const err = await rejection(openPostgresStore(url));
    expect(err.exitCode).toBe(74);
    expect(err.message).toContain('PostgreSQL database "no_such_db"');
    expect(err.message).toContain('does not exist');
    expect(err.hint).toContain('createdb');
  });

  it('a hostile server\'s error text reaches no terminal raw: one line, control characters escaped, bounded', async () => {
    const server = hostileServer(`bad \u001b[31mred\u001b[0m\nsecond line ${'x'.repeat(2000)}`);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as { port: number }).port;
      const err = await rejection(openPostgresStore(`postgres://medic@127.0.0.1:${port}/medic`));
      expect(err.exitCode).toBe(74);
      expect(err.message).not.toMatch(/[\u0000-\u001f\u007f]/);
      expect(err.message).toContain('\\x1b[31mred');
      expect(err.message.length).toBeLessThan(600);
    } finally {
      server.close();
    }
  });
});

/** A "server" that answers any start-up with a FATAL ErrorResponse carrying `message`. */
function hostileServer(message: string): Server {
  return createServer((socket) => {
    socket.once('data', () => {
      const fields = Buffer.concat([field('S', 'FATAL'), field('C', 'XX000'), field('M', message), Buffer.from([0])]);
      const head = Buffer.alloc(5);
      head.write('E', 0);
      head.writeInt32BE(fields.length + 4, 1);
      socket.end(Buffer.concat([head, fields]));
    });
    socket.on('error', () => {});
  });
}
function field(code: string, value: string): Buffer {
  return Buffer.concat([Buffer.from(code), Buffer.from(value, 'utf8'), Buffer.from([0])]);
}

describe('the database URL in the config', () => {
  const build = (raw: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) =>
    buildConfig({ services: [{ slug: 'job' }], ...raw }, '/etc/medic/medic.config.json', { env, cwd: '/tmp', machineZone: 'UTC' });

  it.each([
    ['postgres://medic@db.example.com:5432/medic'],
    ['postgresql://medic@db.example.com/medic?sslmode=verify-full&sslrootcert=/etc/ssl/ca.pem'],
  ])('%s is kept as a URL (query options passed through), not resolved as a path', (url) => {
    const cfg = build({ database: url, passwordFile: 'pg-password' });
    expect(cfg.databaseUrl).toBe(url);
    expect(cfg.passwordFile).toBe('/etc/medic/pg-password');
  });

  it('MEDIC_DB may be a URL too, and wins over the file\'s "database"', () => {
    const cfg = build({ database: 'medic.db' }, { MEDIC_DB: 'postgres://medic@db/medic' });
    expect(cfg.databaseUrl).toBe('postgres://medic@db/medic');
  });

  it('a SQLite path stays a path, with no URL', () => {
    expect(build({ database: 'state/medic.db' })).toMatchObject({ databaseUrl: null, databasePath: '/etc/medic/state/medic.db' });
  });

  it.each([
    ['user:password@', { database: 'postgres://medic:Sw0rdfish-secret@db/medic' }, {}, 'database:'],
    ['?password=', { database: 'postgres://medic@db/medic?password=Sw0rdfish-secret' }, {}, 'database:'],
    ['in MEDIC_DB', {}, { MEDIC_DB: 'postgresql://medic:Sw0rdfish-secret@db/medic' }, 'MEDIC_DB:'],
  ])('a password in the URL (%s) is refused (78) and never echoed', (_label, raw, env, at) => {
    let err: unknown;
    try {
      build(raw, env);
    } catch (e) {
      err = e;
    }
    expect(isMedicError(err)).toBe(true);
    const e = err as { exitCode: number; message: string; hint?: string };
    expect(e.exitCode).toBe(78);
    expect(e.message).toContain(`${at} a password in the database URL`);
    expect(e.message).toContain('passwordFile');
    expect(`${e.message} ${e.hint}`).not.toContain('Sw0rdfish');
  });

  it('openStore refuses a URL with a password too (78), before connecting', async () => {
    const err = await rejection(openStore({ databasePath: '', databaseUrl: 'postgres://medic:Sw0rdfish-secret@127.0.0.1:1/medic' }, { uid }));
    expect(err.exitCode).toBe(78);
    expect(err.message).not.toContain('Sw0rdfish');
  });
});

describe('passwordFile: the password is really sent, and only from a file this user keeps private', () => {
  let cluster: Cluster;
  let url: string;
  const PASSWORD = 'correct-horse-battery-staple';

  beforeAll(async () => {
    // pg's own sources of a password would hide whether the file's is the one sent.
    delete process.env.PGPASSWORD;
    delete process.env.PGPASSFILE;
    cluster = await startCluster();
    const admin = new pg.Client({ connectionString: cluster.adminUrl });
    await admin.connect();
    await admin.query(`CREATE ROLE pwuser LOGIN PASSWORD '${PASSWORD}'`);
    await admin.query('CREATE DATABASE pwdb OWNER pwuser');
    // Everyone else keeps trust; this user must give its password (SCRAM).
    const hba = join(cluster.dir, 'data', 'pg_hba.conf');
    writeFileSync(hba, `host all pwuser 127.0.0.1/32 scram-sha-256\n${readFileSync(hba, 'utf8')}`);
    await admin.query('SELECT pg_reload_conf()');
    await admin.end();
    url = `postgres://pwuser@127.0.0.1:${cluster.port}/pwdb`;
  }, 60_000);
  afterAll(() => cluster?.destroy());

  function passwordFile(content: string, mode = 0o600): string {
    const file = join(tempDir(), 'pg-password');
    writeFileSync(file, content);
    chmodSync(file, mode);
    return file;
  }
  const open = (file: string | null) => openStore({ databasePath: '', databaseUrl: url, passwordFile: file }, { uid });

  it('the right password in the file opens the database (and migrates it)', async () => {
    const store = await open(passwordFile(`${PASSWORD}\n`));
    try {
      await store.recordBeat('job', T0);
      expect(await store.schemaVersion()).toBe(SCHEMA_VERSION);
    } finally {
      await store.close();
    }
  });

  it('medic migrate sends the password of --password-file (found by the new-user walk: it was dropped)', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'medic.config.json'), JSON.stringify({ database: 'medic.db', services: [{ slug: 'job', interval: '1h' }] }));
    const config = ['--config', join(dir, 'medic.config.json')];
    expect((await medic(['beat', 'job', ...config], { cwd: dir })).code).toBe(0);
    // An empty database of its own (other tests here write rows into pwdb; migrate wants an empty target).
    const admin = new pg.Client({ connectionString: cluster.adminUrl });
    await admin.connect();
    await admin.query('CREATE DATABASE migdb OWNER pwuser');
    await admin.end();
    const target = url.replace(/\/pwdb$/, '/migdb');
    const res = await medic(['migrate', '--to', target, '--password-file', passwordFile(`${PASSWORD}\n`), ...config], { cwd: dir });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(`${res.stdout}${res.stderr}`).not.toContain(PASSWORD);
    const store = await openStore({ databasePath: '', databaseUrl: target, passwordFile: passwordFile(`${PASSWORD}\n`) }, { uid });
    try {
      expect((await store.services()).map((r) => r.slug)).toEqual(['job']);
    } finally {
      await store.close();
    }
  });

  it('a password from ~/.pgpass works, and neither it nor sslmode=require makes pg print its notices on stderr (a cron mail a minute)', async () => {
    const dir = tempDir();
    const pgpass = join(dir, '.pgpass');
    writeFileSync(pgpass, `127.0.0.1:${cluster.port}:pwdb:pwuser:${PASSWORD}\n`);
    chmodSync(pgpass, 0o600);
    writeFileSync(join(dir, 'medic.config.json'), JSON.stringify({ database: url, services: [{ slug: 'job', interval: '1h' }] }));
    const config = ['--config', join(dir, 'medic.config.json')];
    const beat = await medic(['beat', 'job', ...config], { cwd: dir, env: { HOME: dir } });
    expect(beat).toMatchObject({ code: 0, stderr: '' });
    // The test cluster has no TLS: the connection fails (74), but pg's notice about sslmode is not printed.
    const tls = await medic(['status', '--config', join(dir, 'medic.config.json')], { cwd: dir, env: { HOME: dir, MEDIC_DB: `${url}?sslmode=require` } });
    expect(tls.code).toBe(74);
    expect(tls.stderr).not.toContain('SECURITY WARNING');
    expect(tls.stderr).not.toContain('Warning');
  });

  it('a wrong password, or none, is "cannot log in" (74), saying where the password comes from, never the password', async () => {
    for (const file of [passwordFile('wrong-password\n'), null]) {
      const err = await rejection(open(file));
      expect(err.exitCode).toBe(74);
      expect(err.message).toContain(`cannot log in to PostgreSQL database "pwdb" at pwuser@127.0.0.1:${cluster.port}`);
      expect(err.hint).toContain('passwordFile');
      expect(`${err.message} ${err.hint}`).not.toContain('wrong-password');
      // None given: said in words, not pg's "client password must be a string".
      if (file === null) expect(err.message).toContain('the server asks for a password and none was given');
    }
  });

  it.each([
    ['readable by everyone', (f: string) => chmodSync(f, 0o644), 'its group or other users can read or write it (mode 644)'],
    ['owned by another user', (f: string) => chownSync(f, 65534, 65534), 'it is owned by uid 65534'],
  ])('a password file %s is refused (78) before anything is sent', async (_label, spoil, words) => {
    const file = passwordFile(`${PASSWORD}\n`);
    spoil(file);
    const err = await rejection(open(file));
    expect(err.exitCode).toBe(78);
    expect(err.message).toContain(`refusing passwordFile ${file}: ${words}`);
    expect(err.message).not.toContain(PASSWORD);
  });
});
