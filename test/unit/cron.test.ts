import { describe, expect, it } from 'vitest';
import { countRuns, localTime, nextRun, parseCron, previousRun } from '../../src/core/cron.js';

const MIN = 60_000;
const at = (iso: string) => Date.parse(iso);
const sorted = (s: Set<number>) => [...s].sort((a, b) => a - b);

describe('parseCron reads the five fields the way Vixie cron does', () => {
  it.each([
    ['a single value', '5 * * * *', 'minutes', [5]],
    ['a range', '10-13 * * * *', 'minutes', [10, 11, 12, 13]],
    ['a list', '1,15,30 * * * *', 'minutes', [1, 15, 30]],
    ['a step over the whole field', '*/15 * * * *', 'minutes', [0, 15, 30, 45]],
    ['a step over a range', '10-30/10 * * * *', 'minutes', [10, 20, 30]],
    ['a step from a start value runs to the end of the field', '5/20 * * * *', 'minutes', [5, 25, 45]],
    ['a list of ranges and steps', '0-2,58,*/30 * * * *', 'minutes', [0, 1, 2, 30, 58]],
    ['hours', '0 */6 * * *', 'hours', [0, 6, 12, 18]],
    ['days of the month', '0 0 1,15,31 * *', 'days', [1, 15, 31]],
    ['month names', '0 0 1 jan,Mar,DEC *', 'months', [1, 3, 12]],
    ['a range of month names', '0 0 1 jun-aug *', 'months', [6, 7, 8]],
    ['weekday names', '0 0 * * mon,FRI', 'weekdays', [1, 5]],
    ['a range of weekday names', '0 0 * * mon-fri', 'weekdays', [1, 2, 3, 4, 5]],
    ['7 is Sunday', '0 0 * * 7', 'weekdays', [0]],
    ['a range ending at 7 includes Sunday', '0 0 * * 5-7', 'weekdays', [0, 5, 6]],
    ['0 and 7 together are one Sunday', '0 0 * * 0,7', 'weekdays', [0]],
    ['* as weekday is every day once', '0 0 * * *', 'weekdays', [0, 1, 2, 3, 4, 5, 6]],
  ] as const)('%s: "%s" → %s %j', (_label, expr, key, values) => {
    expect(sorted(parseCron(expr)[key])).toEqual(values);
  });

  it.each([
    ['@yearly', '0 0 1 1 *'],
    ['@annually', '0 0 1 1 *'],
    ['@monthly', '0 0 1 * *'],
    ['@weekly', '0 0 * * 0'],
    ['@daily', '0 0 * * *'],
    ['@midnight', '0 0 * * *'],
    ['@hourly', '0 * * * *'],
    ['  @DAILY ', '0 0 * * *'],
  ])('the macro %j means "%s"', (macro, expr) => {
    expect(parseCron(macro)).toEqual(parseCron(expr));
  });

  it.each([
    ['both day fields restricted', '0 0 13 * 5', true, true],
    ['only the day of month', '0 0 13 * *', true, false],
    ['only the weekday', '0 0 * * 5', false, true],
    // Vixie cron: a field that starts with "*" counts as unrestricted, even with a step (DOM_STAR).
    ['a starred step counts as unrestricted', '0 0 */2 * 5', false, true],
  ])('%s: "%s" → days restricted %s, weekdays restricted %s', (_label, expr, days, weekdays) => {
    const cron = parseCron(expr);
    expect(cron.daysRestricted).toBe(days);
    expect(cron.weekdaysRestricted).toBe(weekdays);
  });

  it('extra spaces between fields are fine', () => {
    expect(parseCron('  0   2 * *  6 ')).toEqual(parseCron('0 2 * * 6'));
  });

  it.each([
    ['four fields', '0 2 * *', /expected 5 fields.*got 4/],
    ['six fields', '0 0 2 * * *', /expected 5 fields.*got 6/],
    ['an empty expression', '', /expected 5 fields/],
    ['an unknown macro', '@reboot', /expected 5 fields.*got 1/],
    ['minute 60', '60 * * * *', /minute "60" is not in 0-59/],
    ['hour 24', '0 24 * * *', /hour "24" is not in 0-23/],
    ['day 0', '0 0 0 * *', /day of month "0" is not in 1-31/],
    ['day 32', '0 0 32 * *', /day of month "32" is not in 1-31/],
    ['month 13', '0 0 1 13 *', /month "13" is not in 1-12/],
    ['weekday 8', '0 0 * * 8', /weekday "8" is not in 0-7/],
    ['a misspelt name', '0 0 * * funday', /weekday "funday" is not in 0-7/],
    ['a name in a numeric field', '0 mon * * *', /hour "mon" is not in 0-23/],
    ['a negative number', '-5 * * * *', /minute "" is not in 0-59/],
    ['a range that runs backwards', '0 0 * * 5-1', /weekday range "5-1" runs backwards/],
    ['step 0', '*/0 * * * *', /minute step "0" must be a positive whole number/],
    ['a step that is not a number', '*/x * * * *', /minute step "x" must be a positive whole number/],
    ['an empty list item', '1,,2 * * * *', /minute "" is not in 0-59/],
  ])('refuses %s ("%s") with a message that says why', (_label, expr, message) => {
    expect(() => parseCron(expr)).toThrow(message);
  });
});

describe('localTime: the wall clock of an instant in a zone', () => {
  it.each([
    ['UTC', '2026-11-26T12:34:00Z', 'UTC', { month: 11, day: 26, weekday: 4, hour: 12, minute: 34 }],
    ['Berlin in winter (UTC+1)', '2026-11-26T23:30:00Z', 'Europe/Berlin', { month: 11, day: 27, weekday: 5, hour: 0, minute: 30 }],
    ['Berlin in summer (UTC+2)', '2026-07-01T22:15:00Z', 'Europe/Berlin', { month: 7, day: 2, weekday: 4, hour: 0, minute: 15 }],
    ['New York (UTC−5)', '2026-01-01T03:00:00Z', 'America/New_York', { month: 12, day: 31, weekday: 3, hour: 22, minute: 0 }],
    ['midnight is hour 0, not 24', '2026-11-26T00:00:00Z', 'UTC', { month: 11, day: 26, weekday: 4, hour: 0, minute: 0 }],
  ])('%s', (_label, instant, zone, local) => {
    expect(localTime(at(instant), zone)).toEqual(local);
  });
});

describe('fixedTime: which jobs Debian cron moves across DST (no `*` in the minute or hour field)', () => {
  it.each([
    ['30 2 * * *', true],
    ['@daily', true],
    ['@weekly', true],
    ['0,30 1-3 * * *', true],
    ['0-59/5 2 * * *', true],
    ['*/5 * * * *', false],
    ['@hourly', false],
    ['0 * * * *', false],
    ['30 */2 * * *', false],
    ['* 2 * * *', false],
    ['5,*/10 3 * * *', false],
  ])('"%s" → fixed time %s', (expr, fixed) => {
    expect(parseCron(expr).fixedTime).toBe(fixed);
  });
});

describe('previousRun: the last run at or before an instant', () => {
  const daily2am = parseCron('0 2 * * *');
  const match = at('2026-11-26T02:00:00Z');

  it.each([
    ['exactly at a run', match, match],
    ['1 ms after a run', match + 1, match],
    ['59.999 s after a run (still the same minute)', match + MIN - 1, match],
    ['1 ms before a run → the one a day earlier', match - 1, match - 24 * 60 * MIN],
    ['a day later, just before the next run', match + 24 * 60 * MIN - 1, match],
  ])('UTC, "0 2 * * *": %s', (_label, instant, expected) => {
    expect(previousRun(daily2am, 'UTC', instant)).toBe(expected);
  });

  it('7 is Sunday: "0 12 * * 7" on Wednesday 2026-11-25 → Sunday 2026-11-22 12:00', () => {
    expect(previousRun(parseCron('0 12 * * 7'), 'UTC', at('2026-11-25T09:00:00Z'))).toBe(at('2026-11-22T12:00:00Z'));
  });

  it('a weekday range: "30 9 * * mon-fri" on Sunday → Friday 09:30', () => {
    expect(previousRun(parseCron('30 9 * * mon-fri'), 'UTC', at('2026-11-29T18:00:00Z'))).toBe(at('2026-11-27T09:30:00Z'));
  });

  describe('both day fields restricted: a day matches if EITHER matches (Vixie cron)', () => {
    // 2026-11-13 is a Friday; 2026-11-20 and 2026-11-27 are Fridays; 2026-12-13 is a Sunday.
    const cron = parseCron('0 0 13 * 5');
    it.each([
      ['the 13th (a Friday) itself', '2026-11-13T00:00:00Z', '2026-11-13T00:00:00Z'],
      ['a Friday that is not the 13th', '2026-11-20T12:00:00Z', '2026-11-20T00:00:00Z'],
      ['the 13th that is not a Friday', '2026-12-13T12:00:00Z', '2026-12-13T00:00:00Z'],
      ['the day after the 13th (Monday) → the 13th', '2026-12-14T12:00:00Z', '2026-12-13T00:00:00Z'],
      ['Thursday 2026-12-10 → Friday 2026-12-04', '2026-12-10T12:00:00Z', '2026-12-04T00:00:00Z'],
    ])('%s', (_label, instant, expected) => {
      expect(previousRun(cron, 'UTC', at(instant))).toBe(at(expected));
    });

    it('with only the weekday restricted, BOTH must match ("0 0 13 * *" vs "0 0 * * 5")', () => {
      expect(previousRun(parseCron('0 0 * * 5'), 'UTC', at('2026-12-14T12:00:00Z'))).toBe(at('2026-12-11T00:00:00Z'));
      expect(previousRun(parseCron('0 0 13 * *'), 'UTC', at('2026-12-12T12:00:00Z'))).toBe(at('2026-11-13T00:00:00Z'));
    });

    it('a starred step in the day field is "unrestricted": "0 0 */2 * 5" needs an odd day AND a Friday', () => {
      // Fridays: 2026-11-20 (even), 2026-11-27 (odd). OR would give 2026-11-29 (odd day, Sunday).
      expect(previousRun(parseCron('0 0 */2 * 5'), 'UTC', at('2026-11-30T12:00:00Z'))).toBe(at('2026-11-27T00:00:00Z'));
    });
  });

  it('29 February: "0 0 29 2 *" on 2027-03-01 → 2024-02-29', () => {
    expect(previousRun(parseCron('0 0 29 2 *'), 'UTC', at('2027-03-01T00:00:00Z'))).toBe(at('2024-02-29T00:00:00Z'));
  });

  it('29 February across 2100 (not a leap year): on 2104-01-01 → 2096-02-29, 8 years back', () => {
    expect(previousRun(parseCron('0 0 29 2 *'), 'UTC', at('2104-01-01T00:00:00Z'))).toBe(at('2096-02-29T00:00:00Z'));
  });

  it('a date that never comes ("0 0 30 2 *") is refused when parsed', () => {
    expect(() => parseCron('0 0 30 2 *')).toThrow('that day never comes in those months');
  });

  it('with a weekday as well, the OR rule makes "0 0 31 4 1" match every Monday in April', () => {
    // 31 April never exists, but with a weekday the OR rule lets it match every Monday in April.
    expect(previousRun(parseCron('0 0 31 4 1'), 'UTC', at('2026-11-26T00:00:00Z'))).toBe(at('2026-04-27T00:00:00Z'));
  });

  it('a non-UTC zone: "0 2 * * *" in Europe/Berlin in winter is 01:00 UTC', () => {
    expect(previousRun(daily2am, 'Europe/Berlin', at('2026-11-26T12:00:00Z'))).toBe(at('2026-11-26T01:00:00Z'));
    expect(previousRun(daily2am, 'Europe/Berlin', at('2026-11-26T00:59:59Z'))).toBe(at('2026-11-25T01:00:00Z'));
  });
});

describe('nextRun: the first run strictly after an instant', () => {
  it.each([
    // [label, expr, zone, after, expected]
    ['UTC daily, earlier the same day', '30 2 * * *', 'UTC', '2026-11-26T01:00:00Z', '2026-11-26T02:30:00Z'],
    ['exactly on a run → the next one (strictly after)', '30 2 * * *', 'UTC', '2026-11-26T02:30:00Z', '2026-11-27T02:30:00Z'],
    ['1 ms before a run → that run', '30 2 * * *', 'UTC', '2026-11-26T02:29:59.999Z', '2026-11-26T02:30:00Z'],
    ['within the minute of a run → the next one', '30 2 * * *', 'UTC', '2026-11-26T02:30:30Z', '2026-11-27T02:30:00Z'],
    ['every minute, on a minute → the next minute', '* * * * *', 'UTC', '2026-11-26T02:30:00Z', '2026-11-26T02:31:00Z'],
    ['every minute, mid-minute → the next whole minute', '* * * * *', 'UTC', '2026-11-26T02:30:00.001Z', '2026-11-26T02:31:00Z'],
    ['the 31st skips April and June: from 1 April → 31 May', '0 12 31 * *', 'UTC', '2026-04-01T00:00:00Z', '2026-05-31T12:00:00Z'],
    ['on the 31 May run → 31 July', '0 12 31 * *', 'UTC', '2026-05-31T12:00:00Z', '2026-07-31T12:00:00Z'],
    ['29 February: from 2026-03-01 → 2028-02-29', '0 0 29 2 *', 'UTC', '2026-03-01T00:00:00Z', '2028-02-29T00:00:00Z'],
    ['29 February across 2100: from 2096-03-01 → 2104-02-29', '0 0 29 2 *', 'UTC', '2096-03-01T00:00:00Z', '2104-02-29T00:00:00Z'],
    ['the last day of February in a common year is the 28th', '0 0 28-31 2 *', 'UTC', '2026-02-27T12:00:00Z', '2026-02-28T00:00:00Z'],
    ['Vixie OR: "0 0 13 * 5" on Friday the 13th → the next Friday', '0 0 13 * 5', 'UTC', '2026-11-13T00:00:00Z', '2026-11-20T00:00:00Z'],
    ['Vixie OR: the 13th that is a Sunday counts', '0 0 13 * 5', 'UTC', '2026-12-12T00:00:00Z', '2026-12-13T00:00:00Z'],
    ['a starred day step is AND: odd days that are Fridays', '0 0 */2 * 5', 'UTC', '2026-11-20T00:00:00Z', '2026-11-27T00:00:00Z'],
    ['ranges, steps and names: hours 9,13,17 on weekdays Jan-Mar; the next is Friday 2027-01-01', '15 9-17/4 * jan-mar mon-fri', 'UTC', '2026-03-31T17:15:00Z', '2027-01-01T09:15:00Z'],
    ['ranges, steps and names: the next slot the same day', '15 9-17/4 * jan-mar mon-fri', 'UTC', '2026-03-31T09:15:00Z', '2026-03-31T13:15:00Z'],
    ['a list of minutes: 5,20,50', '5,20,50 * * * *', 'UTC', '2026-11-26T10:20:00Z', '2026-11-26T10:50:00Z'],
    ['a step from a start value: 5/20 → :05, :25, :45', '5/20 * * * *', 'UTC', '2026-11-26T10:45:00Z', '2026-11-26T11:05:00Z'],
    ['Sunday as 7', '0 12 * * 7', 'UTC', '2026-11-25T09:00:00Z', '2026-11-29T12:00:00Z'],
    ['@yearly', '@yearly', 'UTC', '2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z'],
    ['@monthly in Berlin (CET): 1 December 00:00 = 30 November 23:00Z', '@monthly', 'Europe/Berlin', '2026-11-26T00:00:00Z', '2026-11-30T23:00:00Z'],
    // Far east: Pacific/Kiritimati is UTC+14 all year; far west: Pacific/Pago_Pago is UTC−11.
    ['Kiritimati (UTC+14): 09:00 on 30 November = 29 November 19:00Z', '0 9 * * *', 'Pacific/Kiritimati', '2026-11-29T12:00:00Z', '2026-11-29T19:00:00Z'],
    ['Kiritimati: Monday midnight is still Sunday in UTC', '0 0 * * mon', 'Pacific/Kiritimati', '2026-11-28T00:00:00Z', '2026-11-29T10:00:00Z'],
    ['Pago Pago (UTC−11): 09:00 on 29 November = 20:00Z', '0 9 * * *', 'Pacific/Pago_Pago', '2026-11-29T12:00:00Z', '2026-11-29T20:00:00Z'],
    ['Pago Pago: Sunday 23:00 is Monday 10:00Z', '0 23 * * sun', 'Pacific/Pago_Pago', '2026-11-28T00:00:00Z', '2026-11-30T10:00:00Z'],
    ['Pago Pago: the 1st of the month at 00:00 is 11:00Z the same day', '0 0 1 * *', 'Pacific/Pago_Pago', '2026-11-26T00:00:00Z', '2026-12-01T11:00:00Z'],
    ['Tokyo (UTC+9): 08:00 on a weekday', '0 8 * * 1-5', 'Asia/Tokyo', '2026-11-27T00:00:00Z', '2026-11-29T23:00:00Z'],
  ])('%s: "%s" in %s after %s → %s', (_label, expr, zone, after, expected) => {
    expect(nextRun(parseCron(expr), zone, at(after))).toBe(at(expected));
  });

  it('nextRun and previousRun are each other\'s neighbours: previousRun(nextRun(t)) is nextRun(t), nextRun(previousRun(t)) is after t', () => {
    const cron = parseCron('15 9-17/4 * * mon-fri');
    for (const iso of ['2026-11-26T10:00:00Z', '2026-11-27T17:15:00Z', '2026-11-28T12:00:00Z']) {
      const next = nextRun(cron, 'UTC', at(iso))!;
      expect(previousRun(cron, 'UTC', next)).toBe(next);
      expect(nextRun(cron, 'UTC', previousRun(cron, 'UTC', at(iso))!)).toBe(next);
    }
  });
});

describe('countRuns: runs in (after, atOrBefore], at most cap', () => {
  const quarter = parseCron('*/15 * * * *');
  const from = at('2026-11-26T10:00:00Z');
  it.each([
    ['a run at `after` is not counted, one at `atOrBefore` is', from, from + 60 * MIN, 1000, 4],
    ['1 ms more on both ends', from + 1, from + 60 * MIN + 1, 1000, 4],
    ['1 ms less on both ends', from - 1, from + 60 * MIN - 1, 1000, 4],
    ['an empty span', from, from, 1000, 0],
    ['no run inside', from, from + 14 * MIN, 1000, 0],
    ['a day of quarter hours', from, from + 24 * 60 * MIN, 1000, 96],
    ['stops at the cap', from, from + 24 * 60 * MIN, 10, 10],
  ])('%s', (_label, after, atOrBefore, cap, runs) => {
    expect(countRuns(quarter, 'UTC', after, atOrBefore, cap)).toBe(runs);
  });
});

describe('countRuns over years agrees with a nextRun walk (it skips the days a sparse schedule has no run)', () => {
  it.each([
    ['0 0 29 2 *', 'Pacific/Chatham'],
    ['30 2 29 2 *', 'Europe/Berlin'],
    ['30 2 * 3 0', 'Europe/Berlin'], // Sundays of March: the spring-forward night among them
    ['30 1 1-7 11 0', 'America/New_York'], // the first Sunday of November: the fall-back night
    ['* 2 1 1,4,10 *', 'Australia/Lord_Howe'],
    ['0 0 1 * *', 'Asia/Tokyo'],
    ['15 3 13 * 5', 'UTC'],
  ])('"%s" in %s over 12 years, from several instants', (expr, zone) => {
    const cron = parseCron(expr);
    for (const after of [at('2026-11-29T12:00:00Z'), at('2027-03-27T23:59:30Z'), at('2028-02-28T10:14:00Z'), at('2026-10-31T00:00:00Z')]) {
      const upTo = after + 12 * 365 * 24 * 60 * MIN;
      let walked = 0;
      // nextRun looks ~9 years ahead: walk run to run, which is never that far apart here.
      for (let run = nextRun(cron, zone, after); run !== null && run <= upTo; run = nextRun(cron, zone, run)) walked++;
      expect(countRuns(cron, zone, after, upTo, 1_000_000), `from ${new Date(after).toISOString()}`).toBe(walked);
    }
  });
});
