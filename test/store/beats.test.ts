/**
 * What a beat leaves in the SQLite file, as another process reads it. The behaviour every store
 * shares (beatSeq, registration, the clock stepping back, ...) is in contract.ts.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { query, tempDir } from '../helpers/db.js';

const MIN = 60_000;
const T0 = Date.parse('2026-11-26T12:00:00Z');

describe('recordBeat in SQLite', () => {
  it('writes one beats row per beat, in the order written, even when the clock stepped back', async () => {
    const path = join(tempDir(), 'medic.db');
    const store = openSqliteStore(path);
    try {
      await store.recordBeat('job', T0);
      await store.recordBeat('job', T0 + 5 * MIN);
      await store.recordBeat('job', T0 - 2 * MIN);
    } finally {
      await store.close();
    }
    expect(query(path, 'SELECT slug, at FROM beats ORDER BY id')).toEqual([
      { slug: 'job', at: T0 },
      { slug: 'job', at: T0 + 5 * MIN },
      { slug: 'job', at: T0 - 2 * MIN },
    ]);
  });

  it('is in the file once it returns: another connection sees the service row while the store is still open', async () => {
    const path = join(tempDir(), 'medic.db');
    const store = openSqliteStore(path);
    try {
      await store.recordBeat('job', T0);
      expect(query(path, 'SELECT slug, last_beat_at, beat_seq FROM services')).toEqual([{ slug: 'job', last_beat_at: T0, beat_seq: 1 }]);
    } finally {
      await store.close();
    }
  });
});

describe('numbers read back from a SQLite file someone rewrote', () => {
  /** The table rebuilt without STRICT (anyone who can write the file can), so a column takes any value. */
  function unstrict(path: string, table: string, plant: string): void {
    const db = new Database(path);
    try {
      const { sql } = db.prepare('SELECT sql FROM sqlite_master WHERE type = ? AND name = ?').get('table', table) as { sql: string };
      db.exec(`PRAGMA foreign_keys = off; BEGIN;
        ${sql.replace(/CREATE TABLE "?\w+"?/, 'CREATE TABLE loose').replace(/\)\s*STRICT\s*$/i, ')')};
        INSERT INTO loose SELECT * FROM ${table}; DROP TABLE ${table}; ALTER TABLE loose RENAME TO ${table};
        ${plant}; COMMIT;`);
    } finally {
      db.close();
    }
  }

  it('an exit code or duration that is not an integer reads as unknown (null), never as the text planted', async () => {
    const path = join(tempDir(), 'medic.db');
    const store = openSqliteStore(path);
    await store.recordBeat('job', T0, { kind: 'fail', exitCode: 3, durationMs: 1200, message: 'disk full', outputTail: null });
    await store.close();
    const HTML = '<meta http-equiv="refresh" content="0;url=http://127.0.0.1:9/phish">';
    unstrict(path, 'services', `UPDATE services SET failure_exit_code = '${HTML}', failure_duration_ms = 'NaN'`);
    unstrict(path, 'beats', `UPDATE beats SET exit_code = '${HTML}', duration_ms = 1.5`);
    const again = openSqliteStore(path);
    try {
      const [job] = await again.services();
      expect(job!.failure).toMatchObject({ exitCode: null, durationMs: null, message: 'disk full' });
      const h = await again.history('job', T0 - MIN, T0 + MIN);
      expect(h.signals.map((s) => [s.exitCode, s.durationMs])).toEqual([[null, null]]);
    } finally {
      await again.close();
    }
  });
});
