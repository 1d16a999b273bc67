/**
 * A real `node:http` server on 127.0.0.1 (ephemeral port) standing in for `medic serve`, answering
 * like Healthchecks' slug ping URLs: `/ping/<ping-key>/<slug>[/start|/fail|/log|/<exit-status>]`,
 * GET, POST and HEAD, `?rid=<uuid>`.
 *
 * - 200, body `OK`, with `Ping-Body-Limit`, `Access-Control-Allow-Origin: *`, `Cache-Control: no-cache`.
 * - 404, body `not found`: an unknown slug or a wrong ping key (the same answer for both).
 * - 400 `invalid url format`: an exit status over 255; 400 `invalid uuid format`: a rid that is not a UUID.
 * - a POST body over `hardCapBytes`: 413 (from Content-Length, before reading).
 *
 * A test may script other answers (500, 429 + Retry-After, a redirect, a hang, a dropped
 * connection) for the next requests. Every request is recorded with its body bytes.
 *
 * Node builtins only.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What a ping says, as the stand-in reads its path. */
export type PingKind = 'ok' | 'start' | 'fail' | 'log' | { exitStatus: number };

export interface PingRequest {
  method: string;
  /** As sent, with the query (e.g. `/ping/<key>/backup/start?rid=…`). */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** `Date.now()` when the request had been read. */
  at: number;
}

/** A ping the stand-in accepted (answered 200 `OK`). */
export interface AcceptedPing {
  slug: string;
  kind: PingKind;
  rid: string | null;
  /** The body as kept: at most `bodyLimit` bytes, decoded as UTF-8. */
  body: string;
}

/**
 * - `{ status, body?, headers? }`: that answer.
 * - `'hang'`: read the request, never answer (the socket is destroyed by `close()`).
 * - `'destroy'`: read the request, start the answer, then drop the connection.
 */
export type PingReply = { status: number; body?: string; headers?: Record<string, string> } | 'hang' | 'destroy';

export interface PingServerOptions {
  /** The ping key it accepts. */
  key: string;
  /** The slugs it knows. */
  slugs: string[];
  /** `Ping-Body-Limit` (bytes of a body kept). Default 10,000, as Healthchecks. */
  bodyLimit?: number;
  /** A POST whose Content-Length is over this gets 413 before it is read. Default 1 MiB. */
  hardCapBytes?: number;
}

export interface PingServer {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  /** `http://127.0.0.1:PORT/ping/<key>`: what MEDIC_URL is set to. */
  url: string;
  requests: PingRequest[];
  accepted: AcceptedPing[];
  /** Answer the next requests with these, in order, before the Healthchecks rules. */
  replyQueue(...replies: PingReply[]): void;
  close(): Promise<void>;
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Healthchecks' answer to a request to `path` (no scripted reply): the status, its text, and the ping when accepted. */
export function healthchecksAnswer(path: string, opts: { key: string; slugs: string[] }): { status: number; text: string; ping?: Omit<AcceptedPing, 'body'> } {
  const url = new URL(path, 'http://127.0.0.1');
  const m = /^\/ping\/([^/]+)\/([^/]+)(?:\/(start|fail|log|\d+))?\/?$/.exec(url.pathname);
  if (!m) return { status: 404, text: 'not found' };
  const [, key, slug, action] = m as unknown as [string, string, string, string | undefined];
  let kind: PingKind = 'ok';
  if (action === 'start' || action === 'fail' || action === 'log') kind = action;
  else if (action !== undefined) {
    const exitStatus = Number(action);
    if (exitStatus > 255) return { status: 400, text: 'invalid url format' };
    kind = { exitStatus };
  }
  const rid = url.searchParams.get('rid');
  if (rid !== null && !UUID.test(rid)) return { status: 400, text: 'invalid uuid format' };
  if (key !== opts.key || !opts.slugs.includes(slug)) return { status: 404, text: 'not found' };
  return { status: 200, text: 'OK', ping: { slug, kind, rid } };
}

export function startPingServer(opts: PingServerOptions): Promise<PingServer> {
  const bodyLimit = opts.bodyLimit ?? 10_000;
  const hardCap = opts.hardCapBytes ?? 1024 * 1024;
  const requests: PingRequest[] = [];
  const accepted: AcceptedPing[] = [];
  const queue: PingReply[] = [];
  const sockets = new Set<Socket>();

  const answer = (res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), ...headers });
    res.end(text);
  };

  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const rec: PingRequest = { method: req.method ?? '', path: req.url ?? '', headers: { ...req.headers }, body, at: Date.now() };
    requests.push(rec);
    const scripted = queue.shift();
    if (scripted === 'hang') return;
    if (scripted === 'destroy') {
      req.socket.write('HTTP/1.1 200 OK\r\nContent-Type: te', () => req.socket.destroy());
      return;
    }
    if (scripted) {
      answer(res, scripted.status, scripted.body ?? '', scripted.headers);
      return;
    }
    const said = healthchecksAnswer(rec.path, opts);
    if (!said.ping) {
      answer(res, said.status, said.text);
      return;
    }
    accepted.push({ ...said.ping, body: body.subarray(0, bodyLimit).toString('utf8') });
    answer(res, 200, 'OK', { 'ping-body-limit': String(bodyLimit), 'access-control-allow-origin': '*', 'cache-control': 'no-cache' });
  };

  const server = createServer((req, res) => {
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > hardCap) {
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: { ...req.headers }, body: Buffer.alloc(0), at: Date.now() });
      res.writeHead(413, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
      res.end('request entity too large');
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      const { port } = server.address() as AddressInfo;
      const origin = `http://127.0.0.1:${port}`;
      let closing: Promise<void> | undefined;
      resolve({
        origin,
        url: `${origin}/ping/${opts.key}`,
        requests,
        accepted,
        replyQueue: (...replies) => void queue.push(...replies),
        close() {
          closing ??= new Promise<void>((done) => {
            server.close(() => done());
            for (const s of sockets) s.destroy();
            server.closeAllConnections();
          });
          return closing;
        },
      });
    });
  });
}
