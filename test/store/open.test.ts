import Database from 'better-sqlite3';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DatabaseError } from '../../src/errors.js';
import { SCHEMA_VERSION } from '../../src/store/migrations.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { makeReadOnly, medicEnv, query, runMedic, sha256, tempDir, writeConfig } from '../helpers/db.js';

const T0 = Date.parse('2026-11-26T12:00:00Z');
const mode = (path: string) => statSync(path).mode & 0o777;
const schema = (path: string) => query<{ type: string; name: string; sql: string | null }>(path, 'SELECT type, name, sql FROM sqlite_master ORDER BY name');

/** Calls fn and returns the DatabaseError it throws (or rejects with); fails if it does not. */
async function databaseError(fn: () => unknown): Promise<DatabaseError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DatabaseError);
    return err as DatabaseError;
  }
  throw new Error('expected a DatabaseError, but nothing was thrown');
}

describe('opening a new database', () => {
  it('creates the file with mode 0600 and each missing folder with 0700', () => {
    const dir = tempDir();
    const path = join(dir, 'state', 'medic', 'medic.db');
    openSqliteStore(path).close();
    expect(mode(path)).toBe(0o600);
    expect(mode(join(dir, 'state', 'medic'))).toBe(0o700);
    expect(mode(join(dir, 'state'))).toBe(0o700);
  });

  it('leaves an existing folder as it is', () => {
    const dir = tempDir();
    const folder = join(dir, 'shared');
    mkdirSync(folder, { mode: 0o755 });
    openSqliteStore(join(folder, 'medic.db')).close();
    expect(mode(folder)).toBe(0o755);
  });

  it('is in WAL mode, and its -wal and -shm files are private too', () => {
    const path = join(tempDir(), 'medic.db');
    const store = openSqliteStore(path);
    try {
      expect(query(path, 'PRAGMA journal_mode')).toEqual([{ journal_mode: 'wal' }]);
      expect(existsSync(`${path}-wal`)).toBe(true);
      expect(mode(`${path}-wal`)).toBe(0o600);
      expect(mode(`${path}-shm`)).toBe(0o600);
    } finally {
      store.close();
    }
  });

  it('sets user_version to SCHEMA_VERSION', async () => {
    const path = join(tempDir(), 'medic.db');
    const store = openSqliteStore(path);
    try {
      expect(await store.schemaVersion()).toBe(SCHEMA_VERSION);
    } finally {
      store.close();
    }
    expect(query(path, 'PRAGMA user_version')).toEqual([{ user_version: SCHEMA_VERSION }]);
  });

  it('takes an empty file someone created beforehand (touch) as a new database', async () => {
    const path = join(tempDir(), 'medic.db');
    writeFileSync(path, '', { mode: 0o600 });
    const store = openSqliteStore(path);
    try {
      expect(await store.schemaVersion()).toBe(SCHEMA_VERSION);
    } finally {
      store.close();
    }
  });
});

describe('opening an existing database', () => {
  it('is idempotent: the schema stays as it was and the data is kept', async () => {
    const path = join(tempDir(), 'medic.db');
    const first = openSqliteStore(path);
    await first.recordBeat('nightly-backup', T0);
    first.close();
    const before = schema(path);

    const second = openSqliteStore(path);
    const third = openSqliteStore(path); // two connections at once, as two processes would have
    try {
      expect(await second.schemaVersion()).toBe(SCHEMA_VERSION);
      expect(await third.schemaVersion()).toBe(SCHEMA_VERSION);
      expect((await third.services()).map((s) => [s.slug, s.lastBeatAt, s.beatSeq])).toEqual([['nightly-backup', T0, 1]]);
    } finally {
      second.close();
      third.close();
    }
    expect(schema(path)).toEqual(before);
    expect(query(path, 'SELECT count(*) AS n FROM checker')).toEqual([{ n: 1 }]);
    expect(query(path, 'SELECT count(*) AS n FROM beats')).toEqual([{ n: 1 }]);
  });
});

describe('refusing a database Medic cannot use', () => {
  /** A database from a newer Medic: a higher user_version, in WAL mode or a rollback journal. */
  function newerDatabase(path: string, journal: 'wal' | 'delete' = 'wal'): void {
    const db = new Database(path);
    db.pragma(`journal_mode = ${journal}`);
    db.exec('CREATE TABLE services (slug TEXT PRIMARY KEY, shiny_new_column TEXT)');
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
  }

  it.each([
    ['in WAL mode', 'wal'],
    ['with a rollback journal (as a copy of the file may have)', 'delete'],
  ] as const)('refuses a schema newer than this Medic %s (exit 74, both versions named) and leaves the file unchanged', async (_label, journal) => {
    const path = join(tempDir(), 'medic.db');
    newerDatabase(path, journal);
    const before = sha256(path);
    const err = await databaseError(() => openSqliteStore(path));
    expect(err.exitCode).toBe(74);
    expect(err.message).toContain(path);
    expect(err.message).toContain(`schema version ${SCHEMA_VERSION + 1}`);
    expect(err.message).toContain(`up to version ${SCHEMA_VERSION}`);
    expect(sha256(path)).toBe(before);
    expect(query(path, 'PRAGMA user_version')).toEqual([{ user_version: SCHEMA_VERSION + 1 }]);
  });

  it('`medic beat` on a newer database exits 74 with both versions and no stack trace, file unchanged', async () => {
    const dir = tempDir();
    newerDatabase(join(dir, 'medic.db'));
    const before = sha256(join(dir, 'medic.db'));
    const config = writeConfig(dir, {
      targets: { oncall: { type: 'pagerduty', eventsUrl: 'http://127.0.0.1:9/v2/enqueue' } },
      services: [{ slug: 'nightly-backup', interval: '1d' }],
    });
    const r = await runMedic(['--config', config, 'beat', 'nightly-backup'], medicEnv());
    expect(r.code).toBe(74);
    expect(r.stderr).toContain(`schema version ${SCHEMA_VERSION + 1}`);
    expect(r.stderr).toContain(`up to version ${SCHEMA_VERSION}`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(sha256(join(dir, 'medic.db'))).toBe(before);
  }, 30_000);

  it.each([
    ['a short text file', 'hello, I am not a database\n'],
    ['a longer text file', 'medic.db is where the heartbeats go\n'.repeat(200)],
  ])('refuses %s: "is not a Medic database" (exit 74), file unchanged', async (_label, text) => {
    const path = join(tempDir(), 'medic.db');
    writeFileSync(path, text);
    const before = sha256(path);
    const err = await databaseError(() => openSqliteStore(path));
    expect(err.exitCode).toBe(74);
    expect(err.message).toContain(`${path} is not a Medic database`);
    expect(sha256(path)).toBe(before);
  });

  it('refuses a path whose parent is a regular file (exit 74, names the path)', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'not-a-folder'), 'x');
    const path = join(dir, 'not-a-folder', 'medic.db');
    const err = await databaseError(() => openSqliteStore(path));
    expect(err.exitCode).toBe(74);
    expect(err.message).toContain(path);
  });

  it('refuses to write a new read-only file (exit 74, "cannot write database")', async () => {
    const path = join(tempDir(), 'medic.db');
    writeFileSync(path, '', { mode: 0o600 });
    const undo = makeReadOnly(path);
    try {
      const err = await databaseError(() => openSqliteStore(path).close());
      expect(err.exitCode).toBe(74);
      expect(err.message).toContain(`cannot write database ${path}`);
    } finally {
      undo();
    }
    expect(statSync(path).size).toBe(0);
  });

  it('refuses to record a beat in an existing read-only database (exit 74), and the file keeps its data', async () => {
    const path = join(tempDir(), 'medic.db');
    const setup = openSqliteStore(path);
    await setup.recordBeat('nightly-backup', T0);
    setup.close();
    const before = sha256(path);
    const undo = makeReadOnly(path);
    try {
      const err = await databaseError(async () => {
        const store = openSqliteStore(path);
        try {
          await store.recordBeat('nightly-backup', T0 + 60_000);
        } finally {
          store.close();
        }
      });
      expect(err.exitCode).toBe(74);
      expect(err.message).toContain(`cannot write database ${path}`);
    } finally {
      undo();
    }
    expect(sha256(path)).toBe(before);
    expect(query(path, 'SELECT slug, at FROM beats')).toEqual([{ slug: 'nightly-backup', at: T0 }]);
  });
});
