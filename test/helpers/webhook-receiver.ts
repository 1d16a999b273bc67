/**
 * A webhook receiver on 127.0.0.1 (ephemeral port), as docs/webhooks.md tells people to write one:
 * it verifies every request's X-Medic-Signature (verifySignature from src/notify/webhook.ts;
 * a bad one is answered 401 and kept in `rejects`), drops a repeated event id (answered 200,
 * counted in `repeats`), and keeps the events it took in arrival order. Its answers can be
 * scripted (status, body, Retry-After or other headers, a delay before answering).
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { verifySignature } from '../../src/notify/webhook.js';

export type WebhookReply = number | { status: number; body?: string; headers?: Record<string, string>; delayMs?: number };

export interface WebhookRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  /** The body exactly as received. */
  rawBody: string;
  /** JSON.parse(rawBody), or undefined. */
  body: any;
  /** The status it was answered with. */
  status: number;
  at: number;
}

export interface WebhookReceiver {
  /** e.g. http://127.0.0.1:PORT/hooks/medic */
  url: string;
  /** Every request, in arrival order, whatever it was answered. */
  requests: WebhookRequest[];
  /** The signed events taken (answered 2xx), each event id once, in arrival order. */
  events: WebhookRequest[];
  /** Requests whose signature did not verify, with why (answered 401). */
  rejects: (WebhookRequest & { reason: string })[];
  /** Signed events answered 2xx again after their id was already taken (dropped). */
  repeats: number;
  /** The secret it verifies with (change it when the test rotates Medic's). */
  secret: string;
  /** The receiver's clock for the signature's tolerance (ms); default Date.now. Set it to the instant a faketime'd medic runs at. */
  now: () => number;
  /** Answer the next signed, non-repeated requests with these, in order; then 200. */
  replyQueue(...replies: WebhookReply[]): void;
  /** The answer once the queue is empty (default 200 `{"ok":true}`). */
  reply(fn: (req: WebhookRequest, index: number) => WebhookReply): void;
  close(): Promise<void>;
}

export const WEBHOOK_PATH = '/hooks/medic';

export async function startWebhookReceiver(secret: string, opts: { toleranceSeconds?: number } = {}): Promise<WebhookReceiver> {
  const queue: WebhookReply[] = [];
  let policy: (req: WebhookRequest, index: number) => WebhookReply = () => 200;
  const seen = new Set<string>();
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let body: any;
      try {
        body = JSON.parse(rawBody);
      } catch {
        body = undefined;
      }
      const record: WebhookRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, rawBody, body, status: 0, at: Date.now() };
      receiver.requests.push(record);
      const answer = (reply: WebhookReply) => {
        const r = typeof reply === 'number' ? { status: reply } : reply;
        record.status = r.status;
        const send = () => {
          res.writeHead(r.status, { 'content-type': 'application/json', ...r.headers });
          res.end(r.body ?? JSON.stringify({ ok: r.status < 300 }));
        };
        if (!r.delayMs) return send();
        const timer = setTimeout(() => {
          timers.delete(timer);
          send();
        }, r.delayMs);
        timers.add(timer);
      };
      const header = req.headers['x-medic-signature'];
      const verdict = verifySignature(receiver.secret, Array.isArray(header) ? header[0] : header, rawBody, Math.floor(receiver.now() / 1000), opts.toleranceSeconds);
      if (!verdict.ok) {
        receiver.rejects.push({ ...record, reason: verdict.reason });
        return answer({ status: 401, body: JSON.stringify({ error: verdict.reason }) });
      }
      const id = typeof body?.id === 'string' ? body.id : '';
      if (seen.has(id)) {
        receiver.repeats++;
        return answer(200);
      }
      const reply = queue.shift() ?? policy(record, receiver.requests.length - 1);
      const status = typeof reply === 'number' ? reply : reply.status;
      if (status >= 200 && status < 300) {
        seen.add(id);
        receiver.events.push(record);
      }
      answer(reply);
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const receiver: WebhookReceiver = {
    url: `http://127.0.0.1:${port}${WEBHOOK_PATH}`,
    secret,
    requests: [],
    events: [],
    rejects: [],
    repeats: 0,
    now: () => Date.now(),
    replyQueue: (...replies) => void queue.push(...replies),
    reply: (fn) => void (policy = fn),
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  return receiver;
}
