import type { Pause } from './mute.js';
import type { ServiceSpec } from './service.js';
import type { Signal } from './signal.js';

export type State = 'new' | 'up' | 'late' | 'down';

/** What the store remembers about a service; everything else is computed from it. */
export interface ServiceRecord {
  slug: string;
  registeredAt: number;
  lastBeatAt: number | null;
  /** Counts beats; it moves forward even when the clock steps back, so recovery is never missed. */
  beatSeq: number;
  /**
   * Another reference point that restarts the clock: a `medic resume` or a checker gap, as stored;
   * withUnmute (mute.ts) adds the end of a timed pause and of a window that excused a deadline.
   */
  resetAt: number | null;
  pause: Pause | null;
  incident: OpenIncident | null;
  /** [jobs] The failure reported since the last success (`--fail`, a failed `medic run`); cleared by a success. */
  failure?: Signal | null;
  /** [jobs] A run started (`--start`, `medic run`) and not yet ended by a success or a failure. */
  runStartedAt?: number | null;
}

export interface OpenIncident {
  /** The moment the service went down (its deadline), not the moment a check noticed. */
  downAt: number;
  /** beatSeq when the incident opened (or last relapsed): any later beat means the service came back. */
  beatSeq: number;
  /** Flap damping: it came back at this moment, but the resolve is held until it stays up. */
  heldSince: number | null;
}

export interface Evaluation {
  state: State;
  referenceAt: number;
  lateAt: number;
  deadlineAt: number;
  missedHeartbeats: number;
  /**
   * The last beat is stamped after `now` (the writer's clock is ahead, or this one behind): it
   * counts as a beat at `now`, so a future stamp cannot keep a dead job "up" until that time.
   */
  beatInFuture: boolean;
}

/** The last beat as of `now`: a beat stamped after `now` counts as a beat at `now`. */
export function lastBeatAsOf(rec: ServiceRecord, now: number): number | null {
  return rec.lastBeatAt !== null && rec.lastBeatAt > now ? now : rec.lastBeatAt;
}

/**
 * The reference point: the last beat (capped at `now`), or registration when it never beat, or a
 * later reset (end of a pause, a `medic resume`, a checker gap, a maintenance window that excused
 * a deadline).
 */
export function referenceAt(rec: ServiceRecord, now: number): number {
  const base = lastBeatAsOf(rec, now) ?? rec.registeredAt;
  return rec.resetAt !== null && rec.resetAt > base ? rec.resetAt : base;
}

/** deadline = reference + interval × threshold + grace (SPEC §3). */
export function deadlineAt(spec: ServiceSpec, reference: number): number {
  return reference + spec.intervalMs * spec.threshold + spec.graceMs;
}

/** ⌊(now − last beat) / interval⌋, counted from registration when it never beat; never negative. */
export function missedHeartbeats(spec: ServiceSpec, rec: ServiceRecord, now: number): number {
  const since = lastBeatAsOf(rec, now) ?? rec.registeredAt;
  return Math.max(0, Math.floor((now - since) / spec.intervalMs));
}

/**
 * State at `now`. Boundaries are inclusive on the later state:
 * - down from the deadline on (now >= deadline), even with grace 0;
 * - late from reference + interval until the deadline;
 * - up (or new, when it never beat) before that.
 * A clock that stepped back (now before the reference) reads as up/new, never down; a beat stamped
 * after `now` counts from `now` and sets `beatInFuture`.
 */
export function evaluate(spec: ServiceSpec, rec: ServiceRecord, now: number): Evaluation {
  const reference = referenceAt(rec, now);
  const lateAt = reference + spec.intervalMs;
  const deadline = deadlineAt(spec, reference);
  let state: State;
  if (now >= deadline) state = 'down';
  else if (rec.lastBeatAt === null) state = 'new';
  else if (now >= lateAt) state = 'late';
  else state = 'up';
  return {
    state,
    referenceAt: reference,
    lateAt,
    deadlineAt: deadline,
    missedHeartbeats: missedHeartbeats(spec, rec, now),
    beatInFuture: rec.lastBeatAt !== null && rec.lastBeatAt > now,
  };
}

export type Transition =
  | { kind: 'down'; at: number; evaluation: Evaluation }
  | { kind: 'up'; at: number; evaluation: Evaluation }
  | { kind: 'hold'; at: number; evaluation: Evaluation }
  | { kind: 'relapse'; at: number; evaluation: Evaluation };

export interface DecideContext {
  /** Paused or in maintenance: no trigger (a recovery still resolves). */
  muted: boolean;
  /** Times it went down within the flap window (triggers and relapses), the open incident's included. */
  recentTriggers: number;
  flap: { windowMs: number; maxTriggers: number };
}

/**
 * What a check must do for one service, if anything:
 * - down: it is down, no incident is open and it is not muted → open one (at its deadline);
 * - up: an incident is open and a beat arrived since it opened → resolve (at that beat);
 * - hold: as up, but it triggered `maxTriggers` times within the flap window → keep the incident
 *   open and resolve only once it has stayed up for a whole window (no incident storm);
 * - relapse: held, and down again → the same incident stays open, no new trigger;
 * - up after a hold: it stayed up from heldSince for the whole window.
 */
export function decide(spec: ServiceSpec, rec: ServiceRecord, now: number, ctx: DecideContext): Transition | null {
  const evaluation = evaluate(spec, rec, now);
  const incident = rec.incident;
  if (incident) {
    if (incident.heldSince !== null) {
      if (evaluation.state === 'down') return { kind: 'relapse', at: evaluation.deadlineAt, evaluation };
      const stableAt = incident.heldSince + ctx.flap.windowMs;
      return now >= stableAt ? { kind: 'up', at: stableAt, evaluation } : null;
    }
    if (rec.beatSeq > incident.beatSeq) {
      const at = rec.lastBeatAt ?? now;
      return { kind: ctx.recentTriggers >= ctx.flap.maxTriggers ? 'hold' : 'up', at, evaluation };
    }
    return null;
  }
  if (evaluation.state === 'down' && !ctx.muted) return { kind: 'down', at: evaluation.deadlineAt, evaluation };
  return null;
}
