import { activeMute, withUnmute, type Window } from './mute.js';
import type { ServiceSpec } from './service.js';
import type { DownReason, Signal } from './signal.js';
import { decide, type Evaluation, type ServiceRecord } from './state.js';

/** One incident, replayed or real: open from the moment it went down until it was resolved (null: still open). */
export interface ReplayIncident {
  openedAt: number;
  resolvedAt: number | null;
  reason: DownReason;
}

/** The kept history replay reads (store/types.ts History, minus what it does not need). */
export interface ReplayHistory {
  /** Successes, oldest first. */
  beats: number[];
  /** Starts and failures (successes with details are in `beats` too, so `ok` here is ignored), oldest first. */
  signals: Signal[];
  pauses: { since: number; until: number | null; endedAt: number | null }[];
  /** Moments its clock was restarted (resume, checker gap), oldest first. */
  resets: number[];
}

export interface ReplayInput {
  spec: ServiceSpec;
  /**
   * When its clock started: registration, or the oldest moment whose beats are still kept
   * (retention), whichever is later; a beat older than that is gone, so the clock cannot start earlier.
   */
  startedAt: number;
  history: ReplayHistory;
  windows: Window[];
  localZone: string;
  flap: { windowMs: number; maxTriggers: number };
  /** Checks run every minute in [from, until]; history before `from` only sets the starting state. */
  from: number;
  until: number;
  /**
   * Moments a real check ran besides the minute grid (a check run by hand, or cron's a few seconds
   * after the minute), from when the stored transitions were recorded: replayed too, so an incident
   * shorter than a minute that a real check saw is seen by the replay as well. Any order.
   */
  checksAt?: number[];
}

const MINUTE = 60_000;

/**
 * What `medic check`, run every minute over [from, until], would have opened and resolved for one
 * service, with the same decisions check makes (withUnmute, activeMute, decide, flap counting over
 * the triggers and relapses of the window), on the record historyCursor rebuilds. One pass: each
 * event is applied once, in time order, as the simulated clock passes it.
 */
export function replayService(input: ReplayInput): ReplayIncident[] {
  const { spec, windows, localZone, flap } = input;
  const cursor = historyCursor(spec.slug, input.startedAt, input.history);
  const rec = cursor.record;
  const incidents: ReplayIncident[] = [];
  let open: ReplayIncident | null = null;
  // Moments it went down (triggers and relapses) within the flap window, as the store counts them.
  let downs: number[] = [];

  // `until` (now) is a check too: what a check run now would see.
  const extra = [...(input.checksAt ?? []), input.until].filter((at) => at >= input.from && at <= input.until && at % MINUTE !== 0).sort((a, b) => a - b);
  let e = 0;
  let minute = Math.ceil(input.from / MINUTE) * MINUTE;
  for (;;) {
    // The next check: the next whole minute or the next real check between two of them.
    let now: number;
    if (e < extra.length && extra[e]! < minute) now = extra[e++]!;
    else {
      now = minute;
      minute += MINUTE;
    }
    if (now > input.until) break;
    cursor.advance(now);
    const since = now - flap.windowMs;
    if (downs.length > 0 && downs[0]! < since) downs = downs.filter((at) => at >= since);
    // An open incident (not held) only waits for a success: nothing to ask until one comes.
    if (rec.incident && rec.incident.heldSince === null && rec.beatSeq === rec.incident.beatSeq) continue;
    const seen = withUnmute(spec, rec, windows, now, localZone);
    const ctx = { muted: false, recentTriggers: downs.length, flap };
    let t = decide(spec, seen, now, ctx);
    // Being muted only ever stops a trigger: asked only then, since a recurring window's occurrence
    // costs a walk over its cron, and a quiet month is 43,200 checks.
    if (t?.kind === 'down' && activeMute(spec, seen.pause, windows, now, localZone) !== null) t = decide(spec, seen, now, { ...ctx, muted: true });
    if (!t) continue;
    switch (t.kind) {
      case 'down':
        open = { openedAt: t.at, resolvedAt: null, reason: reasonOf(t.evaluation) };
        incidents.push(open);
        rec.incident = { downAt: t.at, beatSeq: rec.beatSeq, heldSince: null };
        downs.push(t.at);
        break;
      case 'relapse':
        rec.incident = { ...rec.incident!, beatSeq: rec.beatSeq, heldSince: null };
        downs.push(t.at);
        break;
      case 'hold':
        rec.incident = { ...rec.incident!, beatSeq: rec.beatSeq, heldSince: t.at };
        break;
      case 'up':
        open!.resolvedAt = t.at;
        open = null;
        rec.incident = null;
        break;
    }
  }
  return incidents;
}

/**
 * The record as the store would have kept it, rebuilt from the history as time passes: `advance(now)`
 * applies everything stamped at or before `now` that it has not applied yet, in the order it
 * happened. A success moves the last beat and the beat sequence and clears a failure and a started
 * run; a start arms the run (not a success); a failure is kept until a success and ends the run;
 * a pause mutes from its start, and `medic resume` (its endedAt) ends it and restarts the clock;
 * a recorded reset restarts the clock. Incidents are the caller's.
 */
export function historyCursor(slug: string, registeredAt: number, h: ReplayHistory): { record: ServiceRecord; advance(now: number): void } {
  const record: ServiceRecord = {
    slug,
    registeredAt,
    lastBeatAt: null,
    beatSeq: 0,
    resetAt: null,
    pause: null,
    incident: null,
    failure: null,
    runStartedAt: null,
  };
  const pauses = [...h.pauses].sort((a, b) => a.since - b.since);
  const signals = h.signals.filter((s) => s.kind !== 'ok');
  let b = 0;
  let s = 0;
  let p = 0;
  let r = 0;
  let endedAt: number | null = null;
  const advance = (now: number) => {
    for (;;) {
      const beat = b < h.beats.length && h.beats[b]! <= now ? h.beats[b]! : Infinity;
      const signal = s < signals.length && signals[s]!.at <= now ? signals[s]! : null;
      if (beat === Infinity && signal === null) break;
      if (signal === null || beat <= signal.at) {
        record.lastBeatAt = beat;
        record.beatSeq++;
        record.failure = null;
        record.runStartedAt = null;
        b++;
      } else {
        if (signal.kind === 'start') record.runStartedAt ??= signal.at; // the earliest start no end followed, as the store keeps it
        else {
          record.failure = signal;
          record.runStartedAt = null;
        }
        s++;
      }
    }
    while (p < pauses.length && pauses[p]!.since <= now) {
      const pause = pauses[p++]!;
      record.pause = { since: pause.since, until: pause.until, reason: null };
      endedAt = pause.endedAt;
    }
    if (record.pause && endedAt !== null && endedAt <= now) {
      record.pause = null;
      if (record.resetAt === null || endedAt > record.resetAt) record.resetAt = endedAt;
      endedAt = null;
    }
    while (r < h.resets.length && h.resets[r]! <= now) record.resetAt = h.resets[r++]!;
  };
  return { record, advance };
}

/** Why the state machine says it is down; an evaluation without a reason (before [jobs]) is a missed deadline. */
function reasonOf(evaluation: Evaluation): DownReason {
  return (evaluation as Evaluation & { reason?: DownReason | null }).reason ?? 'missed';
}

/**
 * The incidents that really happened, from the stored transitions (oldest first): `down` opens one,
 * `up` resolves it; `flapping` and `relapse` belong to the open one. Only those overlapping
 * [from, until] are kept. Why it went down comes from the transition's own words.
 */
export function actualIncidents(transitions: { at: number; from: string; to: string; reason: string }[], from: number, until: number): ReplayIncident[] {
  const all: ReplayIncident[] = [];
  let open: ReplayIncident | null = null;
  for (const t of transitions) {
    if (t.to === 'down') {
      open = { openedAt: t.at, resolvedAt: null, reason: reasonFromText(t.reason) };
      all.push(open);
    } else if (t.to === 'up' && open) {
      open.resolvedAt = t.at;
      open = null;
    }
  }
  return all.filter((i) => overlaps(i, { openedAt: from, resolvedAt: until }, until));
}

/** The stored reason text says `failed: …` or `stuck: …` for those; anything else is a missed deadline. */
export function reasonFromText(text: string): DownReason {
  if (/^failed\b/i.test(text)) return 'failed';
  if (/^stuck\b/i.test(text)) return 'stuck';
  return 'missed';
}

/** Whether two incidents were open at a common moment (an open one lasts until `until`); ends inclusive. */
export function overlaps(a: { openedAt: number; resolvedAt: number | null }, b: { openedAt: number; resolvedAt: number | null }, until: number): boolean {
  return a.openedAt <= (b.resolvedAt ?? until) && b.openedAt <= (a.resolvedAt ?? until);
}

export interface Comparison {
  /** Pages the replayed config would have sent (one per incident; a relapse while flapping is not a page). */
  pages: number;
  actualPages: number;
  /** Real incidents no replayed incident overlaps: outages the replayed config would not have paged. */
  uncovered: ReplayIncident[];
}

export function compare(replayed: ReplayIncident[], actual: ReplayIncident[], until: number): Comparison {
  return {
    pages: replayed.length,
    actualPages: actual.length,
    uncovered: actual.filter((a) => !replayed.some((r) => overlaps(a, r, until))),
  };
}
