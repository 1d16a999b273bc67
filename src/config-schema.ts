// Checks a parsed config against medic.schema.json and words every problem for a human:
// `services[2].grace: expected a duration like "5m", got "5 minutes"`. The validator is compiled
// at build time (scripts/build.mjs), so nothing here loads ajv.
import { hideSlackSecrets, redactKey } from './errors.js';
import validate, { type ConfigSchemaError } from './generated/validate-config.js';
import { editDistance } from './core/suggest.js';

interface SchemaNode {
  title?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, unknown>;
  required?: string[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
}

/** What a valid value looks like, for schema nodes whose keywords alone would read badly (by "title"). */
const EXPECTED: Record<string, string> = {
  Duration: 'a duration like "5m"',
  Priority: 'P1, P2, P3 or P4',
  Severity: 'critical, error, warning or info',
  'Severity map': 'a map from P1-P4 to critical, error, warning or info',
  Name: '1-64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit',
  Slug: '1-64 characters of a-z 0-9 . _ - starting with a letter or digit',
  'Target list': 'a non-empty list of target names',
  'Priority list': 'a non-empty list of priorities (P1, P2, P3, P4)',
  'HTTP URL': 'an http:// or https:// URL',
  'Date-time': 'an ISO 8601 date-time with a time zone, like "2026-12-01T22:00:00Z"',
  'Cron expression': 'a 5-field cron expression like "0 3 * * *"',
  Schedule: 'a 5-field cron expression like "30 2 * * *", or @hourly, @daily, @weekly, @monthly or @yearly',
  'Output tail': 'a number of bytes from 0 to 65536',
  'Time zone': 'an IANA time zone like "Europe/Berlin"',
  'Environment variable name': 'an environment variable name',
  'Listen address': 'host:port like "127.0.0.1:8080" or "[::1]:8080"',
};

const WINDOW_KINDS = '"start" and "end" (a one-off window) or "cron" and "duration" (a recurring window)';

/** `routing_key` is PagerDuty's own field name, so people paste it under that name too. */
const LITERAL_KEY = /^(routing|integration|service)?[-_]?key$/i;

/** [scale] A ping key pasted into `serve` under a name of its own. */
const LITERAL_PING_KEY = /^ping[-_]?key$/i;

const LITERAL_PING_KEY_REFUSED =
  'a ping key must not be written in the config file (it would end up in backups and git); ' +
  'put it in an environment variable named by "pingKeyEnv" (default MEDIC_PING_KEY) or in a file named by "pingKeyFile"';

/** [ecosystem] The status page's view key pasted into `serve`. */
const LITERAL_VIEW_KEY = /^view[-_]?key$/i;

const LITERAL_VIEW_KEY_REFUSED =
  'a view key must not be written in the config file (it would end up in backups and git); put it in an environment variable named by "viewKeyEnv"';

const LITERAL_KEY_REFUSED =
  'a routing key must not be written in the config file (it would end up in backups and git); ' +
  'put it in an environment variable named by "routingKeyEnv" or in a file named by "routingKeyFile"';

/** Why a secret written into the config is refused, and where it goes instead. */
export function literalSecretRefused(noun: string, env: string, file: string): string {
  return `${noun} must not be written in the config file (it would end up in backups and git); put it in an environment variable named by "${env}" or in a file named by "${file}"`;
}

/**
 * [targets] Secrets pasted under a name of their own, by target title: a Slack webhook URL or bot
 * token (`webhookUrl`, `url`, `token`, `botToken`...), a webhook's signing secret (`secret`,
 * `signingSecret`...). Refused with the reason, never echoed.
 */
const LITERAL_SECRETS: Record<string, { key: RegExp; refused: string }[]> = {
  'PagerDuty target': [{ key: LITERAL_KEY, refused: LITERAL_KEY_REFUSED }],
  'Slack target': [
    { key: /^(incoming[-_]?)?(webhook[-_]?)?(url|uri)$|^(incoming[-_]?)?webhook$/i, refused: literalSecretRefused('a Slack webhook URL', 'webhookUrlEnv', 'webhookUrlFile') },
    { key: /^(slack[-_]?)?(bot[-_]?|user[-_]?|oauth[-_]?|access[-_]?|api[-_]?)?token$/i, refused: literalSecretRefused('a Slack bot token', 'tokenEnv', 'tokenFile') },
  ],
  'Webhook target': [
    { key: /^(signing[-_]?|hmac[-_]?|webhook[-_]?|shared[-_]?)?(secret|key)$/i, refused: literalSecretRefused('a signing secret', 'secretEnv', 'secretFile') },
  ],
};

export { hideSlackSecrets, SLACK_HOOK_IN_TEXT, SLACK_TOKEN_IN_TEXT } from './errors.js';

/**
 * Every way `raw` breaks medic.schema.json, one line each (`<key path>: <what would be valid>, got
 * <what was there>`), in schema order, each distinct problem once. [] when the shape is valid.
 */
export function schemaProblems(raw: unknown): string[] {
  if (validate(raw)) return [];
  const errors = validate.errors ?? [];
  // A value can fail two schema nodes at once (a list item's inline `type` beside its `$ref`);
  // the titled node words it better, so it speaks alone for that key path.
  const titledAt = new Set(errors.filter((e) => isValueError(e) && titleOf(e)).map((e) => e.instancePath));
  const problems = new Set<string>();
  for (const error of errors) {
    if (isValueError(error) && !titleOf(error) && titledAt.has(error.instancePath)) continue;
    const problem = describe(error, raw);
    if (problem) problems.add(problem);
  }
  return [...problems];
}

const STRUCTURAL = new Set(['if', 'propertyNames', 'required', 'additionalProperties', 'dependencies', 'not', 'uniqueItems']);

function isValueError(error: ConfigSchemaError): boolean {
  return error.propertyName === undefined && !STRUCTURAL.has(error.keyword);
}

function titleOf(error: ConfigSchemaError): string | undefined {
  const title = (error.parentSchema as SchemaNode | undefined)?.title;
  return title !== undefined && title in EXPECTED ? title : undefined;
}

function describe(error: ConfigSchemaError, raw: unknown): string | undefined {
  const at = keyPath(error.instancePath, raw);
  const node = (error.parentSchema ?? {}) as SchemaNode;
  const params = error.params;
  if (error.propertyName !== undefined) {
    return `${at}: expected names of ${expected(node)}, got ${show(error.propertyName)}`;
  }
  switch (error.keyword) {
    case 'if': // the failing then/else branch reported its own errors
    case 'propertyNames': // the offending name reported itself (propertyName above)
      return undefined;
    case 'required':
      if (node.title === 'One-off window' && !has(error.data, 'start') && !has(error.data, 'end')) {
        return `${at}: expected ${WINDOW_KINDS}`;
      }
      return `${at}: missing required key ${show(params.missingProperty)}`;
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const literal = LITERAL_SECRETS[node.title ?? '']?.find((l) => l.key.test(key));
      if (literal) return `${child(at, key)}: ${literal.refused}`;
      if (node.title === 'Serve' && LITERAL_PING_KEY.test(key)) return `${child(at, key)}: ${LITERAL_PING_KEY_REFUSED}`;
      if (node.title === 'Serve' && LITERAL_VIEW_KEY.test(key)) return `${child(at, key)}: ${LITERAL_VIEW_KEY_REFUSED}`;
      const guess = likelyTypo(key, Object.keys(node.properties ?? {}));
      return `${at}: unknown key ${show(key)}${guess ? ` (did you mean ${show(guess)}?)` : ''}`;
    }
    case 'dependencies':
      return `${at}: key ${show(params.property)} needs key ${show(params.missingProperty)} too`;
    case 'not': {
      if (node.title === 'Recurring window') return `${at}: expected either ${WINDOW_KINDS}, not both`;
      const keys = (error.schema as SchemaNode | undefined)?.required;
      return keys ? `${at}: expected ${orList(keys.map(show))}, not both` : `${at}: not allowed here`;
    }
    case 'uniqueItems':
      return `${at}: expected each item once, got ${show((error.data as unknown[])[params.i])} twice`;
    default:
      return `${at}: expected ${expected(node)}, got ${show(error.data)}`;
  }
}

function expected(node: SchemaNode): string {
  const titled = node.title === undefined ? undefined : EXPECTED[node.title];
  if (titled) return titled;
  if (node.enum) return orList(node.enum.map(String));
  if (node.const !== undefined) return show(node.const);
  const types = node.type === undefined ? [] : [node.type].flat();
  return types.length > 0 ? orList(types.map((type) => typeExpected(type, node))) : 'a valid value';
}

function typeExpected(type: string, node: SchemaNode): string {
  const { minimum: min, maximum: max, minLength, maxLength, minItems } = node;
  switch (type) {
    case 'integer':
    case 'number': {
      const noun = type === 'integer' ? 'an integer' : 'a number';
      if (min !== undefined && max !== undefined) return `${noun} from ${min} to ${max}`;
      if (min !== undefined) return `${noun} >= ${min}`;
      return max !== undefined ? `${noun} <= ${max}` : noun;
    }
    case 'string':
      if (maxLength !== undefined) return `a string of ${minLength ?? 0}-${maxLength} characters`;
      return minLength ? 'a non-empty string' : 'a string';
    case 'array':
      return minItems ? `a list of at least ${minItems} item${minItems === 1 ? '' : 's'}` : 'a list';
    case 'boolean':
      return 'true or false';
    case 'object':
      return 'an object';
    default:
      return type;
  }
}

/** JSON pointer → `services[2].grace`, `targets.oncall`, `targets["pd eu"]`; "" → `(root)`. */
function keyPath(pointer: string, raw: unknown): string {
  if (pointer === '') return '(root)';
  let path = '';
  let node: unknown = raw;
  for (const part of pointer.slice(1).split('/').map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'))) {
    path = Array.isArray(node) ? `${path}[${part}]` : child(path, part);
    node = (node as Record<string, unknown> | null | undefined)?.[part];
  }
  return path;
}

function child(path: string, key: string): string {
  if (!/^[A-Za-z0-9_$-]+$/.test(key)) return `${path === '(root)' ? '' : path}[${JSON.stringify(key)}]`;
  return path === '' || path === '(root)' ? key : `${path}.${key}`;
}

/**
 * A value as the user would write it in JSON, cut to about 60 characters. Anything shaped like a
 * routing key (32 letters and digits), a Slack token or a Slack webhook URL is shown redacted: it is
 * probably one, pasted in the wrong place.
 */
function show(value: unknown): string {
  let text: string;
  if (value === undefined) text = 'nothing';
  else if (typeof value === 'number' || typeof value === 'bigint') text = String(value);
  else text = hideSlackSecrets((stringify(value) ?? String(value)).replace(/\b[A-Za-z0-9]{32}\b/g, (key) => redactKey(key)));
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** JSON.stringify, except for a value nested too deeply for it (a hostile or generated file). */
function stringify(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return '(a value nested too deeply to show)';
  }
}

function orList(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}

/** The one known key closest to `key`, if it is a likely typo; none when several are as close ("P5"). */
function likelyTypo(key: string, known: string[]): string | undefined {
  const ranked = known.map((k) => ({ k, d: editDistance(key.toLowerCase(), k.toLowerCase()) })).sort((a, b) => a.d - b.d);
  const [best, next] = ranked;
  if (!best || best.d > Math.max(2, Math.floor(key.length / 3))) return undefined;
  return next && next.d === best.d ? undefined : best.k;
}

function has(value: unknown, key: string): boolean {
  return typeof value === 'object' && value !== null && Object.hasOwn(value, key);
}
