/**
 * Schema 4 (signals) on a real database file as Medic left it at schema 3: every old beat stays a
 * success, the live state keeps its meaning, an old trigger reads as a miss, the running pause gets
 * its end; and a read-only look (status, history) at the old file still works without changing it.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/store/migrations.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { query, sha256, tempDir } from '../helpers/db.js';

const MIN = 60_000;
const HOURS = 3 * 60 * MIN;
const T0 = Date.parse('2026-11-26T12:00:00Z');

/** A schema 3 file: 'job' beat twice and is down with a pending trigger; 'quiet' is paused for an hour, after an older pause. */
function schema3(path: string): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  for (const m of MIGRATIONS.filter((m) => m.version <= 3)) db.exec(m.up);
  db.pragma('user_version = 3');
  db.exec(`
    INSERT INTO beats (slug, at) VALUES ('job', ${T0}), ('job', ${T0 + MIN});
    INSERT INTO transitions (id, slug, from_state, to_state, at, recorded_at, reason) VALUES
      (1, 'job', 'up', 'down', ${T0 + 10 * MIN}, ${T0 + 10 * MIN}, 'no beat within 5m'),
      (2, 'quiet', '', 'paused', ${T0}, ${T0}, 'paused until resumed'),
      (3, 'quiet', 'paused', 'resumed', ${T0 + MIN}, ${T0 + MIN}, 'resumed'),
      (4, 'quiet', '', 'paused', ${T0 + 2 * MIN}, ${T0 + 2 * MIN}, 'paused for 1h');
    INSERT INTO services (slug, registered_at, last_beat_at, beat_seq, incident_id, incident_down_at, incident_beat_seq) VALUES
      ('job', ${T0 - MIN}, ${T0 + MIN}, 2, 1, ${T0 + 10 * MIN}, 2);
    INSERT INTO services (slug, registered_at, reset_at, paused_at, paused_until) VALUES ('quiet', ${T0}, ${T0 + MIN}, ${T0 + 2 * MIN}, ${T0 + 62 * MIN});
    INSERT INTO outbox (slug, incident_id, target, action, dedup_key, down_at, last_beat_at, missed_heartbeats, created_at, next_attempt_at)
      VALUES ('job', 1, 'oncall', 'trigger', 'medic-heartbeat-job', ${T0 + 10 * MIN}, ${T0 + MIN}, 1, ${T0 + 10 * MIN}, ${T0 + 10 * MIN});
  `);
  db.close();
}

describe('migration to schema 4', () => {
  it('keeps every old beat as a success, the live state as it was, old triggers as misses, and gives the running pause its end', async () => {
    const path = join(tempDir(), 'medic.db');
    schema3(path);
    const store = openSqliteStore(path);
    try {
      expect(await store.schemaVersion()).toBe(SCHEMA_VERSION);
      const services = await store.services();
      expect(services.find((s) => s.slug === 'job')).toMatchObject({
        lastBeatAt: T0 + MIN,
        beatSeq: 2,
        incident: { downAt: T0 + 10 * MIN, beatSeq: 2, heldSince: null },
        failure: null,
        runStartedAt: null,
      });
      expect(services.find((s) => s.slug === 'quiet')).toMatchObject({ pause: { since: T0 + 2 * MIN, until: T0 + 62 * MIN, reason: null }, resetAt: T0 + MIN });
      const h = await store.history('job', 0, T0 + 20 * MIN);
      expect(h.beats).toEqual([T0, T0 + MIN]);
      expect(h.signals).toEqual([]);
      expect(query(path, 'SELECT DISTINCT kind FROM beats')).toEqual([{ kind: 'ok' }]);
      expect((await store.pendingEvents())[0]!.facts).toEqual({
        downAt: T0 + 10 * MIN,
        lastBeatAt: T0 + MIN,
        missedHeartbeats: 1,
        reason: 'missed',
        exitCode: null,
        durationMs: null,
        message: null,
        outputTail: null,
      });
      const quiet = await store.history('quiet', 0, T0 + HOURS);
      expect(quiet.pauses).toEqual([
        { since: T0, until: null, endedAt: T0 + MIN },
        { since: T0 + 2 * MIN, until: T0 + 62 * MIN, endedAt: null },
      ]);
      expect(quiet.resets).toEqual([T0 + MIN]);
      // New signals go in beside the old beats.
      await store.recordBeat('job', T0 + 20 * MIN, { kind: 'fail', exitCode: 1 });
      expect((await store.services()).find((s) => s.slug === 'job')).toMatchObject({ beatSeq: 2, failure: { at: T0 + 20 * MIN, exitCode: 1 } });
    } finally {
      await store.close();
    }
  });

  it('a read-only look at a schema 3 file reads services, events and history (no signals there; the running pause\'s end from the service) and leaves it as it was', async () => {
    const path = join(tempDir(), 'medic.db');
    schema3(path);
    const before = sha256(path);
    const store = openSqliteStore(path, { readOnly: true });
    try {
      expect(await store.schemaVersion()).toBe(3);
      expect((await store.services()).find((s) => s.slug === 'job')).toMatchObject({ lastBeatAt: T0 + MIN, failure: null, runStartedAt: null });
      expect((await store.pendingEvents())[0]!.facts).toMatchObject({ reason: 'missed', exitCode: null });
      const h = await store.history('job', 0, T0 + 20 * MIN);
      expect(h.beats).toEqual([T0, T0 + MIN]);
      expect(h.signals).toEqual([]);
      expect((await store.history('quiet', 0, T0 + HOURS)).pauses).toEqual([
        { since: T0, until: null, endedAt: T0 + MIN },
        { since: T0 + 2 * MIN, until: T0 + 62 * MIN, endedAt: null },
      ]);
    } finally {
      await store.close();
    }
    expect(sha256(path)).toBe(before);
    expect(query(path, 'PRAGMA user_version')).toEqual([{ user_version: 3 }]);
  });
});
