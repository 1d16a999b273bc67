import type { Config } from '../config.js';
import { parseDuration } from '../core/duration.js';
import { countPerCell } from '../core/status-page.js';
import { MESSAGE_MAX_CHARS, OUTPUT_TAIL_MAX_BYTES, type SignalKind } from '../core/signal.js';
import { headChars, tailUtf8 } from '../core/signal-bounds.js';
import { redactKnownKeys } from '../errors.js';
import { DataError } from '../errors.js';
import type { Store } from '../store/types.js';
import { unknownService } from './beat.js';

export type HistoryEvent =
  | { at: number; kind: 'beats'; count: number; until: number }
  | { at: number; kind: 'state'; from: string; to: string; reason: string; recordedAt: number }
  | { at: number; kind: 'delivery'; target: string; action: string; outcome: string; detail: string | null }
  /** [scale] A line sent to medic serve's `/log`: recorded, changed nothing. Third-party text, escaped when shown. */
  | { at: number; kind: 'log'; message: string }
  /** [jobs] A run's start or failure, or a success with details (`-m`, `medic run`); third-party text, escaped when shown. */
  | {
      at: number;
      kind: 'signal';
      signal: SignalKind;
      exitCode: number | null;
      durationMs: number | null;
      message: string | null;
      outputTail: string | null;
    };

export interface HistoryReport {
  slug: string;
  /** Not in the config any more: what the database kept (SPEC §3: its history stays). */
  removed: boolean;
  /** [jobs] For a scheduled service: its cron expression and the zone it is read in (and whether that is the machine's). */
  schedule: string | null;
  timezone: string | null;
  timezoneSource: 'config' | 'machine' | null;
  since: number;
  until: number;
  /** Beats per bucket from `since`, one bucket per interval (wider when the range is long). */
  bucketMs: number;
  strip: number[];
  events: HistoryEvent[];
}

const STRIP_MAX = 72;
const MINUTE = 60_000;

/** Whether the database has anything of this slug: live state, or any beat, change or delivery. */
async function inDatabase(store: Store, slug: string, until: number): Promise<boolean> {
  if ((await store.services()).some((r) => r.slug === slug)) return true;
  const all = await store.history(slug, 0, until);
  return all.beats.length + all.signals.length + all.logs.length + all.transitions.length + all.deliveries.length > 0;
}

/**
 * Beats, signals, state changes and deliveries on one timeline, oldest first; runs of beats are
 * folded. A success with details is shown once, as its signal (the strip still counts it).
 * A service removed from the config still has its history read from the database; a slug that
 * neither knows is an unknown service (65, with the nearest configured slug).
 */
export async function history(
  input: {
    slug: string;
    since?: string;
    /**
     * [ecosystem] The strip over these cells instead of `since` (the status page: one per expected
     * beat, from stripStarts): their starts, ascending; each runs to the next, the last to now.
     */
    cells?: readonly number[];
  },
  deps: { config: Config; store: Store; now: () => number; keysToHide?: string[] },
): Promise<HistoryReport> {
  const spec = deps.config.bySlug.get(input.slug);
  const until = deps.now();
  if (!spec && !(await inDatabase(deps.store, input.slug, until))) throw unknownService(input.slug, deps.config);
  const rangeMs = input.cells ? until - (input.cells[0] ?? until) : parseDuration(input.since ?? '7d');
  if (rangeMs === null || (rangeMs <= 0 && !input.cells)) throw new DataError(`--since: expected a duration like "7d" or "12h", got "${input.since}"`);
  const since = until - rangeMs;
  const h = await deps.store.history(input.slug, since, until);

  let bucketMs: number;
  let strip: number[];
  if (input.cells) {
    // Cells of their own: bucketMs is the widest (a schedule's cells follow its runs).
    const cells = input.cells;
    bucketMs = Math.max(0, ...cells.map((at, i) => (cells[i + 1] ?? until) - at));
    strip = countPerCell(h.beats, cells, until);
  } else {
    // A removed service has no interval any more: buckets follow the range alone.
    bucketMs = Math.max(spec?.intervalMs ?? MINUTE, Math.ceil(rangeMs / STRIP_MAX));
    strip = new Array<number>(Math.ceil(rangeMs / bucketMs)).fill(0);
    for (const at of h.beats) {
      const i = Math.floor((at - since) / bucketMs);
      if (i >= 0 && i < strip.length) strip[i]!++;
    }
  }

  const signals = h.signals.map((s) => ({
    at: s.at,
    kind: 'signal' as const,
    signal: s.kind,
    exitCode: s.exitCode ?? null,
    durationMs: s.durationMs ?? null,
    // From the database: bounded again (a writer may have stored 50 MB), keys hidden (a job may have printed one).
    message: shown(s.message, (t) => headChars(t, MESSAGE_MAX_CHARS)),
    outputTail: shown(s.outputTail, (t) => tailUtf8(t, OUTPUT_TAIL_MAX_BYTES)),
  }));
  function shown(text: string | null | undefined, bound: (t: string) => string): string | null {
    return typeof text === 'string' ? redactKnownKeys(bound(text), deps.keysToHide ?? []) : null;
  }
  const plain = [...h.beats];
  for (const s of signals) {
    if (s.signal !== 'ok') continue;
    const i = plain.indexOf(s.at);
    if (i >= 0) plain.splice(i, 1);
  }
  // Stable: at the same moment a signal comes before the state change it caused.
  const others: HistoryEvent[] = [
    ...signals,
    ...h.logs.map((l) => ({ at: l.at, kind: 'log' as const, message: shown(l.message, (t) => headChars(t, MESSAGE_MAX_CHARS)) ?? '' })),
    // A failed run's reason quotes what the job said: keys hidden there too.
    ...h.transitions.map((t) => ({ at: t.at, kind: 'state' as const, from: t.from, to: t.to, reason: redactKnownKeys(t.reason, deps.keysToHide ?? []), recordedAt: t.recordedAt })),
    ...h.deliveries.map((d) => ({ at: d.at, kind: 'delivery' as const, target: d.target, action: d.action, outcome: d.outcome, detail: d.detail })),
  ].sort((a, b) => a.at - b.at);
  // Fold the beats between two other events into one line.
  const events: HistoryEvent[] = [];
  let b = 0;
  for (const e of [...others, null]) {
    const end = e ? e.at : Infinity;
    let run: { at: number; kind: 'beats'; count: number; until: number } | null = null;
    while (b < plain.length && plain[b]! <= end) {
      const at = plain[b++]!;
      if (run) {
        run.count++;
        run.until = at;
      } else run = { at, kind: 'beats', count: 1, until: at };
    }
    if (run) events.push(run);
    if (e) events.push(e);
  }
  const sched = spec?.schedule ?? null;
  return {
    slug: input.slug,
    removed: !spec,
    schedule: sched?.expr ?? null,
    timezone: sched?.timezone ?? null,
    timezoneSource: sched ? (sched.machineZone ? 'machine' : 'config') : null,
    since,
    until,
    bucketMs,
    strip,
    events,
  };
}
