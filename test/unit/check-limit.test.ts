/**
 * `check` in-process: its hard wall-clock limit (raced against the run, whatever the network does),
 * the lock lease longer than that limit, the lock owner from the dependencies, and the gap notice.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { check, runLimits, type CheckDeps } from '../../src/commands/check.js';
import { buildConfig } from '../../src/config.js';
import { EXIT, MedicError } from '../../src/errors.js';
import type { SendResult } from '../../src/notify/http.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { query, tempDir } from '../helpers/db.js';

const KEY = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';
const MIN = 60_000;
const T0 = Date.parse('2026-11-26T12:00:00Z');

describe('runLimits', () => {
  it.each<[string, Record<string, unknown>, number]>([
    ['defaults: 40s budget + 10s target timeout + 15s', {}, 65_000],
    ['the longest target timeout counts', { targets: { a: { type: 'pagerduty', timeout: '3s' }, b: { type: 'pagerduty', timeout: '25s' } }, defaults: { targets: ['a'] } }, 80_000],
    ['a Slack target with a bot token counts twice (a resolve edits the message, then replies in its thread)', { targets: { a: { type: 'pagerduty', timeout: '15s' }, chat: { type: 'slack', tokenEnv: 'SLACK_TOKEN', channel: 'C0123', timeout: '10s' } }, defaults: { targets: ['a', 'chat'] } }, 75_000],
    ['a Slack incoming webhook counts once', { targets: { a: { type: 'pagerduty', timeout: '5s' }, chat: { type: 'slack', webhookUrlEnv: 'SLACK_URL', timeout: '12s' } }, defaults: { targets: ['a', 'chat'] } }, 67_000],
    ['the watcher ping\'s timeout is added when there is a watcher', { checker: { timeout: '30s', deliveryBudget: '10s', heartbeatUrl: 'https://hc-ping.com/x' } }, 65_000],
    ['and not when there is none', { checker: { timeout: '30s', deliveryBudget: '10s' } }, 35_000],
  ])('%s', (_label, raw, capMs) => {
    const config = buildConfig({ services: [{ slug: 'job' }], ...raw }, '/x/medic.config.json', { env: {}, cwd: '/' });
    expect(runLimits(config)).toEqual({ capMs, leaseMs: capMs + 25_000 });
  });
});

function rig() {
  const dir = tempDir('medic-check-');
  const path = join(dir, 'medic.db');
  const store = openSqliteStore(path);
  const config = buildConfig(
    {
      database: 'medic.db',
      checker: { gapThreshold: '10m', deliveryBudget: '5s' },
      targets: { oncall: { type: 'pagerduty', eventsUrl: 'http://127.0.0.1:9/v2/enqueue', timeout: '2s' } },
      services: [{ slug: 'job', interval: '5m', grace: '1m' }],
    },
    join(dir, 'medic.config.json'),
    { env: {}, cwd: dir },
  );
  const timers: { ms: number; fire: () => void }[] = [];
  const notices: string[] = [];
  const verbose: string[] = [];
  const sent: unknown[] = [];
  let lockSeenWhileSending: Record<string, unknown> | undefined;
  const deps: CheckDeps = {
    config,
    store,
    // A network that never answers, whatever the timeout says.
    send: (_url, body) => {
      sent.push(body);
      lockSeenWhileSending = query(path, 'SELECT owner, lease_until FROM checker')[0];
      return new Promise<SendResult>(() => {});
    },
    ping: async () => ({ ok: true, status: 200 }),
    env: { PAGERDUTY_ROUTING_KEY: KEY },
    uid: process.geteuid!(),
    pid: 4321,
    host: 'checker-host',
    now: () => T0,
    sleep: async () => {},
    monotonic: () => 0,
    random: () => 0.5,
    timer: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        timers.push({ ms, fire: resolve });
        signal.addEventListener('abort', () => reject(signal.reason));
      }),
    verbose: (l) => verbose.push(l),
    notice: (l) => notices.push(l),
    isAlive: () => true,
  };
  return { path, store, config, deps, timers, notices, verbose, sent, lock: () => lockSeenWhileSending };
}

describe('check: the hard limit', () => {
  it('a send that never returns: the run ends at the limit with 75, releases the lock, the event stays queued', async () => {
    const r = rig();
    await r.store.register(['job'], T0 - 60 * MIN);
    const run = check({ dryRun: false }, r.deps);
    // Wait until the request is out (the run is stuck in it), then let the limit fire.
    for (let i = 0; i < 100 && r.sent.length === 0; i++) await new Promise((res) => setTimeout(res, 5));
    expect(r.sent).toHaveLength(1);
    const { capMs, leaseMs } = runLimits(r.config);
    expect(r.timers.map((t) => t.ms)).toEqual([capMs]);
    // The lease outlasts the limit: a second checker cannot take over a live one.
    expect(r.lock()).toEqual({ owner: '4321@checker-host', lease_until: T0 + leaseMs });
    expect(leaseMs).toBeGreaterThan(capMs);
    r.timers[0]!.fire();
    const err = await run.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MedicError);
    expect((err as MedicError).exitCode).toBe(EXIT.tempfail);
    expect((err as MedicError).message).toContain(`medic check hit its hard limit of ${capMs / 1000}s`);
    expect((err as MedicError).message).toContain('1 event not yet delivered stays queued for the next check');
    expect(query(r.path, 'SELECT owner, lease_until FROM checker')).toEqual([{ owner: null, lease_until: null }]);
    expect(query(r.path, "SELECT count(*) AS n FROM outbox WHERE status = 'pending'")).toEqual([{ n: 1 }]);
  });

  it('a run that ends in time cancels its limit and releases the lock itself', async () => {
    const r = rig();
    r.deps.send = async () => ({ ok: true, status: 202, answer: {} });
    await r.store.register(['job'], T0 - 60 * MIN);
    const result = await check({ dryRun: false }, r.deps);
    expect(result.delivery?.delivered).toHaveLength(1);
    expect(r.timers).toHaveLength(1);
    expect(query(r.path, 'SELECT owner, last_run_at FROM checker')).toEqual([{ owner: null, last_run_at: T0 }]);
  });
});

describe('check: the checker-gap notice', () => {
  it('is not printed when no service is affected (it goes to -v instead)', async () => {
    const r = rig();
    r.deps.send = async () => ({ ok: true, status: 202, answer: {} });
    // Registered just now and the last run an hour ago: nothing's deadline fell in the blind period.
    await r.store.register(['job'], T0 - MIN);
    await r.store.acquireLock('1@x', T0 - 60 * MIN, 1000);
    await r.store.releaseLock('1@x', T0 - 60 * MIN);
    const result = await check({ dryRun: false }, r.deps);
    expect(result.gap).toEqual({ from: T0 - 60 * MIN, to: T0 });
    expect(r.notices).toEqual([]);
    expect(r.verbose.join('\n')).toContain('0 services whose deadline fell in that blind period get a fresh deadline');
  });
});
