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

export interface TransitionInput {
  slug: string;
  /** The version loaded with the service; the change is skipped if someone else changed it. */
  version: number;
  from: string;
  to: 'down' | 'up';
  /** When it really happened: the deadline for down, the beat for up. */
  at: number;
  reason: string;
  /** For down: the beat sequence at opening. */
  beatSeq: number;
  /** For up: the incident being resolved. */
  incidentId: number | null;
  /** Events to enqueue with the change, in the same transaction. */
  events: NewEvent[] | 'resolve-sent-triggers';
}

export type Settlement =
  | { status: 'delivered'; response: string }
  | { status: 'rejected'; error: string; response: string }
  | { status: 'skipped'; error: string }
  | { status: 'retry'; error: string; nextAttemptAt: number };

export interface Store {
  recordBeat(slug: string, at: number): Promise<void>;
  /** Adds services seen for the first time in the config, registered at `at`. */
  register(slugs: string[], at: number): Promise<void>;
  services(): Promise<StoredService[]>;
  /** Applies state changes and their outbox events in one transaction; returns the slugs applied. */
  applyTransitions(changes: TransitionInput[], now: number): Promise<string[]>;
  pendingEvents(): Promise<OutboxEvent[]>;
  /** Status of the trigger an event's incident sent to the same target (for resolve ordering). */
  triggerStatus(incidentId: number, target: string): Promise<EventStatus | null>;
  settle(id: number, outcome: Settlement, now: number): Promise<void>;
  pendingCounts(): Promise<Map<string, number>>;
  /** Takes the checker lock unless another live checker holds it. */
  acquireLock(owner: string, now: number, leaseMs: number, takeOverFrom?: string): Promise<{ acquired: boolean; holder: string | null }>;
  releaseLock(owner: string, lastRunAt: number): Promise<void>;
  lastCheckAt(): Promise<number | null>;
  schemaVersion(): Promise<number>;
  close(): void;
}
