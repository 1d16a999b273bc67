/**
 * Fault injection: `kill -9` of `medic check` at random points, 50 times in a row. Six services
 * beat or go quiet at random between checks ten minutes apart; each check is the real binary at
 * that instant (libfaketime), killed either at a random moment after it starts (start-up,
 * evaluation, the outbox transaction) or a random moment after the k-th request of its run reached
 * the stand-in (delivery). The stand-in answers 202 at once but its answers reach medic 20-200 ms
 * later (a proxy), so kills also land between PagerDuty accepting an event and medic recording it.
 * After some kills a check runs again at once, while the dead run's lock lease is still valid: it
 * must take the lock over (its holder is gone) and finish the work.
 *
 * Afterwards, and after one clean check: no event is pending, and every service that is down has
 * its one incident open and no other does, except one the clean check resolved although it is down
 * again: it beat after its incident opened and went quiet again while no check ran (the last
 * check was killed before it recorded anything). A check judges each service once: it resolves at
 * that beat (SPEC §3), and only the next check re-opens. So a second clean check, a minute later,
 * must re-open exactly those and change nothing else; after it, with no exception: every service
 * that is down has its one incident open and no other does, and per service the events accepted by
 * the stand-in are exactly the outbox's events in order, except for repeats of the same event
 * (the at-least-once window between PagerDuty's 202 and the store's settle, which PagerDuty's
 * dedup_key absorbs). The repeats are counted and printed, and must be exactly the events that
 * were in that window when a kill landed (read from the delivery log): each sent once more,
 * nothing else repeated. A failed state check prints the service's rows and what each run did.
 */
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KEY, MIN, fileTempDir, inProcess, rng, spawnMedic, startProxy } from '../helpers/faults.js';
import { startPdServer, type RecordedRequest } from '../helpers/pd-server.js';
import { eventProblems } from '../helpers/pd-rules.js';

const T0 = Date.parse('2026-11-26T12:00:00Z');
const STEP = 10 * MIN; // beyond interval 5m + grace 1m: a service that did not beat in a step is down
const REPS = 50;
const SLUGS = ['s0', 's1', 's2', 's3', 's4', 's5'];
const SEED = Number(process.env.MEDIC_FAULT_SEED ?? Date.now() % 2 ** 31);

const tmp = fileTempDir('kill');
afterAll(() => tmp.remove());

interface OutboxRow {
  id: number;
  slug: string;
  action: 'trigger' | 'resolve';
  status: string;
  body: string;
}

function rows<T>(dbPath: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(dbPath);
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

const slugOf = (req: RecordedRequest) => String(req.body?.dedup_key).replace(/^medic-heartbeat-/, '');

/**
 * Of the events a killed run got accepted (`sent`), how many it did not record as delivered before
 * it died (the delivery log rows after `lastDelivery`): each is still pending and will be sent again.
 */
function exposedAfterKill(sent: RecordedRequest[], dbPath: string, lastDelivery: number): number {
  // Killed before it sent anything (perhaps while creating the schema, which a kill rolls back).
  if (sent.length === 0) return 0;
  const settled = new Map<string, number>();
  for (const d of rows<{ slug: string; action: string }>(dbPath, `SELECT slug, action FROM deliveries WHERE id > ${lastDelivery} AND outcome = 'delivered'`)) {
    settled.set(`${d.slug} ${d.action}`, (settled.get(`${d.slug} ${d.action}`) ?? 0) + 1);
  }
  let exposed = 0;
  for (const req of sent) {
    const key = `${slugOf(req)} ${req.body.event_action}`;
    const n = settled.get(key) ?? 0;
    if (n > 0) settled.set(key, n - 1);
    else exposed++;
  }
  return exposed;
}

/** A service's stored rows and the checker row, for the message of a failed state check. */
function storedRows(dbPath: string, slug: string): string {
  const show = (title: string, sql: string, ...params: unknown[]) => `${title}:\n${rows(dbPath, sql, ...params).map((r) => `  ${JSON.stringify(r)}`).join('\n')}`;
  return [
    show('service', 'SELECT slug, registered_at, last_beat_at, beat_seq, reset_at, incident_id, incident_down_at, incident_beat_seq, incident_held_since, version FROM services WHERE slug = ?', slug),
    show('beats (newest 5)', 'SELECT * FROM (SELECT id, at, kind FROM beats WHERE slug = ? ORDER BY id DESC LIMIT 5) ORDER BY id', slug),
    show('transitions', 'SELECT id, from_state, to_state, at, recorded_at, reason FROM transitions WHERE slug = ? ORDER BY id', slug),
    show('outbox', 'SELECT id, incident_id, action, status, attempts, created_at, settled_at, claimed_by, claimed_until FROM outbox WHERE slug = ? ORDER BY id', slug),
    show('checker', 'SELECT * FROM checker'),
  ].join('\n');
}

/** The slugs a `medic check -v` output says it marked `to` (`marking s3 up: …`). */
function marked(verbose: string, to: 'up' | 'down'): string[] {
  return [...verbose.matchAll(new RegExp(`^marking (\\S+) ${to}:`, 'gm'))].map((m) => m[1]!).sort();
}

/**
 * Whether the database has this table: not before the first run has created the schema (a run
 * killed while creating it leaves the file, and rolls the schema back).
 */
function hasTable(dbPath: string, name: string): boolean {
  return existsSync(dbPath) && rows<{ n: number }>(dbPath, 'SELECT count(*) AS n FROM sqlite_master WHERE name = ?', name)[0]!.n > 0;
}

/** The newest delivery log row (0 before the first run has created the database). */
function lastDeliveryId(dbPath: string): number {
  return hasTable(dbPath, 'deliveries') ? rows<{ id: number }>(dbPath, 'SELECT coalesce(max(id), 0) AS id FROM deliveries')[0]!.id : 0;
}

describe('a beat no check saw: the check after it was killed before it recorded anything', () => {
  // What the random test's clean run can meet: a service beat after its incident opened, the
  // check that would have seen it up was killed (here at its start, before Node loads medic), and
  // by the next check the service is down again.
  it('the next clean check resolves at that beat although the service is down again; the one after re-opens', { timeout: 60_000 }, async () => {
    const pd = await startPdServer();
    const dir = join(tmp.dir, 'unseen-beat');
    mkdirSync(dir);
    const config = join(dir, 'medic.config.json');
    writeFileSync(
      config,
      JSON.stringify({
        targets: { oncall: { type: 'pagerduty', eventsUrl: pd.url, timeout: '5s' } },
        defaults: { interval: '5m', grace: '1m' },
        services: [{ slug: 'api' }],
        // Checks ten minutes apart or more, each a start-up later: not a blind checker.
        checker: { gapThreshold: '30d' },
      }),
    );
    const env = { PAGERDUTY_ROUTING_KEY: KEY };
    const check = (at: number) => spawnMedic(['--config', config, 'check', '-v'], { cwd: dir, env, at }).done;
    const state = async (at: number) => {
      const status = await inProcess(['--config', config, 'status', '--json'], { cwd: dir, env, now: () => at });
      expect(status.code, status.stderr).toBe(0);
      const [row] = JSON.parse(status.stdout) as { state: string; incidentOpen: boolean; pendingEvents: number }[];
      return { state: row!.state, incidentOpen: row!.incidentOpen, pendingEvents: row!.pendingEvents };
    };
    try {
      expect(await check(T0)).toMatchObject({ code: 0, stderr: '' });
      expect((await check(T0 + 10 * MIN)).stdout).toContain('marking api down');
      expect((await inProcess(['--config', config, 'beat', 'api'], { cwd: dir, env, now: () => T0 + 18 * MIN })).code).toBe(0);
      const killed = spawnMedic(['--config', config, 'check', '-v'], { cwd: dir, env, at: T0 + 20 * MIN, gate: new Promise(() => {}) });
      await killed.ready;
      killed.kill();
      expect(await killed.done).toMatchObject({ signal: 'SIGKILL', stdout: '' });

      const clean = await check(T0 + 30 * MIN);
      expect(clean).toMatchObject({ code: 0, stderr: '' });
      expect(clean.stdout).toContain('marking api up: beat at 2026-11-26T12:18:00.000Z');
      expect(await state(T0 + 30 * MIN + 1000)).toEqual({ state: 'down', incidentOpen: false, pendingEvents: 0 });

      const next = await check(T0 + 31 * MIN);
      expect(next.stdout).toContain('marking api down: no beat within 6m of the last beat (2026-11-26T12:18:00.000Z)');
      expect(await state(T0 + 31 * MIN + 1000)).toEqual({ state: 'down', incidentOpen: true, pendingEvents: 0 });
      expect(pd.accepted.map((r) => r.body.event_action)).toEqual(['trigger', 'resolve', 'trigger']);
    } finally {
      await pd.close();
    }
  });
});

describe('kill -9 of medic check at random points, 50 times', () => {
  it(`leaves a consistent state, loses no event and repeats only events caught between 202 and settle (seed ${SEED})`, { timeout: 600_000 }, async () => {
    const rand = rng(SEED);
    const pd = await startPdServer();
    const proxy = await startProxy(pd.url, { delayMs: () => rand.int(20, 200) });
    let onArrival: (() => void) | undefined;
    pd.reply(() => {
      onArrival?.();
      return 202;
    });
    const dir = tmp.dir;
    const dbPath = join(dir, 'medic.db');
    const config = join(dir, 'medic.config.json');
    writeFileSync(
      config,
      JSON.stringify({
        targets: { oncall: { type: 'pagerduty', eventsUrl: proxy.url, timeout: '5s' } },
        defaults: { interval: '5m', grace: '1m' },
        services: SLUGS.map((slug) => ({ slug })),
        checker: { gapThreshold: '30d' },
        // Services beat at random, so some would flap; damping (a held resolve) is tested elsewhere.
        flap: { maxTriggers: 1000 },
      }),
    );
    const env = { PAGERDUTY_ROUTING_KEY: KEY };
    const tally = { killed: 0, exitedFirst: 0, killedDuringDelivery: 0, exposed: 0, takeovers: 0 };
    // What each run did, for the message of a failed state check.
    const journal: string[] = [];
    const statusAt = async (now: number) => {
      const status = await inProcess(['--config', config, 'status', '--json'], { cwd: dir, env, now: () => now });
      expect(status.code, status.stderr).toBe(0);
      return JSON.parse(status.stdout) as { slug: string; state: string; incidentOpen: boolean; pendingEvents: number }[];
    };
    try {
      for (let rep = 0; rep < REPS; rep++) {
        const at = T0 + rep * STEP;
        const beaten: string[] = [];
        if (rep > 0) {
          for (const slug of SLUGS) {
            if (rand.next() < 0.5) continue;
            beaten.push(slug);
            const beat = await inProcess(['--config', config, 'beat', slug], { cwd: dir, env, now: () => at - 2 * MIN });
            expect(beat.code, beat.stderr).toBe(0);
          }
        }
        const first = pd.requests.length;
        const lastDelivery = lastDeliveryId(dbPath);
        const started = Date.now();
        const child = spawnMedic(['--config', config, 'check', '-v'], { cwd: dir, env, at });
        let plan: string;
        if (rand.next() < 0.5) {
          const ms = rand.int(0, 500);
          plan = `kill at ${ms} ms`;
          setTimeout(() => child.kill(), ms);
        } else {
          let k = rand.int(1, 4);
          const after = rand.int(0, 250);
          plan = `kill ${after} ms after request ${k} (or at 1500 ms)`;
          onArrival = () => {
            if (--k === 0) setTimeout(() => child.kill(), after);
          };
          // A run with fewer requests than k is killed a little after it would have started sending.
          setTimeout(() => child.kill(), 1500);
        }
        const exit = await child.done;
        onArrival = undefined;
        journal.push(
          `rep ${rep} at ${new Date(at).toISOString()}: beats ${beaten.join(',') || '-'}; ${plan}: ${exit.signal ?? `exit ${exit.code}`} after ${Date.now() - started} ms; ` +
            `it said: ${JSON.stringify(exit.stdout.trim().split('\n').filter((l) => l.startsWith('marking') || l.includes('taking over')))}`,
        );
        if (exit.signal === 'SIGKILL') {
          tally.killed++;
          // Bytes already on their way through the proxy still reach the stand-in (it runs in this process).
          await new Promise((r) => setTimeout(r, 100));
          const exposed = exposedAfterKill(pd.requests.slice(first), dbPath, lastDelivery);
          tally.exposed += exposed;
          if (exposed > 0) tally.killedDuringDelivery++;
          if (rand.next() < 0.3) {
            // Straight away (2 s on, past any moment the dead run reached): its lock lease is still
            // valid, so this run must see that the holder is gone and take over, not leave the minute to it.
            const lock = hasTable(dbPath, 'checker') ? rows<{ owner: string | null; lease_until: number | null }>(dbPath, 'SELECT * FROM checker')[0] : undefined;
            // A lease left by an earlier rep's dead run has expired by now: no take-over needed for that one.
            const holder = lock?.owner && lock.lease_until! > at + 2000 ? lock.owner : null;
            const again = await spawnMedic(['--config', config, 'check', '-v'], { cwd: dir, env, at: at + 2000 }).done;
            journal.push(`rep ${rep} take-over at +2 s: ${JSON.stringify(again.stdout.trim().split('\n').filter((l) => l.startsWith('marking') || l.includes('taking over')))}`);
            expect(again, `rep ${rep} take-over: ${again.stderr}`).toMatchObject({ code: 0, signal: null, stderr: '' });
            if (holder) {
              tally.takeovers++;
              expect(again.stdout).toContain(`the checker that held the lock (${holder}) is gone; taking over`);
            }
            expect(rows(dbPath, "SELECT id FROM outbox WHERE status = 'pending'"), `rep ${rep}: pending after take-over`).toEqual([]);
          }
        } else {
          tally.exitedFirst++;
          expect(exit, `rep ${rep}: ${exit.stderr}`).toMatchObject({ code: 0, stderr: '' });
        }
      }

      // One clean run, at the next step, settles whatever the kills left.
      const finalAt = T0 + REPS * STEP;
      const last = await spawnMedic(['--config', config, 'check', '-v'], { cwd: dir, env, at: finalAt }).done;
      expect(last).toMatchObject({ code: 0, signal: null, stderr: '' });
      expect(rows(dbPath, "SELECT id FROM outbox WHERE status <> 'delivered'"), 'pending or failed events after a clean run').toEqual([]);
      const explain = (slug: string, runs: string) => `${slug}\n${storedRows(dbPath, slug)}\nruns:\n${journal.slice(-6).join('\n')}\n${runs}`;

      // Every service is down by now (none beat for a whole step). One the clean run resolved had
      // beaten after its incident opened, unseen by any check: it stays down without an incident
      // until the next check; every other service that is down has its incident open.
      const resolved = marked(last.stdout, 'up');
      const settled = await statusAt(finalAt + 1000);
      for (const s of settled) {
        const why = explain(s.slug, `the clean run (-v):\n${last.stdout}`);
        expect({ slug: s.slug, incidentOpen: s.incidentOpen, pendingEvents: s.pendingEvents }, why).toEqual({ slug: s.slug, incidentOpen: s.state === 'down' && !resolved.includes(s.slug), pendingEvents: 0 });
      }
      // The next clean run, a minute later, re-opens exactly those and changes nothing else.
      const next = await spawnMedic(['--config', config, 'check', '-v'], { cwd: dir, env, at: finalAt + MIN }).done;
      expect(next).toMatchObject({ code: 0, signal: null, stderr: '' });
      expect({ down: marked(next.stdout, 'down'), up: marked(next.stdout, 'up') }, `the clean run:\n${last.stdout}\nthe next one:\n${next.stdout}`).toEqual({ down: resolved, up: [] });

      const outbox = rows<OutboxRow>(dbPath, 'SELECT * FROM outbox ORDER BY id');
      expect(outbox.filter((e) => e.status !== 'delivered'), 'pending or failed events after two clean runs').toEqual([]);

      let repeats = 0;
      for (const slug of SLUGS) {
        const recorded = outbox.filter((e) => e.slug === slug).map((e) => e.action);
        const accepted = pd.accepted.filter((r) => slugOf(r) === slug);
        // A repeat is the same event sent again right after itself: same action, same body.
        const distinct = accepted.filter((r, i) => i === 0 || r.rawBody !== accepted[i - 1]!.rawBody);
        repeats += accepted.length - distinct.length;
        expect(distinct.map((r) => r.body.event_action), `${slug}: accepted (repeats removed) vs outbox`).toEqual(recorded);
        // Triggers and resolves alternate, starting with a trigger.
        expect(recorded.every((a, i) => a === (i % 2 === 0 ? 'trigger' : 'resolve')), `${slug}: ${recorded.join(',')}`).toBe(true);
        const transitions = rows<{ to_state: string }>(dbPath, `SELECT to_state FROM transitions WHERE slug = '${slug}' ORDER BY id`);
        expect(transitions.map((t) => (t.to_state === 'down' ? 'trigger' : 'resolve')), `${slug}: transitions`).toEqual(recorded);
      }
      for (const req of pd.accepted) expect(eventProblems(req.body)).toEqual([]);
      // The delivery log agrees: each event recorded as delivered exactly once.
      const logged = rows<{ outbox_id: number; n: number }>(dbPath, "SELECT outbox_id, count(*) AS n FROM deliveries WHERE outcome = 'delivered' GROUP BY outbox_id");
      expect(logged.filter((d) => d.n !== 1), 'events logged as delivered more than once').toEqual([]);
      expect(logged).toHaveLength(outbox.length);

      for (const s of await statusAt(finalAt + MIN + 1000)) {
        const why = explain(s.slug, `the clean run (-v):\n${last.stdout}\nthe next one:\n${next.stdout}`);
        expect({ slug: s.slug, incidentOpen: s.incidentOpen, pendingEvents: s.pendingEvents }, why).toEqual({ slug: s.slug, incidentOpen: s.state === 'down', pendingEvents: 0 });
        const recorded = outbox.filter((e) => e.slug === s.slug);
        expect(recorded.at(-1)?.action === 'trigger', `${s.slug}: last event vs open incident\n${why}`).toBe(s.incidentOpen);
      }

      const report = { seed: SEED, runs: REPS, ...tally, resolvedWhileDown: resolved.length, events: outbox.length, accepted: pd.accepted.length, repeats };
      console.info(`kill -9 x${REPS}: ${JSON.stringify(report)}`);
      // Guards on the injection itself: the kills did land, some of them during delivery.
      expect(tally.killed).toBeGreaterThanOrEqual(REPS / 4);
      expect(tally.killedDuringDelivery).toBeGreaterThanOrEqual(1);
      // Every event caught between the stand-in's 202 and the store's settle went out exactly once
      // more, and nothing else was repeated.
      expect(repeats, 'repeats vs events caught between 202 and settle').toBe(tally.exposed);
    } finally {
      await proxy.close();
      await pd.close();
    }
  });
});
