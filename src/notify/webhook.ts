// [targets] Webhooks: a versioned JSON body, signed with HMAC-SHA256 over timestamp and body.
// docs/webhooks.md documents the body field by field, the headers and how to verify them.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { WebhookTarget } from '../config.js';
import { dedupKey } from '../core/service.js';
import { hideSecrets, redactSecrets, urlForDisplay } from '../errors.js';
import { clip, MAX_SHOWN_CHARS, oneLine, redirectLocation, retryAfterMs, type Answered } from './http.js';
import { describeKeyRef, keyRefOf } from './keys.js';
import { REFUSAL_AGAIN, type Driver, type Outcome, type Outgoing, type Poster } from './outbound.js';
import { SUMMARY_LIMIT, TEST_DEDUP_KEY, triggerBody, type PdAnswer } from './pagerduty.js';

export const WEBHOOK_VERSION = 1;
export const SIGNATURE_HEADER = 'X-Medic-Signature';
export const EVENT_HEADER = 'X-Medic-Event';
export const EVENT_ID_HEADER = 'X-Medic-Event-Id';
/** A receiver rejects a signature whose `t` is further than this from its clock (a replay). */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

/** What a webhook body is built from: an outbox event as the delivery loop gives it. */
export type WebhookEvent = Pick<Outgoing<WebhookTarget>, 'eventId' | 'action' | 'slug' | 'incidentId' | 'spec' | 'facts' | 'severity' | 'openedAt' | 'queuedAt' | 'host' | 'now'>;

/**
 * The event's id, `evt_<40 hex>` (not 32 characters: a 32-character token reads as a routing key and is hidden when shown): the same for every attempt of one outbox event (in any run, by
 * any checker: all of it is fixed on the row when the event is queued; not openedAt, which a
 * resolve reads from its trigger's row and could lose), different for every other event, and not
 * reused when the database is recreated and its row ids start again (the queue time differs).
 * A receiver drops a repeat by it.
 */
export function webhookEventId(event: Pick<WebhookEvent, 'eventId' | 'slug' | 'incidentId' | 'queuedAt' | 'action'>): string {
  const fields = [event.eventId, event.slug, event.incidentId, event.queuedAt, event.action];
  return `evt_${createHash('sha256').update(`medic-webhook-event\n${JSON.stringify(fields)}`).digest('hex').slice(0, 40)}`;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/**
 * The body of version 1, keys in a fixed order (docs/webhooks.md). A trigger's `details` are the
 * custom_details PagerDuty gets (built by the same function, so the two never drift); a resolve has
 * `reason` and `details` null. A service no longer in the config is named by its slug alone.
 */
export function webhookBody(event: WebhookEvent): Record<string, unknown> {
  const { spec, facts } = event;
  const trigger = event.action === 'trigger';
  const name = spec?.name ?? event.slug;
  const details = trigger && spec && facts ? ((triggerBody(spec, facts, event.severity).payload as Record<string, unknown>).custom_details as Record<string, unknown>) : null;
  return {
    version: WEBHOOK_VERSION,
    id: webhookEventId(event),
    event: event.action,
    sent_at: iso(event.now),
    // A resolve for a service that left the config (spec null) closes its incident; nobody knows it is back.
    summary: `${trigger ? 'Heartbeat failure' : spec ? 'Recovered' : 'Closed, no longer monitored'}: ${name}`.slice(0, SUMMARY_LIMIT),
    severity: event.severity,
    service: {
      slug: event.slug,
      name: spec?.name ?? null,
      team: spec?.team ?? null,
      priority: spec?.priority ?? null,
      runbook_url: spec?.runbook ?? null,
    },
    incident: {
      id: event.incidentId,
      dedup_key: dedupKey(event.slug),
      opened_at: iso(event.openedAt),
      resolved_at: trigger ? null : iso(event.queuedAt),
    },
    reason: trigger ? (facts?.reason ?? 'missed') : null,
    details,
    host: event.host,
  };
}

/** `medic test-alert`'s event: a body of the same shape, `test: true`, for a service that does not exist. */
export function webhookTestBody(input: { resolve: boolean; host: string; now: number; id: string }): Record<string, unknown> {
  const trigger = !input.resolve;
  return {
    version: WEBHOOK_VERSION,
    id: input.id,
    event: trigger ? 'trigger' : 'resolve',
    test: true,
    sent_at: iso(input.now),
    summary: trigger ? 'Medic test alert - integration working!' : 'Recovered: Medic test alert',
    severity: 'info',
    service: { slug: 'test-service', name: 'test-service', team: 'test-team', priority: null, runbook_url: null },
    incident: { id: null, dedup_key: TEST_DEDUP_KEY, opened_at: null, resolved_at: trigger ? null : iso(input.now) },
    reason: null,
    details: null,
    host: input.host,
  };
}

/** The hex HMAC-SHA256 of `<t>.<body>` with the secret: what `v1=` carries. */
function mac(secret: string, body: string, tSeconds: number): string {
  return createHmac('sha256', secret).update(`${tSeconds}.${body}`).digest('hex');
}

/** The X-Medic-Signature header for these exact body bytes at `tSeconds` (unix seconds). */
export function signBody(secret: string, body: string, tSeconds: number): string {
  return `t=${tSeconds},v1=${mac(secret, body, tSeconds)}`;
}

/**
 * Whether `header` (X-Medic-Signature) signs `body` with `secret`, and was made within
 * `toleranceSeconds` of `nowSeconds` (older or newer: a replay, or a clock far off). Compared in
 * constant time. Several `v1=` are allowed (one matching is enough), for a secret being rotated.
 */
export function verifySignature(
  secret: string,
  header: string | undefined,
  body: string,
  nowSeconds: number,
  toleranceSeconds = SIGNATURE_TOLERANCE_SECONDS,
): { ok: true } | { ok: false; reason: string } {
  if (!header) return { ok: false, reason: 'no signature header' };
  let t: number | undefined;
  const macs: Buffer[] = [];
  for (const part of header.split(',')) {
    const [k, v, ...rest] = part.trim().split('=');
    if (rest.length > 0 || v === undefined) return { ok: false, reason: 'garbled signature header' };
    if (k === 't' && /^\d{1,12}$/.test(v) && t === undefined) t = Number(v);
    else if (k === 'v1' && /^[0-9a-f]{64}$/.test(v)) macs.push(Buffer.from(v, 'hex'));
    else return { ok: false, reason: 'garbled signature header' };
  }
  if (t === undefined || macs.length === 0) return { ok: false, reason: 'garbled signature header' };
  if (Math.abs(nowSeconds - t) > toleranceSeconds) return { ok: false, reason: `timestamp ${t} is more than ${toleranceSeconds}s from now` };
  const expected = Buffer.from(mac(secret, body, t), 'hex');
  return macs.some((m) => timingSafeEqual(m, expected)) ? { ok: true } : { ok: false, reason: 'signature does not match' };
}

/** The request for one body: its exact bytes, signed at `now`, with the event's headers. */
function signedRequest(target: WebhookTarget, secret: string, body: Record<string, unknown>, now: number) {
  const text = JSON.stringify(body);
  return {
    url: target.url,
    body: text,
    headers: {
      [SIGNATURE_HEADER]: signBody(secret, text, Math.floor(now / 1000)),
      [EVENT_HEADER]: String(body.event),
      [EVENT_ID_HEADER]: String(body.id),
    },
    timeoutMs: target.timeoutMs,
    hide: [secret],
  };
}

/**
 * What the receiver said, as kept and shown: its text (not only known JSON fields: a receiver
 * answers what it likes), the secret hidden whole in any letter case (also where JSON escaped it),
 * key-shaped tokens hidden, one line, bounded.
 */
export function receiverSaid(text: string, secret: string): PdAnswer {
  const decoded = text.replace(/\\u([0-9a-fA-F]{4})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  const said = clip(oneLine(redactSecrets(hideSecrets(decoded, [secret], '<secret>'), [], { keyShaped: true })), MAX_SHOWN_CHARS);
  return said ? { message: said } : {};
}

/**
 * What an answer means: 2xx delivered; 408, 429 (after Retry-After) and 5xx tried again; a redirect
 * (never followed) and any other 4xx refused until the target's url or secret changes.
 */
export function judgeWebhookAnswer(res: Answered, target: WebhookTarget, secret: string, now: number): Outcome {
  const { status } = res;
  const answer = receiverSaid(res.text, secret);
  if (status >= 200 && status < 300) return { ok: true, status, answer };
  if (status >= 300 && status < 400) {
    const where = redirectLocation(res, target.url, [secret]);
    // Where it points says more than a redirect's body: it leads what is kept and shown.
    const said = `a redirect to ${where}, not followed${answer.message ? ` — ${answer.message}` : ''}`;
    return { ok: false, permanent: true, status, error: `HTTP ${status}`, answer: { message: clip(said, MAX_SHOWN_CHARS) } };
  }
  const retryable = status === 408 || status === 429 || status >= 500;
  const retryAfter = retryAfterMs(res.headers['retry-after'], now);
  return { ok: false, permanent: !retryable, status, error: `HTTP ${status}`, answer, ...(retryAfter !== undefined && { retryAfterMs: retryAfter }) };
}

async function postSigned(target: WebhookTarget, secret: string, body: Record<string, unknown>, now: number, post: Poster): Promise<Outcome> {
  const res = await post(signedRequest(target, secret, body, now));
  // No answer (a timeout, a refused connection): tried again; the poster has hidden the secret.
  if ('error' in res) return { ok: false, permanent: false, status: res.status, error: res.error };
  return judgeWebhookAnswer(res, target, secret, now);
}

/** Sends one outbox event to a webhook target (see Driver): one signed POST. */
export const sendWebhook: Driver<WebhookTarget> = async (out, post) => postSigned(out.target, out.secret, webhookBody(out), out.now, post);

/** What to do about a refusal the receiver gave (a 3xx or a 4xx other than 408/429). */
export function webhookRefusalHint(status: number | null, answer: string, target: WebhookTarget): string {
  void answer;
  const again = REFUSAL_AGAIN;
  if (status === 401 || status === 403) {
    return `the receiver did not accept the signature: give it the same secret as ${describeKeyRef(keyRefOf(target))} (or put the receiver's secret there), and check that this machine's clock and the receiver's agree (a signature more than 5 minutes old or early is refused: NTP)
${again}`;
  }
  if (status !== null && ((status >= 300 && status < 400) || status === 404 || status === 405)) {
    return `check targets.${target.name}.url (${urlForDisplay(target.url)}): the receiver does not take events there
${again}`;
  }
  return `the receiver refused the event's content (its answer says why; the body is version ${WEBHOOK_VERSION}, see docs/webhooks.md)
${again}`;
}

/**
 * `medic test-alert`: a test event, signed like every event (its resolve with `resolve`), through the same
 * requests and answer rules as a real event; nothing is kept.
 */
export async function webhookTest(input: { target: WebhookTarget; secret: string; resolve: boolean; host: string; now: number }, post: Poster): Promise<Outcome> {
  const body = webhookTestBody({ resolve: input.resolve, host: input.host, now: input.now, id: `evt_${randomBytes(20).toString('hex')}` });
  return postSigned(input.target, input.secret, body, input.now, post);
}
