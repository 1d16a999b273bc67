import { urlForDisplay } from '../errors.js';
import type { Config, Target } from '../config.js';
import { formatDuration } from '../core/duration.js';
import { dedupKey, severityFor, type ServiceSpec, type Severity } from '../core/service.js';
import type { OutboxEvent, TriggerFacts } from '../store/types.js';

/** PagerDuty's limit on payload.summary (Events API v2 docs). */
export const SUMMARY_LIMIT = 1024;
export const TEST_DEDUP_KEY = 'medic-test-alert';

/** The trigger for a service that went down (SPEC §4), without routing_key (added at send time). */
export function triggerBody(spec: ServiceSpec, facts: TriggerFacts, severity: Severity): Record<string, unknown> {
  const details: Record<string, unknown> = {
    service_slug: spec.slug,
    team: spec.team,
    priority: spec.priority,
    missed_heartbeats: facts.missedHeartbeats,
    last_seen: facts.lastBeatAt === null ? null : new Date(facts.lastBeatAt).toISOString(),
    threshold: { interval: formatDuration(spec.intervalMs), grace: formatDuration(spec.graceMs), missed_heartbeats: spec.threshold },
  };
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
  return {
    event_action: 'trigger',
    dedup_key: dedupKey(spec.slug),
    payload,
    ...(spec.runbook && { links: [{ href: spec.runbook, text: 'Runbook' }] }),
    client: 'Medic',
  };
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
  target: Target,
  config: Pick<Config, 'bySlug' | 'defaultSeverity'>,
): { body: Record<string, unknown> } | { problem: string } {
  if (typeof event.slug !== 'string' || !SLUG_SHAPE.test(event.slug)) return { problem: 'its service slug does not follow the slug rule' };
  if (event.dedupKey !== dedupKey(event.slug)) return { problem: `its dedup key is not ${dedupKey(event.slug)}` };
  if (event.action === 'resolve') return { body: { event_action: 'resolve', dedup_key: dedupKey(event.slug) } };
  if (event.action !== 'trigger') return { problem: 'its action is neither trigger nor resolve' };
  const spec = config.bySlug.get(event.slug);
  if (!spec) return { problem: `service ${event.slug} is no longer in the config, so its trigger cannot be built` };
  const facts = event.facts;
  if (!facts || !isInstant(facts.downAt) || (facts.lastBeatAt !== null && !isInstant(facts.lastBeatAt))) {
    return { problem: 'its down time or last beat is not a valid instant' };
  }
  if (!Number.isSafeInteger(facts.missedHeartbeats) || facts.missedHeartbeats < 0) return { problem: 'its missed heartbeats is not a count' };
  return { body: triggerBody(spec, facts, severityFor(spec, target.severity, config.defaultSeverity)) };
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
