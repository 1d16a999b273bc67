/**
 * [scale] Delivery claims its events in batches (CLAIM_BATCH at a time), the configured services'
 * first: over a real temp SQLite file with planted outbox rows and a fake sender. An event left
 * pending in one batch holds back the later events of its service and target in the next batches
 * (a resolve never overtakes its trigger), and a flood of rows for services not in the config
 * never keeps a configured service's trigger waiting.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config.js';
import { CLAIM_BATCH, deliverPending, type DeliveryDeps } from '../../src/notify/deliver.js';
import type { SendResult } from '../../src/notify/http.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { tempDir } from '../helpers/db.js';

const KEY = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';
const T0 = Date.parse('2026-11-26T12:00:00Z');

function world(answer: (body: Record<string, unknown>) => SendResult) {
  const dir = tempDir('medic-batches-');
  const path = join(dir, 'medic.db');
  const store = openSqliteStore(path);
  const config = buildConfig(
    { checker: { gapThreshold: '30d' }, targets: { oncall: { type: 'pagerduty', eventsUrl: 'http://127.0.0.1:9/v2/enqueue' } }, services: [{ slug: 'job' }] },
    join(dir, 'medic.config.json'),
    { env: {}, cwd: dir },
  );
  const sent: Record<string, unknown>[] = [];
  const deps: DeliveryDeps = {
    config,
    store,
    send: async (_url, body) => {
      sent.push(body);
      return answer(body);
    },
    env: { PAGERDUTY_ROUTING_KEY: KEY },
    uid: null,
    now: () => T0,
    sleep: async () => {},
    monotonic: () => 0,
    random: () => 0.5,
  };
  /** Outbox rows as another program would write them: `n` of them for `slug`, all pending. */
  const plant = (rows: { slug: string; action: 'trigger' | 'resolve'; n?: number }[]) => {
    const db = new Database(path);
    const insert = db.prepare(
      `INSERT INTO outbox (slug, incident_id, target, action, dedup_key, created_at, next_attempt_at, down_at, last_beat_at, missed_heartbeats)
       VALUES (?, 1, 'oncall', ?, ?, ?, ?, ?, NULL, 1)`,
    );
    db.transaction(() => {
      for (const r of rows) for (let i = 0; i < (r.n ?? 1); i++) insert.run(r.slug, r.action, `medic-heartbeat-${r.slug}`, T0, T0, r.action === 'trigger' ? T0 : null);
    })();
    db.close();
  };
  const run = () => deliverPending(deps, { budgetMs: 60_000, concurrency: 8, claim: { owner: `1.abc@host`, leaseMs: 90_000 } });
  return { store, sent, plant, run };
}

const unavailable: SendResult = { ok: false, permanent: false, status: 503, error: 'HTTP 503' };
const accepted: SendResult = { ok: true, status: 202, answer: { status: 'success' } };

describe('delivery in claim batches', () => {
  it(`a trigger left pending in the first batch holds back its resolve in a later one (${CLAIM_BATCH} events a batch)`, async () => {
    const w = world(() => unavailable);
    // The trigger, then the rest of a full batch behind it, then its resolve: the first row of batch 2.
    w.plant([{ slug: 'job', action: 'trigger', n: CLAIM_BATCH }, { slug: 'job', action: 'resolve' }]);
    const report = await w.run();
    expect(w.sent.map((b) => b.event_action)).toEqual(Array.from({ length: 5 }, () => 'trigger'));
    expect(report.deferred).toHaveLength(CLAIM_BATCH + 1);
    expect(report.deferred.at(-1)).toMatchObject({ event: { action: 'resolve' }, reason: { kind: 'waiting' } });
  });

  it('a flood of rows for services not in the config never keeps a configured service waiting: its events are claimed first', async () => {
    const w = world(() => accepted);
    w.plant([{ slug: 'gone', action: 'trigger', n: 2 * CLAIM_BATCH }, { slug: 'job', action: 'trigger' }]);
    const report = await w.run();
    // The configured service's trigger went first; the planted ones are not sent (not in the config).
    expect(w.sent.map((b) => b.dedup_key)).toEqual(['medic-heartbeat-job']);
    expect(report.delivered.map((e) => e.slug)).toEqual(['job']);
    expect(report.skipped).toHaveLength(2 * CLAIM_BATCH);
    expect(await w.store.pendingCounts()).toEqual(new Map());
  });
});
