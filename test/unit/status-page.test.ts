/**
 * The status page: the pure renderer (src/core/status-page.ts) as tables, the view key
 * (src/serve/key.ts), and the /status route of the real server in-process on loopback
 * (src/serve/server.ts) with a page that the test gives.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config.js';
import { DatabaseError } from '../../src/errors.js';
import { chromiumPath } from '../helpers/browser.js';
import { parseCron } from '../../src/core/cron.js';
import { escapeHtml, expectedEveryMs, renderStatusPage, STATE_LOOK, stripCells, summaryLine, type PageService, type StatusPageData, type StripHistory } from '../../src/core/status-page.js';
import { GroupCommit } from '../../src/serve/batch.js';
import { presentedKey, readViewKey } from '../../src/serve/key.js';
import { route } from '../../src/serve/route.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';
import type { BeatInput } from '../../src/store/types.js';

const NOW = Date.parse('2026-11-30T12:00:00Z');
const H = 3_600_000;
const HOSTILE = `<script>alert("x")</script> & 'quoted'`;
const HOSTILE_SHOWN = '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;';

function row(over: Partial<PageService> = {}): PageService {
  return {
    slug: 'billing-export',
    name: 'Billing export',
    team: 'billing',
    priority: 'P2',
    state: 'up',
    lastSeen: new Date(NOW - 5 * 60_000).toISOString(),
    deadline: new Date(NOW + H).toISOString(),
    lateAt: new Date(NOW + 55 * 60_000).toISOString(),
    missedHeartbeats: 0,
    incidentOpen: false,
    incidentSince: null,
    muted: null,
    failure: null,
    deliveryProblem: null,
    interval: '1h',
    schedule: null,
    ...over,
  };
}

function page(services: PageService[], over: Partial<StatusPageData> = {}): string {
  return renderStatusPage({ now: NOW, zone: 'UTC', refreshSeconds: 30, services: services.map((r) => ({ row: r, cells: [] })), lastCheckAt: NOW - 30_000, lastCheckBy: 'checker-1', ...over });
}

describe('escapeHtml', () => {
  it.each([
    ['<b>', '&lt;b&gt;'],
    ['a & b', 'a &amp; b'],
    [`"double" 'single'`, '&quot;double&quot; &#39;single&#39;'],
    ['&amp;', '&amp;amp;'],
    ['plain-slug_1', 'plain-slug_1'],
  ])('%s → %s', (input, shown) => expect(escapeHtml(input)).toBe(shown));
});

describe('renderStatusPage', () => {
  it.each<[string, Partial<PageService>]>([
    ['the name', { name: HOSTILE }],
    ['the slug', { slug: HOSTILE }],
    ['the team', { team: HOSTILE }],
    ['the priority', { priority: HOSTILE }],
    ["a failed run's message", { state: 'failed', failure: { at: new Date(NOW).toISOString(), exitCode: 1, message: HOSTILE } }],
    ["a pause's reason", { state: 'paused', muted: { kind: 'paused', reason: HOSTILE, until: null } }],
    ['a delivery problem', { deliveryProblem: HOSTILE }],
    ['the schedule', { interval: null, schedule: HOSTILE }],
  ])('escapes %s', (_what, over) => {
    const html = page([row(over)]);
    expect(html).toContain(HOSTILE_SHOWN);
    expect(html).not.toContain('<script');
    expect(html).not.toContain(`'quoted'`);
  });

  it("escapes the checker's host", () => {
    const html = page([row()], { lastCheckBy: HOSTILE });
    expect(html).toContain(HOSTILE_SHOWN);
    expect(html).not.toContain('<script');
  });

  it.each(Object.entries(STATE_LOOK))('shows the state %s as a word and a symbol, not a colour alone', (state, look) => {
    const html = page([row({ state, incidentOpen: state === 'down', incidentSince: state === 'down' ? new Date(NOW - H).toISOString() : null })]);
    expect(html).toContain(`<span class="badge ${look.tone}">${look.symbol} ${look.word}</span>`);
    expect(html).toContain(`aria-label="Billing export: ${look.word.toLowerCase()}"`);
  });

  it('puts down services first, then late, then up, each group in config order', () => {
    const html = page([row({ slug: 'a-up', name: 'a-up' }), row({ slug: 'b-late', name: 'b-late', state: 'late' }), row({ slug: 'c-down', name: 'c-down', state: 'down' }), row({ slug: 'd-up', name: 'd-up' })]);
    const order = [...html.matchAll(/<h2>.*?<\/span> ([a-d]-\w+)<\/h2>/g)].map((m) => m[1]);
    expect(order).toEqual(['c-down', 'b-late', 'a-up', 'd-up']);
  });

  it('has the summary, the moment in UTC and in the server zone, the last check, and the refresh interval (meta and words)', () => {
    const html = page([row(), row({ state: 'down' }), row({ state: 'late' }), row()], { zone: 'Europe/Berlin' });
    expect(html).toContain('<p class="summary" role="status">1 down, 1 late, 2 up</p>');
    expect(html).toContain('Rendered 2026-11-30 12:00 UTC (2026-11-30 13:00 CET, Europe/Berlin)');
    expect(html).toContain('last <code>medic check</code> <time datetime="2026-11-30T11:59:30.000Z">30s ago</time>');
    expect(html).toContain('on checker-1');
    expect(html).toContain('<meta http-equiv="refresh" content="30">');
    expect(html).toContain('refreshes every 30 s');
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
  });

  it('has no script, no external resource, no link: nothing to load but itself', () => {
    const html = page([row(), row({ state: 'failed', failure: { at: new Date(NOW).toISOString(), exitCode: 2, message: 'https://example.invalid/x' } })]);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|\ssrc=|\shref=|\son\w+=|url\(/i);
  });

  it('says when no check has run, and renders an empty config', () => {
    const html = page([], { lastCheckAt: null, lastCheckBy: null });
    expect(html).toContain('<p class="summary" role="status">no services</p>');
    expect(html).toContain('No services are configured.');
    expect(html).toContain('no <code>medic check</code> has run yet');
  });

  it('renders 1,000 services with full strips in well under a second, the page bounded in size', () => {
    const cells = Array.from({ length: 24 }, (_, i) => ({ from: NOW - (24 - i) * H, to: NOW - (23 - i) * H, kind: 'ok' as const }));
    const services = Array.from({ length: 1000 }, (_, i) => ({ row: row({ slug: `service-${i}`, name: `Service ${i}`, state: i % 10 === 0 ? 'down' : 'up' }), cells }));
    const started = performance.now();
    const html = renderStatusPage({ now: NOW, zone: 'UTC', refreshSeconds: 30, services, lastCheckAt: NOW, lastCheckBy: null });
    const ms = performance.now() - started;
    expect(html).toContain('100 down, 900 up');
    expect(ms).toBeLessThan(1000);
    expect(html.length).toBeLessThan(4_000_000);
  });
});

describe('summaryLine', () => {
  it.each<[string[], string]>([
    [[], 'no services'],
    [['up', 'up'], '2 up'],
    [['up', 'down', 'late', 'down', 'paused'], '2 down, 1 late, 1 paused, 1 up'],
    [['maintenance', 'failed', 'stuck', 'new', 'running', 'flapping'], '1 failed, 1 stuck, 1 flapping, 1 running, 1 new, 1 maintenance'],
  ])('%j → %s', (states, line) => expect(summaryLine(states)).toBe(line));
});

describe('stripCells', () => {
  // Four slots of an hour: [NOW-4h, NOW-3h) ... [NOW-1h, NOW).
  const since = NOW - 4 * H;
  const hist = (strip: number[], events: StripHistory['events'] = []): StripHistory => ({ since, bucketMs: H, strip, events });
  const up = { state: 'up', lateAt: new Date(NOW + H).toISOString(), deadline: new Date(NOW + H).toISOString() };
  const kinds = (...args: Parameters<typeof stripCells>) => stripCells(...args).map((c) => c.kind);

  it.each<[string, StripHistory, Parameters<typeof stripCells>[1], number | null, string[]]>([
    ['a beat in every slot: on time', hist([1, 1, 2, 1]), up, since - H, ['ok', 'ok', 'ok', 'ok']],
    ['no beat in a slot: missed', hist([1, 0, 1, 1]), up, since - H, ['ok', 'missed', 'ok', 'ok']],
    ['before the service was registered: none', hist([0, 0, 1, 1]), up, since + 2 * H, ['none', 'none', 'ok', 'ok']],
    ['never registered: none', hist([0, 0, 0, 0]), { ...up, state: 'new' }, null, ['none', 'none', 'none', 'none']],
    ['a failure in a slot: failed', hist([1, 1, 1, 1], [{ at: since + 2 * H + 10, kind: 'signal', signal: 'fail' }]), up, since - H, ['ok', 'ok', 'failed', 'ok']],
    [
      'a beat that ended a recorded down: late',
      hist([1, 0, 1, 1], [{ at: since + H + 30 * 60_000, kind: 'state', from: 'up', to: 'down' }, { at: since + 2 * H + 5 * 60_000, kind: 'state', from: 'down', to: 'up' }]),
      up,
      since - H,
      ['ok', 'missed', 'late', 'ok'],
    ],
    [
      'paused, and resumed: paused slots without beats',
      hist([1, 0, 0, 1], [{ at: since + H + 1, kind: 'state', from: '', to: 'paused' }, { at: since + 3 * H - 1, kind: 'state', from: 'paused', to: 'resumed' }]),
      up,
      since - H,
      ['ok', 'paused', 'paused', 'ok'],
    ],
    ['paused now: the last slot', hist([1, 1, 1, 0]), { ...up, state: 'paused' }, since - H, ['ok', 'ok', 'ok', 'paused']],
    ['late now, within grace: the last slot is late', hist([1, 1, 1, 0]), { state: 'late', lateAt: new Date(NOW - 10 * 60_000).toISOString(), deadline: new Date(NOW + 5 * 60_000).toISOString() }, since - H, ['ok', 'ok', 'ok', 'late']],
    ['down now, no check yet: missed', hist([1, 1, 0, 0]), { state: 'down', lateAt: new Date(NOW - 2 * H).toISOString(), deadline: new Date(NOW - H - 30 * 60_000).toISOString() }, since - H, ['ok', 'ok', 'missed', 'missed']],
  ])('%s', (_what, h, r, registeredAt, expected) => expect(kinds(h, r, NOW, null, registeredAt)).toEqual(expected));

  it('a schedule with no run in a slot: none (a weekday job on Saturday and Sunday)', () => {
    const monday = Date.parse('2026-11-30T12:00:00Z');
    const days = 86_400_000;
    const h: StripHistory = { since: monday - 4 * days, bucketMs: days, strip: [1, 0, 0, 1], events: [] };
    const schedule = { cron: parseCron('0 9 * * 1-5'), timezone: 'UTC' };
    expect(stripCells(h, up, monday, schedule, monday - 30 * days).map((c) => c.kind)).toEqual(['ok', 'none', 'none', 'ok']);
  });
});

describe('expectedEveryMs', () => {
  it.each<[string, { intervalMs: number | null; schedule: string | null }, number]>([
    ['an interval', { intervalMs: 15 * 60_000, schedule: null }, 15 * 60_000],
    ['a daily schedule', { intervalMs: null, schedule: '30 2 * * *' }, 86_400_000],
    ['a weekday schedule (on a Monday)', { intervalMs: null, schedule: '0 9 * * 1-5' }, 86_400_000],
    ['every 5 minutes', { intervalMs: null, schedule: '*/5 * * * *' }, 5 * 60_000],
  ])('%s', (_what, s, ms) => {
    const schedule = s.schedule === null ? null : { expr: s.schedule, cron: parseCron(s.schedule), timezone: 'UTC' };
    expect(expectedEveryMs({ intervalMs: s.intervalMs, schedule }, NOW)).toBe(ms);
  });
});

describe('presentedKey', () => {
  const basic = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
  it.each<[string | undefined, string | null]>([
    [undefined, null],
    ['', null],
    [basic('wall:the-view-key-0123456789'), 'the-view-key-0123456789'],
    [basic(':the-view-key-0123456789'), 'the-view-key-0123456789'],
    [basic('user:pass:with:colons'), 'pass:with:colons'],
    [basic('no-colon'), null],
    ['Bearer the-view-key-0123456789', 'the-view-key-0123456789'],
    ['bearer the-view-key-0123456789', 'the-view-key-0123456789'],
    ['Digest username="x"', null],
  ])('%s → %s', (header, key) => expect(presentedKey(header)).toBe(key));
});

describe('readViewKey', () => {
  const PING = 'unit-ping-key-0123456789';
  const s = (viewKeyEnv: string | null, host = '0.0.0.0') => ({ viewKeyEnv, host, pingKeyEnv: 'MEDIC_PING_KEY', pingKeyFile: null });
  it('is null when the config names no variable', () => expect(readViewKey(s(null), {}, PING)).toBeNull());
  it('is null when the variable is unset and serve.listen is loopback (the page is open there)', () => {
    for (const host of ['127.0.0.1', '127.0.0.2', '::1', 'localhost']) expect(readViewKey(s('MEDIC_VIEW_KEY', host), {}, PING)).toBeNull();
  });
  it('is still checked on loopback when set', () => expect(() => readViewKey(s('MEDIC_VIEW_KEY', '127.0.0.1'), { MEDIC_VIEW_KEY: 'short' }, PING)).toThrow(/too short/));
  it('reads the named variable', () => expect(readViewKey(s('MEDIC_VIEW_KEY'), { MEDIC_VIEW_KEY: 'unit-view-key-0123456789' }, PING)).toBe('unit-view-key-0123456789'));
  it.each<[string, Record<string, string>, RegExp]>([
    ['unset', {}, /the environment variable MEDIC_VIEW_KEY \(serve\.viewKeyEnv\) is not set/],
    ['empty', { MEDIC_VIEW_KEY: ' ' }, /is empty/],
    ['short', { MEDIC_VIEW_KEY: 'short' }, /too short \(5 characters\)/],
    ['other characters', { MEDIC_VIEW_KEY: 'has spaces in it 0123456789' }, /holds a character other than A-Z a-z 0-9 _ - \(a space, a quote, a newline\?\): it must be 16 to 256 of them/],
    ['too long', { MEDIC_VIEW_KEY: 'k'.repeat(257) }, /too long \(257 characters\)/],
    ['the ping key', { MEDIC_VIEW_KEY: PING }, /the view key in the environment variable MEDIC_VIEW_KEY \(serve\.viewKeyEnv\) is the ping key of the environment variable MEDIC_PING_KEY \(serve\.pingKeyEnv\)/],
  ])('refuses a view key that is %s (78), never saying it', (_what, env, message) => {
    let err: (Error & { exitCode?: number }) | null = null;
    try {
      readViewKey(s('MEDIC_VIEW_KEY'), env, PING);
    } catch (e) {
      err = e as Error & { exitCode?: number };
    }
    expect(err?.message).toMatch(message);
    expect(err?.exitCode).toBe(78);
    expect(err?.message).not.toContain(PING);
  });
});

describe('route', () => {
  it.each<[string, string, unknown]>([
    ['GET', '/status', { type: 'status' }],
    ['HEAD', '/status', { type: 'status' }],
    ['GET', '/status?key=x', { type: 'status' }],
    ['POST', '/status', { type: 'method-not-allowed', allow: 'GET, HEAD' }],
    ['GET', '/status/', { type: 'not-found' }],
  ])('%s %s', (method, url, r) => expect(route(method, url)).toEqual(r));
});

describe('GET /status on the server', () => {
  const PING = 'unit-ping-key-0123456789';
  const VIEW = 'unit-view-key-9876543210';
  const HTML = '<!doctype html><p>the page</p>';
  let server: RunningServer | null = null;
  afterEach(async () => {
    await server?.close(100);
    server = null;
  });
  const beats: BeatInput[] = [];
  let renders = 0;
  let expositions = 0;
  let failNext = false;
  /** One family whose samples count how often the exposition is written from them. */
  const family = () => ({
    name: 'medic_service_up',
    help: 'Whether the service is up.',
    type: 'gauge' as const,
    get samples() {
      expositions++;
      return [{ labels: { slug: 'backup' }, value: 1 }];
    },
  });
  async function serve(listen: string, viewKey: string | null) {
    const settings = buildConfig({ services: [{ slug: 'backup' }], serve: { listen } }, '/x/medic.config.json', { env: {}, cwd: '/', machineZone: 'UTC' }).serve;
    server = await startServer({
      settings,
      tls: null,
      commit: new GroupCommit({ recordBeats: async (b: BeatInput[]) => void beats.push(...b) }),
      store: { probe: async () => ({ exists: true }) },
      metrics: async () => [family()],
      statusPage: async () => {
        renders++;
        if (failNext) {
          failNext = false;
          throw new DatabaseError('cannot read database /x/medic.db: disk I/O error');
        }
        return HTML;
      },
      state: () => ({ pingKey: PING, viewKey, slugs: new Set(['backup']), hide: [], pingKeys: [PING] }),
      log: null,
      onError: () => {},
      monotonic: () => performance.now(),
      now: Date.now,
    });
    // Off loopback (0.0.0.0) the test still talks to 127.0.0.1 only.
    return server.url.replace('0.0.0.0', '127.0.0.1');
  }
  const basic = (key: string) => ({ authorization: `Basic ${Buffer.from(`anyone:${key}`).toString('base64')}` });

  it('on a loopback listener: open without a key, with the headers of a page no script may run in', async () => {
    const url = await serve('127.0.0.1:0', null);
    const res = await fetch(`${url}/status`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(HTML);
    expect(Object.fromEntries(['content-type', 'cache-control', 'content-security-policy', 'x-content-type-options', 'referrer-policy'].map((h) => [h, res.headers.get(h)]))).toEqual({
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    });
  });

  it('answers HEAD without a body and POST with 405', async () => {
    const url = await serve('127.0.0.1:0', null);
    const head = await fetch(`${url}/status`, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-type'), await head.text()]).toEqual([200, 'text/html; charset=utf-8', '']);
    const post = await fetch(`${url}/status`, { method: 'POST' });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
  });

  it('answers 503 with Retry-After when the store cannot be read, and renders again on the next request', async () => {
    const url = await serve('127.0.0.1:0', null);
    failNext = true;
    const res = await fetch(`${url}/status`);
    expect([res.status, res.headers.get('retry-after'), await res.text()]).toEqual([503, '5', 'database unavailable, try again']);
    expect((await fetch(`${url}/status`)).status).toBe(200);
  });

  it('writes the metrics exposition once for scrapes that come together; serve\'s own counters stay current', async () => {
    const url = await serve('127.0.0.1:0', null);
    expositions = 0;
    const bodies = await Promise.all([1, 2, 3, 4, 5].map(() => fetch(`${url}/metrics`).then((r) => r.text())));
    expect(expositions).toBe(1);
    for (const body of bodies) {
      expect(body).toMatch(/^# HELP medic_service_up Whether the service is up\.\n# TYPE medic_service_up gauge\nmedic_service_up\{slug="backup"\} 1\n# HELP medic_serve_beats_received_total /);
    }
    // The sixth scrape in the same period counts the five answers before it.
    expect(await (await fetch(`${url}/metrics`)).text()).toContain('medic_serve_requests_total{code="200"} 5');
    expect(expositions).toBe(1);
  });

  it('renders once for viewers that come together (the cache)', async () => {
    const url = await serve('127.0.0.1:0', null);
    renders = 0;
    await Promise.all([1, 2, 3, 4, 5].map(() => fetch(`${url}/status`).then((r) => r.text())));
    expect(renders).toBe(1);
  });

  it('off loopback without a view key configured: 403 naming serve.viewKeyEnv, for the page and the metrics', async () => {
    const url = await serve('0.0.0.0:0', null);
    for (const path of ['/status', '/metrics']) {
      const res = await fetch(`${url}${path}`, { headers: basic(PING) });
      expect(res.status).toBe(403);
      expect(await res.text()).toContain('set serve.viewKeyEnv');
    }
  });

  it.each<[string, Record<string, string>, number]>([
    ['no key', {}, 401],
    ['a wrong key', basic('wrong-view-key-0000000000'), 401],
    ['the ping key (Basic)', basic(PING), 401],
    ['the ping key (Bearer)', { authorization: `Bearer ${PING}` }, 401],
    ['the view key by Basic auth', basic(VIEW), 200],
    ['the view key as a Bearer token', { authorization: `Bearer ${VIEW}` }, 200],
  ])('off loopback with a view key: %s → %i', async (_what, headers, status) => {
    const url = await serve('0.0.0.0:0', VIEW);
    for (const path of ['/status', '/metrics']) {
      const res = await fetch(`${url}${path}`, { headers });
      expect(res.status).toBe(status);
      const body = await res.text();
      if (status === 401) {
        expect(res.headers.get('www-authenticate')).toBe('Basic realm="medic status", charset="UTF-8"');
        expect(body).not.toContain(VIEW);
      }
    }
  });

  it('the view key never records a beat', async () => {
    const url = await serve('0.0.0.0:0', VIEW);
    beats.length = 0;
    const res = await fetch(`${url}/ping/${VIEW}/backup`, { headers: basic(VIEW) });
    expect(res.status).toBe(404);
    expect(beats).toEqual([]);
    expect((await fetch(`${url}/ping/${PING}/backup`)).status).toBe(200);
    expect(beats.map((b) => b.slug)).toEqual(['backup']);
  });
});

describe('chromiumPath', () => {
  it('fails, naming the install script, when no chromium is on PATH (the browser tests never skip)', () => {
    expect(() => chromiumPath('/nonexistent-dir')).toThrow('chromium not found on PATH (the status page is tested in a real browser): install the test tools with sudo scripts/install-test-tools.sh');
  });
});

describe('serve.viewKeyEnv in the config', () => {
  const build = (serve: Record<string, unknown>) => buildConfig({ services: [{ slug: 'backup' }], serve }, '/x/medic.config.json', { env: {}, cwd: '/', machineZone: 'UTC' });
  const problem = (serve: Record<string, unknown>) => {
    try {
      build(serve);
    } catch (err) {
      return (err as Error).message;
    }
    return null;
  };
  it('names the variable; none by default', () => {
    expect(build({ viewKeyEnv: 'MEDIC_VIEW_KEY' }).serve.viewKeyEnv).toBe('MEDIC_VIEW_KEY');
    expect(build({}).serve.viewKeyEnv).toBeNull();
  });
  it.each<[Record<string, unknown>, string]>([
    [{ viewKey: 'abcdefghijklmnop1234' }, 'serve.viewKey: a view key must not be written in the config file (it would end up in backups and git); put it in an environment variable named by "viewKeyEnv"'],
    [{ viewKeyEnv: 'not a name' }, 'serve.viewKeyEnv: expected an environment variable name'],
  ])('refuses %o, never echoing a key', (serve, message) => {
    const text = problem(serve);
    expect(text).toContain(message);
    expect(text).not.toContain('abcdefghijklmnop1234');
  });
});

describe('the status page of 1,000 services over a real SQLite store', () => {
  it('reads and renders them (status and history of each) within the bound, and says how long it took', { timeout: 120_000 }, async () => {
    const { join } = await import('node:path');
    const { openSqliteStore } = await import('../../src/store/sqlite.js');
    const { statusPage } = await import('../../src/commands/serve.js');
    const { tempDir } = await import('../helpers/db.js');
    const slugs = Array.from({ length: 1000 }, (_, i) => `service-${String(i).padStart(4, '0')}`);
    const config = buildConfig({ services: slugs.map((slug) => ({ slug, interval: '1h', team: 'ops' })) }, '/x/medic.config.json', { env: {}, cwd: '/', machineZone: 'UTC' });
    const store = openSqliteStore(join(tempDir(), 'medic.db'));
    try {
      // 24 hours of hourly beats for each, every tenth quiet for the last 5.
      for (let h = 24; h >= 1; h--) {
        await store.recordBeats(slugs.filter((_, i) => h > 5 || i % 10 !== 0).map((slug) => ({ slug, kind: 'ok' as const, at: NOW - h * H + 60_000 })));
      }
      const started = performance.now();
      const html = await statusPage(config, store, NOW, []);
      const ms = performance.now() - started;
      console.log(`status page, 1000 services x 24 cells over SQLite: ${ms.toFixed(0)} ms, ${(html.length / 1024).toFixed(0)} KiB`);
      expect(html).toContain('100 down, 900 up');
      expect((html.match(/aria-label="[^"]*: beat on time"/g) ?? []).length).toBeGreaterThan(20_000);
      expect(ms).toBeLessThan(10_000);
    } finally {
      await store.close();
    }
  });
});

describe('statusPage hides keys in what it shows', () => {
  it('a routing key in a service name, a failure message and a pause reason shows as …', async () => {
    const { join } = await import('node:path');
    const { openSqliteStore } = await import('../../src/store/sqlite.js');
    const { statusPage } = await import('../../src/commands/serve.js');
    const { tempDir } = await import('../helpers/db.js');
    const KEY = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';
    const config = buildConfig(
      { services: [{ slug: 'db-dump', name: `DB dump ${KEY}` }, { slug: 'mailer' }] },
      '/x/medic.config.json',
      { env: {}, cwd: '/', machineZone: 'UTC' },
    );
    const store = openSqliteStore(join(tempDir(), 'medic.db'));
    try {
      await store.recordBeat('mailer', NOW - 60_000, { kind: 'fail', exitCode: 1, durationMs: 10, message: `token ${KEY} refused`, outputTail: null });
      await store.recordBeat('db-dump', NOW - 60_000);
      const html = await statusPage(config, store, NOW, [KEY]);
      expect(html).toContain('DB dump …');
      expect(html).toContain('token … refused');
      expect(html).not.toContain(KEY);
    } finally {
      await store.close();
    }
  });
});
