import { describe, expect, it } from 'vitest';
import { activeMute, covers, lastUnmuteAt, occurrence, withUnmute, type Pause, type Window } from '../../src/core/mute.js';
import type { ServiceSpec } from '../../src/core/service.js';
import { decide, evaluate, type DecideContext, type ServiceRecord } from '../../src/core/state.js';
import { MIN, serviceRecord, serviceSpec, T0 } from '../helpers/model.js';

const HOUR = 60 * MIN;
const at = (iso: string) => Date.parse(iso);

const spec = (over: Partial<ServiceSpec> = {}) => serviceSpec({ slug: 'backup', name: 'Backup', ...over });
const rec = (over: Partial<ServiceRecord> = {}) => serviceRecord({ slug: 'backup', ...over });

function window(over: Partial<Window> = {}): Window {
  return { services: ['backup'], teams: null, all: false, startAt: null, endAt: null, cron: null, durationMs: null, timezone: null, reason: 'upgrade', ...over };
}

const oneOff = (startAt: number, endAt: number, over: Partial<Window> = {}) => window({ startAt, endAt, ...over });
const CALM: DecideContext = { muted: false, recentTriggers: 0, flap: { windowMs: HOUR, maxTriggers: 3 } };

describe('covers: which services a window applies to', () => {
  it.each([
    ['listed by slug', true, window({ services: ['backup'] }), spec()],
    ['another slug listed', false, window({ services: ['other'] }), spec()],
    ['its team listed', true, window({ services: null, teams: ['platform'] }), spec()],
    ['another team listed', false, window({ services: null, teams: ['payments'] }), spec()],
    ['a team window never covers a service without a team', false, window({ services: null, teams: ['platform'] }), spec({ team: null })],
    ['all: true covers everything', true, window({ services: null, all: true }), spec({ slug: 'anything', team: null })],
    ['slug or team, either is enough', true, window({ services: ['other'], teams: ['platform'] }), spec()],
  ])('%s → %s', (_label, expected, w, s) => {
    expect(covers(w, s)).toBe(expected);
  });
});

describe('a one-off window is half-open: [start, end)', () => {
  const start = T0 + 2 * MIN;
  const end = T0 + 6 * MIN;
  const w = oneOff(start, end, { reason: 'storage migration' });

  it.each([
    ['1 ms before it starts', start - 1, null],
    ['at its start', start, { kind: 'maintenance', reason: 'storage migration', until: end }],
    ['1 ms before its end', end - 1, { kind: 'maintenance', reason: 'storage migration', until: end }],
    ['at its end (over)', end, null],
    ['1 ms after its end', end + 1, null],
  ])('activeMute %s', (_label, now, expected) => {
    expect(activeMute(spec(), null, [w], now, 'UTC')).toEqual(expected);
  });

  it.each([
    ['before it starts: nothing ended yet', start - 1, null],
    ['while open: it has not ended', end - 1, null],
    ['at its end: it ended now', end, end],
    ['long after: it ended then', end + 10 * HOUR, end],
  ])('lastUnmuteAt %s', (_label, now, expected) => {
    expect(lastUnmuteAt(spec(), null, [w], now, 'UTC')).toBe(expected);
  });

  it('does nothing for a service it does not cover', () => {
    const other = spec({ slug: 'other', team: 'payments' });
    expect(activeMute(other, null, [w], start, 'UTC')).toBeNull();
    expect(lastUnmuteAt(other, null, [w], end, 'UTC')).toBeNull();
  });

  it('of two open windows, the one that ends last is reported', () => {
    const later = oneOff(T0, T0 + 3 * HOUR, { services: null, all: true, reason: 'datacenter move' });
    expect(activeMute(spec(), null, [w, later], start, 'UTC')).toEqual({ kind: 'maintenance', reason: 'datacenter move', until: T0 + 3 * HOUR });
  });

  it('of two closed windows, the clock restarts from the later end', () => {
    const earlier = oneOff(T0 - 3 * HOUR, T0 - 2 * HOUR);
    expect(lastUnmuteAt(spec(), null, [w, earlier], T0 + HOUR, 'UTC')).toBe(end);
  });
});

describe('a recurring window: cron + duration, in its own zone', () => {
  // Saturdays 02:00-04:00 Berlin time. 2026-11-28 is a Saturday; Berlin is UTC+1 in November.
  const w = window({ cron: '0 2 * * 6', durationMs: 2 * HOUR, timezone: 'Europe/Berlin', reason: 'weekly patching' });
  const start = at('2026-11-28T01:00:00Z');
  const end = at('2026-11-28T03:00:00Z');

  it.each([
    ['1 ms before 02:00 Berlin', start - 1, null],
    ['at 02:00 Berlin (01:00Z)', start, { kind: 'maintenance', reason: 'weekly patching', until: end }],
    ['1 ms before 04:00 Berlin', end - 1, { kind: 'maintenance', reason: 'weekly patching', until: end }],
    ['at 04:00 Berlin (over)', end, null],
  ])('activeMute %s', (_label, now, expected) => {
    expect(activeMute(spec(), null, [w], now, 'UTC')).toEqual(expected);
  });

  it.each([
    ['just before it opens, the clock restarts from last week\'s end', start - 1, at('2026-11-21T03:00:00Z')],
    ['at its end, now', end, end],
    ['on Wednesday, last Saturday\'s end', at('2026-12-02T12:00:00Z'), end],
  ])('lastUnmuteAt %s', (_label, now, expected) => {
    expect(lastUnmuteAt(spec(), null, [w], now, 'UTC')).toBe(expected);
  });

  it('occurrence gives the current or the last one', () => {
    expect(occurrence(w, start + HOUR, 'UTC')).toEqual({ startAt: start, endAt: end });
    expect(occurrence(w, at('2026-12-02T12:00:00Z'), 'UTC')).toEqual({ startAt: start, endAt: end });
  });

  it('in summer the same window is 00:00-02:00 UTC (CEST, UTC+2)', () => {
    // 2026-07-04 is a Saturday.
    expect(activeMute(spec(), null, [w], at('2026-07-04T00:00:00Z'), 'UTC')).toMatchObject({ until: at('2026-07-04T02:00:00Z') });
    expect(activeMute(spec(), null, [w], at('2026-07-04T02:00:00Z'), 'UTC')).toBeNull();
  });

  it('without a timezone it uses the machine zone it is given', () => {
    const local = window({ cron: '0 2 * * 6', durationMs: 2 * HOUR, timezone: null });
    // 02:00 in New York on 2026-11-28 (EST, UTC−5) is 07:00Z.
    expect(activeMute(spec(), null, [local], at('2026-11-28T06:59:59Z'), 'America/New_York')).toBeNull();
    expect(activeMute(spec(), null, [local], at('2026-11-28T07:00:00Z'), 'America/New_York')).toMatchObject({ until: at('2026-11-28T09:00:00Z') });
    expect(activeMute(spec(), null, [local], at('2026-11-28T07:00:00Z'), 'UTC')).toBeNull();
  });

  it('a start time that a DST jump skips does not open the window that day', () => {
    // 02:30 Berlin did not exist on 2026-03-29; the window last opened on the 28th (01:30Z) for 1h.
    const daily = window({ cron: '30 2 * * *', durationMs: HOUR, timezone: 'Europe/Berlin' });
    expect(activeMute(spec(), null, [daily], at('2026-03-29T01:45:00Z'), 'UTC')).toBeNull();
    expect(lastUnmuteAt(spec(), null, [daily], at('2026-03-29T01:45:00Z'), 'UTC')).toBe(at('2026-03-28T02:30:00Z'));
  });
});

describe('a pause: until `medic resume`, or until a set time', () => {
  const open: Pause = { since: T0, until: null, reason: 'db migration' };
  const timed: Pause = { since: T0, until: T0 + 2 * HOUR, reason: null };

  it('without until it holds however long it lasts, and never restarts the clock by itself', () => {
    expect(activeMute(spec(), open, [], T0 + 400 * 24 * HOUR, 'UTC')).toEqual({ kind: 'paused', reason: 'db migration', until: null });
    expect(lastUnmuteAt(spec(), open, [], T0 + 400 * 24 * HOUR, 'UTC')).toBeNull();
  });

  it.each([
    ['1 ms before until', T0 + 2 * HOUR - 1, { kind: 'paused', reason: null, until: T0 + 2 * HOUR }, null],
    ['at until it ends by itself', T0 + 2 * HOUR, null, T0 + 2 * HOUR],
    ['after until', T0 + 3 * HOUR, null, T0 + 2 * HOUR],
  ])('a timed pause %s', (_label, now, mute, unmutedAt) => {
    expect(activeMute(spec(), timed, [], now, 'UTC')).toEqual(mute);
    expect(lastUnmuteAt(spec(), timed, [], now, 'UTC')).toBe(unmutedAt);
  });

  it('a pause is reported before an open window', () => {
    const w = oneOff(T0, T0 + 10 * HOUR, { services: null, all: true });
    expect(activeMute(spec(), open, [w], T0 + HOUR, 'UTC')).toMatchObject({ kind: 'paused' });
  });

  it('when a timed pause and a window both ended, the later end counts', () => {
    const w = oneOff(T0, T0 + 3 * HOUR);
    expect(lastUnmuteAt(spec(), timed, [w], T0 + 5 * HOUR, 'UTC')).toBe(T0 + 3 * HOUR);
    expect(lastUnmuteAt(spec(), { ...timed, until: T0 + 4 * HOUR }, [w], T0 + 5 * HOUR, 'UTC')).toBe(T0 + 4 * HOUR);
  });
});

describe('withUnmute: the end of a mute restarts the clock, never moves it back', () => {
  const w = oneOff(T0 + 2 * MIN, T0 + 4 * MIN);

  it('a window that closed after the last beat becomes the reference point', () => {
    expect(withUnmute(spec(), rec(), [w], T0 + 5 * MIN, 'UTC').resetAt).toBe(T0 + 4 * MIN);
  });

  it('a later reset already recorded (resume, checker gap) is kept', () => {
    expect(withUnmute(spec(), rec({ resetAt: T0 + 5 * MIN }), [w], T0 + 6 * MIN, 'UTC').resetAt).toBe(T0 + 5 * MIN);
  });

  it('a window that is still open changes nothing', () => {
    expect(withUnmute(spec(), rec(), [w], T0 + 3 * MIN, 'UTC')).toEqual(rec());
  });
});

describe('a window ending exactly at a deadline: no down at that instant', () => {
  // Last beat at T0, interval 5m + grace 1m: the deadline is T0+6m. The window closes exactly then.
  const deadline = T0 + 6 * MIN;
  const w = oneOff(T0 + 3 * MIN, deadline);
  const run = (now: number) => {
    const r = withUnmute(spec(), rec(), [w], now, 'UTC');
    const muted = activeMute(spec(), r.pause, [w], now, 'UTC') !== null;
    return { evaluation: evaluate(spec(), r, now), transition: decide(spec(), r, now, { ...CALM, muted }) };
  };

  it('without the window it would be down at the deadline (control)', () => {
    expect(decide(spec(), rec(), deadline, CALM)).toMatchObject({ kind: 'down', at: deadline });
  });

  it('1 ms before the deadline it is muted: no transition', () => {
    expect(run(deadline - 1).transition).toBeNull();
  });

  it('at the deadline the window has just closed: the service gets interval × threshold + grace from there', () => {
    const { evaluation, transition } = run(deadline);
    expect(transition).toBeNull();
    expect(evaluation.state).toBe('up');
    expect(evaluation.referenceAt).toBe(deadline);
    expect(evaluation.deadlineAt).toBe(deadline + 6 * MIN);
  });

  it.each([
    ['late from the window end + interval', deadline + 5 * MIN, 'late', null],
    ['1 ms before the fresh deadline', deadline + 6 * MIN - 1, 'late', null],
    ['at the fresh deadline: down, dated at that deadline', deadline + 6 * MIN, 'down', { kind: 'down', at: deadline + 6 * MIN }],
  ])('%s', (_label, now, state, transition) => {
    const result = run(now);
    expect(result.evaluation.state).toBe(state);
    if (transition) expect(result.transition).toMatchObject(transition);
    else expect(result.transition).toBeNull();
  });

  it('the missed-heartbeat count still counts from the last real beat', () => {
    expect(run(deadline + 6 * MIN).evaluation.missedHeartbeats).toBe(2);
  });

  it('a beat during the window still counts: the later of beat and window end is the reference', () => {
    const r = withUnmute(spec(), rec({ lastBeatAt: T0 + 5 * MIN, beatSeq: 2 }), [w], deadline, 'UTC');
    expect(evaluate(spec(), r, deadline).referenceAt).toBe(deadline);
    const afterBeat = withUnmute(spec(), rec({ lastBeatAt: deadline + MIN, beatSeq: 2 }), [w], deadline + MIN, 'UTC');
    expect(evaluate(spec(), afterBeat, deadline + MIN).deadlineAt).toBe(deadline + 7 * MIN);
  });

  it('a timed pause ending exactly at the deadline behaves the same', () => {
    const pause: Pause = { since: T0 + MIN, until: deadline, reason: null };
    const r = withUnmute(spec(), rec({ pause }), [], deadline, 'UTC');
    expect(activeMute(spec(), pause, [], deadline, 'UTC')).toBeNull();
    expect(decide(spec(), r, deadline, CALM)).toBeNull();
    expect(decide(spec(), withUnmute(spec(), rec({ pause }), [], deadline + 6 * MIN, 'UTC'), deadline + 6 * MIN, CALM)).toMatchObject({
      kind: 'down',
      at: deadline + 6 * MIN,
    });
  });

  it('muted at the deadline (window still open): no trigger; the open incident of a recovery still resolves', () => {
    const long = oneOff(T0 + 3 * MIN, T0 + HOUR);
    const r = withUnmute(spec(), rec(), [long], deadline, 'UTC');
    expect(decide(spec(), r, deadline, { ...CALM, muted: true })).toBeNull();
    const down = rec({ incident: { downAt: deadline, beatSeq: 1, heldSince: null }, lastBeatAt: deadline + MIN, beatSeq: 2 });
    expect(decide(spec(), down, deadline + MIN, { ...CALM, muted: true })).toMatchObject({ kind: 'up', at: deadline + MIN });
  });
});
