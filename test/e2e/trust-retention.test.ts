/**
 * Retention end to end: `medic check` prunes beats older than `retention` (default 30d), in batches;
 * state changes and delivery records are kept 400 days. Old rows are written straight into the
 * real SQLite file with better-sqlite3, then one real `medic check` runs under faketime.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { query } from '../helpers/db.js';
import { MIN, startRig, T0 } from '../helpers/trust.js';

const DAY = 86_400_000;

/** Creates the database with a first check, then adds rows as if they had been recorded long ago. */
async function seeded(extra: Record<string, unknown>, beats: number[], records: number[]) {
  const rig = await startRig([{ slug: 'backup', interval: '1h' }], extra);
  onTestFinished(rig.close);
  await rig.ok(T0 - 3 * MIN, ['check']);
  await rig.ok(T0 - 2 * MIN, ['beat', 'backup']);
  const file = join(rig.project.dir, 'medic.db');
  const db = new Database(file);
  try {
    db.transaction(() => {
      const beat = db.prepare('INSERT INTO beats (slug, at) VALUES (?, ?)');
      for (const at of beats) beat.run('backup', at);
      const change = db.prepare("INSERT INTO transitions (slug, from_state, to_state, at, recorded_at, reason) VALUES ('backup', 'up', 'down', ?, ?, 'seeded')");
      const delivery = db.prepare("INSERT INTO deliveries (outbox_id, slug, target, action, at, outcome, detail) VALUES (0, 'backup', 'oncall', 'trigger', ?, 'delivered', 'seeded')");
      for (const at of records) {
        change.run(at, at);
        delivery.run(at);
      }
    })();
  } finally {
    db.close();
  }
  return { rig, file };
}

const beatTimes = (file: string) => query<{ at: number }>(file, 'SELECT at FROM beats ORDER BY at').map((r) => r.at);
const recordTimes = (file: string, table: 'transitions' | 'deliveries') =>
  query<{ at: number }>(file, `SELECT at FROM ${table} WHERE ${table === 'transitions' ? 'reason' : 'detail'} = 'seeded' ORDER BY at`).map((r) => r.at);

describe('retention', { timeout: 180_000 }, () => {
  it('"retention": "1d": one check deletes the beats older than a day, in batches; recent beats and younger-than-400-day records stay', async () => {
    const old = Array.from({ length: 2500 }, (_, i) => T0 - 2 * DAY - i * MIN);
    const kept = [T0 - DAY, T0 - 23 * 60 * MIN, T0 - 60 * MIN];
    const records = [T0 - 401 * DAY, T0 - 399 * DAY, T0 - 300 * DAY, T0 - 2 * DAY];
    const { rig, file } = await seeded({ retention: '1d' }, [...old, T0 - DAY - 1, ...kept], records);
    expect(beatTimes(file)).toHaveLength(2500 + 1 + kept.length + 1);

    await rig.ok(T0, ['check']);
    // At exactly now − retention a beat stays; 1 ms older it goes.
    expect(beatTimes(file)).toEqual([...kept, T0 - 2 * MIN]);
    expect(recordTimes(file, 'transitions')).toEqual([T0 - 399 * DAY, T0 - 300 * DAY, T0 - 2 * DAY]);
    expect(recordTimes(file, 'deliveries')).toEqual([T0 - 399 * DAY, T0 - 300 * DAY, T0 - 2 * DAY]);

    // The service itself is untouched: its last (real) beat is what status reports.
    expect((await rig.status(T0)).get('backup')!.lastSeen).toBe(new Date(T0 - 2 * MIN).toISOString());
  });

  it('the default retention is 30 days', async () => {
    const { rig, file } = await seeded({}, [T0 - 31 * DAY, T0 - 30 * DAY - 1, T0 - 30 * DAY, T0 - 29 * DAY], []);
    await rig.ok(T0, ['check']);
    expect(beatTimes(file)).toEqual([T0 - 30 * DAY, T0 - 29 * DAY, T0 - 2 * MIN]);
  });

  it('a retention longer than 400 days keeps state changes that long too', async () => {
    const { rig, file } = await seeded({ retention: '500d' }, [T0 - 501 * DAY, T0 - 450 * DAY], [T0 - 501 * DAY, T0 - 450 * DAY]);
    await rig.ok(T0, ['check']);
    expect(beatTimes(file)).toEqual([T0 - 450 * DAY, T0 - 2 * MIN]);
    expect(recordTimes(file, 'transitions')).toEqual([T0 - 450 * DAY]);
  });
});
