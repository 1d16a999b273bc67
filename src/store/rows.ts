/**
 * Outbox rows as both stores read them (the same table and column names on SQLite and PostgreSQL),
 * turned into what the Store gives. Only job text differs between the stores (SQLite TEXT,
 * PostgreSQL BYTEA): each store passes its own reader for it.
 */
import type { DownReason } from '../core/signal.js';
import { readInteger, readMessage, readNote, readTail } from './bounds.js';
import type { Action, EventStatus, History, OutboxEvent, Refusal } from './types.js';

/** `J`: how the store holds a job's text (string on SQLite, Buffer on PostgreSQL). */
export interface OutboxRow<J = string> {
  id: number;
  slug: string;
  incident_id: number;
  target: string;
  action: Action;
  dedup_key: string;
  down_at: number | null;
  last_beat_at: number | null;
  missed_heartbeats: number | null;
  // [jobs] Absent (undefined) in a read-only look at a SQLite database before schema 4.
  reason?: string | null;
  exit_code?: number | null;
  duration_ms?: number | null;
  message?: J | null;
  output_tail?: J | null;
  created_at: number;
  status: EventStatus;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  refused_at: number | null;
  refused_status: number | null;
  refused_answer: string | null;
  refused_fingerprint: string | null;
}

/** A refusal as stored (the columns are set together), or null. */
export function refusalOf(r: Pick<OutboxRow, 'refused_at' | 'refused_status' | 'refused_answer' | 'refused_fingerprint'>): Refusal | null {
  return r.refused_at === null ? null : { at: r.refused_at, status: r.refused_status, answer: readNote(r.refused_answer ?? ''), fingerprint: r.refused_fingerprint };
}

/** How a store reads its job text back (already cut in SQL): a message and an output tail. */
export interface JobTextReader<J> {
  message(value: J | null | undefined): string | null;
  tail(value: J | null | undefined): string | null;
}

/** SQLite keeps job text as TEXT. */
export const TEXT_READER: JobTextReader<string> = { message: readMessage, tail: readTail };

/** An outbox row as the Store gives it. */
export function outboxEvent<J>(r: OutboxRow<J>, read: JobTextReader<J>): OutboxEvent {
  return {
    id: r.id,
    slug: r.slug,
    incidentId: r.incident_id,
    target: r.target,
    action: r.action,
    dedupKey: r.dedup_key,
    // As stored: src/notify validates them before building anything from them.
    facts:
      r.action === 'trigger'
        ? {
            downAt: r.down_at as number,
            lastBeatAt: r.last_beat_at,
            missedHeartbeats: r.missed_heartbeats as number,
            // A trigger from before schema 4 has no reason: it was a miss.
            reason: (r.reason ?? 'missed') as DownReason,
            exitCode: readInteger(r.exit_code),
            durationMs: readInteger(r.duration_ms),
            message: read.message(r.message),
            outputTail: read.tail(r.output_tail),
          }
        : null,
    createdAt: r.created_at,
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    lastError: readNote(r.last_error),
    refusal: refusalOf(r),
  };
}

/**
 * History's pauses that overlap [since, until], from the pause and resume records (oldest first)
 * and the service's live pause: each pause record with its own end, and `endedAt` when a resume or
 * a later pause (which replaces it) ended it first. The running pause comes from the service itself
 * when its record was pruned.
 */
export function pausesFrom(
  records: { to_state: string; at: number; until_at: number | null }[],
  live: { paused_at?: number | null; paused_until?: number | null } | undefined,
  since: number,
  until: number,
): History['pauses'] {
  const running = live?.paused_at != null && live.paused_at <= until ? { since: live.paused_at, until: live.paused_until ?? null, endedAt: null } : null;
  const pauses: History['pauses'] = [];
  for (const [i, r] of records.entries()) {
    if (r.to_state !== 'paused') continue;
    const endedAt = records[i + 1]?.at ?? null;
    pauses.push(endedAt === null && r.at === running?.since ? running : { since: r.at, until: r.until_at, endedAt });
  }
  if (running && !pauses.includes(running)) {
    pauses.push(running);
    pauses.sort((a, b) => a.since - b.since);
  }
  return pauses.filter((p) => Math.min(p.until ?? Infinity, p.endedAt ?? Infinity) >= since);
}

/** A run's duration from when it took the lock to when it finished; null when either is unknown or they are out of order (a stepped clock, a planted row). */
export function durationOf(startedAt: number | null, endedAt: number | null): number | null {
  if (typeof startedAt !== 'number' || typeof endedAt !== 'number') return null;
  const ms = Number(endedAt) - Number(startedAt);
  return Number.isFinite(ms) && ms >= 0 ? ms : null;
}
