import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SCHEMA_VERSION } from '../../src/store/migrations.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { EXAMPLE_KEY, gatedMedic, medicEnv, query, tempDir, writeConfig, type RunResult } from '../helpers/db.js';
import { startPdServer, type PdServer } from '../helpers/pd-server.js';

const require = createRequire(import.meta.url);

/** Holds a write lock (BEGIN IMMEDIATE) on a rollback-journal database for argv[3] ms, then lets go. */
const HOLD_LOCK = `
const Database = require(process.argv[1]);
const db = new Database(process.argv[2]);
db.exec('BEGIN IMMEDIATE');
process.stdout.write('holding\\n');
setTimeout(() => { db.exec('ROLLBACK'); db.close(); }, Number(process.argv[3]));
`;

const schema = (path: string) => query(path, 'SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name');

/** Starts every gated medic, waits until all are ready, then releases them together. */
async function together(runs: ReturnType<typeof gatedMedic>[]): Promise<RunResult[]> {
  const ready = await Promise.allSettled(runs.map((r) => r.ready));
  for (const r of runs) r.go(); // release every one, so none is left waiting if another failed to start
  const done = await Promise.all(runs.map((r) => r.done));
  for (const r of ready) if (r.status === 'rejected') throw r.reason;
  return done;
}

let pd: PdServer;
beforeEach(async () => {
  pd = await startPdServer();
});
afterEach(async () => {
  await pd.close();
});

function config(dir: string, services: Record<string, unknown>[]): string {
  return writeConfig(dir, {
    database: 'state/medic.db',
    targets: { oncall: { type: 'pagerduty', eventsUrl: pd.url } },
    checker: { gapThreshold: '30d' },
    services,
  });
}

describe('many processes on one database', () => {
  it('two `medic beat` processes opening a brand-new file at the same instant both succeed, and the schema is created once', async () => {
    const reference = join(tempDir(), 'reference.db');
    openSqliteStore(reference).close();

    // A few rounds: each is a fresh file in a folder that does not exist yet.
    for (let round = 0; round < 4; round++) {
      const dir = tempDir();
      const file = config(dir, [
        { slug: 'a', interval: '1h' },
        { slug: 'b', interval: '1h' },
      ]);
      const results = await together([gatedMedic(['--config', file, 'beat', 'a']), gatedMedic(['--config', file, 'beat', 'b'])]);
      for (const r of results) expect(r).toEqual({ code: 0, stdout: '', stderr: '' });

      const db = join(dir, 'state', 'medic.db');
      expect(query(db, 'PRAGMA user_version')).toEqual([{ user_version: SCHEMA_VERSION }]);
      expect(schema(db)).toEqual(schema(reference));
      expect(query(db, 'SELECT count(*) AS n FROM checker')).toEqual([{ n: 1 }]);
      expect(query(db, 'SELECT slug, beat_seq FROM services ORDER BY slug')).toEqual([
        { slug: 'a', beat_seq: 1 },
        { slug: 'b', beat_seq: 1 },
      ]);
    }
  }, 120_000);

  it('50 `medic beat` processes and a `medic check` at once: all exit 0, none is locked out, no beat is lost', async () => {
    const dir = tempDir();
    const slugs = ['alpha', 'bravo', 'charlie'];
    const file = config(dir, [...slugs.map((slug) => ({ slug, interval: '1h' })), { slug: 'stale', interval: '5m', grace: '1m' }]);
    // 'stale' was registered a day ago and never beat: the check must page it while the beats land.
    const setup = openSqliteStore(join(dir, 'state', 'medic.db'));
    await setup.register(['stale'], Date.now() - 24 * 3600_000);
    setup.close();

    const env = medicEnv({ PAGERDUTY_ROUTING_KEY: EXAMPLE_KEY });
    const beats = Array.from({ length: 50 }, (_, i) => gatedMedic(['--config', file, 'beat', slugs[i % slugs.length]!], env));
    const checker = gatedMedic(['--config', file, 'check'], env);
    const [checkResult, ...beatResults] = await together([checker, ...beats]);

    for (const r of beatResults) expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(checkResult!.stderr).not.toMatch(/locked/i);
    expect(checkResult).toEqual({ code: 0, stdout: '', stderr: '' });

    const db = join(dir, 'state', 'medic.db');
    expect(query(db, 'SELECT count(*) AS n FROM beats')).toEqual([{ n: 50 }]);
    expect(query(db, "SELECT slug, beat_seq FROM services WHERE slug != 'stale' ORDER BY slug")).toEqual([
      { slug: 'alpha', beat_seq: 17 },
      { slug: 'bravo', beat_seq: 17 },
      { slug: 'charlie', beat_seq: 16 },
    ]);
    // The check did its own work too: one trigger for 'stale', delivered.
    expect(pd.accepted.map((r) => [r.body.event_action, r.body.dedup_key])).toEqual([['trigger', 'medic-heartbeat-stale']]);
    expect(query(db, "SELECT slug, action, status FROM outbox")).toEqual([{ slug: 'stale', action: 'trigger', status: 'delivered' }]);
  }, 180_000);
});

describe('a brand-new file another process is converting', () => {
  it('opening waits for the other process\'s lock instead of failing with "database is locked"', async () => {
    const path = join(tempDir(), 'medic.db');
    writeFileSync(path, '', { mode: 0o600 });
    // Another process in the middle of turning the new file into a WAL database holds its write
    // lock for a moment (Medic's own conversion holds it for microseconds: same lock, wider window).
    const holder = spawn(process.execPath, ['-e', HOLD_LOCK, require.resolve('better-sqlite3'), path, '2000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => holder.once('close', resolve));
    await new Promise((resolve) => holder.stdout.once('data', resolve));
    try {
      const store = openSqliteStore(path);
      try {
        expect(await store.schemaVersion()).toBe(SCHEMA_VERSION);
      } finally {
        store.close();
      }
    } finally {
      expect(await exited).toBe(0);
    }
    expect(query(path, 'PRAGMA journal_mode')).toEqual([{ journal_mode: 'wal' }]);
  }, 60_000);
});
