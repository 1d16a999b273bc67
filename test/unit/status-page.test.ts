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
import { countPerCell, escapeHtml, renderStatusPage, STATE_LOOK, stripCells, stripStarts, summaryLine, type CellKind, type PageService, type StatusPageData, type StripCell, type StripHistory } from '../../src/core/status-page.js';
import { evaluate, type ServiceRecord } from '../../src/core/state.js';
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

describe('stripStarts', () => {
  const at = (iso: string) => Date.parse(iso);
  const sched = (expr: string) => ({ intervalMs: null, schedule: { expr, cron: parseCron(expr), timezone: 'UTC' } });
  // The first, second and last starts, as UTC times.
  const shown = (starts: number[]) => [starts.length, ...[starts[0]!, starts[1]!, starts.at(-1)!].map((t) => new Date(t).toISOString())];

  it.each<[string, Parameters<typeof stripStarts>[0], string, (string | number)[]]>([
    ['an interval of 1h: whole UTC hours, the last holding now', { intervalMs: H, schedule: null }, '2026-11-30T12:34:56Z', [24, '2026-11-29T13:00:00.000Z', '2026-11-29T14:00:00.000Z', '2026-11-30T12:00:00.000Z']],
    ['an interval of 1m', { intervalMs: 60_000, schedule: null }, '2026-11-30T05:40:12Z', [24, '2026-11-30T05:17:00.000Z', '2026-11-30T05:18:00.000Z', '2026-11-30T05:40:00.000Z']],
    ['an interval of 7m: multiples of 7 minutes since the epoch', { intervalMs: 7 * 60_000, schedule: null }, '2026-11-30T12:00:00Z', [24, '2026-11-30T09:14:00.000Z', '2026-11-30T09:21:00.000Z', '2026-11-30T11:55:00.000Z']],
    ['a daily schedule: its runs', sched('30 2 * * *'), '2026-11-30T06:01:00Z', [24, '2026-11-07T02:30:00.000Z', '2026-11-08T02:30:00.000Z', '2026-11-30T02:30:00.000Z']],
    ['a daily schedule, at its run', sched('30 2 * * *'), '2026-11-30T02:30:00Z', [24, '2026-11-07T02:30:00.000Z', '2026-11-08T02:30:00.000Z', '2026-11-30T02:30:00.000Z']],
    ['a daily schedule, just before its run', sched('30 2 * * *'), '2026-11-30T02:29:59.999Z', [24, '2026-11-06T02:30:00.000Z', '2026-11-07T02:30:00.000Z', '2026-11-29T02:30:00.000Z']],
    ["a weekday schedule: Friday's cell runs to Monday's run", sched('0 9 * * 1-5'), '2026-11-30T12:00:00Z', [24, '2026-10-28T09:00:00.000Z', '2026-10-29T09:00:00.000Z', '2026-11-30T09:00:00.000Z']],
    ['every 5 minutes', sched('*/5 * * * *'), '2026-11-30T12:03:00Z', [24, '2026-11-30T10:05:00.000Z', '2026-11-30T10:10:00.000Z', '2026-11-30T12:00:00.000Z']],
  ])('%s', (_what, spec, now, expected) => expect(shown(stripStarts(spec, at(now)))).toEqual(expected));

  it.each([0, 12, 24, 36, 48])('are the same at %i s past the minute (a 1m interval): fixed in time, not drawn from now', (s) => {
    const minute = at('2026-11-30T05:40:00Z');
    expect(stripStarts({ intervalMs: 60_000, schedule: null }, minute + s * 1000)).toEqual(stripStarts({ intervalMs: 60_000, schedule: null }, minute));
  });

});

describe('countPerCell', () => {
  it.each<[number[], number[], number, number[]]>([
    [[0, 5, 10, 19, 20], [0, 10, 20], 25, [2, 2, 1]],
    [[-1, 26], [0, 10, 20], 25, [0, 0, 0]],
    [[25], [0, 10, 20], 25, [0, 0, 1]],
    [[9, 10], [0, 10, 30], 40, [1, 1, 0]],
    [[1], [], 25, []],
  ])('%j in cells from %j to %i → %j', (times, starts, until, counts) => expect(countPerCell(times, starts, until)).toEqual(counts));
});

/** A strip as one character a cell: # ok, . quiet, L late, x missed, F failed, P paused, _ none. */
const SYMBOL: Record<CellKind, string> = { ok: '#', quiet: '.', late: 'L', missed: 'x', failed: 'F', paused: 'P', none: '_' };
const drawn = (cells: readonly StripCell[]) => cells.map((c) => SYMBOL[c.kind]).join('');
const iso = (at: number) => new Date(at).toISOString();

describe('stripCells', () => {
  // Four slots of an hour: [NOW-4h, NOW-3h) ... [NOW-1h, NOW].
  const since = NOW - 4 * H;
  const starts = [since, since + H, since + 2 * H, since + 3 * H];
  const hist = (strip: number[], events: StripHistory['events'] = []): StripHistory => ({ starts, strip, events });
  const up = { state: 'up', deadline: iso(NOW + H), incidentSince: null, lastSeen: iso(NOW - 5 * 60_000) };
  const down = (since: number) => ({ state: 'down', deadline: iso(since), incidentSince: iso(since), lastSeen: iso(since - H - 30 * 60_000) });
  const state = (at: number, from: string, to: string) => ({ at, kind: 'state', from, to });

  it.each<[string, StripHistory, Parameters<typeof stripCells>[1], number | null, string]>([
    ['a beat in every slot: on time', hist([1, 1, 2, 1]), up, since - H, '####'],
    // Was "missed" (any slot without a beat): a beat early or late lands in the neighbour slot.
    ['no beat in a slot, never down: quiet, not missed', hist([1, 0, 2, 1]), up, since - H, '#.##'],
    ['before the service was registered: none', hist([0, 0, 1, 1]), up, since + 2 * H, '__##'],
    ['registered within a slot that has no beat: none (nothing was expected in it yet)', hist([0, 0, 0, 1]), up, since + H + 60_000, '__.#'],
    ['never registered: none', hist([0, 0, 0, 0]), { ...up, state: 'new', lastSeen: null }, null, '____'],
    ['a failure in a slot: failed', hist([1, 1, 1, 1], [{ at: since + 2 * H + 10, kind: 'signal', signal: 'fail' }]), up, since - H, '##F#'],
    ['a recorded down, then a beat that a check recorded as the recovery: missed exactly there, then late', hist([1, 0, 1, 1], [state(since + H + 30 * 60_000, 'up', 'down'), state(since + 2 * H + 5 * 60_000, 'down', 'up')]), up, since - H, '#xL#'],
    ['down since before the strip (the first change comes from down)', hist([0, 0, 1, 1], [state(since + 2 * H + 5 * 60_000, 'down', 'up')]), up, since - 9 * H, 'xxL#'],
    ['a recovery held (flapping) ends the down; a relapse starts it again', hist([0, 1, 0, 0], [state(since + 60_000, 'flapping', 'relapse'), state(since + H + 1, 'down', 'flapping'), state(since + 2 * H + 30 * 60_000, 'flapping', 'relapse')]), down(since + 2 * H + 30 * 60_000), since - 9 * H, 'xLxx'],
    ['flapping now (a beat came back, the resolve held): not missed', hist([0, 1, 0, 0], [state(since + 60_000, 'up', 'down'), state(since + H + 1, 'down', 'flapping')]), { ...up, state: 'flapping', lastSeen: iso(since + H + 1) }, since - 9 * H, 'xL..'],
    ['a recorded down no check has seen end yet, status up again since a beat: missed until that beat only', hist([1, 0, 1, 0], [state(since + H + 1, 'up', 'down')]), { ...up, lastSeen: iso(since + 2 * H + 60_000) }, since - H, '#xL.'],
    ['a gap no check saw (no check ran): quiet, not missed', hist([1, 0, 0, 1]), up, since - H, '#..#'],
    // Was "late" (the state): no beat came in it, and it is not overdue yet.
    ['late now, within grace: the last slot is quiet, never missed', hist([1, 1, 1, 0]), { state: 'late', deadline: iso(NOW + 5 * 60_000), incidentSince: null, lastSeen: iso(NOW - H - 50 * 60_000) }, since - H, '###.'],
    ['down now, no check yet: missed from the deadline', hist([1, 1, 0, 0]), { state: 'down', deadline: iso(NOW - H - 30 * 60_000), incidentSince: null, lastSeen: iso(NOW - 3 * H) }, since - H, '##xx'],
    ['down now with an open incident: missed from when it went down', hist([1, 0, 0, 0]), down(since + H + 50 * 60_000), since - H, '#xxx'],
    ['a failed run, down since: failed, then missed', hist([1, 1, 0, 0], [{ at: since + 2 * H + 10, kind: 'signal', signal: 'fail' }]), { state: 'failed', deadline: iso(since + 2 * H + 10), incidentSince: iso(since + 2 * H + 10), lastSeen: iso(since + H + 10) }, since - H, '##Fx'],
    ['a failed run, then a success: failed, then on time', hist([1, 1, 0, 1], [{ at: since + H + 10, kind: 'signal', signal: 'fail' }, state(since + H + 10, 'up', 'down'), state(since + 3 * H + 10, 'down', 'up')]), up, since - H, '#FxL'],
    ['paused, and resumed: paused slots without beats', hist([1, 0, 0, 1], [state(since + H + 1, '', 'paused'), state(since + 3 * H - 1, 'paused', 'resumed')]), up, since - H, '#PP#'],
    ['paused within the strip, still paused: paused from then on', hist([1, 1, 0, 0], [state(since + 2 * H + 1, '', 'paused')]), { ...up, state: 'paused' }, since - H, '##PP'],
    ['paused since before the strip (no change in it): paused throughout, a beat still shows', hist([0, 1, 0, 0]), { ...up, state: 'paused' }, since - H, 'P#PP'],
    ['paused while down: paused, not missed', hist([1, 0, 0, 0], [state(since + H + 10, 'up', 'down'), state(since + 2 * H + 1, '', 'paused')]), { ...down(since + H + 10), state: 'paused' }, since - H, '#xPP'],
    ['in maintenance now: the last slot', hist([1, 1, 1, 0]), { ...up, state: 'maintenance' }, since - H, '###P'],
  ])('%s: %s', (_what, h, r, registeredAt, expected) => expect(drawn(stripCells(h, r, NOW, registeredAt))).toBe(expected));

  it("never says missed in the last cell while status says up or late, whatever the recorded changes", () => {
    const events = [state(since + 10, 'up', 'down')];
    for (const s of ['up', 'late', 'running', 'new']) {
      expect(stripCells(hist([0, 0, 0, 0], events), { ...up, state: s, lastSeen: null }, NOW, since - H).at(-1)!.kind).not.toBe('missed');
    }
  });

  it('gives each cell its slot: from its start to the next, the last to now', () => {
    expect(stripCells(hist([1, 1, 1, 1]), up, NOW, since).map((c) => [c.from, c.to])).toEqual([[since, since + H], [since + H, since + 2 * H], [since + 2 * H, since + 3 * H], [since + 3 * H, NOW]]);
  });
});

describe('the strip of a service beating every minute at ±20 s (interval 1m, grace 30s; no check ever marks it down)', () => {
  const M = 60_000;
  const T0 = Date.parse('2026-11-30T05:00:00Z');
  // Seconds off the minute, the gap between two beats at most 88 s: never past the 90 s deadline.
  const JITTER_S = [20, -5, 15, -10, 18, -9, 5, -20, 8, 3, -12, 16];
  const BEATS = Array.from({ length: 60 }, (_, k) => T0 + k * M + JITTER_S[k % JITTER_S.length]! * 1000);
  const config = buildConfig({ services: [{ slug: 'jittery', interval: '1m', grace: '30s' }] }, '/x/medic.config.json', { env: {}, cwd: '/', machineZone: 'UTC' });
  const spec = config.services[0]!;
  /** The strip at `now`, from the beats so far and the state status computes. */
  function strip(now: number): { state: string; drawn: string } {
    const beats = BEATS.filter((b) => b <= now);
    const rec: ServiceRecord = { slug: 'jittery', registeredAt: BEATS[0]!, lastBeatAt: beats.at(-1)!, beatSeq: beats.length, resetAt: null, pause: null, incident: null };
    const ev = evaluate(spec, rec, now);
    const starts = stripStarts(spec, now);
    const row = { state: ev.state, deadline: iso(ev.downAt ?? ev.deadlineAt), incidentSince: null, lastSeen: iso(beats.at(-1)!) };
    return { state: ev.state, drawn: drawn(stripCells({ starts, strip: countPerCell(beats, starts, now), events: [] }, row, now, BEATS[0]!)) };
  }
  // The 23 closed cells (05:17 to 05:39); the open one (05:40) fills when 05:40's beat comes at 05:40:18.
  const CLOSED = '.#.##.##.#.#.#.##.##.#.';

  it.each<[number, string, string]>([
    [0, 'late', `${CLOSED}.`],
    [12, 'late', `${CLOSED}.`],
    [24, 'up', `${CLOSED}#`],
    [36, 'up', `${CLOSED}#`],
    [48, 'up', `${CLOSED}#`],
  ])('rendered %i s past 05:40: the same closed cells, none missed (status %s)', (s, state, expected) => {
    const r = strip(T0 + 40 * M + s * 1000);
    expect(r).toEqual({ state, drawn: expected });
    expect(r.drawn).not.toContain('x');
  });

  it('a minute later, the strip has moved by one cell: the oldest gone, a new one at the right', () => {
    const before = strip(T0 + 40 * M + 48_000).drawn;
    const after = strip(T0 + 41 * M).drawn;
    expect(after.slice(0, -1)).toBe(before.slice(1));
  });

  it.each([0, 12, 24, 36, 48])('through the status page over a real SQLite file, rendered %i s past 05:40: the same cells', async (s) => {
    const { join } = await import('node:path');
    const { openSqliteStore } = await import('../../src/store/sqlite.js');
    const { statusPage } = await import('../../src/commands/serve.js');
    const { tempDir } = await import('../helpers/db.js');
    const now = T0 + 40 * M + s * 1000;
    const store = openSqliteStore(join(tempDir(), 'medic.db'));
    try {
      for (const at of BEATS.filter((b) => b <= now)) await store.recordBeat('jittery', at);
      const html = await statusPage(config, store, now, []);
      const cells = [...html.matchAll(/<li class="c (\w+)"/g)].map((m) => SYMBOL[m[1] as CellKind]).join('');
      expect(cells).toBe(strip(now).drawn);
      expect(html).toContain(`aria-label="2026-11-30 05:18 UTC: beat on time"`);
      expect(html).toContain(`aria-label="2026-11-30 05:17 UTC: no beat in this slot (not overdue)"`);
    } finally {
      await store.close();
    }
  });
});

describe('the strip of a new scheduled service (30 2 * * *, grace 1h, registered at 05:36 by a check)', () => {
  it('says "no beat expected" for every run before it existed; its first run is missed only once it is down', async () => {
    const { join } = await import('node:path');
    const { openSqliteStore } = await import('../../src/store/sqlite.js');
    const { statusPage } = await import('../../src/commands/serve.js');
    const { tempDir } = await import('../helpers/db.js');
    const config = buildConfig({ services: [{ slug: 'nightly', schedule: '30 2 * * *', timezone: 'UTC', grace: '1h' }] }, '/x/medic.config.json', { env: {}, cwd: '/', machineZone: 'UTC' });
    const store = openSqliteStore(join(tempDir(), 'medic.db'));
    try {
      await store.register(['nightly'], Date.parse('2026-11-30T05:36:00Z'));
      const html = await statusPage(config, store, Date.parse('2026-11-30T06:01:00Z'), []);
      const labels = [...html.matchAll(/<li class="c \w+" role="img" aria-label="([^"]*)"/g)].map((m) => m[1]);
      expect(labels).toHaveLength(24);
      expect(labels.at(-1)).toBe('2026-11-30 02:30 UTC: no beat expected');
      expect(labels[0]).toBe('2026-11-07 02:30 UTC: no beat expected');
      expect(labels.join('\n')).not.toContain('missed');
      // The next run, passed without a beat: not missed while it is late (within grace), missed once down.
      const first = async (at: string) => [...(await statusPage(config, store, Date.parse(at), [])).matchAll(/aria-label="(2026-12-01 02:30 UTC: [^"]*)"/g)].map((m) => m[1]);
      expect(await first('2026-12-01T03:29:59Z')).toEqual(['2026-12-01 02:30 UTC: no beat in this slot (not overdue)']);
      expect(await first('2026-12-01T03:30:00Z')).toEqual(['2026-12-01 02:30 UTC: missed']);
    } finally {
      await store.close();
    }
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
