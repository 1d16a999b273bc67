/**
 * deliverPending with a fake sender, an injected wall clock, monotonic clock, sleep and random
 * source, over a real temp SQLite store. Each case queues events the way a check does
 * (applyTransitions), runs one delivery and reads what was sent, what was settled and why the rest
 * waits (typed reasons, never message text).
 */
import { chmodSync, chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { undeliveredError } from '../../src/commands/check.js';
import { deliveryOf } from '../../src/commands/status.js';
import { buildConfig, type Config, type PagerDutyTarget } from '../../src/config.js';
import { EXIT } from '../../src/errors.js';
import { deliverPending, inRunBackoff, MAX_ATTEMPTS_PER_RUN, type DeferReason, type DeliveryOptions, type DeliveryReport } from '../../src/notify/deliver.js';
import type { SendResult } from '../../src/notify/http.js';
import { targetFingerprint } from '../../src/notify/keys.js';
import { eventBody, INVALID_KEY_HINT, triggerBody } from '../../src/notify/pagerduty.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.js';
import type { OutboxEvent, ServiceDelivery } from '../../src/store/types.js';
import { query, tempDir } from '../helpers/db.js';

const KEY = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';
const OTHER_KEY = 'b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6a1';
const ONCALL = 'http://127.0.0.1:9/v2/enqueue';
const MOVED = 'http://127.0.0.1:10/v2/enqueue';
const MIN = 60_000;
const T0 = Date.parse('2026-11-26T12:00:00Z');
const FACTS = { downAt: T0 - MIN, lastBeatAt: T0 - 7 * MIN, missedHeartbeats: 1 };

type Answer = SendResult | 'hang';
const ok: Answer = { ok: true, status: 202, answer: { status: 'success', message: 'Event processed' } };
const fail = (status: number | null, over: Partial<Extract<SendResult, { ok: false }>> = {}): Answer => ({
  ok: false,
  permanent: false,
  status,
  error: status === null ? 'connection refused' : `HTTP ${status}`,
  ...over,
});
const refuse = (status: number, message: string): Answer => ({ ok: false, permanent: true, status, error: `HTTP ${status}`, answer: { message } });

interface Sent {
  url: string;
  body: Record<string, unknown>;
  timeoutMs: number;
  /** Monotonic time of the request. */
  at: number;
}

/** One delivery world: a config (rewritable), a store, clocks that only move when medic sleeps. */
function world(raw: Record<string, unknown> = {}) {
  const dir = tempDir('medic-deliver-');
  const path = join(dir, 'medic.db');
  const store: SqliteStore = openSqliteStore(path);
  const file = join(dir, 'medic.config.json');
  const make = (r: Record<string, unknown>): Config =>
    buildConfig(
      {
        checker: { gapThreshold: '30d' },
        targets: { oncall: { type: 'pagerduty', eventsUrl: ONCALL, timeout: '3s' } },
        services: [{ slug: 'job', name: 'Nightly job', team: 'platform', priority: 'P2', runbook: 'https://wiki.example.com/job' }, { slug: 'other' }],
        ...r,
      },
      file,
      { env: {}, cwd: '/' },
    );
  const w = {
    dir,
    path,
    store,
    config: make(raw),
    env: { PAGERDUTY_ROUTING_KEY: KEY } as NodeJS.ProcessEnv,
    uid: process.getuid?.() ?? null,
    mono: 0,
    wall: T0,
    sent: [] as Sent[],
    sleeps: [] as number[],
    answers: [] as Answer[],
    /** Answer for requests beyond `answers`. */
    otherwise: ok as Answer,
    reconfigure(r: Record<string, unknown>) {
      w.config = make(r);
    },
    async down(slug: string, targets = ['oncall']) {
      const s = (await store.services()).find((x) => x.slug === slug) ?? (await store.register([slug], T0 - 60 * MIN), (await store.services()).find((x) => x.slug === slug)!);
      await store.applyTransitions(
        [{ slug, version: s.version, from: 'up', to: 'down', at: FACTS.downAt, reason: 'test', beatSeq: s.beatSeq, incidentId: null, events: targets.map((target) => ({ target, action: 'trigger', dedupKey: `medic-heartbeat-${slug}`, facts: FACTS })) }],
        w.wall,
      );
    },
    async up(slug: string) {
      const s = (await store.services()).find((x) => x.slug === slug)!;
      await store.applyTransitions(
        [{ slug, version: s.version, from: 'down', to: 'up', at: w.wall, reason: 'test', beatSeq: s.beatSeq, incidentId: s.incidentId, events: 'resolve-sent-triggers' }],
        w.wall,
      );
    },
    deliver(opts: Partial<DeliveryOptions> = {}): Promise<DeliveryReport> {
      return deliverPending(
        {
          config: w.config,
          store,
          env: w.env,
          uid: w.uid,
          now: () => w.wall,
          monotonic: () => w.mono,
          random: () => 0.5,
          sleep: async (ms) => {
            w.sleeps.push(ms);
            w.mono += ms;
            w.wall += ms;
          },
          send: async (url, body, timeoutMs) => {
            w.sent.push({ url, body, timeoutMs, at: w.mono });
            const answer = w.answers.shift() ?? w.otherwise;
            if (answer === 'hang') return new Promise<SendResult>(() => {});
            return answer;
          },
        },
        { budgetMs: 40_000, concurrency: 8, ...opts },
      );
    },
    pending: () => store.pendingEvents(),
  };
  return w;
}

const kinds = (r: DeliveryReport) => r.deferred.map((d) => `${d.event.action} ${d.event.slug}: ${d.reason.kind}`);
const wire = (s: Sent[]) => s.map((x) => `${x.body.event_action} ${x.body.dedup_key} → ${x.url}`);

describe('deliverPending: what is sent', () => {
  it('builds the trigger from the stored facts and the current config, adds the key read now, uses the target\'s URL and timeout', async () => {
    const w = world();
    await w.down('job');
    const report = await w.deliver();
    expect(report.delivered).toHaveLength(1);
    const spec = w.config.bySlug.get('job')!;
    expect(w.sent).toEqual([{ url: ONCALL, body: { routing_key: KEY, ...triggerBody(spec, FACTS, 'error') }, timeoutMs: 3000, at: 0 }]);
    expect(w.sent[0]!.body).toMatchObject({
      dedup_key: 'medic-heartbeat-job',
      payload: { summary: 'Heartbeat failure: Nightly job', severity: 'error', timestamp: new Date(FACTS.downAt).toISOString(), custom_details: { missed_heartbeats: 1, last_seen: new Date(FACTS.lastBeatAt).toISOString() } },
      links: [{ href: 'https://wiki.example.com/job', text: 'Runbook' }],
    });
    expect(await w.pending()).toEqual([]);
  });

  it('a name, severity or runbook changed in the config since the event was queued is sent as the config now says', async () => {
    const w = world();
    await w.down('job');
    w.reconfigure({ services: [{ slug: 'job', name: 'Renamed job', priority: 'P1' }, { slug: 'other' }] });
    await w.deliver();
    expect(w.sent[0]!.body).toMatchObject({ payload: { summary: 'Heartbeat failure: Renamed job', severity: 'critical' } });
    expect(w.sent[0]!.body.links).toBeUndefined();
  });

  it('per service and target in order: a resolve waits for its trigger, other services go on', async () => {
    const w = world();
    await w.down('job');
    await w.down('other');
    await w.up('job');
    // job's trigger fails every time; other's goes through.
    w.otherwise = ok;
    const answerFor = (body: Record<string, unknown>) => (body.dedup_key === 'medic-heartbeat-job' ? fail(503) : ok);
    const report = await deliverWith(w, answerFor);
    expect(wire(w.sent).filter((s) => s.includes('-job')).every((s) => s.startsWith('trigger'))).toBe(true);
    expect(wire(w.sent)).toContain(`trigger medic-heartbeat-other → ${ONCALL}`);
    expect(kinds(report)).toEqual(['trigger job: retry', 'resolve job: waiting']);

    // The next run, PagerDuty is back: trigger, then resolve.
    w.sent.length = 0;
    w.wall += 10 * MIN;
    const next = await w.deliver();
    expect(wire(w.sent)).toEqual([`trigger medic-heartbeat-job → ${ONCALL}`, `resolve medic-heartbeat-job → ${ONCALL}`]);
    expect(w.sent[1]!.body).toEqual({ routing_key: KEY, event_action: 'resolve', dedup_key: 'medic-heartbeat-job' });
    expect(next.deferred).toEqual([]);
  });
});

/** Runs a delivery whose answers depend on the body. */
async function deliverWith(w: ReturnType<typeof world>, answerFor: (body: Record<string, unknown>) => Answer, opts: Partial<DeliveryOptions> = {}) {
  const report = await deliverPending(
    {
      config: w.config,
      store: w.store,
      env: w.env,
      uid: w.uid,
      now: () => w.wall,
      monotonic: () => w.mono,
      random: () => 0.5,
      sleep: async (ms) => {
        w.sleeps.push(ms);
        w.mono += ms;
        w.wall += ms;
      },
      send: async (url, body, timeoutMs) => {
        w.sent.push({ url, body, timeoutMs, at: w.mono });
        const a = answerFor(body);
        return a === 'hang' ? new Promise<SendResult>(() => {}) : a;
      },
    },
    { budgetMs: 40_000, concurrency: 8, ...opts },
  );
  return report;
}

describe('deliverPending: retries inside a run', () => {
  it('500, 500, then 202: retried with backoff (jitter from the injected random source), delivered once', async () => {
    const w = world();
    await w.down('job');
    w.answers = [fail(500), fail(500)];
    const report = await w.deliver();
    expect(w.sent).toHaveLength(3);
    expect(w.sleeps).toEqual([inRunBackoff(1, () => 0.5), inRunBackoff(2, () => 0.5)]);
    expect(w.sleeps).toEqual([500, 1000]);
    expect(report.delivered).toHaveLength(1);
    expect(query(w.path, "SELECT outcome FROM deliveries ORDER BY id").map((r) => r.outcome)).toEqual(['retry', 'retry', 'delivered']);
  });

  it('Retry-After is honoured: the retry waits exactly that long', async () => {
    const w = world();
    await w.down('job');
    w.answers = [fail(503, { retryAfterMs: 7000 })];
    await w.deliver();
    expect(w.sent.map((s) => s.at)).toEqual([0, 7000]);
  });

  it('a 429 throttles the key: the other service\'s event for the same URL and key waits too', async () => {
    const w = world();
    await w.down('job');
    await w.down('other');
    w.answers = [fail(429, { retryAfterMs: 2000 })];
    await w.deliver({ concurrency: 1 });
    expect(w.sent.map((s) => [s.body.dedup_key, s.at])).toEqual([
      ['medic-heartbeat-job', 0],
      ['medic-heartbeat-job', 2000],
      ['medic-heartbeat-other', 2000],
    ]);
  });

  it(`at most ${MAX_ATTEMPTS_PER_RUN} requests per event per run, so Retry-After: 1 on every answer is no tight loop`, async () => {
    const w = world();
    await w.down('job');
    w.otherwise = fail(503, { retryAfterMs: 1000 });
    const report = await w.deliver();
    expect(w.sent).toHaveLength(MAX_ATTEMPTS_PER_RUN);
    expect(kinds(report)).toEqual(['trigger job: retry']);
    const [left] = await w.pending();
    expect(left).toMatchObject({ attempts: 1, lastError: 'HTTP 503' });
  });

  it('the budget: a retry that would end after it is left for the next run; an event not yet started is left as "budget"', async () => {
    const w = world();
    await w.down('job');
    await w.down('other');
    w.answers = [fail(429, { retryAfterMs: 5000 })];
    const report = await w.deliver({ budgetMs: 3000, concurrency: 1 });
    expect(w.sent).toHaveLength(1);
    expect(kinds(report)).toEqual(['trigger job: retry', 'trigger other: budget']);
    expect(undeliveredError(report)?.exitCode).toBe(EXIT.tempfail);
  });

  it('an aborted run (its hard limit) sends nothing more', async () => {
    const w = world();
    await w.down('job');
    const stop = new AbortController();
    stop.abort();
    const report = await w.deliver({ signal: stop.signal });
    expect(w.sent).toEqual([]);
    expect(report.delivered).toEqual([]);
    expect(await w.pending()).toHaveLength(1);
  });
});

describe('deliverPending: refusals are kept, and released by a change of the target', () => {
  it('a 400 about the key: kept pending and refused; not sent again while URL and key stay; sent when the key value changes', async () => {
    const w = world();
    await w.down('job');
    await w.up('job');
    w.answers = [refuse(400, 'Event object is invalid: Invalid routing key')];
    const first = await w.deliver();
    expect(w.sent).toHaveLength(1);
    expect(first.deferred.map((d) => d.reason)).toEqual<DeferReason[]>([
      { kind: 'refused', target: 'oncall', type: 'pagerduty', where: ONCALL, status: 400, answer: 'Event object is invalid: Invalid routing key', fresh: true },
      { kind: 'waiting' },
    ]);
    const [kept] = await w.pending();
    expect(kept!.refusal).toEqual({ at: T0, status: 400, answer: 'Event object is invalid: Invalid routing key', fingerprint: targetFingerprint(ONCALL, KEY) });
    expect(kept!.refusal!.fingerprint).not.toContain(KEY);
    const error = undeliveredError(first)!;
    expect(error.exitCode).toBe(EXIT.rejected);
    expect(error.message).toContain('PagerDuty refused the trigger for job (target oncall, HTTP 400): "Event object is invalid: Invalid routing key"');
    expect(error.hint).toContain(INVALID_KEY_HINT);

    // Nothing changed: nothing sent, still 76.
    w.wall += MIN;
    const second = await w.deliver();
    expect(w.sent).toHaveLength(1);
    expect(second.deferred.map((d) => d.reason.kind)).toEqual(['refused', 'waiting']);
    expect(undeliveredError(second)?.exitCode).toBe(EXIT.rejected);

    // The key's value changes (same variable): both go out, in order.
    w.env = { PAGERDUTY_ROUTING_KEY: OTHER_KEY };
    const third = await w.deliver();
    expect(w.sent.slice(1).map((s) => [s.body.event_action, s.body.routing_key])).toEqual([
      ['trigger', OTHER_KEY],
      ['resolve', OTHER_KEY],
    ]);
    expect(third.deferred).toEqual([]);
    expect(undeliveredError(third)).toBeNull();
  });

  it('a 404 on a wrong path: released by correcting the target\'s eventsUrl, and sent to the new URL', async () => {
    const w = world();
    await w.down('job');
    w.answers = [refuse(404, 'No route POST /v2/enqueu')];
    const first = await w.deliver();
    expect(undeliveredError(first)!.hint).toContain("check the target's eventsUrl");
    await w.deliver();
    expect(w.sent).toHaveLength(1);
    w.reconfigure({ targets: { oncall: { type: 'pagerduty', eventsUrl: MOVED } } });
    await w.deliver();
    expect(w.sent.map((s) => s.url)).toEqual([ONCALL, MOVED]);
    expect(await w.pending()).toEqual([]);
  });

  it('--retry-refused sends a refused event again although nothing changed', async () => {
    const w = world();
    await w.down('job');
    w.answers = [refuse(403, 'Forbidden')];
    await w.deliver();
    await w.deliver();
    expect(w.sent).toHaveLength(1);
    await w.deliver({ retryRefused: true });
    expect(w.sent).toHaveLength(2);
    expect(await w.pending()).toEqual([]);
  });

  it('a refusal without a fingerprint (kept from before schema 3) is sent once more', async () => {
    const w = world();
    await w.down('job');
    const [e] = await w.pending();
    await w.store.settle(e!.id, { status: 'refused', error: 'HTTP 400', httpStatus: 400, answer: 'old', fingerprint: 'x' }, T0);
    w.store.db.prepare('UPDATE outbox SET refused_fingerprint = NULL').run();
    await w.deliver();
    expect(w.sent).toHaveLength(1);
  });
});

describe('deliverPending: the database does not say where or what to send', () => {
  it('a target removed from the config: its trigger and resolve are settled unsent, said once with the dedup key', async () => {
    const w = world({ targets: { oncall: { type: 'pagerduty', eventsUrl: ONCALL }, payments: { type: 'pagerduty', eventsUrl: MOVED } }, defaults: { targets: ['oncall', 'payments'] } });
    await w.down('job', ['oncall', 'payments']);
    await w.deliver();
    await w.up('job');
    w.reconfigure({ targets: { oncall: { type: 'pagerduty', eventsUrl: ONCALL } } });
    const report = await w.deliver();
    expect(wire(w.sent)).toEqual([`trigger medic-heartbeat-job → ${ONCALL}`, `trigger medic-heartbeat-job → ${MOVED}`, `resolve medic-heartbeat-job → ${ONCALL}`]);
    expect(report.skipped.map((s) => [s.event.target, s.notice, s.reason])).toEqual([
      ['payments', true, 'target "payments" is no longer in the config: the resolve for job was not sent; resolve it by hand (dedup key medic-heartbeat-job)'],
    ]);
    expect(undeliveredError(report)).toBeNull();
    // Settled: the next run has nothing to say.
    const again = await w.deliver();
    expect(again).toEqual({ delivered: [], skipped: [], deferred: [] });
  });

  it('a target renamed while its trigger waited: the trigger goes to the service\'s current targets at the next run, and its resolve follows', async () => {
    const w = world({ targets: { oncall: { type: 'pagerduty', eventsUrl: ONCALL } } });
    await w.down('job', ['oncall']);
    // The target is renamed (and its URL fixed) before the trigger went out.
    w.reconfigure({ targets: { primary: { type: 'pagerduty', eventsUrl: MOVED } } });
    const report = await w.deliver();
    expect(w.sent).toEqual([]);
    expect(report.skipped.map((s) => [s.event.target, s.notice, s.reason])).toEqual([
      ['oncall', true, 'target "oncall" is no longer in the config: the trigger for job goes to primary instead'],
    ]);
    // Not sent yet, so the run must not look clean: 75, the next check sends it.
    expect(undeliveredError(report)?.exitCode).toBe(75);
    await w.deliver();
    expect(wire(w.sent)).toEqual([`trigger medic-heartbeat-job → ${MOVED}`]);
    await w.up('job');
    await w.deliver();
    expect(wire(w.sent)).toEqual([`trigger medic-heartbeat-job → ${MOVED}`, `resolve medic-heartbeat-job → ${MOVED}`]);
    expect(await w.deliver()).toEqual({ delivered: [], skipped: [], deferred: [] });
  });

  it("a row sending a service's trigger to another team's target (a forged row) never reaches that target", async () => {
    const w = world({ targets: { oncall: { type: 'pagerduty', eventsUrl: ONCALL }, payments: { type: 'pagerduty', eventsUrl: MOVED } }, defaults: { targets: ['oncall'] } });
    await w.down('job', ['oncall']);
    w.store.db.prepare("UPDATE outbox SET target = 'payments'").run();
    await w.deliver();
    await w.deliver();
    expect(wire(w.sent)).toEqual([`trigger medic-heartbeat-job → ${ONCALL}`]);
  });

  it('a forged row whose target holds a line break (to fake a line of cron mail) is dropped with its names escaped', async () => {
    const w = world();
    await w.down('job');
    w.store.db.prepare("UPDATE outbox SET target = 'pagerduty' || char(10) || 'medic: every page delivered'").run();
    const lines: string[] = [];
    const report = await w.deliver({ onEvent: (l: string) => lines.push(l) });
    expect(w.sent).toEqual([]);
    expect(report.skipped).toHaveLength(1);
    expect(report.skipped[0]!.reason).toContain('"pagerduty\\nmedic: every page delivered"');
    for (const text of [report.skipped[0]!.reason, ...lines]) expect(text).not.toContain('\n');
  });

  it("a forged copy of a delivered trigger naming another team's target: not sent, and no promise of a later send", async () => {
    const w = world({ targets: { oncall: { type: 'pagerduty', eventsUrl: ONCALL }, payments: { type: 'pagerduty', eventsUrl: MOVED } }, defaults: { targets: ['oncall'] } });
    await w.down('job', ['oncall']);
    await w.deliver();
    w.store.db.prepare("INSERT INTO outbox (slug, incident_id, target, action, dedup_key, down_at, last_beat_at, missed_heartbeats, created_at, next_attempt_at) SELECT slug, incident_id, 'payments', action, dedup_key, down_at, last_beat_at, missed_heartbeats, created_at, next_attempt_at FROM outbox").run();
    const report = await w.deliver();
    expect(wire(w.sent)).toEqual([`trigger medic-heartbeat-job → ${ONCALL}`]);
    expect(report.skipped.map((s) => s.reason)).toEqual(["target \"payments\" is not one of job's targets: not sent there; job's own targets (oncall) already have this incident"]);
    expect(undeliveredError(report)).toBeNull();
  });

  it('a target removed after the outage ended: the unsent trigger and its resolve are dropped, not moved', async () => {
    const w = world({ targets: { oncall: { type: 'pagerduty', eventsUrl: ONCALL } } });
    await w.down('job', ['oncall']);
    await w.up('job');
    w.reconfigure({ targets: { primary: { type: 'pagerduty', eventsUrl: MOVED } } });
    const report = await w.deliver();
    expect(w.sent).toEqual([]);
    expect(report.skipped.map((s) => s.event.action)).toEqual(['trigger', 'resolve']);
    expect(undeliveredError(report)).toBeNull();
  });

  it.each<[string, string, string]>([
    ['a dedup key for another service', "UPDATE outbox SET dedup_key = 'medic-heartbeat-other'", 'its dedup key is not medic-heartbeat-job'],
    ['a slug that breaks the slug rule', "UPDATE outbox SET slug = 'job\",\"x', dedup_key = 'medic-heartbeat-job\",\"x'", 'is not one Medic wrote'],
    ['a down time that is not a number', "UPDATE outbox SET down_at = NULL", 'its down time or last beat is not a valid instant'],
    ['a missed count below zero', 'UPDATE outbox SET missed_heartbeats = -4', 'its missed heartbeats is not a count'],
    ['a trigger for a service no longer configured', "UPDATE outbox SET slug = 'gone', dedup_key = 'medic-heartbeat-gone'", 'service gone is no longer in the config'],
  ])('a row with %s is reported and not sent', async (_label, sql, problem) => {
    const w = world();
    await w.down('job');
    w.store.db.prepare(sql).run();
    const report = await w.deliver();
    expect(w.sent).toEqual([]);
    expect(report.skipped).toHaveLength(1);
    expect(report.skipped[0]!.notice).toBe(true);
    expect(report.skipped[0]!.reason).toContain(problem);
    expect(await w.pending()).toEqual([]);
  });
});

describe('deliverPending: a key that cannot be sent stays queued (78)', () => {
  const keyFile = (w: ReturnType<typeof world>, content: string, mode = 0o600) => {
    const file = join(w.dir, 'pd.key');
    writeFileSync(file, content, { mode });
    chmodSync(file, mode);
    w.reconfigure({ targets: { oncall: { type: 'pagerduty', eventsUrl: ONCALL, routingKeyFile: 'pd.key' } } });
    return file;
  };

  it.each<[string, (w: ReturnType<typeof world>) => void, DeferReason['kind'], string]>([
    ['unset', (w) => (w.env = {}), 'missing-key', 'environment variable PAGERDUTY_ROUTING_KEY is not set'],
    ['set but empty', (w) => (w.env = { PAGERDUTY_ROUTING_KEY: '' }), 'missing-key', 'environment variable PAGERDUTY_ROUTING_KEY is set but empty'],
    ['33 characters', (w) => (w.env = { PAGERDUTY_ROUTING_KEY: `${KEY}X` }), 'bad-key', 'the routing key in environment variable PAGERDUTY_ROUTING_KEY is 33 characters, expected 32 letters and digits'],
    ['32 characters with a dash', (w) => (w.env = { PAGERDUTY_ROUTING_KEY: `${KEY.slice(1)}-` }), 'bad-key', 'has characters other than letters and digits, expected 32 letters and digits'],
    ['in a file its group can write', (w) => keyFile(w, `${KEY}\n`, 0o620), 'bad-key', 'is not safe to read a routing key from: its group can write it'],
    ['in a file everyone can write', (w) => keyFile(w, `${KEY}\n`, 0o606), 'bad-key', 'is not safe to read a routing key from: every user on this machine can write it'],
    ['in a file that does not exist', (w) => w.reconfigure({ targets: { oncall: { type: 'pagerduty', eventsUrl: ONCALL, routingKeyFile: 'nope.key' } } }), 'missing-key', 'nope.key: ENOENT'],
  ])('a key %s: nothing is sent, the event stays queued, the message names the source, never the key', async (_label, arrange, kind, message) => {
    const w = world();
    await w.down('job');
    await w.up('job');
    arrange(w);
    const report = await w.deliver();
    expect(w.sent).toEqual([]);
    expect(report.deferred.map((d) => d.reason.kind)).toEqual([kind, 'waiting']);
    const error = undeliveredError(report)!;
    expect(error.exitCode).toBe(EXIT.config);
    expect(error.message).toContain('target oncall: ');
    expect(error.message).toContain(message);
    expect(error.message).toContain('2 events for it stay queued');
    expect(`${error.message}\n${error.hint}`).not.toContain(KEY);
    expect(await w.pending()).toHaveLength(2);
  });

  it('a key file owned by another user (not root) is refused; the uid comes from the caller', async () => {
    const w = world();
    await w.down('job');
    const file = keyFile(w, `${KEY}\n`);
    const me = process.getuid?.() ?? 1000;
    // As root, give the file away; otherwise, tell medic it runs as someone else.
    if (me === 0) chownSync(file, 4242, 4242);
    else w.uid = me + 4242;
    const report = await w.deliver();
    expect(w.sent).toEqual([]);
    const error = undeliveredError(report)!;
    expect(error.exitCode).toBe(EXIT.config);
    expect(error.message).toContain(`file ${file} is not safe to read a routing key from: it is owned by uid`);
    expect(error.hint).toContain(`chmod 600 ${file}`);
  });

  it('switching the key source from routingKeyEnv to routingKeyFile releases the queued event', async () => {
    const w = world();
    await w.down('job');
    w.env = {};
    await w.deliver();
    expect(w.sent).toEqual([]);
    keyFile(w, `${KEY}\n`);
    await w.deliver();
    expect(w.sent.map((s) => s.body.routing_key)).toEqual([KEY]);
  });

  it('an events URL that breaks the https/loopback rule is not used even if the config loaded it', async () => {
    const w = world();
    await w.down('job');
    (w.config.targets.get('oncall') as PagerDutyTarget).eventsUrl = 'http://pagerduty.example.net/v2/enqueue';
    const report = await w.deliver();
    expect(w.sent).toEqual([]);
    expect(report.deferred.map((d) => d.reason.kind)).toEqual(['bad-url']);
    expect(undeliveredError(report)?.exitCode).toBe(EXIT.config);
  });
});

describe('eventBody validates what the database says', () => {
  const config = buildConfig({ services: [{ slug: 'job' }] }, '/x/medic.config.json', { env: {}, cwd: '/' });
  const target = config.targets.get('pagerduty')!;
  const event = (over: Partial<OutboxEvent>): Pick<OutboxEvent, 'slug' | 'action' | 'dedupKey' | 'facts'> => ({
    slug: 'job',
    action: 'trigger',
    dedupKey: 'medic-heartbeat-job',
    facts: FACTS,
    ...over,
  });
  it.each<[string, Partial<OutboxEvent>, string | null]>([
    ['a valid trigger', {}, null],
    ['a valid resolve', { action: 'resolve', facts: null }, null],
    ['a resolve for a service no longer configured', { action: 'resolve', slug: 'gone', dedupKey: 'medic-heartbeat-gone', facts: null }, null],
    ['an unknown action', { action: 'page-everyone' as OutboxEvent['action'] }, 'its action is neither trigger nor resolve'],
    ['an upper-case slug', { slug: 'Job', dedupKey: 'medic-heartbeat-Job' }, 'its service slug does not follow the slug rule'],
    ['a dedup key with a suffix', { dedupKey: 'medic-heartbeat-job-x' }, 'its dedup key is not medic-heartbeat-job'],
    ['a string down time', { facts: { ...FACTS, downAt: '2026' as unknown as number } }, 'its down time or last beat is not a valid instant'],
    ['a last beat beyond the range of dates', { facts: { ...FACTS, lastBeatAt: 9e15 } }, 'its down time or last beat is not a valid instant'],
    ['a fractional missed count', { facts: { ...FACTS, missedHeartbeats: 1.5 } }, 'its missed heartbeats is not a count'],
    ['a trigger without facts', { facts: null }, 'its down time or last beat is not a valid instant'],
  ])('%s', (_label, over, problem) => {
    const built = eventBody(event(over), target, config);
    if (problem === null) expect(built).toHaveProperty('body');
    else expect(built).toEqual({ problem });
  });

  it('a resolve is exactly the three fields of the guide, whatever else the row holds', () => {
    expect(eventBody(event({ action: 'resolve', facts: FACTS }), target, config)).toEqual({ body: { event_action: 'resolve', dedup_key: 'medic-heartbeat-job' } });
  });
});

describe('status: what PagerDuty has of a service (deliveryOf)', () => {
  const refusal = { at: T0, status: 404, answer: 'No route', fingerprint: 'f' };
  it.each<[string, ServiceDelivery | undefined, boolean, { delivery: string | null; deliveryProblem: string | null }]>([
    ['nothing queued, no incident', undefined, false, { delivery: null, deliveryProblem: null }],
    ['open incident, its trigger delivered', { pending: 0, refusedCount: 0, refused: null, lastError: null, openIncident: { delivered: 1, dropped: 0 } }, true, { delivery: 'sent', deliveryProblem: null }],
    [
      'open incident, its trigger waiting for a retry',
      { pending: 1, refusedCount: 0, refused: null, lastError: { target: 'oncall', action: 'trigger', error: 'HTTP 503' }, openIncident: { delivered: 0, dropped: 0 } },
      true,
      { delivery: 'queued', deliveryProblem: 'trigger to oncall: HTTP 503' },
    ],
    ['queued and never tried yet', { pending: 1, refusedCount: 0, refused: null, lastError: null, openIncident: { delivered: 0, dropped: 0 } }, true, { delivery: 'queued', deliveryProblem: null }],
    [
      'refused',
      { pending: 2, refusedCount: 1, refused: { target: 'oncall', action: 'trigger', refusal }, lastError: { target: 'oncall', action: 'trigger', error: 'HTTP 404 — No route' }, openIncident: null },
      false,
      { delivery: 'refused', deliveryProblem: 'trigger to oncall refused (HTTP 404): No route' },
    ],
    [
      'open incident whose only trigger was never sent (its target was removed)',
      { pending: 0, refusedCount: 0, refused: null, lastError: null, openIncident: { delivered: 0, dropped: 1 } },
      true,
      { delivery: 'not-sent', deliveryProblem: 'the trigger was not sent and never will be (see medic history)' },
    ],
  ])('%s', (_label, state, incidentOpen, expected) => {
    expect(deliveryOf(state, incidentOpen)).toEqual(expected);
  });
});
