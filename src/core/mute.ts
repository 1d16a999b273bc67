import { parseCron, previousRun, type Cron } from './cron.js';
import type { ServiceSpec } from './service.js';
import { downMoment, type ServiceRecord } from './state.js';

/** A pause set by `medic pause`: until null means until `medic resume`. */
export interface Pause {
  since: number;
  until: number | null;
  reason: string | null;
}

/** A maintenance window from the config: one-off (start/end) or recurring (cron + duration in a zone). */
export interface Window {
  services: string[] | null;
  teams: string[] | null;
  all: boolean;
  startAt: number | null;
  endAt: number | null;
  cron: string | null;
  durationMs: number | null;
  timezone: string | null;
  reason: string | null;
}

export interface Mute {
  kind: 'paused' | 'maintenance';
  reason: string | null;
  /** When it ends by itself; null = until `medic resume`. */
  until: number | null;
}

export function covers(w: Window, spec: ServiceSpec): boolean {
  return w.all || (w.services?.includes(spec.slug) ?? false) || (spec.team !== null && (w.teams?.includes(spec.team) ?? false));
}

export interface Occurrence {
  startAt: number;
  endAt: number;
}

/**
 * The occurrence of a window that started last at or before `at` (open or already over), or null.
 * Intervals are half-open, [start, end): at `end` the window is over. All occurrences of a
 * recurring window last as long, so the one that started last is also the one that ends last.
 * A recurring window opens when cron would start a job with its schedule (previousRun: Debian's
 * DST rules), so a fixed start time that a spring-forward jump skips opens at the jump, and one
 * that a fall-back repeats opens once, at the first.
 */
export function occurrence(w: Window, at: number, localZone: string): Occurrence | null {
  if (w.cron === null) {
    return w.startAt !== null && w.endAt !== null && w.startAt <= at ? { startAt: w.startAt, endAt: w.endAt } : null;
  }
  const start = latestStart(w, at, localZone);
  return start === null ? null : { startAt: start, endAt: start + (w.durationMs ?? 0) };
}

/** The occurrence of a window that is open at instant `at` (start <= at < end), or null. */
export function occurrenceAt(w: Window, at: number, localZone: string): Occurrence | null {
  const o = occurrence(w, at, localZone);
  return o !== null && at < o.endAt ? o : null;
}

// A check asks about many services at once, often for the same minute: remember each window's
// parsed cron and its latest start per minute (cron starts are whole minutes).
const memo = new WeakMap<Window, { zone: string; cron: Cron; starts: Map<number, number | null> }>();
const MINUTE = 60_000;
const MEMO_MINUTES = 10_000;

function latestStart(w: Window, at: number, localZone: string): number | null {
  const zone = w.timezone ?? localZone;
  let m = memo.get(w);
  if (!m || m.zone !== zone) {
    m = { zone, cron: parseCron(w.cron!), starts: new Map() };
    memo.set(w, m);
  }
  const minute = Math.floor(at / MINUTE);
  let start = m.starts.get(minute);
  if (start === undefined) {
    if (m.starts.size >= MEMO_MINUTES) m.starts.clear();
    start = previousRun(m.cron, zone, at);
    m.starts.set(minute, start);
  }
  return start;
}

/** Why a service is muted at `now` (pause first, then the window ending last), or null. */
export function activeMute(spec: ServiceSpec, pause: Pause | null, windows: Window[], now: number, localZone: string): Mute | null {
  if (pause && (pause.until === null || now < pause.until)) return { kind: 'paused', reason: pause.reason, until: pause.until };
  let best: Mute | null = null;
  for (const w of windows) {
    if (!covers(w, spec)) continue;
    const o = occurrenceAt(w, now, localZone);
    if (o && (best === null || o.endAt > best.until!)) best = { kind: 'maintenance', reason: w.reason, until: o.endAt };
  }
  return best;
}

/** When a timed pause ran out by itself, if it has by `now`; its end restarts the clock. */
export function pauseEndedAt(pause: Pause | null, now: number): number | null {
  return pause?.until != null && pause.until <= now ? pause.until : null;
}

/**
 * The end of the window that excuses a deadline at instant `at`: of the windows covering the
 * service that are open at `at`, the latest end; null when none is (the deadline pages).
 */
export function excusedUntil(spec: ServiceSpec, windows: Window[], at: number, localZone: string): number | null {
  let end: number | null = null;
  for (const w of windows) {
    if (!covers(w, spec)) continue;
    const o = occurrenceAt(w, at, localZone);
    if (o && (end === null || o.endAt > end)) end = o.endAt;
  }
  return end;
}

/**
 * How many windows in a row may excuse one service's deadline. A window that recurs in step with
 * the service (every fresh deadline falls inside the next occurrence) would otherwise excuse it
 * for ever; after this many it pages.
 */
export const MAX_EXCUSES = 3;

/**
 * The record as the state machine should see it at `now` (SPEC §3):
 * - a timed pause that ran out restarts the clock at its end, as `medic resume` does;
 * - a maintenance window excuses only a down moment that fell inside it: a missed deadline, a
 *   reported failure, a run that became stuck. The moment is first worked out without windows,
 *   from the real reference (last beat or run start, registration, pause end, gap reset). If it
 *   has passed (<= now) and fell inside an open occurrence of a window covering the service
 *   ([start, end): a moment at the very end is outside), the service gets a fresh reference at
 *   that occurrence's end (a failure or a start older than it no longer counts); if its next down
 *   moment fell inside another occurrence, the same again, at most MAX_EXCUSES times. A moment
 *   outside every window is left as it is and pages as if there were no windows, so a window that
 *   closes often (a daily one over a daily job, one every 10 minutes over an hourly service)
 *   cannot hide an outage.
 * Only passed moments are excused: whether a future one falls in a window is decided then.
 */
export function withUnmute(spec: ServiceSpec, rec: ServiceRecord, windows: Window[], now: number, localZone: string): ServiceRecord {
  const pauseEnd = pauseEndedAt(rec.pause, now);
  const base = pauseEnd !== null && (rec.resetAt === null || pauseEnd > rec.resetAt) ? { ...rec, resetAt: pauseEnd } : rec;
  let current = base;
  for (let i = 0; i < MAX_EXCUSES; i++) {
    const down = downMoment(spec, current, now);
    if (down === null) break;
    const end = excusedUntil(spec, windows, down.at, localZone);
    if (end === null) break;
    current = { ...base, resetAt: end };
  }
  return current;
}
