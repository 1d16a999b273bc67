import { formatDuration } from '../core/duration.js';
import { dedupKey, type ServiceSpec, type Severity } from '../core/service.js';
import type { Evaluation } from '../core/state.js';

/** PagerDuty's limit on payload.summary (Events API v2 docs). */
export const SUMMARY_LIMIT = 1024;
export const TEST_DEDUP_KEY = 'medic-test-alert';

/** The trigger for a service that went down (SPEC §4), without routing_key (added at send time). */
export function triggerBody(spec: ServiceSpec, evaluation: Evaluation, lastBeatAt: number | null, severity: Severity): Record<string, unknown> {
  const details: Record<string, unknown> = {
    service_slug: spec.slug,
    team: spec.team,
    priority: spec.priority,
    missed_heartbeats: evaluation.missedHeartbeats,
    last_seen: lastBeatAt === null ? null : new Date(lastBeatAt).toISOString(),
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
    timestamp: new Date(evaluation.deadlineAt).toISOString(),
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
