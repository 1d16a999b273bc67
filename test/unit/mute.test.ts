import { describe, expect, it } from 'vitest';
import { activeMute, covers, excusedUntil, MAX_EXCUSES, occurrence, occurrenceAt, pauseEndedAt, withUnmute, type Pause, type Window } from '../../src/core/mute.js';
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
    ['1 ms before it starts: not excused', start - 1, null],
    ['at its start: excused until its end', start, end],
    ['1 ms before its end: excused until its end', end - 1, end],
    ['at its end: not excused (the window is over)', end, null],
    ['long after: not excused', end + 10 * HOUR, null],
  ])('excusedUntil, a deadline %s', (_label, deadline, expected) => {
    expect(excusedUntil(spec(), [w], deadline, 'UTC')).toBe(expected);
  });

  it('does nothing for a service it does not cover', () => {
    const other = spec({ slug: 'other', team: 'payments' });
    expect(activeMute(other, null, [w], start, 'UTC')).toBeNull();
    expect(excusedUntil(other, [w], start, 'UTC')).toBeNull();
  });

  it('of two open windows, the one that ends last is reported', () => {
    const later = oneOff(T0, T0 + 3 * HOUR, { services: null, all: true, reason: 'datacenter move' });
    expect(activeMute(spec(), null, [w, later], start, 'UTC')).toEqual({ kind: 'maintenance', reason: 'datacenter move', until: T0 + 3 * HOUR });
  });

  it('of two windows open at a deadline, the one that ends last excuses it', () => {
    const later = oneOff(T0, T0 + 3 * HOUR);
    expect(excusedUntil(spec(), [w, later], start, 'UTC')).toBe(T0 + 3 * HOUR);
    expect(excusedUntil(spec(), [later, w], start, 'UTC')).toBe(T0 + 3 * HOUR);
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
    ['just before it opens: not excused', start - 1, null],
    ['at 02:00 Berlin: excused until 04:00 Berlin', start, end],
    ['1 ms before 04:00 Berlin: excused until then', end - 1, end],
    ['at 04:00 Berlin: not excused', end, null],
    ['on Wednesday: not excused', at('2026-12-02T12:00:00Z'), null],
  ])('excusedUntil, a deadline %s', (_label, deadline, expected) => {
    expect(excusedUntil(spec(), [w], deadline, 'UTC')).toBe(expected);
  });

  it('occurrence gives the current or the last one; occurrenceAt only an open one', () => {
    expect(occurrence(w, start + HOUR, 'UTC')).toEqual({ startAt: start, endAt: end });
    expect(occurrence(w, at('2026-12-02T12:00:00Z'), 'UTC')).toEqual({ startAt: start, endAt: end });
    expect(occurrenceAt(w, start + HOUR, 'UTC')).toEqual({ startAt: start, endAt: end });
    expect(occurrenceAt(w, at('2026-12-02T12:00:00Z'), 'UTC')).toBeNull();
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

  describe('a fixed start time across DST opens as Debian cron runs the job (cron(8))', () => {
    // Daily 02:30-03:30 Berlin time. 2026-03-29: 02:00 CET (01:00Z) jumps to 03:00 CEST, so 02:30
    // never comes: the window opens at the jump, 03:00 CEST = 01:00Z, and lasts its hour.
    const daily = window({ cron: '30 2 * * *', durationMs: HOUR, timezone: 'Europe/Berlin', reason: 'nightly' });
    const jump = at('2026-03-29T01:00:00Z');
    it.each([
      ['1 ms before the jump (the 28th\'s window, 01:30-02:30Z, is over)', jump - 1, null],
      ['at the jump, 03:00 CEST (01:00Z)', jump, { kind: 'maintenance', reason: 'nightly', until: jump + HOUR }],
      ['1 ms before its hour is up (01:59:59.999Z)', jump + HOUR - 1, { kind: 'maintenance', reason: 'nightly', until: jump + HOUR }],
      ['when its hour is up (02:00Z)', jump + HOUR, null],
    ])('spring forward 2026-03-29, %s', (_label, now, expected) => {
      expect(activeMute(spec(), null, [daily], now, 'UTC')).toEqual(expected);
    });

    it('spring forward: occurrence gives the window that opened at the jump', () => {
      expect(occurrence(daily, at('2026-03-29T01:45:00Z'), 'UTC')).toEqual({ startAt: jump, endAt: jump + HOUR });
    });

    // 2026-10-25: 03:00 CEST (01:00Z) goes back to 02:00 CET, so 02:30 comes twice (00:30Z, 01:30Z):
    // the window opens once, at the first (00:30-01:30Z), and not again at the second.
    it.each([
      ['at the first 02:30 (CEST, 00:30Z)', at('2026-10-25T00:30:00Z'), { kind: 'maintenance', reason: 'nightly', until: at('2026-10-25T01:30:00Z') }],
      ['at the second 02:30 (CET, 01:30Z)', at('2026-10-25T01:30:00Z'), null],
      ['inside the second 02:xx hour (01:45Z)', at('2026-10-25T01:45:00Z'), null],
    ])('fall back 2026-10-25, %s', (_label, now, expected) => {
      expect(activeMute(spec(), null, [daily], now, 'UTC')).toEqual(expected);
    });

    it('fall back: occurrence after the second 02:30 is still the first', () => {
      expect(occurrence(daily, at('2026-10-25T02:00:00Z'), 'UTC')).toEqual({ startAt: at('2026-10-25T00:30:00Z'), endAt: at('2026-10-25T01:30:00Z') });
    });

    it('a wildcard window (every 30 minutes, for 10) opens in both copies of the repeated hour', () => {
      const often = window({ cron: '*/30 * * * *', durationMs: 10 * MIN, timezone: 'Europe/Berlin' });
      expect(occurrenceAt(often, at('2026-10-25T00:35:00Z'), 'UTC')).toEqual({ startAt: at('2026-10-25T00:30:00Z'), endAt: at('2026-10-25T00:40:00Z') });
      expect(occurrenceAt(often, at('2026-10-25T01:35:00Z'), 'UTC')).toEqual({ startAt: at('2026-10-25T01:30:00Z'), endAt: at('2026-10-25T01:40:00Z') });
    });
  });
});

describe('a pause: until `medic resume`, or until a set time', () => {
  const open: Pause = { since: T0, until: null, reason: 'db migration' };
  const timed: Pause = { since: T0, until: T0 + 2 * HOUR, reason: null };

  it('without until it holds however long it lasts, and never restarts the clock by itself', () => {
    expect(activeMute(spec(), open, [], T0 + 400 * 24 * HOUR, 'UTC')).toEqual({ kind: 'paused', reason: 'db migration', until: null });
    expect(pauseEndedAt(open, T0 + 400 * 24 * HOUR)).toBeNull();
  });

  it.each([
    ['1 ms before until', T0 + 2 * HOUR - 1, { kind: 'paused', reason: null, until: T0 + 2 * HOUR }, null],
    ['at until it ends by itself', T0 + 2 * HOUR, null, T0 + 2 * HOUR],
    ['after until', T0 + 3 * HOUR, null, T0 + 2 * HOUR],
  ])('a timed pause %s', (_label, now, mute, unmutedAt) => {
    expect(activeMute(spec(), timed, [], now, 'UTC')).toEqual(mute);
    expect(pauseEndedAt(timed, now)).toBe(unmutedAt);
  });

  it('a pause is reported before an open window', () => {
    const w = oneOff(T0, T0 + 10 * HOUR, { services: null, all: true });
    expect(activeMute(spec(), open, [w], T0 + HOUR, 'UTC')).toMatchObject({ kind: 'paused' });
  });

  it('the end of a timed pause restarts the clock (a pause keeps that rule); a window that excused nothing does not', () => {
    const w = oneOff(T0 + 3 * HOUR, T0 + 4 * HOUR);
    // Paused from T0 to T0+2h: a fresh 6m from T0+2h, so the deadline is T0+2h6m, before the window.
    expect(evaluate(spec(), withUnmute(spec(), rec({ pause: timed }), [w], T0 + 5 * HOUR, 'UTC'), T0 + 5 * HOUR).deadlineAt).toBe(T0 + 2 * HOUR + 6 * MIN);
  });
});

/**
 * A checker run every `stepMs` from `from` until `until`, as cron runs `medic check`: the first run
 * that opens an incident, and the deadline the incident is dated at. null: it never paged.
 */
function firstPage(s: ServiceSpec, r: ServiceRecord, windows: Window[], from: number, until: number, zone = 'UTC', stepMs = MIN) {
  for (let now = from; now <= until; now += stepMs) {
    const effective = withUnmute(s, r, windows, now, zone);
    const muted = activeMute(s, effective.pause, windows, now, zone) !== null;
    const t = decide(s, effective, now, { ...CALM, muted });
    if (t) return { checkAt: now, downAt: t.at };
  }
  return null;
}

const DAY = 24 * HOUR;

describe('a window excuses only a miss whose deadline fell inside it (SPEC §3)', () => {
  // A daily job (interval 24h, grace 30m) that beat for the last time at 00:30Z on the 26th; a daily
  // maintenance window 00:45-01:45Z. Without windows it is down at 01:00Z on the 27th.
  const daily = spec({ intervalMs: DAY, graceMs: 30 * MIN });
  const lastBeat = at('2026-11-26T00:30:00Z');
  const nightly = window({ cron: '45 0 * * *', durationMs: HOUR, timezone: 'UTC', reason: 'nightly vacuum' });
  // A window every 10 minutes for 5 minutes, over an hourly service.
  const often = window({ cron: '*/10 * * * *', durationMs: 5 * MIN, timezone: 'UTC', reason: 'rotation' });
  const hourly = (graceMs: number) => spec({ intervalMs: HOUR, graceMs });

  it.each<[string, ServiceSpec, ServiceRecord, Window[], number, number, { checkAt: number; downAt: number }]>([
    [
      'no window (control): down at the deadline, 01:00Z on the 27th',
      daily, rec({ lastBeatAt: lastBeat }), [], lastBeat, lastBeat + 3 * DAY,
      { checkAt: at('2026-11-27T01:00:00Z'), downAt: at('2026-11-27T01:00:00Z') },
    ],
    [
      'a daily 1h window over a daily job that stopped: its deadline (01:00Z) fell inside, so a fresh 24h30m from 01:45Z; that deadline (02:15Z on the 28th) is outside every window and pages',
      daily, rec({ lastBeatAt: lastBeat }), [nightly], lastBeat, lastBeat + 7 * DAY,
      { checkAt: at('2026-11-28T02:15:00Z'), downAt: at('2026-11-28T02:15:00Z') },
    ],
    [
      'a window every 10 min for 5 min over a 1h service: a deadline inside (13:00:30) gets a fresh hour from 13:05; 14:05 is the end of the next occurrence, outside it: pages',
      hourly(0), rec({ lastBeatAt: at('2026-11-26T12:00:30Z') }), [often], at('2026-11-26T12:00:00Z'), at('2026-11-27T12:00:00Z'),
      { checkAt: at('2026-11-26T14:05:00Z'), downAt: at('2026-11-26T14:05:00Z') },
    ],
    [
      'the same window, a deadline outside it (13:07): pages at once, as if there were no window',
      hourly(7 * MIN), rec({ lastBeatAt: at('2026-11-26T12:00:00Z') }), [often], at('2026-11-26T12:00:00Z'), at('2026-11-27T12:00:00Z'),
      { checkAt: at('2026-11-26T13:07:00Z'), downAt: at('2026-11-26T13:07:00Z') },
    ],
    [
      `a window in step with the service (every fresh deadline falls in the next occurrence): ${MAX_EXCUSES} excuses, then the deadline pages (when that occurrence closes)`,
      hourly(5 * MIN), rec({ lastBeatAt: at('2026-11-26T11:57:00Z') }), [often], at('2026-11-26T11:57:00Z'), at('2026-11-27T12:00:00Z'),
      // 13:02 → 14:10 → 15:20 → 16:30, each inside an occurrence; the fourth is not excused.
      { checkAt: at('2026-11-26T16:35:00Z'), downAt: at('2026-11-26T16:30:00Z') },
    ],
    [
      'a one-off window over the deadline: pages at its end + interval × threshold + grace',
      spec(), rec(), [oneOff(T0 + 5 * MIN, T0 + 10 * MIN)], T0, T0 + DAY,
      { checkAt: T0 + 16 * MIN, downAt: T0 + 16 * MIN },
    ],
    [
      'a one-off window that opens after the deadline passed: it pages at the deadline (the check then is not muted)',
      spec(), rec(), [oneOff(T0 + 7 * MIN, T0 + HOUR)], T0, T0 + DAY,
      { checkAt: T0 + 6 * MIN, downAt: T0 + 6 * MIN },
    ],
    [
      'two one-off windows back to back: the fresh deadline falls in the second, so it runs from the second end',
      spec(), rec(), [oneOff(T0 + 5 * MIN, T0 + 10 * MIN), oneOff(T0 + 10 * MIN, T0 + 20 * MIN)], T0, T0 + DAY,
      { checkAt: T0 + 26 * MIN, downAt: T0 + 26 * MIN },
    ],
    [
      'a window of another service excuses nothing',
      spec(), rec(), [oneOff(T0 + 5 * MIN, T0 + 10 * MIN, { services: ['other'] })], T0, T0 + DAY,
      { checkAt: T0 + 6 * MIN, downAt: T0 + 6 * MIN },
    ],
    [
      'a window of duration 0 covers no instant and excuses nothing',
      spec(), rec(), [window({ cron: '*/2 * * * *', durationMs: 0, timezone: 'UTC' })], T0, T0 + DAY,
      { checkAt: T0 + 6 * MIN, downAt: T0 + 6 * MIN },
    ],
  ])('%s', (_label, s, r, windows, from, until, expected) => {
    expect(firstPage(s, r, windows, from, until)).toEqual(expected);
  });

  it('later occurrences of the daily window do not move a deadline that fell outside them (the old rule restarted the clock at each close)', () => {
    for (let day = 1; day <= 5; day++) {
      const now = at('2026-11-28T03:00:00Z') + day * DAY;
      expect(evaluate(daily, withUnmute(daily, rec({ lastBeatAt: lastBeat }), [nightly], now, 'UTC'), now)).toMatchObject({
        state: 'down',
        deadlineAt: at('2026-11-28T02:15:00Z'),
      });
    }
  });

  // Last beat at T0, 5m + 1m: the window-free deadline is T0+6m. Windows start at T0+3m.
  const deadline = T0 + 6 * MIN;
  it.each([
    ['deadline at the end − 1 ms: inside, excused; a fresh 6m from the end', deadline + 1, deadline + 1 + 6 * MIN],
    ['deadline exactly at the end: outside ([start, end)), pages at the deadline', deadline, deadline],
    ['deadline at the end + 1 ms: outside, pages at the deadline', deadline - 1, deadline],
  ])('%s', (_label, end, expectedDeadline) => {
    const w = oneOff(T0 + 3 * MIN, end);
    const now = deadline + 20 * MIN;
    const ev = evaluate(spec(), withUnmute(spec(), rec(), [w], now, 'UTC'), now);
    expect(ev.deadlineAt).toBe(expectedDeadline);
    expect(ev.state).toBe('down');
    expect(firstPage(spec(), rec(), [w], deadline - MIN, now, 'UTC', 1)?.downAt ?? null).toBe(expectedDeadline);
  });

  it.each([
    ['deadline at the start: inside, excused', deadline, deadline + 4 * MIN + 6 * MIN],
    ['deadline 1 ms before the start: outside, pages at the deadline', deadline + 1, deadline],
  ])('%s', (_label, start, expectedDeadline) => {
    const w = oneOff(start, deadline + 4 * MIN);
    const now = deadline + 20 * MIN;
    expect(evaluate(spec(), withUnmute(spec(), rec(), [w], now, 'UTC'), now).deadlineAt).toBe(expectedDeadline);
  });

  it('a deadline not yet passed is not excused ahead of time: late stays late, with the window-free deadline', () => {
    const w = oneOff(T0 + 5 * MIN, T0 + 10 * MIN);
    const ev = evaluate(spec(), withUnmute(spec(), rec(), [w], deadline - 1, 'UTC'), deadline - 1);
    expect(ev).toMatchObject({ state: 'late', deadlineAt: deadline });
  });

  it('while the window is still open at the check, the excused service is not down and is muted', () => {
    const w = oneOff(T0 + 5 * MIN, T0 + 10 * MIN);
    const now = T0 + 8 * MIN;
    const r = withUnmute(spec(), rec(), [w], now, 'UTC');
    expect(evaluate(spec(), r, now)).toMatchObject({ referenceAt: T0 + 10 * MIN, deadlineAt: T0 + 16 * MIN });
    expect(activeMute(spec(), r.pause, [w], now, 'UTC')).toMatchObject({ kind: 'maintenance', until: T0 + 10 * MIN });
  });

  it('a beat after the window counts from the beat; missed heartbeats count from the last real beat', () => {
    const w = oneOff(T0 + 5 * MIN, T0 + 10 * MIN);
    const afterBeat = rec({ lastBeatAt: T0 + 12 * MIN, beatSeq: 2 });
    expect(evaluate(spec(), withUnmute(spec(), afterBeat, [w], T0 + 13 * MIN, 'UTC'), T0 + 13 * MIN).deadlineAt).toBe(T0 + 18 * MIN);
    expect(evaluate(spec(), withUnmute(spec(), rec(), [w], T0 + 16 * MIN, 'UTC'), T0 + 16 * MIN).missedHeartbeats).toBe(3);
  });

  it('a later reset already recorded (resume, checker gap) is the real reference; a window is applied after it', () => {
    const w = oneOff(T0 + 20 * MIN, T0 + 30 * MIN);
    // Reset at T0+15m: deadline T0+21m, inside the window → fresh 6m from T0+30m.
    const r = withUnmute(spec(), rec({ resetAt: T0 + 15 * MIN }), [w], T0 + 40 * MIN, 'UTC');
    expect(evaluate(spec(), r, T0 + 40 * MIN).deadlineAt).toBe(T0 + 36 * MIN);
    // Without a window nothing changes.
    expect(withUnmute(spec(), rec({ resetAt: T0 + 15 * MIN }), [], T0 + 40 * MIN, 'UTC')).toEqual(rec({ resetAt: T0 + 15 * MIN }));
  });

  it('a timed pause ending at the deadline restarts the clock at its end (pauses keep their rule)', () => {
    const pause: Pause = { since: T0 + MIN, until: deadline, reason: null };
    expect(activeMute(spec(), pause, [], deadline, 'UTC')).toBeNull();
    expect(firstPage(spec(), rec({ pause }), [], T0, T0 + DAY)).toEqual({ checkAt: deadline + 6 * MIN, downAt: deadline + 6 * MIN });
  });

  it('muted at the deadline: no trigger; the open incident of a recovery still resolves', () => {
    const long = oneOff(T0 + 3 * MIN, T0 + HOUR);
    const r = withUnmute(spec(), rec(), [long], deadline, 'UTC');
    expect(decide(spec(), r, deadline, { ...CALM, muted: true })).toBeNull();
    const down = rec({ incident: { downAt: deadline, beatSeq: 1, heldSince: null }, lastBeatAt: deadline + MIN, beatSeq: 2 });
    expect(decide(spec(), down, deadline + MIN, { ...CALM, muted: true })).toMatchObject({ kind: 'up', at: deadline + MIN });
  });
});

describe('window excuses across DST (recurring windows in their own zone)', () => {
  // Nightly 02:00-03:00 Berlin time over a 5m/1m service.
  const berlin = window({ cron: '0 2 * * *', durationMs: HOUR, timezone: 'Europe/Berlin', reason: 'nightly' });
  const fromBeat = (beatAt: string, w: Window = berlin) => firstPage(spec(), rec({ lastBeatAt: at(beatAt) }), [w], at(beatAt), at(beatAt) + DAY);

  it.each([
    // Winter (CET, UTC+1): the window is 01:00-02:00Z.
    ['winter: a deadline inside (01:30Z) runs from 02:00Z', '2026-11-26T01:24:00Z', '2026-11-26T02:06:00Z'],
    ['winter: a deadline at 02:00Z (03:00 CET) is the window end: pages', '2026-11-26T01:54:00Z', '2026-11-26T02:00:00Z'],
    // Summer (CEST, UTC+2): the same window is 00:00-01:00Z.
    ['summer: a deadline at 00:30Z is inside: runs from 01:00Z', '2026-07-04T00:24:00Z', '2026-07-04T01:06:00Z'],
    ['summer: a deadline at 01:30Z (03:30 CEST) is outside: pages', '2026-07-04T01:24:00Z', '2026-07-04T01:30:00Z'],
    // Spring forward, 2026-03-29: 02:00 Berlin is skipped, so the window opens at the jump, 03:00 CEST
    // (01:00Z), for its hour, as Debian cron runs a 02:00 job.
    ['spring forward: the window opens at the jump (01:00-02:00Z): a deadline at 01:30Z runs from 02:00Z', '2026-03-29T01:24:00Z', '2026-03-29T02:06:00Z'],
    ['the night before (CET): a deadline at 01:30Z is inside: runs from 02:00Z', '2026-03-28T01:24:00Z', '2026-03-28T02:06:00Z'],
    // Fall back, 2026-10-25: 02:00 comes twice (00:00Z CEST and 01:00Z CET); the window opens once,
    // at the first, as Debian cron runs a 02:00 job once.
    ['fall back: a deadline in the first 02:xx (00:30Z) runs from 01:00Z; the second 02:00 opens no window: down at 01:06Z', '2026-10-25T00:24:00Z', '2026-10-25T01:06:00Z'],
  ])('%s', (_label, beatAt, expectedDown) => {
    const page = fromBeat(beatAt);
    expect(page?.downAt).toBe(at(expectedDown));
  });

  it('a zone behind UTC (America/New_York, fall back 2026-11-01: 01:00-01:59 happens twice): the window opens at the first 01:30 only', () => {
    const ny = window({ cron: '30 1 * * *', durationMs: 20 * MIN, timezone: 'America/New_York' });
    // 01:30 EDT = 05:30Z opens the window (to 05:50Z); 01:30 EST = 06:30Z does not open it again.
    expect(fromBeat('2026-11-01T05:34:00Z', ny)?.downAt).toBe(at('2026-11-01T05:56:00Z'));
    expect(fromBeat('2026-11-01T05:54:00Z', ny)?.downAt).toBe(at('2026-11-01T06:00:00Z'));
    expect(fromBeat('2026-11-01T06:34:00Z', ny)?.downAt).toBe(at('2026-11-01T06:40:00Z'));
  });
});
