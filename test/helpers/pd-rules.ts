/**
 * Test oracle for PagerDuty Events API v2 alert events (the body Medic POSTs to `/v2/enqueue`),
 * against the rules in test/fixtures/pagerduty.ts: fields, types, enums, nested payload / links /
 * images shapes, the `date-time` format, the allowed top-level keys, and the limits and
 * conditional requirements that PagerDuty's docs state in prose (PD_LIMITS).
 *
 * Node builtins only.
 */
import { ALERT_EVENT, PD_LIMITS, type FieldRule } from '../fixtures/pagerduty.js';

export { PD_LIMITS };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return v.length > 40 ? `string "${v.slice(0, 37)}..."` : `"${v}"`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

function typeMatches(type: NonNullable<FieldRule['type']>, v: unknown): boolean {
  if (type === 'object') return isObject(v);
  if (type === 'array') return Array.isArray(v);
  return typeof v === type;
}

const ISO_DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?(?:[Zz]|([+-])(\d{2})(?::?(\d{2}))?)$/;

/**
 * ISO 8601 calendar date-time with a time-zone designator: `YYYY-MM-DDThh:mm[:ss[.fff]]`
 * followed by `Z`, `±hh:mm`, `±hhmm` or `±hh`. (`+0000` is accepted because the
 * Events API's own example uses `2015-07-17T08:42:58.315+0000`.)
 */
export function isIsoDateTime(s: string): boolean {
  const m = ISO_DATE_TIME.exec(s);
  if (!m) return false;
  const [year, month, day, hour, minute] = [m[1], m[2], m[3], m[4], m[5]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const second = m[6] === undefined ? 0 : Number(m[6]);
  if (month < 1 || month > 12) return false;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day < 1 || day > daysInMonth) return false;
  if (hour > 23 || minute > 59 || second > 60) return false;
  if (m[8] !== undefined) {
    const oh = Number(m[8]);
    const om = m[9] === undefined ? 0 : Number(m[9]);
    if (oh > 23 || om > 59) return false;
  }
  return true;
}

/** Checks `value` against one field rule, recursively. */
function check(schema: FieldRule, value: unknown, path: string, out: string[]): void {
  if (schema.enum !== undefined && !schema.enum.some((e) => e === value)) {
    out.push(`${path} must be one of ${schema.enum.map((e) => String(e)).join(', ')} (got ${describe(value)}).`);
    return;
  }
  if (schema.type !== undefined && !typeMatches(schema.type, value)) {
    const article = /^[aeiou]/.test(schema.type) ? 'an' : 'a';
    out.push(`${path} must be ${article} ${schema.type} (got ${describe(value)}).`);
    return;
  }
  if (schema.format === 'date-time' && typeof value === 'string' && !isIsoDateTime(value)) {
    out.push(`${path} must be an ISO 8601 date-time with a time zone (got ${describe(value)}).`);
  }
  if (isObject(value)) {
    for (const key of schema.required ?? []) {
      if (value[key] === undefined) out.push(`${path}.${key} is required.`);
    }
    for (const [key, sub] of Object.entries(schema.properties ?? {})) {
      if (value[key] !== undefined) check(sub, value[key], `${path}.${key}`, out);
    }
  }
  const items = schema.items;
  if (Array.isArray(value) && items !== undefined) {
    value.forEach((item, i) => check(items, item, `${path}[${i}]`, out));
  }
}

/**
 * Validate one Events API v2 alert event (the JSON body of `POST /v2/enqueue`).
 *
 * `body` is the event object (or its JSON text). Keys whose value is `undefined`
 * count as absent, as `JSON.stringify` drops them.
 *
 * Returns `[]` when the event is valid, otherwise one short sentence per problem,
 * each naming the field (`routing_key`, `payload.summary`, `links[0].href`, ...).
 */
export function eventProblems(body: unknown): string[] {
  const topLevelKeys = Object.keys(ALERT_EVENT.properties!);
  const out: string[] = [];

  let event: unknown = body;
  if (typeof body === 'string') {
    try {
      event = JSON.parse(body);
    } catch {
      return ['event is not valid JSON.'];
    }
  }
  if (!isObject(event)) return [`event must be a JSON object (got ${describe(event)}).`];

  // Whole-event size (512 KB).
  let serialized: string | undefined;
  try {
    serialized = typeof body === 'string' ? body : JSON.stringify(event);
  } catch (e) {
    out.push(`event cannot be serialized to JSON (${(e as Error).message}).`);
  }
  if (serialized !== undefined) {
    const bytes = Buffer.byteLength(serialized, 'utf8');
    if (bytes > PD_LIMITS.eventMaxBytes) {
      out.push(`event is ${bytes} bytes serialized; the limit is ${PD_LIMITS.eventMaxBytes} bytes (512 KB).`);
    }
  }

  // No keys beyond the schema's top-level properties.
  for (const key of Object.keys(event)) {
    if (event[key] !== undefined && !topLevelKeys.includes(key)) {
      out.push(`unknown top-level key "${key}" (allowed: ${topLevelKeys.join(', ')}).`);
    }
  }

  // Required fields, types, enums, nested shapes and formats.
  // Paths are reported without a leading "event." prefix.
  const nested: string[] = [];
  check(ALERT_EVENT, event, 'event', nested);
  out.push(...nested.map((p) => p.replace(/^event\./, '')));

  const action = event['event_action'];

  // payload: required for trigger only.
  if (
    typeof action === 'string' &&
    PD_LIMITS.payloadRequiredFor.includes(action) &&
    event['payload'] === undefined
  ) {
    out.push(`payload is required for ${action} events.`);
  }

  // dedup_key: required for acknowledge/resolve; ≤ 255 chars.
  const dedup = event['dedup_key'];
  if (typeof action === 'string' && PD_LIMITS.dedupKeyRequiredFor.includes(action)) {
    if (dedup === undefined) out.push(`dedup_key is required for ${action} events.`);
    else if (dedup === '') out.push(`dedup_key is required for ${action} events (got an empty string).`);
  }
  if (typeof dedup === 'string' && dedup.length > PD_LIMITS.dedupKeyMaxChars) {
    out.push(`dedup_key is ${dedup.length} characters; the limit is ${PD_LIMITS.dedupKeyMaxChars}.`);
  }

  // routing_key: exactly 32 chars.
  const rk = event['routing_key'];
  if (typeof rk === 'string' && rk.length !== PD_LIMITS.routingKeyChars) {
    out.push(`routing_key must be exactly ${PD_LIMITS.routingKeyChars} characters (got ${rk.length}).`);
  }

  // payload.summary ≤ 1024 chars. Counted in UTF-16 code units
  // (String#length), the stricter of the usual counts.
  const payload = event['payload'];
  if (isObject(payload) && typeof payload['summary'] === 'string') {
    const n = payload['summary'].length;
    if (n > PD_LIMITS.summaryMaxChars) {
      out.push(`payload.summary is ${n} characters; the limit is ${PD_LIMITS.summaryMaxChars}.`);
    }
  }

  return out;
}
