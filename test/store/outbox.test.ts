import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/store/migrations.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { query, tempDir } from '../helpers/db.js';
import { outboxContract } from './outbox-contract.js';

const MIN = 60_000;
const T0 = Date.parse('2026-11-26T12:00:00Z');

// The store-agnostic outbox tests, on a fresh SQLite file each (rows read through a read-only connection of their own).
outboxContract('SQLite', async () => {
  const path = join(tempDir(), 'medic.db');
  return {
    store: openSqliteStore(path),
    rows: async (sql, ...params) => query(path, sql.replace(/\$\d+/g, '?'), ...params),
    columns: async (table) => query<{ name: string }>(path, 'SELECT name FROM pragma_table_info(?)', table).map((c) => c.name),
    write: async (sql, ...params) => {
      const db = new Database(path);
      try {
        db.prepare(sql.replace(/\$\d+/g, '?')).run(...params);
      } finally {
        db.close();
      }
    },
  };
});

// SQLite only: its databases from before PostgreSQL support.
describe('migration to schema 3', () => {
  /** A database as Medic wrote it at schema 2, with outbox rows in the old shape. */
  function schema2(path: string, fill: (db: Database.Database) => void): void {
    const db = new Database(path);
    for (const m of MIGRATIONS.filter((m) => m.version <= 2)) db.exec(m.up);
    db.pragma('user_version = 2');
    fill(db);
    db.close();
  }
  const body = (slug: string, missed: number, lastSeen: string | null, timestamp: string) =>
    JSON.stringify({
      event_action: 'trigger',
      dedup_key: `medic-heartbeat-${slug}`,
      payload: { summary: `Heartbeat failure: ${slug}`, timestamp, custom_details: { missed_heartbeats: missed, last_seen: lastSeen } },
    });

  it('keeps the facts of old triggers, drops URL, key source and body, and turns still-meaningful rejections into pending refusals', async () => {
    const path = join(tempDir(), 'medic.db');
    const insert = `INSERT INTO outbox (id, slug, incident_id, target, events_url, key_ref, action, dedup_key, body, created_at, status, attempts, next_attempt_at, last_error, settled_at)
      VALUES (?, ?, ?, 'oncall', 'http://127.0.0.1:9/v2/enqueu', 'file:/etc/shadow', ?, ?, ?, ?, ?, 1, ?, ?, ?)`;
    schema2(path, (db) => {
      // 'open' is still down (incident 1): its trigger was rejected for good by the older Medic.
      // 'closed' came back (incident 2 resolved): its rejected trigger and skipped resolve stay as they are.
      // 'res' had its resolve rejected (incident 3), nothing after it.
      db.prepare("INSERT INTO transitions (id, slug, from_state, to_state, at, recorded_at, reason) VALUES (1, 'open', 'up', 'down', ?, ?, 'x'), (2, 'closed', 'up', 'down', ?, ?, 'x'), (3, 'res', 'up', 'down', ?, ?, 'x')").run(T0, T0, T0, T0, T0, T0);
      db.prepare("INSERT INTO services (slug, registered_at, incident_id, incident_down_at, incident_beat_seq) VALUES ('open', ?, 1, ?, 0), ('closed', ?, NULL, NULL, NULL), ('res', ?, NULL, NULL, NULL)").run(T0, T0, T0, T0);
      const o = db.prepare(insert);
      o.run(1, 'open', 1, 'trigger', 'medic-heartbeat-open', body('open', 3, '2026-11-26T11:40:00.000Z', '2026-11-26T12:00:00.000Z'), T0, 'rejected', T0, 'HTTP 404 — No route POST /v2/enqueu', T0 + 5);
      o.run(2, 'closed', 2, 'trigger', 'medic-heartbeat-closed', body('closed', 1, null, '2026-11-26T12:00:00.000Z'), T0, 'rejected', T0, 'HTTP 400 — Invalid routing key', T0 + 5);
      o.run(3, 'closed', 2, 'resolve', 'medic-heartbeat-closed', '{"event_action":"resolve","dedup_key":"medic-heartbeat-closed"}', T0 + 1, 'skipped', T0 + 1, 'its trigger was rejected', T0 + 6);
      o.run(4, 'res', 3, 'trigger', 'medic-heartbeat-res', body('res', 2, null, '2026-11-26T12:00:00.000Z'), T0, 'delivered', T0, null, T0 + 5);
      o.run(5, 'res', 3, 'resolve', 'medic-heartbeat-res', '{"event_action":"resolve","dedup_key":"medic-heartbeat-res"}', T0 + 1, 'rejected', T0 + 1, 'HTTP 403', T0 + 7);
    });
    const store = openSqliteStore(path);
    try {
      expect(await store.schemaVersion()).toBe(SCHEMA_VERSION);
      const columns = query<{ name: string }>(path, 'SELECT name FROM pragma_table_info(?)', 'outbox').map((c) => c.name);
      expect(columns).not.toContain('events_url');
      expect(columns).not.toContain('key_ref');
      expect(columns).not.toContain('body');
      expect(query(path, 'SELECT id, status, down_at, last_beat_at, missed_heartbeats, refused_status, refused_answer, refused_fingerprint FROM outbox ORDER BY id')).toEqual([
        { id: 1, status: 'pending', down_at: T0, last_beat_at: T0 - 20 * MIN, missed_heartbeats: 3, refused_status: 404, refused_answer: 'No route POST /v2/enqueu', refused_fingerprint: null },
        { id: 2, status: 'rejected', down_at: T0, last_beat_at: null, missed_heartbeats: 1, refused_status: null, refused_answer: null, refused_fingerprint: null },
        { id: 3, status: 'skipped', down_at: null, last_beat_at: null, missed_heartbeats: null, refused_status: null, refused_answer: null, refused_fingerprint: null },
        { id: 4, status: 'delivered', down_at: T0, last_beat_at: null, missed_heartbeats: 2, refused_status: null, refused_answer: null, refused_fingerprint: null },
        { id: 5, status: 'pending', down_at: null, last_beat_at: null, missed_heartbeats: null, refused_status: 403, refused_answer: 'HTTP 403', refused_fingerprint: null },
      ]);
      expect((await store.pendingEvents()).map((e) => [e.id, e.refusal])).toEqual([
        [1, { at: T0 + 5, status: 404, answer: 'No route POST /v2/enqueu', fingerprint: null }],
        [5, { at: T0 + 7, status: 403, answer: 'HTTP 403', fingerprint: null }],
      ]);
    } finally {
      store.close();
    }
  });
});
