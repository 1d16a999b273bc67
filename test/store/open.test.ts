import Database from 'better-sqlite3';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { DatabaseError } from '../../src/errors.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/store/migrations.js';
import { holdsOpen, openSqliteStore } from '../../src/store/sqlite.js';
import { EXAMPLE_KEY, isRoot, makeReadOnly, medicEnv, query, runMedic, sha256, tempDir, writeConfig } from '../helpers/db.js';

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

describe('opening safely: nothing at the database path is followed or trusted blindly (SPEC §8)', () => {
  it.each([
    [
      'a link to an existing Medic database',
      (dir: string) => {
        const real = join(dir, 'elsewhere', 'real.db');
        mkdirSync(dirname(real));
        openSqliteStore(real).close();
        return real;
      },
    ],
    [
      'a dangling link (root must not create a file where it points)',
      (dir: string) => {
        mkdirSync(join(dir, 'chosen'));
        return join(dir, 'chosen', 'planted.db');
      },
    ],
  ])('refuses %s at the database path (exit 74, says why), and the link target is left as it was', async (_label, target) => {
    const dir = tempDir();
    const to = target(dir);
    const path = join(dir, 'medic.db');
    symlinkSync(to, path);
    const before = existsSync(to) ? sha256(to) : null;
    for (const readOnly of [false, true]) {
      const err = await databaseError(() => openSqliteStore(path, { readOnly }));
      expect(err.exitCode).toBe(74);
      expect(err.message).toBe(`refusing database ${path}: it is a symbolic link, and Medic never follows a link at the database path`);
    }
    expect(existsSync(to) ? sha256(to) : null).toBe(before);
  });

  it('`medic beat` and `medic check` on a dangling medic.db link exit 74 and create no file where it points', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'chosen'));
    const planted = join(dir, 'chosen', 'planted.db');
    symlinkSync(planted, join(dir, 'medic.db'));
    const config = writeConfig(dir, {
      targets: { oncall: { type: 'pagerduty', eventsUrl: 'http://127.0.0.1:9/v2/enqueue' } },
      services: [{ slug: 'nightly-backup', interval: '1d' }],
    });
    for (const args of [['beat', 'nightly-backup'], ['check']]) {
      const r = await runMedic(['--config', config, ...args], medicEnv());
      expect(r.code, r.stderr).toBe(74);
      expect(r.stderr).toContain('symbolic link');
    }
    expect(existsSync(planted)).toBe(false);
  }, 30_000);

  it.each([
    ['owned by another user', (path: string) => chownSync(path, 4242, 4242), 'it is owned by uid 4242, neither the user running medic'],
    ['writable by every user', (path: string) => chmodSync(path, 0o666), 'every user on this machine can write it'],
  ])('refuses a database file %s (exit 74), read-only or not, and leaves it unchanged', async (_label, spoil, why) => {
    const path = join(tempDir(), 'medic.db');
    openSqliteStore(path).close();
    spoil(path);
    const before = sha256(path);
    for (const readOnly of [false, true]) {
      const err = await databaseError(() => openSqliteStore(path, { readOnly }));
      expect(err.exitCode).toBe(74);
      expect(err.message).toContain(`refusing database ${path}: ${why}`);
    }
    expect(sha256(path)).toBe(before);
  });

  it.each([
    ['writable by every user, even with the sticky bit (as /tmp is)', 0o1777, 0o600, 'every user on this machine can write it'],
    ['writable by every user in the group set-up', 0o777, 0o660, 'every user on this machine can write it'],
    ['writable by its group without the group set-up', 0o770, 0o600, 'its group can write it'],
  ])('refuses a database whose folder is %s: nothing is created there', async (_label, folderMode, mode, why) => {
    const folder = join(tempDir(), 'shared');
    mkdirSync(folder);
    chmodSync(folder, folderMode);
    const path = join(folder, 'medic.db');
    const err = await databaseError(() => openSqliteStore(path, { mode }));
    expect(err.exitCode).toBe(74);
    expect(err.message).toBe(`refusing database ${path}: its folder ${folder} could have been changed by someone else (${why})`);
    expect(readdirSync(folder)).toEqual([]);
  });

  it('a database swapped for a link to another file while Medic opens it is refused, never written (a racing folder writer)', async () => {
    const folder = join(tempDir(), 'raced');
    mkdirSync(folder, { mode: 0o700 });
    const path = join(folder, 'medic.db');
    const victim = join(folder, 'victim');
    writeFileSync(victim, '');
    await openSqliteStore(path).close();
    // Another process swaps medic.db for a link to the victim and back, as fast as it can.
    const swapper = spawn(process.execPath, ['-e', `
      const fs = require('fs'); const p = ${JSON.stringify(path)}; const keep = p + '.keep'; const lnk = p + '.lnk';
      const end = Date.now() + 3000;
      while (Date.now() < end) {
        try { fs.linkSync(p, keep); fs.symlinkSync(${JSON.stringify(victim)}, lnk); fs.renameSync(lnk, p); fs.renameSync(keep, p); } catch {}
        try { fs.unlinkSync(lnk); } catch {} try { fs.unlinkSync(keep); } catch {}
      }`]);
    const done = new Promise((r) => swapper.on('exit', r));
    let refused = 0;
    while (swapper.exitCode === null) {
      try {
        await openSqliteStore(path).close();
      } catch (err) {
        if (!(err instanceof DatabaseError)) throw err;
        refused++;
      }
      await new Promise((r) => setImmediate(r));
    }
    await done;
    expect(readFileSync(victim)).toHaveLength(0);
    expect(refused).toBeGreaterThan(0);
  });

  it('holdsOpen: tells the file SQLite opened from another one', () => {
    const dir = tempDir();
    const a = join(dir, 'a.db');
    const other = join(dir, 'other');
    writeFileSync(other, '');
    const store = openSqliteStore(a);
    try {
      expect(holdsOpen(statSync(a))).toBe(true);
      expect(holdsOpen(statSync(other))).toBe(false);
    } finally {
      void store.close();
    }
  });

  it('accepts a folder only the user\'s own primary group can write (user private groups, umask 002)', async () => {
    const folder = join(tempDir(), 'mine');
    mkdirSync(folder);
    chmodSync(folder, 0o775);
    const path = join(folder, 'medic.db');
    const own = statSync(folder).gid;
    const store = openSqliteStore(path, { gid: own });
    await store.close();
    expect(mode(path)).toBe(0o600);
    const err = await databaseError(() => openSqliteStore(path, { gid: own + 1 }));
    expect(err.message).toContain('(its group can write it)');
  });

  it('group set-up (0660): a database a job user created first (owned by them) is accepted, unless everyone can write it', async () => {
    const folder = join(tempDir(), 'group');
    mkdirSync(folder);
    chmodSync(folder, 0o2770);
    const path = join(folder, 'medic.db');
    await openSqliteStore(path, { mode: 0o660, uid: 4242 }).close();
    // The file belongs to "a job user" (uid 4242 opened it first); the checker is another user.
    expect(statSync(path).uid === 4242 || statSync(path).uid === process.geteuid!()).toBe(true);
    chownSync(path, 4242, statSync(path).gid);
    await openSqliteStore(path, { mode: 0o660 }).close();
    chmodSync(path, 0o666);
    const err = await databaseError(() => openSqliteStore(path, { mode: 0o660 }));
    expect(err.message).toContain('every user on this machine can write it');
    // Without the group set-up, a database another user owns stays refused.
    chmodSync(path, 0o600);
    expect((await databaseError(() => openSqliteStore(path))).message).toMatch(/^refusing database /);
  });

  it('in a folder like /tmp (sticky, everyone writes) the fix is to move the database, never to chmod the folder', async () => {
    const folder = join(tempDir(), 'tmp-like');
    mkdirSync(folder);
    chmodSync(folder, 0o1777);
    const err = await databaseError(() => openSqliteStore(join(folder, 'medic.db')));
    expect(err.hint).toContain('set "database" (or MEDIC_DB) to a file in a folder of your own');
    expect(err.hint).not.toContain('chmod');
  });

  it('refuses a database whose folder belongs to another user', async () => {
    const folder = join(tempDir(), 'theirs');
    mkdirSync(folder);
    const path = join(folder, 'medic.db');
    openSqliteStore(path).close();
    chownSync(folder, 4242, 4242);
    const err = await databaseError(() => openSqliteStore(path));
    expect(err.message).toContain(`its folder ${folder} could have been changed by someone else (it is owned by uid 4242`);
  });

  it('trusts a file and folder that root owns when medic runs as another user (root\'s files are root\'s)', async () => {
    const path = join(tempDir(), 'medic.db');
    openSqliteStore(path).close();
    chownSync(path, 0, 0);
    chownSync(dirname(path), 0, 0);
    const store = openSqliteStore(path, { uid: 4242, readOnly: true });
    try {
      expect(await store.schemaVersion()).toBe(SCHEMA_VERSION);
    } finally {
      await store.close();
    }
  });

  it.each(['-wal', '-shm'])('refuses a database with a link planted as its %s file (SQLite would follow it), and the target is unchanged', async (suffix) => {
    const dir = tempDir();
    const path = join(dir, 'medic.db');
    openSqliteStore(path).close();
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'precious\n');
    symlinkSync(victim, `${path}${suffix}`);
    const err = await databaseError(() => openSqliteStore(path));
    expect(err.message).toBe(`refusing database ${path}: ${path}${suffix} is a symbolic link, which SQLite would follow`);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
  });

  it.each([
    [0o600, 0o700, 0o000],
    [0o600, 0o700, 0o077],
    [0o660, 0o770, 0o022],
    [0o660, 0o770, 0o077],
  ])('mode %o: the file, its -wal and -shm get exactly that, new folders %o, whatever the umask (%o)', (fileMode, folderMode, umask) => {
    const dir = tempDir();
    const path = join(dir, 'a', 'b', 'medic.db');
    const old = process.umask(umask);
    let store: ReturnType<typeof openSqliteStore>;
    try {
      store = openSqliteStore(path, { mode: fileMode });
    } finally {
      process.umask(old);
    }
    try {
      expect([path, `${path}-wal`, `${path}-shm`].map(mode)).toEqual([fileMode, fileMode, fileMode]);
      expect([join(dir, 'a'), join(dir, 'a', 'b')].map(mode)).toEqual([folderMode, folderMode]);
    } finally {
      void store.close();
    }
  });

  it('group set-up (0660): a group-writable setgid folder is accepted, and the new folders keep its setgid bit', async () => {
    const folder = join(tempDir(), 'shared');
    mkdirSync(folder);
    chmodSync(folder, 0o2770);
    const path = join(folder, 'state', 'medic.db');
    const store = openSqliteStore(path, { mode: 0o660 });
    try {
      await store.recordBeat('job', T0);
      expect(statSync(join(folder, 'state')).mode & 0o7777).toBe(0o2770);
      expect(mode(path)).toBe(0o660);
    } finally {
      await store.close();
    }
  });

  it('says "permission denied" plainly when the user running medic cannot write the database, with the fix (exit 74)', async () => {
    const dir = tempDir();
    chmodSync(dir, 0o755);
    const path = join(dir, 'medic.db');
    openSqliteStore(path).close();
    // As root, run medic as nobody (root owns the file, so it is trusted, but nobody may not write it).
    const as = isRoot ? { uid: 65534, gid: 65534 } : {};
    if (!isRoot) chmodSync(path, 0o400);
    const config = writeConfig(dir, {
      targets: { oncall: { type: 'pagerduty', eventsUrl: 'http://127.0.0.1:9/v2/enqueue' } },
      services: [{ slug: 'nightly-backup', interval: '1d' }],
    });
    const uid = as.uid ?? process.geteuid!();
    const r = await runMedic(['--config', config, 'beat', 'nightly-backup'], { ...medicEnv(), MEDIC_DB: path }, as);
    expect(r.code, r.stderr).toBe(74);
    expect(r.stderr).toContain(`cannot write database ${path}: permission denied (the user running medic, uid ${uid}, cannot write the file)`);
    expect(r.stderr).toContain('run medic as the user that owns the database, or give this user write access');
    expect(r.stderr).toContain('"databaseMode": "0660"');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    if (isRoot) {
      // Nobody may not even read root's 0600 file: a read-only command says so too.
      const status = await runMedic(['--config', config, 'status'], { ...medicEnv(), MEDIC_DB: path }, as);
      expect(status.code, status.stderr).toBe(74);
      expect(status.stderr).toContain(`cannot read database ${path}: permission denied (the user running medic, uid ${uid}, cannot read the file)`);
      // Nor create a folder in root's: the same plain words.
      const fresh = join(dir, 'sub', 'medic.db');
      const beat = await runMedic(['--config', config, 'beat', 'nightly-backup'], { ...medicEnv(), MEDIC_DB: fresh }, as);
      expect(beat.code, beat.stderr).toBe(74);
      expect(beat.stderr).toContain(`cannot write database ${fresh}: permission denied`);
      expect(existsSync(join(dir, 'sub'))).toBe(false);
    }
  }, 30_000);
});

/** A database as Medic's schema version 1 left it, with one service that beat at T0. */
function versionOneDatabase(path: string): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec(MIGRATIONS[0]!.up);
  db.pragma('user_version = 1');
  db.prepare('INSERT INTO services (slug, registered_at, last_beat_at, beat_seq) VALUES (?, ?, ?, 1)').run('nightly-backup', T0, T0);
  db.close();
}

describe('read-only opens: status, history, check --dry-run and doctor never create or migrate the database', () => {
  it('a missing database reads as an empty one, creates nothing (no folder either), and refuses writes (74)', async () => {
    const dir = tempDir();
    const path = join(dir, 'state', 'medic.db');
    const store = openSqliteStore(path, { readOnly: true });
    try {
      expect(await store.services()).toEqual([]);
      expect(await store.lastCheckAt()).toBeNull();
      expect(await store.history('nightly-backup', 0, T0)).toEqual({ beats: [], logs: [], signals: [], pauses: [], resets: [], transitions: [], deliveries: [] });
      expect(await store.probe()).toEqual({ exists: false });
      expect((await databaseError(() => store.recordBeat('nightly-backup', T0))).exitCode).toBe(74);
    } finally {
      await store.close();
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it('an older schema is read where it can be, else says to run `medic check` once; the file stays as it was', async () => {
    const path = join(tempDir(), 'medic.db');
    versionOneDatabase(path);
    const before = sha256(path);
    const store = openSqliteStore(path, { readOnly: true });
    try {
      expect(await store.schemaVersion()).toBe(1);
      expect((await store.services()).map((s) => [s.slug, s.lastBeatAt, s.pause])).toEqual([['nightly-backup', T0, null]]);
      const err = await databaseError(() => store.lastGap());
      expect(err.message).toBe(`database ${path} has schema version 1, older than this Medic's (${SCHEMA_VERSION}), and cannot be read as it is`);
      expect(err.hint).toContain('run `medic check` once to upgrade it');
    } finally {
      await store.close();
    }
    expect(sha256(path)).toBe(before);
    expect(query(path, 'PRAGMA user_version')).toEqual([{ user_version: 1 }]);
  });

  it('probe() on a read-only store proves the file writable and leaves no trace', async () => {
    const path = join(tempDir(), 'medic.db');
    const setup = openSqliteStore(path);
    await setup.recordBeat('nightly-backup', T0);
    await setup.close();
    const before = sha256(path);
    const store = openSqliteStore(path, { readOnly: true });
    try {
      expect(await store.probe()).toEqual({ exists: true });
    } finally {
      await store.close();
    }
    expect(sha256(path)).toBe(before);
    expect(query(path, "SELECT name FROM sqlite_master WHERE name LIKE 'medic_write_probe%'")).toEqual([]);
  });

  it('probe() on a database this process may not write rejects (74) saying so', async () => {
    const path = join(tempDir(), 'medic.db');
    openSqliteStore(path).close();
    const store = openSqliteStore(path, { readOnly: true });
    const undo = makeReadOnly(path);
    try {
      const err = await databaseError(() => store.probe());
      expect(err.exitCode).toBe(74);
      expect(err.message).toContain(`cannot write database ${path}`);
    } finally {
      undo();
      await store.close();
    }
  });

  /** A project whose database is state/medic.db, with two services that beat daily-ish. */
  function project() {
    const dir = tempDir();
    const config = writeConfig(dir, {
      database: 'state/medic.db',
      targets: { oncall: { type: 'pagerduty', eventsUrl: 'http://127.0.0.1:9/v2/enqueue' } },
      services: [
        { slug: 'nightly-backup', interval: '30d' },
        { slug: 'hourly-sync', interval: '30d' },
      ],
    });
    const env = medicEnv({ PAGERDUTY_ROUTING_KEY: EXAMPLE_KEY });
    return { dir, db: join(dir, 'state', 'medic.db'), run: (...args: string[]) => runMedic(['--config', config, ...args], env) };
  }

  it('on a missing database, `status` lists every service as never seen and exits 0; status, history and check --dry-run create nothing', async () => {
    const p = project();
    const json = await p.run('status', '--json');
    expect(json.code, json.stderr).toBe(0);
    expect((JSON.parse(json.stdout) as { slug: string; lastSeen: string | null }[]).map((r) => [r.slug, r.lastSeen])).toEqual([
      ['nightly-backup', null],
      ['hourly-sync', null],
    ]);
    for (const args of [['status'], ['history', 'nightly-backup'], ['check', '--dry-run']]) {
      const r = await p.run(...args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.stderr).toBe('');
    }
    expect(existsSync(join(p.dir, 'state'))).toBe(false);
  }, 60_000);

  it('on an existing database, status, history and check --dry-run leave the file as it was', async () => {
    const p = project();
    expect((await p.run('beat', 'nightly-backup')).code).toBe(0);
    const before = sha256(p.db);
    for (const args of [['status'], ['history', 'nightly-backup'], ['check', '--dry-run']]) {
      expect((await p.run(...args)).code).toBe(0);
    }
    expect(sha256(p.db)).toBe(before);
    expect(query(p.db, 'SELECT count(*) AS n FROM services')).toEqual([{ n: 1 }]);
  }, 60_000);

  it('on an older schema, `status` says to run `medic check` once (74) and `check --dry-run` reads it, both leaving it unmigrated; `medic check` upgrades it', async () => {
    const p = project();
    mkdirSync(dirname(p.db), { mode: 0o700 });
    versionOneDatabase(p.db);
    const before = sha256(p.db);
    const status = await p.run('status');
    expect(status.code).toBe(74);
    expect(status.stderr).toContain(`database ${p.db} has schema version 1`);
    expect(status.stderr).toContain('run `medic check` once to upgrade it');
    expect((await p.run('check', '--dry-run')).code).toBe(0);
    expect(sha256(p.db)).toBe(before);
    expect(query(p.db, 'PRAGMA user_version')).toEqual([{ user_version: 1 }]);

    expect(await p.run('check')).toMatchObject({ code: 0, stderr: '' });
    expect(query(p.db, 'PRAGMA user_version')).toEqual([{ user_version: SCHEMA_VERSION }]);
    expect((await p.run('status')).code).toBe(0);
  }, 60_000);
});
