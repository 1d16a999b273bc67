/**
 * What a beat leaves in the SQLite file, as another process reads it. The behaviour every store
 * shares (beatSeq, registration, the clock stepping back, ...) is in contract.ts.
 */
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
