import { describe, expect, it } from 'vitest';
import { decide, evaluate, missedHeartbeats, type DecideContext } from '../../src/core/state.js';
import { MIN, serviceRecord, serviceSpec, T0 } from '../helpers/model.js';

const spec = serviceSpec;
const rec = serviceRecord;

const CALM: DecideContext = { muted: false, recentTriggers: 1, flap: { windowMs: 60 * MIN, maxTriggers: 3 } };
const MUTED: DecideContext = { ...CALM, muted: true };
const FLAPPING: DecideContext = { ...CALM, recentTriggers: 3 };

describe('evaluate: a service is down from its deadline on (interval × threshold + grace)', () => {
  const deadline = T0 + 6 * MIN;
  it.each([
    ['just after the beat', T0 + 1, 'up'],
    ['one ms before the interval ends', T0 + 5 * MIN - 1, 'up'],
    ['exactly when the interval ends', T0 + 5 * MIN, 'late'],
    ['one ms before the deadline', deadline - 1, 'late'],
    ['exactly at the deadline', deadline, 'down'],
    ['one ms after the deadline', deadline + 1, 'down'],
  ])('%s → %s', (_label, now, state) => {
    expect(evaluate(spec(), rec(), now).state).toBe(state);
  });

  it('reports the deadline and the late point', () => {
    const ev = evaluate(spec(), rec(), T0);
    expect(ev.deadlineAt).toBe(deadline);
    expect(ev.lateAt).toBe(T0 + 5 * MIN);
  });

  it.each([
    ['deadline − 1 ms', 3 * 5 * MIN + MIN - 1, 'late'],
    ['deadline', 3 * 5 * MIN + MIN, 'down'],
    ['deadline + 1 ms', 3 * 5 * MIN + MIN + 1, 'down'],
  ])('threshold 3 moves the deadline to three intervals + grace: %s → %s', (_label, offset, state) => {
    expect(evaluate(spec({ threshold: 3 }), rec(), T0 + offset).state).toBe(state);
  });

  it.each([
    ['deadline − 1 ms', 5 * MIN - 1, 'up'],
    ['deadline', 5 * MIN, 'down'],
    ['deadline + 1 ms', 5 * MIN + 1, 'down'],
  ])('grace 0: %s → %s (never late: late and down start together)', (_label, offset, state) => {
    expect(evaluate(spec({ graceMs: 0 }), rec(), T0 + offset).state).toBe(state);
  });

  it.each([
    ['before its deadline', 6 * MIN - 1, 'new'],
    ['at its deadline', 6 * MIN, 'down'],
  ])('a service that never beat counts from registration: %s → %s', (_label, offset, state) => {
    const r = rec({ lastBeatAt: null, beatSeq: 0, registeredAt: T0 });
    expect(evaluate(spec(), r, T0 + offset).state).toBe(state);
  });

  it('a reset later than the last beat (end of a pause or a checker gap) restarts the clock', () => {
    const r = rec({ resetAt: T0 + 60 * MIN });
    expect(evaluate(spec(), r, T0 + 61 * MIN).state).toBe('up');
    expect(evaluate(spec(), r, T0 + 66 * MIN).state).toBe('down');
  });

  it('a clock that stepped back before the last beat reads as up, never down', () => {
    expect(evaluate(spec(), rec(), T0 - 60 * MIN).state).toBe('up');
  });
});

describe('a beat stamped after now (clock ahead on the writer) counts as a beat at now, and says so', () => {
  const future = T0 + 365 * 24 * 60 * MIN;
  it.each([
    ['a beat a year ahead, seen at T0', rec({ lastBeatAt: future }), T0, { state: 'up', referenceAt: T0, deadlineAt: T0 + 6 * MIN, missedHeartbeats: 0, beatInFuture: true }],
    ['a beat 1 ms ahead', rec({ lastBeatAt: T0 + 1 }), T0, { state: 'up', referenceAt: T0, deadlineAt: T0 + 6 * MIN, beatInFuture: true }],
    ['a beat exactly at now is not in the future', rec({ lastBeatAt: T0 }), T0, { state: 'up', referenceAt: T0, beatInFuture: false }],
    ['a beat in the past', rec({ lastBeatAt: T0 - MIN }), T0, { referenceAt: T0 - MIN, beatInFuture: false }],
    ['never beat', rec({ lastBeatAt: null, beatSeq: 0, registeredAt: T0 - MIN }), T0, { state: 'new', beatInFuture: false }],
    ['a later reset still wins over the capped beat', rec({ lastBeatAt: future, resetAt: T0 + MIN }), T0, { referenceAt: T0 + MIN, beatInFuture: true }],
  ])('%s', (_label, r, now, expected) => {
    expect(evaluate(spec(), r, now)).toMatchObject(expected);
  });

  it('once the first check has recorded the beat at its own now, later checks page at the deadline from there', () => {
    // What the checker stores (Store.capFutureBeats): the beat as of the first check that saw it.
    const seenAt = T0;
    expect(evaluate(spec(), rec({ lastBeatAt: seenAt }), seenAt + 6 * MIN)).toMatchObject({ state: 'down', deadlineAt: seenAt + 6 * MIN, beatInFuture: false });
  });

  it('decide on a future beat: no trigger now, and an open incident is not resolved by the cap (only a new beat does that)', () => {
    expect(decide(spec(), rec({ lastBeatAt: future }), T0, CALM)).toBeNull();
    const open = rec({ lastBeatAt: future, beatSeq: 1, incident: { downAt: T0 - MIN, beatSeq: 1, heldSince: null } });
    expect(decide(spec(), open, T0, CALM)).toBeNull();
  });
});

describe('missedHeartbeats = ⌊(now − last beat) / interval⌋', () => {
  it.each([
    [0, 0],
    [5 * MIN - 1, 0],
    [5 * MIN, 1],
    [17 * MIN, 3],
    [-60 * MIN, 0],
  ])('%i ms after the beat → %i', (offset, missed) => {
    expect(missedHeartbeats(spec(), rec(), T0 + offset)).toBe(missed);
  });

  it('counts from registration when it never beat', () => {
    expect(missedHeartbeats(spec(), rec({ lastBeatAt: null, registeredAt: T0 }), T0 + 11 * MIN)).toBe(2);
  });
});

describe('decide: what a check does', () => {
  const deadline = T0 + 6 * MIN;

  it('opens an incident at the deadline, dated at the deadline rather than the check', () => {
    expect(decide(spec(), rec(), deadline - 1, CALM)).toBeNull();
    const t = decide(spec(), rec(), deadline + 42_000, CALM);
    expect(t?.kind).toBe('down');
    expect(t?.at).toBe(deadline);
  });

  it('sends nothing more while the incident stays open and no beat comes', () => {
    const open = rec({ incident: { downAt: deadline, beatSeq: 1, heldSince: null } });
    expect(decide(spec(), open, deadline + 60 * MIN, CALM)).toBeNull();
  });

  it('resolves when a beat arrived after the incident opened, dated at that beat', () => {
    const recovered = rec({ lastBeatAt: deadline + MIN, beatSeq: 2, incident: { downAt: deadline, beatSeq: 1, heldSince: null } });
    const t = decide(spec(), recovered, deadline + 2 * MIN, CALM);
    expect(t).toMatchObject({ kind: 'up', at: deadline + MIN });
  });

  it.each([
    ['a run failed after the success', { failure: { kind: 'fail' as const, at: deadline + MIN + 500, exitCode: 1, durationMs: null, message: 'boom', outputTail: null } }],
    ['a run started after the success outlived maxRuntime', { runStartedAt: deadline + MIN + 500 }],
  ])('does not resolve when %s: it is still down, and resolving would page again at the next check', (_label, over) => {
    const s = spec({ maxRuntimeMs: 10 * 1000 });
    const again = rec({ lastBeatAt: deadline + MIN, beatSeq: 2, incident: { downAt: deadline, beatSeq: 1, heldSince: null }, ...over });
    expect(decide(s, again, deadline + 2 * MIN, CALM)).toBeNull();
    // Without the later run signal, the same record resolves.
    expect(decide(s, rec({ lastBeatAt: deadline + MIN, beatSeq: 2, incident: { downAt: deadline, beatSeq: 1, heldSince: null } }), deadline + 2 * MIN, CALM)?.kind).toBe('up');
  });

  it('resolves on a beat even when the clock stepped back (the beat sequence moved, not the time)', () => {
    const recovered = rec({ lastBeatAt: T0 - 60 * MIN, beatSeq: 2, incident: { downAt: deadline, beatSeq: 1, heldSince: null } });
    expect(decide(spec(), recovered, T0 - 59 * MIN, CALM)?.kind).toBe('up');
  });

  it('muted (paused, maintenance): no trigger, but a recovery still resolves', () => {
    expect(decide(spec(), rec(), deadline, MUTED)).toBeNull();
    const recovered = rec({ beatSeq: 2, incident: { downAt: deadline, beatSeq: 1, heldSince: null } });
    expect(decide(spec(), recovered, deadline + MIN, MUTED)?.kind).toBe('up');
  });

  it('flapping: a recovery after maxTriggers triggers within the window holds the resolve', () => {
    const recovered = rec({ lastBeatAt: deadline + MIN, beatSeq: 2, incident: { downAt: deadline, beatSeq: 1, heldSince: null } });
    expect(decide(spec(), recovered, deadline + 2 * MIN, FLAPPING)).toMatchObject({ kind: 'hold', at: deadline + MIN });
  });

  it.each([
    ['stable for the window minus 1 ms → still held', 60 * MIN - 1, null],
    ['stable for exactly the window → resolve', 60 * MIN, 'up'],
  ])('held: %s', (_label, offset, kind) => {
    const heldSince = T0;
    // Beats keep coming every 4 minutes, so it never goes down while held.
    const held = rec({ lastBeatAt: heldSince + offset - 4 * MIN, beatSeq: 9, incident: { downAt: T0 - MIN, beatSeq: 9, heldSince } });
    expect(decide(spec(), held, heldSince + offset, FLAPPING)?.kind ?? null).toBe(kind);
  });

  it('held and down again → relapse: the same incident stays open, no new trigger', () => {
    const held = rec({ incident: { downAt: T0 - 10 * MIN, beatSeq: 1, heldSince: T0 } });
    expect(decide(spec(), held, deadline, FLAPPING)).toMatchObject({ kind: 'relapse', at: deadline });
  });
});
