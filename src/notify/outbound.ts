// [targets] What Slack and webhook targets share with the delivery loop (deliver.ts): the request
// they make through an injected poster, the event as they are given it (checked and bounded, never
// a raw database row), and what one attempt comes to. PagerDuty keeps its own sender (http.ts).
import type { SlackTarget, WebhookTarget } from '../config.js';
import type { ServiceSpec, Severity } from '../core/service.js';
import type { TriggerFacts } from '../store/types.js';
import type { Answered, SendResult } from './http.js';

export interface OutboundRequest {
  url: string;
  /** The exact bytes sent (a webhook's signature covers them). */
  body: string;
  headers: Record<string, string>;
  /** Default application/json. */
  contentType?: string;
  timeoutMs: number;
  /** Secrets the request holds (a Slack webhook URL, a token): hidden in any error text. */
  hide: readonly string[];
}

/**
 * One bounded POST: the answer (status, headers, at most MAX_READ_BYTES of text), or why there was
 * none (a timeout, a refused connection), with `hide` never in it. httpPoster in http.ts; a fake
 * in unit tests.
 */
export type Poster = (req: OutboundRequest) => Promise<Answered | { error: string; status: number | null }>;

/**
 * How one attempt ended, as for PagerDuty (SendResult: ok, or permanent = refused until the
 * target's config changes, else retried), plus the receipt of a Slack message posted with a bot
 * token, kept with the trigger so that its resolve can edit it.
 */
export type Outcome = SendResult & { receipt?: string };

/** One outbox event, as a Slack or webhook target is asked to send it. Everything in it is checked. */
export interface Outgoing<T extends SlackTarget | WebhookTarget = SlackTarget | WebhookTarget> {
  target: T;
  /** The target's secret, read and shape-checked just now: a Slack webhook URL or bot token, a signing secret. */
  secret: string;
  /** The outbox row's id: stable across retries, runs and checkers (a webhook's event id is built from it). */
  eventId: number;
  action: 'trigger' | 'resolve';
  slug: string;
  /** `medic-heartbeat-<slug>`. */
  dedupKey: string;
  /** The transition that opened the incident: one id per outage. */
  incidentId: number;
  /** The service as configured now; null when it left the config (its resolve still goes out). */
  spec: ServiceSpec | null;
  /** For a trigger: what Medic computed, checked and bounded, job text already cleaned of secrets. Null for a resolve. */
  facts: TriggerFacts | null;
  /** The service's severity for this target (after overrides); for a removed service, "info". */
  severity: Severity;
  /** When the incident opened (its trigger's down time), for "recovered after 42m"; null when unknown. */
  openedAt: number | null;
  /** When the event was queued: for a resolve, the check that saw the service back. */
  queuedAt: number;
  /** The machine that runs this check (printable, at most 253 characters). */
  host: string;
  /** For a resolve: the receipt kept with its trigger (as stored: check it before trusting it); null when none. */
  receipt: string | null;
  /** Now (ms): the signature's timestamp, "sent at". */
  now: number;
}

/**
 * The last line of every Slack and webhook refusal hint: such a refusal is often cured where Medic
 * cannot see it (deliver.ts tries it again every 10 minutes, REFUSAL_RETRY_MS).
 */
export const REFUSAL_AGAIN = "once fixed, it is sent again within 10 minutes (now: medic check --retry-refused; a change to the target's secret or URL sends it at the next check)";

/** Sends one event to a Slack or webhook target: one attempt (a Slack resolve may make two requests). */
export type Driver<T extends SlackTarget | WebhookTarget = SlackTarget | WebhookTarget> = (out: Outgoing<T>, post: Poster) => Promise<Outcome>;
