/** A parsed 5-field cron expression (minute hour day-of-month month day-of-week), as Vixie cron reads it. */
export interface Cron {
  minutes: Set<number>;
  hours: Set<number>;
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
  /** Vixie cron: when both day fields are restricted, a day matches if EITHER matches. */
  daysRestricted: boolean;
  weekdaysRestricted: boolean;
  /**
   * Debian cron(8): a job whose minute and hour fields have no `*` runs at a fixed time, and DST
   * moves it (a skipped time runs right after the jump, a repeated one runs once). A `*` anywhere
   * in either field (every 5 minutes, `@hourly` = `0 * * * *`) makes a wildcard job: it follows
   * the wall clock as it is.
   */
  fixedTime: boolean;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** Parses a cron expression; throws an Error whose message says what is wrong. */
export function parseCron(expr: string): Cron {
  const text = MACROS[expr.trim().toLowerCase()] ?? expr.trim();
  const fields = text.split(/\s+/);
  if (fields.length !== 5) throw new Error(`expected 5 fields (minute hour day month weekday), got ${fields.length}`);
  const [min, hour, dom, mon, dow] = fields as [string, string, string, string, string];
  const weekdays = field(dow, 0, 7, 'weekday', WEEKDAYS);
  if (weekdays.has(7)) {
    weekdays.delete(7);
    weekdays.add(0);
  }
  const cron: Cron = {
    minutes: field(min, 0, 59, 'minute'),
    hours: field(hour, 0, 23, 'hour'),
    days: field(dom, 1, 31, 'day of month'),
    months: field(mon, 1, 12, 'month', MONTHS, 1),
    weekdays,
    daysRestricted: !dom.startsWith('*'),
    weekdaysRestricted: !dow.startsWith('*'),
    fixedTime: !min.includes('*') && !hour.includes('*'),
  };
  const longest = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  const someDay = [...cron.months].some((m) => [...cron.days].some((d) => d <= longest[m]!));
  if (cron.daysRestricted && !cron.weekdaysRestricted && !someDay) throw new Error('that day never comes in those months');
  return cron;
}

function field(text: string, lo: number, hi: number, what: string, names?: string[], nameBase = 0): Set<number> {
  const out = new Set<number>();
  const value = (s: string) => {
    const byName = names?.indexOf(s.toLowerCase()) ?? -1;
    const n = byName >= 0 ? byName + nameBase : /^\d+$/.test(s) ? Number(s) : NaN;
    if (!(n >= lo && n <= hi)) throw new Error(`${what} "${s}" is not in ${lo}-${hi}`);
    return n;
  };
  for (const part of text.split(',')) {
    const [range, stepText] = part.split('/') as [string, string | undefined];
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new Error(`${what} step "${stepText}" must be a positive whole number`);
    let from: number;
    let to: number;
    if (range === '*') [from, to] = [lo, hi];
    else if (range.includes('-')) {
      const [a, b] = range.split('-') as [string, string];
      [from, to] = [value(a), value(b)];
      if (from > to) throw new Error(`${what} range "${range}" runs backwards`);
    } else {
      from = value(range);
      to = stepText === undefined ? from : hi;
    }
    for (let n = from; n <= to; n += step) out.add(n);
  }
  return out;
}


const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** How far the searches look: 29 February can be 8 years away (2096 → 2104). */
const HORIZON = 9 * 366 * DAY;

// Wall-clock times are handled as "naive" epoch ms: the UTC instant whose UTC fields are the
// local fields (Date.UTC(y, m, d, h, mi)). A zone's offset at an instant is wall − instant.

const offsetFormatters = new Map<string, Intl.DateTimeFormat>();

/** The offset of `timeZone` at instant `at` (wall clock − UTC), in ms. */
function offsetAt(at: number, timeZone: string): number {
  let f = offsetFormatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    offsetFormatters.set(timeZone, f);
  }
  // format() and a regex cost a third of formatToParts(); the en-US shape is "11/29/2026, 21:34:38".
  const [month, day, year, hour, minute, second] = f.format(at).match(/\d+/g)!.map(Number) as [number, number, number, number, number, number];
  const wall = new Date(0);
  wall.setUTCFullYear(year, month - 1, day);
  wall.setUTCHours(hour, minute, second, 0);
  return wall.getTime() - (at - (((at % 1000) + 1000) % 1000));
}

interface Local {
  month: number;
  day: number;
  weekday: number;
  hour: number;
  minute: number;
}

/** Wall-clock fields of an instant in an IANA time zone. */
export function localTime(at: number, timeZone: string): Local {
  const wall = new Date(at + offsetAt(at, timeZone));
  return { month: wall.getUTCMonth() + 1, day: wall.getUTCDate(), weekday: wall.getUTCDay(), hour: wall.getUTCHours(), minute: wall.getUTCMinutes() };
}

/** Throws a RangeError for a zone name the runtime does not know. */
export function checkTimeZone(timeZone: string): void {
  new Intl.DateTimeFormat('en-US', { timeZone });
}

function dayMatches(cron: Cron, day: number, weekday: number): boolean {
  const dom = cron.days.has(day);
  const dow = cron.weekdays.has(weekday);
  if (cron.daysRestricted && cron.weekdaysRestricted) return dom || dow;
  return dom && dow;
}

// Minutes of the day a schedule runs at (hour × 60 + minute), ascending; worked out once per Cron.
const dayMinutes = new WeakMap<Cron, number[]>();

function minutesOfDay(cron: Cron): number[] {
  let list = dayMinutes.get(cron);
  if (!list) {
    list = [];
    for (let h = 0; h < 24; h++) for (let m = 0; m < 60; m++) if (cron.hours.has(h) && cron.minutes.has(m)) list.push(h * 60 + m);
    dayMinutes.set(cron, list);
  }
  return list;
}

/** The first wall-clock time at or after `wall` (naive ms) that the fields match, or null before `limit`. */
function firstWallFrom(cron: Cron, wall: number, limit: number): number | null {
  const list = minutesOfDay(cron);
  let day = Math.floor(wall / DAY) * DAY;
  let from = Math.ceil((wall - day) / MINUTE);
  while (day <= limit) {
    const d = new Date(day);
    if (!cron.months.has(d.getUTCMonth() + 1)) {
      day = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
      from = 0;
      continue;
    }
    if (dayMatches(cron, d.getUTCDate(), d.getUTCDay())) {
      for (const m of list) if (m >= from) return day + m * MINUTE;
    }
    day += DAY;
    from = 0;
  }
  return null;
}

/** The last wall-clock time at or before `wall` (naive ms) that the fields match, or null after `limit`. */
function lastWallUpTo(cron: Cron, wall: number, limit: number): number | null {
  const list = minutesOfDay(cron);
  let day = Math.floor(wall / DAY) * DAY;
  let upTo = Math.floor((wall - day) / MINUTE);
  while (day >= limit) {
    const d = new Date(day);
    if (!cron.months.has(d.getUTCMonth() + 1)) {
      day = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 0);
      upTo = 24 * 60;
      continue;
    }
    if (dayMatches(cron, d.getUTCDate(), d.getUTCDay())) {
      for (let i = list.length - 1; i >= 0; i--) if (list[i]! <= upTo) return day + list[i]! * MINUTE;
    }
    day -= DAY;
    upTo = 24 * 60;
  }
  return null;
}

/** The first whole minute in (lo, hi] where `test` holds, given it fails at lo and holds at hi. */
function firstMinuteWhere(lo: number, hi: number, test: (at: number) => boolean): number {
  let a = Math.floor(lo / MINUTE);
  let b = Math.ceil(hi / MINUTE);
  while (b - a > 1) {
    const mid = Math.floor((a + b) / 2);
    if (test(mid * MINUTE)) b = mid;
    else a = mid;
  }
  return b * MINUTE;
}

// Offset changes (DST and zone changes) are taken to be more than a day apart, as they are in
// every zone of the tz database since 1970: a zone is probed a day at a time, and within a day
// there is at most one change, found by bisection.

/** The first minute in (from, to] whose offset is not `offset` (the offset at `from`), or null. */
function changeAfter(timeZone: string, offset: number, from: number, to: number): number | null {
  for (let lo = from; lo < to; ) {
    const hi = Math.min(lo + DAY, to);
    if (offsetAt(hi, timeZone) !== offset) return firstMinuteWhere(lo, hi, (t) => offsetAt(t, timeZone) !== offset);
    lo = hi;
  }
  return null;
}

/** The first minute of the stretch with offset `offset` that holds `to`, if it starts after `from`; else null. */
function changeBefore(timeZone: string, offset: number, from: number, to: number): number | null {
  for (let hi = to; hi > from; ) {
    const lo = Math.max(hi - DAY, from);
    if (offsetAt(lo, timeZone) !== offset) return firstMinuteWhere(lo, hi, (t) => offsetAt(t, timeZone) === offset);
    hi = lo;
  }
  return null;
}

/**
 * When a fixed-time job due at wall-clock time `wall` (naive ms) runs: the first instant at which
 * the zone's clock reads `wall` or later. So a time that occurs twice (fall back) runs in its
 * first copy, and a time the clock skips (spring forward) runs at the jump, as Debian cron does.
 */
function fixedRunAt(wall: number, timeZone: string): number {
  // The offsets a day either side; at most one change lies between them.
  const before = offsetAt(wall - DAY, timeZone);
  const after = offsetAt(wall + DAY, timeZone);
  const early = wall - Math.max(before, after);
  if (offsetAt(early, timeZone) === Math.max(before, after)) return early;
  const late = wall - Math.min(before, after);
  if (offsetAt(late, timeZone) === Math.min(before, after)) return late;
  // Neither reading exists: the clock jumped over `wall` at some instant in (early, late].
  return firstMinuteWhere(early, late, (t) => t + offsetAt(t, timeZone) >= wall);
}

function floorMinute(at: number): number {
  return Math.floor(at / MINUTE) * MINUTE;
}

/**
 * The first run strictly after `after` of a job with this schedule in `timeZone`, as Debian cron
 * runs it (cron(8)), or null if none within ~9 years:
 * - a fixed-time job (no `*` in minute or hour) whose local time a spring-forward jump skips runs
 *   at the jump (several skipped times = one run); a time repeated by a fall-back runs once, in
 *   its first copy;
 * - a wildcard job runs at each real minute whose local time matches: skipped times never come,
 *   a repeated hour runs in both copies.
 */
export function nextRun(cron: Cron, timeZone: string, after: number): number | null {
  return cron.fixedTime ? nextFixed(cron, timeZone, after) : nextWildcard(cron, timeZone, after);
}

/**
 * The last run at or before `at` (same rules as nextRun), or null if none within ~9 years.
 */
export function previousRun(cron: Cron, timeZone: string, at: number): number | null {
  return cron.fixedTime ? previousFixed(cron, timeZone, at) : previousWildcard(cron, timeZone, at);
}

/** How many runs fall in (after, atOrBefore], counting no further than `cap`. */
export function countRuns(cron: Cron, timeZone: string, after: number, atOrBefore: number, cap: number): number {
  const first = floorMinute(after) + MINUTE;
  const last = floorMinute(atOrBefore);
  // Stretch by stretch of one offset, where the wall clock is the instant shifted. `seen` is the
  // latest wall time the clock has read so far: a fixed-time job runs only at times past it, and
  // all the times a jump skips run together at the jump.
  let seen = first - MINUTE + offsetAt(first - MINUTE, timeZone);
  if (cron.fixedTime) {
    const offset = offsetAt(first - MINUTE, timeZone);
    const stretchStart = changeBefore(timeZone, offset, first - MINUTE - DAY, first - MINUTE);
    if (stretchStart !== null) seen = Math.max(seen, stretchStart - MINUTE + offsetAt(stretchStart - MINUTE, timeZone));
  }
  let count = 0;
  for (let t = first; t <= last && count < cap; ) {
    const offset = offsetAt(t, timeZone);
    // The next wall time the fields match (for a fixed-time job, from the first time a jump may
    // have skipped). None for days: skip to two days before it (no run comes in between, and the
    // offsets met there change no count), so a sparse schedule over years (29 February) costs a
    // look per run, not an offset probe per day. Stretches end two days after it at the latest.
    const next = firstWallFrom(cron, cron.fixedTime ? Math.min(seen + MINUTE, t + offset) : t + offset, last + offset + 2 * DAY);
    if (next === null) break;
    if (next - (t + offset) > 3 * DAY) {
      t = floorMinute(next - offset - 2 * DAY);
      seen = Math.max(seen, t - MINUTE + offsetAt(t - MINUTE, timeZone));
      continue;
    }
    const bound = Math.min(last, floorMinute(next - offset + 2 * DAY));
    const change = changeAfter(timeZone, offset, t, bound) ?? bound + MINUTE;
    const from = t + offset;
    const to = change - MINUTE + offset;
    if (!cron.fixedTime) count += countWalls(cron, from, to, cap - count);
    else if (from > seen) {
      if (countWalls(cron, seen + MINUTE, from, 1) > 0) count++;
      count += countWalls(cron, from + MINUTE, to, cap - count);
    } else count += countWalls(cron, seen + MINUTE, to, cap - count);
    seen = Math.max(seen, to);
    t = change;
  }
  return Math.min(count, cap);
}

/** How many wall-clock times in [from, to] (naive ms, whole minutes) the fields match, at most `cap`. */
function countWalls(cron: Cron, from: number, to: number, cap: number): number {
  const list = minutesOfDay(cron);
  let count = 0;
  for (let day = Math.floor(from / DAY) * DAY; day <= to && count < cap; day += DAY) {
    const d = new Date(day);
    if (!cron.months.has(d.getUTCMonth() + 1) || !dayMatches(cron, d.getUTCDate(), d.getUTCDay())) continue;
    for (const m of list) {
      const wall = day + m * MINUTE;
      if (wall >= from && wall <= to) count++;
    }
  }
  return Math.min(count, cap);
}

function nextFixed(cron: Cron, timeZone: string, after: number): number | null {
  // The clock has read every wall time up to its reading at `after`, so those ran by then; later
  // ones run in wall-clock order (first reading), so the first that runs after `after` is it.
  const start = floorMinute(after + offsetAt(after, timeZone));
  const limit = start + HORIZON;
  for (let wall = firstWallFrom(cron, start + MINUTE, limit); wall !== null; wall = firstWallFrom(cron, wall + MINUTE, limit)) {
    const run = fixedRunAt(wall, timeZone);
    if (run > after) return run;
  }
  return null;
}

function previousFixed(cron: Cron, timeZone: string, at: number): number | null {
  const offset = offsetAt(at, timeZone);
  const now = floorMinute(at + offset);
  const wall = lastWallUpTo(cron, now, now - HORIZON);
  if (wall === null) return null;
  let run = fixedRunAt(wall, timeZone);
  // After a fall-back the clock once read later times than it reads now: those ran already.
  const ahead = offsetAt(at - DAY, timeZone) - offset;
  for (let next = firstWallFrom(cron, wall + MINUTE, now + ahead); next !== null && next <= now + ahead; next = firstWallFrom(cron, next + MINUTE, now + ahead)) {
    const nextRunAt = fixedRunAt(next, timeZone);
    if (nextRunAt > at) break;
    run = nextRunAt;
  }
  return run;
}

function nextWildcard(cron: Cron, timeZone: string, after: number): number | null {
  const stop = after + HORIZON;
  // Over each stretch of one offset the wall clock is the instant shifted: match it there.
  for (let t = floorMinute(after) + MINUTE; t <= stop; ) {
    const offset = offsetAt(t, timeZone);
    const wall = firstWallFrom(cron, t + offset, stop + offset);
    if (wall === null) return null;
    const change = changeAfter(timeZone, offset, t, wall - offset);
    if (change === null) return wall - offset;
    t = change;
  }
  return null;
}

function previousWildcard(cron: Cron, timeZone: string, at: number): number | null {
  const stop = at - HORIZON;
  for (let t = floorMinute(at); t >= stop; ) {
    const offset = offsetAt(t, timeZone);
    const wall = lastWallUpTo(cron, t + offset, stop + offset);
    if (wall === null) return null;
    const change = changeBefore(timeZone, offset, wall - offset, t);
    if (change === null) return wall - offset;
    t = change - MINUTE;
  }
  return null;
}
