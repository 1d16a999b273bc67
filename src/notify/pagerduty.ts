import { hideSlackSecrets, redactKnownKeys, urlForDisplay } from '../errors.js';
import type { Config, Target } from '../config.js';
import { formatDuration } from '../core/duration.js';
import { dedupKey, severityFor, type ServiceSpec, type Severity } from '../core/service.js';
import { MESSAGE_MAX_CHARS, OUTPUT_TAIL_MAX_BYTES, type DownReason } from '../core/signal.js';
import { isExitCode, tailUtf8 } from '../core/signal-bounds.js';
import type { OutboxEvent, TriggerFacts } from '../store/types.js';

/** PagerDuty's limit on payload.summary (Events API v2 docs). */
export const SUMMARY_LIMIT = 1024;
/** PagerDuty's limit on a whole event (its JSON text, routing_key included): 512 KB. */
export const EVENT_LIMIT_BYTES = 512 * 1024;
/** Room kept for `"routing_key":"<32 chars>",` added at send time, and then some. */
const ROUTING_KEY_ROOM = 64;
const REASONS: readonly DownReason[] = ['missed', 'failed', 'stuck'];
export const TEST_DEDUP_KEY = 'medic-test-alert';

/**
 * The trigger for a service that went down (SPEC §4), without routing_key (added at send time).
 * custom_details say why (`reason`): for a failure its exit code, duration, message and output
 * tail (only those it has); for a stuck run when it started and the limit it outran. The body
 * stays within PagerDuty's 512 KB: the output tail gives way (its start is cut), nothing fails.
 */
export function triggerBody(spec: ServiceSpec, facts: TriggerFacts, severity: Severity): Record<string, unknown> {
  const reason = facts.reason ?? 'missed';
  const threshold =
    spec.schedule !== null
      ? { schedule: spec.schedule.expr, timezone: spec.schedule.timezone, grace: formatDuration(spec.graceMs), missed_heartbeats: spec.threshold }
      : { interval: formatDuration(spec.intervalMs ?? 0), grace: formatDuration(spec.graceMs), missed_heartbeats: spec.threshold };
  const details: Record<string, unknown> = {
    service_slug: spec.slug,
    team: spec.team,
    priority: spec.priority,
    missed_heartbeats: facts.missedHeartbeats,
    last_seen: facts.lastBeatAt === null ? null : new Date(facts.lastBeatAt).toISOString(),
    threshold,
    reason,
  };
  if (reason === 'failed') {
    if (facts.exitCode != null) details.exit_code = facts.exitCode;
    if (facts.durationMs != null) details.duration_ms = facts.durationMs;
    if (facts.message != null) details.message = facts.message.slice(0, MESSAGE_MAX_CHARS);
    const tail = facts.outputTail == null ? '' : tailUtf8(facts.outputTail, Math.min(spec.outputTailBytes, OUTPUT_TAIL_MAX_BYTES));
    if (tail !== '') details.output_tail = tail;
  }
  if (reason === 'stuck' && spec.maxRuntimeMs !== null && isInstant(facts.downAt - spec.maxRuntimeMs)) {
    details.started_at = new Date(facts.downAt - spec.maxRuntimeMs).toISOString();
    details.max_runtime = formatDuration(spec.maxRuntimeMs);
  }
  if (spec.runbook) details.runbook_url = spec.runbook;
  const payload: Record<string, unknown> = {
    summary: `Heartbeat failure: ${spec.name}`.slice(0, SUMMARY_LIMIT),
    severity,
    source: 'medic',
    component: spec.name,
    ...(spec.team !== null && { group: spec.team }),
    class: 'heartbeat_failure',
    timestamp: new Date(facts.downAt).toISOString(),
    custom_details: details,
  };
  const body = {
    event_action: 'trigger',
    dedup_key: dedupKey(spec.slug),
    payload,
    ...(spec.runbook && { links: [{ href: spec.runbook, text: 'Runbook' }] }),
    client: 'Medic',
  };
  fitOutputTail(body, details);
  return body;
}

/** Cuts the output tail (from its start) until the whole event fits PagerDuty's limit; drops it when nothing else would. */
function fitOutputTail(body: Record<string, unknown>, details: Record<string, unknown>): void {
  const size = () => Buffer.byteLength(JSON.stringify(body)) + ROUTING_KEY_ROOM;
  for (let over = size() - EVENT_LIMIT_BYTES; over > 0 && typeof details.output_tail === 'string'; over = size() - EVENT_LIMIT_BYTES) {
    const tail = details.output_tail;
    // JSON may spend up to 6 bytes on one byte of text (\u0000): cut at least what is over, and at least half.
    const keep = Math.min(Buffer.byteLength(tail) - Math.ceil(over / 6) - 1, Math.floor(Buffer.byteLength(tail) / 2));
    if (keep <= 0) delete details.output_tail;
    else details.output_tail = tailUtf8(tail, keep);
  }
}

/** The config's slug rule (medic.schema.json): a stored slug that breaks it was not written by Medic. */
const SLUG_SHAPE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** The range of a JavaScript Date: an instant outside it cannot be written as ISO 8601. */
const MAX_INSTANT = 8.64e15;

/**
 * The Events API body for a queued event (without routing_key), rebuilt at send time from what
 * the event knows (slug, action, dedup key, the facts Medic computed) and the current config
 * (the service's name, team, priority, runbook and severity). The row comes from the database,
 * which is not trusted (SPEC §5, §8): anything that Medic would not have written is a problem,
 * and nothing is built from it.
 */
export function eventBody(
  event: Pick<OutboxEvent, 'slug' | 'action' | 'dedupKey' | 'facts'>,
  target: Pick<Target, 'severity'>,
  config: Pick<Config, 'bySlug' | 'defaultSeverity'>,
): { body: Record<string, unknown> } | { problem: string } {
  const checked = checkedEvent(event, config);
  if ('problem' in checked) return checked;
  if (checked.action === 'resolve') return { body: { event_action: 'resolve', dedup_key: dedupKey(event.slug) } };
  return { body: triggerBody(checked.spec, checked.facts, severityFor(checked.spec, target.severity, config.defaultSeverity)) };
}

/**
 * A queued event as every target type may use it: its slug, dedup key and action as Medic writes
 * them, and for a trigger the service as configured now and the facts checked and bounded. The
 * row comes from the database, which is not trusted: anything Medic would not have written is a
 * problem, and nothing is built from it.
 */
export function checkedEvent(
  event: Pick<OutboxEvent, 'slug' | 'action' | 'dedupKey' | 'facts'>,
  config: Pick<Config, 'bySlug'>,
): { action: 'resolve' } | { action: 'trigger'; spec: ServiceSpec; facts: TriggerFacts } | { problem: string } {
  if (typeof event.slug !== 'string' || !SLUG_SHAPE.test(event.slug)) return { problem: 'its service slug does not follow the slug rule' };
  if (event.dedupKey !== dedupKey(event.slug)) return { problem: `its dedup key is not ${dedupKey(event.slug)}` };
  if (event.action === 'resolve') return { action: 'resolve' };
  if (event.action !== 'trigger') return { problem: 'its action is neither trigger nor resolve' };
  const spec = config.bySlug.get(event.slug);
  if (!spec) return { problem: `service ${event.slug} is no longer in the config, so its trigger cannot be built` };
  const facts = event.facts;
  if (!facts || !isInstant(facts.downAt) || (facts.lastBeatAt !== null && !isInstant(facts.lastBeatAt))) {
    return { problem: 'its down time or last beat is not a valid instant' };
  }
  if (!Number.isSafeInteger(facts.missedHeartbeats) || facts.missedHeartbeats < 0) return { problem: 'its missed heartbeats is not a count' };
  const run = runFacts(facts);
  if ('problem' in run) return run;
  return { action: 'trigger', spec, facts: { ...facts, ...run.facts } };
}

/**
 * The [jobs] facts as stored, checked and bounded: a reason Medic knows (absent: missed, as
 * written before schema 4), whole numbers for the exit code and duration, text for the message
 * and output (cut to their bounds: a 10 MB output tail is cut, not sent, not refused).
 */
function runFacts(facts: TriggerFacts): { facts: Partial<TriggerFacts> } | { problem: string } {
  const reason = facts.reason ?? 'missed';
  if (!REASONS.includes(reason)) return { problem: 'its reason is not missed, failed or stuck' };
  const { exitCode, durationMs, message, outputTail } = facts;
  if (message != null && typeof message !== 'string') return { problem: 'its message is not text' };
  if (outputTail != null && typeof outputTail !== 'string') return { problem: 'its output tail is not text' };
  return {
    facts: {
      reason,
      // A detail out of range is left out, never the page (boundDetails applies the same rule when storing).
      exitCode: isExitCode(exitCode) ? exitCode : null,
      durationMs: Number.isSafeInteger(durationMs) && durationMs! >= 0 ? durationMs : null,
      message: message == null ? null : message.slice(0, MESSAGE_MAX_CHARS),
      outputTail: outputTail == null ? null : tailUtf8(outputTail, OUTPUT_TAIL_MAX_BYTES),
    },
  };
}

function isInstant(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && Math.abs(value) <= MAX_INSTANT;
}

/** The guide's "Manual Test with curl" bodies, field for field (without routing_key). */
export function testAlertBody(resolve: boolean): Record<string, unknown> {
  if (resolve) return { event_action: 'resolve', dedup_key: TEST_DEDUP_KEY };
  return {
    event_action: 'trigger',
    dedup_key: TEST_DEDUP_KEY,
    payload: {
      summary: 'Medic test alert - integration working!',
      severity: 'info',
      source: 'medic-test',
      component: 'test-service',
      group: 'test-team',
      class: 'test',
    },
  };
}

/** The guide's "Invalid Routing Key" fix, shown when PagerDuty rejects a key. */
export const INVALID_KEY_STEPS = [
  'Go to PagerDuty → Services → Your Service → Integrations',
  'Verify the Events API v2 integration exists',
  'Copy the integration key again',
  'Update PAGERDUTY_ROUTING_KEY in your environment (or the variable/file the target names)',
];

/** The same steps as one hint line. */
export const INVALID_KEY_HINT = `"Invalid Routing Key" fix: ${INVALID_KEY_STEPS.map((s, i) => `${i + 1}. ${s}`).join(' ')}`;

export interface PdAnswer {
  status?: string;
  message?: string;
  dedup_key?: string;
  errors?: string[];
}

/** PagerDuty answers JSON, but a 400 may be plain text: keep whatever it said. */
export function parseAnswer(text: string): PdAnswer {
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as PdAnswer;
  } catch {
    // plain text, handled below
  }
  const trimmed = text.trim();
  return trimmed ? { message: trimmed.slice(0, 500) } : {};
}

/** One line quoting PagerDuty's own words: "Event object is invalid: 'routing_key' is invalid". */
export function describeAnswer(answer: PdAnswer): string {
  const parts = [answer.message ?? answer.status, ...(Array.isArray(answer.errors) ? answer.errors : [])].filter(Boolean);
  return parts.length > 0 ? parts.join(': ') : 'no details given';
}

export function mentionsRoutingKey(answer: PdAnswer): boolean {
  return /routing.?key|integration key/i.test(describeAnswer(answer));
}

/** PagerDuty's answer, as kept with a refusal and quoted in messages: bounded. */
export const ANSWER_LIMIT = 1000;

export function boundedAnswer(text: string): string {
  return text.length <= ANSWER_LIMIT ? text : `${text.slice(0, ANSWER_LIMIT)}… (cut)`;
}

/**
 * What to do about a refusal (a 3xx, or a 4xx other than 408/429): the guide's "Invalid Routing
 * Key" steps when it is about the key (its words, or 401/403), the events URL for a redirect or an
 * unknown path, else a 400 about the event's content, which would be a bug in Medic.
 */
export function refusalHint(status: number | null, answer: string, eventsUrl: string): string {
  const again = 'once fixed, the next check sends it again (or now: medic check --retry-refused)';
  if (/routing.?key|integration key/i.test(answer) || status === 401 || status === 403) return `${INVALID_KEY_HINT}
${again}`;
  if (status !== null && ((status >= 300 && status < 400) || status === 404 || status === 405)) {
    return `check the target's eventsUrl (${urlForDisplay(eventsUrl)}); PagerDuty's is https://events.pagerduty.com/v2/enqueue (EU: https://events.eu.pagerduty.com/v2/enqueue)
${again}`;
  }
  if (status === 400) return `PagerDuty refused the event's content: if the routing key is right, this is a bug in Medic; please report it with PagerDuty's answer
${again}`;
  return `check the target's routing key and eventsUrl (${urlForDisplay(eventsUrl)})
${again}`;
}

/**
 * The trigger body with every given routing key hidden (`a1b2…o5p6`) in the text that came from a
 * job (its message and output tail): the key of the target it is sent to, and keys in the
 * environment, may have been printed by the job, and are never sent on.
 */
export function withoutKeysInDetails(body: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const details = (body.payload as { custom_details?: Record<string, unknown> } | undefined)?.custom_details;
  if (!details) return body;
  const clean = { ...details };
  for (const field of ['message', 'output_tail']) if (typeof clean[field] === 'string') clean[field] = hideSlackSecrets(redactKnownKeys(clean[field] as string, keys));
  return { ...body, payload: { ...(body.payload as object), custom_details: clean } };
}
