import { Chalk, type ChalkInstance } from 'chalk';
import { formatDuration, iso, roughDuration } from './core/duration.js';
import type { CheckResult } from './commands/check.js';
import type { HistoryReport } from './commands/history.js';
import type { StatusReport } from './commands/status.js';

export interface Stream {
  write(text: string): unknown;
  isTTY?: boolean;
  /** Bytes written and not yet taken by the reader (a pipe's backlog); medic serve -v drops lines past a cap. */
  writableLength?: number;
}

/** Colour only on a terminal, and never with NO_COLOR set (no-color.org). */
export function painter(stream: Stream, env: NodeJS.ProcessEnv): ChalkInstance {
  return new Chalk({ level: stream.isTTY && !env.NO_COLOR && env.TERM !== 'dumb' ? 1 : 0 });
}

/**
 * Characters a terminal acts on instead of showing: C0 controls (ESC starts colour, cursor and
 * OSC title/hyperlink sequences; \r rewrites a line), DEL, C1 controls, the line and paragraph
 * separators, and the Unicode bidi controls that reorder what is shown.
 */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Text from outside (a server's answer, a pause reason, a service name) made safe for a terminal
 * or a cron mail: every control character becomes a visible escape (`\x1b`, `\r`, `\u202e`), so
 * it can neither act on the terminal nor start a line of its own. For human output only: JSON
 * output stays exact.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (ch) => {
    const code = ch.charCodeAt(0);
    return NAMED[ch] ?? (code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
  });
}

/** `printable` for Medic's own multi-line text: its line breaks stay, everything else is escaped. */
export function printableLines(text: string): string {
  return text.split('\n').map(printable).join('\n');
}

/** One red line per message line, then the dim hint: the shape of every error Medic prints. */
export function formatError(message: string, hint: string | undefined, c: ChalkInstance): string {
  const lines = message.split('\n').map((l, i) => (i === 0 ? c.red(`medic: ${printable(l)}`) : c.red(printable(l))));
  if (hint) lines.push(...hint.split('\n').map((h) => c.dim(`  → ${printable(h)}`)));
  return `${lines.join('\n')}\n`;
}

const STATE_COLOUR: Record<string, keyof ChalkInstance> = {
  up: 'green',
  new: 'cyan',
  late: 'yellow',
  down: 'red',
  paused: 'blue',
  maintenance: 'blue',
  flapping: 'magenta',
  failed: 'red',
  stuck: 'red',
  running: 'green',
};

/** [jobs] A scheduled service's schedule and zone: `30 2 * * * Europe/Berlin`, `30 2 * * * (machine zone America/New_York)`; '' for an interval. */
function scheduleNote(r: Pick<StatusReport['rows'][number], 'schedule' | 'timezone' | 'timezoneSource'>): string {
  if (r.schedule === null) return '';
  return r.timezoneSource === 'machine' ? `${r.schedule} (machine zone ${r.timezone})` : `${r.schedule} ${r.timezone}`;
}

/** The status table: one row per service, times relative to now, then the checker's own health. */
export function statusTable(report: StatusReport, now: number, c: ChalkInstance): string {
  const { rows } = report;
  const table = rows.map((r) => [
    r.slug,
    r.state,
    r.lastSeen ? since(Date.parse(r.lastSeen), now) : 'never',
    r.muted ? (r.muted.until ? `muted ${relative(Date.parse(r.muted.until), now)}` : 'until resumed') : relative(Date.parse(r.deadline), now),
    r.incidentOpen ? `open since ${r.incidentSince}${r.delivery === 'not-sent' ? ' (never sent)' : ''}` : '-',
    // "1 queued" / "2 refused": whether PagerDuty has the incident shown beside it.
    r.pendingEvents > 0 ? undeliveredCell(r.pendingEvents, r.refusedEvents) : '-',
    [scheduleNote(r), r.muted?.reason ?? (r.flapping ? 'resolve held until stable' : ''), r.deliveryProblem ?? ''].filter(Boolean).join('; '),
  ].map(printable));
  const head = ['SERVICE', 'STATE', 'LAST SEEN', 'DEADLINE', 'INCIDENT', 'UNDELIVERED', 'NOTE'];
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  const line = (cells: string[], paint?: (i: number, s: string) => string) =>
    cells.map((cell, i) => (paint ? paint(i, cell.padEnd(widths[i]!)) : cell.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = rows.length === 0 ? ['no services configured'] : [c.bold(line(head))];
  for (const row of table) {
    out.push(line(row, (i, s) => (i === 1 ? (c[STATE_COLOUR[row[1]!] ?? 'reset'] as (t: string) => string)(s) : s)));
  }
  out.push(
    c.dim(
      report.lastCheckAt === null
        ? 'medic check has not run yet (add it to the crontab: medic init prints the line)'
        : `last check ${since(report.lastCheckAt, now)}${report.lastCheckBy === null ? '' : ` by ${printable(report.lastCheckBy)}`}`,
    ),
  );
  if (report.lastGap && now - report.lastGap.to < 7 * 86_400_000) {
    const { from, to } = report.lastGap;
    out.push(c.yellow(`medic check was blind from ${iso(from)} to ${iso(to)}; deadlines in that time were restarted`));
  }
  return `${out.join('\n')}\n`;
}

const BLOCKS = ' ▁▂▃▄▅▆▇█';

/** `medic history`: the strip of beats per bucket, then the timeline, oldest first. */
export function historyText(h: HistoryReport, c: ChalkInstance, opts: { partialConfig?: boolean } = {}): string {
  // With part of the config invalid, a service missing from the valid part may only be the broken entry.
  const gone = !h.removed ? '' : opts.partialConfig ? ' (not in the valid part of the config)' : ' (removed from the config)';
  const at = (ms: number) => iso(ms).replace('.000Z', 'Z');
  const max = Math.max(1, ...h.strip);
  const strip = h.strip.map((n) => (n === 0 ? c.red('·') : BLOCKS[Math.max(1, Math.round((n / max) * 8))]!)).join('');
  const out = [
    `${c.bold(printable(h.slug))}${gone}${h.schedule === null ? '' : ` (${scheduleNote(h)})`}: beats per ${formatDuration(h.bucketMs)} from ${at(h.since)} to ${at(h.until)} (· = none)`,
    `  ${strip}`,
    '',
  ];
  if (h.events.length === 0) out.push('  nothing recorded in this period');
  for (const e of h.events) {
    if (e.kind === 'beats') {
      out.push(`  ${at(e.at)}  ${c.green('beat')}${e.count > 1 ? ` ×${e.count} until ${at(e.until)}` : ''}`);
    } else if (e.kind === 'state') {
      const late = e.recordedAt - e.at >= 1000 ? c.dim(` (recorded ${at(e.recordedAt)})`) : '';
      out.push(`  ${at(e.at)}  ${(c[STATE_COLOUR[e.to] ?? 'yellow'] as (t: string) => string)(printable(`${e.from ? `${e.from} → ` : ''}${e.to}`))}: ${printable(e.reason)}${late}`);
    } else if (e.kind === 'signal') {
      out.push(...signalLines(e, c).map((l, i) => (i === 0 ? `  ${at(e.at)}  ${l}` : `      ${l}`)));
    } else if (e.kind === 'log') {
      out.push(`  ${at(e.at)}  ${c.dim('log')}: ${printable(e.message)}`);
    } else {
      const colour = e.outcome === 'delivered' ? c.green : e.outcome === 'retry' ? c.yellow : c.red;
      out.push(`  ${at(e.at)}  ${printable(e.action)} → ${printable(e.target)}: ${colour(printable(e.outcome))}${e.detail ? ` ${c.dim(printable(e.detail))}` : ''}`);
    }
  }
  return `${out.join('\n')}\n`;
}

/**
 * "run started", "failed (exit 3, 2m5s): <message>", "beat (exit 0, 4s): <message>", then the
 * output tail's lines. The message and output are the job's: every control character escaped.
 */
function signalLines(e: Extract<HistoryReport['events'][number], { kind: 'signal' }>, c: ChalkInstance): string[] {
  const facts = [e.exitCode !== null && `exit ${e.exitCode}`, e.durationMs !== null && formatDuration(e.durationMs >= 1000 ? Math.round(e.durationMs / 1000) * 1000 : e.durationMs)].filter(Boolean);
  const what = e.signal === 'start' ? c.cyan('run started') : e.signal === 'fail' ? c.red('failed') : c.green('beat');
  const head = `${what}${facts.length > 0 ? ` (${facts.join(', ')})` : ''}${e.message !== null ? `: ${printable(e.message)}` : ''}`;
  const tail = e.outputTail === null ? [] : e.outputTail.replace(/\n$/, '').split('\n').map((l) => c.dim(`| ${printable(l)}`));
  return [head, ...tail];
}

/** When something past happened: `5m ago`; a time ahead of now (a clock ahead, here or where it was stamped) says so. */
function since(at: number, now: number): string {
  return at <= now ? `${roughDuration(now - at)} ago` : `${roughDuration(at - now)} in the future (is a clock ahead?)`;
}

function relative(at: number, now: number): string {
  return at >= now ? `in ${roughDuration(at - now)}` : `${roughDuration(now - at)} ago`;
}

/**
 * Characters JSON.stringify leaves raw that a terminal acts on or that reorder what is shown: DEL,
 * the C1 controls, the bidi marks and controls, the line and paragraph separators.
 */
const JSON_UNSAFE = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * JSON text as every --json output prints it: the characters of JSON_UNSAFE written as \uXXXX
 * escapes (the same JSON value, so scripts read what was stored, and a terminal shows it inert).
 * They can only be inside strings in JSON text, where such an escape is valid.
 */
export function jsonSafe(json: string): string {
  return json.replace(JSON_UNSAFE, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `medic check --json`: what the run did (with --dry-run, what it would do). */
export function checkJson(result: CheckResult, dryRun: boolean): string {
  const d = result.delivery;
  return JSON.stringify(
    {
      ran: result.ran,
      dryRun,
      changes: (dryRun ? result.planned : result.transitions).map((t) => ({ ...t, at: iso(t.at) })),
      delivered: d?.delivered.length ?? 0,
      // Refused events (kept queued until their target changes), this run's and earlier ones.
      rejected:
        d?.deferred.flatMap(({ event, reason: r }) =>
          r.kind === 'refused' ? [{ slug: event.slug, target: event.target, action: event.action, status: r.status, message: r.answer, new: r.fresh }] : [],
        ) ?? [],
      pending: d?.deferred.length ?? 0,
      skipped: d?.skipped.map(({ event, reason }) => ({ slug: event.slug, target: event.target, action: event.action, reason })) ?? [],
      gap: result.gap && { from: iso(result.gap.from), to: iso(result.gap.to) },
    },
    null,
    2,
  );
}

/** `medic history --json`: the report with instants as ISO 8601. */
export function historyJson(h: HistoryReport): string {
  const events = h.events.map((e) => ({
    ...e,
    at: iso(e.at),
    ...('until' in e && { until: iso(e.until) }),
    ...('recordedAt' in e && { recordedAt: iso(e.recordedAt) }),
  }));
  return JSON.stringify({ ...h, since: iso(h.since), until: iso(h.until), events }, null, 2);
}

/** "1 refused, 2 queued": each kind counted on its own (a refused trigger holds its resolve back). */
function undeliveredCell(pending: number, refused: number): string {
  return [refused > 0 && `${refused} refused`, pending - refused > 0 && `${pending - refused} queued`].filter(Boolean).join(', ');
}
