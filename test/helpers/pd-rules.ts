/**
 * Test oracle for PagerDuty Events API v2 alert events (the body Medic POSTs
 * to `/v2/enqueue`).
 *
 * The structural rules (required fields, types, enums, nested Payload / Links /
 * Images shapes, `date-time` format, the set of allowed top-level keys) are read
 * at runtime from the OpenAPI file in `shared/reference/`, so they follow that
 * file. Only the rules that `shared/reference/README.md` says the file leaves
 * out are hard-coded here (see PD_LIMITS and the conditional requirements).
 *
 * Node builtins only.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Path of the OpenAPI description, resolved relative to this helper. */
export const OPENAPI_PATH: string = fileURLToPath(
  new URL('../../../shared/reference/pagerduty-events-v2.openapi.json', import.meta.url),
);

/**
 * Limits and conditional rules that the OpenAPI file does not contain, as listed
 * in shared/reference/README.md ("Known gaps in the upstream file").
 */
export const PD_LIMITS = Object.freeze({
  /** `payload.summary` ≤ 1024 chars. */
  summaryMaxChars: 1024,
  /** `dedup_key` ≤ 255 chars. */
  dedupKeyMaxChars: 255,
  /** `routing_key` is exactly 32 chars. */
  routingKeyChars: 32,
  /** Whole serialized event ≤ 512 KB (UTF-8 bytes of the JSON text). */
  eventMaxBytes: 512 * 1024,
  /** `payload` is required only for these actions. */
  payloadRequiredFor: Object.freeze(['trigger']) as readonly string[],
  /** `dedup_key` is required only for these actions. */
  dedupKeyRequiredFor: Object.freeze(['acknowledge', 'resolve']) as readonly string[],
});

/** The subset of JSON Schema / OpenAPI 3.0 keywords the file uses. */
interface Schema {
  $ref?: string;
  type?: string;
  enum?: unknown[];
  format?: string;
  required?: string[];
  properties?: Record<string, Schema>;
  items?: Schema;
}

/** Rules as read from the OpenAPI file (plus PD_LIMITS). */
export interface PdRules {
  /** `event_action` enum from the file. */
  eventActions: string[];
  /** `payload.severity` enum from the file. */
  severities: string[];
  /** Top-level property names of the `/enqueue` request body schema. */
  topLevelKeys: string[];
  /** Top-level `required` list of the `/enqueue` request body schema. */
  requiredTopLevel: string[];
  /** `required` list of the Payload schema. */
  requiredPayload: string[];
  limits: typeof PD_LIMITS;
}

interface Loaded {
  spec: unknown;
  enqueue: Schema;
  rules: PdRules;
}

let cache: Loaded | undefined;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Resolve a local JSON pointer such as `#/components/schemas/Payload`. */
function resolveRef(spec: unknown, ref: string): Schema {
  if (!ref.startsWith('#/')) throw new Error(`pd-rules: unsupported $ref ${ref} in ${OPENAPI_PATH}`);
  let node: unknown = spec;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isObject(node) || !(key in node)) {
      throw new Error(`pd-rules: $ref ${ref} does not resolve in ${OPENAPI_PATH}`);
    }
    node = node[key];
  }
  if (!isObject(node)) throw new Error(`pd-rules: $ref ${ref} is not a schema object`);
  return node as Schema;
}

function deref(spec: unknown, schema: Schema): Schema {
  let s = schema;
  for (let i = 0; s.$ref !== undefined; i++) {
    if (i > 20) throw new Error('pd-rules: $ref cycle');
    s = resolveRef(spec, s.$ref);
  }
  return s;
}

function load(): Loaded {
  if (cache) return cache;
  const spec: unknown = JSON.parse(readFileSync(OPENAPI_PATH, 'utf8'));
  const pick = (path: string[]): unknown => {
    let node: unknown = spec;
    for (const k of path) {
      if (!isObject(node) || !(k in node)) {
        throw new Error(`pd-rules: ${OPENAPI_PATH} has no ${path.join(' > ')}`);
      }
      node = node[k];
    }
    return node;
  };
  const raw = pick(['paths', '/enqueue', 'post', 'requestBody', 'content', 'application/json', 'schema']);
  if (!isObject(raw)) throw new Error('pd-rules: /enqueue request schema is not an object');
  const enqueue = deref(spec, raw as Schema);
  const props = enqueue.properties ?? {};
  const action = props['event_action'] ? deref(spec, props['event_action']) : {};
  const payload = props['payload'] ? deref(spec, props['payload']) : {};
  const severity = payload.properties?.['severity'] ? deref(spec, payload.properties['severity']) : {};
  const strings = (xs: unknown[] | undefined): string[] =>
    (xs ?? []).filter((x): x is string => typeof x === 'string');
  const rules: PdRules = {
    eventActions: strings(action.enum),
    severities: strings(severity.enum),
    topLevelKeys: Object.keys(props),
    requiredTopLevel: [...(enqueue.required ?? [])],
    requiredPayload: [...(payload.required ?? [])],
    limits: PD_LIMITS,
  };
  if (rules.eventActions.length === 0 || rules.severities.length === 0) {
    throw new Error(`pd-rules: could not find event_action / severity enums in ${OPENAPI_PATH}`);
  }
  cache = { spec, enqueue, rules };
  return cache;
}

/** The rules read from the OpenAPI file, plus the hard-coded README limits. */
export function pdRules(): PdRules {
  const r = load().rules;
  return {
    ...r,
    eventActions: [...r.eventActions],
    severities: [...r.severities],
    topLevelKeys: [...r.topLevelKeys],
    requiredTopLevel: [...r.requiredTopLevel],
    requiredPayload: [...r.requiredPayload],
  };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return v.length > 40 ? `string "${v.slice(0, 37)}..."` : `"${v}"`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

function typeMatches(type: string, v: unknown): boolean {
  switch (type) {
    case 'string':
      return typeof v === 'string';
    case 'object':
      return isObject(v);
    case 'array':
      return Array.isArray(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'boolean':
      return typeof v === 'boolean';
    default:
      return true; // unknown type keyword: do not invent a rule
  }
}

const ISO_DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?(?:[Zz]|([+-])(\d{2})(?::?(\d{2}))?)$/;

/**
 * ISO 8601 calendar date-time with a time-zone designator: `YYYY-MM-DDThh:mm[:ss[.fff]]`
 * followed by `Z`, `±hh:mm`, `±hhmm` or `±hh`. (`+0000` is accepted because the
 * OpenAPI file's own example uses `2015-07-17T08:42:58.315+0000`.)
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

/** Generic check of `value` against the schema subset the file uses. */
function check(spec: unknown, schemaIn: Schema, value: unknown, path: string, out: string[]): void {
  const schema = deref(spec, schemaIn);
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
      if (value[key] !== undefined) check(spec, sub, value[key], `${path}.${key}`, out);
    }
  }
  if (Array.isArray(value) && schema.items !== undefined) {
    value.forEach((item, i) => check(spec, schema.items as Schema, item, `${path}[${i}]`, out));
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
  const { spec, enqueue, rules } = load();
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

  // Whole-event size (README: 512 KB).
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
    if (event[key] !== undefined && !rules.topLevelKeys.includes(key)) {
      out.push(`unknown top-level key "${key}" (allowed: ${rules.topLevelKeys.join(', ')}).`);
    }
  }

  // Required fields, types, enums, nested shapes and formats, from the file.
  // Paths are reported without a leading "event." prefix.
  const nested: string[] = [];
  check(spec, enqueue, event, 'event', nested);
  out.push(...nested.map((p) => p.replace(/^event\./, '')));

  const action = event['event_action'];

  // payload: required for trigger only (README).
  if (
    typeof action === 'string' &&
    PD_LIMITS.payloadRequiredFor.includes(action) &&
    event['payload'] === undefined
  ) {
    out.push(`payload is required for ${action} events.`);
  }

  // dedup_key: required for acknowledge/resolve (README); ≤ 255 chars.
  const dedup = event['dedup_key'];
  if (typeof action === 'string' && PD_LIMITS.dedupKeyRequiredFor.includes(action)) {
    if (dedup === undefined) out.push(`dedup_key is required for ${action} events.`);
    else if (dedup === '') out.push(`dedup_key is required for ${action} events (got an empty string).`);
  }
  if (typeof dedup === 'string' && dedup.length > PD_LIMITS.dedupKeyMaxChars) {
    out.push(`dedup_key is ${dedup.length} characters; the limit is ${PD_LIMITS.dedupKeyMaxChars}.`);
  }

  // routing_key: exactly 32 chars (README).
  const rk = event['routing_key'];
  if (typeof rk === 'string' && rk.length !== PD_LIMITS.routingKeyChars) {
    out.push(`routing_key must be exactly ${PD_LIMITS.routingKeyChars} characters (got ${rk.length}).`);
  }

  // payload.summary ≤ 1024 chars (README). Counted in UTF-16 code units
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
