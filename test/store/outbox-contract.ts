/**
 * The outbox contract: applyTransitions, pendingEvents, settle, reroute, triggerOf,
 * pendingCounts and deliveryStates, run against every store (SQLite and PostgreSQL have the same
 * table and column names, so the rows the store wrote are read back with the same SQL).
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { MESSAGE_MAX_CHARS, OUTPUT_TAIL_MAX_BYTES } from '../../src/core/signal.js';
import { DatabaseError } from '../../src/errors.js';
import { RECEIPT_MAX_CHARS } from '../../src/store/bounds.js';
import type { NewEvent, Settlement, Store, StoredService, TransitionInput } from '../../src/store/types.js';

/** One fresh store, and a look at its rows from a connection of its own (SQL with $1, $2... parameters). */
export interface OutboxFixture {
  store: Store;
  rows<T = Record<string, any>>(sql: string, ...params: unknown[]): Promise<T[]>;
  columns(table: string): Promise<string[]>;
  /** Writes behind the store's back (a planted row), through a connection of its own. */
  write(sql: string, ...params: unknown[]): Promise<void>;
}

const MIN = 60_000;
const T0 = Date.parse('2026-11-26T12:00:00Z');
const FACTS = { downAt: T0, lastBeatAt: T0 - 6 * MIN, missedHeartbeats: 1 };
/** FACTS as pendingEvents() returns them: a trigger that gives no reason went down for a miss, with no run details. */
const STORED_FACTS = { ...FACTS, reason: 'missed', exitCode: null, durationMs: null, message: null, outputTail: null };

function trigger(slug: string, target: string, over: Partial<NewEvent> = {}): NewEvent {
  return { target, action: 'trigger', dedupKey: `medic-heartbeat-${slug}`, facts: FACTS, ...over };
}

function down(s: StoredService, events: NewEvent[], at = T0): TransitionInput {
  return { slug: s.slug, version: s.version, from: 'up', to: 'down', at, reason: 'no beat within 6m', beatSeq: s.beatSeq, incidentId: null, events };
}

function up(s: StoredService, at = T0 + 10 * MIN): TransitionInput {
  return {
    slug: s.slug,
    version: s.version,
    from: 'down',
    to: 'up',
    at,
    reason: 'beat',
    beatSeq: s.beatSeq,
    incidentId: s.incidentId,
    events: 'resolve-sent-triggers',
  };
}

async function svc(store: Store, slug: string): Promise<StoredService> {
  const found = (await store.services()).find((s) => s.slug === slug);
  if (!found) throw new Error(`no service ${slug}`);
  return found;
}

async function counts(db: OutboxFixture) {
  return (await db.rows<{ transitions: number; outbox: number }>('SELECT (SELECT count(*) FROM transitions) AS transitions, (SELECT count(*) FROM outbox) AS outbox'))[0];
}

function outbox(db: OutboxFixture) {
  return db.rows(
    'SELECT id, slug, incident_id, target, action, dedup_key, down_at, last_beat_at, missed_heartbeats, created_at, status, attempts, next_attempt_at FROM outbox ORDER BY id',
  );
}

/** Registers the outbox contract's tests; `fresh` is called inside each test. */
export function outboxContract(name: string, fresh: () => Promise<OutboxFixture>): void {
  async function withStore(fn: (store: Store, db: OutboxFixture) => Promise<void>): Promise<void> {
    const db = await fresh();
    onTestFinished(() => db.store.close().catch(() => {}));
    await fn(db.store, db);
  }

  describe(`Outbox contract: ${name}`, () => {
    describe('applyTransitions: a down change', () => {
      it('writes one transition and one pending outbox row per event, and opens the incident', () =>
        withStore(async (store, db) => {
          await store.register(['job'], T0 - 60 * MIN);
          const now = T0 + 30_000;
          const before = await svc(store, 'job');
          expect(await store.applyTransitions([down(before, [trigger('job', 'oncall'), trigger('job', 'payments')])], now)).toEqual(['job']);

          const transitions = (await db.rows('SELECT id, slug, from_state, to_state, at, recorded_at, reason FROM transitions'));
          expect(transitions).toEqual([
            { id: expect.any(Number), slug: 'job', from_state: 'up', to_state: 'down', at: T0, recorded_at: now, reason: 'no beat within 6m' },
          ]);
          const incidentId = transitions[0]!.id;
          const after = await svc(store, 'job');
          expect(after).toMatchObject({ incidentId, incident: { downAt: T0, beatSeq: 0 }, version: before.version + 1 });

          const common = {
            slug: 'job',
            incident_id: incidentId,
            action: 'trigger',
            dedup_key: 'medic-heartbeat-job',
            down_at: FACTS.downAt,
            last_beat_at: FACTS.lastBeatAt,
            missed_heartbeats: FACTS.missedHeartbeats,
            created_at: now,
            status: 'pending',
            attempts: 0,
            next_attempt_at: now,
          };
          expect((await outbox(db))).toEqual([
            { id: expect.any(Number), ...common, target: 'oncall' },
            { id: expect.any(Number), ...common, target: 'payments' },
          ]);
          const pending = await store.pendingEvents();
          expect(pending.map((e) => [e.target, e.action, e.incidentId, e.facts, e.refusal])).toEqual([
            ['oncall', 'trigger', incidentId, STORED_FACTS, null],
            ['payments', 'trigger', incidentId, STORED_FACTS, null],
          ]);
        }));

      it('is one transaction: if an event cannot be written, neither the transition nor any event is', () =>
        withStore(async (store, db) => {
          await store.register(['job'], T0 - 60 * MIN);
          const before = await svc(store, 'job');
          const broken = trigger('job', 'payments', { action: 'page-everyone' as NewEvent['action'] });
          await expect(store.applyTransitions([down(before, [trigger('job', 'oncall'), broken])], T0)).rejects.toBeInstanceOf(DatabaseError);
          expect((await counts(db))!).toEqual({ transitions: 0, outbox: 0 });
          expect(await svc(store, 'job')).toEqual(before);
        }));

      it('with a stale version (someone else changed the service first) applies nothing and writes nothing', () =>
        withStore(async (store, db) => {
          await store.register(['job'], T0 - 60 * MIN);
          const seenByB = await svc(store, 'job'); // checker B loads the service ...
          // ... while checker A opens and closes an incident.
          await store.applyTransitions([down(seenByB, [trigger('job', 'oncall')])], T0);
          await store.applyTransitions([up(await svc(store, 'job'))], T0 + 10 * MIN);
          const before = (await counts(db))!;
          const state = await svc(store, 'job');

          expect(await store.applyTransitions([down(seenByB, [trigger('job', 'oncall')], T0 + 20 * MIN)], T0 + 20 * MIN)).toEqual([]);
          expect((await counts(db))!).toEqual(before);
          expect(await svc(store, 'job')).toEqual(state);
        }));

      it('in a batch, a stale change is skipped and the others are applied', () =>
        withStore(async (store, db) => {
          await store.register(['a', 'b'], T0 - 60 * MIN);
          const staleA = await svc(store, 'a');
          await store.applyTransitions([down(staleA, [trigger('a', 'oncall')])], T0);
          await store.applyTransitions([up(await svc(store, 'a'))], T0 + MIN);
          const before = (await counts(db))!;

          const applied = await store.applyTransitions([down(staleA, [trigger('a', 'oncall')]), down(await svc(store, 'b'), [trigger('b', 'oncall')])], T0 + 2 * MIN);
          expect(applied).toEqual(['b']);
          expect((await counts(db))!).toEqual({ transitions: before.transitions + 1, outbox: before.outbox + 1 });
          expect((await db.rows('SELECT slug, to_state FROM transitions ORDER BY id DESC LIMIT 1'))).toEqual([{ slug: 'b', to_state: 'down' }]);
        }));
    });

    describe('trigger facts of a failed or stuck run', () => {
      const FAILED = { ...FACTS, reason: 'failed' as const, exitCode: 3, durationMs: 125_000, message: 'disk full', outputTail: 'rsync: write failed\n' };

      it('keeps the reason and the run\'s details from applyTransitions to pendingEvents, and through reroute()', () =>
        withStore(async (store) => {
          await store.register(['job'], T0 - 60 * MIN);
          await store.applyTransitions([down(await svc(store, 'job'), [trigger('job', 'gone', { facts: FAILED })])], T0);
          const [event] = await store.pendingEvents();
          expect(event!.facts).toEqual(FAILED);
          expect(await store.reroute(event!.id, ['oncall', 'payments'], 'target removed', T0 + 1)).toBe(2);
          expect((await store.pendingEvents()).map((e) => [e.target, e.facts])).toEqual([
            ['oncall', FAILED],
            ['payments', FAILED],
          ]);
        }));

      it.each([
        ['stuck', { ...FACTS, reason: 'stuck' as const }, { ...STORED_FACTS, reason: 'stuck' }],
        ['missed, its reason given', { ...FACTS, reason: 'missed' as const }, STORED_FACTS],
        ['missed, no reason given', FACTS, STORED_FACTS],
      ])('a trigger %s reads back with its reason and no run details', (_label, facts, stored) =>
        withStore(async (store) => {
          await store.register(['job'], T0 - 60 * MIN);
          await store.applyTransitions([down(await svc(store, 'job'), [trigger('job', 'oncall', { facts })])], T0);
          expect((await store.pendingEvents())[0]!.facts).toEqual(stored);
        }));

      it('cuts the details to their bounds as a signal\'s are', () =>
        withStore(async (store) => {
          await store.register(['job'], T0 - 60 * MIN);
          const facts = { ...FAILED, message: 'm'.repeat(MESSAGE_MAX_CHARS + 1), outputTail: 'o'.repeat(OUTPUT_TAIL_MAX_BYTES + 1) };
          await store.applyTransitions([down(await svc(store, 'job'), [trigger('job', 'oncall', { facts })])], T0);
          expect((await store.pendingEvents())[0]!.facts).toMatchObject({ message: 'm'.repeat(MESSAGE_MAX_CHARS), outputTail: 'o'.repeat(OUTPUT_TAIL_MAX_BYTES) });
        }));
    });

    describe('applyTransitions: an up change with resolve-sent-triggers', () => {
      it('enqueues one resolve per target (by name) the incident triggered, with its dedup key and no facts', () =>
        withStore(async (store, db) => {
          await store.register(['job', 'other'], T0 - 60 * MIN);
          // An earlier incident of the same service, already resolved: none of its triggers count.
          await store.applyTransitions([down(await svc(store, 'job'), [trigger('job', 'oncall', { facts: { ...FACTS, downAt: T0 - 30 * MIN } })], T0 - 30 * MIN)], T0 - 30 * MIN);
          await store.applyTransitions([up(await svc(store, 'job'), T0 - 20 * MIN)], T0 - 20 * MIN);
          // The open incident, to two targets; another service's incident to one of them.
          await store.applyTransitions([down(await svc(store, 'job'), [trigger('job', 'oncall'), trigger('job', 'payments')])], T0);
          await store.applyTransitions([down(await svc(store, 'other'), [trigger('other', 'oncall')])], T0);
          const open = await svc(store, 'job');
          const triggers = (await outbox(db)).filter((r) => r.incident_id === open.incidentId);
          expect(triggers.map((r) => r.target)).toEqual(['oncall', 'payments']);

          const now = T0 + 11 * MIN;
          const before = (await counts(db))!;
          expect(await store.applyTransitions([up(open, T0 + 10 * MIN)], now)).toEqual(['job']);

          expect((await counts(db))!).toEqual({ transitions: before.transitions + 1, outbox: before.outbox + 2 });
          const resolves = (await outbox(db)).filter((r) => r.action === 'resolve' && r.incident_id === open.incidentId);
          expect(resolves).toEqual(
            triggers.map((t) => ({
              ...t,
              id: expect.any(Number),
              action: 'resolve',
              down_at: null,
              last_beat_at: null,
              missed_heartbeats: null,
              created_at: now,
              next_attempt_at: now,
              status: 'pending',
              attempts: 0,
            })),
          );
          // No wire format in the database: a resolve's body is built at send time.
          expect((await db.columns('outbox'))).not.toEqual(
            expect.arrayContaining([expect.stringMatching(/^(body|events_url|key_ref)$/)]),
          );
          expect(await svc(store, 'job')).toMatchObject({ incident: null, incidentId: null, version: open.version + 1 });
          expect((await db.rows('SELECT from_state, to_state, at, recorded_at FROM transitions ORDER BY id DESC LIMIT 1'))).toEqual([
            { from_state: 'down', to_state: 'up', at: T0 + 10 * MIN, recorded_at: now },
          ]);
          // The other service's incident is untouched.
          expect(await svc(store, 'other')).toMatchObject({ incident: { downAt: T0 } });
        }));

      it('with a stale version applies nothing and enqueues no resolve', () =>
        withStore(async (store, db) => {
          await store.register(['job'], T0 - 60 * MIN);
          await store.applyTransitions([down(await svc(store, 'job'), [trigger('job', 'oncall')])], T0);
          const seenByB = await svc(store, 'job');
          // Checker A resolves and the service goes down again: still an open incident, a newer version.
          await store.applyTransitions([up(seenByB)], T0 + 10 * MIN);
          await store.applyTransitions([down(await svc(store, 'job'), [trigger('job', 'oncall')], T0 + 20 * MIN)], T0 + 20 * MIN);
          const before = (await counts(db))!;
          const state = await svc(store, 'job');

          expect(await store.applyTransitions([up(seenByB, T0 + 21 * MIN)], T0 + 21 * MIN)).toEqual([]);
          expect((await counts(db))!).toEqual(before);
          expect(await svc(store, 'job')).toEqual(state);
        }));
    });

    describe('pendingEvents, settle, triggerOf, pendingCounts', () => {
      /** Three services down, two targets for the first: four pending triggers. */
      async function fourTriggers(store: Store) {
        await store.register(['a', 'b', 'c'], T0 - 60 * MIN);
        await store.applyTransitions(
          [
            down(await svc(store, 'a'), [trigger('a', 'oncall'), trigger('a', 'payments')]),
            down(await svc(store, 'b'), [trigger('b', 'oncall')]),
            down(await svc(store, 'c'), [trigger('c', 'oncall')]),
          ],
          T0,
        );
        return store.pendingEvents();
      }

      it('pendingEvents returns every pending event in id order, and none that is settled', () =>
        withStore(async (store) => {
          const events = await fourTriggers(store);
          expect(events.map((e) => [e.slug, e.target])).toEqual([
            ['a', 'oncall'],
            ['a', 'payments'],
            ['b', 'oncall'],
            ['c', 'oncall'],
          ]);
          const ids = events.map((e) => e.id);
          expect([...ids].sort((x, y) => x - y)).toEqual(ids);
          await store.settle(ids[1]!, { status: 'delivered', response: '{"status":"success"}' }, T0 + 1);
          await store.applyTransitions([up(await svc(store, 'b'))], T0 + 10 * MIN);
          expect((await store.pendingEvents()).map((e) => [e.slug, e.target, e.action])).toEqual([
            ['a', 'oncall', 'trigger'],
            ['b', 'oncall', 'trigger'],
            ['c', 'oncall', 'trigger'],
            ['b', 'oncall', 'resolve'],
          ]);
        }));

      const NOW = T0 + 5_000;
      it.each<[string, Settlement, Record<string, unknown>, boolean]>([
        [
          'delivered',
          { status: 'delivered', response: '{"status":"success","message":"Event processed"}' },
          { status: 'delivered', attempts: 1, last_error: null, response: '{"status":"success","message":"Event processed"}', next_attempt_at: T0, settled_at: NOW },
          false,
        ],
        [
          'refused (kept pending, marked with the answer and fingerprint)',
          { status: 'refused', error: 'HTTP 400 — Invalid routing key', httpStatus: 400, answer: 'Invalid routing key', fingerprint: '0123456789abcdef' },
          { status: 'pending', attempts: 0, last_error: 'HTTP 400 — Invalid routing key', response: null, next_attempt_at: T0, settled_at: null },
          true,
        ],
        [
          'retry',
          { status: 'retry', error: 'HTTP 503', nextAttemptAt: NOW + 30_000 },
          { status: 'pending', attempts: 1, last_error: 'HTTP 503', response: null, next_attempt_at: NOW + 30_000, settled_at: null },
          true,
        ],
        [
          'skipped',
          { status: 'skipped', error: 'its trigger was rejected' },
          { status: 'skipped', attempts: 0, last_error: 'its trigger was rejected', response: null, next_attempt_at: T0, settled_at: NOW },
          false,
        ],
      ])('settle %s sets status, attempts, next_attempt_at and the error as the outcome says', (_label, outcome, row, stillPending) =>
        withStore(async (store, db) => {
          const [first, second] = await fourTriggers(store);
          await store.settle(first!.id, outcome, NOW);
          expect(
            (await db.rows('SELECT status, attempts, last_error, response, next_attempt_at, settled_at FROM outbox WHERE id = $1', first!.id)),
          ).toEqual([row]);
          const pending = await store.pendingEvents();
          expect(pending.some((e) => e.id === first!.id)).toBe(stillPending);
          if (outcome.status === 'retry') {
            expect(pending.find((e) => e.id === first!.id)).toMatchObject({ status: 'pending', attempts: 1, lastError: 'HTTP 503', nextAttemptAt: NOW + 30_000, refusal: null });
          }
          if (outcome.status === 'refused') {
            expect(pending.find((e) => e.id === first!.id)).toMatchObject({
              status: 'pending',
              refusal: { at: NOW, status: 400, answer: 'Invalid routing key', fingerprint: '0123456789abcdef' },
            });
          }
          // Only that event changed.
          expect((await db.rows('SELECT status, attempts FROM outbox WHERE id = $1', second!.id))).toEqual([{ status: 'pending', attempts: 0 }]);
        }),
      );

      it('retries count up, and once settled an event stays settled', () =>
        withStore(async (store, db) => {
          const [first] = await fourTriggers(store);
          await store.settle(first!.id, { status: 'retry', error: 'HTTP 429', nextAttemptAt: T0 + 1_000 }, T0);
          await store.settle(first!.id, { status: 'retry', error: 'timeout', nextAttemptAt: T0 + 3_000 }, T0 + 1_000);
          await store.settle(first!.id, { status: 'delivered', response: 'ok' }, T0 + 3_000);
          await store.settle(first!.id, { status: 'retry', error: 'late duplicate', nextAttemptAt: T0 + 9_000 }, T0 + 4_000);
          await store.settle(first!.id, { status: 'refused', error: 'late duplicate', httpStatus: 400, answer: 'no', fingerprint: 'f' }, T0 + 4_000);
          expect((await db.rows('SELECT status, attempts, last_error, response, next_attempt_at, settled_at FROM outbox WHERE id = $1', first!.id))).toEqual([
            { status: 'delivered', attempts: 3, last_error: null, response: 'ok', next_attempt_at: T0 + 3_000, settled_at: T0 + 3_000 },
          ]);
        }));

      it('triggerOf tells the status, down time and receipt of the trigger an incident sent to a target', () =>
        withStore(async (store) => {
          const [aOncall, aPayments] = await fourTriggers(store);
          const incident = aOncall!.incidentId;
          const downAt = aOncall!.facts!.downAt;
          const status = async (slug: string, id: number, target: string) => (await store.triggerOf(slug, id, target))?.status ?? null;
          expect(await store.triggerOf('a', incident, 'oncall')).toEqual({ status: 'pending', downAt, receipt: null });
          await store.settle(aOncall!.id, { status: 'delivered', response: 'ok', receipt: '{"channel":"C1","ts":"1.2"}' }, T0 + 1);
          await store.settle(aPayments!.id, { status: 'skipped', error: 'target "payments" is no longer in the config' }, T0 + 1);
          expect(await store.triggerOf('a', incident, 'oncall')).toEqual({ status: 'delivered', downAt, receipt: '{"channel":"C1","ts":"1.2"}' });
          expect(await store.triggerOf('a', incident, 'payments')).toEqual({ status: 'skipped', downAt, receipt: null });
          expect(await status('a', incident, 'nobody')).toBeNull();
          expect(await status('a', incident + 1000, 'oncall')).toBeNull();
          // Another service's row (a forged one, say) never answers for this incident.
          expect(await status('b', incident, 'oncall')).toBeNull();
          // The resolve it causes does not count as the trigger.
          await store.applyTransitions([up(await svc(store, 'a'))], T0 + 10 * MIN);
          expect(await status('a', incident, 'oncall')).toBe('delivered');
        }));

      it('triggerOf reads a planted receipt cut to RECEIPT_MAX_CHARS', () =>
        withStore(async (store, db) => {
          const [aOncall] = await fourTriggers(store);
          await store.settle(aOncall!.id, { status: 'delivered', response: 'ok', receipt: 'r' }, T0 + 1);
          await db.write('UPDATE outbox SET receipt = $1 WHERE id = $2', 'x'.repeat(100_000), aOncall!.id);
          expect((await store.triggerOf('a', aOncall!.incidentId, 'oncall'))!.receipt).toBe('x'.repeat(RECEIPT_MAX_CHARS));
        }));

      it('pendingCounts counts pending events per service', () =>
        withStore(async (store) => {
          expect(await store.pendingCounts()).toEqual(new Map());
          const [aOncall, , b] = await fourTriggers(store);
          expect(await store.pendingCounts()).toEqual(new Map([['a', 2], ['b', 1], ['c', 1]]));
          await store.settle(aOncall!.id, { status: 'delivered', response: 'ok' }, T0 + 1);
          await store.settle(b!.id, { status: 'retry', error: 'HTTP 500', nextAttemptAt: T0 + 60_000 }, T0 + 1);
          await store.applyTransitions([up(await svc(store, 'c'))], T0 + 10 * MIN);
          expect(await store.pendingCounts()).toEqual(new Map([['a', 1], ['b', 1], ['c', 2]]));
        }));

      it('[ecosystem] targetDeliveries counts pending and refused events per target asked for, and nothing of a target not asked for', () =>
        withStore(async (store) => {
          expect(await store.targetDeliveries(['oncall'])).toEqual(new Map());
          const [aOncall, , b] = await fourTriggers(store);
          await store.settle(aOncall!.id, { status: 'delivered', response: 'ok' }, T0 + 1);
          await store.settle(b!.id, { status: 'refused', error: 'HTTP 400 — Invalid routing key', httpStatus: 400, answer: 'Invalid routing key', fingerprint: 'f' }, T0 + 1);
          expect(await store.targetDeliveries(['oncall', 'payments', 'nobody'])).toEqual(
            new Map([
              ['oncall', { pending: 2, refused: 1 }],
              ['payments', { pending: 1, refused: 0 }],
            ]),
          );
          expect(await store.targetDeliveries(['payments'])).toEqual(new Map([['payments', { pending: 1, refused: 0 }]]));
          expect(await store.targetDeliveries([])).toEqual(new Map());
        }));
    });

    describe('refusals and deliveryStates', () => {
      it('a refusal keeps the event pending and marked; a later retry outcome clears the mark', () =>
        withStore(async (store, db) => {
          await store.register(['job'], T0 - 60 * MIN);
          await store.applyTransitions([down(await svc(store, 'job'), [trigger('job', 'oncall')])], T0);
          const [event] = await store.pendingEvents();
          await store.settle(event!.id, { status: 'refused', error: 'HTTP 404 — not found', httpStatus: 404, answer: 'not found', fingerprint: 'aaaa' }, T0 + 1);
          expect((await store.pendingEvents())[0]).toMatchObject({ id: event!.id, refusal: { at: T0 + 1, status: 404, answer: 'not found', fingerprint: 'aaaa' } });
          // The delivery log shows it the way history always has.
          expect((await db.rows('SELECT outcome, detail FROM deliveries'))).toEqual([{ outcome: 'rejected', detail: 'HTTP 404 — not found' }]);
          await store.settle(event!.id, { status: 'retry', error: 'HTTP 500', nextAttemptAt: T0 + 2 }, T0 + 2);
          expect((await store.pendingEvents())[0]).toMatchObject({ id: event!.id, refusal: null, lastError: 'HTTP 500' });
        }));

      it('deliveryStates tells, per service, what is pending, refused, and whether the open incident reached PagerDuty', () =>
        withStore(async (store) => {
          await store.register(['sent', 'queued', 'refused', 'dropped', 'quiet'], T0 - 60 * MIN);
          for (const slug of ['sent', 'queued', 'refused', 'dropped']) {
            await store.applyTransitions([down(await svc(store, slug), [trigger(slug, 'oncall')])], T0);
          }
          const bySlug = new Map((await store.pendingEvents()).map((e) => [e.slug, e]));
          await store.settle(bySlug.get('sent')!.id, { status: 'delivered', response: '{}' }, T0 + 1);
          await store.settle(bySlug.get('queued')!.id, { status: 'retry', error: 'HTTP 503', nextAttemptAt: T0 + 60_000 }, T0 + 1);
          await store.settle(bySlug.get('refused')!.id, { status: 'refused', error: 'HTTP 403 — forbidden', httpStatus: 403, answer: 'forbidden', fingerprint: 'f' }, T0 + 1);
          await store.settle(bySlug.get('dropped')!.id, { status: 'skipped', error: 'target gone' }, T0 + 1);

          const states = await store.deliveryStates();
          expect(states.get('quiet')).toBeUndefined();
          expect(states.get('sent')).toEqual({ pending: 0, refusedCount: 0, refused: null, lastError: null, openIncident: { delivered: 1, dropped: 0 } });
          expect(states.get('queued')).toEqual({
            pending: 1,
            refusedCount: 0,
            refused: null,
            lastError: { target: 'oncall', action: 'trigger', error: 'HTTP 503' },
            openIncident: { delivered: 0, dropped: 0 },
          });
          expect(states.get('refused')).toEqual({
            pending: 1,
            refusedCount: 1,
            refused: { target: 'oncall', action: 'trigger', refusal: { at: T0 + 1, status: 403, answer: 'forbidden', fingerprint: 'f' } },
            lastError: { target: 'oncall', action: 'trigger', error: 'HTTP 403 — forbidden' },
            openIncident: { delivered: 0, dropped: 0 },
          });
          expect(states.get('dropped')).toEqual({ pending: 0, refusedCount: 0, refused: null, lastError: null, openIncident: { delivered: 0, dropped: 1 } });
        }));
    });
  });
}
