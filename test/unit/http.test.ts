/**
 * src/notify/http.ts against real loopback servers: the PagerDuty stand-in, misbehaving proxies,
 * a server streaming a huge answer. Plus the pure rules (what an answer means, Retry-After,
 * what of an answer is kept) as tables.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  httpPinger,
  httpSender,
  judgeAnswer,
  MAX_KEPT_CHARS,
  MAX_SHOWN_CHARS,
  probeEventsUrl,
  readAnswer,
  retryAfterMs,
  type SendResult,
} from '../../src/notify/http.js';
import { keysInEnv, stripUserinfo, urlForDisplay } from '../../src/errors.js';
import { closedAfterEach } from '../helpers/standins.js';
import { badProxy, silentListener, type Listener, type ProxyMode } from '../helpers/proxy.js';
import { badRequestJson, startPdServer, type PdServer } from '../helpers/pd-server.js';

/** The guide's example key: never a real one. */
const KEY = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';
const EVENT = { routing_key: KEY, event_action: 'trigger', dedup_key: 'medic-heartbeat-backup', payload: { summary: 's', severity: 'error', source: 'medic' } };
const NOW = Date.parse('2026-11-26T12:00:00Z');

const track = closedAfterEach();
const pdServer = (): Promise<PdServer> => track(startPdServer());
const proxy = (mode: ProxyMode): Promise<Listener> => track(badProxy(mode));
const failed = (r: SendResult) => r as Extract<SendResult, { ok: false }>;

describe('what an answer means', () => {
  const ctx = { url: 'https://events.pagerduty.com/v2/enqueue', key: KEY, sentDedup: 'medic-heartbeat-backup', now: NOW };
  const json = (o: unknown) => JSON.stringify(o);
  it.each<[string, number, string, Record<string, string>, Partial<SendResult>]>([
    ['202 is delivered', 202, json({ status: 'success', message: 'Event processed', dedup_key: 'medic-heartbeat-backup' }), {}, { ok: true, status: 202 }],
    ['a 202 whose body is not JSON is still delivered', 202, 'accepted', {}, { ok: true, status: 202 }],
    // PagerDuty accepts with 202 only: a captive portal's 200 or a proxy's 204 is not a page sent.
    ['a 200 login page is not delivered: retried', 200, '<html>Login required</html>', {}, { ok: false, permanent: false, status: 200 }],
    ['a 204 is not delivered either', 204, '', {}, { ok: false, permanent: false, status: 204 }],
    ['301 is a config problem, never followed', 301, '', { location: 'https://events.eu.pagerduty.com/v2/enqueue' }, { ok: false, permanent: true, status: 301 }],
    ['307 too', 307, '', { location: '/v2/enqueue2' }, { ok: false, permanent: true, status: 307 }],
    ['400 (the key) is permanent', 400, json({ status: 'invalid event', message: 'Event object is invalid', errors: ["'routing_key' is invalid"] }), {}, { ok: false, permanent: true, status: 400 }],
    ['400 in plain text is permanent', 400, 'Invalid routing key', {}, { ok: false, permanent: true, status: 400 }],
    ['401, 403, 404 are permanent', 404, 'Not Found', {}, { ok: false, permanent: true, status: 404 }],
    ['408 is retried', 408, '', {}, { ok: false, permanent: false, status: 408 }],
    ['429 is retried after Retry-After', 429, json({ status: 'throttle event' }), { 'retry-after': '3' }, { ok: false, permanent: false, status: 429, retryAfterMs: 3000 }],
    ['a plain-text 502 from a load balancer is retried', 502, '<html>Bad Gateway</html>', {}, { ok: false, permanent: false, status: 502 }],
    ['503 with Retry-After: 0 waits a second, not zero', 503, '', { 'retry-after': '0' }, { ok: false, permanent: false, status: 503, retryAfterMs: 1000 }],
  ])('%s', (_name, status, text, headers, expected) => {
    expect(judgeAnswer({ status, headers, text }, ctx)).toMatchObject(expected);
  });

  it('a redirect names where it points, without userinfo or a key, and says what to change', () => {
    const r = failed(judgeAnswer({ status: 302, headers: { location: `https://bob:hunter2@relay.example/v2/${KEY}?k=${KEY.toLowerCase()}` }, text: '<a>moved</a>' }, ctx));
    expect(r.error).toBe('eventsUrl answers with a redirect (HTTP 302 to https://relay.example/v2/a1b2…o5p6?k=a1b2…o5p6); set eventsUrl to the final URL');
    expect(r.answer).toBeUndefined();
  });
});

describe('Retry-After', () => {
  it.each<[string | undefined, number | undefined]>([
    [undefined, undefined],
    ['', undefined],
    ['0', 1000],
    ['0.2', 1000],
    ['1', 1000],
    ['7', 7000],
    ['1.5', 1500],
    ['86400', 5 * 60_000],
    ['-3', undefined],
    ['soon', undefined],
    ['Thu, 26 Nov 2026 12:00:30 GMT', 30_000],
    ['Thu, 26 Nov 2026 11:00:00 GMT', 1000],
    ['Fri, 27 Nov 2026 12:00:00 GMT', 5 * 60_000],
  ])('%j → %j ms', (header, ms) => {
    expect(retryAfterMs(header, NOW)).toBe(ms);
  });
});

describe('what of an answer is kept', () => {
  it.each<[string, string, object]>([
    ['the key sent, as it was', JSON.stringify({ message: `bad key ${KEY}` }), { message: 'bad key a1b2…o5p6' }],
    ['the key sent, upper-cased', JSON.stringify({ message: `bad key ${KEY.toUpperCase()}` }), { message: 'bad key A1B2…O5P6' }],
    ['the key sent, \\u-escaped in JSON', `{"message":"bad key ${[...KEY].map((ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"}`, { message: 'bad key a1b2…o5p6' }],
    ['the key sent, \\u-escaped in plain text', `bad key \\u0061${KEY.slice(1)}`, { message: 'bad key a1b2…o5p6' }],
    ['another key-shaped token in their text', JSON.stringify({ errors: ['key 0123456789abcdefABCDEF0123456789 is unknown'] }), { errors: ['key 0123…6789 is unknown'] }],
    ['our own dedup key, even one holding a long slug, as sent', JSON.stringify({ dedup_key: 'medic-heartbeat-backup' }), { dedup_key: 'medic-heartbeat-backup' }],
    ['a third party cannot start a line of its own', JSON.stringify({ message: 'oops\nmedic: all events delivered\r\nok' }), { message: 'oops medic: all events delivered ok' }],
    ['only the fields Medic knows', JSON.stringify({ status: 'success', secret: KEY, nested: { a: 1 } }), { status: 'success' }],
  ])('%s', (_name, text, expected) => {
    const { answer } = readAnswer(text, KEY, 'medic-heartbeat-backup');
    expect(answer).toEqual(expected);
    expect(JSON.stringify(answer)).not.toMatch(/a1b2c3d4e5f6/i);
  });

  it('keeps at most ~1 KB to show and 4 KiB in all, however long or escaped the answer', () => {
    const huge = JSON.stringify({ status: 'x'.repeat(10_000), message: '\u001b'.repeat(50_000), errors: Array.from({ length: 500 }, () => 'e'.repeat(1000)) });
    const { answer } = readAnswer(huge, KEY);
    expect(JSON.stringify(answer).length).toBeLessThanOrEqual(MAX_KEPT_CHARS);
    expect([answer.message ?? '', ...(answer.errors ?? [])].join(': ').length).toBeLessThanOrEqual(MAX_SHOWN_CHARS + 10);
    const plain = readAnswer('y'.repeat(60_000), KEY);
    expect(plain.json).toBe(false);
    expect(plain.answer.message!.length).toBeLessThanOrEqual(MAX_SHOWN_CHARS);
  });
});

describe('sending through real sockets', () => {
  it('reads at most 64 KiB of a 50 MB 202 and stops the server sending the rest', async () => {
    let written = 0;
    let closed = false;
    let closedEarly = false;
    const server: Server = createServer((req, res) => {
      req.resume();
      res.writeHead(202, { 'content-type': 'application/json', 'content-length': 50 * 1024 * 1024 });
      const chunk = Buffer.alloc(64 * 1024, 'a');
      const pump = () => {
        while (written < 50 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('close', () => {
        closed = true;
        closedEarly = written < 50 * 1024 * 1024 || !res.writableFinished;
      });
      pump();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    await track({ close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))) });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/enqueue`;
    const before = process.memoryUsage().rss;
    const result = await httpSender({})(url, EVENT, 5000);
    expect(result).toMatchObject({ ok: true, status: 202 });
    expect(JSON.stringify((result as { answer: unknown }).answer).length).toBeLessThanOrEqual(MAX_KEPT_CHARS);
    // The server sees the connection close soon after (up to 5 s on a loaded machine).
    for (let i = 0; i < 250 && !closed; i++) await new Promise((r) => setTimeout(r, 20));
    expect(closedEarly).toBe(true);
    // What the kernel buffered before medic stopped reading: far less than the 50 MB offered.
    expect(written).toBeLessThan(16 * 1024 * 1024);
    expect(process.memoryUsage().rss - before).toBeLessThan(40 * 1024 * 1024);
  });

  it('never follows a redirect: one request, permanent, the target named without its userinfo', async () => {
    const pd = await pdServer();
    pd.reply(() => ({ status: 301, headers: { location: 'https://user:pw@elsewhere.example/v2/enqueue' } }));
    const result = failed(await httpSender({})(pd.url, EVENT, 2000));
    expect(result).toMatchObject({ ok: false, permanent: true, status: 301 });
    expect(result.error).toBe('eventsUrl answers with a redirect (HTTP 301 to https://elsewhere.example/v2/enqueue); set eventsUrl to the final URL');
    expect(pd.requests).toHaveLength(1);
  });

  it('an answer echoing the key (upper-cased, \\u-escaped) is redacted before anything keeps it', async () => {
    const pd = await pdServer();
    const escaped = [...KEY].map((ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
    pd.reply(() => ({ status: 400, body: `{"status":"invalid event","message":"key ${escaped}","errors":["${KEY.toUpperCase()} unknown"]}`, contentType: 'application/json' }));
    const result = await httpSender({})(pd.url, EVENT, 2000);
    expect(JSON.stringify(result)).not.toMatch(/a1b2c3d4e5f6|\\u0061\\u0031/i);
    expect(failed(result).answer).toEqual({ status: 'invalid event', message: 'key a1b2…o5p6', errors: ['A1B2…O5P6 unknown'] });
  });

  it('plain http:// never goes through a proxy, whatever HTTP_PROXY and HTTPS_PROXY say', async () => {
    const pd = await pdServer();
    const p = await proxy('hang');
    const result = await httpSender({ HTTP_PROXY: p.url, http_proxy: p.url, HTTPS_PROXY: p.url })(pd.url, EVENT, 2000);
    expect(result).toMatchObject({ ok: true, status: 202 });
    expect(p.connections).toBe(0);
  });

  it('https goes through HTTPS_PROXY (a CONNECT), unless NO_PROXY names the host', async () => {
    const direct = await silentListener();
    await track(direct);
    const url = `https://127.0.0.1:${direct.port}/v2/enqueue`;
    const p = await proxy('refuse');
    const proxied = await httpSender({ HTTPS_PROXY: p.url })(url, EVENT, 1000);
    expect(proxied).toMatchObject({ ok: false, permanent: false, status: null });
    expect(p.lines).toEqual([`CONNECT 127.0.0.1:${direct.port} HTTP/1.1`]);
    expect(direct.connections).toBe(0);

    const bypassed = await httpSender({ HTTPS_PROXY: p.url, NO_PROXY: 'localhost,127.0.0.1' })(url, EVENT, 500);
    expect(bypassed).toMatchObject({ ok: false, status: null });
    expect(p.connections).toBe(1);
    expect(direct.connections).toBe(1);
  });

  // nodejs/undici#3897: a proxy that drops the CONNECT made undici reconnect in a tight loop for
  // ever, ignoring the signal and every timeout; one that never answers hung past them.
  it.each<[ProxyMode, RegExp]>([
    ['drop', /^the proxy http:\/\/127\.0\.0\.1:\d+\/ closed the connection before the tunnel was set up/],
    ['close', /^the proxy http:\/\/127\.0\.0\.1:\d+\/ closed the connection before the tunnel was set up/],
    ['hang', /^no answer within 800 ms \(timeout, through the proxy http:\/\/127\.0\.0\.1:\d+\/\)$/],
  ])('a proxy that %ss the CONNECT: the send settles within its timeout, without spinning, and never shows the proxy password', async (mode, error) => {
    const p = await proxy(mode);
    const proxyUrl = p.url.replace('http://', 'http://medic:s3cret@');
    const started = performance.now();
    const cpu = process.cpuUsage();
    const result = failed(await httpSender({ HTTPS_PROXY: proxyUrl })('https://127.0.0.1:9/v2/enqueue', EVENT, 800));
    const wallMs = performance.now() - started;
    const used = process.cpuUsage(cpu);
    expect(result).toMatchObject({ ok: false, permanent: false, status: null });
    expect(result.error).toMatch(error);
    expect(result.error).not.toContain('s3cret');
    expect(wallMs).toBeLessThan(800 + 1000);
    // The loop opened thousands of connections a second; a sane client opens one or two.
    expect(p.connections).toBeLessThanOrEqual(3);
    expect((used.user + used.system) / 1000).toBeLessThan(Math.max(300, wallMs * 0.6));
    // Nothing keeps reconnecting after the send settled.
    const after = p.connections;
    await new Promise((r) => setTimeout(r, 300));
    expect(p.connections).toBe(after);
  });

  it('the watcher ping has the same deadline through a proxy that never answers', async () => {
    const p = await proxy('hang');
    const started = performance.now();
    const result = await httpPinger({ HTTPS_PROXY: p.url })('https://127.0.0.1:9/ping/abc', 'GET', 500);
    expect(result).toMatchObject({ ok: false, error: expect.stringMatching(/^no answer within 500 ms \(timeout/) });
    expect(performance.now() - started).toBeLessThan(1500);
  });
});

describe("doctor's probe of an events URL: an empty event, which PagerDuty refuses with 400", () => {
  it.each<[string, (pd: PdServer) => void, string, object]>([
    ['400 "Event object is invalid" is the healthy answer', (pd) => pd.reply(() => badRequestJson(["'routing_key' is missing"])), '/v2/enqueue', { ok: true, status: 400, said: "Event object is invalid: 'routing_key' is missing" }],
    ['a wrong path (404)', () => {}, '/v2/enqueu', { ok: false, error: expect.stringMatching(/^eventsUrl path is wrong \(HTTP 404: /), fix: expect.stringContaining('ends in /v2/enqueue') }],
    ['a redirect', (pd) => pd.reply(() => ({ status: 308, headers: { location: 'https://events.pagerduty.com/v2/enqueue' } })), '/v2/enqueue', { ok: false, error: 'eventsUrl answers with a redirect (HTTP 308 to https://events.pagerduty.com/v2/enqueue); set eventsUrl to the final URL' }],
    ['a failing server (503)', (pd) => pd.reply(() => ({ status: 503, body: 'down' })), '/v2/enqueue', { ok: false, error: 'the server is failing (HTTP 503: down)' }],
  ])('%s', async (_name, setup, path, expected) => {
    const pd = await pdServer();
    setup(pd);
    const result = await probeEventsUrl(pd.url.replace('/v2/enqueue', path), 2000, {});
    expect(result).toMatchObject(expected);
    expect(pd.requests.map((r) => `${r.method} ${r.rawBody}`)).toEqual(['POST {}']);
  });

  it('nothing listening, or a proxy that never answers: unreachable, within the timeout', async () => {
    const refused = await probeEventsUrl('http://127.0.0.1:9/v2/enqueue', 1000, {});
    expect(refused).toMatchObject({ ok: false, error: 'connection refused' });
    const p = await proxy('hang');
    const started = performance.now();
    const hung = await probeEventsUrl('https://127.0.0.1:9/v2/enqueue', 500, { HTTPS_PROXY: p.url });
    expect(hung).toMatchObject({ ok: false, error: expect.stringMatching(/^no answer within 500 ms/) });
    expect(performance.now() - started).toBeLessThan(1500);
  });
});

describe('URLs and keys as Medic shows them', () => {
  it.each<[string, string]>([
    ['https://events.pagerduty.com/v2/enqueue', 'https://events.pagerduty.com/v2/enqueue'],
    ['https://user:pw@relay.example:8443/v2/enqueue', 'https://relay.example:8443/v2/enqueue'],
    ['http://only-user@127.0.0.1:9/x', 'http://127.0.0.1:9/x'],
    [`https://events.pagerduty.com/integration/${KEY}/enqueue`, 'https://events.pagerduty.com/integration/a1b2…o5p6/enqueue'],
    ['not a url user:pw@host', 'not a url user:pw@host'],
  ])('urlForDisplay(%j) → %j', (url, shown) => {
    expect(urlForDisplay(url)).toBe(shown);
  });

  it.each<[string, string]>([
    ['connect to http://ops:s3cret@proxy.corp:3128/ failed', 'connect to http://proxy.corp:3128/ failed'],
    ['two: https://a:b@x.example/p and http://c@y.example', 'two: https://x.example/p and http://y.example'],
    ['mail ops@example.com stays', 'mail ops@example.com stays'],
  ])('stripUserinfo(%j)', (text, expected) => {
    expect(stripUserinfo(text)).toBe(expected);
  });

  it('the keys the exit funnel knows: values in the environment shaped like a routing key', () => {
    expect(keysInEnv({ PAGERDUTY_ROUTING_KEY: ` ${KEY}\n`, PD_B: 'too-short', HOME: '/root', EMPTY: undefined })).toEqual([KEY]);
  });
});
