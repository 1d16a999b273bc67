/**
 * [scale] The checker lock between checkers on several hosts, in-process on a real SQLite file:
 * a live holder is left alone, a lease that ran out is taken over from any host, a dead process of
 * this host at once (with the events it had claimed), and a run's claims on events end with its
 * lease. Then who ran the last check, as status shows it.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { check, runLimits, type CheckDeps } from '../../src/commands/check.js';
import { checkerHost } from '../../src/commands/status.js';
import { buildConfig } from '../../src/config.js';
import type { SendResult } from '../../src/notify/http.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/types.js';
import { query, tempDir } from '../helpers/db.js';

const KEY = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';
const MIN = 60_000;
const T0 = Date.parse('2026-11-26T12:00:00Z');
/** This checker's machine and pid namespace (checkerIdentity()); OTHER_ID: another's with the same host name. */
const ID = 'feedc0de1234';
const OTHER_ID = '0badbeef5678';
const ME = `4321.${ID}@host-b`;

function rig() {
  const dir = tempDir('medic-lock-');
  const path = join(dir, 'medic.db');
  const store = openSqliteStore(path);
  const config = buildConfig(
    {
      database: 'medic.db',
      checker: { gapThreshold: '30d' },
      targets: { oncall: { type: 'pagerduty', eventsUrl: 'http://127.0.0.1:9/v2/enqueue' } },
      services: [{ slug: 'job', interval: '5m', grace: '1m' }],
    },
    join(dir, 'medic.config.json'),
    { env: {}, cwd: dir },
  );
  const verbose: string[] = [];
  const sent: Record<string, unknown>[] = [];
  const claimsWhileSending: unknown[] = [];
  let at = T0;
  const deps: CheckDeps = {
    config,
    store,
    send: async (_url, body) => {
      sent.push(body);
      claimsWhileSending.push(...query(path, 'SELECT claimed_by, claimed_until FROM outbox WHERE status = ?', 'pending'));
      return { ok: true, status: 202, answer: {} } satisfies SendResult;
    },
    ping: async () => ({ ok: true, status: 200 }),
    env: { PAGERDUTY_ROUTING_KEY: KEY },
    uid: process.geteuid!(),
    pid: 4321,
    host: 'host-b',
    identity: ID,
    now: () => at,
    sleep: async () => {},
    monotonic: () => 0,
    random: () => 0.5,
    timer: (_ms, signal) => new Promise<void>((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
    verbose: (l) => verbose.push(l),
    notice: () => {},
    isAlive: () => true,
  };
  const { leaseMs } = runLimits(config);
  return { path, store, deps, verbose, sent, claimsWhileSending, leaseMs, setNow: (t: number) => (at = t) };
}

/** A service that went down an hour ago, and its trigger queued: claimed by `holder`, who holds the lock since `since`. */
async function heldWithClaims(r: ReturnType<typeof rig>, holder: string, since: number) {
  await r.store.register(['job'], T0 - 60 * MIN);
  // A first run (host-z, ten minutes ago) queues the trigger without sending it.
  const first = { ...r.deps, pid: 1, host: 'host-z', send: async (): Promise<SendResult> => ({ ok: false, permanent: false, status: 503, error: 'HTTP 503' }) };
  r.setNow(T0 - 10 * MIN);
  expect((await check({ dryRun: false }, first)).transitions).toHaveLength(1);
  expect((await r.store.acquireLock(holder, since, r.leaseMs)).acquired).toBe(true);
  expect(await r.store.claimEvents(holder, since, r.leaseMs)).toHaveLength(1);
}

describe('the checker lock across hosts', () => {
  it('the default lease: 90s (65s hard limit + 25s), under the two minutes between a run and the check that takes over from it', () => {
    expect(rig().leaseMs).toBe(90_000);
  });

  it.each<[string, { holder: string; alive: boolean; at: number }, boolean]>([
    ['another host, lease live (1 ms left)', { holder: '999@host-a', alive: true, at: T0 + 90_000 - 1 }, false],
    ['another host, lease just ran out', { holder: '999@host-a', alive: true, at: T0 + 90_000 }, true],
    ['another host whose pid is not alive here: still its lease (another machine\'s pid means nothing)', { holder: '999@host-a', alive: false, at: T0 + 1_000 }, false],
    ['this host, the process is alive', { holder: `999.${ID}@host-b`, alive: true, at: T0 + 1_000 }, false],
    ['this host, the process is gone: at once', { holder: `999.${ID}@host-b`, alive: false, at: T0 + 1_000 }, true],
    ['same host name, another machine or pid namespace: its pid means nothing here, still its lease', { holder: `999.${OTHER_ID}@host-b`, alive: false, at: T0 + 1_000 }, false],
    ['same host name, no identity (an older Medic, or no /proc): still its lease', { holder: '999@host-b', alive: false, at: T0 + 1_000 }, false],
    ['same host name and identity, lease just ran out', { holder: `999.${OTHER_ID}@host-b`, alive: true, at: T0 + 90_000 }, true],
    ['an owner without a pid, on this host: not taken early', { holder: 'host-b', alive: false, at: T0 + 1_000 }, false],
    ['an identity that is not hex: not taken early', { holder: `999.${ID}x@host-b`, alive: false, at: T0 + 1_000 }, false],
  ])('%s → taken over: %s', async (_label, { holder, alive, at }, taken) => {
    const r = rig();
    await heldWithClaims(r, holder, T0);
    r.deps.isAlive = () => alive;
    r.setNow(at);
    const result = await check({ dryRun: false }, r.deps);
    expect(result.ran).toBe(taken);
    // Taken over: the trigger the holder had claimed is sent in the same run, not a lease later.
    expect(r.sent.map((b) => b.event_action)).toEqual(taken ? ['trigger'] : []);
    expect(await r.store.lastChecker()).toBe(taken ? ME : `1.${ID}@host-z`);
    if (!taken) expect(r.verbose.join('\n')).toContain(`another medic check (${holder}) is running; leaving this minute to it`);
    if (taken && !alive) expect(r.verbose.join('\n')).toContain(`the checker that held the lock (${holder}) is gone; taking over`);
  });

  it('a run\'s claims on events end when its lock lease does, so a checker that takes over can send them', async () => {
    const r = rig();
    await r.store.register(['job'], T0 - 60 * MIN);
    // A clock that moves a second at every look: the claims are made well after the lock was taken.
    let t = T0 - 1_000;
    r.deps.now = () => (t += 1_000);
    await check({ dryRun: false }, r.deps);
    expect(r.sent).toHaveLength(1);
    expect(t).toBeGreaterThan(T0 + 2_000);
    // The lease was taken at T0 (the first look); the claim ends with it, give or take the one tick
    // between the delivery's own look at the clock and the claim.
    const [claim] = r.claimsWhileSending as { claimed_by: string; claimed_until: number }[];
    expect(claim!.claimed_by).toBe(ME);
    expect(claim!.claimed_until - (T0 + r.leaseMs)).toBeGreaterThanOrEqual(0);
    expect(claim!.claimed_until - (T0 + r.leaseMs)).toBeLessThanOrEqual(1_000);
  });

  it('a checker whose lock and claims another checker took over sends nothing more, and says so', async () => {
    const r = rig();
    r.deps.config = buildConfig(
      {
        database: 'medic.db',
        checker: { gapThreshold: '30d' },
        targets: { oncall: { type: 'pagerduty', eventsUrl: 'http://127.0.0.1:9/v2/enqueue' } },
        services: ['a', 'b', 'c'].map((slug) => ({ slug, interval: '5m', grace: '1m' })),
      },
      join(r.path, '..', 'medic.config.json'),
      { env: {}, cwd: join(r.path, '..') },
    );
    await r.store.register(['a', 'b', 'c'], T0 - 60 * MIN);
    const notices: string[] = [];
    r.deps.notice = (l) => notices.push(l);
    // Right after this checker claimed its events, a checker that judged it gone takes over its lock.
    const real = r.store;
    r.deps.store = new Proxy(real, {
      get(target, prop, receiver) {
        if (prop !== 'claimEvents') return Reflect.get(target, prop, receiver);
        return async (...args: Parameters<Store['claimEvents']>) => {
          const claimed = await real.claimEvents(...args);
          expect((await real.acquireLock('77.aaaa@host-c', r.deps.now(), r.leaseMs, ME)).acquired).toBe(true);
          return claimed;
        };
      },
    });
    const result = await check({ dryRun: false }, r.deps);
    expect(result.transitions).toHaveLength(3);
    // Not one of the three is sent by this checker: they are host-c's now.
    expect(r.sent).toHaveLength(0);
    expect(result.delivery?.lostClaims).toBe(true);
    expect(notices.join('\n')).toContain("another medic check took over this one's lock and its events");
    expect(await real.pendingCounts()).toEqual(new Map([['a', 1], ['b', 1], ['c', 1]]));
    expect(await real.claimEvents('77.aaaa@host-c', r.deps.now(), r.leaseMs)).toHaveLength(3);
  });

  it('a lock owner name with control characters is quoted in -v', async () => {
    const r = rig();
    await r.store.acquireLock('1@evil\u001b[2J', T0, r.leaseMs);
    r.setNow(T0 + 1_000);
    expect((await check({ dryRun: false }, r.deps)).ran).toBe(false);
    expect(r.verbose.join('\n')).toContain('another medic check ("1@evil\\u001b[2J") is running');
  });
});

describe('checkerHost: the host status shows for a lock owner', () => {
  it.each([
    ['4321@host-b', 'host-b'],
    ['4321.feedc0de1234@host-b', 'host-b'],
    ['4321.not-hex@host-b', '4321.not-hex@host-b'],
    ['4321@db-1.example.internal', 'db-1.example.internal'],
    ['4321@host@odd', 'host@odd'],
    ['no-pid-here', 'no-pid-here'],
    ['x@host-b', 'x@host-b'],
    ['@host-b', '@host-b'],
    [null, null],
  ])('%j → %j', (owner, host) => {
    expect(checkerHost(owner)).toBe(host);
  });
});
