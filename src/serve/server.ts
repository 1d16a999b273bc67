import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { ServeSettings } from '../config.js';
import { exposition, EXPOSITION_CONTENT_TYPE, type MetricFamily } from '../core/metrics.js';
import { hideSecrets, isMedicError, redactKnownKeys } from '../errors.js';
import type { BeatInput, Store } from '../store/types.js';
import type { GroupCommit } from './batch.js';
import { isLoopback, keyMatches, presentedKey } from './key.js';
import { pathForLog, route, type PingKind } from './route.js';

/**
 * A request body over this is answered 413: before a byte of it is read when Content-Length says
 * so, else as soon as it gets there (the part past serve.bodyLimit, at most 64 KiB, is read and dropped).
 */
export const MAX_REQUEST_BYTES = 1024 * 1024;

/**
 * Bytes read past serve.bodyLimit so that a routing key across the limit is hidden whole before the
 * body is cut to size (cut first, the key's first characters would be kept). More than a key (32
 * characters) in any encoding a body could hold it in; medic run keeps the same margin.
 */
export const KEY_MARGIN_BYTES = 256;

/** How long a /healthz answer is reused: a load balancer polling every 100 ms costs one probe a second or so. */
export const HEALTH_CACHE_MS = 1500;

/** How long the state behind a /metrics answer is reused: scrapes that come together cost one read of the store. */
export const METRICS_CACHE_MS = 1000;

/** [ecosystem] How long a rendered status page is reused: a wall of screens refreshing together costs one read of the store. */
export const STATUS_CACHE_MS = 5000;

/** [ecosystem] The status page's headers: no script may run, nothing may frame it, nothing is kept or sent on. */
export const STATUS_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Cache-Control': 'no-store',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

/** What the server answers from; swapped whole when the config is reloaded (SIGHUP). */
export interface ServeState {
  pingKey: string;
  slugs: ReadonlySet<string>;
  /** Routing keys to hide in what a job sent (keptBody), as `medic beat -m` hides them. */
  hide: readonly string[];
  /** Every ping key this server has used (the current one and those before a reload), and view keys: never kept, never logged. */
  pingKeys: readonly string[];
  /** [ecosystem] The key that opens /status (and /metrics) off loopback; null or absent: none configured. */
  viewKey?: string | null;
  /**
   * Set when a reload changed the database: the store open is no longer the one the checkers read,
   * so /healthz, /status, /metrics and beats answer 503 with this text until serve is restarted.
   */
  stale?: string | null;
}

export interface ServerDeps {
  settings: ServeSettings;
  /** PEM bytes, read by the caller; null: plain HTTP. */
  tls: { cert: Buffer; key: Buffer } | null;
  commit: GroupCommit;
  store: Pick<Store, 'probe'>;
  /**
   * [ecosystem] The state's metric families for /metrics (what `medic metrics` prints); the server
   * adds its own counters. Null: /metrics answers 404.
   */
  metrics?: (() => Promise<MetricFamily[]>) | null;
  /** [ecosystem] The status page's HTML (what `medic status` and `medic history` show). Null: /status answers 404. */
  statusPage?: (() => Promise<string>) | null;
  state: () => ServeState;
  /** With -v: one line per request (the ping key never in it). */
  log: ((line: string) => void) | null;
  /** A commit failed (its requests were answered 503), or answering a request failed (500). */
  onError: (what: 'commit' | 'internal', err: unknown) => void;
  monotonic: () => number;
  now: () => number;
}

/** serve.tls's certificate or key refused by Node's TLS (a bad pair it found before listening). */
export class TlsSetupError extends Error {}

export interface RunningServer {
  /** `http://127.0.0.1:8080` (the port the system gave, for port 0). */
  url: string;
  /** Stops accepting, lets requests in flight finish (their beats committed) for up to `graceMs`, then drops what is left. */
  close(graceMs: number): Promise<void>;
}

const TEXT = { 'Content-Type': 'text/plain; charset=utf-8' };

/**
 * /healthz's body when the SQLite store's path no longer names the file it opened (a
 * DatabaseMovedError): beats, /status and /metrics answer 503 until the file is back or serve restarts.
 */
export const MOVED_BODY = 'database not writable: the database file was moved or replaced; restart medic serve';

export async function startServer(deps: ServerDeps): Promise<RunningServer> {
  const { settings: s, commit, log } = deps;
  let draining = false;
  let inFlight = 0;
  let drained: (() => void) | null = null;
  // The /healthz answer's body while the probe fails (null: healthy).
  let health: { at: number; problem: Promise<string | null> } | null = null;
  // The state's exposition and the page, encoded once per cache period: a flood of scrapes or
  // viewers costs one read and one rendering per period, never one per request (beats wait behind them).
  let scraped: { at: number; text: Promise<Buffer> } | null = null;
  let page: { at: number; html: Promise<Buffer> } | null = null;
  // Counted since start: beats committed, by kind, and answers, by status code.
  const beats: Record<PingKind, number> = { ok: 0, start: 0, fail: 0, log: 0 };
  const answered = new Map<number, number>();
  const viewRefusal = viewRefusalFor(s.host);
  const pingHeaders = { ...TEXT, 'Access-Control-Allow-Origin': '*', 'Cache-Control': 'no-cache', 'Ping-Body-Limit': String(s.bodyLimit) };

  const healthProblem = (): Promise<string | null> => {
    const t = deps.monotonic();
    if (!health || t - health.at >= HEALTH_CACHE_MS) {
      health = {
        at: t,
        problem: deps.store.probe().then(
          () => null,
          // Says why without the path (anyone who can reach /healthz reads it); stderr has the rest.
          (err: unknown) => (err instanceof Error && err.name === 'DatabaseMovedError' ? MOVED_BODY : 'database not writable'),
        ),
      };
    }
    return health.problem;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const answer = (status: number, body: string | Buffer, headers: Record<string, string> = TEXT) => {
      if (res.headersSent || res.destroyed) return;
      // A body left unread (a 404 to a POST) is not read to its end: the connection ends with the answer.
      const unreadBody = !req.complete && (Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined);
      const close = draining || unreadBody;
      res.writeHead(status, { ...headers, 'Content-Length': String(Buffer.byteLength(body)), ...(close && { Connection: 'close' }) });
      res.end(body);
    };
    const r = route(req.method ?? '', req.url ?? '/');
    switch (r.type) {
      case 'not-found':
        return answer(404, 'not found');
      case 'method-not-allowed':
        return answer(405, 'method not allowed', { ...TEXT, Allow: r.allow });
      case 'bad':
        return answer(400, r.reason, pingHeaders);
      case 'healthz': {
        const problem = deps.state().stale ?? (await healthProblem());
        return problem === null ? answer(200, 'OK', { ...TEXT, 'Cache-Control': 'no-cache' }) : answer(503, problem, { ...TEXT, 'Cache-Control': 'no-cache' });
      }
    }
    if (r.type === 'status' || r.type === 'metrics') {
      // The page and the metrics name every service and team: a listener other machines can reach
      // gives them only for the view key.
      const refused = viewRefusal(req.headers.authorization, deps.state().viewKey ?? null, r.type);
      if (refused) return answer(refused.status, refused.body, refused.headers);
      const stale = deps.state().stale;
      if (stale) return answer(503, stale, { ...TEXT, 'Retry-After': '5', 'Cache-Control': 'no-store' });
    }
    if (r.type === 'status') {
      if (!deps.statusPage) return answer(404, 'not found');
      const t = deps.monotonic();
      if (!page || t - page.at >= STATUS_CACHE_MS) page = { at: t, html: deps.statusPage().then((text) => Buffer.from(text)) };
      let html: Buffer;
      try {
        html = await page.html;
      } catch (err) {
        page = null;
        // A database that cannot be read is said by /healthz; anything else is a bug to report.
        if (!isMedicError(err)) deps.onError('internal', err);
        return answer(503, 'database unavailable, try again', { ...TEXT, 'Retry-After': '5', 'Cache-Control': 'no-store' });
      }
      return answer(200, html, STATUS_HEADERS);
    }
    if (r.type === 'metrics') {
      if (!deps.metrics) return answer(404, 'not found');
      const t = deps.monotonic();
      if (!scraped || t - scraped.at >= METRICS_CACHE_MS) scraped = { at: t, text: deps.metrics().then((families) => Buffer.from(exposition(families))) };
      let text: Buffer;
      try {
        text = await scraped.text;
      } catch {
        return answer(503, 'database unavailable, try again', { ...TEXT, 'Retry-After': '5' });
      }
      // serve's own counters, current at each answer, after the state's families.
      const own = Buffer.from(exposition(serveFamilies(beats, answered)));
      return answer(200, Buffer.concat([text, own]), { 'Content-Type': EXPOSITION_CONTENT_TYPE, 'Cache-Control': 'no-cache' });
    }
    const state = deps.state();
    // The same answer for a wrong key and an unknown slug, so that keys cannot be probed by it.
    if (!keyMatches(r.key, state.pingKey) || !state.slugs.has(r.slug)) return answer(404, 'not found', pingHeaders);
    // Never acknowledge a beat into a database the checkers no longer read: the client retries.
    if (state.stale) return answer(503, state.stale, { ...pingHeaders, 'Retry-After': '5' });
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_REQUEST_BYTES) return tooLarge(res, pingHeaders);
    const body = await readBody(req, s.bodyLimit + KEY_MARGIN_BYTES);
    if (body === 'too-large') return tooLarge(res, pingHeaders);
    if (body === null) return; // the client went away, or timed out (Node answered 408)
    const text = body.length > 0 ? keptBody(body, s.bodyLimit, state.hide, state.pingKeys) : null;
    // Alertmanager's Watchdog stopped firing is no sign of health: kept as a log line, not a beat.
    const kind: PingKind = r.kind === 'ok' && isResolvedNotification(req.headers['user-agent'], body) ? 'log' : r.kind;
    const beat: BeatInput = { slug: r.slug, kind, ...(r.runId && { runId: r.runId }) };
    if (kind === 'log') beat.details = { message: text ?? '' };
    else if (text !== null || r.exitCode !== null) beat.details = { exitCode: r.exitCode, outputTail: text };
    try {
      await commit.add(beat);
    } catch (err) {
      deps.onError('commit', err);
      return answer(503, 'database unavailable, try again', { ...pingHeaders, 'Retry-After': '5' });
    }
    beats[kind]++;
    answer(200, 'OK', pingHeaders);
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    inFlight++;
    const started = deps.monotonic();
    res.once('finish', () => answered.set(res.statusCode, (answered.get(res.statusCode) ?? 0) + 1));
    if (log) {
      res.once('close', () => {
        const ms = deps.monotonic() - started;
        log(`${new Date(deps.now()).toISOString()} ${req.socket.remoteAddress ?? '-'} ${req.method} ${pathForLog(req.url ?? '/', [...deps.state().pingKeys, ...deps.state().hide])} ${res.headersSent ? res.statusCode : '-'} ${ms.toFixed(1)}ms`);
      });
    }
    handle(req, res)
      .catch((err: unknown) => {
        deps.onError('internal', err);
        if (!res.headersSent && !res.destroyed) {
          res.writeHead(500, TEXT);
          res.end('internal error');
        }
      })
      .finally(() => {
        if (--inFlight === 0) drained?.();
      });
  };

  const opts = {
    headersTimeout: s.headersTimeoutMs,
    requestTimeout: s.requestTimeoutMs,
    // Node checks both timeouts only this often (30 s by default): a quarter of the shorter one.
    connectionsCheckingInterval: Math.max(100, Math.min(1000, s.headersTimeoutMs / 4)),
    keepAliveTimeout: 5000,
    maxHeaderSize: 16 * 1024,
  };
  let server: Server;
  try {
    // handshakeTimeout: Node's default (120 s) would let connections that never start a handshake
    // hold maxConnections (and a stop) for two minutes.
    server = deps.tls ? createHttpsServer({ ...opts, handshakeTimeout: s.headersTimeoutMs, cert: deps.tls.cert, key: deps.tls.key }, onRequest) : createHttpServer(opts, onRequest);
  } catch (err) {
    if (!deps.tls) throw err;
    throw new TlsSetupError((err as Error).message);
  }
  // Every TCP connection, from its accept: those in a TLS handshake are not among the HTTP
  // connections closeAllConnections ends, and a stop must not wait for them past its deadline.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // Past the cap Node closes a new connection at once. Slow or silent clients get Node's own answers
  // (408 past a timeout, 431 for headers over maxHeaderSize, 400 for a malformed request).
  server.maxConnections = s.maxConnections;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(s.port, s.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `${deps.tls ? 'https' : 'http'}://${host}:${address.port}`,
    close: async (graceMs) => {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
      const requestsDone = inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => (drained = resolve));
      await Promise.race([requestsDone.then(() => commit.idle()), deadline]);
      // Keep-alive connections that answered their last request are idle now; what is left is past its grace.
      server.closeIdleConnections();
      await Promise.race([closed, deadline]);
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      clearTimeout(timer);
      await closed;
    },
  };
}

/** medic serve's own counters, for /metrics: beats committed by kind, answers by status code. */
export function serveFamilies(beats: Readonly<Record<PingKind, number>>, answered: ReadonlyMap<number, number>): MetricFamily[] {
  return [
    {
      name: 'medic_serve_beats_received_total',
      help: 'Beats medic serve recorded since it started, by kind (ok, start, fail, log).',
      type: 'counter',
      samples: Object.entries(beats).map(([kind, n]) => ({ labels: { kind }, value: n })),
    },
    {
      name: 'medic_serve_requests_total',
      help: 'Requests medic serve answered since it started, by HTTP status code.',
      type: 'counter',
      samples: [...answered].sort(([a], [b]) => a - b).map(([code, n]) => ({ labels: { code: String(code) }, value: n })),
    },
  ];
}

/**
 * [ecosystem] Why a request for /status or /metrics is refused, or null when it may have them: on a
 * loopback serve.listen always; otherwise only with the view key (Basic auth's password or a Bearer
 * token, compared in constant time), and never without a view key configured (403 naming
 * serve.viewKeyEnv). The ping key is not the view key (readViewKey refuses the same key for both).
 */
function viewRefusalFor(host: string) {
  return (authorization: string | undefined, viewKey: string | null, what: 'status' | 'metrics'): { status: number; body: string; headers: Record<string, string> } | null => {
    if (isLoopback(host)) return null;
    const noStore = { ...TEXT, 'Cache-Control': 'no-store' };
    if (viewKey === null) {
      const alt = what === 'metrics' ? ' (or use medic metrics --textfile with node_exporter)' : '';
      return { status: 403, body: `the ${what === 'status' ? 'status page' : 'metrics'} off a loopback serve.listen needs a view key: set serve.viewKeyEnv in the config to the name of an environment variable holding one${alt}`, headers: noStore };
    }
    const given = presentedKey(authorization);
    if (given !== null && keyMatches(given, viewKey)) return null;
    return { status: 401, body: 'the view key is needed: give it as the password (any user name)', headers: { ...noStore, 'WWW-Authenticate': 'Basic realm="medic status", charset="UTF-8"' } };
  };
}

/**
 * The warning for a ping key that would cross the network in clear text: serve.listen is not a
 * loopback address (127.0.0.0/8, ::1, localhost) and serve.tls is not set. Null otherwise.
 */
export function clearTextWarning(s: Pick<ServeSettings, 'host' | 'port' | 'tls'>): string | null {
  if (s.tls || isLoopback(s.host)) return null;
  const at = `${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`;
  return `serve.listen is ${at}, not a loopback address, and serve.tls is not set: the ping key travels in clear text in every ping URL (and the view key, if set, in every request for /status and /metrics) unless a TLS proxy is in front (set serve.tls, or listen on 127.0.0.1 behind a reverse proxy that terminates TLS)`;
}

function tooLarge(res: ServerResponse, headers: Record<string, string>): void {
  if (res.headersSent || res.destroyed) return;
  // Connection: close — the rest of the body is never read; the connection ends with the answer.
  const body = 'request body too large';
  res.writeHead(413, { ...headers, 'Content-Length': String(body.length), Connection: 'close' });
  res.end(body);
}

/**
 * [ecosystem] Whether a request is Alertmanager's webhook notification of resolved alerts (a
 * receiver with send_resolved on): User-Agent Alertmanager/<version> and a body that starts as
 * Alertmanager writes it, `{"receiver":"<name>","status":"resolved"` (Go's encoding/json keeps the
 * field order). The body may have been cut to serve.bodyLimit: a receiver name longer than that
 * reads as a beat (the regular expression is linear, so the whole kept body is read).
 */
export function isResolvedNotification(userAgent: string | undefined, body: Buffer): boolean {
  if (userAgent === undefined || !/^Alertmanager\//.test(userAgent)) return false;
  return RESOLVED.test(body.toString('latin1'));
}

const RESOLVED = /^\{"receiver":"(?:[^"\\]|\\.)*","status":"resolved"/;

/**
 * The body's first `keep` bytes, reading (and dropping) the rest up to MAX_REQUEST_BYTES; 'too-large'
 * past that, null when the request ends early (client gone, timeout).
 */
function readBody(req: IncomingMessage, keep: number): Promise<Buffer | 'too-large' | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let kept = 0;
    let total = 0;
    const finish = (v: Buffer | 'too-large' | null) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      resolve(v);
    };
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > MAX_REQUEST_BYTES) {
        req.pause();
        return finish('too-large');
      }
      if (kept <= keep) {
        chunks.push(chunk);
        kept += chunk.length;
      }
    };
    const onEnd = () => finish(Buffer.concat(chunks));
    const onClose = () => finish(req.complete ? Buffer.concat(chunks) : null);
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('close', onClose);
    req.on('error', () => {});
  });
}

/**
 * What is kept of a body: its first `limit` bytes as text, with the routing keys in `hide` hidden
 * before the cut (read `limit` + KEY_MARGIN_BYTES, hide, then cut), so that a key across the limit
 * is never kept in part.
 */
export function keptBody(body: Buffer, limit: number, hide: readonly string[], pingKeys: readonly string[] = []): string {
  // A job's output often holds the ping URL (curl -v, set -x, runitor): the ping key is never kept.
  const text = hideSecrets(redactKnownKeys(headUtf8(body, limit + KEY_MARGIN_BYTES), hide), pingKeys, '<ping-key>');
  return headUtf8(Buffer.from(text), limit);
}

/**
 * The first `max` bytes of `bytes` as text, cut at a character boundary (a character the cut falls
 * inside is dropped whole); invalid UTF-8 becomes U+FFFD.
 */
export function headUtf8(bytes: Buffer, max: number): string {
  let end = Math.min(bytes.length, max);
  if (end < bytes.length) while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return decoder.decode(bytes.subarray(0, end));
}

const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
