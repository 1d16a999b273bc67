// [ecosystem] The status page of `medic serve` (/status): data in, one HTML string out. No I/O, no
// clock (the moment is an argument), no JavaScript in what it writes: the page refreshes itself with
// a meta tag, and every text from the config or the database is escaped.
import { previousRun } from './cron.js';
import type { ServiceSpec } from './service.js';

/** A service's row as `medic status` computes it (commands/status.ts ServiceStatus), the fields the page shows. */
export interface PageService {
  slug: string;
  name: string;
  team: string | null;
  priority: string;
  state: string;
  lastSeen: string | null;
  deadline: string;
  lateAt: string;
  missedHeartbeats: number;
  incidentOpen: boolean;
  incidentSince: string | null;
  muted: { kind: 'paused' | 'maintenance'; reason: string | null; until: string | null } | null;
  failure: { at: string; exitCode: number | null; message: string | null } | null;
  deliveryProblem: string | null;
  interval: string | null;
  schedule: string | null;
}

/** What one cell of the beat strip says about one expected beat. */
export type CellKind = 'ok' | 'late' | 'missed' | 'failed' | 'paused' | 'quiet' | 'none';

export interface StripCell {
  /** The slot's start and end (epoch ms); the last slot ends now. */
  from: number;
  to: number;
  kind: CellKind;
}

/** A service's history over the strip's cells, as `medic history` computes it (HistoryReport with `cells`). */
export interface StripHistory {
  /** The cells' starts, oldest first (stripStarts); the last cell runs to now. */
  starts: readonly number[];
  /** Beats per cell (countPerCell). */
  strip: readonly number[];
  events: readonly { at: number; kind: string; signal?: string; from?: string; to?: string }[];
}

export interface StatusPageData {
  now: number;
  /** The server's time zone (IANA), for the rendered-at line. */
  zone: string;
  refreshSeconds: number;
  services: readonly { row: PageService; cells: readonly StripCell[] }[];
  lastCheckAt: number | null;
  lastCheckBy: string | null;
}

/** How many expected beats each service's strip shows. */
export const STRIP_CELLS = 24;

const DOWN_STATES = new Set(['down', 'failed', 'stuck', 'flapping']);

/**
 * Where each of a service's STRIP_CELLS cells starts, oldest first; the last one holds `now`.
 * Fixed in time, so that a refresh with the same data draws the same cells (only a new cell
 * appears at the right as time passes):
 * - an interval: multiples of the interval since the epoch (a 1h service: whole UTC hours);
 * - a schedule: its runs, each cell from one run to the next (fewer when it has fewer runs
 *   within ~9 years before `now`: none at all for a schedule with no run yet).
 */
export function stripStarts(spec: Pick<ServiceSpec, 'intervalMs' | 'schedule'>, now: number): number[] {
  if (spec.schedule !== null) {
    const runs: number[] = [];
    for (let run = previousRun(spec.schedule.cron, spec.schedule.timezone, now); run !== null && runs.length < STRIP_CELLS; ) {
      runs.push(run);
      run = previousRun(spec.schedule.cron, spec.schedule.timezone, run - 1);
    }
    return runs.reverse();
  }
  const width = Math.max(1000, spec.intervalMs ?? 86_400_000);
  const last = Math.floor(now / width) * width;
  return Array.from({ length: STRIP_CELLS }, (_, i) => last - (STRIP_CELLS - 1 - i) * width);
}

/** How many of `times` fall in each cell: from its start to the next one's, the last to `until` (inclusive). */
export function countPerCell(times: readonly number[], starts: readonly number[], until: number): number[] {
  const counts = new Array<number>(starts.length).fill(0);
  for (const at of times) {
    if (starts.length === 0 || at < starts[0]! || at > until) continue;
    let lo = 0;
    let hi = starts.length - 1;
    // The last start at or before `at`.
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= at) lo = mid;
      else hi = mid - 1;
    }
    counts[lo]!++;
  }
  return counts;
}

/** States in which Medic holds the service overdue now (status): its cells without a beat are missed. */
const OVERDUE_STATES = new Set(['down', 'failed', 'stuck']);

/**
 * The strip's cells, oldest first. A cell is:
 * - failed: a run reported failure in it;
 * - ok: a beat came in it; late: a beat came in it while Medic held the service down (the beat
 *   that ended an outage);
 * - paused: no beat, and the service was paused or in maintenance during it;
 * - none: no beat, and the cell began before the service was registered (its first beat or check;
 *   null: not yet): nothing was expected in it;
 * - missed: no beat, and Medic held the service down during it: a down (or relapse) that
 *   `medic check` recorded, until the recovery it recorded (or, when none is recorded yet but
 *   status no longer says down, the last beat), or down now per status (down, failed, stuck) from
 *   the moment it went down. The last cell is never missed unless status says down now;
 * - quiet: no beat, but never overdue: a beat a little early or late lands in the neighbouring
 *   cell (jitter), and the current cell waits for its beat until the deadline has passed.
 * `row` is the service's row from status at `now`.
 */
export function stripCells(
  h: StripHistory,
  row: Pick<PageService, 'state' | 'deadline' | 'incidentSince' | 'lastSeen'>,
  now: number,
  registeredAt: number | null,
): StripCell[] {
  const since = h.starts[0] ?? now;
  const overdueNow = OVERDUE_STATES.has(row.state);
  // Periods Medic held the service down, and periods it was paused, from the recorded changes.
  const down: [number, number][] = [];
  const paused: [number, number][] = [];
  let downSince: number | null = null;
  let pausedSince: number | null = null;
  let first = true;
  let pauseRecorded = false;
  for (const e of h.events) {
    if (e.kind !== 'state' || e.to === undefined) continue;
    // Before the first change in range, the service was in that change's `from` state.
    if (first && e.from === 'down') downSince = since;
    if (first && e.from === 'paused') pausedSince = since;
    first = false;
    if (e.to === 'down' || e.to === 'relapse') downSince ??= e.at;
    // `flapping`: a beat came back; the resolve is only held.
    else if ((e.to === 'up' || e.to === 'flapping') && downSince !== null) {
      down.push([downSince, e.at]);
      downSince = null;
    }
    if (e.to === 'paused' || e.to === 'resumed') pauseRecorded = true;
    if (e.to === 'paused') pausedSince ??= e.at;
    else if (e.to === 'resumed' && pausedSince !== null) {
      paused.push([pausedSince, e.at]);
      pausedSince = null;
    }
  }
  const lastBeat = row.lastSeen === null ? NaN : Date.parse(row.lastSeen);
  // A recovery no check has recorded yet: status says it is back since its last beat.
  if (downSince !== null) down.push([downSince, !overdueNow && lastBeat >= downSince ? lastBeat : now]);
  if (overdueNow) down.push([Date.parse(row.incidentSince ?? row.deadline), now]);
  if (pausedSince !== null) paused.push([pausedSince, now]);
  if (row.state === 'paused' && !pauseRecorded) paused.push([since, now]);
  if (row.state === 'paused' || row.state === 'maintenance') paused.push([h.starts.at(-1) ?? now, now]);
  const failedAt = h.events.filter((e) => e.kind === 'signal' && e.signal === 'fail').map((e) => e.at);
  return h.starts.map((from, i): StripCell => {
    const last = i === h.starts.length - 1;
    const to = last ? now : h.starts[i + 1]!;
    // The last cell holds `now` itself.
    const end = last ? now + 1 : to;
    const during = (periods: [number, number][]) => periods.some(([p, q]) => p < end && q >= from);
    let kind: CellKind;
    if (failedAt.some((at) => at >= from && at < end)) kind = 'failed';
    else if ((h.strip[i] ?? 0) > 0) kind = during(down) ? 'late' : 'ok';
    else if (during(paused)) kind = 'paused';
    else if (registeredAt === null || from < registeredAt) kind = 'none';
    else if (during(down) && (!last || overdueNow)) kind = 'missed';
    else kind = 'quiet';
    return { from, to, kind };
  });
}

/** `& < > " '` as entities: every text from the config or the database goes through this. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ENTITIES[ch]!);
}
const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Each state as a word, a symbol and a colour class: colour is never the only sign. */
export const STATE_LOOK: Record<string, { word: string; symbol: string; tone: 'bad' | 'warn' | 'ok' | 'idle' }> = {
  down: { word: 'DOWN', symbol: '✖', tone: 'bad' },
  failed: { word: 'FAILED', symbol: '✖', tone: 'bad' },
  stuck: { word: 'STUCK', symbol: '■', tone: 'bad' },
  flapping: { word: 'FLAPPING', symbol: '↯', tone: 'bad' },
  late: { word: 'LATE', symbol: '◐', tone: 'warn' },
  running: { word: 'RUNNING', symbol: '▶', tone: 'ok' },
  new: { word: 'NEW', symbol: '○', tone: 'idle' },
  paused: { word: 'PAUSED', symbol: '‖', tone: 'idle' },
  maintenance: { word: 'MAINTENANCE', symbol: '‖', tone: 'idle' },
  up: { word: 'UP', symbol: '✔', tone: 'ok' },
};

/** The order of the page and of its summary: down first, up last. */
const ORDER = Object.keys(STATE_LOOK);

/** What each strip cell says, for its title and accessible label. */
export const CELL_WORDS: Record<CellKind, string> = {
  ok: 'beat on time',
  late: 'beat late',
  missed: 'missed',
  failed: 'run failed',
  paused: 'paused',
  quiet: 'no beat in this slot (not overdue)',
  none: 'no beat expected',
};

/** `2 down, 1 late, 14 up` (states with none left out); `no services` for an empty config. */
export function summaryLine(states: readonly string[]): string {
  if (states.length === 0) return 'no services';
  const counts = new Map<string, number>();
  for (const s of states) counts.set(s, (counts.get(s) ?? 0) + 1);
  return [...counts]
    .sort(([a], [b]) => rank(a) - rank(b))
    .map(([s, n]) => `${n} ${STATE_LOOK[s]?.word.toLowerCase() ?? s}`)
    .join(', ');
}

function rank(state: string): number {
  const i = ORDER.indexOf(state);
  return i < 0 ? ORDER.length : i;
}

/** The whole page. Services are sorted down first (then late, ..., up), each group in config order. */
export function renderStatusPage(d: StatusPageData): string {
  const services = [...d.services].map((s, i) => ({ ...s, i })).sort((a, b) => rank(a.row.state) - rank(b.row.state) || a.i - b.i);
  const worst = services[0] ? (STATE_LOOK[services[0].row.state]?.tone ?? 'idle') : 'idle';
  const summary = summaryLine(services.map((s) => s.row.state));
  const check =
    d.lastCheckAt === null
      ? '<span class="attn">no <code>medic check</code> has run yet</span>'
      : `last <code>medic check</code> ${timeTag(d.lastCheckAt, d.now)}${d.lastCheckBy ? ` on ${escapeHtml(d.lastCheckBy)}` : ''}`;
  const zoneTime = inZone(d.now, d.zone);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="${d.refreshSeconds}">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(`${services.some((s) => DOWN_STATES.has(s.row.state)) ? '✖ ' : ''}${summary} · Medic status`)}</title>
<style>${CSS}</style>
</head>
<body>
<header class="top ${worst}">
<h1>Medic status</h1>
<p class="summary" role="status">${escapeHtml(summary)}</p>
<p class="meta">Rendered ${escapeHtml(utc(d.now))}${zoneTime === null ? '' : ` (${escapeHtml(zoneTime)})`} · ${check} · refreshes every ${d.refreshSeconds} s</p>
</header>
<main>
${services.length === 0 ? '<p class="empty">No services are configured.</p>' : services.map((s) => serviceHtml(s.row, s.cells, d.now)).join('\n')}
</main>
<footer><p>Strip: the last ${STRIP_CELLS} expected beats of each service, oldest first: ${LEGEND}.</p></footer>
</body>
</html>
`;
}

const LEGEND = (['ok', 'quiet', 'late', 'missed', 'failed', 'paused', 'none'] as const).map((k) => `<span class="key"><i class="c ${k}" aria-hidden="true"></i> ${CELL_WORDS[k]}</span>`).join(', ');

function serviceHtml(r: PageService, cells: readonly StripCell[], now: number): string {
  const look = STATE_LOOK[r.state] ?? { word: r.state.toUpperCase(), symbol: '?', tone: 'idle' as const };
  const facts: [string, string][] = [];
  facts.push(['Last beat', r.lastSeen === null ? 'never' : timeTag(Date.parse(r.lastSeen), now)]);
  if (DOWN_STATES.has(r.state)) facts.push(['Down since', timeTag(Date.parse(r.incidentSince ?? r.deadline), now)]);
  else if (r.state === 'late') facts.push(['Down at', timeTag(Date.parse(r.deadline), now)]);
  else if (!r.muted) facts.push(['Next expected', timeTag(Date.parse(r.lateAt), now)]);
  facts.push(['Missed', String(r.missedHeartbeats)]);
  facts.push(['Incident', r.incidentOpen ? `open${r.incidentSince ? ` since ${timeTag(Date.parse(r.incidentSince), now)}` : ''}` : 'none']);
  facts.push(['Team', r.team === null ? '—' : escapeHtml(r.team)]);
  facts.push(['Priority', escapeHtml(r.priority)]);
  facts.push(['Expected', escapeHtml(r.interval !== null ? `every ${r.interval}` : `at ${r.schedule ?? '?'}`)]);
  const notes: string[] = [];
  if (r.muted) notes.push(`${r.muted.kind === 'paused' ? 'Paused' : 'Maintenance'}${r.muted.until ? ` until ${escapeHtml(utc(Date.parse(r.muted.until)))}` : ''}${r.muted.reason ? `: ${escapeHtml(clip(r.muted.reason))}` : ''}`);
  if (r.failure) notes.push(`Failed${r.failure.exitCode === null ? '' : ` (exit ${escapeHtml(String(r.failure.exitCode))})`}${r.failure.message ? `: ${escapeHtml(clip(r.failure.message))}` : ''}`);
  if (r.deliveryProblem) notes.push(`Delivery: ${escapeHtml(clip(r.deliveryProblem))}`);
  const name = r.name !== r.slug ? `${escapeHtml(r.name)} <span class="slug">${escapeHtml(r.slug)}</span>` : escapeHtml(r.slug);
  return `<section class="svc ${look.tone}" aria-label="${escapeHtml(`${r.name}: ${look.word.toLowerCase()}`)}">
<h2><span class="badge ${look.tone}">${look.symbol} ${look.word}</span> ${name}</h2>
<dl>${facts.map(([k, v]) => `<div><dt>${k}:</dt> <dd>${v}</dd></div>`).join('')}</dl>
${notes.map((n) => `<p class="note">${n}</p>`).join('\n')}${notes.length ? '\n' : ''}<ol class="strip" aria-label="${escapeHtml(`last ${cells.length} expected beats of ${r.slug}, oldest first`)}">${cells.map(cellHtml).join('')}</ol>
</section>`;
}

/** A message from a job or PagerDuty as the page shows it: its first NOTE_MAX_CHARS characters. */
function clip(text: string): string {
  return text.length > NOTE_MAX_CHARS ? `${text.slice(0, NOTE_MAX_CHARS)}…` : text;
}
const NOTE_MAX_CHARS = 300;

function cellHtml(c: StripCell): string {
  const label = `${utc(c.from)}: ${CELL_WORDS[c.kind]}`;
  return `<li class="c ${c.kind}" role="img" aria-label="${label}" title="${label}"></li>`;
}

/** `<time>` with the UTC moment and how long ago (or until). */
function timeTag(at: number, now: number): string {
  if (!Number.isFinite(at)) return 'unknown';
  return `<time datetime="${new Date(at).toISOString()}">${escapeHtml(relative(at - now))}</time> <span class="abs">${escapeHtml(utc(at))}</span>`;
}

/** `2026-11-30 05:20 UTC`. */
function utc(at: number): string {
  return Number.isFinite(at) ? `${new Date(at).toISOString().slice(0, 16).replace('T', ' ')} UTC` : 'an invalid time';
}

/** The moment in the server's zone (`2026-11-30 06:20 CET, Europe/Berlin`), or null when that zone is UTC. */
function inZone(at: number, zone: string): string | null {
  if (zone === 'UTC' || zone === 'Etc/UTC') return null;
  const f = new Intl.DateTimeFormat('en-GB', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short' });
  const p = Object.fromEntries(f.formatToParts(at).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute} ${p.timeZoneName}, ${zone}`;
}

/** `3m ago`, `in 45s`, `now`. */
function relative(ms: number): string {
  const a = Math.abs(ms);
  if (a < 1000) return 'now';
  const [n, u] = a < 60_000 ? [a / 1000, 's'] : a < 3_600_000 ? [a / 60_000, 'm'] : a < 86_400_000 ? [a / 3_600_000, 'h'] : [a / 86_400_000, 'd'];
  const text = `${Math.floor(n)}${u}`;
  return ms < 0 ? `${text} ago` : `in ${text}`;
}

const CSS = `
:root{color-scheme:dark;--bg:#0b0d10;--fg:#f2f4f7;--dim:#a9b1bc;--ok:#3ddc84;--warn:#ffb020;--bad:#ff4d4f;--idle:#8a94a3;--card:#161a20}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:18px/1.4 "DejaVu Sans",system-ui,sans-serif}
.top{padding:16px 24px;border-bottom:6px solid var(--idle)}
.top.bad{border-color:var(--bad)}.top.warn{border-color:var(--warn)}.top.ok{border-color:var(--ok)}
h1{margin:0;font-size:20px;color:var(--dim);font-weight:normal}
.summary{margin:4px 0;font-size:40px;font-weight:bold}
.meta{margin:0;color:var(--dim);font-size:16px}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:16px;padding:16px 24px}
.svc{background:var(--card);border-left:10px solid var(--idle);padding:12px 16px;min-width:0}
.svc.bad{border-color:var(--bad)}.svc.warn{border-color:var(--warn)}.svc.ok{border-color:var(--ok)}
h2{margin:0 0 8px;font-size:24px;overflow-wrap:anywhere}
.slug{color:var(--dim);font-size:18px;font-weight:normal}
.badge{display:inline-block;padding:2px 8px;border-radius:4px;font-size:18px;color:#000;background:var(--idle);white-space:nowrap}
.badge.bad{background:var(--bad)}.badge.warn{background:var(--warn)}.badge.ok{background:var(--ok)}
dl{display:flex;flex-wrap:wrap;gap:4px 20px;margin:0}
dl div{min-width:0}
dt{display:inline;color:var(--dim)}
dd{display:inline;margin:0;overflow-wrap:anywhere}
.abs{color:var(--dim);font-size:14px}
.note{margin:8px 0 0;color:var(--warn);overflow-wrap:anywhere}
.strip{display:flex;gap:3px;list-style:none;margin:12px 0 0;padding:0;height:28px;align-items:flex-end}
.c{display:inline-block;flex:1 1 0;min-width:4px;max-width:18px;height:100%;font-style:normal}
.c.ok{background:var(--ok)}
.c.quiet{border:2px solid var(--ok);background:transparent}
.c.late{background:repeating-linear-gradient(135deg,var(--warn) 0 4px,#000 4px 6px)}
.c.missed{border:2px dashed var(--bad);background:linear-gradient(45deg,transparent 45%,var(--bad) 45% 55%,transparent 55%)}
.c.failed{background:var(--bad);height:100%;border-top:8px solid #fff}
.c.paused{background:var(--idle);height:40%}
.c.none{background:var(--dim);height:10%}
footer .key .c{width:12px;height:14px;margin-right:2px;vertical-align:middle}
footer .key .c.paused{height:6px}footer .key .c.none{height:2px}footer .key .c.failed{border-top-width:4px}
.key{white-space:nowrap}
footer{padding:8px 24px 24px;color:var(--dim);font-size:15px}
.empty{font-size:24px}
.attn{color:var(--warn)}
code{font-size:90%}
@media (max-width:600px){body{font-size:16px}main{grid-template-columns:1fr;padding:8px}.top{padding:12px}.summary{font-size:28px}h2{font-size:20px}}
`;
