import { describe, expect, it } from 'vitest';
import { summary } from '../../src/commands/replay.js';
import type { Window } from '../../src/core/mute.js';
import { actualIncidents, compare, historyCursor, replayService, type ReplayHistory, type ReplayInput } from '../../src/core/replay.js';
import type { Signal } from '../../src/core/signal.js';
import { MIN, serviceSpec, T0 } from '../helpers/model.js';

const at = (minutes: number) => T0 + minutes * MIN;
const every5 = (from: number, to: number) => Array.from({ length: (to - from) / 5 + 1 }, (_, i) => at(from + i * 5));

/**
 * A 5m service beating every 5 minutes from T0 to T0+4h, with two outages: silent from 30m to
 * 60m (six beats missing), and from 120m to 135m (two missing).
 */
const TWO_OUTAGES: number[] = [...every5(0, 30), ...every5(60, 120), ...every5(135, 240)];

function history(over: Partial<ReplayHistory> = {}): ReplayHistory {
  return { beats: TWO_OUTAGES, signals: [], pauses: [], resets: [], ...over };
}

function input(over: Partial<ReplayInput> = {}): ReplayInput {
  return {
    spec: serviceSpec(),
    startedAt: at(-60),
    history: history(),
    windows: [],
    localZone: 'UTC',
    flap: { windowMs: 60 * MIN, maxTriggers: 1000 },
    from: at(0),
    until: at(240),
    ...over,
  };
}

/** [opened, resolved] in minutes after T0. */
const minutes = (incidents: { openedAt: number; resolvedAt: number | null }[]) =>
  incidents.map((i) => [(i.openedAt - T0) / MIN, i.resolvedAt === null ? null : (i.resolvedAt - T0) / MIN]);

function window(over: Partial<Window>): Window {
  return { services: ['job'], teams: null, all: false, startAt: null, endAt: null, cron: null, durationMs: null, timezone: null, reason: null, ...over };
}

describe('replayService: the incidents a check every minute would have opened, hand-computed', () => {
  it.each([
    // Budget 6m: down 6m after each last beat (36m, 126m), resolved by the next beat.
    ['threshold 1, grace 1m', { threshold: 1, graceMs: 1 * MIN }, [[36, 60], [126, 135]]],
    // Budget 16m: the 30-minute silence pages at 46m; the 15-minute one (beat at 135m, deadline 136m) does not.
    ['threshold 3, grace 1m', { threshold: 3, graceMs: 1 * MIN }, [[46, 60]]],
    // Budget 15m: 45m; the beat at 135m lands exactly on the deadline and is counted first (no page).
    ['threshold 1, grace 10m', { threshold: 1, graceMs: 10 * MIN }, [[45, 60]]],
    // Budget 14m: the second silence is down at 134m, one minute before its beat.
    ['threshold 1, grace 9m', { threshold: 1, graceMs: 9 * MIN }, [[44, 60], [134, 135]]],
  ])('%s → %j', (_label, over, expected) => {
    const incidents = replayService(input({ spec: serviceSpec(over) }));
    expect(minutes(incidents)).toEqual(expected);
    expect(incidents.every((i) => i.reason === 'missed')).toBe(true);
  });

  it('a failure pages at the failure, not at a deadline, and the next success resolves it (reason failed)', () => {
    // Beats every 5m from 0 to 240m; a run fails at 92.5m (between beats), the beat at 95m is the next success.
    const fail: Signal = { kind: 'fail', at: at(92) + 30_000, exitCode: 3 };
    const incidents = replayService(input({ history: history({ beats: every5(0, 240), signals: [fail] }) }));
    expect(incidents.map((i) => [(i.openedAt - T0) / MIN, (i.resolvedAt! - T0) / MIN, i.reason])).toEqual([[92.5, 95, 'failed']]);
  });

  it('a run still going at start + maxRuntime is stuck; a start every day without an end pages even with no maxRuntime', () => {
    const start: Signal = { kind: 'start', at: at(100) };
    // Beats until 100m, a run starts at 100m and ends (a success) at 140m; maxRuntime 20m: stuck at 120m.
    const beats = [...every5(0, 100), ...every5(140, 240)];
    const stuck = replayService(input({ spec: serviceSpec({ maxRuntimeMs: 20 * MIN, graceMs: 60 * MIN }), history: history({ beats, signals: [start] }) }));
    expect(stuck.map((i) => [(i.openedAt - T0) / MIN, (i.resolvedAt! - T0) / MIN, i.reason])).toEqual([[120, 140, 'stuck']]);
    // No maxRuntime, grace 1m: a run started at 100m shows up for its slot; a second start at 103m does
    // not move the reference again (the earliest counts): down at 100 + 5 + 1 = 106m, resolved at 140m.
    const again: Signal = { kind: 'start', at: at(103) };
    const missed = replayService(input({ history: history({ beats, signals: [start, again] }) }));
    expect(missed.map((i) => [(i.openedAt - T0) / MIN, (i.resolvedAt! - T0) / MIN, i.reason])).toEqual([[106, 140, 'missed']]);
  });

  it('a real check between two minutes is replayed too: an incident shorter than a minute is seen, not called missed', () => {
    // 5m service, grace 1m10s; beats to 30m, then one at 36m40s: down at 36m10s, back 30 s later.
    const spec = serviceSpec({ graceMs: 70_000 });
    const beats = [...every5(0, 30), at(36) + 40_000, ...every5(40, 240)];
    expect(replayService(input({ spec, history: history({ beats }) }))).toEqual([]); // the minute grid never sees it
    const seen = replayService(input({ spec, history: history({ beats }), checksAt: [at(36) + 20_000] }));
    expect(seen.map((i) => [i.openedAt - at(36), i.resolvedAt! - at(36)])).toEqual([[10_000, 40_000]]);
  });

  it('the end of the range is a check too: what a check run now would see', () => {
    const spec = serviceSpec({ graceMs: 70_000 }); // down 6m10s after the last beat
    const beats = every5(0, 30);
    expect(minutes(replayService(input({ spec, history: history({ beats }), until: at(36) + 20_000 })))).toEqual([[36 + 10 / 60, null]]);
  });

  it('the state before the range comes from the history before it: from 100m on, only the second outage', () => {
    expect(minutes(replayService(input({ from: at(100) })))).toEqual([[126, 135]]);
  });

  it('an outage still going at the end of the range stays open', () => {
    expect(minutes(replayService(input({ until: at(130) })))).toEqual([[36, 60], [126, null]]);
  });

  it.each([
    // The first deadline (36m) falls in the pause: no trigger; its end (90m) restarts the clock.
    ['a timed pause 32m–90m suppresses the first page', { since: at(32), until: at(90), endedAt: null }, [[126, 135]]],
    // `medic resume` at 50m: the clock restarts then, still silent: down at 56m, back at 60m.
    ['a pause ended by resume at 50m restarts the clock then', { since: at(32), until: null, endedAt: at(50) }, [[56, 60], [126, 135]]],
  ])('%s', (_label, pause, expected) => {
    expect(minutes(replayService(input({ history: history({ pauses: [pause] }) })))).toEqual(expected);
  });

  it('a recorded clock restart (a checker gap) at 34m moves the first deadline to 40m, as the store did', () => {
    expect(minutes(replayService(input({ history: history({ resets: [at(34)] }) })))).toEqual([[40, 60], [126, 135]]);
  });

  it.each([
    // The 36m deadline falls in the window: a fresh 6m from its end (45m), so down at 51m; still paged.
    ['a window 30m–45m over the first deadline delays that page to 51m', window({ startAt: at(30), endAt: at(45) }), [[51, 60], [126, 135]]],
    // A deadline outside every window pages as if there were none.
    ['a window 40m–50m, after the deadline, changes nothing', window({ startAt: at(40), endAt: at(50) }), [[36, 60], [126, 135]]],
    ['a window for another service changes nothing', window({ services: ['other'], startAt: at(30), endAt: at(45) }), [[36, 60], [126, 135]]],
    // A recurring window every day 12:30 UTC for 40m: the 36m deadline is excused to 13:10 (70m), by when it beats again.
    ['a daily window at 12:30 for 40m covers the first outage', window({ cron: '30 12 * * *', durationMs: 40 * MIN }), [[126, 135]]],
  ])('%s', (_label, w, expected) => {
    expect(minutes(replayService(input({ windows: [w] })))).toEqual(expected);
  });

  describe('flap damping', () => {
    // Silent 10 minutes out of every 10 from 0 to 60m (a beat at 0, 10, …, 60), then every 5m: down 6m after each beat.
    const storm = [...[0, 10, 20, 30, 40, 50].map(at), ...every5(60, 240)];
    const stormInput = (maxTriggers: number) => input({ history: history({ beats: storm }), flap: { windowMs: 60 * MIN, maxTriggers } });

    it('without it, every dip is a page of its own', () => {
      expect(minutes(replayService(stormInput(1000)))).toEqual([[6, 10], [16, 20], [26, 30], [36, 40], [46, 50], [56, 60]]);
    });

    it('with 3 triggers per hour, the third recovery is held and the rest of the storm is one incident, resolved an hour after the last recovery (60m → 120m)', () => {
      expect(minutes(replayService(stormInput(3)))).toEqual([[6, 10], [16, 20], [26, 120]]);
    });
  });

  it('30 days of a 1-minute service (43,200 checks) in one pass', () => {
    const day = 1440;
    const beats = Array.from({ length: 30 * day }, (_, i) => at(i)).filter((b) => (b - T0) / MIN % day < 600 || (b - T0) / MIN % day >= 620);
    const incidents = replayService(input({ spec: serviceSpec({ intervalMs: MIN, graceMs: 0 }), history: history({ beats }), until: at(30 * day - 1) }));
    expect(incidents).toHaveLength(30);
    expect(minutes(incidents.slice(0, 2))).toEqual([[600, 620], [day + 600, day + 620]]);
  });
});

describe('historyCursor: the record as the store would have kept it, minute by minute', () => {
  const start: Signal = { kind: 'start', at: at(10) + 5_000 };
  const fail: Signal = { kind: 'fail', at: at(12) + 30_000, exitCode: 3, message: 'disk full' };
  // A success with details is in `beats` too: its copy among the signals must not count twice.
  const okWithDetails: Signal = { kind: 'ok', at: at(20), durationMs: 1000 };
  const h = history({ beats: [at(0), at(10), at(20)], signals: [start, fail, okWithDetails] });

  it.each([
    // minute, lastBeatAt, beatSeq, runStartedAt, failure
    [5, at(0), 1, null, null],
    // At 10m the beat is in, the start 5 s later is not yet; by 11m the run is armed (not a success).
    [10, at(10), 2, null, null],
    [11, at(10), 2, start.at, null],
    // A failure ends the run and is kept; it is not a success.
    [13, at(10), 2, null, fail],
    // A success clears both.
    [20, at(20), 3, null, null],
  ])('at %im: last beat, sequence, run, failure', (minute, lastBeatAt, beatSeq, runStartedAt, failure) => {
    const c = historyCursor('job', at(-60), h);
    // The minute before first, so that advancing step by step is tested too.
    c.advance(at(minute - 1));
    c.advance(at(minute));
    expect(c.record).toMatchObject({ lastBeatAt, beatSeq, runStartedAt, failure });
  });

  it('within one minute, events apply in the order they happened (start, then success: no run left)', () => {
    const c = historyCursor('job', at(-60), history({ beats: [at(1) + 50_000], signals: [{ kind: 'start', at: at(1) + 10_000 }] }));
    c.advance(at(2));
    expect(c.record).toMatchObject({ beatSeq: 1, runStartedAt: null });
  });

  it.each([
    ['a timed pause is kept (its end restarts the clock in withUnmute)', { since: at(5), until: at(30), endedAt: null }, 40, { since: at(5), until: at(30), reason: null }, null],
    ['a pause ended by resume is gone, and the clock restarts then', { since: at(5), until: null, endedAt: at(25) }, 40, null, at(25)],
    ['a pause not yet ended mutes', { since: at(5), until: null, endedAt: at(25) }, 20, { since: at(5), until: null, reason: null }, null],
  ])('%s', (_label, pause, minute, expected, resetAt) => {
    const c = historyCursor('job', at(-60), history({ pauses: [pause] }));
    c.advance(at(minute));
    expect(c.record.pause).toEqual(expected);
    expect(c.record.resetAt).toBe(resetAt);
  });
});

describe('actualIncidents: what really paged, from the stored transitions', () => {
  const t = (minute: number, to: string, reason = 'no beat within 6m of the last beat') => ({ at: at(minute), from: '', to, reason });

  it('down opens, up resolves; flapping and relapse stay in the same incident; pauses and gaps are not incidents', () => {
    const transitions = [t(6, 'down'), t(10, 'flapping'), t(16, 'relapse'), t(20, 'flapping'), t(80, 'up'), t(90, 'paused'), t(95, 'unknown'), t(126, 'down', 'failed: exit 3 at …')];
    expect(minutes(actualIncidents(transitions, at(0), at(240)))).toEqual([[6, 80], [126, null]]);
    expect(actualIncidents(transitions, at(0), at(240)).map((i) => i.reason)).toEqual(['missed', 'failed']);
  });

  it.each([
    ['ends before the range', [t(6, 'down'), t(10, 'up')], at(20), []],
    ['overlaps the start of the range', [t(6, 'down'), t(30, 'up')], at(20), [[6, 30]]],
    ['still open from before the range', [t(6, 'down')], at(20), [[6, null]]],
  ])('an incident that %s', (_label, transitions, from, expected) => {
    expect(minutes(actualIncidents(transitions, from, at(240)))).toEqual(expected);
  });
});

describe('compare and the summary line', () => {
  const inc = (open: number, close: number | null, reason: 'missed' | 'failed' | 'stuck' = 'missed') => ({ openedAt: at(open), resolvedAt: close === null ? null : at(close), reason });
  const actual = [inc(36, 60), inc(126, 135), inc(200, null, 'failed')];

  it.each([
    ['every real incident overlapped', [inc(46, 60), inc(130, 135), inc(220, null)], 'job: 3 pages instead of 3; no outage missed: every real incident still paged'],
    [
      'two real incidents not overlapped',
      [inc(46, 60)],
      'job: 1 page instead of 3; 2 real incidents would not have paged: 2026-11-26T14:06Z (missed), 2026-11-26T15:20Z (failed)',
    ],
    ['one that starts as the real one ends still covers it', [inc(60, 70), inc(135, 140), inc(240, 241)], 'job: 3 pages instead of 3; no outage missed: every real incident still paged'],
    ['nothing real to miss', [], 'job: 0 pages instead of 0; no real incident in this range'],
  ])('%s', (label, replayed, line) => {
    const real = label === 'nothing real to miss' ? [] : actual;
    expect(summary('job', compare(replayed, real, at(240)))).toBe(line);
  });
});
