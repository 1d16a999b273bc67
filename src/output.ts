import { Chalk, type ChalkInstance } from 'chalk';
import { roughDuration } from './core/duration.js';
import type { ServiceStatus } from './commands/status.js';

export interface Stream {
  write(text: string): unknown;
  isTTY?: boolean;
}

/** Colour only on a terminal, and never with NO_COLOR set (no-color.org). */
export function painter(stream: Stream, env: NodeJS.ProcessEnv): ChalkInstance {
  return new Chalk({ level: stream.isTTY && !env.NO_COLOR && env.TERM !== 'dumb' ? 1 : 0 });
}

/** One red line per message line, then the dim hint: the shape of every error Medic prints. */
export function formatError(message: string, hint: string | undefined, c: ChalkInstance): string {
  const lines = message.split('\n').map((l, i) => (i === 0 ? c.red(`medic: ${l}`) : c.red(l)));
  if (hint) lines.push(...hint.split('\n').map((h) => c.dim(`  → ${h}`)));
  return `${lines.join('\n')}\n`;
}

const STATE_COLOUR: Record<string, keyof ChalkInstance> = { up: 'green', new: 'cyan', late: 'yellow', down: 'red', paused: 'blue' };

/** The status table: one row per service, times relative to now. */
export function statusTable(rows: ServiceStatus[], now: number, c: ChalkInstance): string {
  if (rows.length === 0) return 'no services configured\n';
  const table = rows.map((r) => [
    r.slug,
    r.state,
    r.lastSeen ? `${roughDuration(now - Date.parse(r.lastSeen))} ago` : 'never',
    relative(Date.parse(r.deadline), now),
    r.incidentOpen ? `open since ${r.incidentSince}` : '-',
    r.pendingEvents > 0 ? String(r.pendingEvents) : '-',
  ]);
  const head = ['SERVICE', 'STATE', 'LAST SEEN', 'DEADLINE', 'INCIDENT', 'UNDELIVERED'];
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  const line = (cells: string[], paint?: (i: number, s: string) => string) =>
    cells.map((cell, i) => (paint ? paint(i, cell.padEnd(widths[i]!)) : cell.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [c.bold(line(head))];
  for (const row of table) {
    out.push(line(row, (i, s) => (i === 1 ? (c[STATE_COLOUR[row[1]!] ?? 'reset'] as (t: string) => string)(s) : s)));
  }
  return `${out.join('\n')}\n`;
}

function relative(at: number, now: number): string {
  return at >= now ? `in ${roughDuration(at - now)}` : `${roughDuration(now - at)} ago`;
}
