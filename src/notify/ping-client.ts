/**
 * Beats over HTTP to `medic serve` (or any server that speaks Healthchecks' slug URLs):
 * `<base>/<slug>[/start|/fail|/<exit-status>][?rid=<uuid>]`, where the base is MEDIC_URL or
 * `--url`, e.g. `https://medic.internal/ping/<ping-key>`. The ping key is a secret: it is never
 * printed (messages show `<ping-key>` in its place) and it is hidden in what is sent.
 *
 * A beat is on the path of the job it reports on, so sending one is bounded: 5xx, 429, 408,
 * network errors and timeouts are retried with backoff (Retry-After honoured when it fits) until
 * the budget is spent, then it fails with 75. Redirects are never followed.
 */
import { checkUrl } from '../config.js';
import { tailUtf8 } from '../core/signal-bounds.js';
import { ConfigError, DataError, EXIT, MedicError } from '../errors.js';
import { exchange, type NetEnv, retryAfterMs } from './http.js';

/** A checked MEDIC_URL / `--url`: where to send, and the key part to hide. */
export interface PingBase {
  /** The base to append `/<slug>` to: scheme, host, port and path, no trailing slash, no query. */
  href: string;
  /** The last part of the path: the ping key. */
  key: string;
  /** The base as Medic prints it: the key part replaced by `<ping-key>`. */
  shown: string;
}

/** A medic serve ping key (as its config requires): 16 or more URL-safe characters. */
const PING_KEY = /^[A-Za-z0-9_-]{16,}$/;
/** A part of a path that holds a run of key characters as long as a key: shown as `<ping-key>` (with what is around it). */
const KEY_LIKE = /[A-Za-z0-9_-]{16,}/;
export const PING_URL_EXAMPLE = 'https://medic.internal/ping/<ping-key>';

/**
 * A path as Medic prints it: every part that could hold a ping key (a run of 16 or more URL-safe
 * characters) replaced by `<ping-key>`, wherever it stands, so a key followed by anything is still hidden.
 */
export function maskPath(pathname: string): string {
  return pathname
    .split('/')
    .map((part) => (KEY_LIKE.test(part) ? '<ping-key>' : part))
    .join('/');
}

/**
 * Reads a MEDIC_URL or `--url` value: https (plain http only to loopback, as for PagerDuty URLs),
 * no user:password, no query or fragment, ending in a ping key; one slash after the key is
 * accepted (and dropped). Returns the base or the problem, which never quotes the URL's path raw
 * (maskPath), so never the key.
 */
export function readPingBase(value: string): PingBase | { problem: string } {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    return { problem: `expected a URL like ${PING_URL_EXAMPLE}` };
  }
  // `…/<ping-key>/` names the same base: that one slash is dropped (`…/ping/` and `…/<ping-key>//` are mistakes).
  const pathname = /\/[A-Za-z0-9_-]{16,}\/$/.test(url.pathname) ? url.pathname.slice(0, -1) : url.pathname;
  const parts = pathname.split('/');
  const key = parts.pop() ?? '';
  const path = parts.join('/');
  const masked = new URL(url.href);
  masked.search = '';
  masked.hash = '';
  // `ping-key` for every key-like part: the rule below quotes the URL (`<` would be escaped there).
  masked.pathname = `${maskPath(path).replaceAll('<ping-key>', 'ping-key')}/ping-key`;
  // The https/loopback and no-credentials rule of every URL Medic sends to, on the URL without its key.
  const rule = checkUrl(masked.href);
  if (rule) return { problem: rule.replace(/(?<=\/)ping-key(?=[/"])/g, '<ping-key>') };
  const shown = `${masked.origin}${maskPath(path)}/<ping-key>`;
  if (url.search || url.hash) return { problem: `${shown}: no query (?…) or fragment (#…) allowed; Medic adds ?rid= itself` };
  if (key === '') return { problem: `${masked.origin}${maskPath(url.pathname)}: the URL does not end in the ping key (a slash too many at the end, or an empty variable?); expected ${PING_URL_EXAMPLE}` };
  if (!PING_KEY.test(key)) {
    return { problem: `${shown}: the ping key (the URL's last part) must be 16 or more of A-Z a-z 0-9 _ -, got ${key.length} character${key.length === 1 ? '' : 's'}${/^[A-Za-z0-9_-]*$/.test(key) ? '' : ' with others among them'}` };
  }
  return { href: `${url.origin}${path}/${key}`, key, shown };
}

/** What one request says: a run's start, a success, a failure, or a run's end with its exit status. */
export type PingSignal = 'ok' | 'start' | 'fail' | { exitStatus: number };

export interface Ping {
  slug: string;
  signal: PingSignal;
  /** `?rid=`: pairs a run's start and end (a UUID). */
  runId?: string;
  /** Sent as the POST body (text/plain, UTF-8): `-m` text, or `medic run`'s output tail. */
  body?: string;
}

/** The path after the base: `/<slug>`, `/<slug>/start`, `/<slug>/fail`, `/<slug>/<0-255>`; an exit status outside 0-255 is a failure. */
export function pingPath(ping: Pick<Ping, 'slug' | 'signal' | 'runId'>): string {
  const s = ping.signal;
  const suffix =
    s === 'ok' ? '' : s === 'start' || s === 'fail' ? `/${s}` : Number.isInteger(s.exitStatus) && s.exitStatus >= 0 && s.exitStatus <= 255 ? `/${s.exitStatus}` : '/fail';
  return `/${ping.slug}${suffix}${ping.runId ? `?rid=${encodeURIComponent(ping.runId)}` : ''}`;
}

/** One answer as the sender saw it, or why there was none. */
export type PingOutcome = { status: number; headers: Record<string, string | string[] | undefined>; text: string } | { error: string };

/** Sends one POST (body: text/plain; UTF-8) and settles within `timeoutMs` whatever the server does. */
export type PingSender = (url: string, body: string | undefined, timeoutMs: number) => Promise<PingOutcome>;

/**
 * The undici sender (src/notify/http.ts: proxies, hard deadline, bounded answer). undici is
 * loaded here, before the first try: its load (~100 ms, more on a busy machine) would otherwise
 * come on top of that try's deadline.
 */
export async function httpPingSender(env: NetEnv): Promise<PingSender> {
  await import('undici');
  return async (url, body, timeoutMs) => {
    const out = await exchange(url, 'POST', body, timeoutMs, env, 'text/plain; charset=utf-8');
    return 'error' in out ? { error: out.error } : out;
  };
}

export interface PingClientDeps {
  send: PingSender;
  /** A monotonic clock (ms): the budget. */
  monotonic: () => number;
  /** The wall clock: a Retry-After given as a date. */
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** [0, 1): spreads the retries of many hosts. */
  random: () => number;
}

/** The default budget of one beat (MEDIC_URL_TIMEOUT), from the first try to the last answer. */
export const PING_BUDGET_MS = 10_000;
/** One try waits at most this long for an answer: a server that hangs leaves time for another try. */
export const ATTEMPT_MAX_MS = 4000;
/** Less than this left: no new try. */
export const ATTEMPT_MIN_MS = 100;
/** Backoff before try n+1: BACKOFF_FIRST_MS × 2^(n-1), at most BACKOFF_MAX_MS, times a factor in [0.5, 1). */
export const BACKOFF_FIRST_MS = 250;
export const BACKOFF_MAX_MS = 2000;
/** What is shown of a server's answer. */
export const ANSWER_SHOWN_CHARS = 200;

/** How long to wait before try `tries + 1`; the server's Retry-After (already bounded) when it gave one. */
export function backoffMs(tries: number, random: number, retryAfter?: number): number {
  if (retryAfter !== undefined) return retryAfter;
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.max(0, tries - 1));
  return Math.round(base * (0.5 + random / 2));
}

/** A beat that could not be delivered in its budget: exit 75 (try again later; nothing was recorded). */
export class PingNotDelivered extends MedicError {
  constructor(message: string, hint: string) {
    super(message, EXIT.tempfail, hint, { quotesThirdParty: true });
  }
}

/** What an answer means: delivered, worth another try (with the server's Retry-After), resent without its body, or an error to stop with. */
export type Verdict = { ok: true } | { retry: string; retryAfterMs?: number } | { withoutBody: true } | { stop: MedicError };

/**
 * Healthchecks' answers: 200 `OK` (201 `Created` for a slug it made) is delivered; 404 `not
 * found` is an unknown slug or a wrong ping key (the same answer for both, so keys cannot be
 * probed): 65; 400 and other refusals: 65 with the server's words; 401/403/407: 78 (access, a
 * proxy); 3xx: 78, never followed; 413: sent again without the body; 408, 429, 5xx: another try.
 * A 2xx that is not `OK` is something else answering at that URL (a proxy's login page): 78.
 */
export function judgePing(answer: { status: number; headers: Record<string, string | string[] | undefined>; text: string }, ctx: { shown: string; slug: string; hide: (text: string) => string; now: number; hadBody: boolean }): Verdict {
  const { status } = answer;
  const said = quote(ctx.hide(answer.text));
  const http = `HTTP ${status}${said ? `: ${said}` : ''}`;
  const at = `${ctx.shown}/${ctx.slug}`;
  const fixUrl = 'check MEDIC_URL (or --url): it is the ping URL medic serve prints, ending in the ping key';
  if (status >= 200 && status < 300) {
    if (/^(OK|Created)\b/.test(answer.text.trim())) return { ok: true };
    return { stop: new ConfigError(`${at} answered ${http} instead of "OK": something other than medic serve answers there (a proxy's login page?)`, fixUrl, { quotesThirdParty: true }) };
  }
  if (status >= 300 && status < 400) {
    const raw = answer.headers.location;
    const location = Array.isArray(raw) ? raw[0] : raw;
    const where = location ? ` to ${quote(ctx.hide(location))}` : '';
    return { stop: new ConfigError(`${at} answered with a redirect (HTTP ${status}${where}); redirects are not followed`, 'set MEDIC_URL (or --url) to the final URL', { quotesThirdParty: true }) };
  }
  if (status === 404) {
    return { stop: new DataError(`unknown slug or wrong ping key: ${at} answered ${http}`, "the server answers the same for both: check the slug against the server's config (`medic status` there) and the ping key in MEDIC_URL (or --url)", { quotesThirdParty: true }) };
  }
  if (status === 413 && ctx.hadBody) return { withoutBody: true };
  if (status === 408 || status === 429 || status >= 500) {
    const wait = retryAfterMs(answer.headers['retry-after'], ctx.now);
    return { retry: http, ...(wait !== undefined && { retryAfterMs: wait }) };
  }
  if (status === 401 || status === 403 || status === 407) {
    return { stop: new ConfigError(`${at} refused access (${http})`, `${fixUrl}; and any proxy between this host and medic serve (HTTPS_PROXY, NO_PROXY)`, { quotesThirdParty: true }) };
  }
  return { stop: new DataError(`medic serve refused the beat: ${at} answered ${http}`, undefined, { quotesThirdParty: true }) };
}

export interface PingClient {
  /**
   * Sends one ping within `budgetMs`: resolves when delivered; throws PingNotDelivered (75) when
   * the budget ran out, or the MedicError an answer means (65, 78).
   */
  send(ping: Ping, budgetMs: number, what: string): Promise<void>;
  /** Hides the ping key in text (`<ping-key>`). */
  hide(text: string): string;
  /** The largest body the server said it keeps (Ping-Body-Limit of an earlier answer), if any. */
  bodyLimit(): number | undefined;
}

export function pingClient(base: PingBase, deps: PingClientDeps): PingClient {
  const keyPattern = new RegExp(base.key.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&'), 'gi');
  const hide = (text: string) => text.replace(keyPattern, '<ping-key>');
  let limit: number | undefined;

  const send = async (ping: Ping, budgetMs: number, what: string): Promise<void> => {
    const began = deps.monotonic();
    const deadline = began + budgetMs;
    const url = `${base.href}${pingPath(ping)}`;
    const shownUrl = `${base.shown}${pingPath({ ...ping, runId: undefined })}`;
    const cut = (text: string | undefined) => {
      if (text === undefined || text === '') return undefined;
      const kept = limit === undefined ? text : tailUtf8(text, limit);
      return kept === '' ? undefined : kept;
    };
    // The key is hidden before any cut: a cut through it would leave most of it.
    let body = cut(ping.body === undefined ? undefined : hide(ping.body));
    let tries = 0;
    let last = 'no try was made';
    let gaveUp = '';
    for (;;) {
      const left = deadline - deps.monotonic();
      if (left < ATTEMPT_MIN_MS) break;
      tries++;
      const out = await deps.send(url, body, Math.floor(Math.min(left, ATTEMPT_MAX_MS)));
      let wait: number | undefined;
      if ('error' in out) {
        last = quote(hide(out.error));
      } else {
        const stated = header(out.headers['ping-body-limit']);
        if (stated !== undefined && /^\d+$/.test(stated.trim())) limit = Number(stated.trim());
        const verdict = judgePing(out, { shown: base.shown, slug: ping.slug, hide, now: deps.now(), hadBody: body !== undefined });
        if ('ok' in verdict) return;
        if ('stop' in verdict) throw verdict.stop;
        if ('withoutBody' in verdict) {
          // Too large for the server: what matters is the signal, so it goes again without the text.
          body = undefined;
          last = `HTTP 413 (body too large), then no answer to the same without it`;
          continue;
        }
        last = verdict.retry;
        wait = verdict.retryAfterMs;
      }
      const pause = backoffMs(tries, deps.random(), wait);
      const after = deadline - deps.monotonic() - pause;
      if (after < ATTEMPT_MIN_MS) {
        if (wait !== undefined) gaveUp = `; the server asked to wait ${Math.ceil(wait / 1000)} s, beyond the time left`;
        break;
      }
      await deps.sleep(pause);
    }
    const took = Math.max(0, deps.monotonic() - began);
    throw new PingNotDelivered(
      `the ${what} for '${ping.slug}' was not delivered to ${shownUrl}: ${last} (${tries} ${tries === 1 ? 'try' : 'tries'} in ${(took / 1000).toFixed(1)} s${gaveUp})`,
      `it was not recorded; check that this host reaches medic serve (network, DNS, HTTPS_PROXY/NO_PROXY) and that it runs; MEDIC_URL_TIMEOUT sets how long a beat may try (default ${PING_BUDGET_MS / 1000}s)`,
    );
  };
  return { send, hide, bodyLimit: () => limit };
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** A server's text as shown: one line, at most ANSWER_SHOWN_CHARS characters (the exit funnel escapes control characters). */
function quote(text: string): string {
  const line = text.replace(/\s*[\r\n\u2028\u2029]+\s*/g, ' ').trim();
  if (line.length <= ANSWER_SHOWN_CHARS) return line;
  let cut = line.slice(0, ANSWER_SHOWN_CHARS - 1);
  if (/[\ud800-\udbff]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}
