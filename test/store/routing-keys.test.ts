import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { EXAMPLE_KEY, medicEnv, query, runMedic, tempDir, writeConfig, type RunResult } from '../helpers/db.js';
import { startPdServer, type PdServer } from '../helpers/pd-server.js';

let oncall: PdServer;
let payments: PdServer;
let elsewhere: PdServer;
beforeEach(async () => {
  [oncall, payments, elsewhere] = await Promise.all([startPdServer(), startPdServer(), startPdServer()]);
});
afterEach(async () => {
  await Promise.all([oncall.close(), payments.close(), elsewhere.close()]);
});

/**
 * 'job' goes down and pages two targets (one key from the environment, one from a file); then the
 * config changes (one target moved to another URL, the other removed, a new one added), the job
 * beats, and the next check resolves. Returns the folder and everything medic printed.
 */
async function triggerThenResolveAcrossAConfigChange(): Promise<{ dir: string; db: string; outputs: RunResult[] }> {
  const dir = tempDir();
  const db = join(dir, 'medic.db');
  const keyFile = join(dir, 'pd-payments.key');
  writeFileSync(keyFile, `${EXAMPLE_KEY}\n`, { mode: 0o600 });
  const service = { slug: 'job', name: 'Nightly job', interval: '5m', grace: '1m' };
  const before = writeConfig(dir, {
    database: 'medic.db',
    checker: { gapThreshold: '30d' },
    targets: {
      oncall: { type: 'pagerduty', eventsUrl: oncall.url, routingKeyEnv: 'PAGERDUTY_ROUTING_KEY' },
      payments: { type: 'pagerduty', eventsUrl: payments.url, routingKeyFile: 'pd-payments.key' },
    },
    services: [{ ...service, targets: ['oncall', 'payments'] }],
  });
  // Registered a day ago and never beat: down at the first check.
  const setup = openSqliteStore(db);
  await setup.register(['job'], Date.now() - 24 * 3600_000);
  setup.close();

  const env = medicEnv({ PAGERDUTY_ROUTING_KEY: EXAMPLE_KEY });
  const outputs: RunResult[] = [];
  const medic = async (...args: string[]) => {
    const r = await runMedic(['--config', before, ...args], env);
    outputs.push(r);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  };

  await medic('check', '-v');
  writeConfig(dir, {
    database: 'medic.db',
    checker: { gapThreshold: '30d' },
    targets: {
      oncall: { type: 'pagerduty', eventsUrl: elsewhere.url, routingKeyEnv: 'PAGERDUTY_ROUTING_KEY' },
      pager: { type: 'pagerduty', eventsUrl: elsewhere.url },
    },
    services: [{ ...service, targets: ['oncall', 'pager'] }],
  });
  await medic('beat', 'job');
  await medic('check', '-v');
  await medic('status', '--json');
  return { dir, db, outputs };
}

it('a resolve goes to the targets, URLs and keys its trigger went to, even after the config changed', async () => {
  await triggerThenResolveAcrossAConfigChange();
  const sent = (pd: PdServer) => pd.accepted.map((r) => r.body);
  expect(sent(oncall).map((b) => [b.event_action, b.dedup_key, b.routing_key])).toEqual([
    ['trigger', 'medic-heartbeat-job', EXAMPLE_KEY],
    ['resolve', 'medic-heartbeat-job', EXAMPLE_KEY],
  ]);
  expect(sent(payments).map((b) => [b.event_action, b.dedup_key, b.routing_key])).toEqual([
    ['trigger', 'medic-heartbeat-job', EXAMPLE_KEY],
    ['resolve', 'medic-heartbeat-job', EXAMPLE_KEY],
  ]);
  expect(sent(oncall)[1]).toEqual({ routing_key: EXAMPLE_KEY, event_action: 'resolve', dedup_key: 'medic-heartbeat-job' });
  expect(elsewhere.requests).toEqual([]);
}, 60_000);

it('no column of any table holds the routing key, and medic never printed it', async () => {
  const { db, outputs } = await triggerThenResolveAcrossAConfigChange();
  expect(oncall.accepted.length + payments.accepted.length).toBe(4); // the key really was used

  const tables = query<{ name: string }>(db, "SELECT name FROM sqlite_master WHERE type = 'table'").map((t) => t.name);
  expect(tables).toEqual(expect.arrayContaining(['services', 'beats', 'transitions', 'outbox', 'checker']));
  const cells: string[] = [];
  for (const table of tables) {
    for (const row of query(db, `SELECT * FROM "${table}"`)) {
      for (const value of Object.values(row)) {
        if (value !== null) cells.push(Buffer.isBuffer(value) ? value.toString('latin1') : String(value));
      }
    }
  }
  // The scan does see what is stored: where each key is read from, and the events themselves.
  expect(cells).toContain('env:PAGERDUTY_ROUTING_KEY');
  expect(cells.some((c) => c.startsWith('file:') && c.endsWith('pd-payments.key'))).toBe(true);
  expect(cells.filter((c) => c.includes('medic-heartbeat-job')).length).toBeGreaterThan(0);
  expect(cells.filter((c) => c.includes(EXAMPLE_KEY))).toEqual([]);

  for (const file of [db, `${db}-wal`, `${db}-shm`]) {
    if (existsSync(file)) expect(readFileSync(file).includes(EXAMPLE_KEY)).toBe(false);
  }
  for (const r of outputs) {
    expect(r.stdout).not.toContain(EXAMPLE_KEY);
    expect(r.stderr).not.toContain(EXAMPLE_KEY);
  }
}, 60_000);
