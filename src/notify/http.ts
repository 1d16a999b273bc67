import { redactKey } from '../errors.js';
import { parseAnswer, type PdAnswer } from './pagerduty.js';

export type SendResult =
  | { ok: true; status: number; answer: PdAnswer }
  | { ok: false; permanent: boolean; status: number | null; error: string; answer?: PdAnswer; retryAfterMs?: number };

/** Sends one JSON event. The only code that talks HTTP; callers decide what a result means. */
export type Sender = (url: string, body: Record<string, unknown>, timeoutMs: number) => Promise<SendResult>;

let dispatcher: import('undici').Dispatcher | undefined;

/**
 * undici, imported on first use so commands that never send (beat, status) do not pay for it,
 * with a dispatcher that honours HTTPS_PROXY/HTTP_PROXY (and NO_PROXY) when they are set.
 */
async function client() {
  const undici = await import('undici');
  if (dispatcher === undefined) {
    const proxied = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'].some((name) => process.env[name]);
    dispatcher = proxied ? new undici.EnvHttpProxyAgent() : undici.getGlobalDispatcher();
  }
  return { undici, dispatcher };
}

/** The undici sender. */
export const undiciSender: Sender = async (url, body, timeoutMs) => {
  const { undici, dispatcher } = await client();
  let res;
  try {
    res = await undici.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'medic' },
      body: JSON.stringify(body),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
      dispatcher,
    });
  } catch (err) {
    return { ok: false, permanent: false, status: null, error: networkError(err, timeoutMs) };
  }
  let text: string;
  try {
    text = await res.body.text();
  } catch (err) {
    return { ok: false, permanent: false, status: res.statusCode, error: `HTTP ${res.statusCode}, then ${networkError(err, timeoutMs)}` };
  }
  // Whatever PagerDuty says goes into messages and the database: never let it echo the key.
  const key = typeof body.routing_key === 'string' ? body.routing_key : '';
  const answer = parseAnswer(key ? text.split(key).join(redactKey(key)) : text);
  const status = res.statusCode;
  if (status >= 200 && status < 300) return { ok: true, status, answer };
  const retryAfterMs = retryAfter(res.headers['retry-after']);
  // 429 and 5xx are PagerDuty's "retry after some time"; 408 is a timeout by another name.
  const permanent = status >= 400 && status < 500 && status !== 429 && status !== 408;
  return { ok: false, permanent, status, error: `HTTP ${status}`, answer, ...(retryAfterMs !== undefined && { retryAfterMs }) };
};

export type Pinger = (url: string, method: 'GET' | 'POST', timeoutMs: number) => Promise<{ ok: true; status: number } | { ok: false; error: string }>;

/** A plain request to a dead man's switch (healthchecks.io, Dead Man's Snitch): any 2xx is a good ping. */
export const undiciPinger: Pinger = async (url, method, timeoutMs) => {
  const result = await plainRequest(url, method, timeoutMs);
  return !result.ok || (result.status >= 200 && result.status < 300) ? result : { ok: false, error: `HTTP ${result.status}` };
};

function retryAfter(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function networkError(err: unknown, timeoutMs: number): string {
  const e = err as Error & { code?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code;
  if (e.name === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return `no answer within ${timeoutMs} ms (timeout)`;
  }
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `cannot resolve the host (${code})`;
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET') return 'the connection was closed before the server answered';
  return `${e.message}${code ? ` (${code})` : ''}`;
}

/**
 * Whether a URL answers at all (for `medic doctor`): a plain GET whose body is thrown away. Any
 * HTTP status counts as reachable (PagerDuty answers a GET of its enqueue URL with an error), so
 * only DNS, connection, TLS, proxy and timeout failures come back as not ok.
 */
/** Whether a server answers at `url` at all (for `medic doctor`): any HTTP status counts. */
export function reach(url: string, timeoutMs: number): Promise<{ ok: true; status: number } | { ok: false; error: string }> {
  return plainRequest(url, 'GET', timeoutMs);
}

async function plainRequest(url: string, method: 'GET' | 'POST', timeoutMs: number): Promise<{ ok: true; status: number } | { ok: false; error: string }> {
  const { undici, dispatcher } = await client();
  try {
    const res = await undici.request(url, {
      method,
      headers: { 'user-agent': 'medic' },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
      dispatcher,
    });
    // The status line already proves the server answered; a body cut short changes nothing.
    await res.body.dump().catch(() => {});
    return { ok: true, status: res.statusCode };
  } catch (err) {
    return { ok: false, error: networkError(err, timeoutMs) };
  }
}
