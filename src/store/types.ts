import type { DownReason, Signal, SignalDetails, SignalKind } from '../core/signal.js';
import type { ServiceRecord } from '../core/state.js';

export type Action = 'trigger' | 'resolve';
/** 'rejected' is only found in databases of Medic before schema 3 (refused events now stay 'pending'). */
export type EventStatus = 'pending' | 'delivered' | 'rejected' | 'skipped';

/** Where a routing key is read from at send time: `env:NAME` or `file:/abs/path`. Never the key. */
export type KeyRef = `env:${string}` | `file:${string}`;

/**
 * What Medic computed when a service went down. The trigger's body is rebuilt from these and the
 * current config at send time: the database never holds a wire body, a URL or a key source.
 */
export interface TriggerFacts {
  /** The moment it went down (its deadline). */
  downAt: number;
  lastBeatAt: number | null;
  missedHeartbeats: number;
  /** [jobs] Why it went down; absent (a database before schema 4) means missed. */
  reason?: DownReason;
  /** [jobs] From the failing run's signal (reason 'failed'), else null/absent. */
  exitCode?: number | null;
  durationMs?: number | null;
  message?: string | null;
  outputTail?: string | null;
}

/** PagerDuty refused the event (a config change can cure it); it stays pending until the target changes. */
export interface Refusal {
  at: number;
  /** HTTP status, or null when unknown (a refusal recorded by Medic before schema 3). */
  status: number | null;
  /** PagerDuty's answer, bounded and redacted by the sender. */
  answer: string;
  /** One-way fingerprint of the target's events URL and key when it was refused; null: unknown (send again). */
  fingerprint: string | null;
}

/** What a resolve needs from its incident's trigger to the same target (Store.triggerOf). */
export interface TriggerRecord {
  status: EventStatus;
  downAt: number | null;
  receipt: string | null;
}

export interface StoredService extends ServiceRecord {
  /** Compare-and-set token: bumped by every change a check makes. */
  version: number;
  /** Id of the transition that opened the open incident. */
  incidentId: number | null;
}

export interface NewEvent {
  /** The target's name in the config; its URL and key source are looked up at send time. */
  target: string;
  action: Action;
  dedupKey: string;
  /** For a trigger: the facts its body is rebuilt from. Null for a resolve. */
  facts: TriggerFacts | null;
}

export interface OutboxEvent extends NewEvent {
  id: number;
  slug: string;
  incidentId: number;
  createdAt: number;
  status: EventStatus;
  attempts: number;
  nextAttemptAt: number;
  lastError: string | null;
  /** Set while PagerDuty's refusal stands (the event is still pending). */
  refusal: Refusal | null;
}

/** Undelivered events of one service, for `status`. */
export interface ServiceDelivery {
  /** Events still pending (refused ones included). */
  pending: number;
  /** How many of them PagerDuty refused (kept until the target's key or URL changes). */
  refusedCount: number;
  /** The oldest pending event PagerDuty refused, if any. */
  refused: { target: string; action: Action; refusal: Refusal } | null;
  /** The oldest pending event's last error (why it is not out yet), if any. */
  lastError: { target: string; action: Action; error: string } | null;
  /** The open incident's triggers: how many reached PagerDuty, how many never will (skipped, rejected). */
  openIncident: { delivered: number; dropped: number } | null;
}

/** down opens an incident, up resolves it, flapping holds its resolve, relapse re-arms a held one. */
export type ChangeKind = 'down' | 'up' | 'flapping' | 'relapse';

export interface TransitionInput {
  slug: string;
  /** The version loaded with the service; the change is skipped if someone else changed it. */
  version: number;
  from: string;
  to: ChangeKind;
  /** When it really happened: the deadline for down, the beat for up. */
  at: number;
  reason: string;
  /** The beat sequence the (open) incident now counts recoveries from. */
  beatSeq: number;
  /** For up: the incident being resolved. */
  incidentId: number | null;
  /** Events to enqueue with the change, in the same transaction. */
  events: NewEvent[] | 'resolve-sent-triggers';
}

/**
 * [scale] One beat for recordBeats: `medic serve` writes many in one transaction (group commit).
 * `log` (Healthchecks' /log) is kept for history only and changes no state.
 */
export interface BeatInput {
  slug: string;
  /** When it happened; omitted: the store's clock at write time (PostgreSQL: the database's now(); SQLite: Date.now()). */
  at?: number;
  kind?: SignalKind | 'log';
  details?: SignalDetails;
  /**
   * Pairs a run's start and its end (Healthchecks' `?rid=`, a UUID): an end with a run id and no
   * duration of its own gets the time since the start with the same run id, when there was one.
   */
  runId?: string;
}

export interface History {
  beats: number[];
  /** [scale] Lines sent to `/log` (bounded like a message), oldest first. */
  logs: { at: number; message: string }[];
  /** [jobs] Starts, failures and successes that carry details (exit code, message, output), oldest first. */
  signals: Signal[];
  /** [jobs] For replay: pauses that overlap the range (until: its own end; endedAt: when `medic resume` ended it). */
  pauses: { since: number; until: number | null; endedAt: number | null }[];
  /** [jobs] For replay: moments its clock was restarted (resume, checker gap), oldest first. */
  resets: number[];
  transitions: { at: number; recordedAt: number; from: string; to: string; reason: string }[];
  deliveries: { at: number; target: string; action: string; outcome: string; detail: string | null }[];
}

/**
 * How a delivery attempt ended. 'refused' keeps the event pending, marked with PagerDuty's answer;
 * 'rejected' (settled for good) is no longer written, only read from older databases.
 */
export type Settlement =
  | { status: 'delivered'; response: string; receipt?: string | null }
  | { status: 'refused'; error: string; httpStatus: number | null; answer: string; fingerprint: string }
  | { status: 'skipped'; error: string }
  | { status: 'retry'; error: string; nextAttemptAt: number };

/**
 * One batch of claimEvents: the pending events after `afterId`, oldest first, at most `limit` of
 * them, of the services in `slugs` (`only: true`) or of every other service (`only: false`), so
 * that a flood of rows (planted, or for services no longer configured) can neither make one claim
 * outlast its statement timeout nor keep the configured services' events waiting behind it.
 */
export interface ClaimBatch {
  afterId: number;
  limit: number;
  services?: { only: boolean; slugs: string[] };
}

export interface Store {
  /**
   * Records a beat: a success (`ok`, the default) bumps the beat sequence, sets the last beat and
   * clears a failure and a started run; `start` sets the started run; `fail` sets the failure and
   * clears the started run. Details are cut to their bounds (core/signal.ts), never refused.
   */
  recordBeat(slug: string, at: number, signal?: { kind: SignalKind } & SignalDetails): Promise<void>;
  /**
   * [scale] Records many beats in one transaction, in order, with recordBeat's rules each (group
   * commit for `medic serve`): when it resolves, every one of them is durable; when it rejects, none is.
   */
  recordBeats(beats: BeatInput[]): Promise<void>;
  /**
   * [scale] The store's own clock, when it has one that every host shares: PostgreSQL's now(), so
   * that checkers on hosts with skewed clocks agree on deadlines and leases. Null for SQLite (one
   * machine: the process's clock is the clock).
   */
  clock(): Promise<number | null>;
  /** Drops the live state of services no longer in the config (not their history); open incidents stay. */
  forget(slugs: string[]): Promise<void>;
  /** Adds services seen for the first time in the config, registered at `at`. */
  register(slugs: string[], at: number): Promise<void>;
  services(): Promise<StoredService[]>;
  /** Applies state changes and their outbox events in one transaction; returns the slugs applied. */
  applyTransitions(changes: TransitionInput[], now: number): Promise<string[]>;
  pendingEvents(): Promise<OutboxEvent[]>;
  /**
   * [scale] The pending events, oldest first, that no other checker holds a live claim on, each
   * now claimed by `owner` until `now + leaseMs` (PostgreSQL: FOR UPDATE SKIP LOCKED): two checkers
   * never send the same event at once. settle() ends a claim; a claim that runs out frees the event.
   */
  claimEvents(owner: string, now: number, leaseMs: number, batch?: ClaimBatch): Promise<OutboxEvent[]>;
  /**
   * Whether `owner` still holds its claim on event `id` at `now` (claimed by it, lease not run out,
   * still pending): a checker asks before each send, and stops once another checker took its claims.
   */
  holdsClaim(id: number, owner: string, now: number): Promise<boolean>;
  /**
   * The trigger an event's incident sent to the same target (for resolve ordering), null when it
   * sent none: its status, its down time, and [targets] the receipt kept when it was delivered
   * (a Slack message's channel and ts; read cut to RECEIPT_MAX_CHARS, and checked by who uses it).
   */
  triggerOf(slug: string, incidentId: number, target: string): Promise<TriggerRecord | null>;
  settle(id: number, outcome: Settlement, now: number): Promise<void>;
  /**
   * A pending trigger whose target left the config goes to `targets` instead: a trigger for each
   * of them that the incident has not had yet is queued, with the same facts, and this one is
   * settled as skipped with `reason` — in one transaction. Returns how many triggers it queued.
   */
  reroute(id: number, targets: string[], reason: string, now: number): Promise<number>;
  /** Logs a failed attempt that will be retried within this run (for history); the event stays as it is. */
  noteAttempt(id: number, error: string, now: number): Promise<void>;
  pendingCounts(): Promise<Map<string, number>>;
  /**
   * [ecosystem] Per target among `targets` (by name), its pending events (refused ones included)
   * and how many of them were refused; a target with none is absent. Only the targets asked for:
   * rows for other names (planted, or a target no longer configured) cannot swell the answer.
   */
  targetDeliveries(targets: string[]): Promise<Map<string, { pending: number; refused: number }>>;
  /** Per service with something to tell: pending events, a standing refusal, the open incident's triggers. */
  deliveryStates(): Promise<Map<string, ServiceDelivery>>;
  /**
   * Times each service went down at or after `since`: triggers, and relapses while a resolve was
   * held (so a service that keeps flapping stays held however long it flaps).
   */
  recentTriggers(since: number): Promise<Map<string, number>>;
  /**
   * Pauses services (until null = until resumed); returns the slugs paused. `reason` is the
   * operator's (shown in status); `record` is the line history shows for the pause.
   */
  pause(slugs: string[], now: number, until: number | null, reason: string | null, record: string): Promise<string[]>;
  /** Ends pauses; each service gets a fresh window from now. Returns the slugs that were paused. */
  resume(slugs: string[], now: number): Promise<string[]>;
  /**
   * Checker gap: these services restart their clock at `to`, each with `record` as the line history
   * shows; the gap is remembered for status.
   */
  recordGap(slugs: string[], from: number, to: number, record: string): Promise<void>;
  /**
   * Last beats stamped after `now` (the writer's clock ahead) become beats at `now`, so the checker
   * judges those services from here on instead of from a future that may never come. Returns the
   * slugs changed; the beat sequence and the beats themselves are left as they are.
   */
  capFutureBeats(now: number): Promise<string[]>;
  lastGap(): Promise<{ from: number; to: number } | null>;
  /**
   * Deletes beats older than `beatsBefore` and settled records older than `recordsBefore` (never
   * what an open incident or a pending event needs); returns how many went. A store may stop
   * early to stay quick (the next run goes on).
   */
  prune(beatsBefore: number, recordsBefore: number): Promise<number>;
  history(slug: string, since: number, until: number): Promise<History>;
  /**
   * Takes the checker lock unless another live checker holds it. With `takeOverFrom` (a holder
   * known to be gone), a lock taken also frees that holder's claims on events.
   */
  acquireLock(owner: string, now: number, leaseMs: number, takeOverFrom?: string): Promise<{ acquired: boolean; holder: string | null }>;
  /**
   * Frees the lock, records the run (at, owner, and when it took the lock: its duration) for status,
   * gap protection and metrics, and drops the owner's remaining claims on events.
   */
  releaseLock(owner: string, lastRunAt: number): Promise<void>;
  /**
   * A check ran at `at` but could not evaluate (its config has problems): beats were still being
   * recorded, so that time is not a blind period for checker-gap protection.
   */
  noteCheckAttempt(at: number): Promise<void>;
  lastCheckAt(): Promise<number | null>;
  /**
   * [ecosystem] How long the last check that finished held the lock (from acquireLock to
   * releaseLock); null before the first, after a check that could not evaluate (noteCheckAttempt),
   * or in a database older than schema 7.
   */
  lastCheckDurationMs(): Promise<number | null>;
  /** [scale] Who ran the last check that finished (`pid@host`, the lock's owner), for status; null: none yet. */
  lastChecker(): Promise<string | null>;
  schemaVersion(): Promise<number>;
  /**
   * For doctor: whether the store exists yet, and whether this process could write it (or, when it
   * does not exist yet, create it), found out without changing anything. Rejects with a
   * DatabaseError (exit 74) saying why it cannot, and what to do.
   */
  probe(): Promise<StoreProbe>;
  close(): Promise<void>;
}

export interface StoreProbe {
  /** False when there is no database yet (a read-only open); the first `medic check` creates it. */
  exists: boolean;
}

export interface OpenOptions {
  /**
   * Never create, migrate or write: `status`, `history`, `check --dry-run` and `doctor`. A missing
   * database then reads as an empty one, and nothing is created; writes reject (exit 74).
   */
  readOnly?: boolean;
}
