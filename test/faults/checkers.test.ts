/**
 * [scale] Several checkers, one state: real `bin/medic check` processes, each on a "host" of its
 * own (a UTS namespace with its own host name, test/helpers/hosts.ts), against one database and a
 * PagerDuty stand-in, in real time.
 *
 * - Races: two and five checkers started at the same instant, round after round, while services
 *   go quiet and come back. Whatever the race, each incident the checkers recorded reaches the
 *   stand-in as exactly one trigger, then one resolve, in that order.
 * - Two checkers with the same host name in different pid namespaces (another machine, a container
 *   sharing the host's network): the second never takes the live first's lock, though the first's
 *   pid is not alive where it looks.
 * - A checker killed with SIGKILL while the stand-in holds its requests: a checker on another host
 *   leaves it the minute while its lease lasts, then takes over once it has run out and sends what
 *   the dead one had claimed; the only duplicates are the requests that were in flight, each with
 *   the event's own dedup key.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it, type ExpectStatic } from 'vitest';
import { runLimits } from '../../src/commands/check.js';
import { buildConfig } from '../../src/config.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { KEY, fileTempDir, rng, spawnMedic, type Exit } from '../helpers/faults.js';
import { libfaketime } from '../helpers/clock.js';
import { onHost, requireHosts, skewedClockEnv } from '../helpers/hosts.js';
import { startPdServer, type PdServer, type RecordedRequest } from '../helpers/pd-server.js';
import { createDatabase } from '../helpers/pg-cluster.js';
import { pgAdminUrl } from '../helpers/pg.js';

const tmp = fileTempDir('checkers');
afterAll(() => tmp.remove());
beforeAll(() => requireHosts());

interface Backend {
  name: string;
  /** The config's "database" for a fresh, empty database (a file in `dir`, or a URL), and how to get rid of it. */
  create(dir: string): Promise<{ database: string; drop(): Promise<void> }>;
  open(database: string): Promise<Store>;
}

const sqlite: Backend = {
  name: 'SQLite',
  create: async (dir) => ({ database: join(dir, 'medic.db'), drop: async () => {} }),
  open: (database) => openStore({ databasePath: database }, { uid: process.geteuid!() }),
};

/** PostgreSQL: a database of its own on the run's throwaway cluster (dropped by the test itself: the tests run concurrently). */
const postgres: Backend = {
  name: 'PostgreSQL',
  create: async () => {
    const db = await createDatabase(pgAdminUrl(), 'checkers');
    return { database: db.url, drop: db.drop };
  },
  open: (database) => openStore({ databasePath: '/nonexistent/unused.db', databaseUrl: database }, { uid: process.geteuid!() }),
};

/** A project folder with a config: services beat every second, the stand-in as the only target. */
function project(database: string, pd: PdServer, services: string[], defaults: Record<string, unknown> = { interval: '1s', grace: '0s' }, timeout = '2s', deliveryBudget = '5s') {
  const dir = mkdtempSync(join(tmp.dir, 'p-'));
  const raw = {
    database,
    targets: { oncall: { type: 'pagerduty', eventsUrl: pd.url, timeout } },
    defaults,
    services: services.map((slug) => ({ slug })),
    // Services here go down and up every few seconds on purpose: no flap damping, no gap notice.
    flap: { maxTriggers: 1_000_000 },
    checker: { gapThreshold: '30d', deliveryBudget },
  };
  const path = join(dir, 'medic.config.json');
  writeFileSync(path, JSON.stringify(raw));
  const { leaseMs } = runLimits(buildConfig(raw, path, { env: {}, cwd: dir }));
  return { dir, path, leaseMs };
}

type Project = ReturnType<typeof project>;

/** `medic check -v` on host `host` (held at a gate until `gate` settles), with extra environment. */
function checker(p: Project, host: string, opts: { gate?: Promise<void>; env?: Record<string, string> } = {}) {
  return spawnMedic(['--config', p.path, 'check', '-v'], { cwd: p.dir, env: { PAGERDUTY_ROUTING_KEY: KEY, ...opts.env }, prefix: onHost(host), gate: opts.gate });
}

const LEFT = /another medic check \(\d+(?:\.[0-9a-f]+)?@(host-[a-z0-9]+)\) is running; leaving this minute to it/;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const triggers = (pd: PdServer) => pd.requests.filter((r) => r.body.event_action === 'trigger').length;
const resolves = (pd: PdServer) => pd.requests.filter((r) => r.body.event_action === 'resolve').length;

/** Per dedup key, the actions the stand-in received, in arrival order. */
function actionsByKey(requests: RecordedRequest[]): Map<string, string[]> {
  const by = new Map<string, string[]>();
  for (const r of requests) by.set(r.body.dedup_key, [...(by.get(r.body.dedup_key) ?? []), r.body.event_action]);
  return by;
}

/** A fresh database and a PagerDuty stand-in for `fn`, both gone after it. */
async function withRig<T>(backend: Backend, fn: (rig: { database: string; pd: PdServer; store: Store }) => Promise<T>): Promise<T> {
  const pd = await startPdServer();
  const db = await backend.create(mkdtempSync(join(tmp.dir, 'db-')));
  let store: Store | undefined;
  try {
    store = await backend.open(db.database);
    return await fn({ database: db.database, pd, store });
  } finally {
    await store?.close();
    await pd.close();
    await db.drop();
  }
}

/**
 * `rounds` rounds of `checkers` checkers on hosts host-a, host-b, … started at the same instant.
 * Before each round, every service flips with probability 0.3 (seeded): down by a failure signal
 * (`fail`: down at the next check, whatever the time), up by a beat. The intervals are long, so
 * nothing but these signals changes a state: the incidents are known in advance, however slowly a
 * checker starts. A last round brings every service back, so every incident is resolved.
 */
async function race(expect: ExpectStatic, backend: Backend, checkers: number, rounds: number, seed: number) {
  return withRig(backend, async ({ database, pd, store }) => {
    const slugs = Array.from({ length: 8 }, (_, i) => `svc-${i}`);
    const hosts = Array.from({ length: checkers }, (_, i) => `host-${String.fromCharCode(97 + i)}`);
    const p = project(database, pd, slugs, { interval: '1h', grace: '1h' });
    const random = rng(seed);
    const up = new Map(slugs.map((s) => [s, true]));
    const planned = new Map(slugs.map((s) => [s, 0]));
    let left = 0;
    const ranOn = new Map<string, number>();
    const batch = () => {
      let go!: () => void;
      const gate = new Promise<void>((resolve) => (go = resolve));
      return { runs: hosts.map((h) => checker(p, h, { gate })), go };
    };
    const startedAt = Date.now();
    let next = batch();
    for (let round = 0; round <= rounds; round++) {
      const flips = slugs.filter((s) => (round === rounds ? !up.get(s) : round > 0 && random.next() < 0.3));
      for (const s of flips) {
        if (up.get(s)) planned.set(s, planned.get(s)! + 1);
        up.set(s, !up.get(s));
      }
      await store.recordBeats(flips.map((slug) => (up.get(slug) ? { slug } : { slug, kind: 'fail' as const, details: { message: `round ${round}` } })));
      const { runs, go } = next;
      await Promise.all(runs.map((r) => r.ready));
      go();
      // The next round's Node processes start while this one runs, and wait at their gate.
      if (round < rounds) next = batch();
      const results: Exit[] = await Promise.all(runs.map((r) => r.done));
      results.forEach((r, i) => {
        expect(r, `round ${round}, ${hosts[i]}: ${r.stderr}`).toMatchObject({ code: 0, stderr: '' });
        if (LEFT.test(r.stdout)) left++;
        else ranOn.set(hosts[i]!, (ranOn.get(hosts[i]!) ?? 0) + 1);
      });
    }
    // Exactly one trigger, then one resolve, per incident; the checkers recorded each incident once.
    const received = actionsByKey(pd.requests);
    let incidents = 0;
    for (const slug of slugs) {
      const h = await store.history(slug, 0, Date.now() + 3_600_000);
      expect(h.transitions.map((t) => t.to), slug).toEqual(Array.from({ length: planned.get(slug)! }, () => ['down', 'up']).flat());
      expect(received.get(`medic-heartbeat-${slug}`) ?? [], slug).toEqual(Array.from({ length: planned.get(slug)! }, () => ['trigger', 'resolve']).flat());
      incidents += planned.get(slug)!;
    }
    expect(pd.accepted.length).toBe(pd.requests.length);
    expect(await store.pendingCounts()).toEqual(new Map());
    // Guards on the injection: there were incidents, and the checkers did race for the lock.
    expect(incidents).toBeGreaterThanOrEqual(rounds / 2);
    expect(left).toBeGreaterThanOrEqual(1);
    console.info(
      `${backend.name}, ${checkers} checkers, ${rounds} rounds in ${Math.round((Date.now() - startedAt) / 1000)}s: ${incidents} incidents; ` +
        `${triggers(pd)} triggers and ${resolves(pd)} resolves received, 0 duplicates; ` +
        `runs that evaluated: ${[...ranOn].sort().map(([h, n]) => `${h} ${n}`).join(', ')}; runs that found the lock taken: ${left}`,
    );
  });
}

/**
 * host-a's checker is killed (SIGKILL) while the stand-in holds the requests it sent. host-b's
 * checker leaves the lock to it while its lease lasts, then takes over and sends every event:
 * the ones host-a had in flight a second time (same dedup key), the ones it had claimed but not
 * sent yet once.
 */
async function killed(expect: ExpectStatic, backend: Backend) {
  return withRig(backend, async ({ database, pd, store }) => {
    const slugs = Array.from({ length: 12 }, (_, i) => `svc-${String(i).padStart(2, '0')}`);
    const p = project(database, pd, slugs);
    await store.recordBeats(slugs.map((slug) => ({ slug })));
    await sleep(1_100);
    let holding = true;
    pd.reply(() => (holding ? 'hang' : 202));
    const startedAt = Date.now();
    const a = checker(p, 'host-a');
    // It sends 8 at once (its concurrency), holding the other 4 it claimed.
    while (pd.requests.length < 8 && !a.exited) await sleep(20);
    await sleep(200);
    a.kill();
    const killedAt = Date.now();
    const inFlight = new Set(pd.requests.map((r) => r.body.dedup_key as string));
    expect((await a.done).signal).toBe('SIGKILL');
    expect(inFlight.size).toBe(8);
    holding = false;

    // Another host cannot tell a dead checker from a live one: it waits for the lease.
    const early = await checker(p, 'host-b').done;
    expect(early, early.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(early.stdout).toMatch(/another medic check \(\d+\.[0-9a-f]+@host-a\) is running; leaving this minute to it/);
    expect(pd.requests).toHaveLength(8);

    // The lease was taken after startedAt: just before startedAt + lease it still holds (with
    // room for the process to start), just after the moment the first request came it is over.
    await sleep(startedAt + p.leaseMs - 8_000 - Date.now());
    const stillHeldAt = Date.now();
    const stillHeld = await checker(p, 'host-b').done;
    expect(stillHeld.stdout).toMatch(LEFT);
    expect(pd.requests).toHaveLength(8);
    await sleep(pd.requests[0]!.at + p.leaseMs + 500 - Date.now());
    const takenAt = Date.now();
    const b = await checker(p, 'host-b').done;
    expect(b, b.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(b.stdout).not.toMatch(LEFT);

    const received = actionsByKey(pd.requests);
    for (const slug of slugs) {
      const key = `medic-heartbeat-${slug}`;
      expect(received.get(key), slug).toEqual(inFlight.has(key) ? ['trigger', 'trigger'] : ['trigger']);
      expect(pd.accepted.filter((r) => r.body.dedup_key === key), slug).toHaveLength(1);
    }
    expect(await store.pendingCounts()).toEqual(new Map());
    expect(await store.lastChecker()).toMatch(/^\d+\.[0-9a-f]+@host-b$/);
    console.info(
      `${backend.name}, kill -9 mid-delivery: lease ${p.leaseMs / 1000}s; host-b left the lock to the dead host-a 0s and ${((stillHeldAt - killedAt) / 1000).toFixed(1)}s after the kill, ` +
        `took over ${((takenAt - killedAt) / 1000).toFixed(1)}s after it; ${pd.requests.length} requests for ${slugs.length} events: ${pd.requests.length - slugs.length} duplicates, all ${inFlight.size} of them events in flight at the kill`,
    );
  });
}

/**
 * host-a's checker is live, its requests held by a slow stand-in; a second checker with the same
 * host name starts in a pid namespace of its own (`unshare --pid`), where host-a's pid is no live
 * process. It must leave the lock to host-a (nothing but a lease ends a lock it cannot see), and
 * host-a delivers every event: twice at most the ones in flight when its requests timed out.
 */
async function sameHostName(expect: ExpectStatic, backend: Backend) {
  return withRig(backend, async ({ database, pd, store }) => {
    const slugs = Array.from({ length: 12 }, (_, i) => `svc-${String(i).padStart(2, '0')}`);
    // Held requests time out after 10 s (and are tried again within a 15 s budget): the twin (a Node
    // start in a fresh pid namespace, slow on a loaded machine) is done long before host-a tries again.
    const p = project(database, pd, slugs, undefined, '10s', '15s');
    await store.recordBeats(slugs.map((slug) => ({ slug })));
    await sleep(1_100);
    let holding = true;
    pd.reply(() => (holding ? 'hang' : 202));
    const a = checker(p, 'host-a');
    while (pd.requests.length < 8 && !a.exited) await sleep(20);
    const inFlight = new Set(pd.requests.map((r) => r.body.dedup_key as string));
    expect(inFlight.size).toBe(8);
    const twin = await spawnMedic(['--config', p.path, 'check', '-v'], {
      cwd: p.dir,
      env: { PAGERDUTY_ROUTING_KEY: KEY },
      prefix: ['unshare', '--pid', '--fork', '--mount-proc', ...onHost('host-a')],
    }).done;
    expect(twin, twin.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(twin.stdout).toMatch(/another medic check \(\d+\.[0-9a-f]+@host-a\) is running; leaving this minute to it/);
    expect(twin.stdout).not.toMatch(/taking over|delivered/);
    expect(pd.requests).toHaveLength(8);
    holding = false;
    const first = await a.done;
    expect(first, first.stderr).toMatchObject({ code: 0, stderr: '' });
    for (const slug of slugs) {
      const key = `medic-heartbeat-${slug}`;
      const sent = pd.requests.filter((r) => r.body.dedup_key === key).length;
      expect(sent, slug).toBeGreaterThanOrEqual(1);
      expect(sent, slug).toBeLessThanOrEqual(inFlight.has(key) ? 2 : 1);
      expect(pd.accepted.filter((r) => r.body.dedup_key === key), slug).toHaveLength(1);
    }
    expect(await store.pendingCounts()).toEqual(new Map());
    console.info(
      `${backend.name}, same host name in another pid namespace: it left the live checker its lock; ${pd.requests.length} requests for ${slugs.length} events, ` +
        `${pd.requests.length - slugs.length} duplicates (requests that timed out while held, of the ${inFlight.size} in flight)`,
    );
  });
}

/**
 * PostgreSQL is the one clock: checkers on hosts whose clocks are 10 minutes ahead or behind
 * (libfaketime) page neither early nor late, and the moments they record are the database's.
 */
async function skewed(expect: ExpectStatic, backend: Backend) {
  return withRig(backend, async ({ database, pd, store }) => {
    const p = project(database, pd, ['job'], { interval: '10s', grace: '0s' });
    const ahead = { env: skewedClockEnv('+10m', libfaketime()) };
    const behind = { env: skewedClockEnv('-10m', libfaketime()) };
    await store.recordBeats([{ slug: 'job' }]);
    const beatAt = (await store.services())[0]!.lastBeatAt!;
    // Ten minutes ahead, its own clock would say the job missed 200 beats: it must not page.
    const early = await checker(p, 'host-ahead', ahead).done;
    expect(early, early.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(pd.requests, early.stdout).toHaveLength(0);
    // Past the deadline by the database's clock; ten minutes behind, its own clock would say the
    // beat has not even happened yet: it must page now.
    await sleep(beatAt + 10_500 - ((await store.clock()) ?? Date.now()));
    const due = await checker(p, 'host-behind', behind).done;
    expect(due, due.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(pd.requests.map((r) => r.body.event_action)).toEqual(['trigger']);
    expect(pd.requests[0]!.body.payload.timestamp).toBe(new Date(beatAt + 10_000).toISOString());
    const h = await store.history('job', 0, beatAt + 3_600_000);
    expect(h.transitions.map((t) => [t.to, t.at])).toEqual([['down', beatAt + 10_000]]);
    // Recorded on the database's clock, not 10 minutes behind it.
    expect(Math.abs(h.transitions[0]!.recordedAt - Date.now())).toBeLessThan(30_000);
    await store.recordBeats([{ slug: 'job' }]);
    const back = await checker(p, 'host-ahead', ahead).done;
    expect(back, back.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(pd.requests.map((r) => r.body.event_action)).toEqual(['trigger', 'resolve']);
    expect(Math.abs((await store.lastCheckAt())! - Date.now())).toBeLessThan(30_000);
    console.info(`${backend.name}, skewed clocks: checkers 10 minutes ahead and behind paged on the database's clock (trigger at the deadline, resolve after the beat)`);
  });
}

// Concurrent: the races mostly wait for their services' deadlines, the kill test for a lease.
describe.concurrent('several checkers on several hosts, one state', () => {
  // The timeouts are a safety net for a loaded machine: alone on 2 cores the file takes about 1.5 minutes.
  it.for([
    // The harness on one machine's file (test/faults/overlap.test.ts covers SQLite too); the 50 rounds are PostgreSQL's.
    { store: 'SQLite', backend: sqlite, checkers: 2, rounds: 20 },
    { store: 'PostgreSQL', backend: postgres, checkers: 2, rounds: 50 },
    { store: 'PostgreSQL', backend: postgres, checkers: 5, rounds: 50 },
  ])('$store: $checkers checkers racing over $rounds rounds: one trigger and one resolve per incident, in order', { timeout: 480_000 }, async ({ backend, checkers, rounds }, { expect }) => {
    await race(expect, backend, checkers, rounds, 1000 + checkers);
  });

  it.for([
    { store: 'SQLite', backend: sqlite },
    { store: 'PostgreSQL', backend: postgres },
  ])('$store: a checker killed mid-delivery is taken over by another host once its lease runs out; duplicates only of events in flight', { timeout: 240_000 }, async ({ backend }, { expect }) => {
    await killed(expect, backend);
  });

  it.for([
    { store: 'SQLite', backend: sqlite },
    { store: 'PostgreSQL', backend: postgres },
  ])('$store: a checker with the same host name in another pid namespace never takes over a live checker; duplicates only of requests in flight', { timeout: 120_000 }, async ({ backend }, { expect }) => {
    await sameHostName(expect, backend);
  });

  it('PostgreSQL: checkers on hosts with skewed clocks agree on the database clock', { timeout: 120_000 }, async ({ expect }) => {
    await skewed(expect, postgres);
  });
});
