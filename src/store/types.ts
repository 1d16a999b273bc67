import type { ServiceRecord } from '../core/state.js';

export type Action = 'trigger' | 'resolve';
export type EventStatus = 'pending' | 'delivered' | 'rejected' | 'skipped';

/** Where a routing key is read from at send time: `env:NAME` or `file:/abs/path`. Never the key. */
export type KeyRef = `env:${string}` | `file:${string}`;

export interface StoredService extends ServiceRecord {
  /** Compare-and-set token: bumped by every change a check makes. */
  version: number;
  /** Id of the transition that opened the open incident. */
  incidentId: number | null;
}

export interface NewEvent {
  target: string;
  eventsUrl: string;
  keyRef: KeyRef;
  action: Action;
  dedupKey: string;
  /** The Events API body without routing_key, which is added at send time. */
  body: Record<string, unknown>;
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

export interface History {
  beats: number[];
  transitions: { at: number; recordedAt: number; from: string; to: string; reason: string }[];
  deliveries: { at: number; target: string; action: string; outcome: string; detail: string | null }[];
}

export type Settlement =
  | { status: 'delivered'; response: string }
  | { status: 'rejected'; error: string; response: string }
  | { status: 'skipped'; error: string }
  | { status: 'retry'; error: string; nextAttemptAt: number };

export interface Store {
  recordBeat(slug: string, at: number): Promise<void>;
  /** Drops the live state of services no longer in the config (not their history); open incidents stay. */
  forget(slugs: string[]): Promise<void>;
  /** Adds services seen for the first time in the config, registered at `at`. */
  register(slugs: string[], at: number): Promise<void>;
  services(): Promise<StoredService[]>;
  /** Applies state changes and their outbox events in one transaction; returns the slugs applied. */
  applyTransitions(changes: TransitionInput[], now: number): Promise<string[]>;
  pendingEvents(): Promise<OutboxEvent[]>;
  /** Status of the trigger an event's incident sent to the same target (for resolve ordering). */
  triggerStatus(incidentId: number, target: string): Promise<EventStatus | null>;
  settle(id: number, outcome: Settlement, now: number): Promise<void>;
  /** Logs a failed attempt that will be retried within this run (for history); the event stays as it is. */
  noteAttempt(id: number, error: string, now: number): Promise<void>;
  pendingCounts(): Promise<Map<string, number>>;
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
  /** Takes the checker lock unless another live checker holds it. */
  acquireLock(owner: string, now: number, leaseMs: number, takeOverFrom?: string): Promise<{ acquired: boolean; holder: string | null }>;
  releaseLock(owner: string, lastRunAt: number): Promise<void>;
  lastCheckAt(): Promise<number | null>;
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
