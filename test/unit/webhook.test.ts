import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { WebhookTarget } from '../../src/config.js';
import type { TriggerFacts } from '../../src/store/types.js';
import type { Answered } from '../../src/notify/http.js';
import type { OutboundRequest, Outgoing, Poster } from '../../src/notify/outbound.js';
import { triggerBody } from '../../src/notify/pagerduty.js';
import {
  judgeWebhookAnswer,
  receiverSaid,
  sendWebhook,
  signBody,
  verifySignature,
  webhookBody,
  webhookEventId,
  webhookRefusalHint,
  webhookTest,
} from '../../src/notify/webhook.js';
import { MIN, serviceSpec } from '../helpers/model.js';

const SECRET = 'medic-test-signing-secret-0001';
const R = Date.parse('2026-03-02T09:00:00Z');
const DOWN = R + 6 * MIN;

const target: WebhookTarget = { name: 'hook', type: 'webhook', url: 'https://hooks.example.com/medic', secret: 'env:MEDIC_WEBHOOK_SECRET', priorities: null, severity: null, timeoutMs: 10_000 };

const spec = serviceSpec({ slug: 'nightly-backup', name: 'Nightly Backup', team: 'platform', priority: 'P2', runbook: 'https://wiki.example.com/runbooks/nightly-backup', maxRuntimeMs: 30 * MIN });

function facts(over: Partial<TriggerFacts> = {}): TriggerFacts {
  return { downAt: DOWN, lastBeatAt: R, missedHeartbeats: 1, reason: 'missed', ...over };
}

function outgoing(over: Partial<Outgoing<WebhookTarget>> = {}): Outgoing<WebhookTarget> {
  return {
    target,
    secret: SECRET,
    eventId: 7,
    action: 'trigger',
    slug: 'nightly-backup',
    dedupKey: 'medic-heartbeat-nightly-backup',
    incidentId: 3,
    spec,
    facts: facts(),
    severity: 'error',
    openedAt: DOWN,
    queuedAt: DOWN + 5_000,
    host: 'checker-1',
    receipt: null,
    now: DOWN + 9_000,
    ...over,
  };
}

/** A poster that records the request and answers as told. */
function fakePoster(answer: Answered | { error: string; status: number | null }): Poster & { seen: OutboundRequest[] } {
  const seen: OutboundRequest[] = [];
  const post = (async (req: OutboundRequest) => {
    seen.push(req);
    return answer;
  }) as Poster & { seen: OutboundRequest[] };
  post.seen = seen;
  return post;
}

const answered = (status: number, text = '', headers: Answered['headers'] = {}): Answered => ({ status, headers, text });

describe('the body, version 1', () => {
  it.each([
    ['missed', facts()],
    ['failed', facts({ reason: 'failed', exitCode: 2, durationMs: 1234, message: 'disk full', outputTail: 'tar: write error\n' })],
    ['stuck', facts({ reason: 'stuck' })],
  ] as const)('a %s trigger: every field in order, details exactly PagerDuty\'s custom_details', (reason, f) => {
    const body = webhookBody(outgoing({ facts: f }));
    expect(Object.keys(body)).toEqual(['version', 'id', 'event', 'sent_at', 'summary', 'severity', 'service', 'incident', 'reason', 'details', 'host']);
    expect(body).toEqual({
      version: 1,
      id: expect.stringMatching(/^evt_[0-9a-f]{40}$/),
      event: 'trigger',
      sent_at: new Date(DOWN + 9_000).toISOString(),
      summary: 'Heartbeat failure: Nightly Backup',
      severity: 'error',
      service: { slug: 'nightly-backup', name: 'Nightly Backup', team: 'platform', priority: 'P2', runbook_url: 'https://wiki.example.com/runbooks/nightly-backup' },
      incident: { id: 3, dedup_key: 'medic-heartbeat-nightly-backup', opened_at: new Date(DOWN).toISOString(), resolved_at: null },
      reason,
      details: (triggerBody(spec, f, 'error').payload as { custom_details: unknown }).custom_details,
      host: 'checker-1',
    });
    expect((body.details as { reason: string }).reason).toBe(reason);
  });

  it('the details of a failure carry its exit code, duration, message and output tail; a stuck run its start and limit', () => {
    const failed = webhookBody(outgoing({ facts: facts({ reason: 'failed', exitCode: 2, durationMs: 1234, message: 'disk full', outputTail: 'tar: write error\n' }) })).details;
    expect(failed).toMatchObject({ exit_code: 2, duration_ms: 1234, message: 'disk full', output_tail: 'tar: write error\n', reason: 'failed' });
    const stuck = webhookBody(outgoing({ facts: facts({ reason: 'stuck' }) })).details;
    expect(stuck).toMatchObject({ started_at: new Date(DOWN - 30 * MIN).toISOString(), max_runtime: '30m' });
  });

  it('a resolve: "Recovered", resolved_at is when it was seen back, no reason or details', () => {
    const body = webhookBody(outgoing({ action: 'resolve', facts: null, eventId: 8, queuedAt: DOWN + 20 * MIN }));
    expect(Object.keys(body)).toEqual(['version', 'id', 'event', 'sent_at', 'summary', 'severity', 'service', 'incident', 'reason', 'details', 'host']);
    expect(body).toMatchObject({
      event: 'resolve',
      summary: 'Recovered: Nightly Backup',
      incident: { id: 3, dedup_key: 'medic-heartbeat-nightly-backup', opened_at: new Date(DOWN).toISOString(), resolved_at: new Date(DOWN + 20 * MIN).toISOString() },
      reason: null,
      details: null,
    });
  });

  it('a service removed from the config: its resolve names it by slug, everything else null', () => {
    const body = webhookBody(outgoing({ action: 'resolve', spec: null, facts: null, severity: 'info', openedAt: null }));
    expect(body).toMatchObject({
      summary: 'Closed, no longer monitored: nightly-backup',
      severity: 'info',
      service: { slug: 'nightly-backup', name: null, team: null, priority: null, runbook_url: null },
      incident: { id: 3, opened_at: null },
    });
  });

  it('no runbook: runbook_url is null; no team: team is null', () => {
    const body = webhookBody(outgoing({ spec: { ...spec, runbook: null, team: null } }));
    expect(body.service).toEqual({ slug: 'nightly-backup', name: 'Nightly Backup', team: null, priority: 'P2', runbook_url: null });
  });

  it('the test event: test true, test-service of test-team, trigger or resolve', async () => {
    for (const resolve of [false, true]) {
      const post = fakePoster(answered(200));
      await webhookTest({ target, secret: SECRET, resolve, host: 'checker-1', now: DOWN }, post);
      const body = JSON.parse(post.seen[0]!.body);
      expect(Object.keys(body)).toEqual(['version', 'id', 'event', 'test', 'sent_at', 'summary', 'severity', 'service', 'incident', 'reason', 'details', 'host']);
      expect(body).toMatchObject({ version: 1, event: resolve ? 'resolve' : 'trigger', test: true, service: { slug: 'test-service', team: 'test-team' }, host: 'checker-1' });
      expect(body.id).toMatch(/^evt_[0-9a-f]{40}$/);
      expect(post.seen[0]!.headers['X-Medic-Event']).toBe(resolve ? 'resolve' : 'trigger');
    }
    // A real event never says test.
    expect(webhookBody(outgoing())).not.toHaveProperty('test');
  });
});

describe('the event id', () => {
  it('is the same for every attempt of one event (another run, another checker: only now differs)', () => {
    const first = webhookBody(outgoing({ now: DOWN + 1_000 }));
    const retry = webhookBody(outgoing({ now: DOWN + 61_000, host: 'checker-2' }));
    expect(retry.id).toBe(first.id);
    expect(retry.sent_at).not.toBe(first.sent_at);
    // A resolve whose trigger's row is gone by its next attempt (opened_at unknown) keeps its id.
    const resolve = outgoing({ action: 'resolve', facts: null });
    const lost: Outgoing<WebhookTarget> = { ...resolve, openedAt: null };
    expect(webhookBody(lost).id).toBe(webhookBody(resolve).id);
  });

  it.each([
    ['another outbox row', { eventId: 8 }],
    ['the resolve of the same incident', { action: 'resolve' as const }],
    ['another incident', { incidentId: 4 }],
    ['another service', { slug: 'etl' }],
    ['the same row id in a recreated database (queued at another time)', { queuedAt: DOWN + 86_405_000 }],
  ])('differs for %s', (_, over) => {
    expect(webhookEventId({ ...outgoing(), ...over })).not.toBe(webhookEventId(outgoing()));
  });
});

describe('the signature', () => {
  const body = '{"version":1,"id":"evt_0"}';
  const t = R / 1000;

  it('is t=<seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>"> (a fixed vector)', () => {
    const independent = createHmac('sha256', SECRET).update(`${t}.${body}`).digest('hex');
    expect(independent).toBe('6f7bdca634783660ba68b7f1333951534dc6c19eca856aa3a5aaa54ada6bf12a');
    expect(signBody(SECRET, body, t)).toBe(`t=1772442000,v1=${independent}`);
  });

  it('covers the exact bytes sent, with the event headers', async () => {
    const post = fakePoster(answered(200));
    await sendWebhook(outgoing(), post);
    const req = post.seen[0]!;
    const sent = JSON.parse(req.body);
    expect(req.url).toBe(target.url);
    expect(req.hide).toEqual([SECRET]);
    expect(req.timeoutMs).toBe(10_000);
    expect(req.headers).toEqual({
      'X-Medic-Signature': signBody(SECRET, req.body, Math.floor((DOWN + 9_000) / 1000)),
      'X-Medic-Event': 'trigger',
      'X-Medic-Event-Id': sent.id,
    });
    expect(verifySignature(SECRET, req.headers['X-Medic-Signature'], req.body, (DOWN + 9_000) / 1000)).toEqual({ ok: true });
    expect(req.body).not.toContain(SECRET);
  });

  const good = signBody(SECRET, body, t);
  it.each([
    ['the signed body', good, body, t, SECRET, true],
    ['299s later', good, body, t + 299, SECRET, true],
    ['300s later', good, body, t + 300, SECRET, true],
    ['301s later (a replay)', good, body, t + 301, SECRET, false],
    ['301s early', good, body, t - 301, SECRET, false],
    ['a tampered body', good, body.replace('1', '2'), t, SECRET, false],
    ['one byte more', good, `${body} `, t, SECRET, false],
    ['the wrong secret', good, body, t, 'another-secret-of-the-receiver', false],
    ['a changed t', good.replace(`t=${t}`, `t=${t + 1}`), body, t, SECRET, false],
    ['no header', undefined, body, t, SECRET, false],
    ['an empty header', '', body, t, SECRET, false],
    ['garbage', 'sha256=abc', body, t, SECRET, false],
    ['no v1', `t=${t}`, body, t, SECRET, false],
    ['no t', good.replace(/^t=\d+,/, ''), body, t, SECRET, false],
    ['a short mac', `t=${t},v1=abcd`, body, t, SECRET, false],
    ['an upper-case mac', good.toUpperCase().replace('T=', 't=').replace('V1=', 'v1='), body, t, SECRET, false],
    ['a second, matching v1 (rotation)', `t=${t},v1=${'0'.repeat(64)},v1=${good.split('v1=')[1]}`, body, t, SECRET, true],
  ])('verifying %s: %s', (_, header, text, now, secret, ok) => {
    expect(verifySignature(secret, header, text, now).ok).toBe(ok);
  });

  it('says why it rejects', () => {
    expect(verifySignature(SECRET, undefined, body, t)).toEqual({ ok: false, reason: 'no signature header' });
    expect(verifySignature(SECRET, 'x', body, t)).toEqual({ ok: false, reason: 'garbled signature header' });
    expect(verifySignature(SECRET, good, body, t + 301)).toEqual({ ok: false, reason: 'timestamp 1772442000 is more than 300s from now' });
    expect(verifySignature(SECRET, good, `${body} `, t)).toEqual({ ok: false, reason: 'signature does not match' });
    expect(verifySignature(SECRET, good, body, t + 1000, 3600).ok).toBe(true);
  });
});

describe('what an answer means', () => {
  it.each([
    [200, true, false],
    [202, true, false],
    [204, true, false],
    [301, false, true],
    [302, false, true],
    [307, false, true],
    [400, false, true],
    [401, false, true],
    [403, false, true],
    [404, false, true],
    [405, false, true],
    [408, false, false],
    [410, false, true],
    [413, false, true],
    [422, false, true],
    [429, false, false],
    [500, false, false],
    [502, false, false],
    [503, false, false],
  ])('HTTP %i: ok %s, refused %s', (status, ok, permanent) => {
    const out = judgeWebhookAnswer(answered(status, 'said', status >= 300 && status < 400 ? { location: '/elsewhere' } : {}), target, SECRET, R);
    expect(out.ok).toBe(ok);
    if (!out.ok) expect(out.permanent).toBe(permanent);
  });

  it('honours Retry-After on 429 and 503 (within its bounds)', () => {
    const t429 = judgeWebhookAnswer(answered(429, '', { 'retry-after': '7' }), target, SECRET, R);
    expect(t429).toMatchObject({ ok: false, permanent: false, status: 429, retryAfterMs: 7000 });
    const t503 = judgeWebhookAnswer(answered(503, '', { 'retry-after': '0' }), target, SECRET, R);
    expect(t503).toMatchObject({ ok: false, permanent: false, retryAfterMs: 1000 });
  });

  it('a redirect is refused, never followed, naming where it pointed', async () => {
    const post = fakePoster(answered(302, '', { location: 'https://elsewhere.example.com/hook' }));
    const out = await sendWebhook(outgoing(), post);
    expect(post.seen).toHaveLength(1);
    expect(out).toMatchObject({ ok: false, permanent: true, status: 302 });
    expect(out).toEqual({ ok: false, permanent: true, status: 302, error: 'HTTP 302', answer: { message: 'a redirect to https://elsewhere.example.com/hook, not followed' } });
    const withBody = judgeWebhookAnswer(answered(301, 'Moved', { location: '/v2/hook' }), target, SECRET, R);
    expect(withBody.answer).toEqual({ message: 'a redirect to https://hooks.example.com/v2/hook, not followed — Moved' });
    const noWhere = judgeWebhookAnswer(answered(303, ''), target, SECRET, R);
    expect(noWhere.answer).toEqual({ message: 'a redirect to no Location, not followed' });
  });

  it('no answer at all (timeout, refused connection) is tried again, with the poster\'s words', async () => {
    const out = await sendWebhook(outgoing(), fakePoster({ status: null, error: 'connection refused' }));
    expect(out).toEqual({ ok: false, permanent: false, status: null, error: 'connection refused' });
  });

  it('the receiver\'s text is kept on one line, bounded, the secret hidden in any case and however escaped', () => {
    expect(receiverSaid('bad\r\nsignature\n', SECRET)).toEqual({ message: 'bad signature' });
    expect(receiverSaid('', SECRET)).toEqual({});
    expect(receiverSaid(`expected ${SECRET.toUpperCase()}`, SECRET)).toEqual({ message: 'expected <secret>' });
    const escaped = JSON.stringify({ secret: SECRET }).replace('m', '\\u006d');
    expect(receiverSaid(escaped, SECRET).message).toBe('{"secret":"<secret>"}');
    expect(receiverSaid('x'.repeat(100_000), SECRET).message!.length).toBeLessThanOrEqual(1000);
    expect(receiverSaid('{"ok":true,"id":"evt_1"}', SECRET)).toEqual({ message: '{"ok":true,"id":"evt_1"}' });
  });

  it('a delivered event keeps what the receiver said', async () => {
    const out = await sendWebhook(outgoing(), fakePoster(answered(200, '{"received":true}')));
    expect(out).toEqual({ ok: true, status: 200, answer: { message: '{"received":true}' } });
  });
});

describe('refusal hints', () => {
  const again = "once fixed, it is sent again within 10 minutes (now: medic check --retry-refused; a change to the target's secret or URL sends it at the next check)";
  it.each([
    [401, 'the receiver did not accept the signature: give it the same secret as environment variable MEDIC_WEBHOOK_SECRET'],
    [403, 'the receiver did not accept the signature: give it the same secret as environment variable MEDIC_WEBHOOK_SECRET'],
    [404, 'check targets.hook.url (https://hooks.example.com/medic)'],
    [405, 'check targets.hook.url (https://hooks.example.com/medic)'],
    [301, 'check targets.hook.url (https://hooks.example.com/medic)'],
    [400, "the receiver refused the event's content"],
    [422, "the receiver refused the event's content"],
  ])('HTTP %i: %s', (status, first) => {
    const hint = webhookRefusalHint(status, 'said', target);
    expect(hint.split('\n')[0]).toContain(first);
    expect(hint.split('\n')[1]).toBe(again);
  });

  it('a secret file is named as the place to look', () => {
    expect(webhookRefusalHint(401, '', { ...target, secret: 'file:/etc/medic/webhook-secret' })).toContain('the same secret as file /etc/medic/webhook-secret');
  });
});
