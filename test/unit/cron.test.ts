import { describe, expect, it } from 'vitest';
import { localTime, parseCron, previousMatch } from '../../src/core/cron.js';

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

describe('previousMatch: the latest matching minute at or before an instant', () => {
  const daily2am = parseCron('0 2 * * *');
  const match = at('2026-11-26T02:00:00Z');

  it.each([
    ['exactly at a match', match, match],
    ['1 ms after a match', match + 1, match],
    ['59.999 s after a match (still the same minute)', match + MIN - 1, match],
    ['1 ms before a match → the one a day earlier', match - 1, match - 24 * 60 * MIN],
    ['a day later, just before the next match', match + 24 * 60 * MIN - 1, match],
  ])('UTC, "0 2 * * *": %s', (_label, instant, expected) => {
    expect(previousMatch(daily2am, 'UTC', instant)).toBe(expected);
  });

  it('7 matches Sunday: "0 12 * * 7" on Wednesday 2026-11-25 → Sunday 2026-11-22 12:00', () => {
    expect(previousMatch(parseCron('0 12 * * 7'), 'UTC', at('2026-11-25T09:00:00Z'))).toBe(at('2026-11-22T12:00:00Z'));
  });

  it('a weekday range: "30 9 * * mon-fri" on Sunday → Friday 09:30', () => {
    expect(previousMatch(parseCron('30 9 * * mon-fri'), 'UTC', at('2026-11-29T18:00:00Z'))).toBe(at('2026-11-27T09:30:00Z'));
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
      expect(previousMatch(cron, 'UTC', at(instant))).toBe(at(expected));
    });

    it('with only the weekday restricted, BOTH must match ("0 0 13 * *" vs "0 0 * * 5")', () => {
      expect(previousMatch(parseCron('0 0 * * 5'), 'UTC', at('2026-12-14T12:00:00Z'))).toBe(at('2026-12-11T00:00:00Z'));
      expect(previousMatch(parseCron('0 0 13 * *'), 'UTC', at('2026-12-12T12:00:00Z'))).toBe(at('2026-11-13T00:00:00Z'));
    });

    it('a starred step in the day field is "unrestricted": "0 0 */2 * 5" needs an odd day AND a Friday', () => {
      // Fridays: 2026-11-20 (even), 2026-11-27 (odd). OR would give 2026-11-29 (odd day, Sunday).
      expect(previousMatch(parseCron('0 0 */2 * 5'), 'UTC', at('2026-11-30T12:00:00Z'))).toBe(at('2026-11-27T00:00:00Z'));
    });
  });

  it('29 February: "0 0 29 2 *" on 2027-03-01 → 2024-02-29', () => {
    expect(previousMatch(parseCron('0 0 29 2 *'), 'UTC', at('2027-03-01T00:00:00Z'))).toBe(at('2024-02-29T00:00:00Z'));
  });

  it('a date that never comes ("0 0 30 2 *") is refused when parsed', () => {
    expect(() => parseCron('0 0 30 2 *')).toThrow('that day never comes in those months');
  });

  it('with a weekday as well, the OR rule makes "0 0 31 4 1" match every Monday in April', () => {
    // 31 April never exists, but with a weekday the OR rule lets it match every Monday in April.
    expect(previousMatch(parseCron('0 0 31 4 1'), 'UTC', at('2026-11-26T00:00:00Z'))).toBe(at('2026-04-27T00:00:00Z'));
  });

  it('a non-UTC zone: "0 2 * * *" in Europe/Berlin in winter is 01:00 UTC', () => {
    expect(previousMatch(daily2am, 'Europe/Berlin', at('2026-11-26T12:00:00Z'))).toBe(at('2026-11-26T01:00:00Z'));
    expect(previousMatch(daily2am, 'Europe/Berlin', at('2026-11-26T00:59:59Z'))).toBe(at('2026-11-25T01:00:00Z'));
  });

  describe('across DST in Europe/Berlin: what the zone\'s clock actually showed', () => {
    // Spring forward, 2026-03-29: 02:00 CET (01:00Z) jumps to 03:00 CEST. 02:00-02:59 never happens.
    it.each([
      ['02:30 did not exist on the 29th → the 28th\'s 02:30 CET', '30 2 * * *', '2026-03-29T10:00:00Z', '2026-03-28T01:30:00Z'],
      ['02:00 did not exist either → the 28th', '0 2 * * *', '2026-03-29T10:00:00Z', '2026-03-28T01:00:00Z'],
      ['03:00 CEST is the instant of the jump (01:00Z)', '0 3 * * *', '2026-03-29T10:00:00Z', '2026-03-29T01:00:00Z'],
      ['01:59 CET was the last minute before it (00:59Z)', '59 1 * * *', '2026-03-29T10:00:00Z', '2026-03-29T00:59:00Z'],
      ['a day later, 02:30 CEST exists again (00:30Z)', '30 2 * * *', '2026-03-30T10:00:00Z', '2026-03-30T00:30:00Z'],
      ['every minute: 1 ms after the jump → the jump itself', '* * * * *', '2026-03-29T01:00:00.001Z', '2026-03-29T01:00:00Z'],
      ['every minute: just before the jump → 01:59 CET', '* * * * *', '2026-03-29T00:59:59.999Z', '2026-03-29T00:59:00Z'],
    ])('spring forward: %s', (_label, expr, instant, expected) => {
      expect(previousMatch(parseCron(expr), 'Europe/Berlin', at(instant))).toBe(at(expected));
    });

    // Fall back, 2026-10-25: 03:00 CEST (01:00Z) goes back to 02:00 CET. 02:00-02:59 happens twice.
    it.each([
      ['after both, 02:30 → the second one (02:30 CET = 01:30Z)', '30 2 * * *', '2026-10-25T01:45:00Z', '2026-10-25T01:30:00Z'],
      ['between the two → the first (02:30 CEST = 00:30Z)', '30 2 * * *', '2026-10-25T01:29:59.999Z', '2026-10-25T00:30:00Z'],
      ['at the second 02:00 (01:00Z) → that instant', '0 2 * * *', '2026-10-25T01:00:00Z', '2026-10-25T01:00:00Z'],
      ['1 ms before the second 02:00 → the first (00:00Z)', '0 2 * * *', '2026-10-25T00:59:59.999Z', '2026-10-25T00:00:00Z'],
      ['03:00 CET came two hours after 02:00 CEST (02:00Z)', '0 3 * * *', '2026-10-25T05:00:00Z', '2026-10-25T02:00:00Z'],
    ])('fall back: %s', (_label, expr, instant, expected) => {
      expect(previousMatch(parseCron(expr), 'Europe/Berlin', at(instant))).toBe(at(expected));
    });
  });

  describe('across DST in America/New_York', () => {
    // Spring forward, 2026-03-08: 02:00 EST (07:00Z) jumps to 03:00 EDT.
    it.each([
      ['02:30 did not exist on the 8th → the 7th\'s 02:30 EST (07:30Z)', '30 2 * * *', '2026-03-08T12:00:00Z', '2026-03-07T07:30:00Z'],
      ['03:00 EDT is the instant of the jump (07:00Z)', '0 3 * * *', '2026-03-08T12:00:00Z', '2026-03-08T07:00:00Z'],
      ['01:30 EST was still there (06:30Z)', '30 1 * * *', '2026-03-08T12:00:00Z', '2026-03-08T06:30:00Z'],
    ])('spring forward: %s', (_label, expr, instant, expected) => {
      expect(previousMatch(parseCron(expr), 'America/New_York', at(instant))).toBe(at(expected));
    });

    // Fall back, 2026-11-01: 02:00 EDT (06:00Z) goes back to 01:00 EST. 01:00-01:59 happens twice.
    it.each([
      ['after both, 01:30 → the second (01:30 EST = 06:30Z)', '30 1 * * *', '2026-11-01T12:00:00Z', '2026-11-01T06:30:00Z'],
      ['between the two → the first (01:30 EDT = 05:30Z)', '30 1 * * *', '2026-11-01T06:29:00Z', '2026-11-01T05:30:00Z'],
      ['02:00 EST comes two hours after 01:00 EDT (07:00Z)', '0 2 * * *', '2026-11-01T12:00:00Z', '2026-11-01T07:00:00Z'],
    ])('fall back: %s', (_label, expr, instant, expected) => {
      expect(previousMatch(parseCron(expr), 'America/New_York', at(instant))).toBe(at(expected));
    });
  });
});
