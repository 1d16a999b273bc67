import type { Config } from '../config.js';
import { formatDuration } from '../core/duration.js';
import { evaluate, type State } from '../core/state.js';
import type { Store } from '../store/types.js';
import { unknownService } from './beat.js';

export interface ServiceStatus {
  slug: string;
  name: string;
  team: string | null;
  priority: string;
  state: State;
  lastSeen: string | null;
  /** When it goes (or went) down if no beat comes. */
  deadline: string;
  lateAt: string;
  missedHeartbeats: number;
  incidentOpen: boolean;
  incidentSince: string | null;
  pendingEvents: number;
  interval: string;
  grace: string;
  threshold: number;
  targets: string[];
}

/** One row per configured service (optionally only the given slugs), computed at `now`. */
export async function status(input: { slugs: string[] }, deps: { config: Config; store: Store; now: () => number }): Promise<ServiceStatus[]> {
  const { config, store } = deps;
  for (const slug of input.slugs) if (!config.bySlug.has(slug)) throw unknownService(slug, config);
  const now = deps.now();
  const records = new Map((await store.services()).map((r) => [r.slug, r]));
  const pending = await store.pendingCounts();
  const wanted = input.slugs.length > 0 ? input.slugs.map((s) => config.bySlug.get(s)!) : config.services;
  return wanted.map((spec) => {
    // A service the checker has not registered yet counts from now, as the next check will do.
    const rec = records.get(spec.slug) ?? { slug: spec.slug, registeredAt: now, lastBeatAt: null, beatSeq: 0, resetAt: null, incident: null };
    const ev = evaluate(spec, rec, now);
    return {
      slug: spec.slug,
      name: spec.name,
      team: spec.team,
      priority: spec.priority,
      state: ev.state,
      lastSeen: iso(rec.lastBeatAt),
      deadline: iso(ev.deadlineAt)!,
      lateAt: iso(ev.lateAt)!,
      missedHeartbeats: ev.missedHeartbeats,
      incidentOpen: rec.incident !== null,
      incidentSince: iso(rec.incident?.downAt ?? null),
      pendingEvents: pending.get(spec.slug) ?? 0,
      interval: formatDuration(spec.intervalMs),
      grace: formatDuration(spec.graceMs),
      threshold: spec.threshold,
      targets: spec.targets,
    };
  });
}

function iso(at: number | null): string | null {
  return at === null ? null : new Date(at).toISOString();
}
