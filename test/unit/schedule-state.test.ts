/**
 * [jobs] The state machine for scheduled services and run signals (src/core/state.ts): the
 * threshold-th scheduled run + grace, the early-beat rule, missed runs, failed and stuck with
 * their priority, and maintenance windows excusing a failure or a stuck run (withUnmute).
 * Boundaries at −1 ms / 0 / +1 ms.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { evaluateAll } from '../../src/commands/check.js';
import { buildConfig } from '../../src/config.js';
import type { StoredService } from '../../src/store/types.js';
import { countRuns, nextRun, parseCron } from '../../src/core/cron.js';
import { withUnmute, type Window } from '../../src/core/mute.js';
import type { ServiceSpec } from '../../src/core/service.js';
import type { Signal } from '../../src/core/signal.js';
import { decide, DUE_HORIZON_MS, downMoment, evaluate, MISSED_RUNS_CAP, missedHeartbeats, NEVER, type DecideContext, type ServiceRecord } from '../../src/core/state.js';
import { MIN, serviceRecord, serviceSpec } from '../helpers/model.js';

// The real cron functions, watched: how many runs state.ts asks cron for is the work a check does
// (counted instead of timed, as the machine is noisy).
vi.mock('../../src/core/cron.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/core/cron.js')>();
  return { ...real, nextRun: vi.fn(real.nextRun), countRuns: vi.fn(real.countRuns) };
});

const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const at = (text: string) => Date.parse(text);
const CALM: DecideContext = { muted: false, recentTriggers: 0, flap: { windowMs: HOUR, maxTriggers: 3 } };

/** A daily job at 02:30 in a zone, grace 30m (no interval). */
function daily(over: Partial<ServiceSpec> = {}, timezone = 'Europe/Berlin'): ServiceSpec {
  return serviceSpec({ intervalMs: null, schedule: { expr: '30 2 * * *', cron: parseCron('30 2 * * *'), timezone }, graceMs: 30 * MIN, ...over });
}

// 02:30 in Berlin (CET, UTC+1) in late November is 01:30Z.
const RUN_27 = at('2026-11-27T01:30:00Z');
const RUN_28 = RUN_27 + DAY;
const BEAT = at('2026-11-26T01:35:00Z'); // the 26th's run, 5 minutes in
const rec = (over: Partial<ServiceRecord> = {}) => serviceRecord({ registeredAt: BEAT - DAY, lastBeatAt: BEAT, ...over });
const fail = (atMs: number, over: Partial<Signal> = {}): Signal => ({ kind: 'fail', at: atMs, exitCode: 3, durationMs: 1234, message: 'disk full', outputTail: 'tail', ...over });

describe('a scheduled service is due at the threshold-th run after its reference, plus grace', () => {
  const deadline = RUN_27 + 30 * MIN;
  it.each([
    ['1 ms before the next run: up', RUN_27 - 1, 'up'],
    ['at the next run: late', RUN_27, 'late'],
    ['deadline − 1 ms: late', deadline - 1, 'late'],
    ['at the deadline: down', deadline, 'down'],
    ['deadline + 1 ms: down', deadline + 1, 'down'],
  ])('daily 02:30 Europe/Berlin, grace 30m: %s', (_label, now, state) => {
    const ev = evaluate(daily(), rec(), now);
    expect(ev).toMatchObject({ state, lateAt: RUN_27, deadlineAt: deadline });
    expect(ev.reason).toBe(state === 'down' ? 'missed' : null);
  });

  it.each([
    ['threshold 1', 1, RUN_27 + 30 * MIN],
    ['threshold 2: the second run', 2, RUN_28 + 30 * MIN],
    ['threshold 3: the third run', 3, RUN_28 + DAY + 30 * MIN],
  ])('%s', (_label, threshold, deadline) => {
    const ev = evaluate(daily({ threshold }), rec(), BEAT + MIN);
    expect(ev.lateAt).toBe(RUN_27);
    expect(ev.deadlineAt).toBe(deadline);
  });

  it.each([
    ['Europe/Berlin (UTC+1)', 'Europe/Berlin', at('2026-11-27T01:30:00Z')],
    ['America/New_York (UTC−5)', 'America/New_York', at('2026-11-27T07:30:00Z')],
    ['Australia/Adelaide (UTC+10:30 in summer)', 'Australia/Adelaide', at('2026-11-27T16:00:00Z')],
  ])('the schedule is read in its zone: %s', (_label, zone, run) => {
    expect(evaluate(daily({}, zone), rec({ lastBeatAt: at('2026-11-26T18:00:00Z') }), at('2026-11-26T18:01:00Z')).lateAt).toBe(run);
  });

  it('a macro schedule (@hourly) counts each hour', () => {
    const s = serviceSpec({ intervalMs: null, schedule: { expr: '@hourly', cron: parseCron('@hourly'), timezone: 'UTC' }, graceMs: 5 * MIN });
    expect(evaluate(s, rec({ lastBeatAt: at('2026-11-26T10:10:00Z') }), at('2026-11-26T10:11:00Z'))).toMatchObject({ lateAt: at('2026-11-26T11:00:00Z'), deadlineAt: at('2026-11-26T11:05:00Z') });
  });
});

describe('early-beat rule: a beat within grace before a scheduled run counts for that run', () => {
  // Grace 30m: a beat from 01:00Z on the 27th on counts for the 27th's run, so the next one due is the 28th's.
  it.each([
    ['grace + 1 ms before the run: an ordinary beat, the run is still due', RUN_27 - 30 * MIN - 1, 'late', RUN_27, RUN_27 + 30 * MIN, 1],
    ['exactly grace before the run: counts for it', RUN_27 - 30 * MIN, 'up', RUN_28, RUN_28 + 30 * MIN, 0],
    ['grace − 1 ms before the run: counts for it', RUN_27 - 30 * MIN + 1, 'up', RUN_28, RUN_28 + 30 * MIN, 0],
    ['1 ms before the run: counts for it', RUN_27 - 1, 'up', RUN_28, RUN_28 + 30 * MIN, 0],
    ['exactly at the run: it is that run', RUN_27, 'up', RUN_28, RUN_28 + 30 * MIN, 0],
  ])('%s', (_label, beat, state, lateAt, deadlineAt, missed) => {
    const ev = evaluate(daily(), rec({ lastBeatAt: beat }), RUN_27 + 29 * MIN);
    expect(ev).toMatchObject({ state, lateAt, deadlineAt });
    expect(ev.missedHeartbeats).toBe(missed);
  });

  it('an early beat does not page at the run it stands for (the job that ran a little early)', () => {
    const r = rec({ lastBeatAt: RUN_27 - 10 * MIN });
    expect(decide(daily(), r, RUN_27 + 31 * MIN, CALM)).toBeNull();
    expect(decide(daily(), r, RUN_28 + 30 * MIN, CALM)).toMatchObject({ kind: 'down', at: RUN_28 + 30 * MIN });
  });

  it('a run start within grace before the run counts for it too', () => {
    expect(evaluate(daily(), rec({ runStartedAt: RUN_27 - MIN }), RUN_27 + 45 * MIN)).toMatchObject({ state: 'up', deadlineAt: RUN_28 + 30 * MIN, runningSince: RUN_27 - MIN });
  });

  it.each([
    ['registration', rec({ lastBeatAt: null, beatSeq: 0, registeredAt: RUN_27 - 10 * MIN })],
    ['a reset (resume, checker gap, window end)', rec({ resetAt: RUN_27 - 10 * MIN })],
  ])('does not apply to %s: the run right after is still expected', (_label, r) => {
    expect(evaluate(daily(), r, RUN_27 + 30 * MIN)).toMatchObject({ state: 'down', deadlineAt: RUN_27 + 30 * MIN });
  });

  it('grace 0 disables it: a beat a minute early is an ordinary beat', () => {
    expect(evaluate(daily({ graceMs: 0 }), rec({ lastBeatAt: RUN_27 - MIN }), RUN_27 - 1).deadlineAt).toBe(RUN_27);
  });
});

describe('missed heartbeats of a scheduled service: the runs in (last beat, now]', () => {
  it.each([
    ['1 ms before the first run: 0', RUN_27 - 1, 0],
    ['at the first run: 1', RUN_27, 1],
    ['1 ms after it: 1', RUN_27 + 1, 1],
    ['at the third run: 3', RUN_28 + DAY, 3],
  ])('%s', (_label, now, missed) => {
    expect(missedHeartbeats(daily(), rec(), now)).toBe(missed);
  });

  it('counts from registration when it never beat', () => {
    expect(missedHeartbeats(daily(), rec({ lastBeatAt: null, beatSeq: 0, registeredAt: BEAT }), RUN_28)).toBe(2);
  });

  it(`stops counting at ${MISSED_RUNS_CAP}`, () => {
    const everyMinute = serviceSpec({ intervalMs: null, schedule: { expr: '* * * * *', cron: parseCron('* * * * *'), timezone: 'UTC' } });
    expect(missedHeartbeats(everyMinute, rec(), BEAT + (MISSED_RUNS_CAP + 50) * MIN)).toBe(MISSED_RUNS_CAP);
  });
});

describe('failed: a reported failure makes the service down at once', () => {
  const F = BEAT + HOUR;
  it.each([
    ['1 ms before the failure: up', F - 1, null],
    ['at the failure: down, failed', F, 'failed'],
    ['1 ms after: down, failed', F + 1, 'failed'],
  ])('%s', (_label, now, reason) => {
    // The failure is in the record only once it happened; before, the record has none.
    const r = now >= F ? rec({ failure: fail(F) }) : rec();
    const ev = evaluate(daily(), r, now);
    expect(ev.reason).toBe(reason);
    expect(ev.state).toBe(reason ? 'down' : 'up');
    if (reason) expect(ev.downAt).toBe(F);
  });

  it('opens an incident at the failure, long before the deadline, unless muted', () => {
    const r = rec({ failure: fail(F) });
    expect(decide(daily(), r, F + MIN, CALM)).toMatchObject({ kind: 'down', at: F, evaluation: { reason: 'failed' } });
    expect(decide(daily(), r, F + MIN, { ...CALM, muted: true })).toBeNull();
  });

  it('an interval service fails the same way', () => {
    expect(decide(serviceSpec(), serviceRecord({ failure: fail(serviceRecord().lastBeatAt! + MIN) }), serviceRecord().lastBeatAt! + 2 * MIN, CALM)).toMatchObject({ kind: 'down', evaluation: { reason: 'failed' } });
  });

  it('a later success resolves (the beat sequence moved past the incident)', () => {
    const open = { downAt: F, beatSeq: 1, heldSince: null };
    expect(decide(daily(), rec({ failure: fail(F), incident: open }), F + MIN, CALM)).toBeNull();
    expect(decide(daily(), rec({ lastBeatAt: F + 2 * MIN, beatSeq: 2, incident: open }), F + 3 * MIN, CALM)).toMatchObject({ kind: 'up', at: F + 2 * MIN });
  });

  it.each([
    ['a reset 1 ms after the failure: forgotten', F + 1, null],
    ['a reset at the failure: it counts', F, 'failed'],
    ['a reset 1 ms before it: it counts', F - 1, 'failed'],
  ])('%s', (_label, resetAt, reason) => {
    expect(evaluate(daily(), rec({ failure: fail(F), resetAt }), F + MIN).reason).toBe(reason);
  });

  it('a failure stamped after now counts at now', () => {
    expect(downMoment(daily(), rec({ failure: fail(F + DAY) }), F)).toEqual({ at: F, reason: 'failed' });
  });
});

describe('stuck: a run not ended within maxRuntime', () => {
  const S = RUN_27; // started on time
  const withLimit = daily({ maxRuntimeMs: 2 * HOUR });
  it.each([
    ['maxRuntime − 1 ms: running', S + 2 * HOUR - 1, 'up', null],
    ['at maxRuntime: stuck', S + 2 * HOUR, 'down', 'stuck'],
    ['maxRuntime + 1 ms: stuck', S + 2 * HOUR + 1, 'down', 'stuck'],
  ])('%s', (_label, now, state, reason) => {
    const ev = evaluate(withLimit, rec({ runStartedAt: S }), now);
    expect(ev).toMatchObject({ state, reason, runningSince: S, deadlineAt: S + 2 * HOUR });
  });

  it('a long run under maxRuntime is not "missed" when the grace after its slot has passed (grace is for lateness, maxRuntime for running long)', () => {
    const ev = evaluate(withLimit, rec({ runStartedAt: S }), S + 90 * MIN);
    expect(ev.state).toBe('up');
    expect(decide(withLimit, rec({ runStartedAt: S }), S + 90 * MIN, CALM)).toBeNull();
    expect(decide(withLimit, rec({ runStartedAt: S }), S + 2 * HOUR, CALM)).toMatchObject({ kind: 'down', at: S + 2 * HOUR, evaluation: { reason: 'stuck' } });
  });

  it('without maxRuntime the start counts for its slot, and a run that never ends is missed at the next one', () => {
    const r = rec({ runStartedAt: S });
    expect(evaluate(daily(), r, S + 10 * HOUR)).toMatchObject({ state: 'up', runningSince: S });
    expect(evaluate(daily(), r, RUN_28 + 30 * MIN)).toMatchObject({ state: 'down', reason: 'missed', downAt: RUN_28 + 30 * MIN });
  });

  it('a start is not a success: an open incident stays open', () => {
    const open = { downAt: S - HOUR, beatSeq: 1, heldSince: null };
    expect(decide(withLimit, rec({ runStartedAt: S, incident: open }), S + MIN, CALM)).toBeNull();
  });

  it.each([
    ['a start older than a reset does not count', rec({ runStartedAt: S, resetAt: S + 1 }), S + 3 * HOUR, { runningSince: null }],
    ['a start stamped after now does not count yet', rec({ runStartedAt: S + HOUR }), S, { runningSince: null, state: 'late' }],
  ])('%s', (_label, r, now, expected) => {
    expect(evaluate(withLimit, r, now)).toMatchObject(expected);
  });

  it('an interval service gets stuck the same way', () => {
    const s = serviceSpec({ maxRuntimeMs: 10 * MIN });
    const start = serviceRecord().lastBeatAt! + MIN;
    expect(downMoment(s, serviceRecord({ runStartedAt: start }), start + 10 * MIN - 1)).toBeNull();
    expect(downMoment(s, serviceRecord({ runStartedAt: start }), start + 10 * MIN)).toEqual({ at: start + 10 * MIN, reason: 'stuck' });
  });
});

describe('priority: failed > stuck > missed', () => {
  const limit = daily({ maxRuntimeMs: HOUR });
  const late = RUN_28 + 2 * HOUR; // past the missed deadline too
  it.each([
    ['failed and stuck and past the deadline → failed', rec({ failure: fail(RUN_27 + 5 * MIN), runStartedAt: RUN_27 }), 'failed', RUN_27 + 5 * MIN],
    ['stuck and past the deadline → stuck', rec({ runStartedAt: RUN_27 }), 'stuck', RUN_27 + HOUR],
    ['only past the deadline → missed', rec(), 'missed', RUN_27 + 30 * MIN],
  ])('%s', (_label, r, reason, downAt) => {
    expect(downMoment(limit, r, late)).toEqual({ at: downAt, reason });
  });
});

describe('withUnmute: a window excuses a failure or a stuck run inside it, as it does a deadline', () => {
  const oneOff = (startAt: number, endAt: number): Window => ({ services: null, teams: null, all: true, startAt, endAt, cron: null, durationMs: null, timezone: null, reason: 'upgrade' });
  const F = BEAT + HOUR;
  it.each([
    ['window opens 1 ms after the failure: it pages', oneOff(F + 1, F + HOUR), 'failed'],
    ['window opens at the failure: excused', oneOff(F, F + HOUR), null],
    ['window ends at the failure: outside ([start, end)), it pages', oneOff(F - HOUR, F), 'failed'],
    ['window ends 1 ms after the failure: excused', oneOff(F - HOUR, F + 1), null],
  ])('%s', (_label, w, reason) => {
    const now = F + 2 * HOUR;
    const r = withUnmute(daily(), rec({ failure: fail(F) }), [w], now, 'UTC');
    expect(evaluate(daily(), r, now).reason).toBe(reason);
    if (reason === null) expect(r.resetAt).toBe(w.endAt);
  });

  it('a run that became stuck inside a window is excused; the clock restarts at its end', () => {
    const s = daily({ maxRuntimeMs: HOUR });
    const start = RUN_27;
    const w = oneOff(start + 30 * MIN, start + 2 * HOUR);
    const now = start + 3 * HOUR;
    const r = withUnmute(s, rec({ runStartedAt: start }), [w], now, 'UTC');
    expect(r.resetAt).toBe(start + 2 * HOUR);
    expect(evaluate(s, r, now)).toMatchObject({ state: 'up', runningSince: null, deadlineAt: RUN_28 + 30 * MIN });
  });

  it('a failure before the window still pages after it ends (the window hides no outage)', () => {
    const w = oneOff(F + MIN, F + HOUR);
    const r = withUnmute(daily(), rec({ failure: fail(F) }), [w], F + 2 * HOUR, 'UTC');
    expect(decide(daily(), r, F + 2 * HOUR, CALM)).toMatchObject({ kind: 'down', at: F });
  });
});

describe('check: the trigger carries the reason and the run details, and the transition says why', () => {
  const config = buildConfig(
    {
      services: [
        { slug: 'job', interval: '1h', grace: '5m', maxRuntime: '2h' },
        { slug: 'nightly', schedule: '30 2 * * *', timezone: 'Europe/Berlin', grace: '30m' },
      ],
    },
    '/x/medic.config.json',
    { env: {}, cwd: '/', machineZone: 'UTC' },
  );
  const stored = (slug: string, over: Partial<StoredService> = {}): StoredService => ({ ...rec({ slug }), version: 1, incidentId: null, ...over });
  const change = (r: StoredService, now: number) => {
    const changes = evaluateAll(config, new Map([[r.slug, r]]), new Map(), now);
    expect(changes).toHaveLength(1);
    const c = changes[0]!;
    return { reason: c.reason, at: c.at, facts: c.events === 'resolve-sent-triggers' ? null : c.events[0]!.facts };
  };
  const F = BEAT + 10 * MIN;

  it('failed: "failed: exit 3 at …" with the failure\'s details in the facts', () => {
    expect(change(stored('job', { failure: fail(F) }), F + MIN)).toEqual({
      at: F,
      reason: `failed: exit 3 at ${new Date(F).toISOString()} after 1s234ms: "disk full"`,
      facts: { downAt: F, lastBeatAt: BEAT, missedHeartbeats: 0, reason: 'failed', exitCode: 3, durationMs: 1234, message: 'disk full', outputTail: 'tail' },
    });
  });

  it('failed without details (`beat --fail`): "failed at …", null details', () => {
    const bare: Signal = { kind: 'fail', at: F };
    expect(change(stored('job', { failure: bare }), F + MIN)).toMatchObject({
      reason: `failed at ${new Date(F).toISOString()}`,
      facts: { reason: 'failed', exitCode: null, durationMs: null, message: null, outputTail: null },
    });
  });

  it('stuck: "stuck: started … and still running after maxRuntime 2h"', () => {
    const start = BEAT + HOUR;
    expect(change(stored('job', { runStartedAt: start }), start + 2 * HOUR)).toEqual({
      at: start + 2 * HOUR,
      reason: `stuck: started ${new Date(start).toISOString()} and still running after maxRuntime 2h`,
      facts: { downAt: start + 2 * HOUR, lastBeatAt: BEAT, missedHeartbeats: 3, reason: 'stuck' },
    });
  });

  it('missed, scheduled: names the schedule, its zone and the deadline', () => {
    expect(change(stored('nightly'), RUN_27 + 30 * MIN)).toEqual({
      at: RUN_27 + 30 * MIN,
      reason: `no beat for the next scheduled run ("30 2 * * *" in Europe/Berlin) + grace 30m after the last beat (${new Date(BEAT).toISOString()}): due by ${new Date(RUN_27 + 30 * MIN).toISOString()}`,
      facts: { downAt: RUN_27 + 30 * MIN, lastBeatAt: BEAT, missedHeartbeats: 1, reason: 'missed' },
    });
  });

  it('missed, interval: as before', () => {
    expect(change(stored('job'), BEAT + 65 * MIN).reason).toBe(`no beat within 1h5m of the last beat (${new Date(BEAT).toISOString()})`);
  });
});

describe('schedules cannot make a check run past its minute (1,000 services on 29 February, threshold 1000)', () => {
  const NOW = at('2026-11-29T12:00:00Z');
  // 00:00 on 29 February in Pacific/Chatham (UTC+13:45 in its summer).
  const FEB29 = (year: number) => at(`${year}-02-28T10:15:00Z`);
  const feb29 = (threshold: number) =>
    serviceSpec({ intervalMs: null, schedule: { expr: '0 0 29 2 *', cron: parseCron('0 0 29 2 *'), timezone: 'Pacific/Chatham' }, threshold, graceMs: MIN });
  beforeEach(() => {
    vi.mocked(nextRun).mockClear();
    vi.mocked(countRuns).mockClear();
  });

  it.each([
    ['threshold 1: the next 29 February', 1, FEB29(2028) + MIN],
    ['threshold 3: 2036, within ~10 years', 3, FEB29(2036) + MIN],
    ['threshold 4: 2040, past the horizon: never', 4, NEVER],
    ['threshold 1000: 4,000 years away: never', 1000, NEVER],
  ])('%s', (_label, threshold, deadline) => {
    const ev = evaluate(feb29(threshold), rec({ lastBeatAt: NOW, registeredAt: NOW - DAY }), NOW);
    expect(ev).toMatchObject({ state: 'up', lateAt: FEB29(2028), deadlineAt: deadline });
    // The walk stops at the horizon: at most the runs within it and the one past it.
    expect(vi.mocked(nextRun).mock.calls.length).toBeLessThanOrEqual(5);
  });

  it('the horizon is about 10 years after the reference', () => {
    expect(DUE_HORIZON_MS).toBeGreaterThanOrEqual(10 * 365 * DAY);
    expect(FEB29(2036) - NOW).toBeLessThan(DUE_HORIZON_MS);
    expect(FEB29(2040) - NOW).toBeGreaterThan(DUE_HORIZON_MS);
  });

  it('1,000 such services evaluate (check, status, missed count) with a few cron calls each, sharing one parsed schedule', () => {
    const n = 1000;
    const config = buildConfig(
      {
        services: Array.from({ length: n }, (_, i) => ({ slug: `leap-${i}`, schedule: '0 0 29 2 *', timezone: 'Pacific/Chatham', threshold: 1000 })),
      },
      '/x/medic.config.json',
      { env: {}, cwd: '/', machineZone: 'UTC' },
    );
    expect(new Set(config.services.map((s) => s.schedule!.cron)).size).toBe(1);
    // Each registered at its own minute, half of them beat once.
    const records = new Map(
      config.services.map((s, i): [string, StoredService] => [
        s.slug,
        { ...serviceRecord({ slug: s.slug, registeredAt: NOW - (i + 1) * MIN, lastBeatAt: i % 2 ? NOW - i * 1000 : null, beatSeq: i % 2 }), version: 1, incidentId: null },
      ]),
    );
    expect(evaluateAll(config, records, new Map(), NOW)).toEqual([]);
    for (const spec of config.services) {
      const ev = evaluate(spec, records.get(spec.slug)!, NOW);
      expect(ev.deadlineAt).toBe(NEVER);
      expect(ev.missedHeartbeats).toBe(0);
    }
    // Before: 1,000 runs walked per service (~10⁶ calls, ~50 s). Now: the first run from each
    // reference, the rest shared through the memo of the one parsed schedule.
    expect(vi.mocked(nextRun).mock.calls.length).toBeLessThanOrEqual(2 * n);
  });

  it(`an every-minute job dead for a week counts its missed runs with one countRuns, not ${MISSED_RUNS_CAP} nextRun calls`, () => {
    const everyMinute = serviceSpec({ intervalMs: null, schedule: { expr: '* * * * *', cron: parseCron('* * * * *'), timezone: 'Pacific/Chatham' }, graceMs: 0 });
    expect(missedHeartbeats(everyMinute, rec({ lastBeatAt: NOW - 7 * DAY }), NOW)).toBe(MISSED_RUNS_CAP);
    expect(missedHeartbeats(everyMinute, rec({ lastBeatAt: NOW - 90 * MIN - 30_000 }), NOW)).toBe(91); // NOW − 90m … NOW
    expect(vi.mocked(nextRun).mock.calls.length).toBeLessThanOrEqual(2); // the early-beat rule's look at the next run
    expect(vi.mocked(countRuns)).toHaveBeenCalledTimes(2);
  });
});
