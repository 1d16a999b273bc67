/**
 * The store contract: what every Store must do, written against the `Store` interface only (no
 * SQL, no files), so a second implementation (PostgreSQL) runs the same suite with its own fixture.
 * The outbox methods (applyTransitions, pendingEvents, settle, ...) have their own suite.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { isMedicError } from '../../src/errors.js';
import { MESSAGE_MAX_CHARS, OUTPUT_TAIL_MAX_BYTES } from '../../src/core/signal.js';
import { SCHEMA_VERSION } from '../../src/store/migrations.js';
import type { BeatInput, OpenOptions, Store } from '../../src/store/types.js';

/** One fresh store, nothing written to it yet: each `open` is one more handle on that same store (another process). */
export interface StoreFixture {
  open(opts?: OpenOptions): Promise<Store>;
}

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.parse('2026-11-26T12:00:00Z');
const LEASE = 2 * MIN;
const A = '100@host-a';
const B = '200@host-b';

/** Registers the contract's tests; `fresh` is called inside each test (it may make temp files then). */
export function storeContract(name: string, fresh: () => StoreFixture | Promise<StoreFixture>): void {
  /** A fresh store and a way to open handles on it, each closed when the test finishes. */
  async function setUp(): Promise<{ store: Store; open: (opts?: OpenOptions) => Promise<Store> }> {
    const fixture = await fresh();
    const open = async (opts?: OpenOptions) => {
      const store = await fixture.open(opts);
      onTestFinished(() => store.close().catch(() => {}));
      return store;
    };
    return { store: await open(), open };
  }

  async function service(store: Store, slug: string) {
    return (await store.services()).find((s) => s.slug === slug);
  }

  /** The MedicError a promise rejects with (fails the test if it resolves). */
  async function rejection(p: Promise<unknown>): Promise<{ exitCode: number; message: string }> {
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(isMedicError(err), String(err)).toBe(true);
    return err as { exitCode: number; message: string };
  }

  describe(`Store contract: ${name}`, () => {
    describe('opening', () => {
      it('a new store has the current schema version, seen from every handle', async () => {
        const { store, open } = await setUp();
        expect(await store.schemaVersion()).toBe(SCHEMA_VERSION);
        expect(await (await open()).schemaVersion()).toBe(SCHEMA_VERSION);
      });

      it('a new store is empty: no services, no last check, no gap', async () => {
        const { store } = await setUp();
        expect(await store.services()).toEqual([]);
        expect(await store.lastCheckAt()).toBeNull();
        expect(await store.lastGap()).toBeNull();
      });

      it('read-only before anything was written: reads as empty, probe says it does not exist, writes reject (74), and the store stays uncreated', async () => {
        const fixture = await fresh();
        const ro = await fixture.open({ readOnly: true });
        try {
          expect(await ro.services()).toEqual([]);
          expect(await ro.lastCheckAt()).toBeNull();
          expect(await ro.probe()).toEqual({ exists: false });
          expect((await rejection(ro.recordBeat('job', T0))).exitCode).toBe(74);
        } finally {
          await ro.close();
        }
        const again = await fixture.open({ readOnly: true });
        try {
          expect(await again.probe()).toEqual({ exists: false });
        } finally {
          await again.close();
        }
      });

      it('read-only on a written store: sees what was written, and writes reject (74) without changing it', async () => {
        const { store, open } = await setUp();
        await store.recordBeat('job', T0);
        const ro = await open({ readOnly: true });
        expect((await ro.services()).map((s) => [s.slug, s.lastBeatAt])).toEqual([['job', T0]]);
        expect((await rejection(ro.recordBeat('job', T0 + MIN))).exitCode).toBe(74);
        expect((await rejection(ro.acquireLock(A, T0, LEASE))).exitCode).toBe(74);
        expect((await service(store, 'job'))?.beatSeq).toBe(1);
      });
    });

    describe('probe', () => {
      it('says a written store exists and is writable, and changes nothing to learn it', async () => {
        const { store, open } = await setUp();
        await store.recordBeat('job', T0);
        await store.acquireLock(A, T0, LEASE);
        await store.releaseLock(A, T0 + 1000);
        const before = { services: await store.services(), last: await store.lastCheckAt(), history: await store.history('job', 0, T0 + HOUR) };
        expect(await store.probe()).toEqual({ exists: true });
        expect(await (await open({ readOnly: true })).probe()).toEqual({ exists: true });
        expect({ services: await store.services(), last: await store.lastCheckAt(), history: await store.history('job', 0, T0 + HOUR) }).toEqual(before);
        expect(await store.schemaVersion()).toBe(SCHEMA_VERSION);
        // The lock is free: the probe took nothing.
        expect(await store.acquireLock(B, T0 + 2000, LEASE)).toEqual({ acquired: true, holder: B });
      });
    });

    describe('beats', () => {
      it('recordBeat sets lastBeatAt and counts beats in beatSeq', async () => {
        const { store } = await setUp();
        await store.register(['job'], T0 - HOUR);
        await store.recordBeat('job', T0);
        expect(await service(store, 'job')).toMatchObject({ registeredAt: T0 - HOUR, lastBeatAt: T0, beatSeq: 1 });
        await store.recordBeat('job', T0 + 5 * MIN);
        expect(await service(store, 'job')).toMatchObject({ lastBeatAt: T0 + 5 * MIN, beatSeq: 2 });
      });

      it('the latest beat written wins even when its time is earlier (the clock stepped back)', async () => {
        const { store } = await setUp();
        await store.recordBeat('job', T0);
        await store.recordBeat('job', T0 - 2 * MIN);
        expect(await service(store, 'job')).toMatchObject({ lastBeatAt: T0 - 2 * MIN, beatSeq: 2 });
      });

      it('a beat for a service never seen registers it at the beat, with nothing else set', async () => {
        const { store } = await setUp();
        await store.recordBeat('fresh', T0);
        expect(await service(store, 'fresh')).toEqual({
          slug: 'fresh',
          registeredAt: T0,
          lastBeatAt: T0,
          beatSeq: 1,
          resetAt: null,
          pause: null,
          incident: null,
          failure: null,
          runStartedAt: null,
          incidentId: null,
          version: 0,
        });
      });

      it('a beat touches only its own service', async () => {
        const { store } = await setUp();
        await store.register(['a', 'b'], T0);
        await store.recordBeat('a', T0 + MIN);
        expect(await service(store, 'b')).toMatchObject({ lastBeatAt: null, beatSeq: 0, registeredAt: T0 });
      });

      it('a beat is there for every other handle once recordBeat resolves', async () => {
        const { store, open } = await setUp();
        const other = await open();
        await store.recordBeat('job', T0);
        expect(await service(other, 'job')).toMatchObject({ lastBeatAt: T0, beatSeq: 1 });
      });

      it('beats from several handles at once are all counted', async () => {
        const { store, open } = await setUp();
        const handles = [store, await open(), await open()];
        await Promise.all(Array.from({ length: 30 }, (_, i) => handles[i % 3]!.recordBeat('job', T0 + i)));
        expect(await service(store, 'job')).toMatchObject({ beatSeq: 30 });
        expect((await store.history('job', T0, T0 + HOUR)).beats).toHaveLength(30);
      });
    });

    describe('signals: start, fail, and successes with details', () => {
      it('start registers a service it has not seen and arms its run; it is no success (no last beat, no beat counted)', async () => {
        const { store } = await setUp();
        await store.recordBeat('job', T0, { kind: 'start' });
        expect(await service(store, 'job')).toMatchObject({ registeredAt: T0, lastBeatAt: null, beatSeq: 0, runStartedAt: T0, failure: null });
      });

      it('start on a service that beat before leaves its last beat, its count and a standing failure alone', async () => {
        const { store } = await setUp();
        await store.recordBeat('job', T0);
        await store.recordBeat('job', T0 + MIN, { kind: 'fail', exitCode: 1 });
        await store.recordBeat('job', T0 + 2 * MIN, { kind: 'start' });
        expect(await service(store, 'job')).toMatchObject({ lastBeatAt: T0, beatSeq: 1, runStartedAt: T0 + 2 * MIN, failure: { kind: 'fail', at: T0 + MIN, exitCode: 1 } });
      });

      it('a second start before the run ended keeps the first: the earliest start no end followed counts', async () => {
        const { store } = await setUp();
        const DAY = 24 * HOUR;
        await store.recordBeat('job', T0, { kind: 'start' });
        await store.recordBeat('job', T0 + DAY, { kind: 'start' });
        expect(await service(store, 'job')).toMatchObject({ runStartedAt: T0, lastBeatAt: null });
        await store.recordBeat('job', T0 + DAY + MIN);
        await store.recordBeat('job', T0 + 2 * DAY, { kind: 'start' });
        expect(await service(store, 'job')).toMatchObject({ runStartedAt: T0 + 2 * DAY, lastBeatAt: T0 + DAY + MIN });
      });

      it('fail keeps the whole signal on the service and ends the started run; it is no success', async () => {
        const { store } = await setUp();
        await store.recordBeat('job', T0);
        await store.recordBeat('job', T0 + MIN, { kind: 'start' });
        await store.recordBeat('job', T0 + 3 * MIN, { kind: 'fail', exitCode: 3, durationMs: 125_000, message: 'disk full', outputTail: 'rsync: write failed\n' });
        expect(await service(store, 'job')).toMatchObject({
          lastBeatAt: T0,
          beatSeq: 1,
          runStartedAt: null,
          failure: { kind: 'fail', at: T0 + 3 * MIN, exitCode: 3, durationMs: 125_000, message: 'disk full', outputTail: 'rsync: write failed\n' },
        });
      });

      it('fail without details, on a service never seen, registers it with the bare failure', async () => {
        const { store } = await setUp();
        await store.recordBeat('job', T0, { kind: 'fail' });
        expect(await service(store, 'job')).toMatchObject({
          registeredAt: T0,
          lastBeatAt: null,
          beatSeq: 0,
          failure: { kind: 'fail', at: T0, exitCode: null, durationMs: null, message: null, outputTail: null },
        });
      });

      it('a later failure replaces the earlier one', async () => {
        const { store } = await setUp();
        await store.recordBeat('job', T0, { kind: 'fail', message: 'first' });
        await store.recordBeat('job', T0 + MIN, { kind: 'fail', exitCode: 2 });
        expect((await service(store, 'job'))?.failure).toEqual({ kind: 'fail', at: T0 + MIN, exitCode: 2, durationMs: null, message: null, outputTail: null });
      });

      it.each([
        ['a plain beat', undefined],
        ['an ok signal', { kind: 'ok' as const }],
        ['an ok signal with details', { kind: 'ok' as const, exitCode: 0, durationMs: 4000, message: 'deployed v2' }],
      ])('%s is a success: counts, sets the last beat, clears the failure and the started run', async (_label, signal) => {
        const { store } = await setUp();
        await store.recordBeat('job', T0, { kind: 'fail', exitCode: 1 });
        await store.recordBeat('job', T0 + MIN, { kind: 'start' });
        await store.recordBeat('job', T0 + 2 * MIN, signal);
        expect(await service(store, 'job')).toMatchObject({ lastBeatAt: T0 + 2 * MIN, beatSeq: 1, failure: null, runStartedAt: null });
      });

      it('history: beats are the successes only; signals are the starts, failures and successes with details, oldest first', async () => {
        const { store } = await setUp();
        await store.recordBeat('job', T0 + 5 * MIN, { kind: 'fail', exitCode: 3, durationMs: 60_000, message: 'boom', outputTail: 'out' });
        await store.recordBeat('job', T0, { kind: 'start' });
        await store.recordBeat('job', T0 + MIN);
        await store.recordBeat('job', T0 + 2 * MIN, { kind: 'ok' });
        await store.recordBeat('job', T0 + 3 * MIN, { kind: 'ok', message: 'deployed' });
        await store.recordBeat('other', T0 + 4 * MIN, { kind: 'fail' });
        const h = await store.history('job', 0, T0 + HOUR);
        expect(h.beats).toEqual([T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN]);
        expect(h.signals).toEqual([
          { kind: 'start', at: T0, exitCode: null, durationMs: null, message: null, outputTail: null },
          { kind: 'ok', at: T0 + 3 * MIN, exitCode: null, durationMs: null, message: 'deployed', outputTail: null },
          { kind: 'fail', at: T0 + 5 * MIN, exitCode: 3, durationMs: 60_000, message: 'boom', outputTail: 'out' },
        ]);
        expect((await store.history('job', T0 + 4 * MIN, T0 + HOUR)).signals.map((x) => x.kind)).toEqual(['fail']);
      });

      it('details are cut to their bounds, never refused: the message\'s first characters, the output\'s last bytes', async () => {
        const { store } = await setUp();
        const output = `${'x'.repeat(1024 * 1024)}THE END`;
        await store.recordBeat('job', T0, { kind: 'fail', message: 'm'.repeat(MESSAGE_MAX_CHARS + 500), outputTail: output });
        const failure = (await service(store, 'job'))!.failure!;
        expect(failure.message).toBe('m'.repeat(MESSAGE_MAX_CHARS));
        expect(Buffer.byteLength(failure.outputTail!)).toBe(OUTPUT_TAIL_MAX_BYTES);
        expect(output.endsWith(failure.outputTail!)).toBe(true);
        expect((await store.history('job', 0, T0)).signals[0]).toEqual(failure);
      });

      it('the output is cut at a character boundary: a character the cut falls inside is dropped whole', async () => {
        const { store } = await setUp();
        // '€' is 3 bytes: the bound falls after its first byte.
        const output = `€${'a'.repeat(OUTPUT_TAIL_MAX_BYTES - 2)}`;
        await store.recordBeat('job', T0, { kind: 'fail', outputTail: output });
        expect((await service(store, 'job'))!.failure!.outputTail).toBe('a'.repeat(OUTPUT_TAIL_MAX_BYTES - 2));
      });

      it('text that is no valid UTF-8 (a lone surrogate) is kept with U+FFFD in its place; control characters and NUL are kept as they are', async () => {
        const { store } = await setUp();
        await store.recordBeat('job', T0, { kind: 'fail', message: 'bad \ud800 half', outputTail: 'esc \u001b[31m nul \u0000 end' });
        expect((await service(store, 'job'))!.failure).toMatchObject({ message: 'bad \ufffd half', outputTail: 'esc \u001b[31m nul \u0000 end' });
      });

      it.each([
        ['a fractional exit code', { exitCode: 1.5 }, { exitCode: null }],
        ['a negative duration', { durationMs: -5 }, { durationMs: 0 }],
        ['a fractional duration', { durationMs: 1234.6 }, { durationMs: 1235 }],
        ['a duration that is no number', { durationMs: Number.NaN }, { durationMs: null }],
        ['an empty message and output', { message: '', outputTail: '' }, { message: null, outputTail: null }],
      ])('%s is stored as the bound allows', async (_label, details, stored) => {
        const { store } = await setUp();
        await store.recordBeat('job', T0, { kind: 'fail', ...details });
        expect((await service(store, 'job'))!.failure).toMatchObject(stored);
      });

      it('prune deletes old signals with the beats, but the service keeps its failure', async () => {
        const { store } = await setUp();
        await store.recordBeat('job', T0, { kind: 'fail', exitCode: 2, message: 'old' });
        expect(await store.prune(T0 + MIN, 0)).toBe(1);
        expect((await store.history('job', 0, T0 + HOUR)).signals).toEqual([]);
        expect((await service(store, 'job'))!.failure).toMatchObject({ at: T0, exitCode: 2, message: 'old' });
      });

      it('history gives the pauses that overlap the range, each with its own end and when a resume or a later pause ended it, and the resets', async () => {
        const { store } = await setUp();
        await store.register(['job'], T0);
        await store.pause(['job'], T0 + MIN, T0 + 10 * MIN, null, 'paused for 9m');
        await store.pause(['job'], T0 + 20 * MIN, null, 'disk swap', 'paused until resumed: disk swap');
        await store.resume(['job'], T0 + 30 * MIN);
        await store.recordGap(['job'], T0 + 40 * MIN, T0 + 50 * MIN, 'gap');
        await store.pause(['job'], T0 + 55 * MIN, T0 + 2 * HOUR, null, 'paused for 65m');
        const h = await store.history('job', T0, T0 + HOUR);
        expect(h.pauses).toEqual([
          { since: T0 + MIN, until: T0 + 10 * MIN, endedAt: T0 + 20 * MIN },
          { since: T0 + 20 * MIN, until: null, endedAt: T0 + 30 * MIN },
          { since: T0 + 55 * MIN, until: T0 + 2 * HOUR, endedAt: null },
        ]);
        expect(h.resets).toEqual([T0 + 30 * MIN, T0 + 50 * MIN]);
        // A range after the first two pauses ended: only the one still running.
        expect((await store.history('job', T0 + 31 * MIN, T0 + HOUR)).pauses).toEqual([{ since: T0 + 55 * MIN, until: T0 + 2 * HOUR, endedAt: null }]);
      });

      it('a running pause whose record was pruned still comes from the service', async () => {
        const { store } = await setUp();
        await store.pause(['job'], T0, null, null, 'paused until resumed');
        expect(await store.prune(0, T0 + MIN)).toBe(1);
        expect((await store.history('job', T0 + HOUR, T0 + 2 * HOUR)).pauses).toEqual([{ since: T0, until: null, endedAt: null }]);
      });
    });

    describe('register and forget', () => {
      it('register adds services seen for the first time and leaves known ones alone', async () => {
        const { store } = await setUp();
        await store.register(['a'], T0);
        await store.recordBeat('a', T0 + MIN);
        await store.register(['a', 'b'], T0 + 2 * MIN);
        expect(await service(store, 'a')).toMatchObject({ registeredAt: T0, lastBeatAt: T0 + MIN, beatSeq: 1 });
        expect(await service(store, 'b')).toMatchObject({ registeredAt: T0 + 2 * MIN, lastBeatAt: null, beatSeq: 0, incident: null });
      });

      it('forget drops the live state of services without an open incident, keeps their history, and a comeback starts afresh', async () => {
        const { store } = await setUp();
        await store.register(['gone', 'kept'], T0);
        await store.recordBeat('gone', T0 + MIN);
        await store.forget(['gone']);
        expect((await store.services()).map((s) => s.slug)).toEqual(['kept']);
        expect((await store.history('gone', T0, T0 + HOUR)).beats).toEqual([T0 + MIN]);
        await store.register(['gone'], T0 + HOUR);
        expect(await service(store, 'gone')).toMatchObject({ registeredAt: T0 + HOUR, lastBeatAt: null, beatSeq: 0 });
      });
    });

    describe('pause and resume', () => {
      it('pause mutes until resumed, keeps the reason, bumps the version and records the caller\'s line in history', async () => {
        const { store } = await setUp();
        await store.register(['job'], T0);
        const version = (await service(store, 'job'))!.version;
        expect(await store.pause(['job'], T0 + MIN, null, 'disk swap', 'paused until resumed: disk swap')).toEqual(['job']);
        expect(await service(store, 'job')).toMatchObject({ pause: { since: T0 + MIN, until: null, reason: 'disk swap' }, version: version + 1 });
        expect((await store.history('job', T0, T0 + HOUR)).transitions).toEqual([
          { at: T0 + MIN, recordedAt: T0 + MIN, from: '', to: 'paused', reason: 'paused until resumed: disk swap' },
        ]);
      });

      it('pause registers a service it has not seen, and takes an end time and no reason', async () => {
        const { store } = await setUp();
        await store.pause(['new-job'], T0, T0 + HOUR, null, 'paused for 1h');
        expect(await service(store, 'new-job')).toMatchObject({ registeredAt: T0, pause: { since: T0, until: T0 + HOUR, reason: null } });
      });

      it('resume ends the pause, restarts the clock at now, records it, and returns only the services that were paused', async () => {
        const { store } = await setUp();
        await store.register(['a', 'b'], T0);
        await store.pause(['a'], T0, null, null, 'paused until resumed');
        expect(await store.resume(['a', 'b'], T0 + HOUR)).toEqual(['a']);
        expect(await service(store, 'a')).toMatchObject({ pause: null, resetAt: T0 + HOUR });
        expect(await service(store, 'b')).toMatchObject({ pause: null, resetAt: null });
        expect((await store.history('a', T0, T0 + HOUR)).transitions.map((t) => [t.at, t.to])).toEqual([
          [T0, 'paused'],
          [T0 + HOUR, 'resumed'],
        ]);
        expect(await store.resume(['a'], T0 + 2 * HOUR)).toEqual([]);
      });

      it.each([
        ['ended before now', T0 + HOUR - 1, []],
        ['ending exactly now', T0 + HOUR, []],
        ['still running', T0 + HOUR + 1, ['job']],
      ])('resume of a pause %s', async (_label, until, resumed) => {
        const { store } = await setUp();
        await store.pause(['job'], T0, until, null, 'paused');
        expect(await store.resume(['job'], T0 + HOUR)).toEqual(resumed);
      });
    });

    describe('checker gap', () => {
      it('recordGap restarts the clock of the named services at the gap\'s end, records the caller\'s line, and is remembered', async () => {
        const { store } = await setUp();
        await store.register(['a', 'b'], T0);
        const versionA = (await service(store, 'a'))!.version;
        await store.recordGap(['a'], T0 + HOUR, T0 + 3 * HOUR, 'medic check was not running; deadline restarted');
        expect(await service(store, 'a')).toMatchObject({ resetAt: T0 + 3 * HOUR, version: versionA + 1 });
        expect(await service(store, 'b')).toMatchObject({ resetAt: null });
        expect(await store.lastGap()).toEqual({ from: T0 + HOUR, to: T0 + 3 * HOUR });
        expect((await store.history('a', T0, T0 + 4 * HOUR)).transitions).toEqual([
          { at: T0 + 3 * HOUR, recordedAt: T0 + 3 * HOUR, from: '', to: 'unknown', reason: 'medic check was not running; deadline restarted' },
        ]);
        expect((await store.history('b', T0, T0 + 4 * HOUR)).transitions).toEqual([]);
      });

      it('a gap with no service affected is still remembered; the latest gap wins', async () => {
        const { store } = await setUp();
        await store.recordGap([], T0, T0 + HOUR, 'x');
        await store.recordGap([], T0 + 2 * HOUR, T0 + 5 * HOUR, 'y');
        expect(await store.lastGap()).toEqual({ from: T0 + 2 * HOUR, to: T0 + 5 * HOUR });
      });
    });

    describe('the checker lock', () => {
      it('A takes the free lock; B is refused while the lease is live and learns the holder', async () => {
        const { store } = await setUp();
        expect(await store.acquireLock(A, T0, LEASE)).toEqual({ acquired: true, holder: A });
        expect(await store.acquireLock(B, T0 + 1, LEASE)).toEqual({ acquired: false, holder: A });
        expect(await store.acquireLock(B, T0 + LEASE - 1, LEASE)).toEqual({ acquired: false, holder: A });
      });

      it('B takes the lock once the lease has run out (the lease ends at its last millisecond)', async () => {
        const { store } = await setUp();
        await store.acquireLock(A, T0, LEASE);
        expect(await store.acquireLock(B, T0 + LEASE, LEASE)).toEqual({ acquired: true, holder: B });
        expect(await store.acquireLock(A, T0 + LEASE + 1, LEASE)).toEqual({ acquired: false, holder: B });
      });

      it('a lease ending more than a lease beyond any taken now (planted, or the clock stepped back) counts as run out', async () => {
        const { store } = await setUp();
        await store.acquireLock(A, T0 + 10 * LEASE, LEASE);
        expect(await store.acquireLock(B, T0, LEASE)).toEqual({ acquired: true, holder: B });
        expect(await store.acquireLock(A, T0 + 1, LEASE)).toEqual({ acquired: false, holder: B });
      });

      it('a live lease taken by a clock a little ahead is still live (checkers started together)', async () => {
        const { store } = await setUp();
        await store.acquireLock(A, T0 + 5_000, LEASE);
        expect(await store.acquireLock(B, T0, LEASE)).toEqual({ acquired: false, holder: A });
      });

      it('takeOverFrom names the holder: B takes a live lease over from A, not from someone else', async () => {
        const { store } = await setUp();
        await store.acquireLock(A, T0, LEASE);
        expect(await store.acquireLock(B, T0 + 1, LEASE, '300@host-c')).toEqual({ acquired: false, holder: A });
        expect(await store.acquireLock(B, T0 + 1, LEASE, A)).toEqual({ acquired: true, holder: B });
        expect(await store.acquireLock('300@host-c', T0 + 2, LEASE)).toEqual({ acquired: false, holder: B });
      });

      it('releaseLock frees the lock and records lastCheckAt', async () => {
        const { store } = await setUp();
        await store.acquireLock(A, T0, LEASE);
        await store.releaseLock(A, T0 + 5_000);
        expect(await store.lastCheckAt()).toBe(T0 + 5_000);
        expect(await store.acquireLock(B, T0 + 6_000, LEASE)).toEqual({ acquired: true, holder: B });
      });

      it('a checker whose lock was taken over can neither release the new holder\'s lock nor move lastCheckAt', async () => {
        const { store } = await setUp();
        await store.acquireLock(A, T0, LEASE);
        await store.acquireLock(B, T0 + 1, LEASE, A);
        await store.releaseLock(A, T0 + 2);
        expect(await store.lastCheckAt()).toBeNull();
        expect(await store.acquireLock('300@host-c', T0 + 3, LEASE)).toEqual({ acquired: false, holder: B });
      });

      it('[ecosystem] lastCheckDurationMs: from taking the lock to releasing it; a renewal keeps the start, a take-over starts anew', async () => {
        const { store, open } = await setUp();
        expect(await store.lastCheckDurationMs()).toBeNull();
        await store.acquireLock(A, T0, LEASE);
        // Renewed by its own holder (as medic migrate does): still the run that started at T0.
        expect(await store.acquireLock(A, T0 + 1_000, LEASE, A)).toEqual({ acquired: true, holder: A });
        expect(await store.lastCheckDurationMs()).toBeNull();
        await store.releaseLock(A, T0 + 4_500);
        expect(await store.lastCheckDurationMs()).toBe(4_500);
        expect(await (await open({ readOnly: true })).lastCheckDurationMs()).toBe(4_500);
        // A run taken over from a gone holder counts from the take-over.
        await store.acquireLock(A, T0 + 10_000, LEASE);
        await store.acquireLock(B, T0 + 11_000, LEASE, A);
        await store.releaseLock(A, T0 + 11_500);
        expect(await store.lastCheckDurationMs()).toBe(4_500);
        await store.releaseLock(B, T0 + 12_000);
        expect(await store.lastCheckDurationMs()).toBe(1_000);
        // A check that could not evaluate moves lastCheckAt: the duration of an older run no longer applies.
        await store.noteCheckAttempt(T0 + 70_000);
        expect(await store.lastCheckAt()).toBe(T0 + 70_000);
        expect(await store.lastCheckDurationMs()).toBeNull();
      });

      it('the lock is shared between handles, and only one of many racing checkers gets it', async () => {
        const { store, open } = await setUp();
        const handles = [store, await open(), await open(), await open()];
        const results = await Promise.all(handles.map((h, i) => h.acquireLock(`${i}@host`, T0, LEASE)));
        const winners = results.filter((r) => r.acquired);
        expect(winners).toHaveLength(1);
        for (const r of results) expect(r.holder).toBe(winners[0]!.holder);
      });
    });

    describe('[scale] recordBeats (group commit), run ids, logs, the store clock', () => {
      it('records many beats in one call, in order, each by recordBeat\'s rules', async () => {
        const { store } = await setUp();
        await store.recordBeats([
          { slug: 'a', at: T0 },
          { slug: 'b', at: T0 + 1, kind: 'start' },
          { slug: 'a', at: T0 + 2 },
          { slug: 'c', at: T0 + 3, kind: 'fail', details: { exitCode: 2 } },
        ]);
        expect(await service(store, 'a')).toMatchObject({ lastBeatAt: T0 + 2, beatSeq: 2 });
        expect(await service(store, 'b')).toMatchObject({ lastBeatAt: null, runStartedAt: T0 + 1 });
        expect((await service(store, 'c'))?.failure).toMatchObject({ at: T0 + 3, exitCode: 2 });
      });

      it('an empty batch is fine; a beat without a time gets the store\'s clock (its own, or this process\'s)', async () => {
        const { store } = await setUp();
        await store.recordBeats([]);
        const clock = await store.clock();
        const before = clock ?? Date.now();
        await store.recordBeats([{ slug: 'a' }]);
        const after = (await store.clock()) ?? Date.now();
        const at = (await service(store, 'a'))!.lastBeatAt!;
        expect(at).toBeGreaterThanOrEqual(before - 1000);
        expect(at).toBeLessThanOrEqual(after + 1000);
      });

      it('an end with a run id gets the time since the start with the same run id as its duration, unless it gives one', async () => {
        const { store } = await setUp();
        const rid = '0b5f1c1e-3a7e-4c1b-9d55-2f6f0c1d2e3f';
        await store.recordBeats([{ slug: 'a', at: T0, kind: 'start', runId: rid }]);
        await store.recordBeats([{ slug: 'a', at: T0 + 5 * MIN, kind: 'start', runId: 'other' }]);
        await store.recordBeats([{ slug: 'a', at: T0 + 7 * MIN, kind: 'fail', runId: rid, details: { exitCode: 1 } }]);
        expect((await service(store, 'a'))?.failure).toMatchObject({ exitCode: 1, durationMs: 7 * MIN });
        await store.recordBeats([{ slug: 'a', at: T0 + 8 * MIN, runId: 'other', details: { durationMs: 5 } }]);
        await store.recordBeats([{ slug: 'a', at: T0 + 9 * MIN, runId: 'never-started' }]);
        const h = await store.history('a', T0, T0 + HOUR);
        expect(h.signals.map((x) => [x.kind, x.durationMs ?? null])).toEqual([
          ['start', null],
          ['start', null],
          ['fail', 7 * MIN],
          ['ok', 5],
        ]);
        expect(h.beats).toEqual([T0 + 8 * MIN, T0 + 9 * MIN]);
      });

      it('a log line is kept for history only: no state changes, no service registered', async () => {
        const { store } = await setUp();
        await store.recordBeats([{ slug: 'a', at: T0, kind: 'log', details: { message: 'disk at 91%' } }]);
        expect(await store.services()).toEqual([]);
        await store.recordBeat('a', T0 + 1);
        await store.recordBeats([{ slug: 'a', at: T0 + 2, kind: 'log', details: { message: 'm'.repeat(MESSAGE_MAX_CHARS + 10) } }]);
        expect(await service(store, 'a')).toMatchObject({ lastBeatAt: T0 + 1, beatSeq: 1 });
        const h = await store.history('a', T0, T0 + HOUR);
        expect(h.logs).toEqual([
          { at: T0, message: 'disk at 91%' },
          { at: T0 + 2, message: 'm'.repeat(MESSAGE_MAX_CHARS) },
        ]);
        expect(h.beats).toEqual([T0 + 1]);
        await store.prune(T0 + 1, T0);
        expect((await store.history('a', T0, T0 + HOUR)).logs).toEqual([{ at: T0 + 2, message: 'm'.repeat(MESSAGE_MAX_CHARS) }]);
      });

      // Each service's state after a batch is what its beats would make one at a time, in batch order.
      // Before the batch: a success at P (beatSeq 1) and a run started at P + 1 that no end followed.
      const P = T0 - HOUR;
      const rid = 'run-7';
      it.each<{ name: string; batch: BeatInput[]; state: { lastBeatAt: number; beatSeq: number; runStartedAt: number | null }; failure: { at: number; exitCode: number | null; durationMs: number | null } | null }>([
        { name: 'ok then fail', batch: [{ slug: 's', at: T0 }, { slug: 's', at: T0 + 1, kind: 'fail', details: { exitCode: 3 } }], state: { lastBeatAt: T0, beatSeq: 2, runStartedAt: null }, failure: { at: T0 + 1, exitCode: 3, durationMs: null } },
        { name: 'fail then ok', batch: [{ slug: 's', at: T0, kind: 'fail', details: { exitCode: 3 } }, { slug: 's', at: T0 + 1 }], state: { lastBeatAt: T0 + 1, beatSeq: 2, runStartedAt: null }, failure: null },
        { name: 'start, start, ok', batch: [{ slug: 's', at: T0, kind: 'start' }, { slug: 's', at: T0 + 1, kind: 'start' }, { slug: 's', at: T0 + 2 }], state: { lastBeatAt: T0 + 2, beatSeq: 2, runStartedAt: null }, failure: null },
        { name: 'start, start (the standing start stays)', batch: [{ slug: 's', at: T0, kind: 'start' }, { slug: 's', at: T0 + 1, kind: 'start' }], state: { lastBeatAt: P, beatSeq: 1, runStartedAt: P + 1 }, failure: null },
        { name: 'ok, start, start (the first start after the end)', batch: [{ slug: 's', at: T0 }, { slug: 's', at: T0 + 1, kind: 'start' }, { slug: 's', at: T0 + 2, kind: 'start' }], state: { lastBeatAt: T0, beatSeq: 2, runStartedAt: T0 + 1 }, failure: null },
        { name: 'fail, start, fail, ok, fail', batch: [{ slug: 's', at: T0, kind: 'fail' }, { slug: 's', at: T0 + 1, kind: 'start' }, { slug: 's', at: T0 + 2, kind: 'fail', details: { exitCode: 4 } }, { slug: 's', at: T0 + 3 }, { slug: 's', at: T0 + 4, kind: 'fail', details: { exitCode: 5 } }], state: { lastBeatAt: T0 + 3, beatSeq: 2, runStartedAt: null }, failure: { at: T0 + 4, exitCode: 5, durationMs: null } },
        { name: 'fail then start (the failure stands, a new run starts)', batch: [{ slug: 's', at: T0, kind: 'fail', details: { exitCode: 1 } }, { slug: 's', at: T0 + 1, kind: 'start' }], state: { lastBeatAt: P, beatSeq: 1, runStartedAt: T0 + 1 }, failure: { at: T0, exitCode: 1, durationMs: null } },
        { name: 'start then fail with a run id', batch: [{ slug: 's', at: T0, kind: 'start', runId: rid }, { slug: 's', at: T0 + 7 * MIN, kind: 'fail', runId: rid, details: { exitCode: 1 } }], state: { lastBeatAt: P, beatSeq: 1, runStartedAt: null }, failure: { at: T0 + 7 * MIN, exitCode: 1, durationMs: 7 * MIN } },
        { name: 'fail with a run id, then its start (the start after it does not count)', batch: [{ slug: 's', at: T0 + 7 * MIN, kind: 'fail', runId: rid }, { slug: 's', at: T0, kind: 'start', runId: rid }], state: { lastBeatAt: P, beatSeq: 1, runStartedAt: T0 }, failure: { at: T0 + 7 * MIN, exitCode: null, durationMs: null } },
        { name: 'ok, a log line, fail', batch: [{ slug: 's', at: T0 }, { slug: 's', at: T0 + 1, kind: 'log', details: { message: 'half way' } }, { slug: 's', at: T0 + 2, kind: 'fail' }], state: { lastBeatAt: T0, beatSeq: 2, runStartedAt: null }, failure: { at: T0 + 2, exitCode: null, durationMs: null } },
        { name: 'a later beat with an earlier time', batch: [{ slug: 's', at: T0 + 5 }, { slug: 's', at: T0 }], state: { lastBeatAt: T0, beatSeq: 3, runStartedAt: null }, failure: null },
      ])('a batch mixing kinds for one service: $name, as one beat at a time in that order', async ({ batch, state, failure }) => {
        const { store } = await setUp();
        const prior = (slug: string): BeatInput[] => [{ slug, at: P }, { slug, at: P + 1, kind: 'start' }];
        const as = (slug: string) => batch.map((b) => ({ ...b, slug }));
        // 's': the batch in one call, beside other services; 'one': the same beats, one call each.
        await store.recordBeats([...prior('s'), ...prior('one')]);
        await store.recordBeats([{ slug: 'z', at: T0 }, ...as('s'), { slug: 'a', at: T0, kind: 'fail' }]);
        for (const b of as('one')) await store.recordBeats([b]);
        const s = await service(store, 's');
        expect(s).toMatchObject({ registeredAt: P, ...state });
        expect(s?.failure === null ? null : { at: s?.failure?.at, exitCode: s?.failure?.exitCode, durationMs: s?.failure?.durationMs }).toEqual(failure);
        expect({ ...(await service(store, 'one')), slug: 's' }).toEqual(s);
        expect(await store.history('s', P, T0 + HOUR)).toEqual(await store.history('one', P, T0 + HOUR));
        // A service never seen: registered at its first beat that is no log line, then the same rules.
        await store.recordBeats(as('new'));
        const first = batch.find((b) => b.kind !== 'log')!.at;
        expect(await service(store, 'new')).toMatchObject({ registeredAt: first });
      });

      it('a run id pairs an end with the latest start before it, in the same batch or an earlier one; a beat without a time gets the store\'s clock', async () => {
        const { store } = await setUp();
        await store.recordBeats([{ slug: 'a', at: T0, kind: 'start', runId: rid }]);
        await store.recordBeats([
          { slug: 'a', at: T0 + 2 * MIN, runId: rid },
          { slug: 'a', at: T0 + 3 * MIN, kind: 'start', runId: rid },
          { slug: 'a', at: T0 + 4 * MIN, kind: 'fail', runId: rid },
          { slug: 'b', kind: 'start', runId: rid },
          { slug: 'b', kind: 'fail', runId: rid },
        ]);
        const h = await store.history('a', T0, T0 + HOUR);
        expect(h.signals.map((x) => [x.kind, x.durationMs])).toEqual([
          ['start', null],
          ['ok', 2 * MIN],
          ['start', null],
          ['fail', MIN],
        ]);
        const b = (await service(store, 'b'))!;
        // Both at the store's clock: PostgreSQL's one instant, or this process's a moment apart.
        expect(b.failure!.durationMs).toBe(b.failure!.at - b.registeredAt);
        expect(b.failure!.durationMs).toBeLessThan(5_000);
      });

      it('two handles writing overlapping batches at once, in opposite service orders, lose nothing and never deadlock', async () => {
        const { store, open } = await setUp();
        const other = await open();
        const slugs = Array.from({ length: 12 }, (_, i) => `svc-${String(i).padStart(2, '0')}`);
        const rounds = 15;
        const batch = (order: string[], round: number): BeatInput[] => order.flatMap((slug) => [{ slug, at: T0 + round }, { slug, at: T0 + round, kind: 'start' }]);
        await Promise.all([
          (async () => {
            for (let r = 0; r < rounds; r++) await Promise.all([store.recordBeats(batch(slugs, r)), store.recordBeats(batch([...slugs].reverse(), r))]);
          })(),
          (async () => {
            for (let r = 0; r < rounds; r++) await Promise.all([other.recordBeats(batch([...slugs].reverse(), r)), other.recordBeats(batch(slugs, r))]);
          })(),
        ]);
        const services = await store.services();
        expect(services.map((s) => [s.slug, s.beatSeq])).toEqual(slugs.map((s) => [s, 4 * rounds]));
        for (const s of services) expect(s.runStartedAt).not.toBeNull();
        expect((await store.history(slugs[5]!, T0, T0 + HOUR)).beats).toHaveLength(4 * rounds);
      });

      it('clock() is null or a time close to now, the same from every handle', async () => {
        const { store, open } = await setUp();
        const [x, y] = [await store.clock(), await (await open()).clock()];
        expect(x === null).toBe(y === null);
        if (x !== null) expect(Math.abs(x - Date.now())).toBeLessThan(60_000);
      });
    });

    describe('[scale] several checkers: event claims and who ran the last check', () => {
      /** A service down with a trigger to each of `targets`; returns the pending events. */
      async function incident(store: Store, slug: string, targets: string[]) {
        await store.register([slug], T0 - HOUR);
        const s = (await service(store, slug))!;
        const facts = { downAt: T0, lastBeatAt: null, missedHeartbeats: 1 };
        await store.applyTransitions(
          [
            {
              slug,
              version: s.version,
              from: 'up',
              to: 'down',
              at: T0,
              reason: 'no beat',
              beatSeq: s.beatSeq,
              incidentId: null,
              events: targets.map((target) => ({ target, action: 'trigger' as const, dedupKey: `medic-heartbeat-${slug}`, facts })),
            },
          ],
          T0,
        );
      }

      it('A claims the pending events, oldest first; B gets none of them while A\'s claim lasts, and all once it ran out', async () => {
        const { store, open } = await setUp();
        await incident(store, 'x', ['one', 'two']);
        const mine = await store.claimEvents(A, T0, LEASE);
        expect(mine.map((e) => e.target)).toEqual(['one', 'two']);
        expect(mine[0]!.id).toBeLessThan(mine[1]!.id);
        const other = await open();
        expect(await other.claimEvents(B, T0 + 1, LEASE)).toEqual([]);
        expect((await other.claimEvents(B, T0 + LEASE, LEASE)).map((e) => e.id)).toEqual(mine.map((e) => e.id));
        expect(await store.claimEvents(A, T0 + LEASE + 1, LEASE)).toEqual([]);
      });

      it('claims again what it holds; settle ends a claim; releaseLock drops the owner\'s claims', async () => {
        const { store } = await setUp();
        await incident(store, 'x', ['one', 'two', 'three']);
        const [e1, e2] = await store.claimEvents(A, T0, LEASE);
        expect((await store.claimEvents(A, T0 + 1, LEASE)).length).toBe(3);
        await store.settle(e1!.id, { status: 'retry', error: 'HTTP 500', nextAttemptAt: T0 + MIN }, T0 + 2);
        expect((await store.claimEvents(B, T0 + 3, LEASE)).map((e) => e.id)).toEqual([e1!.id]);
        await store.acquireLock(A, T0, LEASE);
        await store.releaseLock(A, T0 + 4);
        expect((await store.claimEvents(B, T0 + 5, LEASE)).map((e) => e.id)).toEqual([e1!.id, e2!.id, e2!.id + 1]);
        expect((await store.claimEvents(B, T0 + 5, LEASE)).every((e) => e.status === 'pending')).toBe(true);
      });

      it('a delivered event is never claimed again; pendingEvents still lists claimed ones (status counts them)', async () => {
        const { store } = await setUp();
        await incident(store, 'x', ['one', 'two']);
        const [e1] = await store.claimEvents(A, T0, LEASE);
        await store.settle(e1!.id, { status: 'delivered', response: '{}' }, T0 + 1);
        expect((await store.pendingEvents()).map((e) => e.target)).toEqual(['two']);
        expect((await store.claimEvents(B, T0 + LEASE, LEASE)).map((e) => e.target)).toEqual(['two']);
      });

      it('a claim ending more than a lease beyond now (planted, or the clock stepped back) counts as run out', async () => {
        const { store } = await setUp();
        await incident(store, 'x', ['one']);
        await store.claimEvents(A, T0 + 10 * LEASE, LEASE);
        expect((await store.claimEvents(B, T0, LEASE)).length).toBe(1);
      });

      it('of many checkers claiming at once, each event goes to exactly one', async () => {
        const { store, open } = await setUp();
        await incident(store, 'x', ['t1', 't2', 't3', 't4', 't5', 't6']);
        const handles = [store, await open(), await open(), await open()];
        const got = await Promise.all(handles.map((h, i) => h.claimEvents(`${i}@host-${i}`, T0, LEASE)));
        const ids = got.flat().map((e) => e.id);
        expect(ids).toHaveLength(6);
        expect(new Set(ids).size).toBe(6);
      });

      it('a lock taken over from a checker that is gone frees its claims at once; a refused takeover frees nothing', async () => {
        const { store } = await setUp();
        await incident(store, 'x', ['one']);
        await store.acquireLock(A, T0, LEASE);
        expect(await store.claimEvents(A, T0, LEASE)).toHaveLength(1);
        expect(await store.acquireLock(B, T0 + 1, LEASE, '300@host-c')).toEqual({ acquired: false, holder: A });
        expect(await store.claimEvents(B, T0 + 2, LEASE)).toEqual([]);
        expect(await store.acquireLock(B, T0 + 3, LEASE, A)).toEqual({ acquired: true, holder: B });
        expect((await store.claimEvents(B, T0 + 4, LEASE)).map((e) => e.target)).toEqual(['one']);
      });

      it('holdsClaim: true for the owner of the claim while its lease lasts; false for others, once it ran out, once settled, once a takeover freed it', async () => {
        const { store, open } = await setUp();
        const other = await open();
        await incident(store, 'x', ['one', 'two']);
        await store.acquireLock(A, T0, LEASE);
        const [e1, e2] = await store.claimEvents(A, T0, LEASE);
        expect(await other.holdsClaim(e1!.id, A, T0 + 1)).toBe(true);
        expect(await other.holdsClaim(e1!.id, B, T0 + 1)).toBe(false);
        expect(await store.holdsClaim(e1!.id, A, T0 + LEASE - 1)).toBe(true);
        expect(await store.holdsClaim(e1!.id, A, T0 + LEASE)).toBe(false);
        expect(await store.holdsClaim(e2!.id + 1000, A, T0 + 1)).toBe(false);
        await store.settle(e2!.id, { status: 'delivered', response: '{}' }, T0 + 2);
        expect(await store.holdsClaim(e2!.id, A, T0 + 3)).toBe(false);
        expect((await other.acquireLock(B, T0 + 4, LEASE, A)).acquired).toBe(true);
        expect(await store.holdsClaim(e1!.id, A, T0 + 5)).toBe(false);
      });

      it('claims in batches: after a cursor, at most a limit, oldest first; of the services named, or of all the others', async () => {
        const { store } = await setUp();
        for (const slug of ['a', 'b', 'c']) await incident(store, slug, ['one', 'two']);
        const all = await store.pendingEvents();
        const ids = (slugs: string[]) => all.filter((e) => slugs.includes(e.slug)).map((e) => e.id);
        const first = await store.claimEvents(A, T0, LEASE, { afterId: 0, limit: 4 });
        expect(first.map((e) => e.id)).toEqual(all.slice(0, 4).map((e) => e.id));
        expect((await store.claimEvents(A, T0, LEASE, { afterId: first[3]!.id, limit: 4 })).map((e) => e.id)).toEqual(all.slice(4).map((e) => e.id));
        expect((await store.claimEvents(A, T0, LEASE, { afterId: 0, limit: 10, services: { only: true, slugs: ['c', 'a'] } })).map((e) => e.id)).toEqual(ids(['a', 'c']));
        expect((await store.claimEvents(A, T0, LEASE, { afterId: 0, limit: 10, services: { only: false, slugs: ['c', 'a'] } })).map((e) => e.id)).toEqual(ids(['b']));
        expect((await store.claimEvents(A, T0, LEASE, { afterId: 0, limit: 1, services: { only: true, slugs: [] } }))).toEqual([]);
        // A batch claims only what it returns: B gets the rest.
        expect((await store.claimEvents(B, T0 + LEASE, LEASE, { afterId: 0, limit: 2 })).map((e) => e.id)).toEqual(all.slice(0, 2).map((e) => e.id));
        expect((await store.claimEvents(A, T0 + LEASE + 1, LEASE)).map((e) => e.id)).toEqual(all.slice(2).map((e) => e.id));
      });

      it('lastChecker is null until a check finished, then the owner of the last lock released', async () => {
        const { store } = await setUp();
        expect(await store.lastChecker()).toBeNull();
        await store.acquireLock(A, T0, LEASE);
        expect(await store.lastChecker()).toBeNull();
        await store.releaseLock(A, T0 + 1);
        expect(await store.lastChecker()).toBe(A);
        await store.acquireLock(B, T0 + 2, LEASE);
        await store.releaseLock(B, T0 + 3);
        expect(await store.lastChecker()).toBe(B);
        await store.releaseLock(A, T0 + 4);
        expect(await store.lastChecker()).toBe(B);
      });
    });

    describe('prune by time', () => {
      it('deletes beats before the beat cut-off (a beat at the cut-off stays) and leaves the live state alone', async () => {
        const { store } = await setUp();
        for (const at of [T0, T0 + MIN, T0 + 2 * MIN]) await store.recordBeat('job', at);
        expect(await store.prune(T0 + MIN, 0)).toBe(1);
        expect((await store.history('job', 0, T0 + HOUR)).beats).toEqual([T0 + MIN, T0 + 2 * MIN]);
        expect(await service(store, 'job')).toMatchObject({ lastBeatAt: T0 + 2 * MIN, beatSeq: 3 });
        expect(await store.prune(T0 + MIN, 0)).toBe(0);
      });

      it('deletes state records before the records cut-off, independently of beats', async () => {
        const { store } = await setUp();
        await store.recordBeat('job', T0);
        await store.pause(['job'], T0, null, null, 'old pause');
        await store.resume(['job'], T0 + HOUR);
        await store.recordGap(['job'], T0 + 2 * HOUR, T0 + 3 * HOUR, 'recent gap');
        expect(await store.prune(0, T0 + HOUR)).toBe(1);
        const h = await store.history('job', 0, T0 + 4 * HOUR);
        expect(h.beats).toEqual([T0]);
        expect(h.transitions.map((t) => t.reason)).toEqual(['resumed', 'recent gap']);
      });

      it('deletes everything that is old however much there is (within one call or over a few)', async () => {
        const { store } = await setUp();
        const n = 2500;
        for (let i = 0; i < n; i += 500) {
          await Promise.all(Array.from({ length: 500 }, (_, j) => store.recordBeat(`job-${(i + j) % 5}`, T0 + i + j)));
        }
        let deleted = 0;
        for (let calls = 0; calls < 10 && deleted < n; calls++) deleted += await store.prune(T0 + HOUR, 0);
        expect(deleted).toBe(n);
        expect((await store.history('job-0', 0, T0 + HOUR)).beats).toEqual([]);
      });
    });

    describe('history', () => {
      it('returns one service\'s beats and state records within [since, until], oldest first', async () => {
        const { store } = await setUp();
        for (const at of [T0 + 3 * MIN, T0, T0 + 10 * MIN, T0 + 20 * MIN]) await store.recordBeat('job', at);
        await store.recordBeat('other', T0 + 5 * MIN);
        await store.pause(['job'], T0 + 4 * MIN, null, null, 'paused');
        await store.pause(['other'], T0 + 4 * MIN, null, null, 'paused');
        const h = await store.history('job', T0 + 3 * MIN, T0 + 10 * MIN);
        expect(h.beats).toEqual([T0 + 3 * MIN, T0 + 10 * MIN]);
        expect(h.transitions).toEqual([{ at: T0 + 4 * MIN, recordedAt: T0 + 4 * MIN, from: '', to: 'paused', reason: 'paused' }]);
        expect(h.deliveries).toEqual([]);
      });

      it('is empty for a slug it never saw', async () => {
        const { store } = await setUp();
        expect(await store.history('nobody', 0, T0)).toEqual({ beats: [], logs: [], signals: [], pauses: [], resets: [], transitions: [], deliveries: [] });
      });
    });

    describe('closing', () => {
      it('close() returns a promise; other handles go on working', async () => {
        const { store, open } = await setUp();
        const other = await open();
        await store.recordBeat('job', T0);
        await expect(other.close()).resolves.toBeUndefined();
        expect(await service(store, 'job')).toMatchObject({ beatSeq: 1 });
      });
    });
  });
}
