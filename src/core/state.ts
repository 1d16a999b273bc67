import { countRuns, nextRun as cronNextRun, type Cron } from './cron.js';
import type { Pause } from './mute.js';
import type { ServiceSpec } from './service.js';
import type { DownReason, Signal } from './signal.js';

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
  /** When it is late if nothing comes: reference + interval, or the first scheduled run counted. */
  lateAt: number;
  /**
   * When it goes down if nothing comes: reference + interval × threshold + grace, or the
   * threshold-th scheduled run counted + grace; while a run is in progress under `maxRuntime`, the
   * moment that run is stuck.
   */
  deadlineAt: number;
  missedHeartbeats: number;
  /**
   * The last beat is stamped after `now` (the writer's clock is ahead, or this one behind): it
   * counts as a beat at `now`, so a future stamp cannot keep a dead job "up" until that time.
   */
  beatInFuture: boolean;
  /** [jobs] Why it is down (failed > stuck > missed); null when it is not down. */
  reason: DownReason | null;
  /** [jobs] When it went down for that reason (the failure, start + maxRuntime, the deadline); null when not down. */
  downAt: number | null;
  /** [jobs] The start of a run in progress that counts (not older than the last reset); null when none. */
  runningSince: number | null;
}

/** A scheduled service counts at most this many missed runs (a long-dead every-minute job would cost a walk per run). */
export const MISSED_RUNS_CAP = 10_000;
/** "Never": the largest instant a Date can hold, for a schedule with no run within reach. */
export const NEVER = 8.64e15;
/**
 * How far after its reference a scheduled service's runs are walked: a threshold-th run later
 * than this is not looked for and the service is never due (NEVER). Without it, a 29 February
 * schedule with threshold 1000 walks 4,000 years of runs, per service, at every check.
 */
export const DUE_HORIZON_MS = 10 * 366 * 86_400_000;

// One check asks for the same runs several times (withUnmute, decide, the missed count, status):
// remember them per parsed schedule and zone (nextRun is a pure function of its arguments).
const runs = new WeakMap<Cron, Map<string, number | null>>();
const RUNS_MEMO_SIZE = 20_000;

function nextRun(cron: Cron, timezone: string, after: number): number | null {
  let memo = runs.get(cron);
  if (!memo) runs.set(cron, (memo = new Map()));
  const key = `${timezone} ${after}`;
  let run = memo.get(key);
  if (run === undefined) {
    if (memo.size >= RUNS_MEMO_SIZE) memo.clear();
    run = cronNextRun(cron, timezone, after);
    memo.set(key, run);
  }
  return run;
}

/** The last beat as of `now`: a beat stamped after `now` counts as a beat at `now`. */
export function lastBeatAsOf(rec: ServiceRecord, now: number): number | null {
  return rec.lastBeatAt !== null && rec.lastBeatAt > now ? now : rec.lastBeatAt;
}

/** A run start that counts at `now`: not stamped after `now` (it counts once its time comes) and not older than the last reset. */
function startAsOf(rec: ServiceRecord, now: number): number | null {
  const at = rec.runStartedAt ?? null;
  return at !== null && at <= now && counts(rec, at) ? at : null;
}

/** A failure or a start older than the last reset (pause end, resume, checker gap, an excusing window's end) does not count. */
function counts(rec: ServiceRecord, at: number): boolean {
  return rec.resetAt === null || at >= rec.resetAt;
}

export type ReferenceKind = 'beat' | 'start' | 'registration' | 'reset';

/**
 * The reference point and where it comes from: the last beat (capped at `now`) or a later run
 * start (a run that started shows up for its slot; the store keeps the earliest start no end
 * followed, so a run that never ends buys one period, not one per new start), or registration when it has neither, or a
 * later reset (end of a pause, a `medic resume`, a checker gap, a maintenance window that excused
 * a down moment).
 */
export function reference(rec: ServiceRecord, now: number): { at: number; kind: ReferenceKind } {
  const beat = lastBeatAsOf(rec, now);
  const start = rec.runStartedAt != null && rec.runStartedAt <= now ? rec.runStartedAt : null;
  const base: { at: number; kind: ReferenceKind } =
    start !== null && (beat === null || start > beat) ? { at: start, kind: 'start' } : beat !== null ? { at: beat, kind: 'beat' } : { at: rec.registeredAt, kind: 'registration' };
  return rec.resetAt !== null && rec.resetAt > base.at ? { at: rec.resetAt, kind: 'reset' } : base;
}

/** The reference point's instant (see `reference`). */
export function referenceAt(rec: ServiceRecord, now: number): number {
  return reference(rec, now).at;
}

/**
 * When a service is late and down if nothing comes after `reference`:
 * - interval: late at reference + interval, down at reference + interval × threshold + grace;
 * - schedule: late at the first run after the reference, down at the threshold-th run + grace.
 *   Early-beat rule (`early`: the reference is a beat or a start): one within grace before a
 *   scheduled run counts for that run (bounds inclusive: at run − grace it counts), so the runs
 *   are counted from that run on. A threshold-th run more than DUE_HORIZON_MS (~10 years) after
 *   the reference is not looked for: the service is never due (NEVER), as with no run at all.
 */
export function dueTimes(spec: ServiceSpec, reference: number, early = false): { lateAt: number; deadlineAt: number } {
  if (spec.schedule === null) {
    const interval = spec.intervalMs ?? 0;
    return { lateAt: reference + interval, deadlineAt: reference + interval * spec.threshold + spec.graceMs };
  }
  const from = early ? countFrom(spec, reference) : reference;
  const { cron, timezone } = spec.schedule;
  const first = nextRun(cron, timezone, from);
  const horizon = reference + DUE_HORIZON_MS;
  let run = first !== null && first <= horizon ? first : null;
  for (let i = 1; i < spec.threshold && run !== null; i++) {
    run = nextRun(cron, timezone, run);
    if (run !== null && run > horizon) run = null;
  }
  return { lateAt: first ?? NEVER, deadlineAt: run === null ? NEVER : run + spec.graceMs };
}

/** The early-beat rule: a beat within grace before a scheduled run stands for that run. */
function countFrom(spec: ServiceSpec, beat: number): number {
  const next = nextRun(spec.schedule!.cron, spec.schedule!.timezone, beat);
  return next !== null && next - beat <= spec.graceMs ? next : beat;
}

/** The deadline from a reference (see `dueTimes`). */
export function deadlineAt(spec: ServiceSpec, reference: number, early = false): number {
  return dueTimes(spec, reference, early).deadlineAt;
}

/**
 * Missed heartbeats, counted from the last beat (from registration when it never beat):
 * interval: ⌊(now − last beat) / interval⌋; schedule: the scheduled runs in (last beat, now]
 * (a beat within grace before a run stands for it), at most MISSED_RUNS_CAP. Never negative.
 */
export function missedHeartbeats(spec: ServiceSpec, rec: ServiceRecord, now: number): number {
  const beat = lastBeatAsOf(rec, now);
  const since = beat ?? rec.registeredAt;
  if (spec.schedule === null) return Math.max(0, Math.floor((now - since) / (spec.intervalMs ?? 1)));
  const from = beat === null ? since : countFrom(spec, beat);
  return from >= now ? 0 : countRuns(spec.schedule.cron, spec.schedule.timezone, from, now, MISSED_RUNS_CAP);
}

interface Judgement {
  referenceAt: number;
  lateAt: number;
  deadlineAt: number;
  reason: DownReason | null;
  downAt: number | null;
  runningSince: number | null;
}

/**
 * Whether and why a service is down at `now`, most telling reason first:
 * - failed: a failure not older than the last reset; down at the failure (at `now` if stamped later);
 * - stuck: a run started (not older than the last reset) and not ended by start + maxRuntime;
 * - missed: now >= the deadline. While a run is in progress under `maxRuntime`, that limit is the
 *   only deadline (a long run that started on time is not "missed"); without `maxRuntime`, the
 *   start counts as the reference, so a run that never ends is missed at the next deadline.
 */
function judge(spec: ServiceSpec, rec: ServiceRecord, now: number): Judgement {
  const ref = reference(rec, now);
  const due = dueTimes(spec, ref.at, ref.kind === 'beat' || ref.kind === 'start');
  const runningSince = startAsOf(rec, now);
  const j: Judgement = { referenceAt: ref.at, lateAt: due.lateAt, deadlineAt: due.deadlineAt, reason: null, downAt: null, runningSince };
  const failure = rec.failure ?? null;
  if (failure && counts(rec, failure.at)) {
    j.reason = 'failed';
    j.downAt = Math.min(failure.at, now);
  } else if (runningSince !== null && spec.maxRuntimeMs !== null) {
    j.lateAt = j.deadlineAt = runningSince + spec.maxRuntimeMs;
    if (now >= j.deadlineAt) [j.reason, j.downAt] = ['stuck', j.deadlineAt];
  } else if (now >= due.deadlineAt) [j.reason, j.downAt] = ['missed', due.deadlineAt];
  return j;
}

/** The moment a service went down and why, as of `now`; null when it is not down (maintenance windows test this moment). */
export function downMoment(spec: ServiceSpec, rec: ServiceRecord, now: number): { at: number; reason: DownReason } | null {
  const j = judge(spec, rec, now);
  return j.reason === null ? null : { at: j.downAt!, reason: j.reason };
}

/**
 * State at `now`. Boundaries are inclusive on the later state:
 * - down from the deadline on (now >= deadline), even with grace 0; at once after a failure; from
 *   start + maxRuntime on for a run that did not end;
 * - late from the late point (reference + interval, or the first scheduled run) until the deadline;
 * - up (or new, when it never beat) before that.
 * A clock that stepped back (now before the reference) reads as up/new, never down; a beat stamped
 * after `now` counts from `now` and sets `beatInFuture`.
 */
export function evaluate(spec: ServiceSpec, rec: ServiceRecord, now: number): Evaluation {
  const j = judge(spec, rec, now);
  let state: State;
  if (j.reason !== null) state = 'down';
  else if (rec.lastBeatAt === null) state = 'new';
  else if (now >= j.lateAt) state = 'late';
  else state = 'up';
  let missed: number | undefined;
  return {
    state,
    referenceAt: j.referenceAt,
    lateAt: j.lateAt,
    deadlineAt: j.deadlineAt,
    // Counted when asked (a trigger, status): for a schedule it is a walk over the runs missed.
    get missedHeartbeats() {
      return (missed ??= missedHeartbeats(spec, rec, now));
    },
    beatInFuture: rec.lastBeatAt !== null && rec.lastBeatAt > now,
    reason: j.reason,
    downAt: j.downAt,
    runningSince: j.runningSince,
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
 * - down: it is down, no incident is open and it is not muted → open one (at its deadline, its
 *   failure, or the moment its run became stuck);
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
      if (evaluation.state === 'down') return { kind: 'relapse', at: evaluation.downAt!, evaluation };
      const stableAt = incident.heldSince + ctx.flap.windowMs;
      return now >= stableAt ? { kind: 'up', at: stableAt, evaluation } : null;
    }
    if (rec.beatSeq > incident.beatSeq) {
      // A success came, but a run failed or got stuck after it: still down, the incident stays open
      // (resolving now would page again at the next check).
      if (evaluation.state === 'down' && (evaluation.reason === 'failed' || evaluation.reason === 'stuck')) return null;
      const at = rec.lastBeatAt ?? now;
      return { kind: ctx.recentTriggers >= ctx.flap.maxTriggers ? 'hold' : 'up', at, evaluation };
    }
    return null;
  }
  if (evaluation.state === 'down' && !ctx.muted) return { kind: 'down', at: evaluation.downAt!, evaluation };
  return null;
}
