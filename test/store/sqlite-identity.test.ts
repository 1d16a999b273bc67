/**
 * A SQLite store notices that its path no longer names the file it opened (moved, deleted, replaced
 * by a folder, a link or another file): it refuses to record into, or read from, the orphaned file
 * (exit 74, DatabaseMovedError), and goes on once the file is back. Real temp files throughout.
 */
import { linkSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DatabaseError } from '../../src/errors.js';
import { DatabaseMovedError, IDENTITY_RECHECK_MS, openSqliteStore, pathProblem } from '../../src/store/sqlite.js';
import { query, tempDir } from '../helpers/db.js';

const uid = process.geteuid!();

/** What a test does to the path after the store opened it (the old file is kept as `moved`). */
const CHANGES: [string, string | null, (path: string, moved: string) => void][] = [
  ['nothing', null, () => {}],
  ['moved away', 'nothing is at its path any more (moved, renamed or deleted)', (p, m) => renameSync(p, m)],
  ['deleted', 'nothing is at its path any more (moved, renamed or deleted)', (p) => rmSync(p)],
  ['a folder put in its place', 'a folder is at its path now', (p, m) => (renameSync(p, m), mkdirSync(p))],
  ['a link to the same file put in its place', 'a symbolic link is at its path now', (p, m) => (renameSync(p, m), symlinkSync(m, p))],
  ['another file put in its place', 'another file is at its path now', (p, m) => (renameSync(p, m), writeFileSync(p, ''))],
  ['moved away and back', null, (p, m) => (renameSync(p, m), renameSync(m, p))],
  ['a hard link to the same file put back', null, (p, m) => (renameSync(p, m), linkSync(m, p))],
];

function opened() {
  const dir = tempDir();
  const path = join(dir, 'medic.db');
  const store = openSqliteStore(path, { uid });
  return { path, moved: join(dir, 'medic.db.moved'), store };
}

describe('pathProblem: what is at the database path now', () => {
  it.each(CHANGES)('%s: %s (null: still the opened file)', async (_what, problem, change) => {
    const { path, moved, store } = opened();
    const { statSync } = await import('node:fs');
    const id = statSync(path);
    change(path, moved);
    expect(pathProblem(path, { dev: id.dev, ino: id.ino })).toBe(problem);
    await store.close();
  });
});

describe('a SQLite store whose file was moved or replaced', () => {
  it.each(CHANGES)('%s: a commit of beats and probe() refuse: %s (null: they go on)', async (_what, problem, change) => {
    const { path, moved, store } = opened();
    await store.recordBeats([{ slug: 'backup', kind: 'ok', at: 1000 }]);
    change(path, moved);
    const commit = await store.recordBeats([{ slug: 'backup', kind: 'ok', at: 2000 }]).then(() => null, (e: unknown) => e);
    const probe = await store.probe().then(() => null, (e: unknown) => e);
    await store.close();
    if (problem === null) {
      expect([commit, probe]).toEqual([null, null]);
      expect(query(path, 'SELECT at FROM beats ORDER BY at')).toEqual([{ at: 1000 }, { at: 2000 }]);
      return;
    }
    for (const err of [commit, probe]) {
      expect(err).toBeInstanceOf(DatabaseMovedError);
      expect(err).toBeInstanceOf(DatabaseError);
      expect((err as DatabaseError).exitCode).toBe(74);
      expect((err as Error).message).toBe(`database ${path} was moved or replaced while medic had it open: ${problem}; nothing more is recorded in or read from the old file`);
      expect((err as DatabaseError).hint).toMatch(/put the database file back at its path, or restart medic serve/);
    }
  });

  it('reads check at most every IDENTITY_RECHECK_MS, and the store heals once the file is back', async () => {
    const { path, moved, store } = opened();
    await store.recordBeats([{ slug: 'backup', kind: 'ok', at: 1000 }]);
    renameSync(path, moved);
    // Just checked by the commit: a read right after it is not checked again.
    expect((await store.services()).map((r) => r.slug)).toEqual(['backup']);
    await new Promise((r) => setTimeout(r, IDENTITY_RECHECK_MS + 50));
    await expect(store.services()).rejects.toBeInstanceOf(DatabaseMovedError);
    // A failed check is never reused.
    await expect(store.lastCheckAt()).rejects.toBeInstanceOf(DatabaseMovedError);
    renameSync(moved, path);
    expect((await store.services()).map((r) => r.slug)).toEqual(['backup']);
    await store.recordBeats([{ slug: 'backup', kind: 'ok', at: 2000 }]);
    await store.close();
    expect(query(path, 'SELECT at FROM beats ORDER BY at')).toEqual([{ at: 1000 }, { at: 2000 }]);
  });

  it('its write-ahead log deleted under it (rm medic.db-wal medic.db-shm): a commit and probe() refuse, naming the log', async () => {
    const { path, store } = opened();
    await store.recordBeats([{ slug: 'backup', kind: 'ok', at: 1000 }]);
    rmSync(`${path}-wal`);
    rmSync(`${path}-shm`);
    const commit = await store.recordBeats([{ slug: 'backup', kind: 'ok', at: 2000 }]).then(() => null, (e: unknown) => e);
    const probe = await store.probe().then(() => null, (e: unknown) => e);
    for (const err of [commit, probe]) {
      expect(err).toBeInstanceOf(DatabaseMovedError);
      expect((err as Error).message).toBe(
        `database ${path} was moved or replaced while medic had it open: its write-ahead log ${path}-wal: nothing is at its path any more (moved, renamed or deleted); nothing more is recorded in or read from the old file`,
      );
    }
    await store.close();
  });

  it('other medic processes opening, writing and closing the same database beside it never trip the check', async () => {
    const { path, store } = opened();
    await store.recordBeats([{ slug: 'backup', kind: 'ok', at: 1000 }]);
    for (let i = 0; i < 20; i++) {
      const other = openSqliteStore(path, { uid });
      await other.recordBeats([{ slug: 'other', kind: 'ok', at: 2000 + i }]);
      await other.close();
      await store.recordBeats([{ slug: 'backup', kind: 'ok', at: 3000 + i }]);
      await store.probe();
    }
    await store.close();
    expect(query(path, 'SELECT count(*) AS n FROM beats')).toEqual([{ n: 41 }]);
  });

  it('a read-only store with no file yet (an empty database in memory) has nothing to check', async () => {
    const path = join(tempDir(), 'medic.db');
    const store = openSqliteStore(path, { uid, readOnly: true });
    mkdirSync(path);
    expect(await store.services()).toEqual([]);
    await store.close();
  });
});
