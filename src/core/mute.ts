import { parseCron, previousMatch } from './cron.js';
import type { ServiceSpec } from './service.js';
import type { ServiceRecord } from './state.js';

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

/**
 * The occurrence of a window that matters at `now`: the current one if active, else the last one
 * that ended. Intervals are half-open, [start, end): at `end` the window is over.
 */
export function occurrence(w: Window, now: number, localZone: string): { startAt: number; endAt: number } | null {
  // A check asks this for every service at the same `now`: work it out once per window.
  const cached = memo.get(w);
  if (cached && cached.now === now && cached.zone === localZone) return cached.occ;
  const occ = computeOccurrence(w, now, localZone);
  memo.set(w, { now, zone: localZone, occ });
  return occ;
}

const memo = new WeakMap<Window, { now: number; zone: string; occ: { startAt: number; endAt: number } | null }>();

function computeOccurrence(w: Window, now: number, localZone: string): { startAt: number; endAt: number } | null {
  if (w.cron === null) {
    return w.startAt !== null && w.endAt !== null && w.startAt <= now ? { startAt: w.startAt, endAt: w.endAt } : null;
  }
  const start = previousMatch(parseCron(w.cron), w.timezone ?? localZone, now);
  return start === null ? null : { startAt: start, endAt: start + (w.durationMs ?? 0) };
}

/** Why a service is muted at `now` (pause first, then the window ending last), or null. */
export function activeMute(spec: ServiceSpec, pause: Pause | null, windows: Window[], now: number, localZone: string): Mute | null {
  if (pause && (pause.until === null || now < pause.until)) return { kind: 'paused', reason: pause.reason, until: pause.until };
  let best: Mute | null = null;
  for (const w of windows) {
    if (!covers(w, spec)) continue;
    const o = occurrence(w, now, localZone);
    if (o && now < o.endAt && (best === null || o.endAt > best.until!)) best = { kind: 'maintenance', reason: w.reason, until: o.endAt };
  }
  return best;
}

/**
 * The latest moment at or before `now` when a mute of this service ended (a timed pause running
 * out, a window closing). The service gets a full interval × threshold + grace from there.
 */
export function lastUnmuteAt(spec: ServiceSpec, pause: Pause | null, windows: Window[], now: number, localZone: string): number | null {
  let latest: number | null = pause?.until != null && pause.until <= now ? pause.until : null;
  for (const w of windows) {
    if (!covers(w, spec)) continue;
    const o = occurrence(w, now, localZone);
    if (o && o.endAt <= now && (latest === null || o.endAt > latest)) latest = o.endAt;
  }
  return latest;
}

/** The record as the state machine should see it: a pause that ran out or a closed window restarts the clock. */
export function withUnmute(spec: ServiceSpec, rec: ServiceRecord, windows: Window[], now: number, localZone: string): ServiceRecord {
  const unmuted = lastUnmuteAt(spec, rec.pause, windows, now, localZone);
  return unmuted !== null && (rec.resetAt === null || unmuted > rec.resetAt) ? { ...rec, resetAt: unmuted } : rec;
}
