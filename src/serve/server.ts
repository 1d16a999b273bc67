import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { ServeSettings } from '../config.js';
import { redactJobText } from '../errors.js';
import type { BeatInput, Store } from '../store/types.js';
import type { GroupCommit } from './batch.js';
import { keyMatches } from './key.js';
import { pathForLog, route } from './route.js';

/**
 * A request body over this is answered 413: before a byte of it is read when Content-Length says
 * so, else as soon as it gets there (the part past serve.bodyLimit, at most 64 KiB, is read and dropped).
 */
export const MAX_REQUEST_BYTES = 1024 * 1024;

/** How long a /healthz answer is reused: a load balancer polling every 100 ms costs one probe a second or so. */
export const HEALTH_CACHE_MS = 1500;

/** What the server answers from; swapped whole when the config is reloaded (SIGHUP). */
export interface ServeState {
  pingKey: string;
  slugs: ReadonlySet<string>;
  /** Routing keys to hide in what a job sent (redactJobText), as `medic beat -m` hides them. */
  hide: readonly string[];
}

export interface ServerDeps {
  settings: ServeSettings;
  /** PEM bytes, read by the caller; null: plain HTTP. */
  tls: { cert: Buffer; key: Buffer } | null;
  commit: GroupCommit;
  store: Pick<Store, 'probe'>;
  state: () => ServeState;
  /** With -v: one line per request (the ping key never in it). */
  log: ((line: string) => void) | null;
  /** A commit failed (its requests were answered 503), or answering a request failed (500). */
  onError: (what: 'commit' | 'internal', err: unknown) => void;
  monotonic: () => number;
  now: () => number;
}

export interface RunningServer {
  /** `http://127.0.0.1:8080` (the port the system gave, for port 0). */
  url: string;
  /** Stops accepting, lets requests in flight finish (their beats committed) for up to `graceMs`, then drops what is left. */
  close(graceMs: number): Promise<void>;
}

const TEXT = { 'Content-Type': 'text/plain; charset=utf-8' };

export async function startServer(deps: ServerDeps): Promise<RunningServer> {
  const { settings: s, commit, log } = deps;
  let draining = false;
  let inFlight = 0;
  let drained: (() => void) | null = null;
  let health: { at: number; ok: Promise<boolean> } | null = null;
  const pingHeaders = { ...TEXT, 'Access-Control-Allow-Origin': '*', 'Cache-Control': 'no-cache', 'Ping-Body-Limit': String(s.bodyLimit) };

  const healthy = (): Promise<boolean> => {
    const t = deps.monotonic();
    if (!health || t - health.at >= HEALTH_CACHE_MS) {
      health = {
        at: t,
        ok: deps.store.probe().then(
          () => true,
          () => false,
        ),
      };
    }
    return health.ok;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const answer = (status: number, body: string, headers: Record<string, string> = TEXT) => {
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
        return answer(405, 'method not allowed', { ...TEXT, Allow: 'GET, POST, HEAD' });
      case 'bad':
        return answer(400, r.reason, pingHeaders);
      case 'healthz':
        return (await healthy()) ? answer(200, 'OK', { ...TEXT, 'Cache-Control': 'no-cache' }) : answer(503, 'database not writable', { ...TEXT, 'Cache-Control': 'no-cache' });
    }
    const state = deps.state();
    // The same answer for a wrong key and an unknown slug, so that keys cannot be probed by it.
    if (!keyMatches(r.key, state.pingKey) || !state.slugs.has(r.slug)) return answer(404, 'not found', pingHeaders);
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_REQUEST_BYTES) return tooLarge(res, pingHeaders);
    const body = await readBody(req, s.bodyLimit);
    if (body === 'too-large') return tooLarge(res, pingHeaders);
    if (body === null) return; // the client went away, or timed out (Node answered 408)
    const text = body.length > 0 ? headUtf8(body, s.bodyLimit) : null;
    const beat: BeatInput = { slug: r.slug, kind: r.kind, ...(r.runId && { runId: r.runId }) };
    if (r.kind === 'log') beat.details = redactJobText({ message: text ?? '' }, state.hide);
    else if (text !== null || r.exitCode !== null) beat.details = redactJobText({ exitCode: r.exitCode, outputTail: text }, state.hide);
    try {
      await commit.add(beat);
    } catch (err) {
      deps.onError('commit', err);
      return answer(503, 'database unavailable, try again', { ...pingHeaders, 'Retry-After': '5' });
    }
    answer(200, 'OK', pingHeaders);
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    inFlight++;
    const started = deps.monotonic();
    if (log) {
      res.once('close', () => {
        const ms = deps.monotonic() - started;
        log(`${new Date(deps.now()).toISOString()} ${req.socket.remoteAddress ?? '-'} ${req.method} ${pathForLog(req.url ?? '/')} ${res.headersSent ? res.statusCode : '-'} ${ms.toFixed(1)}ms`);
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
  const server: Server = deps.tls ? createHttpsServer({ ...opts, cert: deps.tls.cert, key: deps.tls.key }, onRequest) : createHttpServer(opts, onRequest);
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
      clearTimeout(timer);
      await closed;
    },
  };
}

function tooLarge(res: ServerResponse, headers: Record<string, string>): void {
  if (res.headersSent || res.destroyed) return;
  // Connection: close — the rest of the body is never read; the connection ends with the answer.
  const body = 'request body too large';
  res.writeHead(413, { ...headers, 'Content-Length': String(body.length), Connection: 'close' });
  res.end(body);
}

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
 * The first `max` bytes of `bytes` as text, cut at a character boundary (a character the cut falls
 * inside is dropped whole); invalid UTF-8 becomes U+FFFD.
 */
export function headUtf8(bytes: Buffer, max: number): string {
  let end = Math.min(bytes.length, max);
  if (end < bytes.length) while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return decoder.decode(bytes.subarray(0, end));
}

const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
