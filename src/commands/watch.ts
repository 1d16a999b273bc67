import { formatDuration, iso, parseDuration } from '../core/duration.js';
import { UsageError } from '../errors.js';
import { printable } from '../output.js';
import type { StatusReport } from './status.js';

/** How often `medic status --watch` refreshes unless told, and the least it accepts. */
export const WATCH_DEFAULT_MS = 2000;
export const WATCH_MIN_MS = 1000;

/** Alternate screen on, cursor hidden; the reverse on the way out; cursor home + clear for each frame. */
export const ENTER = '\x1b[?1049h\x1b[?25l';
export const LEAVE = '\x1b[?25h\x1b[?1049l';
export const HOME_CLEAR = '\x1b[H\x1b[2J';

export const NOT_A_TERMINAL = '--watch needs a terminal; use medic status, or --json';

/** One service whose state differs between two refreshes. */
export interface Change {
  slug: string;
  from: string;
  to: string;
}

/**
 * What changed between two snapshots: services present in both whose state differs, in the order
 * of `next`. A service only in one of them (the config changed) is no change of state; the first
 * snapshot (prev null) has none.
 */
export function changes(prev: StatusReport | null, next: StatusReport): Change[] {
  if (prev === null) return [];
  const before = new Map(prev.rows.map((r) => [r.slug, r.state]));
  return next.rows.flatMap((r) => {
    const from = before.get(r.slug);
    return from !== undefined && from !== r.state ? [{ slug: r.slug, from, to: r.state }] : [];
  });
}

/** `changed: api down → up, db up → late`; slugs escaped as status escapes them. */
export function changeLine(list: Change[]): string {
  return `changed: ${list.map((c) => printable(`${c.slug} ${c.from} → ${c.to}`)).join(', ')}`;
}

/** The line on top of each frame: when, which config, how often, how to leave (q only when keys reach it: stdin a terminal). */
export function header(at: number, configFile: string, intervalMs: number, keys = true): string {
  return `medic status --watch · ${iso(at)} · ${printable(configFile)} · every ${formatDuration(intervalMs)} · ${keys ? 'q or ' : ''}Ctrl-C to quit`;
}

/**
 * The status table with a `*` before each changed service's row (a mark, not only a colour) and
 * two spaces before the others, so the columns stay aligned. `table` is statusTable's output: a
 * header line, then one line per row in report order.
 */
export function markRows(table: string, report: StatusReport, changed: Change[]): string {
  if (report.rows.length === 0) return table;
  const marked = new Set(changed.map((c) => c.slug));
  return table
    .split('\n')
    .map((line, i) => (i > report.rows.length ? line : `${i > 0 && marked.has(report.rows[i - 1]!.slug) ? '* ' : '  '}${line}`))
    .join('\n');
}

/** `--interval` in ms: a duration of at least 1s (64 otherwise). */
export function watchInterval(value: string | undefined): number {
  if (value === undefined) return WATCH_DEFAULT_MS;
  const ms = parseDuration(value);
  if (ms === null || ms < WATCH_MIN_MS) throw new UsageError(`--interval ${printable(value)} is not a duration of at least 1s`, 'give e.g. --interval 2s or --interval 1m');
  return ms;
}

export interface WatchDeps {
  intervalMs: number;
  configFile: string;
  /** Whether q reaches the view (stdin is a terminal); else only Ctrl-C is offered. */
  keys: boolean;
  now: () => number;
  /** One snapshot at `at`; it may throw (a database that cannot be read): the view shows why and tries again. */
  read: () => Promise<{ report: StatusReport; at: number }>;
  /** The status table of a report (statusTable with the terminal's painter). */
  render: (report: StatusReport, at: number) => string;
  /** The message of an error, for the view. */
  explain: (err: unknown) => string;
  write: (text: string) => void;
  /**
   * Starts listening for keys (raw mode on) and for SIGINT/SIGTERM; calls quit on q, Ctrl-C or a
   * signal. Returns what puts the terminal's input back (raw mode off, listeners removed).
   */
  listen: (quit: () => void) => () => void;
  /** Waits ms, or less when the signal aborts. */
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
}

/**
 * `medic status --watch`: redraws the status table every intervalMs on the alternate screen until
 * quit, marking what changed since the last refresh. The terminal is restored (input mode, cursor,
 * screen) however it ends, an error included.
 */
export async function watch(deps: WatchDeps): Promise<void> {
  const stop = new AbortController();
  // q answers at once, even while a read hangs (a database server that does not answer).
  const quitting = new Promise<null>((resolve) => stop.signal.addEventListener('abort', () => resolve(null), { once: true }));
  const unlisten = deps.listen(() => stop.abort());
  deps.write(ENTER);
  try {
    let prev: StatusReport | null = null;
    let last: { at: number; list: Change[] } | null = null;
    while (!stop.signal.aborted) {
      const got = await Promise.race([deps.read().then((snap) => ({ snap }), (err: unknown) => ({ err })), quitting]);
      if (got === null) break;
      let frame: string;
      if ('err' in got) {
        frame = [header(deps.now(), deps.configFile, deps.intervalMs, deps.keys), printable(`cannot read the state: ${deps.explain(got.err)}`), `trying again every ${formatDuration(deps.intervalMs)}`, ''].join('\n');
      } else {
        const { report, at } = got.snap;
        const list = changes(prev, report);
        if (list.length > 0) last = { at, list };
        const said = list.length > 0 ? changeLine(list) : last ? `no change since the last refresh (last one at ${iso(last.at)}: ${changeLine(last.list)})` : 'no change since the watch began';
        frame = `${header(at, deps.configFile, deps.intervalMs, deps.keys)}\n${said}\n\n${markRows(deps.render(report, at), report, list)}`;
        prev = report;
      }
      deps.write(`${HOME_CLEAR}${frame}`);
      await deps.sleep(deps.intervalMs, stop.signal);
    }
  } finally {
    unlisten();
    deps.write(LEAVE);
  }
}
