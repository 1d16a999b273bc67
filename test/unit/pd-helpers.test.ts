import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config.js';
import { DEFAULT_SEVERITY, dedupKey } from '../../src/core/service.js';
import { tailUtf8 } from '../../src/core/signal-bounds.js';
import { eventBody, triggerBody, withoutKeysInDetails } from '../../src/notify/pagerduty.js';
import type { OutboxEvent, TriggerFacts } from '../../src/store/types.js';
import {
  GUIDE_EXAMPLE_KEY,
  SEVERITIES,
  SEVERITY_BY_PRIORITY,
  guideDedupKey,
  testAlertBody,
} from '../fixtures/pagerduty.js';
import { eventProblems, isIsoDateTime, PD_LIMITS } from '../helpers/pd-rules.js';
import {
  badRequestJson,
  badRequestText,
  refusedUrl,
  serverError,
  startPdServer,
  tooMany,
  type PdServer,
} from '../helpers/pd-server.js';

const GUIDE_KEY = GUIDE_EXAMPLE_KEY;

/** The guide's `curl` test trigger body, with the guide's example key. */
const guideTrigger = (): Record<string, any> => testAlertBody('trigger', GUIDE_KEY);

/** The guide's `curl` resolve body, with the guide's example key. */
const guideResolve = (): Record<string, any> => testAlertBody('resolve', GUIDE_KEY);

describe('the guide fixtures agree with src/core (test-alert bodies and fix steps: test/e2e/test-alert.test.ts)', () => {
  it.each(Object.entries(SEVERITY_BY_PRIORITY))('priority %s maps to severity %s, as in the guide', (priority, severity) => {
    expect(DEFAULT_SEVERITY[priority as keyof typeof DEFAULT_SEVERITY]).toBe(severity);
  });

  it.each(['nightly-backup', 'a', 'svc_1.2'])('the dedup key of %s follows the guide', (slug) => {
    expect(dedupKey(slug)).toBe(guideDedupKey(slug));
  });
});

describe('pd-rules eventProblems', () => {
  it('the guide example key is 32 characters', () => {
    expect(GUIDE_KEY).toHaveLength(32);
  });

  it('accepts the guide curl trigger and resolve bodies', () => {
    expect(eventProblems(guideTrigger())).toEqual([]);
    expect(eventProblems(guideResolve())).toEqual([]);
    expect(eventProblems(JSON.stringify(guideTrigger()))).toEqual([]);
  });

  it.each(SEVERITIES)('accepts a trigger with severity %s', (severity) => {
    const e = guideTrigger();
    e.payload.severity = severity;
    expect(eventProblems(e)).toEqual([]);
  });

  it('knows the limits PagerDuty documents in prose', () => {
    expect(PD_LIMITS).toMatchObject({
      summaryMaxChars: 1024,
      dedupKeyMaxChars: 255,
      routingKeyChars: 32,
      eventMaxBytes: 524288,
    });
  });

  it('accepts a full trigger at the limits', () => {
    const e = guideTrigger();
    e.payload.summary = 's'.repeat(1024);
    e.dedup_key = 'd'.repeat(255);
    e.payload.timestamp = new Date().toISOString();
    e.payload.custom_details = { missed: 3, last_seen: null };
    e.links = [{ href: 'https://runbooks.example.com/x', text: 'Runbook' }];
    e.images = [{ src: 'https://example.com/a.png' }];
    e.client = 'Medic';
    e.client_url = 'https://medic.example.com';
    e.unset = undefined; // dropped by JSON.stringify, so not an unknown key
    expect(eventProblems(e)).toEqual([]);
  });

  type Row = [name: string, field: string, make: () => unknown];
  const rows: Row[] = [
    ['missing summary', 'payload.summary', () => { const e = guideTrigger(); delete e.payload.summary; return e; }],
    ['bad severity', 'payload.severity', () => { const e = guideTrigger(); e.payload.severity = 'high'; return e; }],
    ['1025-char summary', 'payload.summary', () => { const e = guideTrigger(); e.payload.summary = 'x'.repeat(1025); return e; }],
    ['256-char dedup_key', 'dedup_key', () => ({ ...guideTrigger(), dedup_key: 'k'.repeat(256) })],
    ['31-char routing_key', 'routing_key', () => ({ ...guideTrigger(), routing_key: GUIDE_KEY.slice(1) })],
    ['33-char routing_key', 'routing_key', () => ({ ...guideTrigger(), routing_key: GUIDE_KEY + 'x' })],
    ['resolve without dedup_key', 'dedup_key', () => { const e = guideResolve(); delete e.dedup_key; return e; }],
    ['acknowledge with empty dedup_key', 'dedup_key', () => ({ ...guideResolve(), event_action: 'acknowledge', dedup_key: '' })],
    ['unknown top-level key', 'severity', () => ({ ...guideTrigger(), severity: 'info' })],
    ['trigger without payload', 'payload', () => { const e = guideTrigger(); delete e.payload; return e; }],
    ['missing source', 'payload.source', () => { const e = guideTrigger(); delete e.payload.source; return e; }],
    ['missing routing_key', 'routing_key', () => { const e = guideTrigger(); delete e.routing_key; return e; }],
    ['bad event_action', 'event_action', () => ({ ...guideTrigger(), event_action: 'triggered' })],
    ['numeric component', 'payload.component', () => { const e = guideTrigger(); e.payload.component = 7; return e; }],
    ['custom_details array', 'payload.custom_details', () => { const e = guideTrigger(); e.payload.custom_details = ['a']; return e; }],
    ['non-ISO timestamp', 'payload.timestamp', () => { const e = guideTrigger(); e.payload.timestamp = 'Tue, 17 Jul 2015 08:42:58 GMT'; return e; }],
    ['timestamp without zone', 'payload.timestamp', () => { const e = guideTrigger(); e.payload.timestamp = '2015-07-17T08:42:58'; return e; }],
    ['link without href', 'links[0].href', () => ({ ...guideTrigger(), links: [{ text: 'Runbook' }] })],
    ['client_url not a string', 'client_url', () => ({ ...guideTrigger(), client_url: 42 })],
    ['client not a string', 'client', () => ({ ...guideTrigger(), client: { name: 'medic' } })],
    ['event over 512 KB', 'event', () => { const e = guideTrigger(); e.payload.custom_details = { blob: 'b'.repeat(512 * 1024) }; return e; }],
  ];

  it.each(rows)('%s -> one problem naming %s', (_name, field, make) => {
    const problems = eventProblems(make());
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(field);
  });

  it('rejects non-objects and invalid JSON text', () => {
    expect(eventProblems(null)).toEqual([expect.stringContaining('event must be a JSON object')]);
    expect(eventProblems([guideTrigger()])).toHaveLength(1);
    expect(eventProblems('{not json')).toEqual(['event is not valid JSON.']);
  });

  it('reports several problems at once', () => {
    const e: Record<string, any> = { ...guideTrigger(), routing_key: 'short', extra: 1 };
    e.payload = { ...e.payload, severity: 'bad' };
    expect(eventProblems(e)).toHaveLength(3);
  });

  it('isIsoDateTime', () => {
    for (const ok of ['2015-07-17T08:42:58.315+0000', '2024-02-29T23:59:59Z', '2024-01-01T00:00+05:30', '2024-01-01T00:00:00.123456-08']) {
      expect(isIsoDateTime(ok), ok).toBe(true);
    }
    for (const bad of ['2023-02-29T00:00:00Z', '2024-13-01T00:00:00Z', '2024-01-01 00:00:00Z', '2024-01-01T24:00:00Z', '2024-01-01', '1700000000']) {
      expect(isIsoDateTime(bad), bad).toBe(false);
    }
  });
});

describe('pd-server', () => {
  let pd: PdServer;
  beforeEach(async () => {
    pd = await startPdServer();
  });
  afterEach(async () => {
    await pd.close();
  });

  const post = (body: unknown, init: RequestInit = {}) =>
    fetch(pd.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
      ...init,
    });

  it('listens on 127.0.0.1 at /v2/enqueue', () => {
    expect(pd.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v2\/enqueue$/);
  });

  it('records the request and answers 202 like PagerDuty', async () => {
    const res = await post(guideTrigger());
    expect(res.status).toBe(202);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(await res.json()).toEqual({
      status: 'success',
      message: 'Event processed',
      dedup_key: 'medic-test-alert',
    });
    expect(pd.requests).toHaveLength(1);
    expect(pd.accepted).toHaveLength(1);
    const rec = pd.requests[0]!;
    expect(rec.method).toBe('POST');
    expect(rec.path).toBe('/v2/enqueue');
    expect(rec.headers['content-type']).toBe('application/json');
    expect(rec.rawBody).toBe(JSON.stringify(guideTrigger()));
    expect(rec.body).toEqual(guideTrigger());
    expect(typeof rec.at).toBe('number');
    expect(eventProblems(rec.body)).toEqual([]);
  });

  it('202 without a dedup_key returns a generated one; non-JSON bodies are recorded raw', async () => {
    const { dedup_key: _d, ...noKey } = guideTrigger();
    const res = await post(noKey);
    expect((await res.json()).dedup_key).toMatch(/^[0-9a-f]{32}$/);
    await (await post('not json')).text();
    expect(pd.requests[1]!.rawBody).toBe('not json');
    expect(pd.requests[1]!.body).toBeUndefined();
  });

  it('replyQueue answers in order, then falls back to the policy', async () => {
    pd.replyQueue(badRequestJson(['Length of summary is too long']), badRequestText('Bad Request'), tooMany(), serverError());
    const got: Array<[number, string, string]> = [];
    for (let i = 0; i < 5; i++) {
      const res = await post({ ...guideTrigger(), dedup_key: `k${i}` });
      got.push([res.status, res.headers.get('content-type') ?? '', await res.text()]);
    }
    expect(got.map((g) => g[0])).toEqual([400, 400, 429, 500, 202]);
    expect(got[0]![1]).toMatch(/application\/json/);
    expect(JSON.parse(got[0]![2])).toEqual({
      status: 'invalid event',
      message: 'Event object is invalid',
      errors: ['Length of summary is too long'],
    });
    expect(got[1]![1]).toMatch(/text\/plain/);
    expect(got[1]![2]).toBe('Bad Request');
    expect(JSON.parse(got[2]![2])).toEqual({
      status: 'throttle event',
      message: 'Requests for this service are arriving too quickly. Please retry later.',
    });
    expect(JSON.parse(got[3]![2])).toMatchObject({ status: expect.any(String), message: expect.any(String) });
    expect(JSON.parse(got[4]![2]).dedup_key).toBe('k4');
    expect(pd.requests.map((r) => r.body.dedup_key)).toEqual(['k0', 'k1', 'k2', 'k3', 'k4']);
    expect(pd.accepted.map((r) => r.body.dedup_key)).toEqual(['k4']);
  });

  it('reply() sets the policy and gets the request and its index', async () => {
    const seen: number[] = [];
    pd.reply((req, index) => {
      seen.push(index);
      return req.body?.event_action === 'resolve' ? { status: 503, headers: { 'retry-after': '1' } } : 202;
    });
    expect((await post(guideTrigger())).status).toBe(202);
    const res = await post(guideResolve());
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(seen).toEqual([0, 1]);
    expect(pd.accepted).toHaveLength(1);
  });

  it("'hang' never answers: the client times out, close() still returns", async () => {
    pd.replyQueue('hang');
    const err = await post(guideTrigger(), { signal: AbortSignal.timeout(200) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).name).toBe('TimeoutError');
    expect(pd.requests).toHaveLength(1);
    expect(pd.accepted).toHaveLength(0);
  });

  it('close() destroys sockets of requests still hanging', async () => {
    pd.reply(() => 'hang');
    const pending = post(guideTrigger()).then(
      () => 'answered',
      () => 'rejected',
    );
    while (pd.requests.length === 0) await new Promise((r) => setTimeout(r, 10));
    const t0 = Date.now();
    await pd.close();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(await pending).toBe('rejected');
  });

  it("'destroy' drops the connection mid-response: fetch rejects", async () => {
    pd.replyQueue('destroy');
    await expect(post(guideTrigger())).rejects.toThrow();
    expect(pd.requests).toHaveLength(1);
    expect(pd.requests[0]!.body).toEqual(guideTrigger());
    expect(pd.accepted).toHaveLength(0);
    // the server keeps working afterwards
    expect((await post(guideTrigger())).status).toBe(202);
  });

  it('answers 404 off /v2/enqueue without consuming the queue', async () => {
    pd.replyQueue(tooMany());
    const res = await fetch(pd.url.replace('/v2/enqueue', '/v2/change/enqueue'), {
      method: 'POST',
      body: '{}',
    });
    expect(res.status).toBe(404);
    expect((await post(guideTrigger())).status).toBe(429);
    expect(pd.requests).toHaveLength(2);
  });
});

describe('refusedUrl', () => {
  it('gives a loopback URL that refuses connections', async () => {
    const url = await refusedUrl();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v2\/enqueue$/);
    const err = await fetch(url, { method: 'POST', body: '{}' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TypeError);
    expect((err as { cause?: { code?: string } }).cause?.code).toBe('ECONNREFUSED');
  });
});

describe('[jobs] the trigger says why: reason, run details, scheduled threshold', () => {
  const config = buildConfig(
    {
      services: [
        { slug: 'backup', schedule: '30 2 * * *', timezone: 'Europe/Berlin', grace: '30m', maxRuntime: '2h' },
        { slug: 'worker', interval: '5m', grace: '1m' },
        { slug: 'quiet', interval: '5m', outputTail: 0 },
      ],
    },
    '/x/medic.config.json',
    { env: {}, cwd: '/', machineZone: 'UTC' },
  );
  const target = config.targets.get('pagerduty')!;
  const DOWN = Date.parse('2026-11-27T02:00:00Z');
  const base: TriggerFacts = { downAt: DOWN, lastBeatAt: DOWN - 86_400_000, missedHeartbeats: 1 };
  const build = (slug: string, facts: TriggerFacts) => {
    const built = eventBody({ slug, action: 'trigger', dedupKey: dedupKey(slug), facts }, target, config);
    if (!('body' in built)) throw new Error(built.problem);
    return built.body as Record<string, any>;
  };
  const details = (slug: string, facts: TriggerFacts) => build(slug, facts).payload.custom_details;

  it.each<[string, string, TriggerFacts, Record<string, unknown>]>([
    ['missed, scheduled: threshold names the schedule and zone', 'backup', { ...base, reason: 'missed' }, { reason: 'missed', threshold: { schedule: '30 2 * * *', timezone: 'Europe/Berlin', grace: '30m', missed_heartbeats: 1 } }],
    ['no reason stored (before schema 4): missed', 'worker', base, { reason: 'missed', threshold: { interval: '5m', grace: '1m', missed_heartbeats: 1 } }],
    [
      'failed with every detail',
      'worker',
      { ...base, reason: 'failed', exitCode: 3, durationMs: 1500, message: 'disk full', outputTail: 'No space left on device\n' },
      { reason: 'failed', exit_code: 3, duration_ms: 1500, message: 'disk full', output_tail: 'No space left on device\n' },
    ],
    ['failed from `beat --fail` without details: no nulls', 'worker', { ...base, reason: 'failed', exitCode: null, durationMs: null, message: null, outputTail: null }, { reason: 'failed' }],
    ['stuck: when it started and the limit', 'backup', { ...base, reason: 'stuck' }, { reason: 'stuck', started_at: '2026-11-27T00:00:00.000Z', max_runtime: '2h' }],
    ['outputTail 0 in the config: no output is sent', 'quiet', { ...base, reason: 'failed', exitCode: 1, outputTail: 'secret' }, { reason: 'failed', exit_code: 1 }],
  ])('%s', (_label, slug, facts, expected) => {
    const d = details(slug, facts);
    expect(d).toMatchObject(expected);
    const runKeys = ['exit_code', 'duration_ms', 'message', 'output_tail', 'started_at', 'max_runtime'];
    expect(Object.keys(d).filter((k) => runKeys.includes(k)).sort()).toEqual(Object.keys(expected).filter((k) => runKeys.includes(k)).sort());
    expect(Object.values(d).filter((v) => v === undefined)).toEqual([]);
    expect(build(slug, facts).payload.summary).toBe(`Heartbeat failure: ${slug}`);
    expect(eventProblems({ routing_key: GUIDE_KEY, ...build(slug, facts) })).toEqual([]);
  });

  it.each<[string, Partial<TriggerFacts>, string]>([
    ['a reason Medic does not know', { reason: 'exploded' as TriggerFacts['reason'] }, 'its reason is not missed, failed or stuck'],
    ['a message that is not text', { reason: 'failed', message: { html: true } as unknown as string }, 'its message is not text'],
    ['an output tail that is not text', { reason: 'failed', outputTail: 42 as unknown as string }, 'its output tail is not text'],
  ])('the database is not trusted: %s is a problem', (_label, over, problem) => {
    const event: Pick<OutboxEvent, 'slug' | 'action' | 'dedupKey' | 'facts'> = { slug: 'worker', action: 'trigger', dedupKey: dedupKey('worker'), facts: { ...base, ...over } };
    expect(eventBody(event, target, config)).toEqual({ problem });
  });

  it.each<[string, Partial<TriggerFacts>]>([
    ['a fractional exit code', { exitCode: 1.5 }],
    ['an exit code beyond 32 bits (a spool writer may give one)', { exitCode: 9_999_999_999 }],
    ['a negative duration', { durationMs: -1 }],
  ])('a detail out of range (%s) is left out; the page is still sent', (_label, over) => {
    const d = details('worker', { ...base, reason: 'failed', ...over });
    expect(d).toMatchObject({ reason: 'failed' });
    expect(d).not.toHaveProperty('exit_code');
    expect(d).not.toHaveProperty('duration_ms');
  });

  it('a stored output tail of 10 MB and a 1 MB message are cut, and the event stays within 512 KB', () => {
    const tail = `${'x'.repeat(10 * 1024 * 1024)}THE END`;
    const d = details('worker', { ...base, reason: 'failed', exitCode: 1, message: 'm'.repeat(1024 * 1024), outputTail: tail });
    expect(Buffer.byteLength(d.output_tail)).toBe(4096);
    expect(d.output_tail.endsWith('THE END')).toBe(true);
    expect(d.message).toHaveLength(1000);
  });

  it('an output tail that would push the event over 512 KB once escaped gives way; nothing fails', () => {
    const big = buildConfig({ services: [{ slug: 'noisy', interval: '5m', outputTail: 65536 }] }, '/x/medic.config.json', { env: {}, cwd: '/', machineZone: 'UTC' });
    const spec = big.bySlug.get('noisy')!;
    // 64 KiB of control characters is 384 KiB of JSON; with a 200 KB name (config is trusted, still) it would not fit.
    const body = triggerBody({ ...spec, name: 'n'.repeat(200_000), runbook: null }, { ...base, reason: 'failed', outputTail: '\u0001'.repeat(65536) }, 'error');
    expect(eventProblems({ routing_key: GUIDE_KEY, ...body })).toEqual([]);
    expect(Buffer.byteLength(JSON.stringify({ routing_key: GUIDE_KEY, ...body }))).toBeLessThanOrEqual(PD_LIMITS.eventMaxBytes);
    expect(((body.payload as any).custom_details.output_tail as string).length).toBeGreaterThan(0);
  });

  it.each([
    ['ASCII within the limit', 'hello', 10, 'hello'],
    ['ASCII over it: the end is kept', 'hello world', 5, 'world'],
    ['never starts inside a character (é is 2 bytes)', 'aéé', 3, 'é'],
    ['a 4-byte emoji is kept whole or not at all', 'x😀', 3, ''],
    ['0 bytes: nothing', 'abc', 0, ''],
  ])('tailUtf8 (the cut pagerduty.ts uses): %s', (_label, text, bytes, expected) => {
    expect(tailUtf8(text, bytes)).toBe(expected);
  });
});

describe('withoutKeysInDetails: a key the job printed is not sent on', () => {
  it('hides every given key, in any case, in the message and the output tail; nothing else changes', () => {
    const body = { event_action: 'trigger', payload: { summary: 'Heartbeat failure: x', custom_details: { message: `key ${GUIDE_KEY}`, output_tail: `A ${GUIDE_KEY.toUpperCase()} B`, service_slug: 'x' } } };
    const out = withoutKeysInDetails(body, [GUIDE_KEY]);
    expect((out.payload as any).custom_details).toEqual({ message: 'key a1b2…o5p6', output_tail: 'A A1B2…O5P6 B', service_slug: 'x' });
    expect((body.payload.custom_details as any).message).toBe(`key ${GUIDE_KEY}`); // the input is left as it was
    expect(JSON.stringify(out)).not.toMatch(new RegExp(GUIDE_KEY.slice(4, 28), 'i'));
  });
});
