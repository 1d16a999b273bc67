/**
 * A Slack stand-in: a real `node:http` server on 127.0.0.1 (ephemeral port) serving one incoming
 * webhook (WEBHOOK_PATH) and the two Web API methods Medic calls (`/api/chat.postMessage`,
 * `/api/chat.update`). It checks what Slack checks — a JSON body, the Block Kit shape and its
 * limits, the bot token, the channel and the bot's membership — and answers as Slack does when
 * something is wrong. It keeps the messages by channel and ts (an update edits one, a reply joins
 * its thread), records every request, and can be told how to answer the next ones.
 *
 * Slack's facts it relies on are its own constants below. Node builtins only.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** An incoming webhook's path: /services/<team>/<bot>/<secret>, the last part 24 letters and digits. */
export const WEBHOOK_PATH = '/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX';
/** An obviously fake bot token. */
export const BOT_TOKEN = 'xoxb-0000000000-0000000000-FAKEfakeFAKEfake';
/** The channel the webhook posts to and the bot is a member of. */
export const ALERTS = { id: 'C0ALERTS01', name: 'alerts' };

/** Block Kit's limits as Slack enforces them (a message breaking one is refused with invalid_blocks). */
const LIMITS = { blocks: 50, header: 150, section: 3000, fields: 10, field: 2000, actions: 25, button: 75, url: 3000, context: 10, contextText: 3000 };
/** Top-level text beyond this is cut by Slack (not refused); the stand-in keeps what Slack would. */
const TEXT_TRUNCATED_AT = 40_000;

export interface Channel {
  id: string;
  name: string;
  /** The bot is a member (else not_in_channel). */
  member: boolean;
  archived: boolean;
}

export interface SlackRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  rawBody: string;
  /** The parsed JSON body, or undefined. */
  body: any;
  at: number;
  /** How it was answered. */
  status: number;
  answer: string;
}

export interface StoredMessage {
  channel: string;
  ts: string;
  text: string;
  blocks: any[] | undefined;
  /** For a reply: the message whose thread it is in. */
  threadTs: string | null;
  /** How many times chat.update changed it. */
  edits: number;
  /** Whether the message came through the webhook or the Web API. */
  via: 'webhook' | 'api';
}

/** How to answer one request: a raw answer (status, body, headers), checked nothing. */
export interface Scripted {
  status: number;
  body?: string;
  headers?: Record<string, string>;
}

export interface SlackServer {
  /** http://127.0.0.1:PORT */
  base: string;
  webhookUrl: string;
  /** The Web API base, for the target's apiUrl. */
  apiUrl: string;
  requests: SlackRequest[];
  /** Every message and reply posted, in order (edits change them in place). */
  messages: StoredMessage[];
  channels: Channel[];
  /** The token the API takes; change it to make the current one invalid. */
  token: string;
  /** Answer the next requests with these, in order (before any check), then check and answer as Slack. */
  script(...answers: Scripted[]): void;
  /** Replies in the thread of message `ts`. */
  thread(ts: string): StoredMessage[];
  close(): Promise<void>;
}

/** 429 with Retry-After, as both the webhook and the Web API answer when rate limited. */
export const rateLimited = (seconds: number): Scripted => ({ status: 429, body: 'rate_limited', headers: { 'retry-after': String(seconds) } });
export const serverError = (): Scripted => ({ status: 500, body: 'internal server error' });
/** An incoming webhook's error: a status and its plain-text reason. */
export const webhookError = (status: number, reason: string): Scripted => ({ status, body: reason });
/** A Web API error: HTTP 200 with `{"ok": false, "error": code}`. */
export const apiError = (code: string): Scripted => ({ status: 200, body: JSON.stringify({ ok: false, error: code }), headers: { 'content-type': 'application/json; charset=utf-8' } });

/** What is wrong with a message's text and blocks for Slack, or null. */
export function blockProblem(body: any): string | null {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return 'not an object';
  const { text, blocks } = body;
  if (text !== undefined && typeof text !== 'string') return 'text is not a string';
  if (blocks === undefined) return typeof text === 'string' && text !== '' ? null : 'no text and no blocks';
  if (!Array.isArray(blocks) || blocks.length === 0 || blocks.length > LIMITS.blocks) return `blocks: expected 1 to ${LIMITS.blocks}`;
  const textObject = (t: any, types: string[], max: number, at: string): string | null => {
    if (t === null || typeof t !== 'object' || !types.includes(t.type)) return `${at}: expected a ${types.join(' or ')} text object`;
    if (typeof t.text !== 'string' || t.text.length === 0) return `${at}: empty text`;
    if (t.text.length > max) return `${at}: text longer than ${max}`;
    // Not Slack's rule, Medic's: without verbatim Slack links URLs and channel names in a job's words.
    if (t.type === 'mrkdwn' && t.verbatim !== true) return `${at}: a mrkdwn text object without "verbatim": true (Slack would turn URLs and #channels in it into links)`;
    return null;
  };
  for (const [i, b] of blocks.entries()) {
    const at = `blocks[${i}]`;
    if (b === null || typeof b !== 'object') return `${at}: not an object`;
    let problem: string | null = null;
    switch (b.type) {
      case 'header':
        problem = textObject(b.text, ['plain_text'], LIMITS.header, `${at}.text`);
        break;
      case 'section':
        if (b.text === undefined && b.fields === undefined) problem = `${at}: needs text or fields`;
        if (b.text !== undefined) problem ??= textObject(b.text, ['plain_text', 'mrkdwn'], LIMITS.section, `${at}.text`);
        if (b.fields !== undefined) {
          if (!Array.isArray(b.fields) || b.fields.length === 0 || b.fields.length > LIMITS.fields) problem ??= `${at}.fields: expected 1 to ${LIMITS.fields}`;
          else for (const [j, f] of b.fields.entries()) problem ??= textObject(f, ['plain_text', 'mrkdwn'], LIMITS.field, `${at}.fields[${j}]`);
        }
        break;
      case 'actions':
        if (!Array.isArray(b.elements) || b.elements.length === 0 || b.elements.length > LIMITS.actions) problem = `${at}.elements: expected 1 to ${LIMITS.actions}`;
        else
          for (const [j, e] of b.elements.entries()) {
            if (e?.type !== 'button') problem ??= `${at}.elements[${j}]: not a button`;
            problem ??= textObject(e.text, ['plain_text'], LIMITS.button, `${at}.elements[${j}].text`);
            if (e.url !== undefined && (typeof e.url !== 'string' || e.url.length > LIMITS.url || !/^https?:\/\//.test(e.url))) problem ??= `${at}.elements[${j}].url: not a URL of at most ${LIMITS.url}`;
          }
        break;
      case 'context':
        if (!Array.isArray(b.elements) || b.elements.length === 0 || b.elements.length > LIMITS.context) problem = `${at}.elements: expected 1 to ${LIMITS.context}`;
        else for (const [j, e] of b.elements.entries()) problem ??= textObject(e, ['plain_text', 'mrkdwn'], LIMITS.contextText, `${at}.elements[${j}]`);
        break;
      case 'divider':
        break;
      default:
        problem = `${at}: unknown block type ${JSON.stringify(b.type)}`;
    }
    if (problem) return problem;
  }
  return null;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/** Starts the stand-in on 127.0.0.1, port 0. */
export function startSlackServer(opts: { channels?: Channel[] } = {}): Promise<SlackServer> {
  const requests: SlackRequest[] = [];
  const messages: StoredMessage[] = [];
  const channels: Channel[] = opts.channels ?? [{ ...ALERTS, member: true, archived: false }];
  const queue: Scripted[] = [];
  const sockets = new Set<Socket>();
  let tsCounter = 0;
  const state = { token: BOT_TOKEN };

  const newTs = () => `${Math.floor(Date.now() / 1000)}.${String(++tsCounter).padStart(6, '0')}`;
  const channelOf = (given: unknown) => (typeof given === 'string' ? channels.find((c) => c.id === given || `#${c.name}` === given || c.name === given) : undefined);
  const keep = (channel: string, body: any, via: StoredMessage['via']): StoredMessage => {
    const threadTs = typeof body.thread_ts === 'string' && messages.some((m) => m.channel === channel && m.ts === body.thread_ts) ? body.thread_ts : null;
    const m: StoredMessage = { channel, ts: newTs(), text: String(body.text ?? '').slice(0, TEXT_TRUNCATED_AT), blocks: body.blocks, threadTs, edits: 0, via };
    messages.push(m);
    return m;
  };

  /** The answer to one request, as Slack would give it. */
  function judge(method: string, path: string, headers: SlackRequest['headers'], raw: string): { status: number; body: string; headers?: Record<string, string> } {
    const scripted = queue.shift();
    if (scripted) return { status: scripted.status, body: scripted.body ?? '', headers: scripted.headers };
    let body: any;
    try {
      body = JSON.parse(raw);
    } catch {
      body = undefined;
    }
    const type = String(headers['content-type'] ?? '');
    if (path === WEBHOOK_PATH) {
      if (method !== 'POST') return { status: 405, body: 'invalid_method' };
      if (!type.startsWith('application/json') || body === undefined) return { status: 400, body: 'invalid_payload' };
      if (blockProblem(body)) return { status: 400, body: 'invalid_blocks' };
      keep(ALERTS.id, body, 'webhook');
      return { status: 200, body: 'ok' };
    }
    // The team and bot of this webhook with another secret: Slack says invalid_token; anything else no_service.
    if (path.startsWith('/services/')) return path.startsWith(WEBHOOK_PATH.replace(/[^/]+$/, '')) ? { status: 403, body: 'invalid_token' } : { status: 404, body: 'no_service' };
    const api = (payload: Record<string, unknown>) => ({ status: 200, body: JSON.stringify(payload), headers: { 'content-type': JSON_TYPE } });
    const apiMethod = path.startsWith('/api/') ? path.slice(5) : null;
    if (apiMethod !== 'chat.postMessage' && apiMethod !== 'chat.update') return { status: 404, body: 'not found' };
    const auth = String(headers.authorization ?? '');
    if (!auth) return api({ ok: false, error: 'not_authed' });
    if (auth !== `Bearer ${state.token}`) return api({ ok: false, error: 'invalid_auth' });
    if (!type.startsWith('application/json') || body === null || typeof body !== 'object' || Array.isArray(body)) return api({ ok: false, error: 'invalid_json' });
    const channel = channelOf(body.channel);
    if (!channel) return api({ ok: false, error: 'channel_not_found' });
    if (channel.archived) return api({ ok: false, error: 'is_archived' });
    if (!channel.member) return api({ ok: false, error: 'not_in_channel' });
    if (blockProblem(body)) return api({ ok: false, error: 'invalid_blocks' });
    if (apiMethod === 'chat.postMessage') {
      const m = keep(channel.id, body, 'api');
      return api({ ok: true, channel: channel.id, ts: m.ts, message: { text: m.text } });
    }
    const m = messages.find((x) => x.channel === channel.id && x.ts === body.ts && x.via === 'api');
    if (!m) return api({ ok: false, error: 'message_not_found' });
    m.text = String(body.text ?? '').slice(0, TEXT_TRUNCATED_AT);
    m.blocks = body.blocks;
    m.edits++;
    return api({ ok: true, channel: channel.id, ts: m.ts, text: m.text });
  }

  const send = (res: ServerResponse, a: { status: number; body: string; headers?: Record<string, string> }) => {
    res.writeHead(a.status, { 'content-type': 'text/plain; charset=utf-8', ...a.headers, 'content-length': Buffer.byteLength(a.body) });
    res.end(a.body);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
      let parsed: any;
      try {
        parsed = JSON.parse(rawBody);
      } catch {
        parsed = undefined;
      }
      const a = judge(req.method ?? '', path, req.headers, rawBody);
      requests.push({ method: req.method ?? '', path, headers: { ...req.headers }, rawBody, body: parsed, at: Date.now(), status: a.status, answer: a.body });
      send(res, a);
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      let closing: Promise<void> | undefined;
      resolve({
        base,
        webhookUrl: `${base}${WEBHOOK_PATH}`,
        apiUrl: `${base}/api`,
        requests,
        messages,
        channels,
        get token() {
          return state.token;
        },
        set token(t: string) {
          state.token = t;
        },
        script(...answers) {
          queue.push(...answers);
        },
        thread(ts) {
          return messages.filter((m) => m.threadTs === ts);
        },
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
