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

interface Local {
  month: number;
  day: number;
  weekday: number;
  hour: number;
  minute: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Wall-clock fields of an instant in an IANA time zone. */
export function localTime(at: number, timeZone: string): Local {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      month: 'numeric',
      day: 'numeric',
      weekday: 'short',
      hour: 'numeric',
      minute: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  const parts: Record<string, string> = {};
  for (const p of f.formatToParts(at)) parts[p.type] = p.value;
  return {
    month: Number(parts.month),
    day: Number(parts.day),
    weekday: WEEKDAYS.indexOf(parts.weekday!.toLowerCase()),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
  };
}

/** Throws a RangeError for a zone name the runtime does not know. */
export function checkTimeZone(timeZone: string): void {
  new Intl.DateTimeFormat('en-US', { timeZone });
}

function dayMatches(cron: Cron, t: Local): boolean {
  if (!cron.months.has(t.month)) return false;
  const dom = cron.days.has(t.day);
  const dow = cron.weekdays.has(t.weekday);
  if (cron.daysRestricted && cron.weekdaysRestricted) return dom || dow;
  return dom && dow;
}

const MINUTE = 60_000;

/**
 * The latest instant at or before `at` (whole minutes) whose wall-clock time in `timeZone` matches,
 * or null if none within ~5 years. Walks back over real instants, so DST gaps and repeats are
 * whatever the zone's clock actually showed.
 */
export function previousMatch(cron: Cron, timeZone: string, at: number): number | null {
  let t = Math.floor(at / MINUTE) * MINUTE;
  const stop = t - 5 * 366 * 24 * 60 * MINUTE;
  while (t >= stop) {
    const local = localTime(t, timeZone);
    if (!dayMatches(cron, local)) {
      // Back to about 01:00 of this day, then over midnight: a DST day is 23 or 25 hours long, so
      // stop an hour short of midnight rather than risk skipping the previous day's last hour.
      t -= Math.max(local.minute + 1, (local.hour - 1) * 60 + local.minute + 1) * MINUTE;
    } else if (!cron.hours.has(local.hour)) t -= (local.minute + 1) * MINUTE;
    else if (!cron.minutes.has(local.minute)) {
      // Straight back to the last matching minute of this hour (or over the hour), not one by one.
      let m = local.minute - 1;
      while (m >= 0 && !cron.minutes.has(m)) m--;
      t -= (local.minute - m) * MINUTE;
    } else return t;
  }
  return null;
}

/**
 * [jobs] The first run strictly after `after` of a job with this schedule in `timeZone`, or null if
 * none within ~5 years. CONTRACT (the DST rules of Debian cron(8) are still to be applied): for now
 * every schedule is walked over real minutes, as a wildcard job runs.
 */
export function nextRun(cron: Cron, timeZone: string, after: number): number | null {
  let t = Math.floor(after / MINUTE) * MINUTE + MINUTE;
  const stop = t + 5 * 366 * 24 * 60 * MINUTE;
  for (; t <= stop; t += MINUTE) {
    const local = localTime(t, timeZone);
    if (dayMatches(cron, local) && cron.hours.has(local.hour) && cron.minutes.has(local.minute)) return t;
  }
  return null;
}
