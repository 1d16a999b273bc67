/**
 * A real `node:http` server on 127.0.0.1 (ephemeral port) standing in for
 * PagerDuty's Events API v2 `POST /v2/enqueue`.
 *
 * Node builtins only.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { randomUUID } from 'node:crypto';

/**
 * How to answer one request:
 * - `202`: PagerDuty's success body `{"status":"success","message":"Event processed","dedup_key":...}`.
 * - `{ status, body?, contentType?, headers? }`: that status and body (a `status: 202` object also
 *   counts as accepted).
 * - `'hang'`: read the body, never answer; the socket is destroyed by `close()`.
 * - `'destroy'`: read the body, write the status line and part of the headers, then destroy the
 *   socket (the client sees the connection drop mid-response).
 */
export type Reply =
  | 202
  | { status: number; body?: string; contentType?: string; headers?: Record<string, string> }
  | 'hang'
  | 'destroy';

export interface RecordedRequest {
  method: string;
  /** Request target as sent, including any query string (e.g. `/v2/enqueue`). */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  rawBody: string;
  /** `JSON.parse(rawBody)`, or `undefined` when the body is not valid JSON. */
  body: any;
  /** `Date.now()` when the body had been read. */
  at: number;
}

export interface PdServer {
  /** e.g. `http://127.0.0.1:PORT/v2/enqueue` */
  url: string;
  /** Every request received, in order (including ones answered with errors). */
  requests: RecordedRequest[];
  /** Only the requests answered 202. */
  accepted: RecordedRequest[];
  /** Set the answering policy (default: always 202). `index` is the request's index in `requests`. */
  reply(fn: (req: RecordedRequest, index: number) => Reply): void;
  /** Answer the next requests with these, in order, then fall back to the policy. */
  replyQueue(...replies: Reply[]): void;
  /** Close the server and destroy every open socket (including hanging ones). */
  close(): Promise<void>;
}

export const ENQUEUE_PATH = '/v2/enqueue';

const JSON_TYPE = 'application/json';

/** 400 with PagerDuty's JSON error body. */
export function badRequestJson(errors: string[]): Reply {
  return {
    status: 400,
    body: JSON.stringify({ status: 'invalid event', message: 'Event object is invalid', errors }),
    contentType: JSON_TYPE,
  };
}

/** 400 with a plain-text body. */
export function badRequestText(text: string): Reply {
  return { status: 400, body: text, contentType: 'text/plain; charset=utf-8' };
}

/** 429 with PagerDuty's throttle body. */
export function tooMany(): Reply {
  return {
    status: 429,
    body: JSON.stringify({
      status: 'throttle event',
      message: 'Requests for this service are arriving too quickly. Please retry later.',
    }),
    contentType: JSON_TYPE,
  };
}

/** 500 with a JSON body shaped like the OpenAPI file's `Error` response (status, message). */
export function serverError(): Reply {
  return {
    status: 500,
    body: JSON.stringify({ status: 'Internal Server Error', message: 'An internal error occurred.' }),
    contentType: JSON_TYPE,
  };
}

function parseJson(raw: string): any {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

/** Start the fake PagerDuty on 127.0.0.1, port 0. */
export function startPdServer(): Promise<PdServer> {
  const requests: RecordedRequest[] = [];
  const accepted: RecordedRequest[] = [];
  const queue: Reply[] = [];
  let policy: (req: RecordedRequest, index: number) => Reply = () => 202;
  const sockets = new Set<Socket>();

  function send(res: ServerResponse, rec: RecordedRequest, r: Exclude<Reply, 'hang' | 'destroy'>): void {
    if (r === 202) {
      const dedup =
        rec.body !== null && typeof rec.body === 'object' && typeof rec.body.dedup_key === 'string'
          ? (rec.body.dedup_key as string)
          : randomUUID().replace(/-/g, ''); // PagerDuty generates a key when none is sent
      const body = JSON.stringify({ status: 'success', message: 'Event processed', dedup_key: dedup });
      res.writeHead(202, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(body) });
      res.end(body);
      accepted.push(rec);
      return;
    }
    const body = r.body ?? '';
    const headers: Record<string, string | number> = { ...(r.headers ?? {}) };
    const hasType = Object.keys(headers).some((k) => k.toLowerCase() === 'content-type');
    if (r.contentType !== undefined) headers['content-type'] = r.contentType;
    else if (!hasType && body !== '') headers['content-type'] = 'text/plain; charset=utf-8';
    headers['content-length'] = Buffer.byteLength(body);
    res.writeHead(r.status, headers);
    res.end(body);
    if (r.status === 202) accepted.push(rec);
  }

  function answer(req: IncomingMessage, res: ServerResponse, rec: RecordedRequest, index: number): void {
    let r: Reply;
    const pathname = new URL(rec.path, 'http://127.0.0.1').pathname;
    if (pathname !== ENQUEUE_PATH) {
      // Not the endpoint being stood in for: answer like an unknown route, bypassing policy/queue.
      send(res, rec, { status: 404, body: JSON.stringify({ status: 'not found', message: `No route ${rec.method} ${pathname}` }), contentType: JSON_TYPE });
      return;
    }
    if (rec.method !== 'POST') {
      send(res, rec, { status: 405, body: '', headers: { allow: 'POST' } });
      return;
    }
    try {
      r = queue.length > 0 ? (queue.shift() as Reply) : policy(rec, index);
    } catch (e) {
      send(res, rec, { status: 500, body: `pd-server policy threw: ${String(e)}` });
      return;
    }
    if (r === 'hang') return; // keep open; close() destroys the socket
    if (r === 'destroy') {
      const sock = req.socket;
      sock.write('HTTP/1.1 202 Accepted\r\nContent-Type: appl', () => sock.destroy());
      return;
    }
    send(res, rec, r);
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const rec: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: { ...req.headers },
        rawBody,
        body: parseJson(rawBody),
        at: Date.now(),
      };
      const index = requests.push(rec) - 1;
      answer(req, res, rec, index);
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  return new Promise<PdServer>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      const { port } = server.address() as AddressInfo;
      let closing: Promise<void> | undefined;
      resolve({
        url: `http://127.0.0.1:${port}${ENQUEUE_PATH}`,
        requests,
        accepted,
        reply(fn) {
          policy = fn;
        },
        replyQueue(...replies) {
          queue.push(...replies);
        },
        close() {
          closing ??= new Promise<void>((res) => {
            server.close(() => res());
            for (const s of sockets) s.destroy();
            server.closeAllConnections();
          });
          return closing;
        },
      });
    });
  });
}

/**
 * A loopback URL on which nothing listens: binds 127.0.0.1 port 0, notes the port,
 * closes. Connecting to it gets ECONNREFUSED.
 */
export function refusedUrl(): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close((err) => (err ? reject(err) : resolve(`http://127.0.0.1:${port}${ENQUEUE_PATH}`)));
    });
  });
}
