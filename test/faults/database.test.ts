/**
 * Fault injection, database side, through the real binary: a read-only file, a read-only folder,
 * a folder that cannot be created, a file that is not SQLite (or a Medic database cut short), a
 * database from a newer Medic, and a full disk. Each time: exit 74, one message naming the
 * database and what is wrong (no stack trace), nothing sent to PagerDuty, and the file unchanged
 * or still passing `PRAGMA integrity_check`.
 *
 * Tests run as root (CI too), where permission bits stop nothing: read-only means a read-only bind
 * mount (else `chattr +i`, else permission bits when not root), and a full disk is a 1 MiB tmpfs
 * filled to the last byte (where mounting is not allowed, RLIMIT_FSIZE simulates it). Every mount
 * and attribute is undone when its test finishes, passed or failed.
 */
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { query, sha256 } from '../helpers/db.js';
import { KEY, MIN, STACK_FRAME, fileTempDir, fillDisk, makeReadOnly, medic, mountTmpfs, rng, type Exit } from '../helpers/faults.js';
import type { PdServer } from '../helpers/pd-server.js';
import { standIns } from '../helpers/standins.js';

const T0 = Date.parse('2026-11-26T12:00:00Z');

const tmp = fileTempDir('db');
afterAll(() => tmp.remove());
const startStandIn = standIns();

interface Project {
  dir: string;
  pd: PdServer;
  /** Runs medic with MEDIC_DB set to `db` (the default database path unless given). */
  run(args: string[], opts?: { at?: number; db?: string; prefix?: string[] }): Promise<Exit>;
}

/** A project with two services (interval 5m, grace 1m) delivering to a stand-in; its database is `db`. */
async function project(db: string): Promise<Project> {
  const pd = await startStandIn();
  const dir = mkdtempSync(join(tmp.dir, 'case-'));
  const config = join(dir, 'medic.config.json');
  writeFileSync(
    config,
    JSON.stringify({
      targets: { oncall: { type: 'pagerduty', eventsUrl: pd.url } },
      defaults: { interval: '5m', grace: '1m' },
      services: [{ slug: 'a' }, { slug: 'b' }],
      checker: { gapThreshold: '30d' },
    }),
  );
  return {
    dir,
    pd,
    run: (args, opts = {}) =>
      medic(['--config', config, ...args], {
        cwd: dir,
        at: opts.at,
        prefix: opts.prefix,
        env: { PAGERDUTY_ROUTING_KEY: KEY, MEDIC_DB: opts.db ?? join(dir, db) },
      }),
  };
}

/** Registers both services at T0 and records one beat for "a". */
async function seed(p: Project, db?: string): Promise<void> {
  expect(await p.run(['check'], { at: T0, db })).toMatchObject({ code: 0, stderr: '' });
  expect(await p.run(['beat', 'a'], { at: T0 + 1000, db })).toMatchObject({ code: 0, stderr: '' });
}

/** Exit 74 with one clear message naming the database; no stack trace, nothing on stdout. */
function expectDatabaseError(r: Exit, path: string, why: RegExp): void {
  expect(r.code, r.stderr).toBe(74);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^medic: /);
  expect(r.stderr).toContain(path);
  expect(r.stderr).toMatch(why);
  expect(r.stderr).toMatch(/\n {2}→ \S/); // the next step
  expect(r.stderr).not.toMatch(STACK_FRAME);
  expect(r.stderr).not.toContain('internal error');
}

function integrity(path: string): string {
  return query<{ integrity_check: string }>(path, 'PRAGMA integrity_check')[0]!.integrity_check;
}

const beats = (path: string) => query<{ n: number }>(path, 'SELECT count(*) AS n FROM beats')[0]!.n;

describe('a database medic may not write', { timeout: 120_000 }, () => {
  it('read-only file: beat and check exit 74, the file is unchanged', async () => {
    const p = await project('medic.db');
    const db = join(p.dir, 'medic.db');
    await seed(p);
    const before = sha256(db);
    const readOnly = makeReadOnly(db);
    for (const args of [['beat', 'a'], ['check']]) {
      expectDatabaseError(await p.run(args, { at: T0 + 7 * MIN }), db, /cannot write database|read-?only/i);
    }
    expect(p.pd.requests, `made read-only by ${readOnly.how}`).toHaveLength(0);
    expect(sha256(db)).toBe(before);
    readOnly.undo();
    expect(integrity(db)).toBe('ok');
    expect(beats(db)).toBe(1);
  });

  it('read-only folder holding an existing database: exit 74, the file is unchanged; a new one is not created', async () => {
    const p = await project('state/medic.db');
    const folder = join(p.dir, 'state');
    const db = join(folder, 'medic.db');
    await seed(p);
    const before = sha256(db);
    const readOnly = makeReadOnly(folder);
    for (const args of [['beat', 'a'], ['check']]) {
      expectDatabaseError(await p.run(args, { at: T0 + 7 * MIN }), db, /cannot (open or )?write database/);
    }
    const fresh = join(folder, 'new.db');
    expectDatabaseError(await p.run(['beat', 'a'], { db: fresh }), fresh, /cannot (open or )?write database/);
    expect(existsSync(fresh), `made read-only by ${readOnly.how}`).toBe(false);
    expect(p.pd.requests).toHaveLength(0);
    expect(sha256(db)).toBe(before);
    readOnly.undo();
    expect(integrity(db)).toBe('ok');
  });

  it.each([
    // A path that can never be a file is worth saying even to a read-only command.
    ['its parent is a file', (dir: string) => (writeFileSync(join(dir, 'afile'), 'x'), join(dir, 'afile', 'sub', 'medic.db')), 74],
    // `status` needs nothing created: there is no state yet, so every service is never seen (0).
    ['its parent is on a read-only file system', (dir: string) => (mkdirSync(join(dir, 'ro')), makeReadOnly(join(dir, 'ro')), join(dir, 'ro', 'missing', 'medic.db')), 0],
  ])('missing folder that cannot be created (%s): beat and check exit 74 naming the path; status exits %s', async (_name, place, statusCode) => {
    const p = await project('unused.db');
    const db = place(p.dir);
    for (const args of [['beat', 'a'], ['check']]) {
      expectDatabaseError(await p.run(args, { at: T0, db }), db, /cannot (open or )?write database/);
    }
    const status = await p.run(['status'], { at: T0, db });
    if (statusCode === 0) expect(status, status.stderr).toMatchObject({ code: 0, stderr: '' });
    else expectDatabaseError(status, db, /cannot (open or )?write database/);
    expect(p.pd.requests).toHaveLength(0);
  });
});

describe('a file that is not a database medic can use', { timeout: 120_000 }, () => {
  const garbage = rng(4);
  it.each<[string, (medicDb: Buffer) => Buffer]>([
    ['plain text', () => Buffer.from('this is a shopping list, not a database\n'.repeat(50))],
    ['random bytes', () => Buffer.from(Array.from({ length: 65536 }, () => garbage.int(0, 255)))],
    ['a Medic database cut short', (medicDb) => medicDb.subarray(0, 8192)],
    ['only the SQLite header', (medicDb) => medicDb.subarray(0, 100)],
  ])('%s: beat, check and status exit 74 saying so; the file is unchanged', async (_name, make) => {
    const p = await project('medic.db');
    const good = join(p.dir, 'good.db');
    await seed(p, good);
    const db = join(p.dir, 'medic.db');
    writeFileSync(db, make(readFileSync(good)));
    const before = sha256(db);
    for (const args of [['beat', 'a'], ['check'], ['status']]) {
      expectDatabaseError(await p.run(args, { at: T0 + 7 * MIN }), db, /is not a Medic database/);
    }
    expect(p.pd.requests).toHaveLength(0);
    expect(sha256(db)).toBe(before);
  });

  it('a database written by a newer Medic (user_version 99): exit 74 naming both versions; nothing is written', async () => {
    const p = await project('medic.db');
    const db = join(p.dir, 'medic.db');
    await seed(p);
    const conn = new Database(db);
    conn.pragma('user_version = 99');
    conn.close();
    const before = sha256(db);
    for (const args of [['beat', 'a'], ['check'], ['status']]) {
      expectDatabaseError(await p.run(args, { at: T0 + 7 * MIN }), db, /schema version 99, written by a newer Medic; this Medic knows up to version \d+/);
    }
    expect(p.pd.requests).toHaveLength(0);
    expect(sha256(db)).toBe(before);
    expect(integrity(db)).toBe('ok');
    expect(query<{ user_version: number }>(db, 'PRAGMA user_version')[0]!.user_version).toBe(99);
  });
});

describe('the disk is full', { timeout: 120_000 }, () => {
  /** A 1 MiB tmpfs for the database, or null where mounting is not allowed (then RLIMIT_FSIZE simulates). */
  function smallDisk(dir: string): string | null {
    const disk = join(dir, 'disk');
    mkdirSync(disk);
    return mountTmpfs(disk, 1024 * 1024) ? disk : null;
  }

  it.each([
    ['while nobody else has the database open', false],
    ['while another process holds it open', true],
  ])('%s: beat and check exit 74 saying the disk is full; nothing is sent; after space is freed all is intact and delivered', async (_name, holdOpen) => {
    const p = await project('disk/medic.db');
    const disk = smallDisk(p.dir);
    const db = join(p.dir, 'disk', 'medic.db');
    await seed(p);
    const holder = holdOpen ? new Database(db) : null;
    try {
      holder?.prepare('SELECT count(*) FROM services').get();
      let prefix: string[] | undefined;
      if (disk) {
        fillDisk(join(disk, 'filler'));
      } else {
        // Simulated: no file may grow by a byte (writes fail with EFBIG instead of ENOSPC).
        prefix = ['prlimit', '--fsize=1'];
      }
      const full = disk ? /the disk is full/ : /cannot (open or )?write database/;
      expectDatabaseError(await p.run(['beat', 'a'], { at: T0 + 2 * MIN, prefix }), db, full);
      // Both services are due: the check must not send what it could not record.
      expectDatabaseError(await p.run(['check'], { at: T0 + 7 * MIN, prefix }), db, full);
      expect(p.pd.requests).toHaveLength(0);
    } finally {
      holder?.close();
      if (disk) rmSync(join(disk, 'filler'), { force: true });
    }
    expect(integrity(db)).toBe('ok');
    expect(beats(db)).toBe(1); // the failed beat was not recorded (and said so)
    expect(await p.run(['check'], { at: T0 + 8 * MIN })).toMatchObject({ code: 0, stderr: '' });
    expect(p.pd.accepted.map((r) => `${r.body.event_action} ${r.body.dedup_key}`).sort()).toEqual(['trigger medic-heartbeat-a', 'trigger medic-heartbeat-b']);
    expect(await p.run(['beat', 'a'], { at: T0 + 9 * MIN })).toMatchObject({ code: 0, stderr: '' });
  });
});
