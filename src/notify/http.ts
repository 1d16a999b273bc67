import type { Dispatcher } from 'undici';
import { UNREACHABLE_HINT } from '../hints.js';
import { hideSecrets, redactSecrets, stripUserinfo, urlForDisplay } from '../errors.js';
import type { Poster } from './outbound.js';
import type { PdAnswer } from './pagerduty.js';

export type SendResult =
  | { ok: true; status: number; answer: PdAnswer }
  | { ok: false; permanent: boolean; status: number | null; error: string; answer?: PdAnswer; retryAfterMs?: number };

/** Sends one JSON event. The only code that talks HTTP; callers decide what a result means. */
export type Sender = (url: string, body: Record<string, unknown>, timeoutMs: number) => Promise<SendResult>;

export type Pinger = (url: string, method: 'GET' | 'POST', timeoutMs: number) => Promise<{ ok: true; status: number } | { ok: false; error: string }>;

/** What `medic doctor` learns from probing an events URL; `fix` says what to change when it is not ok. */
export type ProbeResult = { ok: true; status: number; said?: string } | { ok: false; error: string; fix?: string };

/** The variables that choose a proxy: the environment cli.ts was given, never read here from process.env. */
export type NetEnv = Readonly<Record<string, string | undefined>>;

/** At most this much of any answer is read off the socket; the rest is never read (issue 8: a 50 MB 202). */
export const MAX_READ_BYTES = 64 * 1024;
/** An answer as kept (stored with the event, returned in a SendResult): at most this many characters of JSON. */
export const MAX_KEPT_CHARS = 4096;
/** What a person is shown of an answer (its message and errors together): about 1 KB. */
export const MAX_SHOWN_CHARS = 1000;
/** Retry-After is obeyed between these bounds: `Retry-After: 0` must not become a tight loop. */
export const RETRY_AFTER_MIN_MS = 1000;
export const RETRY_AFTER_MAX_MS = 5 * 60_000;

/** The undici sender, with the proxy settings of `env`. */
export function httpSender(env: NetEnv): Sender {
  return async (url, body, timeoutMs) => {
    const key = typeof body.routing_key === 'string' ? body.routing_key : '';
    const sentDedup = typeof body.dedup_key === 'string' ? body.dedup_key : undefined;
    const out = await exchange(url, 'POST', JSON.stringify(body), timeoutMs, env);
    if ('error' in out) return { ok: false, permanent: false, status: out.status, error: cleanError(out.error, key) };
    return judgeAnswer(out, { url, key, sentDedup, now: Date.now() });
  };
}

/**
 * [targets] The poster for Slack and webhooks: one bounded POST (exchange), its error words with
 * every secret of the request hidden (a Slack webhook URL is its own secret; undici may quote it).
 */
export function httpPoster(env: NetEnv): Poster {
  return async (req) => {
    const out = await exchange(req.url, 'POST', req.body, req.timeoutMs, env, req.contentType ?? 'application/json', req.headers);
    if ('error' in out) return { status: out.status, error: cleanSecretError(out.error, req.hide) };
    return out;
  };
}

/** An error's words, one line, bounded, with the given secrets (whole, in any case) and key-shaped tokens hidden. */
export function cleanSecretError(error: string, secrets: readonly string[]): string {
  return clip(oneLine(redactSecrets(stripUserinfo(hideSecrets(error, secrets, '<secret>')), [], { keyShaped: true })), MAX_SHOWN_CHARS);
}

/** A plain request to a dead man's switch (healthchecks.io, Dead Man's Snitch): any 2xx is a good ping. */
export function httpPinger(env: NetEnv): Pinger {
  return async (url, method, timeoutMs) => {
    const out = await exchange(url, method, undefined, timeoutMs, env);
    if ('error' in out) return { ok: false, error: cleanError(out.error, '') };
    return out.status >= 200 && out.status < 300 ? { ok: true, status: out.status } : { ok: false, error: `HTTP ${out.status}` };
  };
}

/**
 * Whether `url` answers like PagerDuty's Events API v2 (for `medic doctor`): POSTs an empty event
 * `{}`, without a routing key, which PagerDuty refuses with 400 "Event object is invalid" — the
 * healthy answer. 404 means a wrong path, 3xx a redirect; 5xx, timeouts and network errors mean
 * unreachable. Nothing is ever enqueued: the event has no key.
 */
export async function probeEventsUrl(url: string, timeoutMs: number, env: NetEnv): Promise<ProbeResult> {
  const out = await exchange(url, 'POST', '{}', timeoutMs, env);
  if ('error' in out) return { ok: false, error: cleanError(out.error, ''), fix: UNREACHABLE_HINT };
  const { status } = out;
  const { answer } = readAnswer(out.text, '');
  const said = describe(answer);
  const http = `HTTP ${status}${said ? `: ${said}` : ''}`;
  if (status === 400 || status === 429 || status === 202) return { ok: true, status, ...(said && { said }) };
  if (status >= 200 && status < 300) {
    return { ok: false, error: `answered an empty event with ${http}; PagerDuty answers 400: something other than PagerDuty answers at eventsUrl`, fix: 'check eventsUrl and anything between this machine and PagerDuty (a proxy or captive portal)' };
  }
  if (status >= 300 && status < 400) return { ok: false, error: redirectError(out, url, ''), fix: 'set eventsUrl to the final URL' };
  if (status === 404 || status === 405) {
    return { ok: false, error: `eventsUrl path is wrong (${http})`, fix: 'the Events API v2 URL ends in /v2/enqueue (https://events.pagerduty.com/v2/enqueue, or events.eu.pagerduty.com for the EU)' };
  }
  if (status >= 500) return { ok: false, error: `the server is failing (${http})`, fix: `try again in a minute (status.pagerduty.com); ${UNREACHABLE_HINT}` };
  return { ok: false, error: `this is not how the Events API answers an empty event (${http})`, fix: "check the target's eventsUrl, and any proxy between this machine and PagerDuty" };
}

// ---------------------------------------------------------------------------------------------
// Reading an answer

export interface Answered {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** At most MAX_READ_BYTES of the body, decoded as UTF-8. */
  text: string;
}

/**
 * What an HTTP answer to an event means (SPEC §5). 202: delivered; another 2xx: retry (not PagerDuty). 3xx: never followed, and a
 * config problem (`permanent`). 408, 429 and 5xx: retry (after Retry-After, within its bounds).
 * Any other status: refused in a way only a config change cures (`permanent`). The answer is
 * redacted, bounded and made one line before anything keeps it.
 */
export function judgeAnswer(res: Answered, ctx: { url: string; key: string; sentDedup?: string; now: number }): SendResult {
  const { status } = res;
  if (status >= 300 && status < 400) return { ok: false, permanent: true, status, error: redirectError(res, ctx.url, ctx.key) };
  const { answer } = readAnswer(res.text, ctx.key, ctx.sentDedup);
  if (status === 202) return { ok: true, status, answer };
  // PagerDuty accepts an event with 202 and nothing else: another 2xx is something in between (a
  // captive portal, a proxy's login page) and must never count as a page sent. Tried again later.
  if (status >= 200 && status < 300) return { ok: false, permanent: false, status, error: `HTTP ${status} instead of PagerDuty's 202: something other than PagerDuty answered at eventsUrl`, answer };
  // A plain-text 5xx (a load balancer's error page) stays retryable: holding a page until someone
  // edits the config would be worse than trying again.
  const retryable = status === 408 || status === 429 || status >= 500;
  const retryAfter = retryAfterMs(res.headers['retry-after'], ctx.now);
  return { ok: false, permanent: !retryable, status, error: `HTTP ${status}`, answer, ...(retryAfter !== undefined && { retryAfterMs: retryAfter }) };
}

/**
 * PagerDuty's answer as kept: only the fields Medic knows, every string redacted (the key that
 * was sent, and any key-shaped token: this is a third party's text), on one line, and bounded
 * (message and errors together at most MAX_SHOWN_CHARS, the whole at most MAX_KEPT_CHARS of JSON).
 * A body that is not a JSON object is kept as its message; `json` says which it was.
 */
export function readAnswer(text: string, key: string, sentDedup?: string): { answer: PdAnswer; json: boolean } {
  const clean = (s: string) => oneLine(redactSecrets(s, key ? [key] : [], { keyShaped: true }));
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const json = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed);
  const fields = json ? (parsed as Record<string, unknown>) : { message: text };
  const str = (v: unknown) => (typeof v === 'string' ? v : v === undefined || v === null ? undefined : JSON.stringify(v));
  const status = str(fields.status);
  const message = str(fields.message);
  const dedup = str(fields.dedup_key);
  const errors = Array.isArray(fields.errors) ? fields.errors.slice(0, 50).map((e) => str(e) ?? '') : undefined;
  const build = (shown: number): PdAnswer => {
    let room = shown;
    const take = (s: string) => {
      const cut = clip(clean(s), Math.max(0, room));
      room -= cut.length + 2;
      return cut;
    };
    const answer: PdAnswer = {};
    if (status !== undefined) answer.status = clip(clean(status), 100);
    const msg = message === undefined ? undefined : take(message);
    if (msg) answer.message = msg;
    // Our own dedup key comes back as sent (it may hold a slug); anything else is their text.
    if (dedup !== undefined) answer.dedup_key = clip(dedup === sentDedup ? oneLine(redactSecrets(dedup, key ? [key] : [])) : clean(dedup), 255);
    if (errors) {
      const kept: string[] = [];
      for (const e of errors) {
        if (room <= 0) break;
        kept.push(take(e));
      }
      answer.errors = kept;
    }
    return answer;
  };
  let shown = MAX_SHOWN_CHARS;
  let answer = build(shown);
  // JSON escapes can make the kept text longer than what is shown (a control character is 6).
  while (JSON.stringify(answer).length > MAX_KEPT_CHARS && shown > 0) answer = build((shown = Math.floor(shown / 2)));
  return { answer, json };
}

/** One line quoting what the answer said, as `describeAnswer` in pagerduty.ts words it. */
function describe(answer: PdAnswer): string {
  return [answer.message ?? answer.status, ...(answer.errors ?? [])].filter(Boolean).join(': ');
}

function redirectError(res: Answered, url: string, key: string): string {
  return `eventsUrl answers with a redirect (HTTP ${res.status} to ${redirectLocation(res, url, key ? [key] : [])}); set eventsUrl to the final URL`;
}

/**
 * Where a redirect points, fit to show: made absolute against `url`, without userinfo, the given
 * secrets and any key-shaped token hidden, one line, at most 300 characters ('no Location' without one).
 */
export function redirectLocation(res: Answered, url: string, secrets: readonly string[]): string {
  const raw = res.headers.location;
  const location = Array.isArray(raw) ? raw[0] : raw;
  if (!location) return 'no Location';
  let absolute = location;
  try {
    absolute = new URL(location, url).href;
  } catch {
    // shown as given, still sanitized below
  }
  return clip(oneLine(redactSecrets(urlForDisplay(absolute), secrets, { keyShaped: true })), 300);
}

/**
 * Retry-After (seconds or an HTTP date) as a wait in ms, between RETRY_AFTER_MIN_MS and
 * RETRY_AFTER_MAX_MS (`0` and dates in the past wait the minimum); undefined when absent or unreadable.
 */
export function retryAfterMs(header: string | string[] | undefined, now: number): number | undefined {
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!value) return undefined;
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(value)) ms = Number(value) * 1000;
  else if (/[a-z]/i.test(value)) {
    const at = Date.parse(value);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  } else return undefined;
  return Math.min(RETRY_AFTER_MAX_MS, Math.max(RETRY_AFTER_MIN_MS, Math.round(ms)));
}

export function clip(s: string, n: number): string {
  if (s.length <= n) return s;
  if (n <= 1) return n === 1 ? '…' : '';
  let cut = s.slice(0, n - 1);
  if (/[\ud800-\udbff]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}

/** A third party's text never starts a line of its own in Medic's output. */
export function oneLine(s: string): string {
  return s.replace(/\s*[\r\n\u2028\u2029]+\s*/g, ' ').trim();
}

function cleanError(error: string, key: string): string {
  return clip(oneLine(redactSecrets(stripUserinfo(error), key ? [key] : [], { keyShaped: true })), MAX_SHOWN_CHARS);
}

// ---------------------------------------------------------------------------------------------
// One request

/**
 * The proxy an https URL goes through: HTTPS_PROXY (else HTTP_PROXY, as undici and curl's
 * neighbours do), unless NO_PROXY names the host. Plain http:// is never proxied: config allows
 * it only to loopback (tests, local relays), and a proxy must not get around that rule.
 */
function dispatcherFor(undici: typeof import('undici'), url: URL, env: NetEnv, timeoutMs: number): { dispatcher: Dispatcher; proxy: string | null } {
  const opts = { connect: { timeout: timeoutMs }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs };
  const proxy = url.protocol === 'https:' ? env.https_proxy || env.HTTPS_PROXY || env.http_proxy || env.HTTP_PROXY || null : null;
  if (!proxy) return { dispatcher: new undici.Agent(opts), proxy: null };
  const noProxy = env.no_proxy || env.NO_PROXY || '';
  return { dispatcher: new undici.EnvHttpProxyAgent({ ...opts, httpProxy: '', httpsProxy: proxy, noProxy, clientFactory: tunnelFailsOnce(undici) }), proxy };
}

/**
 * The client ProxyAgent talks to the proxy with, made to fail a request when the proxy drops the
 * CONNECT: undici reports that as a socket error, which its origin client treats as recoverable
 * and retries at once, for ever, at 100% CPU (nodejs/undici#3897; fixed upstream by #5441, not in
 * the undici 7 this uses). Another error code ends the request; the deadline stays the safety net.
 */
function tunnelFailsOnce(undici: typeof import('undici')) {
  return (origin: URL, opts: object): Dispatcher => {
    const pool = new undici.Pool(origin, opts);
    const connect = pool.connect.bind(pool) as (params: Dispatcher.ConnectOptions) => Promise<Dispatcher.ConnectData>;
    const wrapped = async (params: Dispatcher.ConnectOptions) => {
      try {
        return await connect(params);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code !== 'UND_ERR_SOCKET' && code !== 'UND_ERR_INFO') throw err;
        throw Object.assign(new Error('the proxy dropped the CONNECT', { cause: err }), { code: PROXY_DROPPED });
      }
    };
    return Object.assign(pool, { connect: wrapped });
  };
}

const PROXY_DROPPED = 'MEDIC_PROXY_DROPPED_CONNECT';

/**
 * One request with a hard deadline: it settles within `timeoutMs` whatever the server or a proxy
 * does. Every request gets its own dispatcher, destroyed when it settles: undici's ProxyAgent
 * loops for ever (100% CPU, signal and timeouts ignored) on a proxy that accepts TCP and then
 * drops or never answers CONNECT (nodejs/undici#3897), and destroying its dispatcher is what
 * stops it. The body is read up to MAX_READ_BYTES; the rest is never read.
 */
export async function exchange(
  url: string,
  method: 'GET' | 'POST',
  body: string | undefined,
  timeoutMs: number,
  env: NetEnv,
  contentType = 'application/json',
  headers: Record<string, string> = {},
): Promise<Answered | { error: string; status: number | null }> {
  const undici = await import('undici');
  let parsed: URL;
  let chosen: { dispatcher: Dispatcher; proxy: string | null };
  try {
    parsed = new URL(url);
    chosen = dispatcherFor(undici, parsed, env, timeoutMs);
  } catch (err) {
    return { status: null, error: `cannot send to ${urlForDisplay(url)}: ${(err as Error).message} (check eventsUrl and HTTPS_PROXY/NO_PROXY)` };
  }
  const { dispatcher, proxy } = chosen;
  const shownProxy = proxy ? urlForDisplay(proxy) : null;
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<{ error: string; status: null }>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve({ status: null, error: timeoutText(timeoutMs, shownProxy) });
    }, timeoutMs);
  });
  const work = (async (): Promise<Answered | { error: string; status: number | null }> => {
    let res: Dispatcher.ResponseData;
    try {
      res = await undici.request(parsed, {
        method,
        headers: { 'user-agent': 'medic', ...(body !== undefined && { 'content-type': contentType }), ...headers },
        body,
        dispatcher,
        signal: controller.signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
    } catch (err) {
      return { status: null, error: networkError(err, timeoutMs, shownProxy) };
    }
    const read = await readBounded(res.body);
    if ('error' in read) return { status: res.statusCode, error: `HTTP ${res.statusCode}, then ${networkError(read.error, timeoutMs, shownProxy)}` };
    return { status: res.statusCode, headers: res.headers, text: read.text };
  })();
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
    controller.abort();
    void dispatcher.destroy().catch(() => {});
  }
}

async function readBounded(body: Dispatcher.ResponseData['body']): Promise<{ text: string } | { error: unknown }> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      const room = MAX_READ_BYTES - size;
      chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
      size += Math.min(chunk.length, room);
      // Leaving the loop destroys the stream: the rest of a huge answer is never read.
      if (size >= MAX_READ_BYTES) break;
    }
  } catch (err) {
    return { error: err };
  }
  return { text: Buffer.concat(chunks).toString('utf8') };
}

function timeoutText(timeoutMs: number, proxy: string | null): string {
  return `no answer within ${timeoutMs} ms (timeout${proxy ? `, through the proxy ${proxy}` : ''})`;
}

/** What went wrong, in words; `proxy` is the proxy the request went through (shown without userinfo). */
function networkError(err: unknown, timeoutMs: number, proxy: string | null): string {
  const via = proxy ? `, through the proxy ${proxy}` : '';
  const e = err as Error & { code?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code;
  const timeouts = ['UND_ERR_ABORTED', 'UND_ERR_DESTROYED', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT'];
  if (e.name === 'TimeoutError' || e.name === 'AbortError' || (code && timeouts.includes(code))) return timeoutText(timeoutMs, proxy);
  if (code === PROXY_DROPPED) return `the proxy ${proxy} closed the connection before the tunnel was set up (does it allow CONNECT to this host and port?)`;
  if (code === 'ECONNREFUSED') return `connection refused${via}`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `cannot resolve the host (${code})${via}`;
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET') return `the connection was closed before the server answered${via}`;
  return `${e.message}${code ? ` (${code})` : ''}${via}`;
}
