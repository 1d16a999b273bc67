// What a request to `medic serve` asks for, from its method and URL alone (no I/O): Healthchecks'
// slug-URL scheme, /ping/<ping-key>/<slug>[/start|/fail|/log|/<exit-status>][?rid=<uuid>].
import { hideSecrets } from '../errors.js';

/** What a ping says: Healthchecks' success, start, failure (with the exit status when numeric) and log. */
export type PingKind = 'ok' | 'start' | 'fail' | 'log';

export type Route =
  | { type: 'ping'; key: string; slug: string; kind: PingKind; exitCode: number | null; runId: string | null }
  | { type: 'healthz' }
  /** [ecosystem] Prometheus' scrape of the state (GET or HEAD). */
  | { type: 'metrics' }
  /** [ecosystem] The status page (GET or HEAD). */
  | { type: 'status' }
  /** 400: the URL has the shape of a ping but a part is invalid (exit status over 255, rid not a UUID). */
  | { type: 'bad'; reason: string }
  | { type: 'not-found' }
  | { type: 'method-not-allowed'; allow: string };

export const METHODS = ['GET', 'POST', 'HEAD'] as const;

const PING = /^\/ping\/([^/]+)\/([^/]+)(?:\/|\/(start|fail|log|\d+))?$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The route of `method` and `url` (a request target: path and query). The ping key and the slug are
 * returned as written (percent-decoded); the caller checks them against the config, so that a wrong
 * key and an unknown slug get the same answer. As Healthchecks does, an exit status over 255 and a
 * `rid` that is not a UUID are refused (400) before anything is looked up.
 */
export function route(method: string, url: string): Route {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q + 1);
  if (path === '/metrics' || path === '/status') return method === 'GET' || method === 'HEAD' ? { type: path === '/metrics' ? 'metrics' : 'status' } : { type: 'method-not-allowed', allow: 'GET, HEAD' };
  const isHealthz = path === '/healthz';
  const m = isHealthz ? null : PING.exec(path);
  if (!isHealthz && !m) return { type: 'not-found' };
  if (!(METHODS as readonly string[]).includes(method)) return { type: 'method-not-allowed', allow: METHODS.join(', ') };
  if (isHealthz) return { type: 'healthz' };
  const [, rawKey, rawSlug, suffix] = m!;
  const key = decode(rawKey!);
  const slug = decode(rawSlug!);
  if (key === null || slug === null) return { type: 'not-found' };
  let kind: PingKind = 'ok';
  let exitCode: number | null = null;
  if (suffix === 'start' || suffix === 'fail' || suffix === 'log') kind = suffix;
  else if (suffix !== undefined) {
    // Digits only (the pattern): compare as text first, so a hundred digits is no number trouble.
    const digits = suffix.replace(/^0+(?=\d)/, '');
    if (digits.length > 3 || Number(digits) > 255) return { type: 'bad', reason: 'invalid url format' };
    exitCode = Number(digits);
    kind = exitCode === 0 ? 'ok' : 'fail';
  }
  const rid = new URLSearchParams(query).get('rid');
  let runId: string | null = null;
  if (rid !== null && rid !== '') {
    if (!UUID.test(rid)) return { type: 'bad', reason: 'invalid rid (expected a UUID)' };
    runId = rid.toLowerCase();
  }
  return { type: 'ping', key, slug, kind, exitCode, runId };
}

function decode(part: string): string | null {
  try {
    return decodeURIComponent(part);
  } catch {
    return null;
  }
}

/**
 * The path as `-v` may log it. Only a request that matched a route shows its path: a ping with the
 * key's place as `…` whatever was written there (a near miss of the key too) and the slug decoded,
 * and /healthz, /metrics and /status (without a query). Anything else (`//ping/<key>/…`, `/PING/<key>/…`, an absolute-form target) may hold
 * the key anywhere, so it shows as `<unrouted path, N bytes>`.
 */
export function pathForLog(url: string, secrets: readonly string[] = []): string {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  if (path === '/healthz' || path === '/metrics' || path === '/status') return path;
  const m = PING.exec(path);
  if (!m) return `<unrouted path, ${url.length} bytes>`;
  const [, , rawSlug, suffix] = m;
  // Decoded, so that the ping key written percent-encoded in the slug's place is still the key to
  // hide; a control character it decodes to is encoded again (a %0A must not start a log line).
  // What does not decode is not shown at all (raw, %50 would spell a key's P).
  const decoded = decode(rawSlug!);
  if (decoded === null) return `<unrouted path, ${url.length} bytes>`;
  // Secrets (ping keys, routing keys) hidden before the cut: cut first, a key would keep most of itself.
  const slug = hideSecrets(decoded, secrets, '…').replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, encodeURIComponent);
  const shown = `/ping/…/${slug}${suffix !== undefined ? `/${suffix}` : path.endsWith('/') ? '/' : ''}`;
  return shown.length > 200 ? `${shown.slice(0, 200)}…` : shown;
}
