import { describe, expect, it } from 'vitest';
import { countRuns, nextRun, parseCron, previousRun } from '../../src/core/cron.js';

// Debian cron(8) across DST: a fixed-time job (no `*` in minute or hour) whose local time a
// spring-forward jump skips runs right after the jump, and runs once in a repeated hour (its first
// copy); a wildcard job (`*/15`, `30 * * * *`, @hourly) runs at each real minute whose local time
// matches: skipped times never come, a repeated hour runs in both copies. All instants below are
// worked out by hand from the zone's offsets (2026 transitions checked with Intl).

const at = (iso: string) => Date.parse(iso);
const MS = 1;

type Step = [label: string, expr: string, call: 'nextRun' | 'previousRun', from: string, expected: string];
type Count = [label: string, expr: string, after: string, atOrBefore: string, runs: number];

function steps(zone: string, rows: Step[]) {
  it.each(rows)('%s: "%s" %s(%s) → %s', (_label, expr, call, from, expected) => {
    const cron = parseCron(expr);
    const fromAt = from.endsWith('-1ms') ? at(from.slice(0, -4)) - MS : from.endsWith('+1ms') ? at(from.slice(0, -4)) + MS : at(from);
    const got = call === 'nextRun' ? nextRun(cron, zone, fromAt) : previousRun(cron, zone, fromAt);
    expect(got === null ? null : new Date(got).toISOString()).toBe(new Date(at(expected)).toISOString());
  });
}

function counts(zone: string, rows: Count[]) {
  it.each(rows)('%s: "%s" runs in (%s, %s] = %i', (_label, expr, after, atOrBefore, runs) => {
    expect(countRuns(parseCron(expr), zone, at(after), at(atOrBefore), 1000)).toBe(runs);
  });
}

describe('Europe/Berlin, spring forward 2026-03-29: 02:00 CET (01:00Z) jumps to 03:00 CEST', () => {
  // CET = UTC+1 before, CEST = UTC+2 after. 02:00-02:59 never happens. The jump is 01:00Z.
  steps('Europe/Berlin', [
    ['skipped fixed time runs at the jump', '30 2 * * *', 'nextRun', '2026-03-29T01:00:00Z-1ms', '2026-03-29T01:00:00Z'],
    ['skipped fixed time, from the evening before', '30 2 * * *', 'nextRun', '2026-03-28T20:00:00Z', '2026-03-29T01:00:00Z'],
    ['after the jump run: the next night at 02:30 CEST', '30 2 * * *', 'nextRun', '2026-03-29T01:00:00Z', '2026-03-30T00:30:00Z'],
    ['previous from just after the jump: the jump itself', '30 2 * * *', 'previousRun', '2026-03-29T01:00:00Z+1ms', '2026-03-29T01:00:00Z'],
    ['previous from just before the jump: the 28th, 02:30 CET', '30 2 * * *', 'previousRun', '2026-03-29T01:00:00Z-1ms', '2026-03-28T01:30:00Z'],
    ['two skipped slots of one job are one run at the jump', '0,30 2 * * *', 'nextRun', '2026-03-29T01:00:00Z-1ms', '2026-03-29T01:00:00Z'],
    ['… and the next is the following night', '0,30 2 * * *', 'nextRun', '2026-03-29T01:00:00Z', '2026-03-30T00:00:00Z'],
    ['fixed time after the gap: 03:30 CEST', '30 3 * * *', 'nextRun', '2026-03-29T01:00:00Z-1ms', '2026-03-29T01:30:00Z'],
    ['fixed time after the gap, previous: the 28th, 03:30 CET', '30 3 * * *', 'previousRun', '2026-03-29T01:00:00Z+1ms', '2026-03-28T02:30:00Z'],
    ['fixed time before the gap: 01:30 CET', '30 1 * * *', 'nextRun', '2026-03-28T20:00:00Z', '2026-03-29T00:30:00Z'],
    ['every 15 min: the jump reads 03:00, a slot', '*/15 * * * *', 'nextRun', '2026-03-29T01:00:00Z-1ms', '2026-03-29T01:00:00Z'],
    ['every 15 min, previous from just before: 01:45 CET', '*/15 * * * *', 'previousRun', '2026-03-29T01:00:00Z-1ms', '2026-03-29T00:45:00Z'],
    ['every 15 min, previous from just after: the jump', '*/15 * * * *', 'previousRun', '2026-03-29T01:00:00Z+1ms', '2026-03-29T01:00:00Z'],
    ['at :30 hourly: 02:30 never comes, 03:30 CEST does', '30 * * * *', 'nextRun', '2026-03-29T01:00:00Z-1ms', '2026-03-29T01:30:00Z'],
    ['at :30 hourly, previous from just after: 01:30 CET', '30 * * * *', 'previousRun', '2026-03-29T01:00:00Z+1ms', '2026-03-29T00:30:00Z'],
    ['@hourly: 03:00 CEST is the jump', '@hourly', 'nextRun', '2026-03-29T01:00:00Z-1ms', '2026-03-29T01:00:00Z'],
    ['@hourly, previous from just before: 01:00 CET', '@hourly', 'previousRun', '2026-03-29T01:00:00Z-1ms', '2026-03-29T00:00:00Z'],
    ['@daily: midnight CEST of the 30th', '@daily', 'nextRun', '2026-03-29T01:00:00Z-1ms', '2026-03-29T22:00:00Z'],
    ['@daily, previous: midnight CET of the 29th', '@daily', 'previousRun', '2026-03-29T01:00:00Z+1ms', '2026-03-28T23:00:00Z'],
  ]);
  // The night from local midnight (23:00Z) to 06:00 CEST (04:00Z) has 5 real hours.
  counts('Europe/Berlin', [
    ['the skipped job ran once', '30 2 * * *', '2026-03-28T12:00:00Z', '2026-03-29T12:00:00Z', 1],
    ['a job with two skipped slots ran once', '0,30 2 * * *', '2026-03-28T12:00:00Z', '2026-03-29T12:00:00Z', 1],
    ['01:00, 01:30, then 02:00/02:30/03:00 all at the jump, then 03:30', '0,30 1-3 * * *', '2026-03-28T22:00:00Z', '2026-03-29T04:00:00Z', 4],
    ['a fixed time outside the gap ran once', '30 3 * * *', '2026-03-28T12:00:00Z', '2026-03-29T12:00:00Z', 1],
    ['every 15 min: 5 real hours, 20 runs', '*/15 * * * *', '2026-03-28T23:00:00Z', '2026-03-29T04:00:00Z', 20],
    ['at :30: 00:30, 01:30, 03:30, 04:30, 05:30', '30 * * * *', '2026-03-28T23:00:00Z', '2026-03-29T04:00:00Z', 5],
    ['@hourly: 01:00, 03:00, 04:00, 05:00, 06:00', '@hourly', '2026-03-28T23:00:00Z', '2026-03-29T04:00:00Z', 5],
    ['@daily ran once', '@daily', '2026-03-28T12:00:00Z', '2026-03-29T12:00:00Z', 1],
  ]);
});

describe('Europe/Berlin, fall back 2026-10-25: 03:00 CEST (01:00Z) goes back to 02:00 CET', () => {
  // 02:00-02:59 happens twice: CEST 00:00Z-00:59Z, then CET 01:00Z-01:59Z.
  steps('Europe/Berlin', [
    ['repeated fixed time runs in the first copy (02:30 CEST)', '30 2 * * *', 'nextRun', '2026-10-24T20:00:00Z', '2026-10-25T00:30:00Z'],
    ['not again in the second copy: the next night', '30 2 * * *', 'nextRun', '2026-10-25T00:30:00Z', '2026-10-26T01:30:00Z'],
    ['from just before the fall back: the next night', '30 2 * * *', 'nextRun', '2026-10-25T01:00:00Z-1ms', '2026-10-26T01:30:00Z'],
    ['previous from after the second copy: the first', '30 2 * * *', 'previousRun', '2026-10-25T01:45:00Z', '2026-10-25T00:30:00Z'],
    ['previous from inside the second copy, before its 02:30', '30 2 * * *', 'previousRun', '2026-10-25T01:10:00Z', '2026-10-25T00:30:00Z'],
    ['fixed time after the repeat: 03:30 CET', '30 3 * * *', 'nextRun', '2026-10-25T01:00:00Z-1ms', '2026-10-25T02:30:00Z'],
    ['fixed time after the repeat, previous: the 24th, 03:30 CEST', '30 3 * * *', 'previousRun', '2026-10-25T01:00:00Z+1ms', '2026-10-24T01:30:00Z'],
    ['every 15 min: 02:00 CET comes again', '*/15 * * * *', 'nextRun', '2026-10-25T01:00:00Z-1ms', '2026-10-25T01:00:00Z'],
    ['every 15 min, previous in the second copy', '*/15 * * * *', 'previousRun', '2026-10-25T01:50:00Z', '2026-10-25T01:45:00Z'],
    ['every 15 min, previous from just before: 02:45 CEST', '*/15 * * * *', 'previousRun', '2026-10-25T01:00:00Z-1ms', '2026-10-25T00:45:00Z'],
    ['at :30 hourly: 02:30 CET runs too', '30 * * * *', 'nextRun', '2026-10-25T01:00:00Z-1ms', '2026-10-25T01:30:00Z'],
    ['@hourly: 02:00 CET runs too', '@hourly', 'nextRun', '2026-10-25T01:00:00Z-1ms', '2026-10-25T01:00:00Z'],
    ['@daily: midnight CET of the 26th', '@daily', 'nextRun', '2026-10-25T01:00:00Z-1ms', '2026-10-25T23:00:00Z'],
    ['@daily, previous: midnight CEST of the 25th', '@daily', 'previousRun', '2026-10-25T01:00:00Z+1ms', '2026-10-24T22:00:00Z'],
  ]);
  // The night from local midnight (22:00Z) to 06:00 CET (05:00Z) has 7 real hours.
  counts('Europe/Berlin', [
    ['the repeated job ran once', '30 2 * * *', '2026-10-24T20:00:00Z', '2026-10-25T20:00:00Z', 1],
    ['01:00, 01:30, 02:00, 02:30 (CEST), 03:00, 03:30: no second 02:xx', '0,30 1-3 * * *', '2026-10-24T22:00:00Z', '2026-10-25T05:00:00Z', 6],
    ['a fixed time outside the repeat ran once', '30 3 * * *', '2026-10-24T20:00:00Z', '2026-10-25T20:00:00Z', 1],
    ['every 15 min: 7 real hours, 28 runs', '*/15 * * * *', '2026-10-24T22:00:00Z', '2026-10-25T05:00:00Z', 28],
    ['at :30: 02:30 twice, 7 runs', '30 * * * *', '2026-10-24T22:00:00Z', '2026-10-25T05:00:00Z', 7],
    ['@hourly: 02:00 twice, 7 runs', '@hourly', '2026-10-24T22:00:00Z', '2026-10-25T05:00:00Z', 7],
    ['@daily ran once', '@daily', '2026-10-24T20:00:00Z', '2026-10-25T20:00:00Z', 1],
  ]);
});

describe('America/New_York, spring forward 2026-03-08: 02:00 EST (07:00Z) jumps to 03:00 EDT', () => {
  // EST = UTC−5 before, EDT = UTC−4 after. 02:00-02:59 never happens. The jump is 07:00Z.
  steps('America/New_York', [
    ['skipped fixed time runs at the jump', '30 2 * * *', 'nextRun', '2026-03-08T07:00:00Z-1ms', '2026-03-08T07:00:00Z'],
    ['after the jump run: the next night at 02:30 EDT', '30 2 * * *', 'nextRun', '2026-03-08T07:00:00Z', '2026-03-09T06:30:00Z'],
    ['previous from just after the jump: the jump', '30 2 * * *', 'previousRun', '2026-03-08T07:00:00Z+1ms', '2026-03-08T07:00:00Z'],
    ['previous from just before the jump: the 7th, 02:30 EST', '30 2 * * *', 'previousRun', '2026-03-08T07:00:00Z-1ms', '2026-03-07T07:30:00Z'],
    ['fixed time after the gap: 03:30 EDT', '30 3 * * *', 'nextRun', '2026-03-08T07:00:00Z-1ms', '2026-03-08T07:30:00Z'],
    ['fixed time before the gap: 01:30 EST', '30 1 * * *', 'nextRun', '2026-03-08T05:00:00Z', '2026-03-08T06:30:00Z'],
    ['every 15 min: the jump reads 03:00', '*/15 * * * *', 'nextRun', '2026-03-08T07:00:00Z-1ms', '2026-03-08T07:00:00Z'],
    ['every 15 min, previous from just before: 01:45 EST', '*/15 * * * *', 'previousRun', '2026-03-08T07:00:00Z-1ms', '2026-03-08T06:45:00Z'],
    ['at :30 hourly: 03:30 EDT', '30 * * * *', 'nextRun', '2026-03-08T07:00:00Z-1ms', '2026-03-08T07:30:00Z'],
    ['@hourly: 03:00 EDT is the jump', '@hourly', 'nextRun', '2026-03-08T07:00:00Z-1ms', '2026-03-08T07:00:00Z'],
    ['@daily: midnight EDT of the 9th', '@daily', 'nextRun', '2026-03-08T07:00:00Z-1ms', '2026-03-09T04:00:00Z'],
    ['@daily, previous: midnight EST of the 8th', '@daily', 'previousRun', '2026-03-08T07:00:00Z+1ms', '2026-03-08T05:00:00Z'],
  ]);
  // The night from local midnight (05:00Z) to 06:00 EDT (10:00Z) has 5 real hours.
  counts('America/New_York', [
    ['the skipped job ran once', '30 2 * * *', '2026-03-07T12:00:00Z', '2026-03-08T12:00:00Z', 1],
    ['a fixed time outside the gap ran once', '30 3 * * *', '2026-03-07T12:00:00Z', '2026-03-08T12:00:00Z', 1],
    ['every 15 min: 20 runs', '*/15 * * * *', '2026-03-08T05:00:00Z', '2026-03-08T10:00:00Z', 20],
    ['at :30: 5 runs', '30 * * * *', '2026-03-08T05:00:00Z', '2026-03-08T10:00:00Z', 5],
    ['@hourly: 5 runs', '@hourly', '2026-03-08T05:00:00Z', '2026-03-08T10:00:00Z', 5],
    ['@daily ran once', '@daily', '2026-03-07T12:00:00Z', '2026-03-08T12:00:00Z', 1],
  ]);
});

describe('America/New_York, fall back 2026-11-01: 02:00 EDT (06:00Z) goes back to 01:00 EST', () => {
  // 01:00-01:59 happens twice: EDT 05:00Z-05:59Z, then EST 06:00Z-06:59Z.
  steps('America/New_York', [
    ['repeated fixed time runs in the first copy (01:30 EDT)', '30 1 * * *', 'nextRun', '2026-10-31T12:00:00Z', '2026-11-01T05:30:00Z'],
    ['from just before the fall back: the next night at 01:30 EST', '30 1 * * *', 'nextRun', '2026-11-01T06:00:00Z-1ms', '2026-11-02T06:30:00Z'],
    ['previous from after the second copy: the first', '30 1 * * *', 'previousRun', '2026-11-01T06:45:00Z', '2026-11-01T05:30:00Z'],
    ['fixed time after the repeat: 02:30 EST', '30 2 * * *', 'nextRun', '2026-11-01T06:00:00Z-1ms', '2026-11-01T07:30:00Z'],
    ['fixed time after the repeat, previous: the 31st, 02:30 EDT', '30 2 * * *', 'previousRun', '2026-11-01T06:00:00Z+1ms', '2026-10-31T06:30:00Z'],
    ['every 15 min: 01:00 EST comes again', '*/15 * * * *', 'nextRun', '2026-11-01T06:00:00Z-1ms', '2026-11-01T06:00:00Z'],
    ['every 15 min, previous from just before: 01:45 EDT', '*/15 * * * *', 'previousRun', '2026-11-01T06:00:00Z-1ms', '2026-11-01T05:45:00Z'],
    ['at :30 hourly: 01:30 EST runs too', '30 * * * *', 'nextRun', '2026-11-01T06:00:00Z-1ms', '2026-11-01T06:30:00Z'],
    ['@hourly: 01:00 EST runs too', '@hourly', 'nextRun', '2026-11-01T06:00:00Z-1ms', '2026-11-01T06:00:00Z'],
    ['@daily: midnight EST of the 2nd', '@daily', 'nextRun', '2026-11-01T06:00:00Z-1ms', '2026-11-02T05:00:00Z'],
    ['@daily, previous: midnight EDT of the 1st', '@daily', 'previousRun', '2026-11-01T06:00:00Z+1ms', '2026-11-01T04:00:00Z'],
  ]);
  // The night from local midnight (04:00Z) to 06:00 EST (11:00Z) has 7 real hours.
  counts('America/New_York', [
    ['the repeated job ran once', '30 1 * * *', '2026-10-31T12:00:00Z', '2026-11-01T12:00:00Z', 1],
    ['a fixed time outside the repeat ran once', '30 2 * * *', '2026-10-31T12:00:00Z', '2026-11-01T12:00:00Z', 1],
    ['every 15 min: 28 runs', '*/15 * * * *', '2026-11-01T04:00:00Z', '2026-11-01T11:00:00Z', 28],
    ['at :30: 01:30 twice, 7 runs', '30 * * * *', '2026-11-01T04:00:00Z', '2026-11-01T11:00:00Z', 7],
    ['@hourly: 01:00 twice, 7 runs', '@hourly', '2026-11-01T04:00:00Z', '2026-11-01T11:00:00Z', 7],
    ['@daily ran once', '@daily', '2026-10-31T12:00:00Z', '2026-11-01T12:00:00Z', 1],
  ]);
});

describe('Australia/Adelaide (half-hour zone), fall back 2026-04-05: 03:00 ACDT (04-04 16:30Z) goes back to 02:00 ACST', () => {
  // ACDT = UTC+10:30 before, ACST = UTC+9:30 after. 02:00-02:59 happens twice: ACDT 15:30Z-16:29Z,
  // then ACST 16:30Z-17:29Z (on 04-04 UTC). Local :00 is UTC :30 and local :30 is UTC :00.
  steps('Australia/Adelaide', [
    ['repeated fixed time runs in the first copy (02:30 ACDT)', '30 2 * * *', 'nextRun', '2026-04-04T00:00:00Z', '2026-04-04T16:00:00Z'],
    ['from just before the fall back: the next night at 02:30 ACST', '30 2 * * *', 'nextRun', '2026-04-04T16:30:00Z-1ms', '2026-04-05T17:00:00Z'],
    ['previous from after the second copy: the first', '30 2 * * *', 'previousRun', '2026-04-04T17:15:00Z', '2026-04-04T16:00:00Z'],
    ['fixed time after the repeat: 03:30 ACST', '30 3 * * *', 'nextRun', '2026-04-04T16:30:00Z-1ms', '2026-04-04T18:00:00Z'],
    ['every 15 min: 02:00 ACST comes again', '*/15 * * * *', 'nextRun', '2026-04-04T16:30:00Z-1ms', '2026-04-04T16:30:00Z'],
    ['every 15 min, previous from just before: 02:45 ACDT', '*/15 * * * *', 'previousRun', '2026-04-04T16:30:00Z-1ms', '2026-04-04T16:15:00Z'],
    ['at :30 hourly: 02:30 ACST runs too', '30 * * * *', 'nextRun', '2026-04-04T16:30:00Z-1ms', '2026-04-04T17:00:00Z'],
    ['@hourly: 02:00 ACST runs too', '@hourly', 'nextRun', '2026-04-04T16:30:00Z-1ms', '2026-04-04T16:30:00Z'],
    ['@daily: midnight ACST of the 6th', '@daily', 'nextRun', '2026-04-04T16:30:00Z-1ms', '2026-04-05T14:30:00Z'],
    ['@daily, previous: midnight ACDT of the 5th', '@daily', 'previousRun', '2026-04-04T16:30:00Z+1ms', '2026-04-04T13:30:00Z'],
  ]);
  // The night from local midnight (04-04 13:30Z) to 06:00 ACST (20:30Z) has 7 real hours.
  counts('Australia/Adelaide', [
    ['the repeated job ran once', '30 2 * * *', '2026-04-04T06:00:00Z', '2026-04-05T06:00:00Z', 1],
    ['a fixed time outside the repeat ran once', '30 3 * * *', '2026-04-04T06:00:00Z', '2026-04-05T06:00:00Z', 1],
    ['every 15 min: 28 runs', '*/15 * * * *', '2026-04-04T13:30:00Z', '2026-04-04T20:30:00Z', 28],
    ['at :30: 02:30 twice, 7 runs', '30 * * * *', '2026-04-04T13:30:00Z', '2026-04-04T20:30:00Z', 7],
    ['@hourly: 02:00 twice, 7 runs', '@hourly', '2026-04-04T13:30:00Z', '2026-04-04T20:30:00Z', 7],
    ['@daily ran once', '@daily', '2026-04-04T06:00:00Z', '2026-04-05T06:00:00Z', 1],
  ]);
});

describe('Australia/Adelaide (half-hour zone), spring forward 2026-10-04: 02:00 ACST (10-03 16:30Z) jumps to 03:00 ACDT', () => {
  // ACST = UTC+9:30 before, ACDT = UTC+10:30 after. 02:00-02:59 never happens. The jump is 16:30Z.
  steps('Australia/Adelaide', [
    ['skipped fixed time runs at the jump', '30 2 * * *', 'nextRun', '2026-10-03T16:30:00Z-1ms', '2026-10-03T16:30:00Z'],
    ['after the jump run: the next night at 02:30 ACDT', '30 2 * * *', 'nextRun', '2026-10-03T16:30:00Z', '2026-10-04T16:00:00Z'],
    ['previous from just after the jump: the jump', '30 2 * * *', 'previousRun', '2026-10-03T16:30:00Z+1ms', '2026-10-03T16:30:00Z'],
    ['previous from just before the jump: the 3rd, 02:30 ACST', '30 2 * * *', 'previousRun', '2026-10-03T16:30:00Z-1ms', '2026-10-02T17:00:00Z'],
    ['fixed time after the gap: 03:30 ACDT', '30 3 * * *', 'nextRun', '2026-10-03T16:30:00Z-1ms', '2026-10-03T17:00:00Z'],
    ['every 15 min: the jump reads 03:00', '*/15 * * * *', 'nextRun', '2026-10-03T16:30:00Z-1ms', '2026-10-03T16:30:00Z'],
    ['at :30 hourly: 02:30 never comes, 03:30 ACDT does', '30 * * * *', 'nextRun', '2026-10-03T16:30:00Z-1ms', '2026-10-03T17:00:00Z'],
    ['at :30 hourly, previous from just before: 01:30 ACST', '30 * * * *', 'previousRun', '2026-10-03T16:30:00Z-1ms', '2026-10-03T16:00:00Z'],
    ['@hourly: 03:00 ACDT is the jump', '@hourly', 'nextRun', '2026-10-03T16:30:00Z-1ms', '2026-10-03T16:30:00Z'],
    ['@daily: midnight ACDT of the 5th', '@daily', 'nextRun', '2026-10-03T16:30:00Z-1ms', '2026-10-04T13:30:00Z'],
    ['@daily, previous: midnight ACST of the 4th', '@daily', 'previousRun', '2026-10-03T16:30:00Z+1ms', '2026-10-03T14:30:00Z'],
  ]);
  // The night from local midnight (10-03 14:30Z) to 06:00 ACDT (19:30Z) has 5 real hours.
  counts('Australia/Adelaide', [
    ['the skipped job ran once', '30 2 * * *', '2026-10-03T06:00:00Z', '2026-10-04T06:00:00Z', 1],
    ['a fixed time outside the gap ran once', '30 3 * * *', '2026-10-03T06:00:00Z', '2026-10-04T06:00:00Z', 1],
    ['every 15 min: 20 runs', '*/15 * * * *', '2026-10-03T14:30:00Z', '2026-10-03T19:30:00Z', 20],
    ['at :30: 5 runs', '30 * * * *', '2026-10-03T14:30:00Z', '2026-10-03T19:30:00Z', 5],
    ['@hourly: 5 runs', '@hourly', '2026-10-03T14:30:00Z', '2026-10-03T19:30:00Z', 5],
    ['@daily ran once', '@daily', '2026-10-03T06:00:00Z', '2026-10-04T06:00:00Z', 1],
  ]);
});

// Property test: random schedules and instants against a minute-by-minute walk of the zone's clock.
// The walk reads the wall clock of every real minute (Intl directly, not the code under test):
// - a wildcard job runs at each minute whose wall time matches;
// - a fixed-time job runs at the first minute whose wall time reaches a matching time, i.e. at a
//   minute t for each matching wall time in (the latest wall time read before t, wall(t)]: once in
//   a repeated hour, at the jump for skipped times.
describe('property: nextRun, previousRun and countRuns agree with a minute-by-minute walk', () => {
  const WINDOW_MINUTES = 6 * 24 * 60;
  const MINUTE = 60_000;

  function mulberry32(seed: number) {
    return () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  function randomExpr(rand: () => number): string {
    const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
    const pick = <T>(...xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
    // Hours lean towards 0-4, where the transitions are.
    const hourValue = () => (rand() < 0.6 ? int(0, 4) : int(0, 23));
    const minute = pick(
      () => '*',
      () => `*/${int(2, 30)}`,
      () => `${int(0, 59)}`,
      () => `${int(0, 29)},${int(30, 59)}`,
      () => `${int(0, 20)}-${int(21, 59)}`,
      () => `${int(0, 10)}-${int(40, 59)}/${int(5, 20)}`,
      () => `${pick(0, 15, 30, 45)}`,
    )();
    const hour = pick(
      () => '*',
      () => `*/${int(2, 6)}`,
      () => `${hourValue()}`,
      () => `${hourValue()}`,
      () => `${int(0, 2)}-${int(2, 5)}`,
      () => `${hourValue()},${int(12, 23)}`,
      () => `${int(0, 3)}-23/${int(2, 5)}`,
    )();
    const dom = rand() < 0.7 ? '*' : pick(() => `${int(1, 28)}`, () => `${int(1, 14)}-${int(15, 28)}`, () => `*/${int(2, 3)}`)();
    const dow = rand() < 0.6 ? '*' : pick(() => `${int(0, 7)}`, () => 'mon-fri', () => `${int(0, 3)}-${int(4, 6)}`, () => 'sat,sun')();
    return `${minute} ${hour} ${dom} * ${dow}`;
  }

  // Wall clock of each real minute of a window, as naive UTC ms (Date.UTC of the local fields).
  function walls(zone: string, start: number): number[] {
    const f = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric' });
    const out: number[] = [];
    for (let i = 0; i <= WINDOW_MINUTES; i++) {
      const p: Record<string, number> = {};
      for (const part of f.formatToParts(start + i * MINUTE)) p[part.type] = Number(part.value);
      out.push(Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!));
    }
    return out;
  }

  function matches(cron: ReturnType<typeof parseCron>, wall: number): boolean {
    const d = new Date(wall);
    if (!cron.minutes.has(d.getUTCMinutes()) || !cron.hours.has(d.getUTCHours()) || !cron.months.has(d.getUTCMonth() + 1)) return false;
    const dom = cron.days.has(d.getUTCDate());
    const dow = cron.weekdays.has(d.getUTCDay());
    return cron.daysRestricted && cron.weekdaysRestricted ? dom || dow : dom && dow;
  }

  /** The runs the walk finds in (start, start + window]. */
  function walkRuns(cron: ReturnType<typeof parseCron>, start: number, wall: number[]): number[] {
    const runs: number[] = [];
    let latest = wall[0]!;
    for (let i = 1; i < wall.length; i++) {
      const w = wall[i]!;
      if (!cron.fixedTime) {
        if (matches(cron, w)) runs.push(start + i * MINUTE);
      } else if (w > latest) {
        for (let v = latest + MINUTE; v <= w; v += MINUTE) {
          if (matches(cron, v)) {
            runs.push(start + i * MINUTE);
            break;
          }
        }
      }
      latest = Math.max(latest, w);
    }
    return runs;
  }

  it.each([
    // [zone, window centre (a transition, or any instant where there is none), seed]
    ['UTC', '2026-06-15T13:37:00Z', 1],
    ['UTC', '2028-02-27T00:00:00Z', 2],
    ['Asia/Tokyo', '2026-03-29T01:00:00Z', 3],
    ['Asia/Tokyo', '2027-12-30T15:00:00Z', 4],
    ['Europe/Berlin', '2026-03-29T01:00:00Z', 5],
    ['Europe/Berlin', '2026-10-25T01:00:00Z', 6],
    ['America/New_York', '2026-03-08T07:00:00Z', 7],
    ['America/New_York', '2026-11-01T06:00:00Z', 8],
    ['Australia/Adelaide', '2026-04-04T16:30:00Z', 9],
    ['Australia/Adelaide', '2026-10-03T16:30:00Z', 10],
    // Lord Howe Island moves its clock by 30 minutes: 02:00 → 01:30 and 02:00 → 02:30.
    ['Australia/Lord_Howe', '2026-04-04T15:00:00Z', 11],
    ['Australia/Lord_Howe', '2026-10-03T15:30:00Z', 12],
  ] as const)('%s around %s (seed %i): 100 random schedules, 4 instants each', (zone, centre, seed) => {
    const rand = mulberry32(seed);
    const start = at(centre) - (WINDOW_MINUTES / 2) * MINUTE;
    const end = start + WINDOW_MINUTES * MINUTE;
    const wall = walls(zone, start);
    for (let n = 0; n < 100; n++) {
      const expr = randomExpr(rand);
      const cron = parseCron(expr);
      const runs = walkRuns(cron, start, wall);
      for (let k = 0; k < 4; k++) {
        // Instants in the middle two thirds of the window, on and off whole minutes.
        const x = start + WINDOW_MINUTES * MINUTE * (1 / 6 + (2 / 3) * rand()) + (rand() < 0.3 ? 0 : Math.floor(rand() * MINUTE));
        const t = k === 0 && runs.length > 0 ? runs[Math.floor(rand() * runs.length)]! : Math.floor(x);
        const why = `"${expr}" (${cron.fixedTime ? 'fixed' : 'wildcard'}) in ${zone} from ${new Date(t).toISOString()}`;
        const next = runs.find((r) => r > t);
        const got = nextRun(cron, zone, t);
        if (next !== undefined) expect(got, `nextRun ${why}`).toBe(next);
        else expect(got === null || got > end, `nextRun ${why}`).toBe(true);
        const prev = runs.filter((r) => r <= t).pop();
        const gotPrev = previousRun(cron, zone, t);
        if (prev !== undefined) expect(gotPrev, `previousRun ${why}`).toBe(prev);
        else expect(gotPrev === null || gotPrev <= start, `previousRun ${why}`).toBe(true);
      }
      expect(countRuns(cron, zone, start, end, 100_000), `countRuns "${expr}" in ${zone}`).toBe(runs.length);
    }
  });
});
