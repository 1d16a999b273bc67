import type { Config } from '../config.js';
import { formatDuration, iso, parseDuration } from '../core/duration.js';
import { actualIncidents, compare, overlaps, replayService, type ReplayIncident } from '../core/replay.js';
import { DataError, UsageError } from '../errors.js';
import type { Store } from '../store/types.js';
import { unknownService } from './beat.js';

export interface ReplayOptions {
  slugs: string[];
  all: boolean;
  /** How far back (default 30d), bounded by retention and registration. */
  since?: string;
  /** Another config file to evaluate the services under (default: the current one). */
  with?: string;
}

export interface ReplayDeps {
  config: Config;
  store: Store;
  now: () => number;
  /** Loads and validates a config file as `-c` does (for `--with`). */
  loadConfig: (path: string) => Promise<Config>;
}

export interface ServiceReplay {
  slug: string;
  /** The range replayed: the requested one, cut to what history holds. */
  from: number;
  until: number;
  /** Why `from` is later than asked (registration, retention); null when it is not. */
  shortened: string | null;
  replayed: ReplayIncident[];
  actual: ReplayIncident[];
  pages: number;
  actualPages: number;
  /** Real incidents that no replayed incident overlaps. */
  uncovered: ReplayIncident[];
  summary: string;
}

export interface ReplayReport {
  /** The config the services were evaluated under. */
  config: string;
  since: number;
  until: number;
  services: ServiceReplay[];
  /** Slugs asked for that the `--with` config does not have: not replayed. */
  notInConfig: string[];
}

const DEFAULT_SINCE = '30d';

/**
 * What a config would have paged over the kept history, beside what did (issue 9). Read-only:
 * every check of [since, now] is simulated in memory (core/replay.ts); nothing is written or sent.
 */
export async function replay(input: ReplayOptions, deps: ReplayDeps): Promise<ReplayReport> {
  const { config, store } = deps;
  if (input.all && input.slugs.length > 0) throw new UsageError('give service slugs or --all, not both', 'see `medic replay --help`');
  if (!input.all && input.slugs.length === 0) throw new UsageError('which services? give their slugs, or --all', 'e.g. `medic replay nightly-backup --with new.json`');
  for (const slug of input.slugs) if (!config.bySlug.has(slug)) throw unknownService(slug, config);
  const rangeMs = parseDuration(input.since ?? DEFAULT_SINCE);
  if (rangeMs === null || rangeMs <= 0) throw new DataError(`--since: expected a duration like "30d" or "12h", got "${input.since}"`);
  const under = input.with === undefined ? config : await deps.loadConfig(input.with);
  const until = deps.now();
  const since = until - rangeMs;
  // Beats older than the retention of the config the store was kept under are gone.
  const keptFrom = until - config.retentionMs;
  const slugs = input.all ? config.services.map((s) => s.slug) : [...new Set(input.slugs)];
  const registered = new Map((await store.services()).map((r) => [r.slug, r.registeredAt]));
  const services: ServiceReplay[] = [];
  const notInConfig: string[] = [];
  for (const slug of slugs) {
    const spec = under.bySlug.get(slug);
    if (!spec) {
      notInConfig.push(slug);
      continue;
    }
    // Not registered yet: no check has seen it, so nothing could have paged.
    const known = registered.get(slug);
    const registeredAt = known ?? until;
    const from = Math.max(since, registeredAt, keptFrom);
    const shortened =
      known === undefined
        ? 'no check has seen it yet'
        : from === since
          ? null
          : from === registeredAt
            ? `registered ${short(registeredAt)}`
            : `beats are kept for ${formatDuration(config.retentionMs)} (retention)`;
    const h = await store.history(slug, 0, until);
    const replayed = replayService({
      spec,
      startedAt: Math.max(registeredAt, keptFrom),
      history: h,
      windows: under.maintenance,
      localZone: under.localZone,
      flap: under.flap,
      from,
      until,
      // The real checks that changed something for it ran then: replayed too, beside the minute grid.
      checksAt: h.transitions.map((t) => t.recordedAt),
    });
    const actual = actualIncidents(h.transitions, from, until);
    const c = compare(replayed, actual, until);
    services.push({ slug, from, until, shortened, replayed, actual, ...c, summary: summary(slug, c) });
  }
  return { config: under.file, since, until, services, notInConfig };
}

/** "nightly-backup: 3 pages instead of 11; no outage missed: every real incident still paged". */
export function summary(slug: string, c: { pages: number; actualPages: number; uncovered: ReplayIncident[] }): string {
  const pages = `${c.pages} page${c.pages === 1 ? '' : 's'} instead of ${c.actualPages}`;
  if (c.uncovered.length === 0) {
    return `${slug}: ${pages}; ${c.actualPages === 0 ? 'no real incident in this range' : 'no outage missed: every real incident still paged'}`;
  }
  const n = c.uncovered.length;
  const list = c.uncovered.map((i) => `${short(i.openedAt)} (${i.reason})`).join(', ');
  return `${slug}: ${pages}; ${n} real incident${n === 1 ? '' : 's'} would not have paged: ${list}`;
}

/** 2026-11-02T03:10Z: seconds only when there are some. */
export function short(at: number): string {
  return iso(at).replace(/:00\.000Z$/, 'Z').replace(/\.000Z$/, 'Z');
}

function lasted(i: ReplayIncident, until: number): string {
  // Whole seconds: an open incident runs up to now, and "2h1s262ms" says nothing more than "2h1s".
  return formatDuration(Math.round(((i.resolvedAt ?? until) - i.openedAt) / 1000) * 1000);
}

/**
 * Per service: the would-be incidents beside the real ones, an incident and the real one it
 * overlaps on the same row, then the summary line.
 */
export function replayText(report: ReplayReport): string {
  const out: string[] = [];
  for (const s of report.services) {
    const cell = (i: ReplayIncident | undefined) =>
      i ? [short(i.openedAt), i.resolvedAt === null ? 'still open' : short(i.resolvedAt), lasted(i, s.until), i.reason] : ['', '', '', ''];
    out.push(`${s.slug}: replayed from ${short(s.from)} to ${short(s.until)} under ${report.config}${s.shortened ? ` (not earlier: ${s.shortened})` : ''}`);
    const rows: string[][] = [['would page', 'resolved', 'lasted', 'why', '|', 'paged', 'resolved', 'lasted', 'why']];
    for (const [r, a] of pair(s.replayed, s.actual, s.until)) rows.push([...cell(r), '|', ...cell(a)]);
    if (rows.length === 1) rows.push(['(none)', '', '', '', '|', '(none)', '', '', '']);
    const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => row[col]!.length)));
    for (const row of rows) out.push(`  ${row.map((v, col) => v.padEnd(widths[col]!)).join('  ')}`.trimEnd());
    out.push(s.summary, '');
  }
  for (const slug of report.notInConfig) out.push(`${slug}: not in ${report.config}; not replayed`);
  return `${out.join('\n').trimEnd()}\n`;
}

/** Both lists oldest first, merged into rows: a replayed and a real incident that overlap share a row. */
function pair(replayed: ReplayIncident[], actual: ReplayIncident[], until: number): [ReplayIncident | undefined, ReplayIncident | undefined][] {
  const rows: [ReplayIncident | undefined, ReplayIncident | undefined][] = [];
  let i = 0;
  let j = 0;
  while (i < replayed.length || j < actual.length) {
    const r = replayed[i];
    const a = actual[j];
    const overlap = r && a && overlaps(r, a, until);
    if (overlap) {
      rows.push([r, a]);
      i++;
      j++;
    } else if (r && (!a || r.openedAt <= a.openedAt)) {
      rows.push([r, undefined]);
      i++;
    } else {
      rows.push([undefined, a]);
      j++;
    }
  }
  return rows;
}

/** The documented `--json` shape: instants as ISO strings, durations in ms. */
export function replayJson(report: ReplayReport): string {
  const incident = (i: ReplayIncident, until: number) => ({
    openedAt: iso(i.openedAt),
    resolvedAt: i.resolvedAt === null ? null : iso(i.resolvedAt),
    durationMs: (i.resolvedAt ?? until) - i.openedAt,
    reason: i.reason,
  });
  return JSON.stringify(
    {
      config: report.config,
      since: iso(report.since),
      until: iso(report.until),
      services: report.services.map((s) => ({
        slug: s.slug,
        from: iso(s.from),
        until: iso(s.until),
        shortened: s.shortened,
        pages: s.pages,
        actualPages: s.actualPages,
        replayed: s.replayed.map((i) => incident(i, s.until)),
        actual: s.actual.map((i) => incident(i, s.until)),
        uncovered: s.uncovered.map((i) => incident(i, s.until)),
        summary: s.summary,
      })),
      notInConfig: report.notInConfig,
    },
    null,
    2,
  );
}
