import type { Config } from '../config.js';
import { formatDuration, iso } from '../core/duration.js';
import { activeMute, withUnmute } from '../core/mute.js';
import type { DownReason } from '../core/signal.js';
import { evaluate, type ServiceRecord, type State } from '../core/state.js';
import type { ServiceDelivery, Store } from '../store/types.js';
import { unknownService } from './beat.js';

/** [jobs] failed: a run reported failure; stuck: a run outlived maxRuntime; running: a run started and has not ended. */
export type StatusState = State | 'paused' | 'maintenance' | 'flapping' | 'failed' | 'stuck' | 'running';

export interface ServiceStatus {
  slug: string;
  name: string;
  team: string | null;
  priority: string;
  /** paused/maintenance while muted; flapping while a resolve is held; failed/stuck when down for that; running while a run is in progress; else up/late/down/new. */
  state: StatusState;
  lastSeen: string | null;
  /** When it goes (or went) down if no beat comes. */
  deadline: string;
  lateAt: string;
  missedHeartbeats: number;
  incidentOpen: boolean;
  incidentSince: string | null;
  pendingEvents: number;
  /** How many of the pending events PagerDuty refused (the rest are queued). */
  refusedEvents: number;
  /**
   * Whether PagerDuty has what Medic sent: `sent` (every event reached it), `queued` (waiting to
   * be sent: retry, missing key), `refused` (PagerDuty refused it; kept until the target's key or
   * URL changes), `not-sent` (the open incident's trigger never will be: its target was removed,
   * or an older Medic dropped the refusal); null when no incident is open and nothing is queued.
   */
  delivery: 'sent' | 'queued' | 'refused' | 'not-sent' | null;
  /** Why it is not `sent`: PagerDuty's answer, or the last error; null when there is nothing to tell. */
  deliveryProblem: string | null;
  /** Why it is muted and until when (null: until `medic resume`). */
  muted: { kind: 'paused' | 'maintenance'; reason: string | null; until: string | null } | null;
  flapping: boolean;
  /** Null for a service with a schedule. */
  interval: string | null;
  grace: string;
  threshold: number;
  targets: string[];
  /** [jobs] The cron schedule as written (`30 2 * * *`), null for a service with an interval. */
  schedule: string | null;
  /** [jobs] The zone the schedule is read in; null for a service with an interval. */
  timezone: string | null;
  /** [jobs] `config` (its "timezone" or defaults.timezone) or `machine` (the machine's zone); null for an interval. */
  timezoneSource: 'config' | 'machine' | null;
  /** [jobs] `maxRuntime`, null when none. */
  maxRuntime: string | null;
  /** [jobs] Why it is down (missed, failed, stuck); null when it is not. */
  downReason: DownReason | null;
  /** [jobs] When the run in progress started; null when none is. */
  runningSince: string | null;
  /** [jobs] The failure that makes it down (reason failed), without its output; null otherwise. */
  failure: { at: string; exitCode: number | null; durationMs: number | null; message: string | null } | null;
  /** [scale] When the last `medic check` finished (the same on every row); null before the first. */
  lastCheckAt: string | null;
  /** [scale] The host that ran it (several checkers can share one PostgreSQL); null when unknown. */
  lastCheckBy: string | null;
}

export interface StatusReport {
  rows: ServiceStatus[];
  lastCheckAt: number | null;
  /** [scale] The host of the checker that ran the last check. */
  lastCheckBy: string | null;
  lastGap: { from: number; to: number } | null;
}

/** One row per configured service (optionally only the given slugs), computed at `now`. */
export async function status(input: { slugs: string[] }, deps: { config: Config; store: Store; now: () => number }): Promise<StatusReport> {
  const { config, store } = deps;
  for (const slug of input.slugs) if (!config.bySlug.has(slug)) throw unknownService(slug, config);
  const now = deps.now();
  const lastCheckAt = await store.lastCheckAt();
  const lastCheckBy = checkerHost(await store.lastChecker());
  const records = new Map((await store.services()).map((r) => [r.slug, r]));
  const deliveries = await store.deliveryStates();
  const recentDowns = await store.recentTriggers(now - config.flap.windowMs);
  const wanted = input.slugs.length > 0 ? input.slugs.map((s) => config.bySlug.get(s)!) : config.services;
  const rows = wanted.map((spec): ServiceStatus => {
    // A service the checker has not registered yet counts from now, as the next check will do.
    const stored: ServiceRecord = records.get(spec.slug) ?? {
      slug: spec.slug,
      registeredAt: now,
      lastBeatAt: null,
      beatSeq: 0,
      resetAt: null,
      pause: null,
      incident: null,
    };
    const rec = withUnmute(spec, stored, config.maintenance, now, config.localZone);
    const ev = evaluate(spec, rec, now);
    const mute = activeMute(spec, rec.pause, config.maintenance, now, config.localZone);
    // Flapping: a resolve is held, or it relapsed and will be held again when it comes back.
    const flapping = rec.incident !== null && (rec.incident.heldSince !== null || (recentDowns.get(spec.slug) ?? 0) >= config.flap.maxTriggers);
    const failure = ev.reason === 'failed' ? (rec.failure ?? null) : null;
    const jobState = ev.reason === 'failed' || ev.reason === 'stuck' ? ev.reason : ev.state !== 'down' && ev.runningSince !== null ? 'running' : ev.state;
    return {
      slug: spec.slug,
      name: spec.name,
      team: spec.team,
      priority: spec.priority,
      state: mute ? mute.kind : flapping ? 'flapping' : jobState,
      lastSeen: isoOrNull(rec.lastBeatAt),
      // Down for a failure or a stuck run: the moment it went down, not a missed deadline still to come.
      deadline: iso(ev.downAt ?? ev.deadlineAt),
      lateAt: iso(ev.lateAt),
      missedHeartbeats: ev.missedHeartbeats,
      incidentOpen: rec.incident !== null,
      incidentSince: isoOrNull(rec.incident?.downAt ?? null),
      pendingEvents: deliveries.get(spec.slug)?.pending ?? 0,
      refusedEvents: deliveries.get(spec.slug)?.refusedCount ?? 0,
      ...deliveryOf(deliveries.get(spec.slug), rec.incident !== null),
      muted: mute ? { kind: mute.kind, reason: mute.reason, until: isoOrNull(mute.until) } : null,
      flapping,
      interval: spec.intervalMs === null ? null : formatDuration(spec.intervalMs),
      grace: formatDuration(spec.graceMs),
      threshold: spec.threshold,
      targets: spec.targets,
      schedule: spec.schedule?.expr ?? null,
      timezone: spec.schedule?.timezone ?? null,
      timezoneSource: spec.schedule === null ? null : spec.schedule.machineZone ? 'machine' : 'config',
      maxRuntime: spec.maxRuntimeMs === null ? null : formatDuration(spec.maxRuntimeMs),
      downReason: ev.reason,
      runningSince: isoOrNull(ev.runningSince),
      failure: failure && { at: iso(failure.at), exitCode: failure.exitCode ?? null, durationMs: failure.durationMs ?? null, message: failure.message ?? null },
      lastCheckAt: isoOrNull(lastCheckAt),
      lastCheckBy,
    };
  });
  return { rows, lastCheckAt, lastCheckBy, lastGap: await store.lastGap() };
}

/** The host part of a lock owner (`pid@host`, or `pid.identity@host`); an owner not of that shape is shown whole. */
export function checkerHost(owner: string | null): string | null {
  if (owner === null) return null;
  const at = owner.indexOf('@');
  return at > 0 && /^[0-9]+(\.[0-9a-f]+)?$/.test(owner.slice(0, at)) ? owner.slice(at + 1) : owner;
}

/** What PagerDuty has of a service's events (see ServiceStatus.delivery). */
export function deliveryOf(d: ServiceDelivery | undefined, incidentOpen: boolean): Pick<ServiceStatus, 'delivery' | 'deliveryProblem'> {
  if (d?.refused) {
    const { target, action, refusal } = d.refused;
    return { delivery: 'refused', deliveryProblem: `${action} to ${target} refused${refusal.status === null ? '' : ` (HTTP ${refusal.status})`}: ${refusal.answer}` };
  }
  if (d && d.pending > 0) return { delivery: 'queued', deliveryProblem: d.lastError ? `${d.lastError.action} to ${d.lastError.target}: ${d.lastError.error}` : null };
  if (!incidentOpen) return { delivery: null, deliveryProblem: null };
  if (d?.openIncident && d.openIncident.delivered === 0 && d.openIncident.dropped > 0) {
    return { delivery: 'not-sent', deliveryProblem: 'the trigger was not sent and never will be (see medic history)' };
  }
  return { delivery: 'sent', deliveryProblem: null };
}

function isoOrNull(at: number | null): string | null {
  return at === null ? null : iso(at);
}
