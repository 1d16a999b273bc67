/**
 * Rows Medic did not write (the database is input, SPEC §8), on both stores, with the real
 * `bin/medic` against a PagerDuty stand-in:
 *
 * - A job text of 50 MB (a service's failure output, an outbox event's message), and a few MB in
 *   every other text a check or status reads: each is read back cut to its bound, quickly, and
 *   `status` and `check` go on as usual.
 * - 100,000 planted pending outbox rows: a check still delivers the real trigger of a configured
 *   service, says the flood in a few lines, and ends within its limit.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { runLimits } from '../../src/commands/check.js';
import { buildConfig } from '../../src/config.js';
import { MESSAGE_MAX_CHARS, OUTPUT_TAIL_MAX_BYTES } from '../../src/core/signal.js';
import { NOTE_MAX_CHARS } from '../../src/store/bounds.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { KEY, fileTempDir, spawnMedic } from '../helpers/faults.js';
import { startPdServer, type PdServer } from '../helpers/pd-server.js';
import { createDatabase } from '../helpers/pg-cluster.js';
import { pgAdminUrl } from '../helpers/pg.js';

const tmp = fileTempDir('hostile-rows');
afterAll(() => tmp.remove());

const BIG = 50_000_000;
const SOME = 4_000_000;
const PLANTED = 100_000;

interface Backend {
  name: string;
  /** A fresh database with Medic's schema; `sql` runs SQL of this backend's dialect on a connection of the test's own. */
  create(): Promise<{ database: string; store: Store; sql(text: string): Promise<void>; drop(): Promise<void> }>;
  /** SQL for `text` repeated to `n` characters, after `head` (job text: as stored, TEXT or BYTEA). */
  long(head: string, n: number, tail: string, job: boolean): string;
}

const sqlite: Backend = {
  name: 'SQLite',
  create: async () => {
    const database = join(mkdtempSync(join(tmp.dir, 'db-')), 'medic.db');
    const store = await openStore({ databasePath: database }, { uid: process.geteuid!() });
    const db = new Database(database);
    return { database, store, sql: async (text) => void db.exec(text), drop: async () => void db.close() };
  },
  long: (head, n, tail) => `'${head}' || replace(hex(zeroblob(${n / 2})), '0', 'x') || '${tail}'`,
};

const postgres: Backend = {
  name: 'PostgreSQL',
  create: async () => {
    const db = await createDatabase(pgAdminUrl(), 'hostile');
    const store = await openStore({ databasePath: '/nonexistent/unused.db', databaseUrl: db.url }, { uid: process.geteuid!() });
    const client = new pg.Client({ connectionString: db.url });
    client.on('error', () => {});
    await client.connect();
    return {
      database: db.url,
      store,
      sql: async (text) => void (await client.query(text)),
      drop: async () => {
        await client.end().catch(() => {});
        await db.drop();
      },
    };
  },
  long: (head, n, tail, job) => (job ? `convert_to('${head}' || repeat('x', ${n}) || '${tail}', 'UTF8')` : `'${head}' || repeat('x', ${n}) || '${tail}'`),
};

function project(database: string, pd: PdServer) {
  const dir = mkdtempSync(join(tmp.dir, 'p-'));
  const raw = {
    database,
    targets: { oncall: { type: 'pagerduty', eventsUrl: pd.url, timeout: '2s' } },
    services: [{ slug: 'job', interval: '1h', grace: '1h' }],
    checker: { gapThreshold: '30d', deliveryBudget: '5s' },
  };
  const path = join(dir, 'medic.config.json');
  writeFileSync(path, JSON.stringify(raw));
  return { dir, path, capMs: runLimits(buildConfig(raw, path, { env: {}, cwd: dir })).capMs };
}

function medic(p: ReturnType<typeof project>, args: string[]) {
  return spawnMedic(['--config', p.path, ...args], { cwd: p.dir, env: { PAGERDUTY_ROUTING_KEY: KEY } }).done;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const startedAt = Date.now();
  const value = await fn();
  return [value, Date.now() - startedAt];
}

async function withRig(backend: Backend, fn: (rig: Awaited<ReturnType<Backend['create']>> & { pd: PdServer }) => Promise<void>) {
  const pd = await startPdServer();
  const db = await backend.create();
  try {
    await fn({ ...db, pd });
  } finally {
    await db.store.close().catch(() => {});
    await db.drop();
    await pd.close();
  }
}

describe.each([
  { store: 'SQLite', backend: sqlite },
  { store: 'PostgreSQL', backend: postgres },
])('$store: rows Medic did not write', ({ backend }) => {
  it('a planted 5 MB lock owner and last checker are read back cut to 200 characters', async () => {
    await withRig(backend, async ({ store, sql }) => {
      const far = Date.now() + 60_000;
      await sql(`UPDATE checker SET owner = ${backend.long('9.ab@h', 5_000_000, '', false)}, lease_until = ${far}, last_run_by = ${backend.long('7.cd@h', 5_000_000, '', false)} WHERE id = 1`);
      const taken = await store.acquireLock('1@me', Date.now(), 120_000);
      expect(taken.acquired).toBe(false);
      expect(taken.holder!.length).toBeLessThanOrEqual(200);
      expect((await store.lastChecker())!.length).toBeLessThanOrEqual(200);
    });
  });

  it('50 MB of job text in a row (and MBs in every other text) is read back cut to its bound, quickly; status and check go on', { timeout: 240_000 }, async () => {
    await withRig(backend, async ({ database, store, sql, pd }) => {
      const at = Date.now();
      const long = (n: number, job = true) => backend.long('HEAD', n, 'END', job);
      await store.recordBeats([{ slug: 'job', at, kind: 'log', details: { message: 'a line' } }]);
      await store.recordBeats([{ slug: 'job', at, kind: 'fail', details: { message: 'small', outputTail: 'small' } }]);
      await sql(`UPDATE services SET failure_message = ${long(SOME)}, failure_output_tail = ${long(BIG)} WHERE slug = 'job'`);
      await sql(`UPDATE beats SET message = ${long(SOME)}, output_tail = ${long(SOME)} WHERE slug = 'job'`);
      await sql(`UPDATE logs SET message = ${long(SOME)} WHERE slug = 'job'`);
      await sql(`INSERT INTO transitions (slug, from_state, to_state, at, recorded_at, reason) VALUES ('job', '', 'unknown', ${at}, ${at}, ${long(SOME, false)})`);
      await sql(`INSERT INTO deliveries (outbox_id, slug, target, action, at, outcome, detail) VALUES (0, 'job', 'oncall', 'trigger', ${at}, 'retry', ${long(SOME, false)})`);
      await sql(
        `INSERT INTO outbox (slug, incident_id, target, action, dedup_key, created_at, next_attempt_at, down_at, last_beat_at, missed_heartbeats, reason, message, output_tail, last_error)
         VALUES ('ghost', 0, 'oncall', 'trigger', 'medic-heartbeat-ghost', ${at}, ${at}, ${at}, NULL, 1, ${long(SOME, false)}, ${long(BIG)}, ${long(SOME)}, ${long(SOME, false)})`,
      );

      const [services, servicesMs] = await timed(() => store.services());
      const failure = services.find((s) => s.slug === 'job')!.failure!;
      expect(failure.message).toBe(`HEAD${'x'.repeat(MESSAGE_MAX_CHARS - 4)}`);
      expect(failure.outputTail).toBe(`${'x'.repeat(OUTPUT_TAIL_MAX_BYTES - 3)}END`);
      const [pending, pendingMs] = await timed(() => store.pendingEvents());
      expect(pending).toHaveLength(1);
      expect(pending[0]!.facts).toMatchObject({ message: `HEAD${'x'.repeat(MESSAGE_MAX_CHARS - 4)}`, outputTail: `${'x'.repeat(OUTPUT_TAIL_MAX_BYTES - 3)}END` });
      expect(pending[0]!.facts!.reason).toHaveLength(NOTE_MAX_CHARS);
      expect(pending[0]!.lastError).toHaveLength(NOTE_MAX_CHARS);
      const [states, statesMs] = await timed(() => store.deliveryStates());
      expect(states.get('ghost')!.lastError!.error).toHaveLength(NOTE_MAX_CHARS);
      const [history, historyMs] = await timed(() => store.history('job', 0, at + 1));
      expect(history.logs.map((l) => l.message.length)).toEqual([MESSAGE_MAX_CHARS]);
      expect(history.signals.map((s) => [s.message?.length, Buffer.byteLength(s.outputTail ?? '')])).toEqual([[MESSAGE_MAX_CHARS, OUTPUT_TAIL_MAX_BYTES]]);
      expect(history.transitions.map((t) => t.reason.length)).toEqual([NOTE_MAX_CHARS]);
      expect(history.deliveries.map((d) => d.detail?.length)).toEqual([NOTE_MAX_CHARS]);
      for (const ms of [servicesMs, pendingMs, statesMs, historyMs]) expect(ms).toBeLessThan(10_000);

      const p = project(database, pd);
      const [status, statusMs] = await timed(() => medic(p, ['status', '--json']));
      expect(status, status.stderr).toMatchObject({ code: 0, stderr: '' });
      expect(status.stdout.length).toBeLessThan(100_000);
      const [check, checkMs] = await timed(() => medic(p, ['check']));
      expect(check.code, check.stderr).toBe(0);
      // The planted event for a service not in the config is not sent; the job's failure is, bounded.
      expect(check.stderr).toContain('ghost');
      expect(pd.requests.map((r) => r.body.dedup_key)).toEqual(['medic-heartbeat-job']);
      expect(JSON.stringify(pd.requests[0]!.body).length).toBeLessThan(2 * OUTPUT_TAIL_MAX_BYTES);
      console.info(
        `${backend.name}, 50 MB planted: services() ${servicesMs} ms, pendingEvents() ${pendingMs} ms, deliveryStates() ${statesMs} ms, history() ${historyMs} ms; ` +
          `medic status ${statusMs} ms, medic check ${checkMs} ms`,
      );
    });
  });

  it(`${PLANTED.toLocaleString('en')} planted pending events: a check still delivers the configured service's trigger, within its limit, in a few lines of notice`, { timeout: 240_000 }, async () => {
    await withRig(backend, async ({ database, store, sql, pd }) => {
      const at = Date.now();
      const rows = `'planted-' || i, 0, 'oncall', 'trigger', 'medic-heartbeat-planted-' || i, ${at}, ${at}, ${at}, NULL, 1`;
      const columns = 'slug, incident_id, target, action, dedup_key, created_at, next_attempt_at, down_at, last_beat_at, missed_heartbeats';
      await sql(
        backend === sqlite
          ? `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${PLANTED}) INSERT INTO outbox (${columns}) SELECT ${rows} FROM n`
          : `INSERT INTO outbox (${columns}) SELECT ${rows} FROM generate_series(1, ${PLANTED}) AS i`,
      );
      await store.recordBeats([{ slug: 'job', kind: 'fail', details: { message: 'it failed' } }]);
      const p = project(database, pd);
      const [check, checkMs] = await timed(() => medic(p, ['check']));
      expect(check.code, check.stderr.slice(0, 2000)).toBe(0);
      expect(checkMs).toBeLessThan(p.capMs);
      expect(pd.requests.map((r) => [r.body.event_action, r.body.dedup_key])).toEqual([['trigger', 'medic-heartbeat-job']]);
      // One line per event not sent, up to 20, then one that counts the rest.
      const lines = check.stderr.trim().split('\n');
      expect(lines.length).toBeLessThanOrEqual(21);
      expect(lines.at(-1)).toMatch(/^(medic: )?and \d+ more events were not sent \(`medic check -v` lists each\)$/);
      const left = [...(await store.pendingCounts()).values()].reduce((a, b) => a + b, 0);
      console.info(`${backend.name}, ${PLANTED} planted pending events: medic check delivered the real trigger and exited 0 in ${checkMs} ms (limit ${p.capMs} ms); ${PLANTED - left} planted rows settled in that run, ${left} left for the next`);
    });
  });
});
