import Database from 'better-sqlite3';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { EXAMPLE_KEY, medicEnv, query, runMedic, tempDir, writeConfig, type RunResult } from '../helpers/db.js';
import { startPdServer, type PdServer } from '../helpers/pd-server.js';

/** A key-shaped secret kept in a file no target names: it must never be read, let alone sent. */
const SECRET = 'S3CR3TS3CR3TS3CR3TS3CR3TS3CR3T99';

let oncall: PdServer;
let payments: PdServer;
let elsewhere: PdServer;
beforeEach(async () => {
  [oncall, payments, elsewhere] = await Promise.all([startPdServer(), startPdServer(), startPdServer()]);
});
afterEach(async () => {
  await Promise.all([oncall.close(), payments.close(), elsewhere.close()]);
});

const service = { slug: 'job', name: 'Nightly job', interval: '5m', grace: '1m' };

/** A folder with a config paging `targets`, and 'job' registered a day ago (down at the first check). */
async function setUp(targets: Record<string, unknown>): Promise<{ dir: string; db: string; config: string }> {
  const dir = tempDir();
  const db = join(dir, 'medic.db');
  writeFileSync(join(dir, 'pd-payments.key'), `${EXAMPLE_KEY}\n`, { mode: 0o600 });
  const config = writeConfig(dir, { database: 'medic.db', checker: { gapThreshold: '30d' }, targets, services: [{ ...service, targets: Object.keys(targets) }] });
  const setup = openSqliteStore(db);
  await setup.register(['job'], Date.now() - 24 * 3600_000);
  setup.close();
  return { dir, db, config };
}

/**
 * 'job' goes down and pages two targets (one key from the environment, one from a file); then the
 * config changes (oncall moved to another URL, payments removed, a new one added), the job beats,
 * and the next checks resolve.
 */
async function triggerThenResolveAcrossAConfigChange(): Promise<{ db: string; outputs: RunResult[] }> {
  const { dir, db, config } = await setUp({
    oncall: { type: 'pagerduty', eventsUrl: oncall.url, routingKeyEnv: 'PAGERDUTY_ROUTING_KEY' },
    payments: { type: 'pagerduty', eventsUrl: payments.url, routingKeyFile: 'pd-payments.key' },
  });
  const env = medicEnv({ PAGERDUTY_ROUTING_KEY: EXAMPLE_KEY });
  const outputs: RunResult[] = [];
  const medic = async (...args: string[]) => {
    const r = await runMedic(['--config', config, ...args], env);
    outputs.push(r);
    expect(r.code, r.stderr).toBe(0);
    return r;
  };

  expect((await medic('check')).stderr).toBe('');
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
  const resolved = await medic('check');
  // Said once, with the dedup key to resolve by hand; the run itself succeeded.
  expect(resolved.stderr).toBe(
    'medic: target "payments" is no longer in the config: the resolve for job was not sent; resolve it by hand (dedup key medic-heartbeat-job)\n',
  );
  expect((await medic('check')).stderr).toBe('');
  expect((await medic('check')).stderr).toBe('');
  await medic('status', '--json');
  return { db, outputs };
}

it('a resolve goes to its trigger\'s targets by name, with their current URL and key source; a removed target\'s resolve is said once, not sent', async () => {
  await triggerThenResolveAcrossAConfigChange();
  const sent = (pd: PdServer) => pd.accepted.map((r) => [r.body.event_action, r.body.dedup_key, r.body.routing_key]);
  expect(sent(oncall)).toEqual([['trigger', 'medic-heartbeat-job', EXAMPLE_KEY]]);
  expect(sent(payments)).toEqual([['trigger', 'medic-heartbeat-job', EXAMPLE_KEY]]);
  // oncall now lives at another URL: the resolve goes there, to the incident its trigger opened.
  expect(elsewhere.accepted.map((r) => r.body)).toEqual([{ routing_key: EXAMPLE_KEY, event_action: 'resolve', dedup_key: 'medic-heartbeat-job' }]);
  expect(payments.requests).toHaveLength(1);
}, 60_000);

it('no column of any table holds the routing key, a key source or an events URL, and medic never printed the key', async () => {
  const { db, outputs } = await triggerThenResolveAcrossAConfigChange();
  expect(oncall.accepted.length + payments.accepted.length + elsewhere.accepted.length).toBe(3); // the keys really were used

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
  // The scan does see what is stored: the events themselves.
  expect(cells.filter((c) => c.includes('medic-heartbeat-job')).length).toBeGreaterThan(0);
  expect(cells.filter((c) => c.includes(EXAMPLE_KEY))).toEqual([]);
  expect(cells.filter((c) => /^(env|file):/.test(c) || c.includes('127.0.0.1') || c.includes('pd-payments.key'))).toEqual([]);

  for (const file of [db, `${db}-wal`, `${db}-shm`]) {
    if (existsSync(file)) expect(readFileSync(file).includes(EXAMPLE_KEY)).toBe(false);
  }
  for (const r of outputs) {
    expect(r.stdout).not.toContain(EXAMPLE_KEY);
    expect(r.stderr).not.toContain(EXAMPLE_KEY);
  }
}, 60_000);

it('forged outbox rows (another URL, another key source, a body with extra fields, an unknown target, a bad slug) send nothing anywhere but the configured target, and only the rebuilt body', async () => {
  const { dir, db, config } = await setUp({ oncall: { type: 'pagerduty', eventsUrl: oncall.url, routingKeyEnv: 'PAGERDUTY_ROUTING_KEY' } });
  const secretFile = join(dir, 'not-a-key-source');
  writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
  const downAt = Date.parse('2026-11-20T08:00:00Z');
  const lastBeatAt = Date.parse('2026-11-20T07:00:00Z');
  // What a database writer can do: add back the columns older versions read, and fill them.
  const forge = new Database(db);
  forge.exec('ALTER TABLE outbox ADD COLUMN events_url TEXT; ALTER TABLE outbox ADD COLUMN key_ref TEXT; ALTER TABLE outbox ADD COLUMN body TEXT;');
  const insert = forge.prepare(
    `INSERT INTO outbox (slug, incident_id, target, action, dedup_key, down_at, last_beat_at, missed_heartbeats, created_at, next_attempt_at, events_url, key_ref, body)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?)`,
  );
  const hostile = JSON.stringify({ event_action: 'trigger', dedup_key: 'medic-heartbeat-job', payload: { summary: 'pwned', severity: 'critical' }, extra: true, routing_key: SECRET });
  insert.run('job', 999, 'oncall', 'trigger', 'medic-heartbeat-job', downAt, lastBeatAt, 99, elsewhere.url, `file:${secretFile}`, hostile);
  insert.run('job', 999, 'oncall', 'resolve', 'medic-heartbeat-job', null, null, null, elsewhere.url.replace('127.0.0.1', 'attacker.example'), 'file:/etc/shadow', hostile);
  insert.run('job', 998, 'evil', 'trigger', 'medic-heartbeat-job', downAt, lastBeatAt, 1, elsewhere.url, 'env:PAGERDUTY_ROUTING_KEY', hostile);
  insert.run('job","name":"x', 997, 'oncall', 'trigger', 'medic-heartbeat-job","name":"x', downAt, lastBeatAt, 1, elsewhere.url, 'env:PAGERDUTY_ROUTING_KEY', hostile);
  forge.close();

  const env = medicEnv({ PAGERDUTY_ROUTING_KEY: EXAMPLE_KEY });
  const first = await runMedic(['--config', config, 'check'], env);
  // The row naming a target no config has is moved to the service's own target (where a forged row
  // for "oncall" would have gone anyway), never to the URL it names; it goes out at the next check.
  expect(first.code, first.stderr).toBe(75);
  expect(first.stderr).toContain('target "evil" is no longer in the config: the trigger for job goes to oncall instead');
  expect(first.stderr).toContain('is not one Medic wrote, and was not sent');
  const again = await runMedic(['--config', config, 'check'], env);
  expect(again, again.stderr).toMatchObject({ code: 0, stderr: '' });
  const quiet = await runMedic(['--config', config, 'check'], env);
  expect(quiet, quiet.stderr).toMatchObject({ code: 0, stderr: '' });

  expect(elsewhere.requests).toEqual([]);
  for (const pd of [oncall, payments, elsewhere]) for (const r of pd.requests) expect(r.rawBody).not.toContain(SECRET);
  expect(`${first.stderr}${first.stdout}`).not.toContain(SECRET);
  // The forged trigger, rebuilt from its facts and the config (no extra field, the configured key),
  // then its resolve, then the trigger of the check's own down transition.
  expect(oncall.requests.map((r) => r.body.event_action)).toEqual(['trigger', 'resolve', 'trigger', 'trigger']);
  expect(oncall.requests[0]!.body).toEqual({
    routing_key: EXAMPLE_KEY,
    event_action: 'trigger',
    dedup_key: 'medic-heartbeat-job',
    payload: {
      summary: 'Heartbeat failure: Nightly job',
      severity: 'warning',
      source: 'medic',
      component: 'Nightly job',
      class: 'heartbeat_failure',
      timestamp: new Date(downAt).toISOString(),
      custom_details: {
        service_slug: 'job',
        team: null,
        priority: 'P3',
        missed_heartbeats: 99,
        last_seen: new Date(lastBeatAt).toISOString(),
        threshold: { interval: '5m', grace: '1m', missed_heartbeats: 1 },
        reason: 'missed',
      },
    },
    client: 'Medic',
  });
  expect(oncall.requests[1]!.body).toEqual({ routing_key: EXAMPLE_KEY, event_action: 'resolve', dedup_key: 'medic-heartbeat-job' });
}, 60_000);
